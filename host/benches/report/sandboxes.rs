//! Section 7 of the benchmark report: sandboxes under each runtime against a plain `docker run`.

use super::*;

/// Starts the image by hand, as `docker run` would with the same command, on the default bridge,
/// and times it to the app's module being served.
async fn plain_docker_run(client: &reqwest::Client, template: &std::path::Path) -> Duration {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(template, dir.path());
    std::fs::write(dir.path().join("src/App.tsx"), sandbox_app("Plain run")).unwrap();
    std::process::Command::new("chown").args(["-R", "1000:1000"]).arg(dir.path()).status().unwrap();
    let mount = format!("{}:/app", dir.path().display());
    let started = Instant::now();
    let id = docker(&[
        "run",
        "-d",
        "--rm",
        "--user",
        "1000:1000",
        "--read-only",
        "--tmpfs",
        "/tmp",
        "-v",
        &mount,
        "-w",
        "/app",
        "--entrypoint",
        "node",
        "blink-sandbox:latest",
        "/node_modules/vite/bin/vite.js",
        "--host",
        "0.0.0.0",
        "--port",
        "5173",
        "--configLoader",
        "runner",
    ]);
    let ip = docker(&["inspect", "-f", "{{.NetworkSettings.IPAddress}}", &id]);
    until_served(client, &format!("http://{ip}:5173/src/main.tsx"), "App").await;
    let elapsed = started.elapsed();
    docker(&["rm", "-f", &id]);
    elapsed
}

/// What one sandbox runtime gives, measured through a host that runs its sandboxes under it.
struct RuntimeFigures {
    cold: Vec<Duration>,
    warm: Vec<Duration>,
    updates: Vec<Duration>,
    direct_updates: Vec<Duration>,
    memory_mib: Vec<f64>,
    builds: Vec<Duration>,
    /// Projects left to build and remove (their host is `blink`).
    projects: Vec<String>,
    blink: Blink,
}

/// Cold previews (each followed by updates through the API and straight into the project), warm
/// previews from a host with a pool of one, and `vite build`, with sandboxes under `runtime`
/// (`None`: the engine's default). `plain` runs between cold previews (the `docker run` baseline).
async fn runtime_figures(
    client: &reqwest::Client,
    runtime: Option<&str>,
    repeats: usize,
    mut between: impl AsyncFnMut(),
) -> RuntimeFigures {
    let host_env = |warm: &str| {
        let mut env = vec![
            ("BLINK_SANDBOXES", "true".to_string()),
            ("BLINK_SANDBOX_WARM", warm.to_string()),
            ("BLINK_SANDBOX_MAX_PER_USER", "20".to_string()),
            ("BLINK_PREVIEW_PATHS", "true".to_string()),
            ("BLINK_ADMIN_TOKEN", "bench-admin".to_string()),
            ("BLINK_LOG", "warn".to_string()),
        ];
        if let Some(runtime) = runtime {
            env.push(("BLINK_SANDBOX_RUNTIME", runtime.to_string()));
        }
        env
    };
    let tag = runtime.unwrap_or("default");
    let blink = Blink::start(BIN, &host_env("0")).await;
    let token = jwt::user_token("bench-sandbox");
    let mut figures = RuntimeFigures {
        cold: Vec::new(),
        warm: Vec::new(),
        updates: Vec::new(),
        direct_updates: Vec::new(),
        memory_mib: Vec::new(),
        builds: Vec::new(),
        projects: Vec::new(),
        blink,
    };
    let blink = &figures.blink;
    for i in 0..repeats {
        between().await;
        let project = format!("bench-{tag}-{}-{i}", std::process::id());
        figures.projects.push(project.clone());
        let started = Instant::now();
        let body = json!({ "projectId": project, "files": { "App.tsx": sandbox_app("Cold") } });
        let response =
            client.post(format!("{}/api/preview", blink.url)).bearer_auth(&token).json(&body).send().await.unwrap();
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
        until_served(client, &format!("{}/preview/{project}/src/main.tsx", blink.url), "App").await;
        figures.cold.push(started.elapsed());

        // Update to change visible: the HMR message a page's client receives through the proxy.
        let mut socket = hmr_socket(client, blink, &project).await;
        // The first update after a page connects is slower (Vite builds its module graph): one
        // warm-up, then updates through the API and written straight into the project (the
        // baseline: what a dev server without a host in front sees) in turn.
        for round in 0..7 {
            // Through the API: the page changes when the HMR message arrives, whenever the
            // POST's own answer comes.
            let started = Instant::now();
            let body =
                json!({ "projectId": project, "files": { "App.tsx": sandbox_app(&format!("Update {i}.{round}")) } });
            let post = client.post(format!("{}/api/preview", blink.url)).bearer_auth(&token).json(&body).send();
            let (response, visible) = tokio::join!(post, hmr_message(&mut socket, started));
            assert_eq!(response.unwrap().status(), 200);
            if round > 0 {
                figures.updates.push(visible);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            // gVisor passes no file event for a write made outside the sandbox: only the host's
            // sync reaches its dev server.
            if runtime.is_some_and(|r| r != "runc") {
                continue;
            }
            let file = blink.data_dir.path().join("projects").join(&project).join("app/src/App.tsx");
            let started = Instant::now();
            std::fs::write(&file, sandbox_app(&format!("Direct {i}.{round}"))).unwrap();
            let visible = hmr_message(&mut socket, started).await;
            if round > 0 {
                figures.direct_updates.push(visible);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let usage = docker(&["stats", "--no-stream", "--format", "{{.MemUsage}}", &format!("sandbox-{project}")]);
        figures.memory_mib.push(stats_mib(&usage));
    }

    // Warm pool: a host that keeps one sandbox started ahead; each first preview takes it.
    let warm_host = Blink::start(BIN, &host_env("1")).await;
    let mut warm_projects = Vec::new();
    for i in 0..repeats {
        pool_refilled(client, &warm_host, "bench-admin").await;
        let project = format!("bench-warm-{tag}-{}-{i}", std::process::id());
        warm_projects.push(project.clone());
        let started = Instant::now();
        let body = json!({ "projectId": project, "files": { "App.tsx": sandbox_app("Warm") } });
        let response =
            client.post(format!("{}/api/preview", warm_host.url)).bearer_auth(&token).json(&body).send().await.unwrap();
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
        until_served(client, &format!("{}/preview/{project}/src/main.tsx", warm_host.url), "App").await;
        figures.warm.push(started.elapsed());
    }
    let warm_data = warm_host.data_dir.path().display().to_string();
    for name in docker(&["ps", "-a", "--filter", "label=blink.sandbox=1", "--format", "{{.Names}}"]).lines() {
        let mounts = docker(&["inspect", "-f", "{{range .Mounts}}{{.Source}} {{end}}", name]);
        if mounts.contains(&warm_data) {
            let _ = std::process::Command::new("docker").args(["rm", "-f", name]).output();
        }
    }

    // vite build in the sandbox, through the API.
    for project in figures.projects.iter().take(3) {
        let started = Instant::now();
        let response = client
            .post(format!("{}/api/build", blink.url))
            .bearer_auth(&token)
            .json(&json!({ "projectId": project }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
        figures.builds.push(started.elapsed());
    }
    figures
}

/// Whether the engine has gVisor registered as `runsc`.
fn engine_has_runsc() -> bool {
    docker(&["info", "--format", "{{json .Runtimes}}"]).contains("\"runsc\"")
}

pub(crate) async fn sandboxes(report: &mut String) {
    const REPEATS: usize = 5;
    let template = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../sandbox/template"));
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut plain = Vec::new();
    let runc =
        runtime_figures(&client, None, REPEATS, async || plain.push(plain_docker_run(&client, template).await)).await;
    let gvisor = if engine_has_runsc() {
        Some(runtime_figures(&client, Some("runsc"), REPEATS, async || {}).await)
    } else {
        None
    };

    // The same build run directly on the machine with the image's node_modules.
    let modules = tempfile::tempdir().unwrap();
    let holder = docker(&["create", "blink-sandbox:latest"]);
    docker(&["cp", &format!("{holder}:/node_modules"), &modules.path().display().to_string()]);
    docker(&["rm", &holder]);
    let mut direct = Vec::new();
    for _ in 0..3 {
        let root = tempfile::tempdir().unwrap();
        let project = root.path().join("app");
        copy_dir(template, &project);
        std::fs::write(project.join("src/App.tsx"), sandbox_app("Cold")).unwrap();
        std::os::unix::fs::symlink(modules.path().join("node_modules"), project.join("node_modules")).unwrap();
        let started = Instant::now();
        let status = std::process::Command::new("node")
            .args(["node_modules/vite/bin/vite.js", "build", "--configLoader", "runner"])
            .current_dir(&project)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
        direct.push(started.elapsed());
    }
    for figures in std::iter::once(&runc).chain(gvisor.as_ref()) {
        for project in &figures.projects {
            let _ = std::process::Command::new("docker").args(["rm", "-f", &format!("sandbox-{project}")]).output();
        }
    }

    let _ = writeln!(report, "## 7. Sandboxes\n");
    let _ = writeln!(
        report,
        "Real Docker engine and sandbox image; {REPEATS} previews of each kind (builds: 3, means). Baselines run in the same process, same image, same command.\n"
    );
    let _ = writeln!(report, "| measure | Blink host ms | baseline ms | ratio |");
    let _ = writeln!(report, "|---|---|---|---|");
    ratio_row(
        report,
        &format!(
            "cold preview: request → app module served through the proxy, median of {REPEATS} (baseline: plain `docker run`, no limits, no proxy)"
        ),
        median_ms(&runc.cold),
        median_ms(&plain),
        0,
    );
    ratio_row(
        report,
        &format!(
            "warm-pool preview: request → app module served through the proxy, median of {REPEATS} (baseline: plain `docker run`)"
        ),
        median_ms(&runc.warm),
        median_ms(&plain),
        0,
    );
    ratio_row(
        report,
        "`vite build` (baseline: the same build run directly on the machine)",
        mean_ms(&runc.builds),
        mean_ms(&direct),
        0,
    );
    let label = format!(
        "update posted → HMR update message through the proxy, median of {} (baseline: the file written straight into the project)",
        runc.updates.len()
    );
    ratio_row(report, &label, median_ms(&runc.updates), median_ms(&runc.direct_updates), 1);
    let memory: Vec<String> = runc.memory_mib.iter().map(|m| format!("{m:.1} MiB")).collect();
    let _ = writeln!(report, "\nIdle sandbox memory (`docker stats`, 2 s after an update): {}.\n", memory.join(", "));

    let Some(gvisor) = gvisor else {
        let _ = writeln!(report, "gVisor: the engine has no `runsc` runtime; not measured.\n");
        return;
    };
    let _ = writeln!(
        report,
        "Under gVisor (`BLINK_SANDBOX_RUNTIME=runsc`, ptrace platform, `--network=host`) against the engine's default runc, in the same run; medians of {REPEATS} (builds: means of 3, memory: mean).\n"
    );
    let _ = writeln!(report, "| measure | gVisor | runc | ratio |");
    let _ = writeln!(report, "|---|---|---|---|");
    ratio_row(report, "cold preview, ms", median_ms(&gvisor.cold), median_ms(&runc.cold), 0);
    ratio_row(report, "warm-pool preview, ms", median_ms(&gvisor.warm), median_ms(&runc.warm), 0);
    ratio_row(report, "update posted → HMR message, ms", median_ms(&gvisor.updates), median_ms(&runc.updates), 1);
    ratio_row(report, "`vite build` through the API, ms", mean_ms(&gvisor.builds), mean_ms(&runc.builds), 0);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    ratio_row(report, "idle sandbox memory, MiB", mean(&gvisor.memory_mib), mean(&runc.memory_mib), 0);
    let _ = writeln!(report);
}

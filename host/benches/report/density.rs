//! Section 10 of the benchmark report: density, N previews running at once on one host.

use super::*;

/// N previews on one host (`BLINK_BENCH_DENSITY_N`, default 50), started one after the other and
/// all kept running: how the start latency and HMR latency change with N, and what memory each
/// preview and the host take.
pub(crate) async fn density(report: &mut String) {
    let n: usize = std::env::var("BLINK_BENCH_DENSITY_N").ok().and_then(|v| v.parse().ok()).unwrap_or(50);
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let cap = (n + 5).to_string();
    let blink = Blink::start(
        BIN,
        &[
            ("BLINK_SANDBOXES", "true".into()),
            ("BLINK_SANDBOX_WARM", "0".into()),
            ("BLINK_PREVIEW_PATHS", "true".into()),
            ("BLINK_SANDBOX_MAX", cap.clone()),
            ("BLINK_SANDBOX_MAX_PER_USER", cap),
            // Nothing is reaped while the bench holds them all.
            ("BLINK_SANDBOX_IDLE_SECS", "3600".into()),
            ("BLINK_LOG", "warn".into()),
        ],
    )
    .await;
    let token = jwt::user_token("bench-density");
    let projects: Vec<String> = (0..n).map(|i| format!("bench-density-{}-{i}", std::process::id())).collect();
    let mut starts = Vec::new();
    let mut hmr_at_one = 0.0;
    let rss_before = host_rss_mib(blink.data_dir.path());
    for (i, project) in projects.iter().enumerate() {
        let started = Instant::now();
        let body = json!({ "projectId": project, "files": { "App.tsx": sandbox_app("Dense") } });
        let response =
            client.post(format!("{}/api/preview", blink.url)).bearer_auth(&token).json(&body).send().await.unwrap();
        assert_eq!(response.status(), 200, "preview {i}: {}", response.text().await.unwrap());
        until_served(&client, &format!("{}/preview/{project}/src/main.tsx", blink.url), "App").await;
        starts.push(started.elapsed());
        if i == 0 {
            hmr_at_one = hmr_latency(&client, &blink, &token, project, 5).await;
        }
    }
    // Every preview touched once more, as users come back to them, then left to settle.
    for project in &projects {
        until_served(&client, &format!("{}/preview/{project}/src/App.tsx", blink.url), "function App").await;
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    let names: Vec<String> = projects.iter().map(|p| format!("sandbox-{p}")).collect();
    let mut args = vec!["stats", "--no-stream", "--format", "{{.MemUsage}}"];
    args.extend(names.iter().map(String::as_str));
    let memory: Vec<f64> = docker(&args).lines().map(stats_mib).collect();
    let rss_after = host_rss_mib(blink.data_dir.path());
    let hmr_at_n = hmr_latency(&client, &blink, &token, &projects[n - 1], 5).await;
    for name in &names {
        let _ = std::process::Command::new("docker").args(["rm", "-f", name]).output();
    }

    let per_sandbox = memory.iter().sum::<f64>() / memory.len() as f64;
    let max = memory.iter().copied().fold(0.0, f64::max);
    let host_per_preview = (rss_after - rss_before).max(0.0) / n as f64;
    let band = |from: usize, to: usize| mean_ms(&starts[from.min(n - 1)..to.min(n)]);
    let _ = writeln!(
        report,
        "## 10. Density
"
    );
    let _ = writeln!(
        report,
        "{n} previews started one after the other on one host and kept running (Vite dev server each, runc, 512 MiB and 1 CPU limits), each touched again, then measured. Ratios against the same measure with one preview running, in the same run.
"
    );
    let _ = writeln!(report, "| measure | at N = {n} | at N = 1 | ratio |");
    let _ = writeln!(report, "|---|---|---|---|");
    let last_band = band(n.saturating_sub(10), n);
    ratio_row(report, "preview start ms (mean of the last 10 started, against the first)", last_band, band(0, 1), 0);
    ratio_row(report, "update posted → HMR message ms (median of 5)", hmr_at_n, hmr_at_one, 1);
    let _ = writeln!(report);
    let _ = writeln!(
        report,
        "Start latency as N grows (mean ms): 1–10: {:.0}, 11–25: {:.0}, 26–{n}: {:.0}.
",
        band(0, 10),
        band(10, 25),
        band(25, n)
    );
    let _ = writeln!(
        report,
        "Memory: {per_sandbox:.0} MiB per preview on average (largest {max:.0} MiB, `docker stats`), and the host's own resident memory grew by {host_per_preview:.2} MiB per preview ({rss_before:.0} → {rss_after:.0} MiB). That is **{:.1} previews per GiB** of sandbox memory.
",
        1024.0 / per_sandbox
    );
}

//! The Docker backend against the real engine and the real sandbox image.
//!
//! These tests fail, never skip, when the engine or the image is missing: start dockerd and run
//! `sandbox/build-image.sh` first (`BLINK_SANDBOX_IMAGE` names another image). Each test uses its
//! own project ids and removes its sandboxes and directories when it ends, failed or not.
//!
//! Over 500 lines: one test file per surface (the Docker backend), so a failure names the surface.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use blink_sandbox::{DockerBackend, DockerConfig, SandboxBackend, SandboxError, SandboxInfo, SandboxSpec};
use futures::StreamExt;

const SECOND: Duration = Duration::from_secs(1);

fn image() -> String {
    std::env::var("BLINK_SANDBOX_IMAGE").unwrap_or_else(|_| "blink-sandbox:latest".into())
}

/// A backend on the real engine, after checking that the engine answers and the image exists.
async fn backend() -> Arc<DockerBackend> {
    let config = DockerConfig { image: image(), ..DockerConfig::default() };
    let backend = DockerBackend::connect(config).await.expect("connecting to the Docker engine");
    if let Err(e) = backend.ping().await {
        panic!("these tests need a running Docker engine: {e}\n(start dockerd, then run sandbox/build-image.sh)");
    }
    let docker = bollard::Docker::connect_with_local_defaults().expect("docker client");
    let docker = docker.negotiate_version().await.expect("docker version");
    if let Err(e) = docker.inspect_image(&image()).await {
        panic!("the sandbox image {} is missing ({e}): build it with sandbox/build-image.sh", image());
    }
    Arc::new(backend)
}

/// Removes the test's sandboxes and project directories when the test ends, even by a panic.
struct Cleanup {
    projects: Vec<String>,
    dirs: Vec<PathBuf>,
}

impl Cleanup {
    fn new() -> Self {
        Self { projects: Vec::new(), dirs: Vec::new() }
    }

    /// A fresh project id and an empty directory for it.
    fn project(&mut self, tag: &str) -> (String, PathBuf) {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
        let project = format!("test-{tag}-{}-{nanos}", std::process::id());
        let dir = std::env::temp_dir().join("blink-sandbox-tests").join(&project);
        std::fs::create_dir_all(&dir).unwrap();
        self.projects.push(project.clone());
        self.dirs.push(dir.clone());
        (project, dir)
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let names: Vec<String> = self.projects.iter().map(|p| format!("sandbox-{p}")).collect();
        // Drop cannot await, and the test's runtime may be gone: a thread with its own runtime.
        let removal = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async move {
                let Ok(docker) = bollard::Docker::connect_with_local_defaults() else { return };
                let Ok(docker) = docker.negotiate_version().await else { return };
                for name in names {
                    let options =
                        bollard::query_parameters::RemoveContainerOptionsBuilder::default().force(true).build();
                    let _ = docker.remove_container(&name, Some(options)).await;
                }
            });
        });
        let _ = removal.join();
        for dir in &self.dirs {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A main process that does nothing, for tests that only exec.
fn idle() -> Vec<String> {
    ["node", "-e", "setInterval(() => {}, 1 << 30)"].map(String::from).to_vec()
}

fn spec(project: &str, dir: &Path, command: Vec<String>) -> SandboxSpec {
    SandboxSpec { project: project.into(), app_dir: dir.into(), env: Vec::new(), command, warm: false }
}

fn node(script: &str) -> Vec<String> {
    ["node", "-e", script].map(String::from).to_vec()
}

async fn run(backend: &DockerBackend, project: &str, script: &str) -> blink_sandbox::ExecOutput {
    backend.exec(project, &node(script), &[], 60 * SECOND).await.expect("exec")
}

fn ours(list: &[SandboxInfo], project: &str) -> Vec<SandboxInfo> {
    list.iter().filter(|s| s.project == project).cloned().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_sandbox_per_project() {
    let backend = backend().await;
    let mut cleanup = Cleanup::new();
    let (project, dir) = cleanup.project("one");
    let spec = spec(&project, &dir, idle());

    let started = Instant::now();
    let racers: Vec<_> = (0..5)
        .map(|_| {
            let (backend, spec) = (backend.clone(), spec.clone());
            tokio::spawn(async move { backend.ensure(&spec).await })
        })
        .collect();
    let mut results = Vec::new();
    for racer in racers {
        results.push(racer.await.unwrap());
    }
    let infos: Vec<SandboxInfo> = match results.iter().all(Result::is_ok) {
        true => results.into_iter().flatten().collect(),
        false => panic!("every concurrent ensure() succeeds: {results:#?}"),
    };
    println!("5 concurrent ensure() of one project: {:?}", started.elapsed());
    let first = infos[0].clone();
    assert!(infos.iter().all(|i| i.id == first.id), "one container for all callers: {infos:#?}");
    assert!(first.running && first.address.is_some(), "{first:?}");
    assert_eq!(first.name, format!("sandbox-{project}"));
    assert_eq!(first.address.unwrap().port(), 5173);

    let listed = ours(&backend.list().await.unwrap(), &project);
    assert_eq!(listed.len(), 1, "{listed:#?}");
    assert_eq!(listed[0].id, first.id);
    assert_eq!(listed[0].labels.get("blink.sandbox").map(String::as_str), Some("1"));
    assert_eq!(listed[0].labels.get("blink.project"), Some(&project));
    assert_eq!(backend.inspect(&project).await.unwrap().map(|i| i.id), Some(first.id.clone()));

    // The settings the isolation rests on, as the engine recorded them.
    let docker = bollard::Docker::connect_with_local_defaults().unwrap().negotiate_version().await.unwrap();
    let inspected = docker.inspect_container(&first.id, None).await.unwrap();
    let host = inspected.host_config.unwrap();
    assert_eq!(host.readonly_rootfs, Some(true));
    assert_eq!(host.memory, Some(512 << 20));
    assert_eq!(host.memory_swap, Some(512 << 20));
    assert_eq!(host.nano_cpus, Some(1_000_000_000));
    assert_eq!(host.pids_limit, Some(100));
    assert_eq!(host.cap_drop, Some(vec!["ALL".to_string()]));
    assert_eq!(host.security_opt, Some(vec!["no-new-privileges".to_string()]));
    assert_eq!(host.init, Some(true));
    assert!(host.port_bindings.unwrap_or_default().is_empty());
    assert!(host.tmpfs.unwrap()["/tmp"].contains(&format!("size={}", 64 << 20)));
    assert_eq!(inspected.config.unwrap().user.as_deref(), Some("1000:1000"));
    let whoami = run(&backend, &project, "console.log(process.getuid(), process.getgid(), process.cwd())").await;
    assert_eq!(whoami.output.trim(), "1000 1000 /app");

    // Stopped, then ensured again: the same container, started.
    backend.stop(&project).await.unwrap();
    let stopped = backend.inspect(&project).await.unwrap().unwrap();
    assert!(!stopped.running && stopped.address.is_none(), "{stopped:?}");
    let restarted = backend.ensure(&spec).await.unwrap();
    assert_eq!(restarted.id, first.id);
    assert!(restarted.running);

    backend.remove(&project).await.unwrap();
    assert!(backend.inspect(&project).await.unwrap().is_none());
    assert!(ours(&backend.list().await.unwrap(), &project).is_empty());
    backend.remove(&project).await.expect("removing twice is fine");

    let started = Instant::now();
    let fresh = backend.ensure(&spec).await.unwrap();
    println!("container create + start (ensure of a new sandbox): {:?}", started.elapsed());
    assert_ne!(fresh.id, first.id, "a new container after remove");
    assert!(fresh.running);
    assert_eq!(ours(&backend.list().await.unwrap(), &project).len(), 1);

    assert!(matches!(backend.inspect("../etc").await, Err(SandboxError::Invalid(_))));
    assert!(matches!(backend.ensure(&spec_with_project("a b", &dir)).await, Err(SandboxError::Invalid(_))));
}

fn spec_with_project(project: &str, dir: &Path) -> SandboxSpec {
    spec(project, dir, idle())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_reports_output_exit_codes_and_timeouts() {
    let backend = backend().await;
    let mut cleanup = Cleanup::new();
    let (project, dir) = cleanup.project("exec");
    backend.ensure(&spec(&project, &dir, idle())).await.unwrap();

    let started = Instant::now();
    let two = run(&backend, &project, "console.log(1+1)").await;
    println!("exec of `node -e console.log(1+1)`: {:?}", started.elapsed());
    assert_eq!(two.exit_code, 0);
    assert_eq!(two.output.trim(), "2");

    let failed = run(&backend, &project, "console.log('out'); console.error('err'); process.exit(3)").await;
    assert_eq!(failed.exit_code, 3);
    assert!(failed.output.contains("out") && failed.output.contains("err"), "{:?}", failed.output);

    let env = [("GREETING".to_string(), "hello sandbox".to_string())];
    let with_env = backend.exec(&project, &node("console.log(process.env.GREETING)"), &env, 30 * SECOND).await;
    assert_eq!(with_env.unwrap().output.trim(), "hello sandbox");

    let missing = backend.exec(&project, &["no-such-program".to_string()], &[], 30 * SECOND).await.unwrap();
    assert_ne!(missing.exit_code, 0);

    // A command that outlives its time is killed with every process it started.
    let stubborn = "require('child_process').spawn('node', ['-e', 'setInterval(() => {}, 1000) /* stubborn-child */'], \
                    { stdio: 'inherit' }); console.log('started'); setInterval(() => {}, 1000)";
    let started = Instant::now();
    let timed_out = backend.exec(&project, &node(stubborn), &[], 2 * SECOND).await;
    let elapsed = started.elapsed();
    match timed_out {
        Err(SandboxError::Timeout { after, output }) => {
            assert_eq!(after, 2 * SECOND);
            assert!(output.contains("started"), "the output so far: {output:?}");
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(elapsed < 10 * SECOND, "the timeout took {elapsed:?}");
    let survivors = run(
        &backend,
        &project,
        "const fs = require('fs'); const tag = 'stubborn-' + 'child'; console.log(fs.readdirSync('/proc')\
         .filter(p => /^\\d+$/.test(p)).filter(p => { try { return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8')\
         .includes(tag) } catch { return false } }).length)",
    )
    .await;
    assert_eq!(survivors.output.trim(), "0", "processes of the timed-out command left running");

    assert!(matches!(
        backend.exec("no-such-project-anywhere", &node("1"), &[], SECOND).await,
        Err(SandboxError::NotFound(_))
    ));
    backend.stop(&project).await.unwrap();
    assert!(matches!(backend.exec(&project, &node("1"), &[], SECOND).await, Err(SandboxError::NotRunning(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_hold_inside_the_sandbox() {
    let backend = backend().await;
    let mut cleanup = Cleanup::new();
    let (project, dir) = cleanup.project("limits");
    backend.ensure(&spec(&project, &dir, idle())).await.unwrap();

    // Memory: buffers filled (so really committed) until the kernel kills the process.
    let limit = run(
        &backend,
        &project,
        "const fs = require('fs'); for (const f of ['/sys/fs/cgroup/memory.max', \
         '/sys/fs/cgroup/memory/memory.limit_in_bytes']) { try { console.log(fs.readFileSync(f, 'utf8').trim()); break } catch {} }",
    )
    .await;
    assert_eq!(limit.output.trim(), (512u64 << 20).to_string(), "the memory limit the sandbox sees");
    let started = Instant::now();
    let bomb = backend
        .exec(
            &project,
            &node("const kept = []; for (;;) { kept.push(Buffer.alloc(16 << 20, 1)); console.log(kept.length * 16, 'MiB') }"),
            &[],
            120 * SECOND,
        )
        .await
        .expect("the memory bomb ends");
    let reached = bomb.output.lines().rfind(|l| l.ends_with("MiB")).unwrap_or("nothing").to_string();
    println!("memory bomb: exit {} after {reached} in {:?}", bomb.exit_code, started.elapsed());
    assert_eq!(bomb.exit_code, 137, "killed by the memory limit: {}", bomb.output);
    let megabytes: u64 = reached.split(' ').next().unwrap().parse().unwrap();
    assert!(megabytes <= 512, "allocated past the limit: {reached}");
    assert!(backend.inspect(&project).await.unwrap().unwrap().running, "the sandbox outlives the bomb");
    backend.ping().await.expect("the engine stays healthy");
    assert_eq!(run(&backend, &project, "console.log(1+1)").await.output.trim(), "2");

    // PIDs: children are spawned until the kernel refuses to fork.
    let fork_bomb = "const { spawn } = require('child_process'); const children = []; \
        function next() { const child = spawn('/bin/sh', ['-c', 'read line'], { stdio: ['pipe', 'ignore', 'ignore'] }); \
          child.on('error', e => { console.log(JSON.stringify({ spawned: children.length, code: e.code })); \
            children.forEach(c => c.kill('SIGKILL')); process.exit(0) }); \
          child.on('spawn', () => { children.push(child); if (children.length >= 1000) { \
            console.log(JSON.stringify({ spawned: children.length, code: null })); children.forEach(c => c.kill('SIGKILL')); \
            process.exit(0) } else next() }) } \
        next()";
    let forks = run(&backend, &project, fork_bomb).await;
    println!("fork bomb: {}", forks.output.trim());
    assert!(forks.output.contains("\"code\":\"EAGAIN\""), "the PID limit stops the fork bomb: {}", forks.output);
    let spawned: u64 =
        forks.output.split("\"spawned\":").nth(1).and_then(|s| s.split(',').next()).unwrap().parse().unwrap();
    assert!(spawned < 100, "{spawned} processes spawned under a limit of 100");
    assert_eq!(run(&backend, &project, "console.log(1+1)").await.output.trim(), "2", "the sandbox recovers");

    // Files: the root is read-only; the project directory and /tmp are writable.
    let writes = run(
        &backend,
        &project,
        "const fs = require('fs'); const result = {}; \
         for (const f of ['/etc/x', '/usr/x', '/x', '/node_modules/x', '/template/x', '/app/x', '/tmp/x']) { \
           try { fs.writeFileSync(f, 'x'); result[f] = 'ok' } catch (e) { result[f] = e.code } } \
         console.log(JSON.stringify(result))",
    )
    .await;
    println!("writes: {}", writes.output.trim());
    for outside in ["/etc/x", "/usr/x", "/x", "/node_modules/x", "/template/x"] {
        assert!(writes.output.contains(&format!("\"{outside}\":\"EROFS\"")), "{outside}: {}", writes.output);
    }
    assert!(writes.output.contains("\"/app/x\":\"ok\"") && writes.output.contains("\"/tmp/x\":\"ok\""));
    assert_eq!(std::fs::read_to_string(dir.join("x")).unwrap(), "x", "the project directory is the host's");

    // Network: no default route, so nothing but the internal network is reachable.
    let routes =
        run(&backend, &project, "process.stdout.write(require('fs').readFileSync('/proc/net/route', 'utf8'))").await;
    let destinations: Vec<&str> = routes.output.lines().skip(1).filter_map(|l| l.split_whitespace().nth(1)).collect();
    assert!(!destinations.is_empty(), "{}", routes.output);
    assert!(!destinations.contains(&"00000000"), "a default route:\n{}", routes.output);

    let gateway = backend.host_address().await.unwrap();
    // Bound to every address of the host: reachable only through the gateway.
    let everywhere = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let loopback = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let on_gateway = tokio::net::TcpListener::bind((gateway, 0)).await.unwrap();
    let accept = |listener: tokio::net::TcpListener| {
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                use tokio::io::AsyncWriteExt;
                let _ = socket.write_all(b"hello").await;
            }
        })
    };
    let (all_port, loopback_port, gateway_port) = (
        everywhere.local_addr().unwrap().port(),
        loopback.local_addr().unwrap().port(),
        on_gateway.local_addr().unwrap().port(),
    );
    let servers = [accept(everywhere), accept(loopback), accept(on_gateway)];
    // Of the host's ports, sandboxes reach only those a host allows (the registry proxy's).
    backend.allow_host_ports(&[gateway_port]).await.expect("fencing the sandboxes off the host");
    let host_addresses = local_ipv4_addresses().await;
    let mut unreachable: Vec<SocketAddr> = host_addresses.iter().map(|ip| SocketAddr::new(*ip, all_port)).collect();
    unreachable.push(SocketAddr::new(gateway, all_port));
    unreachable.push(SocketAddr::new([127, 0, 0, 1].into(), loopback_port));
    unreachable.push(SocketAddr::new(gateway, loopback_port));
    let reachable = [SocketAddr::new(gateway, gateway_port)];
    let results = connect_from(&backend, &project, unreachable.iter().chain(&reachable)).await;
    println!("connections from the sandbox: {results:?}");
    for target in &unreachable {
        assert_ne!(results[target], "connected", "the sandbox reached {target} on the host");
    }
    for target in &reachable {
        assert_eq!(results[target], "connected", "the sandbox cannot reach the allowed port {target}");
    }
    for server in servers {
        server.abort();
    }
    backend.ping().await.expect("the engine stays healthy");
}

/// The host's own IPv4 addresses (never anything outside this machine).
async fn local_ipv4_addresses() -> Vec<IpAddr> {
    let out = tokio::process::Command::new("hostname").arg("-I").output().await.expect("hostname -I");
    let mut addresses: Vec<IpAddr> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|a| a.parse().ok())
        .filter(IpAddr::is_ipv4)
        .collect();
    addresses.push([127, 0, 0, 1].into());
    addresses
}

/// Tries a TCP connection to each target from inside the sandbox: "connected" or the error code.
async fn connect_from<'a>(
    backend: &DockerBackend,
    project: &str,
    targets: impl Iterator<Item = &'a SocketAddr>,
) -> std::collections::HashMap<SocketAddr, String> {
    let targets: Vec<SocketAddr> = targets.copied().collect();
    let list = targets.iter().map(|t| format!("['{}', {}]", t.ip(), t.port())).collect::<Vec<_>>().join(",");
    let script = format!(
        "const net = require('net'); const targets = [{list}]; \
         Promise.all(targets.map(([host, port]) => new Promise(done => {{ \
           const socket = net.connect({{ host, port, timeout: 3000 }}); \
           socket.on('connect', () => {{ socket.destroy(); done('connected') }}); \
           socket.on('timeout', () => {{ socket.destroy(); done('timeout') }}); \
           socket.on('error', e => done(e.code)) }}))).then(r => console.log(r.join(' ')))"
    );
    let out = run(backend, project, &script).await;
    let words: Vec<String> = out.output.split_whitespace().map(String::from).collect();
    assert_eq!(words.len(), targets.len(), "{}", out.output);
    targets.into_iter().zip(words).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandboxes_cannot_reach_each_other() {
    let backend = backend().await;
    let mut cleanup = Cleanup::new();
    let (server, server_dir) = cleanup.project("peer-server");
    let (client, client_dir) = cleanup.project("peer-client");
    let serve = node("require('http').createServer((q, r) => r.end('peer')).listen(5173, '0.0.0.0')");
    let server_info = backend.ensure(&spec(&server, &server_dir, serve)).await.unwrap();
    backend.ensure(&spec(&client, &client_dir, idle())).await.unwrap();
    let address = server_info.address.unwrap();

    let http = reqwest::Client::builder().no_proxy().timeout(5 * SECOND).build().unwrap();
    let mut body = None;
    for _ in 0..100 {
        if let Ok(response) = http.get(format!("http://{address}/")).send().await {
            body = Some(response.text().await.unwrap());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(body.as_deref(), Some("peer"), "the host reaches a sandbox at its address");
    let results = connect_from(&backend, &client, [address].iter()).await;
    assert_ne!(results[&address], "connected", "one sandbox reached another");
}

/// Copies the repository's template (without dependencies or build output) into a project dir.
fn copy_template(to: &Path) {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name();
            if name == "node_modules" || name == "dist" {
                continue;
            }
            if entry.file_type().unwrap().is_dir() {
                copy(&entry.path(), &to.join(&name));
            } else {
                std::fs::copy(entry.path(), to.join(&name)).unwrap();
            }
        }
    }
    copy(&Path::new(env!("CARGO_MANIFEST_DIR")).join("template"), to);
}

fn vite() -> Vec<String> {
    [
        "node",
        "/node_modules/vite/bin/vite.js",
        "--host",
        "0.0.0.0",
        "--port",
        "5173",
        "--strictPort",
        "--configLoader",
        "runner",
    ]
    .map(String::from)
    .to_vec()
}

fn dev_server_spec(project: &str, dir: &Path) -> SandboxSpec {
    copy_template(dir);
    SandboxSpec {
        project: project.into(),
        app_dir: dir.into(),
        env: vec![("BLINK_BASE".into(), format!("/preview/{project}/"))],
        command: vite(),
        warm: false,
    }
}

/// Polls until the dev server answers 200 at `url`.
async fn wait_for(http: &reqwest::Client, url: &str, within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        if let Ok(response) = http.get(url).send().await
            && response.status().is_success()
        {
            return response.text().await.unwrap();
        }
        assert!(Instant::now() < deadline, "{url} did not answer within {within:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_server_serves_the_project() {
    let backend = backend().await;
    let mut cleanup = Cleanup::new();
    let (project, dir) = cleanup.project("vite");
    let spec = dev_server_spec(&project, &dir);

    let started = Instant::now();
    let info = backend.ensure(&spec).await.unwrap();
    let created = started.elapsed();
    let address = info.address.expect("an address");
    let http = reqwest::Client::builder().no_proxy().timeout(10 * SECOND).build().unwrap();
    let base = format!("http://{address}/preview/{project}/");
    let index = wait_for(&http, &base, 60 * SECOND).await;
    let answering = started.elapsed();
    println!("dev server: container create + start {created:?}, Vite answering after {answering:?}");
    assert!(index.contains("<div id=\"root\">"), "{index}");
    assert!(index.contains(&format!("/preview/{project}/@vite/client")), "Vite's client under the base: {index}");

    let main = http.get(format!("{base}src/main.tsx")).send().await.unwrap();
    assert!(main.status().is_success());
    let content_type = main.headers()["content-type"].to_str().unwrap().to_string();
    let main = main.text().await.unwrap();
    assert!(content_type.contains("javascript"), "{content_type}");
    assert!(main.contains("createRoot") && !main.contains("<StrictMode>"), "main.tsx transformed:\n{main}");
    println!("first transform of src/main.tsx after {:?}", started.elapsed());

    // A file written on the host is what the dev server serves next, without a restart.
    let app = dir.join("src/App.tsx");
    let source = std::fs::read_to_string(&app).unwrap();
    let marker = format!("written-by-the-host-{}", std::process::id());
    std::fs::write(&app, format!("{source}\nexport const marker = '{marker}'\n")).unwrap();
    let deadline = Instant::now() + 20 * SECOND;
    loop {
        let served = http.get(format!("{base}src/App.tsx")).send().await.unwrap().text().await.unwrap();
        if served.contains(&marker) {
            break;
        }
        assert!(Instant::now() < deadline, "the change was not served:\n{served}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(backend.inspect(&project).await.unwrap().unwrap().id, info.id);

    // The memory an idle dev server holds, counted as `docker stats` does (without the page cache).
    tokio::time::sleep(5 * SECOND).await;
    let memory = run(
        &backend,
        &project,
        "const fs = require('fs'); const read = f => { try { return fs.readFileSync(f, 'utf8') } catch { return null } }; \
         const v2 = read('/sys/fs/cgroup/memory.current'); let usage, stat, key; \
         if (v2) { usage = +v2; stat = read('/sys/fs/cgroup/memory.stat'); key = 'inactive_file' } \
         else { usage = +read('/sys/fs/cgroup/memory/memory.usage_in_bytes'); stat = read('/sys/fs/cgroup/memory/memory.stat'); key = 'total_inactive_file' } \
         const line = stat.split('\\n').find(l => l.startsWith(key + ' ')); \
         console.log(usage - (line ? +line.split(' ')[1] : 0))",
    )
    .await;
    let bytes: u64 = memory.output.trim().parse().unwrap();
    println!("idle dev server memory: {:.1} MiB", bytes as f64 / (1 << 20) as f64);
    assert!(bytes < 512 << 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_follow_the_dev_server() {
    let backend = backend().await;
    let mut cleanup = Cleanup::new();
    let (project, dir) = cleanup.project("logs");
    backend.ensure(&dev_server_spec(&project, &dir)).await.unwrap();
    let mut lines = backend.logs(&project, 100).await.unwrap();
    let mut seen = Vec::new();
    let found = tokio::time::timeout(60 * SECOND, async {
        while let Some(line) = lines.next().await {
            let line = line.unwrap();
            seen.push(line.clone());
            if line.contains("ready in") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(found, Ok(true), "Vite's startup lines: {seen:#?}");
    println!("dev server log: {seen:?}");
    assert!(matches!(backend.logs("no-such-project-anywhere", 10).await, Err(SandboxError::NotFound(_))));

    // The stream ends when the sandbox stops.
    let mut lines = backend.logs(&project, 1).await.unwrap();
    backend.stop(&project).await.unwrap();
    let ended = tokio::time::timeout(30 * SECOND, async { while lines.next().await.is_some() {} }).await;
    assert!(ended.is_ok(), "the log stream did not end with the sandbox");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_host_adopts_running_sandboxes() {
    let mut cleanup = Cleanup::new();
    let (project, dir) = cleanup.project("adopt");
    let spec = spec(&project, &dir, idle());
    let before = {
        let first_host = backend().await;
        first_host.ensure(&spec).await.unwrap()
    };

    let second_host = backend().await;
    let listed = ours(&second_host.list().await.unwrap(), &project);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, before.id);
    assert!(listed[0].running);
    assert_eq!(listed[0].address, before.address);
    let again = second_host.ensure(&spec).await.unwrap();
    assert_eq!(again.id, before.id, "adopted, not duplicated");
    assert_eq!(ours(&second_host.list().await.unwrap(), &project).len(), 1);
}

#[tokio::test]
async fn an_engine_that_is_down_is_reported_clearly() {
    let config = DockerConfig { socket: Some("/nonexistent/docker.sock".into()), ..DockerConfig::default() };
    let backend = DockerBackend::connect(config).await.expect("the host starts without its engine");
    for result in [
        backend.ping().await.map(|_| ()),
        backend.list().await.map(|_| ()),
        backend.host_address().await.map(|_| ()),
        backend.ensure(&spec("down", Path::new("/nonexistent/app"), idle())).await.map(|_| ()),
    ] {
        match result {
            Err(SandboxError::EngineUnavailable(message)) => {
                assert!(message.contains("/nonexistent/docker.sock") && message.contains("dockerd"), "{message}")
            }
            other => panic!("expected EngineUnavailable, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warm_sandbox_is_renamed_to_its_project_as_it_runs() {
    let mut cleanup = Cleanup::new();
    let (warm, dir) = cleanup.project("warm");
    let (project, _) = cleanup.project("claimed");
    let (other, other_dir) = cleanup.project("other");
    let backend = backend().await;
    let before = backend.ensure(&spec(&warm, &dir, idle())).await.unwrap();
    let after = backend.rename(&warm, &project).await.unwrap();
    assert_eq!((after.id.as_str(), after.running, after.address), (before.id.as_str(), true, before.address));
    assert_eq!(after.project, project);
    assert_eq!(after.name, format!("sandbox-{project}"));
    assert!(backend.inspect(&warm).await.unwrap().is_none());
    assert_eq!(ours(&backend.list().await.unwrap(), &project).len(), 1, "listed under its new project");
    assert_eq!(run(&backend, &project, "console.log('still here')").await.output.trim(), "still here");
    // A project that already has a sandbox cannot take another.
    backend.ensure(&spec(&other, &other_dir, idle())).await.unwrap();
    assert!(matches!(backend.rename(&project, &other).await, Err(SandboxError::Invalid(_))));
    assert!(matches!(backend.rename(&warm, &other).await, Err(SandboxError::NotFound(_))));
}

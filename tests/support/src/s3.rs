//! A real S3-compatible server on loopback: `s3s-fs` (from crates.io; `scripts/test.sh` installs
//! it), storing objects in a temporary directory, so it can be stopped and started again on the
//! same port with the same objects, as an outage would.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const ACCESS_KEY: &str = "blink-test-key";
pub const SECRET_KEY: &str = "blink-test-secret";

pub struct S3Server {
    pub endpoint: String,
    pub bucket: String,
    port: u16,
    root: tempfile::TempDir,
    child: Option<Child>,
}

/// The `s3s-fs` binary: `BLINK_S3S_FS`, else on `PATH`, else where `scripts/test.sh` installs it.
/// Missing, the test fails: a service missing is never a silent skip.
pub fn binary() -> PathBuf {
    if let Ok(path) = std::env::var("BLINK_S3S_FS") {
        return path.into();
    }
    for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
        if dir.join("s3s-fs").is_file() {
            return dir.join("s3s-fs");
        }
    }
    let installed = PathBuf::from("/var/cache/blink-tools/bin/s3s-fs");
    assert!(
        installed.is_file(),
        "s3s-fs is not installed: run scripts/test.sh, or `cargo install s3s-fs --version 0.14.1 --features binary`"
    );
    installed
}

impl S3Server {
    /// Starts the server on a free port with one empty bucket, `bucket`.
    pub fn start(bucket: &str) -> Self {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join(bucket)).unwrap();
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut server =
            Self { endpoint: format!("http://127.0.0.1:{port}"), bucket: bucket.to_string(), port, root, child: None };
        server.resume();
        server
    }

    /// Kills the server (as a crash would); its objects stay on disk.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port, with the same objects.
    pub fn resume(&mut self) {
        assert!(self.child.is_none(), "the S3 server is running already");
        let child = Command::new(binary())
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(self.root.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start s3s-fs");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "s3s-fs did not listen on {}", self.port);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The host's settings to deploy into this server's bucket.
    pub fn host_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("BLINK_S3_BUCKET", self.bucket.clone()),
            ("BLINK_S3_ENDPOINT", self.endpoint.clone()),
            ("BLINK_S3_PATH_STYLE", "true".into()),
            ("BLINK_S3_ACCESS_KEY_ID", ACCESS_KEY.into()),
            ("BLINK_S3_SECRET_ACCESS_KEY", SECRET_KEY.into()),
        ]
    }

    /// Every object key in the bucket, sorted (read from the server's own directory, so that a
    /// test's view does not depend on the client under test).
    pub fn keys(&self) -> Vec<String> {
        fn walk(dir: &std::path::Path, prefix: &str, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if entry.path().is_dir() {
                    walk(&entry.path(), &format!("{prefix}{name}/"), out);
                } else {
                    out.push(format!("{prefix}{name}"));
                }
            }
        }
        let mut keys = Vec::new();
        walk(&self.root.path().join(&self.bucket), "", &mut keys);
        keys.sort();
        keys
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What a [`FaultyProxy`] does to the first attempt of every `every`-th object uploaded.
#[derive(Clone, Copy)]
pub enum Fault {
    /// `503 SlowDown`, as S3 answers when throttling.
    SlowDown,
    /// No answer for this long, as an overloaded store.
    Stall(std::time::Duration),
    /// No answer until the test calls [`FaultyProxy::release`]: uploads held in flight.
    Hold,
}

/// A proxy in front of an [`S3Server`] that troubles the first attempt of every `every`-th
/// object uploaded with a [`Fault`], and forwards everything else untouched (the `Host` header
/// included, so request signatures stay valid). Retries of a troubled object pass, so a client
/// that retries always gets through.
#[derive(Clone)]
pub struct FaultyProxy {
    pub endpoint: String,
    state: std::sync::Arc<ProxyState>,
    _server: std::sync::Arc<crate::git_server::Background>,
}

struct ProxyState {
    upstream: String,
    every: usize,
    fault: Fault,
    seen: std::sync::Mutex<std::collections::HashSet<String>>,
    throttled: std::sync::atomic::AtomicUsize,
    released: tokio::sync::watch::Sender<bool>,
    client: reqwest::Client,
}

const SLOW_DOWN: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code>\
    <Message>Please reduce your request rate.</Message><RequestId>blink-test</RequestId></Error>";

impl FaultyProxy {
    /// Forwards to `server`, troubling every `every`-th upload once with `fault`.
    pub fn start(server: &S3Server, every: usize, fault: Fault) -> Self {
        use std::sync::atomic::{AtomicUsize, Ordering};

        let state = std::sync::Arc::new(ProxyState {
            upstream: server.endpoint.clone(),
            every,
            fault,
            seen: Default::default(),
            throttled: AtomicUsize::new(0),
            released: tokio::sync::watch::Sender::new(false),
            client: reqwest::Client::builder().no_proxy().build().unwrap(),
        });
        let handler = {
            let state = state.clone();
            move |request: axum::extract::Request| {
                let state = state.clone();
                async move {
                    if request.method() == axum::http::Method::PUT && state.every > 0 {
                        let first_attempt = {
                            let mut seen = state.seen.lock().unwrap();
                            seen.insert(request.uri().path().to_string()).then_some(seen.len())
                        };
                        if first_attempt.is_some_and(|n| n % state.every == 0) {
                            state.throttled.fetch_add(1, Ordering::SeqCst);
                            match state.fault {
                                Fault::SlowDown => {
                                    return axum::response::Response::builder()
                                        .status(503)
                                        .header("content-type", "application/xml")
                                        .body(axum::body::Body::from(SLOW_DOWN))
                                        .unwrap();
                                }
                                Fault::Stall(pause) => tokio::time::sleep(pause).await,
                                Fault::Hold => {
                                    let _ = state.released.subscribe().wait_for(|released| *released).await;
                                }
                            }
                        }
                    }
                    forward(&state, request).await
                }
            }
        };
        let listener = crate::git_server::bind_loopback();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new().fallback(handler);
        let server = crate::git_server::serve_in_background("s3-faults", listener, app);
        Self { endpoint, state, _server: std::sync::Arc::new(server) }
    }

    /// Lets every held upload (and any later one) through.
    pub fn release(&self) {
        self.state.released.send_replace(true);
    }

    /// Uploads troubled so far.
    pub fn troubled(&self) -> usize {
        self.state.throttled.load(std::sync::atomic::Ordering::SeqCst)
    }
}

async fn forward(state: &ProxyState, request: axum::extract::Request) -> axum::response::Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
    let url = format!("{}{}", state.upstream, parts.uri.path_and_query().map_or("/", |p| p.as_str()));
    let method = reqwest::Method::from_bytes(parts.method.as_str().as_bytes()).unwrap();
    let mut upstream = state.client.request(method, url).body(body.to_vec());
    // Lengths and framing are the client's to set again for the body it sends.
    for (name, value) in parts.headers.iter().filter(|(n, _)| !is_framing(n.as_str())) {
        upstream = upstream.header(name.as_str(), value.as_bytes());
    }
    let Ok(answer) = upstream.send().await else {
        return axum::response::Response::builder().status(502).body(axum::body::Body::empty()).unwrap();
    };
    let mut response = axum::response::Response::builder().status(answer.status().as_u16());
    for (name, value) in answer.headers().iter().filter(|(n, _)| !is_framing(n.as_str())) {
        response = response.header(name.as_str(), value.as_bytes());
    }
    let bytes = answer.bytes().await.unwrap_or_default();
    response.body(axum::body::Body::from(bytes)).unwrap()
}

fn is_framing(name: &str) -> bool {
    name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("transfer-encoding")
}

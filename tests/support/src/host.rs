//! The real `blink` binary, started on a free port with a fresh data directory, and stopped when
//! the handle is dropped.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub struct Blink {
    child: Child,
    pub url: String,
    pub data_dir: tempfile::TempDir,
    log: PathBuf,
    /// Every line the process printed on its standard output.
    stdout: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Blink {
    /// Starts `bin serve` with `env` (on top of a free port, a temporary data directory, the
    /// shared compile cache and the test JWT secret) and waits until it listens.
    pub async fn start(bin: &str, env: &[(&str, String)]) -> Self {
        Self::start_in(bin, tempfile::tempdir().unwrap(), env).await
    }

    /// Stops the host and hands back its data directory, to start another host on the same state.
    pub async fn stop(mut self) -> tempfile::TempDir {
        let _ = self.child.kill().await;
        self.data_dir
    }

    /// Like [`Blink::start`], on an existing data directory.
    pub async fn start_in(bin: &str, data_dir: tempfile::TempDir, env: &[(&str, String)]) -> Self {
        Self::launch(bin, data_dir, env, true).await
    }

    /// As a newcomer runs it: no JWT secret (nor anything else `env` does not set).
    pub async fn start_unconfigured(bin: &str, data_dir: tempfile::TempDir, env: &[(&str, String)]) -> Self {
        Self::launch(bin, data_dir, env, false).await
    }

    /// The lines the process printed on its standard output so far.
    pub fn stdout(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    async fn launch(bin: &str, data_dir: tempfile::TempDir, env: &[(&str, String)], with_secret: bool) -> Self {
        let log = data_dir.path().join("blink.log");
        let mut command = Command::new(bin);
        command
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("BLINK_ADDR", "127.0.0.1:0")
            .env("BLINK_DATA_DIR", data_dir.path())
            .env("BLINK_CACHE_DIR", shared_cache(bin))
            .env("BLINK_LOG", "info,blink_host=debug")
            // Sandboxes are Docker containers: only the tests about them turn them on.
            .env("BLINK_SANDBOXES", "false")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .kill_on_drop(true);
        // Load tests send hundreds of runs per user: the per-user limits are tested where set.
        for name in [
            "BLINK_RATE_RUNS",
            "BLINK_RATE_PREVIEWS",
            "BLINK_RATE_BUILDS",
            "BLINK_RATE_DEPLOYS",
            "BLINK_RATE_GIT",
            "BLINK_RATE_UNAUTHENTICATED",
        ] {
            command.env(name, "1000000/1");
        }
        if with_secret {
            command.env("BLINK_JWT_SECRET", crate::jwt::SECRET);
        }
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("start the blink binary");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let stdout = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let url = tokio::time::timeout(Duration::from_secs(120), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                stdout.lock().unwrap().push(line.clone());
                if let Some(url) = line.strip_prefix("blink listening on ") {
                    return url.trim().to_string();
                }
            }
            String::new()
        })
        .await
        .unwrap_or_default();
        if url.is_empty() {
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            panic!("blink did not start listening:\n{log}");
        }
        // Keep reading stdout so the child never blocks on a full pipe.
        let kept = stdout.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                kept.lock().unwrap().push(line);
            }
        });
        Self { child, url, data_dir, log, stdout }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM, as a service manager does to stop the host.
    pub fn terminate(&self) {
        self.signal("TERM");
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("blink is running")
    }

    /// Freezes the process (SIGSTOP): a host stalled past its heartbeat's expiry, alive.
    pub fn pause(&self) {
        self.signal("STOP");
    }

    /// Lets a paused process go on (SIGCONT).
    pub fn resume(&self) {
        self.signal("CONT");
    }

    fn signal(&self, name: &str) {
        let pid = self.child.id().expect("blink is running");
        let status = std::process::Command::new("kill").args([&format!("-{name}"), &pid.to_string()]).status().unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit and returns whether it exited cleanly.
    pub async fn wait(&mut self, timeout: Duration) -> Option<bool> {
        tokio::time::timeout(timeout, self.child.wait()).await.ok().map(|s| s.unwrap().success())
    }

    /// POSTs `body` as JSON with `token`, returning status and the whole body as text.
    pub async fn post(&self, path: &str, token: Option<&str>, body: &serde_json::Value) -> (u16, String) {
        let mut request = reqwest::Client::new().post(format!("{}{path}", self.url)).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request to blink");
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }

    /// Sends `method path` with `token` as bearer and no body, returning status and the body as
    /// JSON (`null` when it is not JSON).
    pub async fn send(&self, method: reqwest::Method, path: &str, token: &str) -> (u16, serde_json::Value) {
        let response = reqwest::Client::new()
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(token)
            .send()
            .await
            .expect("request to blink");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(serde_json::Value::Null))
    }
}

/// One compile cache for every test host of a build, next to the binary: components are compiled
/// once per build, not once per test.
fn shared_cache(bin: &str) -> PathBuf {
    Path::new(bin).parent().unwrap_or(Path::new(".")).join("blink-test-cache")
}

//! A headless Chromium driven over the DevTools protocol: just enough to load a page, run script in
//! it, read its text, and see every request it made.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub struct Browser {
    child: tokio::process::Child,
    socket: Socket,
    next_id: u64,
    /// Requests that failed or answered 4xx/5xx, as "url: reason".
    pub failures: Vec<String>,
    /// Uncaught exceptions and console errors (a refused script or style among them), once
    /// [`Browser::watch_console`] turned their domains on.
    pub console_errors: Vec<String>,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts Debian's `chromium` on a fresh profile and attaches to its first page, with the
    /// network and page domains on.
    pub async fn launch() -> Self {
        use tokio::io::AsyncBufReadExt;
        let profile = tempfile::tempdir().unwrap();
        let mut child = tokio::process::Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("Debian's chromium is needed for the browser tests (scripts/test.sh installs it)");
        let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
        let browser_ws = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(url) = line.strip_prefix("DevTools listening on ") {
                    return url.trim().to_string();
                }
            }
            panic!("chromium exited before listening");
        })
        .await
        .expect("chromium's DevTools endpoint");
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let port = browser_ws.split(':').nth(2).unwrap().split('/').next().unwrap().to_string();
        let targets: Value =
            reqwest::get(format!("http://127.0.0.1:{port}/json/list")).await.unwrap().json().await.unwrap();
        let page = targets.as_array().unwrap().iter().find(|t| t["type"] == "page").expect("a page target");
        let (socket, _) =
            tokio_tungstenite::connect_async(page["webSocketDebuggerUrl"].as_str().unwrap()).await.unwrap();
        let mut browser =
            Self { child, socket, next_id: 0, failures: Vec::new(), console_errors: Vec::new(), _profile: profile };
        browser.call("Network.enable", json!({})).await;
        browser.call("Page.enable", json!({})).await;
        browser
    }

    /// Sends a command and returns its result, noting failed requests among the events on the way.
    pub async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let message = json!({ "id": id, "method": method, "params": params }).to_string();
        self.socket.send(tokio_tungstenite::tungstenite::Message::text(message)).await.unwrap();
        loop {
            let message = tokio::time::timeout(Duration::from_secs(30), self.socket.next())
                .await
                .expect("chromium answers")
                .unwrap()
                .unwrap();
            let Ok(text) = message.into_text() else { continue };
            let value: Value = serde_json::from_str(&text).unwrap_or_default();
            if value["id"] == id {
                return value["result"].clone();
            }
            self.note(&value);
        }
    }

    fn note(&mut self, event: &Value) {
        let params = &event["params"];
        match event["method"].as_str() {
            Some("Network.loadingFailed") => {
                self.failures.push(format!("{}: {}", params["requestId"], params["errorText"]));
            }
            Some("Network.responseReceived") => {
                let status = params["response"]["status"].as_u64().unwrap_or(0);
                if status >= 400 {
                    self.failures.push(format!("{}: HTTP {status}", params["response"]["url"]));
                }
            }
            Some("Runtime.exceptionThrown") => {
                self.console_errors.push(params["exceptionDetails"].to_string());
            }
            Some("Runtime.consoleAPICalled") if params["type"] == "error" => {
                self.console_errors.push(params["args"].to_string());
            }
            Some("Log.entryAdded") if params["entry"]["level"] == "error" => {
                self.console_errors.push(params["entry"]["text"].to_string());
            }
            _ => {}
        }
    }

    /// Starts collecting the page's exceptions and console errors into `console_errors`.
    pub async fn watch_console(&mut self) {
        self.call("Runtime.enable", json!({})).await;
        self.call("Log.enable", json!({})).await;
    }

    /// Lays the page out at `width` × `height` CSS pixels, as a window of that size would.
    pub async fn viewport(&mut self, width: u32, height: u32) {
        let metrics = json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": false });
        self.call("Emulation.setDeviceMetricsOverride", metrics).await;
    }

    /// Saves the whole page (beyond the window too) as a PNG at `path`.
    pub async fn screenshot(&mut self, path: &std::path::Path) {
        use base64::Engine as _;
        let shot = self.call("Page.captureScreenshot", json!({ "format": "png", "captureBeyondViewport": true })).await;
        let png =
            base64::engine::general_purpose::STANDARD.decode(shot["data"].as_str().expect("a screenshot")).unwrap();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, png).unwrap();
    }

    /// Chooses `files` in the page's `<input type=file>` that `selector` names, as a user
    /// picking them would (the input's `change` event fires).
    pub async fn choose_files(&mut self, selector: &str, files: &[&std::path::Path]) {
        let document = self.call("DOM.getDocument", json!({})).await;
        let root = document["root"]["nodeId"].clone();
        let node = self.call("DOM.querySelector", json!({ "nodeId": root, "selector": selector })).await;
        assert_ne!(node["nodeId"], 0, "no element matches {selector}");
        let files: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        self.call("DOM.setFileInputFiles", json!({ "files": files, "nodeId": node["nodeId"] })).await;
    }

    /// The value of `expression` evaluated in the page (JSON-serialisable values only).
    pub async fn eval(&mut self, expression: &str) -> Value {
        let result = self.call("Runtime.evaluate", json!({ "expression": expression, "returnByValue": true })).await;
        result["result"]["value"].clone()
    }

    /// Navigates to `url` without waiting for anything.
    pub async fn navigate(&mut self, url: &str) {
        self.call("Page.navigate", json!({ "url": url })).await;
    }

    /// Opens `url` and waits until the page shows `needle`. Chromium aborts a page's requests with
    /// `ERR_NETWORK_CHANGED` when an interface comes or goes on the machine (Docker adding one for
    /// another test's sandbox); that says nothing about the page, so such a load is tried again.
    pub async fn open(&mut self, url: &str, needle: &str) {
        for _ in 0..3 {
            self.navigate(url).await;
            if self.text_within(needle).await.is_ok() {
                return;
            }
            if !self.failures.iter().any(|f| f.contains("ERR_NETWORK_CHANGED")) {
                break;
            }
            self.failures.clear();
        }
        self.wait_for_text(needle).await;
    }

    /// Waits until the page's text contains `needle`.
    pub async fn wait_for_text(&mut self, needle: &str) -> String {
        match self.text_within(needle).await {
            Ok(text) => text,
            Err(text) => {
                panic!("the page never showed {needle:?}; it shows {text:?}; failed requests: {:?}", self.failures)
            }
        }
    }

    /// The page's text once it contains `needle`, or what it showed after 15 s.
    pub async fn text_within(&mut self, needle: &str) -> Result<String, String> {
        let mut text = String::new();
        for _ in 0..150 {
            text = self.text().await;
            if text.contains(needle) {
                return Ok(text);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(text)
    }

    /// The page's visible text now.
    pub async fn text(&mut self) -> String {
        self.eval("document.body ? document.body.innerText : ''").await.as_str().unwrap_or_default().to_string()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

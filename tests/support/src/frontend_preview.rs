//! Today's frontend's in-browser preview, reproduced on a loopback server: the libraries it loads
//! from CDNs served from a local npm install (`BLINK_PREVIEW_LIBS`), and a harness page that builds
//! the frontend's `srcdoc` preview document for a project in JavaScript
//! (`tests/conformance/preview/harness.js`) and loads it in a sandboxed iframe, as the frontend does.
//! [`FrontendPreview::render`] says whether a project shows in it.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::Value;

use crate::browser::Browser;
use crate::git_server::{Background, bind_loopback, serve_in_background};

const HARNESS: &str = include_str!("../../conformance/preview/harness.js");

/// How long a page is watched after it loaded and after the expected text appeared: React renders
/// and runs effects on later tasks, so a render-time error or a rejected promise lands a few
/// milliseconds after the text; a few hundred leave room for a loaded machine.
pub const SETTLE: Duration = Duration::from_millis(400);

/// How long a page that loaded, showed nothing and reported nothing is watched before it counts as
/// not shown: such a page is rare (an app that never mounts), and a busy machine may be slow to
/// run a first render.
pub const QUIET: Duration = Duration::from_secs(2);

/// The most a page may take to load its libraries and run the project (Babel alone is 3 MB).
const LOAD_TIMEOUT: Duration = Duration::from_secs(30);

/// How a project fared in the frontend's preview.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// `#root` showed the expected text and no `runtime_error` arrived.
    pub shown: bool,
    /// The `runtime_error` messages the preview posted to its parent, in order.
    pub errors: Vec<String>,
    /// The console errors and uncaught errors the frontend's console panel would list.
    pub console: Vec<String>,
    /// The text of the preview's `#root` when the verdict was taken.
    pub text: String,
}

struct Shared {
    libs: PathBuf,
    /// Library files a page asked for that are not there.
    missing: Mutex<Vec<String>>,
    /// Projects by case id, as the JSON the harness page embeds.
    cases: Mutex<HashMap<u64, String>>,
}

/// The loopback server; stopped when dropped.
pub struct FrontendPreview {
    pub url: String,
    shared: Arc<Shared>,
    next_case: AtomicU64,
    _server: Background,
}

/// The preview libraries' `node_modules`, from `BLINK_PREVIEW_LIBS`; fails the test, saying how to
/// get them, when it is not there (the conformance tests never skip).
pub fn preview_libs() -> PathBuf {
    let how = "scripts/test.sh installs the frontend's preview libraries (tests/conformance/preview) with \
               `npm ci` into /var/cache/blink-tools/preview-libs and exports \
               BLINK_PREVIEW_LIBS=/var/cache/blink-tools/preview-libs/node_modules";
    let dir = std::env::var_os("BLINK_PREVIEW_LIBS")
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("BLINK_PREVIEW_LIBS is not set: {how}"));
    for library in ["react/umd/react.production.min.js", "@babel/standalone/babel.min.js"] {
        assert!(dir.join(library).is_file(), "BLINK_PREVIEW_LIBS={} has no {library}: {how}", dir.display());
    }
    dir
}

impl FrontendPreview {
    /// Serves the libraries of [`preview_libs`] and the harness on a free loopback port.
    pub async fn start() -> Self {
        let shared = Arc::new(Shared { libs: preview_libs(), missing: Mutex::default(), cases: Mutex::default() });
        let app = axum::Router::new()
            .route("/case/{id}", get(case_page))
            .route("/harness.js", get(|| async { javascript(HARNESS.as_bytes().to_vec(), "no-store") }))
            // The Tailwind play CDN is not on npm; styling is no part of what is compared.
            .route("/stubs/tailwind.js", get(|| async { javascript(b"window.tailwind = {};\n".to_vec(), "no-store") }))
            .route("/libs/{*path}", get(library))
            .with_state(shared.clone());
        let listener = bind_loopback();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = serve_in_background("frontend-preview", listener, app);
        Self { url, shared, next_case: AtomicU64::new(0), _server: server }
    }

    /// Loads `files` in the frontend's preview in `browser` and watches it: shown when its `#root`
    /// contains `expect_text` and no `runtime_error` arrived by [`SETTLE`] after both the load and
    /// the text. A load Chromium aborted because the machine's interfaces changed is tried again
    /// (see [`Browser::open`]), and a library file that is not there fails the test, since either
    /// would change the verdict. Other failed requests are the project's own (an `import` of a
    /// file the page cannot resolve, say) and part of what is judged.
    pub async fn render(&self, browser: &mut Browser, files: &BTreeMap<String, String>, expect_text: &str) -> Rendered {
        let json = serde_json::to_string(files).unwrap();
        // JSON inside a `<script>` element: no `<` may close it early; `\u003c` means the same.
        let embedded = json.replace('<', "\\u003c");
        for _ in 0..3 {
            let id = self.next_case.fetch_add(1, Ordering::SeqCst);
            self.shared.cases.lock().unwrap().insert(id, embedded.clone());
            browser.failures.clear();
            browser.navigate(&format!("{}/case/{id}", self.url)).await;
            let page = format!("/case/{id}");
            let rendered = watch(browser, &page, expect_text).await;
            self.shared.cases.lock().unwrap().remove(&id);
            let missing = std::mem::take(&mut *self.shared.missing.lock().unwrap());
            assert!(missing.is_empty(), "the preview libraries lack {missing:?}; is BLINK_PREVIEW_LIBS complete?");
            if browser.failures.iter().any(|f| f.contains("ERR_NETWORK_CHANGED")) {
                continue;
            }
            return rendered.unwrap_or_else(|| panic!("the preview page {page} never opened: {:?}", browser.failures));
        }
        panic!("Chromium aborted the preview's requests three times (ERR_NETWORK_CHANGED)");
    }
}

/// Polls the harness page at `page` until the verdict is sure (see [`FrontendPreview::render`]);
/// `None` if the page never opened.
async fn watch(browser: &mut Browser, page: &str, expect_text: &str) -> Option<Rendered> {
    let started = Instant::now();
    let (mut loaded_at, mut text_at) = (None, None);
    loop {
        let state = browser.eval("window.__previewState ? window.__previewState() : null").await;
        let now = Instant::now();
        // Until the navigation commits, the poll may still reach the page before.
        if state["page"] != page {
            if now.duration_since(started) > LOAD_TIMEOUT {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        let text = state["text"].as_str().unwrap_or_default().to_string();
        let strings = |key: &str| -> Vec<String> {
            let list = state[key].as_array().map(Vec::as_slice).unwrap_or_default();
            list.iter().map(|v| v.as_str().unwrap_or_default().to_string()).collect()
        };
        if state["loaded"] == Value::Bool(true) {
            loaded_at.get_or_insert(now);
        }
        let has_text = text.contains(expect_text);
        if has_text {
            text_at.get_or_insert(now);
        }
        let errors = strings("errors");
        // Shown needs the text and a quiet settle time after it; not shown is sure once an error
        // arrived, or when the page loaded and stayed quiet without the text.
        let since = |at: Option<Instant>, wait: Duration| at.is_some_and(|at| now.duration_since(at) >= wait);
        let done = if !errors.is_empty() {
            since(loaded_at, SETTLE)
        } else if has_text {
            since(loaded_at, SETTLE) && since(text_at, SETTLE)
        } else {
            since(loaded_at, QUIET)
        };
        if done || now.duration_since(started) > LOAD_TIMEOUT {
            return Some(Rendered { shown: has_text && errors.is_empty(), errors, console: strings("console"), text });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn case_page(State(shared): State<Arc<Shared>>, UrlPath(id): UrlPath<u64>) -> Response {
    let Some(project) = shared.cases.lock().unwrap().get(&id).cloned() else {
        return (StatusCode::NOT_FOUND, "no such case").into_response();
    };
    let page = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><link rel=\"icon\" href=\"data:,\"><title>Frontend preview</title></head>\n<body>\n\
         <script id=\"project\" type=\"application/json\">{project}</script>\n\
         <script src=\"/harness.js\"></script>\n</body></html>\n"
    );
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-store")], page).into_response()
}

/// A file of the preview libraries. They never change during a run, so Chromium may keep them:
/// each case then costs the parsing of Babel, not its download.
async fn library(State(shared): State<Arc<Shared>>, UrlPath(path): UrlPath<String>) -> Response {
    let read = match inside(&shared.libs, &path) {
        Some(file) => tokio::fs::read(&file).await.ok(),
        None => None,
    };
    match read {
        Some(bytes) if path.ends_with(".js") => javascript(bytes, "max-age=3600"),
        Some(bytes) => ([(header::CACHE_CONTROL, "max-age=3600")], bytes).into_response(),
        None => {
            shared.missing.lock().unwrap().push(path.clone());
            (StatusCode::NOT_FOUND, format!("{path} is not among the preview libraries")).into_response()
        }
    }
}

fn javascript(bytes: Vec<u8>, cache: &'static str) -> Response {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, cache)], bytes).into_response()
}

/// `path` under `root`, or `None` if it would leave it.
fn inside(root: &Path, path: &str) -> Option<PathBuf> {
    let mut file = root.to_path_buf();
    for segment in path.split('/') {
        if segment.is_empty() || segment == "." || segment == ".." || segment.contains('\\') {
            return None;
        }
        file.push(segment);
    }
    Some(file)
}

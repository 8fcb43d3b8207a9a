//! Conformance of the validator's runtime targets with the runtimes they stand for: each case of
//! `tests/conformance/{browser,vite}/*.case` is judged by the validator and run for real, and the
//! two verdicts must agree unless the case says why they may not.
//!
//! - `browser`: today's frontend's in-browser preview, rebuilt from its libraries
//!   ([`FrontendPreview`]), in headless Chromium.
//! - `vite`: the project's sandbox dev server through the real `blink` binary, in headless Chromium.
//! - the `browser` target in the dev server: what the frontend's preview shows, the dev server
//!   started with `"target": "browser"` shows too.
//!
//! The case format and its marks are described in `tests/conformance/README.md`. Each test writes a
//! Markdown report under `target/` and prints a one-line summary. Needs
//! Chromium, the preview libraries (`BLINK_PREVIEW_LIBS`), and for the dev server `dockerd` and
//! the sandbox image; `scripts/test.sh` provides them all, and without them these tests fail,
//! naming what is missing.
//!
//! Over 500 lines: the conformance harness and its two runtimes (the frontend's preview rebuilt in
//! Chromium, Vite) are one procedure; the cases themselves are data files.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use blink_agent_sdk::validator::validate;
use blink_agent_sdk::{ProjectFile, RuntimeTarget, ValidateRequest, ValidationReport};
use blink_test_support::browser::Browser;
use blink_test_support::docker::{Cleanup, docker};
use blink_test_support::frontend_preview::{FrontendPreview, Rendered, SETTLE};
use blink_test_support::host::Blink;
use blink_test_support::jwt;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_blink");
const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/conformance");
const REPORTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../target");

/// One case of a corpus: a project, the text it shows when it works, and why the validator and the
/// runtime may disagree on it, if they may.
#[derive(Debug, Clone)]
struct Case {
    name: String,
    what: String,
    shows: String,
    /// `exception:` — the validator and the runtime deliberately disagree; why.
    exception: Option<String>,
    /// `runtime-only:` — an error only running the code reveals; why no static check sees it.
    runtime_only: Option<String>,
    /// `dev-server-differs:` — a browser case the frontend's preview shows and the dev server,
    /// deliberately, does not; why.
    dev_server_differs: Option<String>,
    files: BTreeMap<String, String>,
}

impl Case {
    /// The reason this case may disagree, if it may.
    fn allowed_disagreement(&self) -> Option<&str> {
        self.exception.as_deref().or(self.runtime_only.as_deref())
    }
}

/// Reads a `.case` file: `# key: value` headers, then `--- path` lines each opening a file that
/// runs to the next such line.
fn parse_case(name: &str, text: &str) -> Case {
    let mut case = Case {
        name: name.to_string(),
        what: String::new(),
        shows: String::new(),
        exception: None,
        runtime_only: None,
        dev_server_differs: None,
        files: BTreeMap::new(),
    };
    let mut current: Option<(String, String)> = None;
    for line in text.lines() {
        if let Some(path) = line.strip_prefix("--- ") {
            if let Some((path, content)) = current.take() {
                case.files.insert(path, content);
            }
            current = Some((path.trim().to_string(), String::new()));
        } else if let Some((_, content)) = current.as_mut() {
            content.push_str(line);
            content.push('\n');
        } else if let Some(header) = line.strip_prefix('#') {
            let (key, value) =
                header.split_once(':').unwrap_or_else(|| panic!("{name}: a header without a key: {line}"));
            let value = value.trim().to_string();
            match key.trim() {
                "what" => case.what = value,
                "shows" => case.shows = value,
                "exception" => case.exception = Some(value),
                "runtime-only" => case.runtime_only = Some(value),
                "dev-server-differs" => case.dev_server_differs = Some(value),
                other => panic!("{name}: unknown header {other:?}"),
            }
        } else {
            assert!(line.trim().is_empty(), "{name}: a line before the first file: {line}");
        }
    }
    if let Some((path, content)) = current {
        case.files.insert(path, content);
    }
    assert!(!case.what.is_empty() && !case.shows.is_empty(), "{name}: `what` and `shows` are required");
    assert!(!case.files.is_empty(), "{name}: no file");
    case
}

/// The cases of `tests/conformance/{corpus}`, by file name.
fn corpus(corpus: &str) -> Vec<Case> {
    let dir = Path::new(CORPUS).join(corpus);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "case"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|path| {
            let name = path.file_stem().unwrap().to_string_lossy().to_string();
            parse_case(&name, &std::fs::read_to_string(path).unwrap())
        })
        .collect()
}

fn validator(case: &Case, target: RuntimeTarget) -> ValidationReport {
    let files: Vec<ProjectFile> = case.files.iter().map(|(path, content)| ProjectFile::new(path, content)).collect();
    validate(&ValidateRequest {
        changed: case.files.keys().cloned().collect(),
        files,
        dependencies: vec![],
        known_paths: vec![],
        target,
    })
}

/// What a runtime did with a case.
struct Run {
    shown: bool,
    /// The first error the runtime reported, if any.
    error: Option<String>,
    /// What the page showed, for the report.
    text: String,
}

struct Outcome {
    case: Case,
    accepted: bool,
    first_error: Option<String>,
    run: Run,
}

impl Outcome {
    fn agrees(&self) -> bool {
        self.accepted == self.run.shown
    }
}

fn one_line(text: &str, max: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ").replace('|', "\\|");
    if flat.chars().count() > max { format!("{}…", flat.chars().take(max).collect::<String>()) } else { flat }
}

/// Writes the report `target/{file}`, prints the summary line, and checks that the corpus's
/// marked disagreements are exactly the disagreements.
fn conclude(title: &str, label: &str, file: &str, runtime: &str, outcomes: &[Outcome], elapsed: Duration) {
    let agree = outcomes.iter().filter(|o| o.agrees()).count();
    let percent = if outcomes.is_empty() { 0.0 } else { 100.0 * agree as f64 / outcomes.len() as f64 };
    let summary = format!("{label}: {} cases, {agree} agree ({percent:.1} %)", outcomes.len());
    let mut report = format!("# {title}\n\n{summary}, in {:.1} s.\n\n", elapsed.as_secs_f64());
    let _ = writeln!(report, "| case | validator | first error | {runtime} | first runtime error | agree | marked |");
    let _ = writeln!(report, "|---|---|---|---|---|---|---|");
    for o in outcomes {
        let marked = match (&o.case.exception, &o.case.runtime_only) {
            (Some(why), _) => format!("exception: {}", one_line(why, 120)),
            (None, Some(why)) => format!("runtime-only: {}", one_line(why, 120)),
            (None, None) => String::new(),
        };
        let _ = writeln!(
            report,
            "| {} | {} | {} | {} | {} | {} | {} |",
            o.case.name,
            if o.accepted { "accepts" } else { "rejects" },
            o.first_error.as_deref().map(|e| one_line(e, 160)).unwrap_or_default(),
            if o.run.shown { "shown" } else { "not shown" },
            o.run.error.as_deref().map(|e| one_line(e, 160)).unwrap_or_default(),
            if o.agrees() { "yes" } else { "**no**" },
            marked,
        );
    }
    std::fs::create_dir_all(REPORTS).unwrap();
    let path = Path::new(REPORTS).join(file);
    std::fs::write(&path, &report).unwrap();
    println!("{summary} (report: {}, {:.1} s)", path.display(), elapsed.as_secs_f64());

    let detail = |o: &Outcome| {
        format!(
            "{} ({}): validator {} [{}], {runtime} {} [{}], page text {:?}",
            o.case.name,
            o.case.what,
            if o.accepted { "accepts" } else { "rejects" },
            one_line(o.first_error.as_deref().unwrap_or("no error"), 200),
            if o.run.shown { "shows it" } else { "does not show it" },
            one_line(o.run.error.as_deref().unwrap_or("no error"), 200),
            one_line(&o.run.text, 200),
        )
    };
    let unexplained: Vec<String> =
        outcomes.iter().filter(|o| !o.agrees() && o.case.allowed_disagreement().is_none()).map(detail).collect();
    let stale: Vec<String> =
        outcomes.iter().filter(|o| o.agrees() && o.case.allowed_disagreement().is_some()).map(detail).collect();
    assert!(
        unexplained.is_empty() && stale.is_empty(),
        "{summary}\n\ndisagreements no case explains (fix the validator, or mark the case `exception:` \
         with the reason):\n  {}\n\ncases marked as disagreeing that agree now (remove the mark):\n  {}",
        unexplained.join("\n  "),
        stale.join("\n  "),
    );
}

/// Tells how a page's errors show in the dev server: an uncaught error or rejection, and a module
/// script that failed to load (caught on its element), recorded before any script of the page runs.
const ERROR_CATCHER: &str = r#"
window.__blinkErrors = [];
window.addEventListener('error', function (event) {
  var target = event.target;
  if (target && target !== window && target.tagName) {
    window.__blinkErrors.push('failed to load ' + (target.src || target.href || target.tagName));
  } else {
    window.__blinkErrors.push(String(event.message || (event.error && event.error.message) || event.error));
  }
}, true);
window.addEventListener('unhandledrejection', function (event) {
  var reason = event.reason;
  window.__blinkErrors.push('Unhandled rejection: ' + String((reason && reason.message) || reason));
});
"#;

/// What the test reads of a dev server page each time it polls; Vite's error overlay is a custom
/// element whose message is in its shadow root.
const DEV_SERVER_STATE: &str = r#"(function () {
  var root = document.getElementById('root');
  var overlay = document.querySelector('vite-error-overlay');
  var message = null;
  if (overlay) {
    var body = overlay.shadowRoot && overlay.shadowRoot.querySelector('.message');
    message = ((body && body.textContent) || overlay.textContent || '').trim() || 'Vite error overlay';
  }
  return {
    href: location.href,
    loaded: document.readyState === 'complete',
    text: root ? root.innerText : '',
    overlay: message,
    errors: window.__blinkErrors || []
  };
})()"#;

/// How long a dev server page that loaded, showed nothing and reported nothing is given before it
/// counts as not shown: Vite may still be optimising a dependency and reload the page once.
const DEV_SERVER_QUIET: Duration = Duration::from_secs(5);

/// The longest a case may take to show in the dev server.
const DEV_SERVER_TIMEOUT: Duration = Duration::from_secs(40);

/// A project id no other test (or earlier run) uses.
fn project() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    format!("c{nanos:x}{:x}", std::process::id())
}

/// One project's sandbox dev server through the real `blink` binary, given one case after another.
struct DevServer {
    blink: Blink,
    token: String,
    project: String,
    _cleanup: Cleanup,
    /// The files of the case before, and how the dev server served each file then.
    posted: BTreeMap<String, String>,
    served: BTreeMap<String, (u16, String)>,
}

impl DevServer {
    /// Starts the host with sandboxes on, as `tests/e2e/sandbox.rs` does.
    async fn start(user: &str) -> Self {
        docker(&["version", "--format", "{{.Server.Version}}"]);
        let image = docker(&["images", "-q", "blink-sandbox:latest"]);
        assert!(!image.is_empty(), "the sandbox image is missing: run sandbox/build-image.sh");
        // No warm pool: a test host's warm sandbox would outlive it. Previews by path: the test
        // reaches them without a resolver for `*.preview.localhost`.
        let env = [
            ("BLINK_SANDBOXES", "true".to_string()),
            ("BLINK_SANDBOX_WARM", "0".to_string()),
            ("BLINK_PREVIEW_PATHS", "true".to_string()),
            ("BLINK_PREVIEW_URL", "{origin}/preview/{projectId}/".to_string()),
        ];
        let blink = Blink::start(BIN, &env).await;
        let project = project();
        Self {
            blink,
            token: jwt::user_token(user),
            _cleanup: Cleanup(vec![project.clone()]),
            project,
            posted: BTreeMap::new(),
            served: BTreeMap::new(),
        }
    }

    /// Posts `case` to `/api/preview` (with `target` if given), opens the preview in `browser`
    /// and judges it as [`FrontendPreview::render`] does: shown when `#root` contains the case's
    /// text and, for [`SETTLE`] after the page loaded and the text appeared, no error overlay and
    /// no uncaught error.
    async fn run(&mut self, browser: &mut Browser, case: &Case, target: Option<&str>) -> Run {
        let mut body = json!({ "projectId": self.project, "files": case.files });
        if let Some(target) = target {
            body["target"] = json!(target);
        }
        let (status, text) = self.blink.post("/api/preview", Some(&self.token), &body).await;
        if status != 200 {
            // A preview the host refuses to start is a preview not shown.
            return Run { shown: false, error: Some(format!("/api/preview answered {status}: {text}")), text };
        }
        let answer: Value = serde_json::from_str(&text).unwrap();
        let url = answer["previewUrl"].as_str().unwrap().to_string();
        self.wait_until_current(&url, &case.files, target == Some("browser")).await;
        for _ in 0..3 {
            browser.failures.clear();
            browser.navigate(&url).await;
            let run = watch_dev_server(browser, &url, &case.shows).await;
            // Leave the page before the next case's files arrive, so that no hot update of this
            // page runs meanwhile.
            browser.navigate("about:blank").await;
            if !browser.failures.iter().any(|f| f.contains("ERR_NETWORK_CHANGED")) {
                return run.unwrap_or_else(|| panic!("the dev server page {url} never opened: {:?}", browser.failures));
            }
        }
        panic!("Chromium aborted the dev server's requests three times (ERR_NETWORK_CHANGED)\n{}", self.blink.log());
    }

    /// Waits until the dev server serves every file this case changed as it is now: Vite drops a
    /// module it transformed when its watcher sees the file change, and a page loaded before that
    /// would run the case before. A file counts as current once it is served otherwise than it was
    /// for the case before (the corpus changes what every reused file does). With `entry`, the
    /// entry the host writes for a `browser` project (`main.tsx`, which imports the scripts by
    /// name) is waited for too whenever the scripts' names changed.
    async fn wait_until_current(&mut self, url: &str, files: &BTreeMap<String, String>, entry: bool) {
        let scripts = |files: &BTreeMap<String, String>| -> Vec<String> {
            files.keys().filter(|p| [".tsx", ".ts", ".jsx", ".js"].iter().any(|e| p.ends_with(e))).cloned().collect()
        };
        let mut changed: BTreeSet<String> = self
            .posted
            .keys()
            .chain(files.keys())
            .filter(|path| self.posted.get(*path) != files.get(*path) || !self.served.contains_key(*path))
            .cloned()
            .collect();
        if entry && scripts(&self.posted) != scripts(files) {
            changed.insert("main.tsx".to_string());
        }
        let http = reqwest::Client::new();
        let started = Instant::now();
        for path in changed {
            loop {
                let response = http.get(format!("{url}src/{path}")).send().await.unwrap();
                let served = (response.status().as_u16(), response.text().await.unwrap_or_default());
                if self.served.get(&path).is_none_or(|before| *before != served) {
                    self.served.insert(path, served);
                    break;
                }
                assert!(
                    started.elapsed() < Duration::from_secs(20),
                    "the dev server still serves src/{path} as for the case before: {} {}\n{}",
                    served.0,
                    one_line(&served.1, 600),
                    self.blink.log()
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        self.posted = files.clone();
    }
}

/// Polls the dev server page at `url` until its verdict is sure; `None` if the page never opened.
async fn watch_dev_server(browser: &mut Browser, url: &str, expect_text: &str) -> Option<Run> {
    let started = Instant::now();
    let (mut loaded_at, mut text_at) = (None, None);
    loop {
        let state = browser.eval(DEV_SERVER_STATE).await;
        let now = Instant::now();
        // Until the navigation commits, the poll may still reach the blank page before.
        if !state["href"].as_str().unwrap_or_default().starts_with(url) {
            if now.duration_since(started) > DEV_SERVER_TIMEOUT {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        let text = state["text"].as_str().unwrap_or_default().to_string();
        if state["loaded"] == Value::Bool(true) {
            loaded_at.get_or_insert(now);
        }
        let has_text = text.contains(expect_text);
        if has_text {
            text_at.get_or_insert(now);
        }
        let mut errors: Vec<String> =
            state["overlay"].as_str().map(|o| format!("Vite error overlay: {o}")).into_iter().collect();
        errors.extend(
            state["errors"].as_array().into_iter().flatten().map(|e| e.as_str().unwrap_or_default().to_string()),
        );
        let since = |at: Option<Instant>, wait: Duration| at.is_some_and(|at| now.duration_since(at) >= wait);
        let done = if !errors.is_empty() {
            since(loaded_at, SETTLE) || since(text_at, SETTLE)
        } else if has_text {
            since(loaded_at, SETTLE) && since(text_at, SETTLE)
        } else {
            since(loaded_at, DEV_SERVER_QUIET)
        };
        if done || now.duration_since(started) > DEV_SERVER_TIMEOUT {
            // Not the app's failures: the machine's interfaces changing (see `Browser::open`), and
            // requests Chromium itself cancelled because Vite reloaded the page (the previous
            // case's HMR can land while this one loads). A module that is missing or broken fails
            // with a status or a network error, and the text does not show.
            let failed: Vec<String> = browser
                .failures
                .iter()
                .filter(|f| !f.contains("ERR_NETWORK_CHANGED") && !f.contains("ERR_ABORTED"))
                .cloned()
                .collect();
            errors.extend(failed.into_iter().map(|f| format!("failed request {f}")));
            return Some(Run { shown: has_text && errors.is_empty(), error: errors.first().cloned(), text });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every case of the browser corpus with what the frontend's preview did with it. Computed once per
/// run by whichever test asks first: the first and the last test both need it, and it takes the
/// better part of their time.
async fn frontend_verdicts() -> &'static [(Case, Rendered)] {
    static VERDICTS: tokio::sync::OnceCell<Vec<(Case, Rendered)>> = tokio::sync::OnceCell::const_new();
    VERDICTS
        .get_or_init(|| async {
            let cases = corpus("browser");
            let preview = FrontendPreview::start().await;
            let mut browser = Browser::launch().await;
            let mut verdicts = Vec::new();
            for case in cases {
                let rendered = preview.render(&mut browser, &case.files, &case.shows).await;
                verdicts.push((case, rendered));
            }
            verdicts
        })
        .await
}

#[tokio::test]
async fn the_browser_target_agrees_with_the_frontends_preview() {
    let started = Instant::now();
    let verdicts = frontend_verdicts().await;
    assert!(verdicts.len() >= 45, "the browser corpus has only {} cases", verdicts.len());
    let outcomes: Vec<Outcome> = verdicts
        .iter()
        .map(|(case, rendered)| {
            let report = validator(case, RuntimeTarget::Browser);
            Outcome {
                accepted: report.errors.is_empty(),
                first_error: report.errors.first().map(|e| format!("{}: {}", e.file, e.message)),
                run: Run {
                    shown: rendered.shown,
                    error: rendered.errors.first().cloned(),
                    text: rendered.text.clone(),
                },
                case: case.clone(),
            }
        })
        .collect();
    conclude(
        "The browser target against the frontend's preview",
        "browser target",
        "conformance-report.md",
        "preview",
        &outcomes,
        started.elapsed(),
    );
}

/// The first time a page imports a package, Vite optimizes it and reloads the page, once per
/// project: a case judged in between would be judged on a page Vite is about to replace (it shows
/// a second copy of React, `useContext` of null). Every template package is imported once first,
/// until the page renders.
async fn warm_up(dev_server: &mut DevServer, browser: &mut Browser) {
    let app = "import { motion } from 'framer-motion';\nimport { format } from 'date-fns';\n\
               import { Search } from 'lucide-react';\nimport { LineChart } from 'recharts';\n\
               import { HashRouter } from 'react-router-dom';\nimport clsx from 'clsx';\n\
               import { twMerge } from 'tailwind-merge';\n\nexport default function App() {\n  \
               return <HashRouter><motion.p className={twMerge(clsx('p-1'))}>warmed-{format(new Date(0), 'yyyy')} \
               {typeof Search} {typeof LineChart}</motion.p></HashRouter>;\n}\n";
    let case = Case {
        name: "warm_up".into(),
        what: "every template package imported once".into(),
        shows: "warmed-19".into(),
        exception: None,
        runtime_only: None,
        dev_server_differs: None,
        files: BTreeMap::from([("App.tsx".to_string(), app.to_string())]),
    };
    let mut last = None;
    for _ in 0..3 {
        let run = dev_server.run(browser, &case, Some("vite")).await;
        if run.shown {
            return;
        }
        last = Some(run.error.unwrap_or(run.text));
    }
    panic!("the dev server never rendered the template's packages: {last:?}");
}

#[tokio::test]
async fn the_vite_target_agrees_with_the_sandbox_dev_server() {
    let started = Instant::now();
    let cases = corpus("vite");
    assert!(cases.len() >= 12, "the vite corpus has only {} cases", cases.len());
    let mut dev_server = DevServer::start("conformance-vite").await;
    let mut browser = Browser::launch().await;
    browser.call("Page.addScriptToEvaluateOnNewDocument", json!({ "source": ERROR_CATCHER })).await;
    warm_up(&mut dev_server, &mut browser).await;
    let mut outcomes = Vec::new();
    for case in cases {
        let report = validator(&case, RuntimeTarget::Vite);
        // Named: without a target the host infers one from the files, and would run a case written
        // for the browser target (`browser_style_project`) as such.
        let run = dev_server.run(&mut browser, &case, Some("vite")).await;
        outcomes.push(Outcome {
            accepted: report.errors.is_empty(),
            first_error: report.errors.first().map(|e| format!("{}: {}", e.file, e.message)),
            run,
            case,
        });
    }
    conclude(
        "The vite target against the sandbox's dev server",
        "vite target",
        "conformance-report-vite.md",
        "dev server",
        &outcomes,
        started.elapsed(),
    );
}

/// What the frontend's preview shows, the dev server started for the `browser` target shows too:
/// the host's entry for such a project gives it the preview's globals and loads its files in the
/// preview's order. A case marked `dev-server-differs:` must not show there, so that the marks stay
/// true.
#[tokio::test]
async fn the_browser_target_runs_the_same_in_the_dev_server() {
    let started = Instant::now();
    let shown: Vec<&Case> =
        frontend_verdicts().await.iter().filter(|(_, rendered)| rendered.shown).map(|(case, _)| case).collect();
    let mut browser = Browser::launch().await;
    browser.call("Page.addScriptToEvaluateOnNewDocument", json!({ "source": ERROR_CATCHER })).await;
    let mut dev_server = DevServer::start("conformance-browser").await;
    let mut table = String::from("| case | dev server | first error | marked |\n|---|---|---|---|\n");
    let (mut same, mut unexplained, mut stale) = (0, Vec::new(), Vec::new());
    for case in &shown {
        let run = dev_server.run(&mut browser, case, Some("browser")).await;
        let _ = writeln!(
            table,
            "| {} | {} | {} | {} |",
            case.name,
            if run.shown { "shown" } else { "**not shown**" },
            run.error.as_deref().map(|e| one_line(e, 200)).unwrap_or_default(),
            case.dev_server_differs.as_deref().map(|why| one_line(why, 120)).unwrap_or_default(),
        );
        let detail = format!(
            "{} ({}): {} — page text {:?}",
            case.name,
            case.what,
            one_line(run.error.as_deref().unwrap_or("no error"), 300),
            one_line(&run.text, 200)
        );
        match (run.shown, &case.dev_server_differs) {
            (true, None) => same += 1,
            (true, Some(_)) => stale.push(detail),
            (false, None) => unexplained.push(detail),
            (false, Some(_)) => {}
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let summary =
        format!("browser target in the dev server: {} cases the preview shows, {same} shown the same", shown.len());
    std::fs::create_dir_all(REPORTS).unwrap();
    let path = Path::new(REPORTS).join("conformance-report-dev-server.md");
    std::fs::write(
        &path,
        format!("# The browser target in the dev server\n\n{summary}, in {elapsed:.1} s.\n\n{table}"),
    )
    .unwrap();
    println!("{summary} (report: {}, {elapsed:.1} s)", path.display());
    assert!(!shown.is_empty(), "the frontend's preview showed no case");
    assert!(
        unexplained.is_empty() && stale.is_empty(),
        "{summary}\n\nshown by the preview, not by the dev server (fix the dev server's entry, or mark the case \
         `dev-server-differs:` with the reason):\n  {}\n\ncases marked `dev-server-differs:` that the dev server \
         shows now (remove the mark):\n  {}",
        unexplained.join("\n  "),
        stale.join("\n  "),
    );
}

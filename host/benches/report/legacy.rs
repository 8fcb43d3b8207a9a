//! Section 11: today's frontend's Node-backend routes on the host, timed the way its user sees
//! them: `/dev/start` until the page shows the app in Chromium, and `/dev/sync` (posted from
//! the page, as the frontend does) until the open page shows the change. Baseline in the same
//! run: the host's own `/api/preview` doing the same work; the Node backend's figures on this
//! machine are quoted beside them.

use blink_test_support::browser::Browser;

use super::*;

/// The Node backend on this machine, as measured for the issue that asked for these routes:
/// `/dev/start` → page rendered, and `/dev/sync` → change visible.
const NODE_START_MS: f64 = 2000.0;
const NODE_SYNC_MS: f64 = 37.0;

const ADMIN: &str = "bench-admin";

/// Polls the page's text every 5 ms until it shows `needle`.
async fn shown(browser: &mut Browser, needle: &str) {
    for _ in 0..6000 {
        if browser.text().await.contains(needle) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("the page never showed {needle:?}");
}

/// Milliseconds from the page's own `fetch` of `path` with `body` until its text shows `marker`
/// (a MutationObserver, in the page's clock).
async fn sync_from_page(browser: &mut Browser, path: &str, token: Option<&str>, body: &Value, marker: &str) -> f64 {
    let auth = token.map(|t| format!(", 'Authorization': 'Bearer {t}'")).unwrap_or_default();
    let script = format!(
        "(async () => {{ const t0 = performance.now(); const marker = {marker}; \
         const seen = new Promise((resolve) => {{ const check = () => document.body.innerText.includes(marker); \
         const observer = new MutationObserver(() => {{ if (check()) {{ observer.disconnect(); resolve(performance.now() - t0); }} }}); \
         observer.observe(document.body, {{ subtree: true, childList: true, characterData: true }}); }}); \
         const response = await fetch({path}, {{ method: 'POST', headers: {{ 'Content-Type': 'application/json'{auth} }}, body: {body} }}); \
         if (!response.ok) return -response.status; return await seen; }})()",
        marker = serde_json::to_string(marker).unwrap(),
        path = serde_json::to_string(path).unwrap(),
        body = serde_json::to_string(&body.to_string()).unwrap(),
    );
    let answer = browser
        .call("Runtime.evaluate", json!({ "expression": script, "awaitPromise": true, "returnByValue": true }))
        .await;
    let ms = answer["result"]["value"].as_f64().unwrap_or_else(|| panic!("no timing: {answer}"));
    assert!(ms >= 0.0, "{path} answered {}", -ms);
    ms
}

struct Figures {
    starts: Vec<Duration>,
    syncs: Vec<f64>,
}

/// `rounds` new projects through `start_path`, each then updated `syncs` times (after one
/// warm-up) through `sync_path`.
async fn measure(
    client: &reqwest::Client,
    blink: &Blink,
    browser: &mut Browser,
    legacy: bool,
    rounds: usize,
    syncs: usize,
) -> (Figures, Vec<String>) {
    let token = jwt::user_token("bench-legacy");
    let (start_path, sync_path, bearer) =
        if legacy { ("/dev/start", "/dev/sync", None) } else { ("/api/preview", "/api/preview", Some(token.as_str())) };
    let mut figures = Figures { starts: Vec::new(), syncs: Vec::new() };
    let mut projects = Vec::new();
    for round in 0..rounds {
        pool_refilled(client, blink, ADMIN).await;
        let project = uuid::Uuid::new_v4().to_string();
        projects.push(project.clone());
        let marker = format!("Started {round}");
        let body = json!({ "projectId": project, "files": { "App.tsx": sandbox_app(&marker) } });
        let started = Instant::now();
        let mut request = client.post(format!("{}{start_path}", blink.url)).json(&body);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        let answer: Value = request.send().await.unwrap().json().await.unwrap();
        let url = answer["devUrl"].as_str().or(answer["previewUrl"].as_str()).unwrap_or_else(|| panic!("{answer}"));
        browser.navigate(url).await;
        shown(browser, &marker).await;
        figures.starts.push(started.elapsed());
        for sync in 0..=syncs {
            let marker = format!("Synced {round}.{sync}");
            let body = json!({ "projectId": project, "files": { "App.tsx": sandbox_app(&marker) } });
            let ms = sync_from_page(browser, sync_path, bearer, &body, &marker).await;
            if sync > 0 {
                figures.syncs.push(ms);
            }
        }
    }
    (figures, projects)
}

pub(crate) async fn legacy_routes(report: &mut String) {
    const ROUNDS: usize = 5;
    const SYNCS: usize = 5;
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let blink = Blink::start(
        BIN,
        &[
            ("BLINK_SANDBOXES", "true".to_string()),
            ("BLINK_SANDBOX_WARM", "1".to_string()),
            ("BLINK_SANDBOX_MAX", "40".to_string()),
            ("BLINK_SANDBOX_MAX_PER_USER", "40".to_string()),
            ("BLINK_PREVIEW_PATHS", "true".to_string()),
            ("BLINK_PREVIEW_URL", "{origin}/preview/{projectId}/".to_string()),
            ("BLINK_LEGACY_ROUTES", "true".to_string()),
            ("BLINK_LEGACY_RATE_START", "1000/60".to_string()),
            ("BLINK_LEGACY_RATE_SYNC", "1000/60".to_string()),
            ("BLINK_ADMIN_TOKEN", ADMIN.to_string()),
            ("BLINK_LOG", "warn".to_string()),
        ],
    )
    .await;
    let mut browser = Browser::launch().await;
    let (native, mut projects) = measure(&client, &blink, &mut browser, false, ROUNDS, SYNCS).await;
    let (legacy, more) = measure(&client, &blink, &mut browser, true, ROUNDS, SYNCS).await;
    projects.extend(more);
    for project in &projects {
        let _ = std::process::Command::new("docker").args(["rm", "-f", &format!("sandbox-{project}")]).output();
    }
    let median = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };

    let _ = writeln!(report, "## 11. Today's frontend's routes\n");
    let _ = writeln!(
        report,
        "The frontend's Node-backend routes on the host (`BLINK_LEGACY_ROUTES=true`, no token, warm pool of 1, refilled before each start), timed as its user sees them in headless Chromium: a start until the page shows the app ({ROUNDS} new projects, medians), a sync posted by the page's own `fetch` until a MutationObserver sees the change ({} syncs, medians). Baseline in the same run: the host's own `/api/preview` doing the same. The Node backend's figures on this machine are quoted, not re-run.\n",
        ROUNDS * SYNCS
    );
    let _ =
        writeln!(report, "| measure | legacy route ms | `/api/preview` ms | ratio | Node backend ms | ratio to Node |");
    let _ = writeln!(report, "|---|---|---|---|---|---|");
    let (start, start_native) = (median_ms(&legacy.starts), median_ms(&native.starts));
    let (sync, sync_native) = (median(&legacy.syncs), median(&native.syncs));
    let _ = writeln!(
        report,
        "| `/dev/start` → page rendered | {start:.0} | {start_native:.0} | {:.2}× | {NODE_START_MS:.0} | {:.2}× |",
        start / start_native,
        start / NODE_START_MS
    );
    let _ = writeln!(
        report,
        "| `/dev/sync` → change visible | {sync:.1} | {sync_native:.1} | {:.2}× | {NODE_SYNC_MS:.0} | {:.2}× |\n",
        sync / sync_native,
        sync / NODE_SYNC_MS
    );
}

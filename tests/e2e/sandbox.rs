//! Project sandboxes through the real binary and a real Docker engine: preview, HMR through the
//! proxy, builds, path attacks, packages through the registry proxy, logs, limits, restarts.
//!
//! Needs `dockerd` and the sandbox image (`sandbox/build-image.sh`); `scripts/test.sh` provides
//! both. Without them these tests fail, naming what is missing.
//!
//! Over 500 lines: one test file per surface (sandboxes), so a failure names the surface.

use std::time::Duration;

use blink_test_support::browser::Browser;
use blink_test_support::docker::{Cleanup, docker};
use blink_test_support::fake_dns::FakeDns;
use blink_test_support::host::Blink;
use blink_test_support::jwt;
use blink_test_support::previews::{eventually_contains, hmr_socket, next_update};
use blink_test_support::sites::{complete, site};
use futures::StreamExt;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_blink");
const ADMIN: &str = "sandbox-admin";

fn app(marker: &str) -> String {
    format!("export default function App() {{\n  return <h1 className=\"text-2xl\">{marker}</h1>;\n}}\n")
}

/// A project id no other test (or earlier run) uses.
fn project() -> String {
    format!("t{}", uuid_like())
}

fn uuid_like() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    format!("{:x}{:x}", nanos, std::process::id())
}

/// The containers of a project (running or not).
fn containers_of(project: &str) -> Vec<String> {
    let filter = format!("label=blink.project={project}");
    docker(&["ps", "-a", "-q", "--filter", &filter]).lines().map(str::to_string).filter(|l| !l.is_empty()).collect()
}

/// Whether this run's sandboxes are under gVisor (`BLINK_SANDBOX_RUNTIME=runsc`).
fn gvisor() -> bool {
    std::env::var("BLINK_SANDBOX_RUNTIME").is_ok_and(|r| r == "runsc")
}

fn sandbox_env(extra: &[(&'static str, String)]) -> Vec<(&'static str, String)> {
    // No warm pool unless a test asks: a test host's warm sandbox would outlive it. Previews by
    // path, the operator's opt-in for setups without wildcard names: a test reaches them without
    // a resolver for `*.preview.localhost` (previews on their own origin are tested in
    // `security`).
    let mut env = vec![
        ("BLINK_SANDBOXES", "true".to_string()),
        ("BLINK_ADMIN_TOKEN", ADMIN.to_string()),
        ("BLINK_SANDBOX_WARM", "0".to_string()),
        ("BLINK_PREVIEW_PATHS", "true".to_string()),
        ("BLINK_PREVIEW_URL", "{origin}/preview/{projectId}/".to_string()),
    ];
    // The suite runs under each runtime the test command registers (runc, then gVisor's runsc).
    if let Ok(runtime) = std::env::var("BLINK_SANDBOX_RUNTIME") {
        env.push(("BLINK_SANDBOX_RUNTIME", runtime));
    }
    env.extend(extra.iter().cloned());
    env
}

async fn start(extra: &[(&'static str, String)]) -> Blink {
    docker(&["version", "--format", "{{.Server.Version}}"]);
    let image = docker(&["images", "-q", "blink-sandbox:latest"]);
    assert!(!image.is_empty(), "the sandbox image is missing: run sandbox/build-image.sh");
    Blink::start(BIN, &sandbox_env(extra)).await
}

async fn post(blink: &Blink, path: &str, token: &str, body: &Value) -> (u16, Value) {
    let (status, text) = blink.post(path, Some(token), body).await;
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn get(url: &str) -> (u16, String) {
    let response = reqwest::Client::new().get(url).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

#[tokio::test]
async fn a_preview_serves_the_app_through_the_proxy_and_updates_by_hmr() {
    let blink = start(&[]).await;
    let id = project();
    let _cleanup = Cleanup(vec![id.clone()]);
    let token = jwt::user_token("previewer");
    let (status, body) =
        post(&blink, "/api/preview", &token, &json!({ "projectId": id, "files": { "App.tsx": app("Marker one") } }))
            .await;
    assert_eq!(status, 200, "{body}\n{}", blink.log());
    let url = body["previewUrl"].as_str().unwrap().to_string();
    assert_eq!(url, format!("{}/preview/{id}/", blink.url));

    let (status, html) = get(&url).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("<div id=\"root\">"), "{html}");
    assert!(html.contains(&format!("/preview/{id}/@vite/client")), "Vite's base matches the proxy path: {html}");
    let module = eventually_contains(&format!("{url}src/App.tsx"), "Marker one").await;
    assert!(module.contains("jsx"), "the module is transformed: {module}");
    let before = containers_of(&id);
    assert_eq!(before.len(), 1, "one container per project");

    // The HMR WebSocket through the proxy: the token Vite's client carries, the vite-hmr protocol.
    let mut socket = hmr_socket(&url).await;

    // An update: the same container, the new module served, and an HMR message on the socket.
    let (status, body) =
        post(&blink, "/api/preview", &token, &json!({ "projectId": id, "files": { "App.tsx": app("Marker two") } }))
            .await;
    assert_eq!(status, 200, "{body}");
    eventually_contains(&format!("{url}src/App.tsx"), "Marker two").await;
    assert_eq!(containers_of(&id), before, "an update does not make a new container");
    let update = next_update(&mut socket, Duration::from_secs(10)).await;
    assert!(update.contains("App.tsx"), "{update}");
    let _ = socket.close(None).await;

    // By host name, as a `{id}.preview.localhost` URL reaches the host.
    let response = reqwest::Client::new()
        .get(format!("{}/", blink.url))
        .header("host", format!("{id}.preview.localhost"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains("<div id=\"root\">"));
}

#[tokio::test]
async fn a_build_keeps_dist_and_a_broken_project_gets_its_errors() {
    let blink = start(&[]).await;
    let (good, broken) = (project(), project());
    let _cleanup = Cleanup(vec![good.clone(), broken.clone()]);
    let token = jwt::user_token("builder");
    let (status, body) =
        post(&blink, "/api/preview", &token, &json!({ "projectId": good, "files": { "App.tsx": app("Built") } })).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = post(&blink, "/api/build", &token, &json!({ "projectId": good })).await;
    assert_eq!(status, 200, "{body}\n{}", blink.log());
    assert_eq!(body["distPath"], format!("/builds/{good}/dist"));
    assert!(body["size"].as_str().unwrap().ends_with("KB"), "{body}");
    let dist = blink.data_dir.path().join("builds").join(&good).join("dist");
    let index = std::fs::read_to_string(dist.join("index.html")).unwrap();
    assert!(index.contains("/assets/"), "{index}");
    let assets: Vec<_> = std::fs::read_dir(dist.join("assets")).unwrap().map(|e| e.unwrap().path()).collect();
    let js = assets.iter().find(|p| p.extension().is_some_and(|e| e == "js")).expect("a JS bundle");
    assert!(std::fs::read_to_string(js).unwrap().contains("Built"));

    let files = json!({ "App.tsx": "export default function App() {\n  return <h1>{missing(</h1>;\n}\n" });
    let (status, body) = post(&blink, "/api/preview", &token, &json!({ "projectId": broken, "files": files })).await;
    assert_eq!(status, 200, "a dev server starts even for a broken module: {body}");
    let (status, body) = post(&blink, "/api/build", &token, &json!({ "projectId": broken })).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"], "build_failed");
    assert!(body["message"].as_str().unwrap().contains("App.tsx"), "{body}");
}

#[tokio::test]
async fn path_attacks_are_refused_and_write_nothing() {
    let blink = start(&[]).await;
    let id = project();
    let _cleanup = Cleanup(vec![id.clone()]);
    let token = jwt::user_token("attacker");
    for name in ["../x.tsx", "/etc/passwd", "src/../../x", "a\u{0}b.tsx", "node_modules/react/index.js", "a//b.tsx"] {
        let body = json!({ "projectId": id, "files": { "App.tsx": app("x"), name: "pwned" } });
        let (status, answer) = post(&blink, "/api/preview", &token, &body).await;
        assert_eq!((status, answer["error"].clone()), (400, json!("invalid_path")), "{name:?}: {answer}");
    }
    assert!(containers_of(&id).is_empty(), "a refused post starts nothing");
    // A symlink planted in the project (as code in its sandbox could) is not followed.
    let app_dir = blink.data_dir.path().join("projects").join(&id).join("app");
    let (status, _) =
        post(&blink, "/api/preview", &token, &json!({ "projectId": id, "files": { "App.tsx": app("ok") } })).await;
    assert_eq!(status, 200);
    let outside = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), app_dir.join("src/escape")).unwrap();
    let body = json!({ "projectId": id, "files": { "App.tsx": app("ok"), "escape/x.tsx": "pwned" } });
    let (status, answer) = post(&blink, "/api/preview", &token, &body).await;
    assert_eq!((status, answer["error"].clone()), (400, json!("invalid_path")), "{answer}");
    assert!(std::fs::read_dir(outside.path()).unwrap().next().is_none(), "nothing was written outside");
    // Someone else's project is not theirs to preview.
    let (status, _) =
        post(&blink, "/api/preview", &jwt::user_token("mallory"), &json!({ "projectId": id, "files": {} })).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_restarted_host_adopts_the_running_sandbox() {
    let blink = start(&[]).await;
    let id = project();
    let _cleanup = Cleanup(vec![id.clone()]);
    let token = jwt::user_token("restarter");
    let (status, body) =
        post(&blink, "/api/preview", &token, &json!({ "projectId": id, "files": { "App.tsx": app("Before") } })).await;
    assert_eq!(status, 200, "{body}");
    let before = containers_of(&id);
    let data = blink.stop().await;
    let blink = Blink::start_in(BIN, data, &sandbox_env(&[])).await;
    // Served at once, before any new preview call: the sandbox was adopted.
    eventually_contains(&format!("{}/preview/{id}/src/App.tsx", blink.url), "Before").await;
    let (status, _) =
        post(&blink, "/api/preview", &token, &json!({ "projectId": id, "files": { "App.tsx": app("After") } })).await;
    assert_eq!(status, 200);
    assert_eq!(containers_of(&id), before, "re-adopted, not duplicated");
    eventually_contains(&format!("{}/preview/{id}/src/App.tsx", blink.url), "After").await;
}

#[tokio::test]
async fn concurrent_previews_of_one_project_share_one_sandbox_and_the_cap_holds() {
    let blink = start(&[("BLINK_SANDBOX_MAX", "1".into())]).await;
    let (id, other) = (project(), project());
    let _cleanup = Cleanup(vec![id.clone(), other.clone()]);
    let token = jwt::user_token("many");
    let body = json!({ "projectId": id, "files": { "App.tsx": app("Shared") } });
    let answers = futures::future::join_all((0..4).map(|_| post(&blink, "/api/preview", &token, &body))).await;
    for (status, answer) in &answers {
        assert_eq!(*status, 200, "{answer}");
    }
    assert_eq!(containers_of(&id).len(), 1);
    let (status, answer) =
        post(&blink, "/api/preview", &token, &json!({ "projectId": other, "files": { "App.tsx": app("x") } })).await;
    assert_eq!((status, answer["error"].clone()), (503, json!("sandbox_limit")), "{answer}");
    assert!(containers_of(&other).is_empty());
}

#[tokio::test]
async fn an_idle_sandbox_stops_and_a_deleted_project_leaves_nothing() {
    let blink = start(&[("BLINK_SANDBOX_IDLE_SECS", "2".into())]).await;
    let (idle, deleted) = (project(), project());
    let _cleanup = Cleanup(vec![idle.clone(), deleted.clone()]);
    let token = jwt::user_token("idler");
    for id in [&idle, &deleted] {
        let (status, body) =
            post(&blink, "/api/preview", &token, &json!({ "projectId": id, "files": { "App.tsx": app("x") } })).await;
        assert_eq!(status, 200, "{body}");
    }
    let response = reqwest::Client::new()
        .delete(format!("{}/api/projects/{deleted}", blink.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert!(containers_of(&deleted).is_empty(), "deleting a project removes its sandbox");
    assert!(!blink.data_dir.path().join("projects").join(&deleted).exists(), "and its files");
    for _ in 0..100 {
        if containers_of(&idle).is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the idle sandbox was not removed\n{}", blink.log());
}

#[tokio::test]
async fn the_logs_stream_shows_the_dev_server_and_build_output() {
    let blink = start(&[]).await;
    let id = project();
    let _cleanup = Cleanup(vec![id.clone()]);
    let token = jwt::user_token("logger");
    let (status, _) =
        post(&blink, "/api/preview", &token, &json!({ "projectId": id, "files": { "App.tsx": app("x") } })).await;
    assert_eq!(status, 200);
    let (status, _) = post(&blink, "/api/build", &token, &json!({ "projectId": id })).await;
    assert_eq!(status, 200);
    let response = reqwest::Client::new()
        .get(format!("{}/api/projects/{id}/logs", blink.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut stream = response.bytes_stream();
    let mut seen = String::new();
    let found = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(chunk) = stream.next().await {
            seen.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
            if seen.contains("[build]") && seen.contains("[dev]") && seen.contains("VITE") {
                return true;
            }
        }
        false
    })
    .await;
    assert!(found.unwrap_or(false), "{seen}");
    let (status, _) = get(&format!("{}/api/projects/{id}/logs", blink.url)).await;
    assert_eq!(status, 401, "logs need the owner's token");
}

#[tokio::test]
async fn with_the_engine_down_previews_fail_clearly_and_the_host_serves_on() {
    let blink = start(&[("DOCKER_HOST", "unix:///nonexistent/docker.sock".into())]).await;
    let token = jwt::user_token("nodocker");
    let (status, body) =
        post(&blink, "/api/preview", &token, &json!({ "projectId": project(), "files": { "App.tsx": app("x") } }))
            .await;
    assert_eq!((status, body["error"].clone()), (503, json!("sandbox_unavailable")), "{body}");
    let (status, _) = get(&format!("{}/healthz", blink.url)).await;
    assert_eq!(status, 200);
}

/// Files a git restore changes reach the running dev server: the host tells it before it answers,
/// as after a post (under gVisor no file watcher sees a write from outside the sandbox, so without
/// that the preview never changes there).
#[tokio::test]
async fn a_restore_reaches_the_running_preview() {
    let blink = start(&[]).await;
    let id = project();
    let _cleanup = Cleanup(vec![id.clone()]);
    let token = jwt::user_token("restorer");
    let (status, body) =
        post(&blink, "/api/preview", &token, &json!({ "projectId": id, "files": { "App.tsx": app("First") } })).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = post(&blink, "/api/git/commit", &token, &json!({ "projectId": id, "message": "First" })).await;
    assert_eq!(status, 200, "{body}\n{}", blink.log());
    let first = body["commitHash"].as_str().unwrap().to_string();
    let (status, _) =
        post(&blink, "/api/preview", &token, &json!({ "projectId": id, "files": { "App.tsx": app("Second") } })).await;
    assert_eq!(status, 200);
    let module = format!("{}/preview/{id}/src/App.tsx", blink.url);
    assert!(get(&module).await.1.contains("Second"));
    let (status, body) =
        post(&blink, &format!("/api/projects/{id}/git/restore"), &token, &json!({ "commit": first })).await;
    assert_eq!(status, 200, "{body}");
    let (status, served) = get(&module).await;
    assert!(status == 200 && served.contains("\"First\""), "served next: {status} {served}\n{}", blink.log());
}

/// A runtime the engine does not have is refused, never silently replaced by its default.
#[tokio::test]
async fn a_runtime_the_engine_lacks_is_refused_by_name() {
    let blink = start(&[("BLINK_SANDBOX_RUNTIME", "blink-no-such-runtime".into())]).await;
    let token = jwt::user_token("noruntime");
    let id = project();
    let _cleanup = Cleanup(vec![id.clone()]);
    let (status, body) =
        post(&blink, "/api/preview", &token, &json!({ "projectId": id, "files": { "App.tsx": app("x") } })).await;
    assert_eq!((status, body["error"].clone()), (503, json!("sandbox_runtime_missing")), "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("blink-no-such-runtime") && message.contains("runc"), "{message}");
    assert!(containers_of(&id).is_empty(), "no sandbox was created");
    assert!(blink.log().contains("blink-no-such-runtime"), "the host says which runtime it uses");
}

#[tokio::test]
async fn a_new_package_is_installed_through_the_registry_proxy() {
    let blink = start(&[]).await;
    let id = project();
    let _cleanup = Cleanup(vec![id.clone()]);
    let token = jwt::user_token("packager");
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../sandbox/template/package.json")).unwrap(),
    )
    .unwrap();
    let mut with_package = manifest.clone();
    with_package["dependencies"]["is-odd"] = json!("3.0.1");
    let app = "import isOdd from 'is-odd';\nexport default function App() {\n  return <h1>{isOdd(3) ? 'Odd three' : 'even'}</h1>;\n}\n";
    let files = json!({ "App.tsx": app, "package.json": serde_json::to_string_pretty(&with_package).unwrap() });
    let files = &files;
    let (status, body) = post(&blink, "/api/preview", &token, &json!({ "projectId": id, "files": files })).await;
    assert_eq!(status, 200, "{body}\n{}", blink.log());
    let url = body["previewUrl"].as_str().unwrap().to_string();
    eventually_contains(&format!("{url}src/App.tsx"), "is-odd").await;
    let (status, body) = post(&blink, "/api/build", &token, &json!({ "projectId": id })).await;
    assert_eq!(status, 200, "{body}");

    // A second project installing the same package gets it from the proxy's cache.
    let registry = |blink: &Blink| {
        let url = format!("{}/api/admin/sandboxes", blink.url);
        async move {
            let response = reqwest::Client::new().get(url).bearer_auth(ADMIN).send().await.unwrap();
            response.json::<Value>().await.unwrap()["registry"].clone()
        }
    };
    let before = registry(&blink).await;
    assert!(before["upstreamFetches"].as_u64().unwrap() >= 2, "is-odd and is-number were fetched: {before}");
    let second = project();
    let _cleanup_second = Cleanup(vec![second.clone()]);
    let (status, body) =
        post(&blink, "/api/preview", &token, &json!({ "projectId": second, "files": files.clone() })).await;
    assert_eq!(status, 200, "{body}");
    let after = registry(&blink).await;
    let tarballs_fetched = after["upstreamFetches"].as_u64().unwrap() - before["upstreamFetches"].as_u64().unwrap();
    assert_eq!(tarballs_fetched, 0, "nothing fetched again: {before} → {after}");
    assert!(after["cacheHits"].as_u64().unwrap() > before["cacheHits"].as_u64().unwrap());
    // Only package metadata and tarballs pass: anything else a sandbox asks is refused.
    let refused = [
        "node",
        "-e",
        "fetch(process.env.npm_config_registry + '-/v1/search?text=x').then(r => console.log('STATUS', r.status))",
    ];
    let out = docker(&["exec", &format!("sandbox-{id}"), refused[0], refused[1], refused[2]]);
    assert!(out.contains("STATUS 404"), "{out}");

    // A package that does not exist is named in the error.
    let mut missing = manifest;
    missing["dependencies"]["blink-no-such-package-4d1c"] = json!("1.0.0");
    let files = json!({ "App.tsx": app, "package.json": serde_json::to_string_pretty(&missing).unwrap() });
    let (status, body) = post(&blink, "/api/preview", &token, &json!({ "projectId": id, "files": files })).await;
    assert_eq!((status, body["error"].clone()), (422, json!("install_failed")), "{body}");
    assert!(body["message"].as_str().unwrap().contains("blink-no-such-package-4d1c"), "{body}");

    // An operator sees both sandboxes with their idle time and memory limit, and stops one.
    let sandboxes = |blink: &Blink| {
        let url = format!("{}/api/admin/sandboxes", blink.url);
        async move {
            reqwest::Client::new().get(url).bearer_auth(ADMIN).send().await.unwrap().json::<Value>().await.unwrap()
        }
    };
    let status = sandboxes(&blink).await;
    let listed = |status: &Value, project: &str| {
        status["sandboxes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["projectId"] == project && s["idleMs"].as_i64().unwrap() >= 0)
    };
    assert!(listed(&status, &id) && listed(&status, &second), "{status}");
    assert!(status["memoryMib"].as_i64().unwrap() > 0, "{status}");
    let stopped = reqwest::Client::new()
        .delete(format!("{}/api/admin/sandboxes/{second}", blink.url))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(stopped.status(), 204);
    let status = sandboxes(&blink).await;
    assert!(listed(&status, &id) && !listed(&status, &second), "{status}");
    let inspect =
        std::process::Command::new("docker").args(["inspect", &format!("sandbox-{second}")]).output().unwrap();
    assert!(!inspect.status.success(), "the stopped sandbox's container is gone");
}

#[tokio::test]
async fn in_a_real_browser_the_preview_renders_and_updates_without_a_reload() {
    let blink = start(&[]).await;
    let id = project();
    let _cleanup = Cleanup(vec![id.clone()]);
    renders_and_updates_in_a_browser(&blink, &id).await;
}

/// The same, on a sandbox from the warm pool: its dev server started in the process that warmed
/// up over the template.
#[tokio::test]
async fn in_a_real_browser_a_warm_sandbox_renders_and_updates_without_a_reload() {
    let blink = start(&[("BLINK_SANDBOX_WARM", "1".into())]).await;
    let _warm = RemoveUnder(blink.data_dir.path().to_path_buf());
    let warm = warm_sandbox(&blink).await;
    let id = project();
    let _cleanup = Cleanup(vec![id.clone()]);
    renders_and_updates_in_a_browser(&blink, &id).await;
    assert_eq!(containers_of_name(&id), warm, "the project got the warm container, not a new one");
}

async fn renders_and_updates_in_a_browser(blink: &Blink, id: &str) {
    let token = jwt::user_token("viewer");
    let (status, body) = post(
        blink,
        "/api/preview",
        &token,
        &json!({ "projectId": id, "files": { "App.tsx": app("Hello from the sandbox") } }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let url = body["previewUrl"].as_str().unwrap().to_string();

    let mut browser = Browser::launch().await;
    browser.open(&url, "Hello from the sandbox").await;
    // A mark on this page: it is still there after the update only if the page did not reload.
    browser.eval("window.__blinkKept = 42").await;
    let (status, _) = post(
        blink,
        "/api/preview",
        &token,
        &json!({ "projectId": id, "files": { "App.tsx": app("Updated in place") } }),
    )
    .await;
    assert_eq!(status, 200);
    browser.wait_for_text("Updated in place").await;
    assert_eq!(browser.eval("window.__blinkKept").await, 42, "the update reloaded the page");
    // Requests Chromium aborted because the machine's interfaces changed (see `Browser::open`) are
    // not the preview's failures.
    let failures: Vec<_> = browser.failures.iter().filter(|f| !f.contains("ERR_NETWORK_CHANGED")).collect();
    assert!(failures.is_empty(), "failed requests: {failures:?}");
}

/// As the frontend behaves when a run's result and its own sync arrive close together: each
/// update posted as soon as the previous one was answered. What a post wrote is what the dev
/// server serves next, every time (a file watcher alone lost most of these: chokidar drops a
/// second change to a file within 50 ms and re-arms its watch after each atomic replace).
#[tokio::test]
async fn fifty_updates_posted_back_to_back_are_each_served_next() {
    use blink_test_support::browser::Browser;
    let blink = start(&[]).await;
    let id = project();
    let _cleanup = Cleanup(vec![id.clone()]);
    let token = jwt::user_token("fast-syncer");
    let mut url = String::new();
    let mut lost = Vec::new();
    for i in 0..50 {
        let marker = format!("Version {i} of 50");
        let body = json!({ "projectId": id, "files": { "App.tsx": app(&marker) } });
        let (status, answer) = post(&blink, "/api/preview", &token, &body).await;
        assert_eq!(status, 200, "{answer}");
        url = answer["previewUrl"].as_str().unwrap().to_string();
        let (status, module) = get(&format!("{url}src/App.tsx")).await;
        if status != 200 || !module.contains(&marker) {
            lost.push(i);
        }
    }
    assert!(lost.is_empty(), "updates not served right after their post: {lost:?}");
    let mut browser = Browser::launch().await;
    browser.open(&url, "Version 49 of 50").await;
}

/// Names of the sandboxes whose owner label is `owner`, warm ones only if `warm`.
fn owned_by(owner: &str, warm: bool) -> Vec<String> {
    let mut args = vec!["ps".to_string(), "-a".into(), "--filter".into(), format!("label=blink.owner={owner}")];
    if warm {
        args.extend(["--filter".into(), "label=blink.warm=1".into()]);
    }
    args.extend(["--format".into(), "{{.Names}}".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    docker(&args).lines().map(str::to_string).filter(|l| !l.is_empty()).collect()
}

/// A host that stops leaves no warm sandbox behind, and what a host that is gone left (here, a
/// project's sandbox whose data directory was deleted) is removed by `blink sandbox prune`, which
/// leaves a live host's sandboxes alone.
#[tokio::test]
async fn a_stopped_host_leaves_no_warm_sandbox_and_prune_removes_what_a_gone_host_left() {
    let gone_host = start(&[("BLINK_SANDBOX_WARM", "1".into())]).await;
    let owner = std::fs::canonicalize(gone_host.data_dir.path()).unwrap().to_string_lossy().into_owned();
    let (left, live) = (project(), project());
    let _cleanup = Cleanup(vec![left.clone(), live.clone()]);
    let token = jwt::user_token("operator-of-two-hosts");
    let body = json!({ "projectId": left, "files": { "App.tsx": app("Left behind") } });
    assert_eq!(post(&gone_host, "/api/preview", &token, &body).await.0, 200);
    // The pool refills after the claim: wait for the new warm sandbox.
    let mut warm = Vec::new();
    for _ in 0..300 {
        warm = owned_by(&owner, true);
        if !warm.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!warm.is_empty(), "the host never refilled its warm pool");

    let other_host = start(&[]).await;
    let body = json!({ "projectId": live, "files": { "App.tsx": app("Still live") } });
    assert_eq!(post(&other_host, "/api/preview", &token, &body).await.0, 200);

    let mut gone_host = gone_host;
    gone_host.terminate();
    assert_eq!(gone_host.wait(Duration::from_secs(60)).await, Some(true), "{}", gone_host.log());
    assert_eq!(owned_by(&owner, true), Vec::<String>::new(), "a warm sandbox outlived its host");
    assert_eq!(containers_of(&left).len(), 1, "the project's sandbox is the data directory's, kept for a restart");
    drop(gone_host.stop().await);

    let prune = |args: &[&str]| {
        let out = std::process::Command::new(BIN).args(["sandbox", "prune"]).args(args).output().unwrap();
        let said = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(out.status.success(), "{said}{}", String::from_utf8_lossy(&out.stderr));
        said
    };
    // Other tests' hosts share this engine, and one may be between a stop and a restart: the
    // engine-wide pass only says what it would do; the removal is this test's gone host's.
    let said = prune(&["--dry-run"]);
    assert!(said.contains(&format!("would remove sandbox-{left} (no host serves from {owner})")), "{said}");
    assert!(said.contains(&format!("kept sandbox-{live} (its host serves from")), "{said}");
    assert_eq!(containers_of(&left).len(), 1, "a dry run removed something");
    let said = prune(&["--owner", &owner]);
    assert_eq!(said.trim(), format!("removed sandbox-{left} (no host serves from {owner})"));
    assert!(containers_of(&left).is_empty(), "{said}");
    assert_eq!(containers_of(&live).len(), 1);
    let (status, _) = get(&format!("{}/preview/{live}/", other_host.url)).await;
    assert_eq!(status, 200, "the live host's preview was touched");
}

/// The template's Vite config with `prelude` run first: a project may post its own
/// `vite.config.ts`, so this is code of the project's running inside its sandbox.
fn hostile_config(prelude: &str) -> String {
    let template =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../sandbox/template/vite.config.ts")).unwrap();
    format!("{prelude}\n{template}")
}

fn container_log(project: &str) -> String {
    let out = std::process::Command::new("docker").args(["logs", &format!("sandbox-{project}")]).output().unwrap();
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[tokio::test]
async fn a_hostile_project_hits_the_sandbox_limits_and_the_host_stays_healthy() {
    // Four projects of one user's at once.
    let blink = start(&[("BLINK_SANDBOX_READY_SECS", "30".into()), ("BLINK_SANDBOX_MAX_PER_USER", "4".into())]).await;
    let (memory, forks, network, healthy) = (project(), project(), project(), project());
    let _cleanup = Cleanup(vec![memory.clone(), forks.clone(), network.clone(), healthy.clone()]);
    let token = jwt::user_token("hostile");

    // A memory bomb: the kernel kills it at the sandbox's limit; the preview says the dev server died.
    let bomb = hostile_config("const hog = []; for (;;) hog.push(Buffer.alloc(1 << 20, 1));");
    let body = json!({ "projectId": memory, "files": { "App.tsx": app("x"), "vite.config.ts": bomb } });
    let (status, answer) = post(&blink, "/api/preview", &token, &body).await;
    assert_eq!((status, answer["error"].clone()), (422, json!("dev_server_exited")), "{answer}");
    let oom = docker(&["inspect", "-f", "{{.State.OOMKilled}} {{.State.ExitCode}}", &format!("sandbox-{memory}")]);
    assert!(oom == "true 137" || oom.ends_with(" 137"), "killed by the memory limit: {oom}");

    // A fork bomb: process creation fails at the PID limit.
    let forker = hostile_config(
        "import { spawn } from 'node:child_process';\n\
         const kids = []; let failed = 'none';\n\
         for (let i = 0; i < 400 && failed === 'none'; i++) {\n\
           try { const c = spawn('/bin/sh', ['-c', 'read x']); c.on('error', (e) => { failed = e.code; }); kids.push(c); }\n\
           catch (e) { failed = e.code; }\n\
         }\n\
         await new Promise((r) => setTimeout(r, 1000));\n\
         console.log('BLINK_FORKS', kids.filter((k) => k.pid).length, failed);",
    );
    let body = json!({ "projectId": forks, "files": { "App.tsx": app("x"), "vite.config.ts": forker } });
    let _ = post(&blink, "/api/preview", &token, &body).await;
    // Under gVisor's ptrace platform on a loaded machine the bomb may outlast the preview's
    // readiness wait: its verdict is in the log once it has run.
    let mut log = container_log(&forks);
    for _ in 0..120 {
        if log.contains("BLINK_FORKS") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        log = container_log(&forks);
    }
    let line = log.lines().find(|l| l.contains("BLINK_FORKS")).unwrap_or_else(|| panic!("{log}"));
    let spawned: usize = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(spawned < 100, "the PID limit (100) held: {line}");
    assert!(line.contains("EAGAIN"), "{line}");

    // Writing outside the project fails (read-only root); no route out: a listener on this
    // machine's own address is out of reach, and the container has no default route.
    let listener = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let own_ip = String::from_utf8(std::process::Command::new("hostname").arg("-I").output().unwrap().stdout).unwrap();
    let own_ip = own_ip
        .split_whitespace()
        .find(|ip| !ip.starts_with("172.") && ip.contains('.'))
        .unwrap_or("127.0.0.1")
        .to_string();
    // The host's address on the sandbox network: only the registry proxy's port is open there.
    let gateway = docker(&["network", "inspect", "blink-sandboxes", "-f", "{{range .IPAM.Config}}{{.Gateway}}{{end}}"]);
    let probe = hostile_config(&format!(
        "import fs from 'node:fs';\n\
         let write = 'ok'; try {{ fs.writeFileSync('/etc/blink-escape', 'x'); }} catch (e) {{ write = e.code; }}\n\
         let net = 'reached'; try {{ await fetch('http://{own_ip}:{port}/', {{ signal: AbortSignal.timeout(3000) }}); }} catch (e) {{ net = 'unreachable'; }}\n\
         let gateway = 'reached'; try {{ await fetch('http://{gateway}:{port}/', {{ signal: AbortSignal.timeout(3000) }}); }} catch (e) {{ gateway = 'unreachable'; }}\n\
         const routes = fs.readFileSync('/proc/net/route', 'utf8').split('\\n').slice(1).filter((l) => l.split('\\t')[1] === '00000000').length;\n\
         console.log('BLINK_PROBE', write, net, gateway, 'default-routes=' + routes);"
    ));
    let body = json!({ "projectId": network, "files": { "App.tsx": app("x"), "vite.config.ts": probe } });
    let (status, answer) = post(&blink, "/api/preview", &token, &body).await;
    assert_eq!(status, 200, "{answer}");
    let log = container_log(&network);
    let line = log.lines().find(|l| l.contains("BLINK_PROBE")).unwrap_or_else(|| panic!("{log}"));
    // gVisor's own `/proc/net/route` keeps the routes it saw at start; the sockets it hands to the
    // host kernel go by the container's real table, which the reachability above shows.
    // gVisor's kernel checks permissions before the read-only mount: the write fails with
    // EACCES there, EROFS under runc.
    let fields: Vec<&str> = line.split_whitespace().collect();
    if gvisor() {
        assert!(["EROFS", "EACCES"].contains(&fields[1]), "{log}");
        assert_eq!(fields[2..4], ["unreachable", "unreachable"], "{log}");
    } else {
        assert_eq!(line.trim(), "BLINK_PROBE EROFS unreachable unreachable default-routes=0", "{log}");
    }
    drop(listener);

    // Through all of it, the host serves, and another project previews.
    let (status, _) = get(&format!("{}/healthz", blink.url)).await;
    assert_eq!(status, 200);
    let (status, answer) =
        post(&blink, "/api/preview", &token, &json!({ "projectId": healthy, "files": { "App.tsx": app("Fine") } }))
            .await;
    assert_eq!(status, 200, "{answer}");
}

/// Containers whose project directory is in `data`: the warm ones a test host started.
fn containers_under(data: &std::path::Path) -> Vec<String> {
    let names = docker(&["ps", "-a", "--filter", "label=blink.sandbox=1", "--format", "{{.Names}}"]);
    names
        .lines()
        .filter(|name| {
            // Other tests' containers come and go meanwhile: one that is gone is not ours.
            let inspect = std::process::Command::new("docker")
                .args(["inspect", "-f", "{{range .Mounts}}{{.Source}} {{end}}", name])
                .output()
                .unwrap();
            String::from_utf8_lossy(&inspect.stdout).contains(&data.display().to_string())
        })
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn a_first_preview_takes_a_warm_sandbox_and_the_pool_refills() {
    let blink = start(&[("BLINK_SANDBOX_WARM", "1".into())]).await;
    let data = blink.data_dir.path().to_path_buf();
    let _warm = RemoveUnder(data.clone());
    let warm = warm_sandbox(&blink).await;
    let warm_name = docker(&["inspect", "-f", "{{.Name}}", &warm]);
    let warm_dir = data.join("projects").join(warm_name.trim_start_matches("/sandbox-"));
    assert!(
        warm_dir.join("app/.blink/warmed").is_file(),
        "a pooled sandbox has run its dev server once: {}",
        warm_dir.display()
    );
    let id = project();
    let token = jwt::user_token("warm");
    // The project's own Vite config, posted with its first files, is the one its server runs.
    let template =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../sandbox/template/vite.config.ts")).unwrap();
    let config = template.replace(
        "plugins: [react(), tailwindcss(), blinkSync()]",
        "plugins: [react(), tailwindcss(), blinkSync(), { name: 'own', transformIndexHtml: (html) => html.replace('</body>', '<p>OwnConfig</p></body>') }]",
    );
    assert_ne!(config, template, "the template changed: this test's edit no longer applies");
    let files = json!({ "App.tsx": app("Warm start"), "vite.config.ts": config });
    let (status, body) = post(&blink, "/api/preview", &token, &json!({ "projectId": id, "files": files })).await;
    assert_eq!(status, 200, "{body}\n{}", blink.log());
    assert_eq!(containers_of_name(&id), warm, "the project got the warm container, not a new one");
    let url = body["previewUrl"].as_str().unwrap().to_string();
    let (_, html) = get(&url).await;
    assert!(
        html.contains(&format!("/preview/{id}/@vite/client")),
        "the dev server runs with the project's base: {html}"
    );
    assert!(html.contains("OwnConfig"), "the dev server runs the project's own config: {html}");
    eventually_contains(&format!("{url}src/App.tsx"), "Warm start").await;
    let refilled = warm_sandbox(&blink).await;
    assert_ne!(refilled, warm, "a new warm sandbox replaces the one taken");
}

/// Removes every sandbox over a host's data directory when a test ends, however it ends: a
/// killed test host leaves its warm sandbox.
struct RemoveUnder(std::path::PathBuf);

impl Drop for RemoveUnder {
    fn drop(&mut self) {
        for name in containers_under(&self.0) {
            let _ = std::process::Command::new("docker").args(["rm", "-f", &name]).output();
        }
    }
}

/// The container id of the host's one warm sandbox, once the pool holds it.
async fn warm_sandbox(blink: &Blink) -> String {
    let data = blink.data_dir.path();
    for _ in 0..300 {
        let warm: Vec<String> = containers_under(data).into_iter().filter(|n| n.starts_with("sandbox-warm-")).collect();
        let status: Value = reqwest::Client::new()
            .get(format!("{}/api/admin/sandboxes", blink.url))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if status["warm"] == 1 && warm.len() == 1 {
            return docker(&["inspect", "-f", "{{.Id}}", &warm[0]]);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the warm pool never filled\n{}", blink.log());
}

/// The id of the container named after the project.
fn containers_of_name(project: &str) -> String {
    docker(&["inspect", "-f", "{{.Id}}", &format!("sandbox-{project}")])
}

#[tokio::test]
async fn a_build_is_deployed_served_by_host_name_rolled_back_and_cleaned_up() {
    let blink = start(&[("BLINK_DEPLOY_KEEP", "2".into()), ("BLINK_DEPLOY_GRACE_SECS", "0".into())]).await;
    let id = project();
    let _cleanup = Cleanup(vec![id.clone()]);
    let token = jwt::user_token("deployer");
    let (status, body) = post(&blink, "/api/deploy", &token, &json!({ "projectId": id })).await;
    assert_eq!((status, body["error"].clone()), (409, json!("no_build")), "{body}");
    let mut releases = Vec::new();
    for version in ["First", "Second", "Third"] {
        let files = json!({ "App.tsx": app(&format!("{version} release")) });
        let (status, body) = post(&blink, "/api/preview", &token, &json!({ "projectId": id, "files": files })).await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = post(&blink, "/api/build", &token, &json!({ "projectId": id })).await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = post(&blink, "/api/deploy", &token, &json!({ "projectId": id })).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["ssl"], false);
        let port = blink.url.rsplit(':').next().unwrap();
        assert_eq!(body["url"], format!("http://{id}.sites.localhost:{port}"));
        releases.push(body["deployId"].as_str().unwrap().to_string());
    }
    let host = format!("{id}.sites.localhost");
    let html = complete(&blink, &host).await.unwrap();
    let script = html.split('"').find(|s| s.starts_with("/assets/") && s.ends_with(".js")).unwrap().to_string();
    let js = site(&blink, &host, &script, &[]).await;
    assert_eq!(js.headers()["content-type"], "text/javascript; charset=utf-8");
    assert_eq!(js.headers()["cache-control"], "public, max-age=31536000, immutable");
    let etag = js.headers()["etag"].to_str().unwrap().to_string();
    assert!(js.text().await.unwrap().contains("Third release"));
    assert_eq!(site(&blink, &host, &script, &[("if-none-match", &etag)]).await.status(), 304);
    let part = site(&blink, &host, &script, &[("range", "bytes=0-9")]).await;
    assert_eq!((part.status().as_u16(), part.bytes().await.unwrap().len()), (206, 10));
    // Client-side routes fall back to index.html; a missing asset is a 404.
    let route = site(&blink, &host, "/dashboard/settings", &[]).await;
    assert_eq!(route.headers()["cache-control"], "no-cache");
    assert!(route.text().await.unwrap().contains("<div id=\"root\">"));
    assert_eq!(site(&blink, &host, "/assets/missing.js", &[]).await.status(), 404);
    let escape = site(&blink, &host, "/..%2f..%2fetc/passwd", &[]).await.text().await.unwrap();
    assert!(!escape.contains("root:"), "{escape}");

    // Two releases kept; the oldest is gone. Restoring the second serves it at once.
    let (_, list) = send_get(&blink, &format!("/api/projects/{id}/deploys"), &token).await;
    let listed: Vec<&str> = list["deploys"].as_array().unwrap().iter().map(|d| d["id"].as_str().unwrap()).collect();
    assert_eq!(listed, vec![releases[2].as_str(), releases[1].as_str()], "{list}");
    let restore = format!("/api/projects/{id}/deploys/{}/restore", releases[1]);
    let (status, _) = post(&blink, &restore, &token, &json!({})).await;
    assert_eq!(status, 200);
    let html = complete(&blink, &host).await.unwrap();
    let script = html.split('"').find(|s| s.starts_with("/assets/") && s.ends_with(".js")).unwrap().to_string();
    assert!(site(&blink, &host, &script, &[]).await.text().await.unwrap().contains("Second release"));
    let gone = format!("/api/projects/{id}/deploys/{}/restore", releases[0]);
    let (status, body) = post(&blink, &gone, &token, &json!({})).await;
    assert_eq!((status, body["error"].clone()), (404, json!("unknown_deploy")));

    // A reader polling during deploys only ever sees complete releases: with the default grace
    // period, a release a page was loaded from keeps answering its assets after the switch.
    let data = blink.stop().await;
    let dns = FakeDns::start();
    let blink = Blink::start_in(BIN, data, &sandbox_env(&[("BLINK_DEPLOY_KEEP", "2".into()), dns.host_env()])).await;
    let done = std::sync::atomic::AtomicBool::new(false);
    let reader = async {
        let mut reads = 0;
        while !done.load(std::sync::atomic::Ordering::SeqCst) {
            if let Err(e) = complete(&blink, &host).await {
                let sites = blink.data_dir.path().join("sites").join(&id);
                let listing: Vec<String> = walk(&sites);
                panic!("a torn release: {e:?}\n{listing:#?}");
            }
            reads += 1;
        }
        reads
    };
    let writer = async {
        for _ in 0..3 {
            let (status, body) = post(&blink, "/api/deploy", &token, &json!({ "projectId": id })).await;
            assert_eq!(status, 200, "{body}");
        }
        done.store(true, std::sync::atomic::Ordering::SeqCst);
    };
    let (reads, ()) = tokio::join!(reader, writer);
    assert!(reads > 0);
    // Without a CDN, a custom domain, once proven by its TXT record, is still the project's alone
    // and served by `Host`, over plain HTTP: no certificate, so `ssl` is false.
    let claim = json!({ "projectId": id, "customDomain": "app.example.com" });
    let (status, body) = post(&blink, "/api/deploy", &token, &claim).await;
    assert_eq!((status, body["domain"]["status"].clone()), (200, json!("pending")), "{body}");
    let verification = &body["domain"]["verification"];
    dns.add_txt(verification["name"].as_str().unwrap(), verification["value"].as_str().unwrap());
    let (status, body) = post(&blink, "/api/deploy", &token, &claim).await;
    assert_eq!(status, 200, "{body}");
    let port = blink.url.rsplit(':').next().unwrap();
    assert_eq!(
        (body["url"].clone(), body["ssl"].clone()),
        (json!(format!("http://app.example.com:{port}")), json!(false))
    );
    assert_eq!(body["domain"]["sslStatus"], "none");
    assert!(complete(&blink, "app.example.com").await.unwrap().contains("<div id=\"root\">"));
}

async fn send_get(blink: &Blink, path: &str, token: &str) -> (u16, Value) {
    let response = reqwest::Client::new().get(format!("{}{path}", blink.url)).bearer_auth(token).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        out.push(entry.path().display().to_string());
        if entry.path().is_dir() {
            out.extend(walk(&entry.path()));
        }
    }
    out
}

//! Today's frontend's calls to its earlier Node backend, made exactly as its hooks make them
//! (`useDevServer`, `usePublish`, `useBuildLogs`, `GitHubSyncModal`): no `Authorization`
//! header, the same bodies, the answers read the same way, against the real binary, a real
//! Docker sandbox, real Chromium (its own `EventSource`), a real git client and a fake of
//! GitHub's API in front of a real git server.

use std::time::Duration;

use blink_test_support::browser::Browser;
use blink_test_support::fake_github::FakeGithub;
use blink_test_support::git_server::{GitServer, clone_with_token, git, local_remotes};
use blink_test_support::host::Blink;
use blink_test_support::jwt;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_blink");
const TOKEN: &str = "ghp_legacytoken0123456789";

fn app(marker: &str) -> String {
    format!("export default function App() {{\n  return <h1>{marker}</h1>;\n}}\n")
}

fn project() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Removes a test's sandboxes when it ends, however it ends.
struct Cleanup(Vec<String>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for project in &self.0 {
            let _ = std::process::Command::new("docker").args(["rm", "-f", &format!("sandbox-{project}")]).output();
        }
    }
}

fn legacy_env(extra: &[(&'static str, String)]) -> Vec<(&'static str, String)> {
    let mut env = vec![("BLINK_LEGACY_ROUTES", "true".to_string())];
    env.extend(extra.iter().cloned());
    env
}

/// A host with sandboxes, as `tests/e2e/sandbox.rs` starts one (previews by path, no warm pool).
async fn with_sandboxes(extra: &[(&'static str, String)]) -> Blink {
    let image = std::process::Command::new("docker")
        .args(["images", "-q", "blink-sandbox:latest"])
        .output()
        .unwrap_or_else(|e| panic!("the docker CLI is needed for the legacy preview tests: {e}"));
    assert!(!image.stdout.is_empty(), "the sandbox image is missing: run sandbox/build-image.sh");
    let mut env = legacy_env(&[
        ("BLINK_SANDBOXES", "true".into()),
        ("BLINK_SANDBOX_WARM", "0".into()),
        ("BLINK_PREVIEW_PATHS", "true".into()),
        ("BLINK_PREVIEW_URL", "{origin}/preview/{projectId}/".into()),
    ]);
    if let Ok(runtime) = std::env::var("BLINK_SANDBOX_RUNTIME") {
        env.push(("BLINK_SANDBOX_RUNTIME", runtime));
    }
    env.extend(extra.iter().cloned());
    Blink::start(BIN, &env).await
}

/// A call as the frontend's hooks make it: JSON, no token.
async fn call(blink: &Blink, path: &str, body: &Value) -> (u16, Value) {
    let (status, text) = blink.post(path, None, body).await;
    (status, serde_json::from_str(&text).unwrap_or_else(|_| panic!("{path} answered no JSON: {status} {text}")))
}

async fn call_as(blink: &Blink, path: &str, token: &str, body: &Value) -> (u16, Value) {
    let (status, text) = blink.post(path, Some(token), body).await;
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn get(blink: &Blink, path: &str) -> (u16, Value) {
    let response = reqwest::get(format!("{}{path}", blink.url)).await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

#[tokio::test]
async fn the_legacy_routes_are_off_unless_the_operator_turns_them_on() {
    let blink = Blink::start(BIN, &[]).await;
    for path in ["/dev/start", "/dev/sync", "/dev/stop", "/build", "/github/push", "/github/pull"] {
        let (status, _) = blink.post(path, None, &json!({ "projectId": project(), "files": {} })).await;
        assert_eq!(status, 404, "{path} answered while the legacy routes are off");
    }
    for path in ["/health", "/logs/x", "/dev/status/x"] {
        assert_eq!(get(&blink, path).await.0, 404, "{path}");
    }
    let blink = Blink::start(BIN, &legacy_env(&[])).await;
    let (status, body) = get(&blink, "/health").await;
    assert_eq!((status, body["status"].clone(), body["activeServers"].clone()), (200, json!("ok"), json!(0)));
}

#[tokio::test]
async fn bad_input_gets_the_node_backends_answers_and_never_a_file_outside_the_project() {
    let blink = Blink::start(BIN, &legacy_env(&[])).await;
    let id = project();
    for (path, body, error) in [
        ("/dev/start", json!({}), "projectId and files are required"),
        ("/dev/start", json!({ "projectId": id }), "projectId and files are required"),
        ("/dev/sync", json!({ "files": { "App.tsx": "x" } }), "projectId and files are required"),
        ("/build", json!({ "projectId": "", "files": {} }), "projectId and files are required"),
        (
            "/dev/start",
            json!({ "projectId": id, "files": { "App.tsx": 3 } }),
            "files must map each file's path to its content (a string)",
        ),
        ("/dev/stop", json!({}), "projectId is required"),
        ("/github/push", json!({ "repo": "octo/app", "token": TOKEN }), "repo, token, and files are required"),
        ("/github/pull", json!({ "repo": "octo/app" }), "repo and token are required"),
    ] {
        let (status, answer) = call(&blink, path, &body).await;
        assert_eq!((status, answer["error"].as_str()), (400, Some(error)), "{path} {body}: {answer}");
    }
    let (status, answer) = blink.post("/dev/start", None, &json!("not an object")).await;
    assert_eq!(status, 400, "{answer}");
    let (status, answer) = call(&blink, "/dev/start", &json!({ "projectId": "Not An Id!", "files": {} })).await;
    assert_eq!((status, answer["code"].clone()), (400, json!("invalid_project_id")), "{answer}");
    // The repository goes into GitHub's API path: anything but owner/name is refused first.
    let (status, answer) = call(&blink, "/github/pull", &json!({ "repo": "octo/../../user", "token": TOKEN })).await;
    assert_eq!((status, answer["code"].clone()), (400, json!("invalid_git_request")), "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("owner/name"), "{answer}");
}

#[tokio::test]
async fn path_attacks_in_files_are_refused_as_the_preview_route_refuses_them() {
    let blink = with_sandboxes(&[]).await;
    let id = project();
    let _cleanup = Cleanup(vec![id.clone()]);
    for evil in ["../../../etc/cron.d/x", "/etc/passwd", "src/../../x", "node_modules/react/index.js"] {
        let body = json!({ "projectId": id, "files": { "App.tsx": app("x"), evil: "pwned" } });
        let (status, answer) = call(&blink, "/dev/start", &body).await;
        assert_eq!((status, answer["code"].clone()), (400, json!("invalid_path")), "{evil}: {answer}");
        assert!(!answer["error"].as_str().unwrap().is_empty());
    }
    assert!(!std::path::Path::new("/etc/cron.d/x").exists());
}

#[tokio::test]
async fn anonymous_calls_never_reach_a_signed_in_users_project() {
    let blink = Blink::start(BIN, &legacy_env(&[])).await;
    let owner = jwt::user_token("owner-of-it");
    let id = project();
    let (status, body) = call_as(&blink, "/api/projects", &owner, &json!({ "id": id })).await;
    assert_eq!(status, 201, "{body}");
    let files = json!({ "projectId": id, "files": { "App.tsx": app("x") } });
    for path in ["/dev/start", "/dev/sync", "/build"] {
        let (status, answer) = call(&blink, path, &files).await;
        assert_eq!(status, 404, "{path}: {answer}");
    }
    assert_eq!(call(&blink, "/dev/stop", &json!({ "projectId": id })).await.0, 404);
    assert_eq!(get(&blink, &format!("/dev/status/{id}")).await.0, 404);
    assert_eq!(get(&blink, &format!("/logs/{id}")).await.0, 404);
    // With the owner's token the ownership check passes (and this host has no sandboxes).
    let (status, answer) = call_as(&blink, "/dev/start", &owner, &files).await;
    assert_eq!((status, answer["code"].clone()), (503, json!("sandbox_unavailable")), "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("BLINK_SANDBOXES"), "{answer}");
    // Someone else's token is not the owner either; a token cannot claim the anonymous owner.
    assert_eq!(call_as(&blink, "/dev/start", &jwt::user_token("intruder"), &files).await.0, 404);
    let (status, _) = call_as(&blink, "/dev/start", &jwt::user_token("blink:anonymous"), &files).await;
    assert_eq!(status, 401);
    // An anonymous project is as open to anonymous callers as the Node backend's were.
    let free = project();
    let body = json!({ "projectId": free, "files": { "App.tsx": app("x") } });
    assert_eq!(call(&blink, "/dev/start", &body).await.1["code"], json!("sandbox_unavailable"));
    assert_eq!(call_as(&blink, "/dev/start", &owner, &body).await.0, 404, "the anonymous project is not the user's");
}

#[tokio::test]
async fn each_route_has_its_own_limit_per_address_held_at_its_edge() {
    let blink = Blink::start(
        BIN,
        &legacy_env(&[("BLINK_LEGACY_RATE_START", "2/3600".into()), ("BLINK_LEGACY_RATE_SYNC", "3/3600".into())]),
    )
    .await;
    let client = reqwest::Client::new();
    let send = |path: &'static str| {
        let request = client.post(format!("{}{path}", blink.url)).json(&json!({}));
        async move { request.send().await.unwrap() }
    };
    // Limits count calls, valid or not (a flood of bad calls is still a flood).
    for _ in 0..2 {
        assert_eq!(send("/dev/start").await.status(), 400);
    }
    let refused = send("/dev/start").await;
    assert_eq!(refused.status(), 429);
    let retry: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=1800).contains(&retry), "Retry-After {retry}");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "Too many requests. Please slow down.");
    assert_eq!(body["retryAfterSeconds"], json!(retry));
    // Syncs have their own counter: the starts spent none of it.
    for _ in 0..3 {
        assert_eq!(send("/dev/sync").await.status(), 400);
    }
    assert_eq!(send("/dev/sync").await.status(), 429);
    // Unlimited routes stay open.
    assert_eq!(send("/dev/stop").await.status(), 400);
}

#[tokio::test]
async fn a_bad_rate_setting_is_refused_at_start() {
    let out = std::process::Command::new(BIN)
        .args(["serve"])
        .env_clear()
        .env("BLINK_LEGACY_RATE_BUILD", "0/60")
        .env("BLINK_ADDR", "127.0.0.1:0")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is not a rate"), "{stderr}");
}

/// `useDevServer`: start, the iframe loads `devUrl`, a sync shows up without a reload, the log
/// panel's `EventSource` reads `{text, level, ts}`; then stop.
#[tokio::test]
async fn as_the_frontend_calls_it_a_preview_starts_updates_in_place_and_streams_its_logs() {
    let blink = with_sandboxes(&[]).await;
    let id = project();
    let _cleanup = Cleanup(vec![id.clone()]);
    let start =
        json!({ "projectId": id, "files": { "App.tsx": app("Hello from the legacy route") }, "projectName": "Legacy" });
    let (status, body) = call(&blink, "/dev/start", &start).await;
    assert_eq!(status, 200, "{body}\n{}", blink.log());
    assert_eq!((body["success"].clone(), body["projectId"].clone()), (json!(true), json!(id)));
    assert!(body["port"].is_u64(), "{body}");
    let dev_url = body["devUrl"].as_str().unwrap().to_string();

    let mut browser = Browser::launch().await;
    browser.open(&dev_url, "Hello from the legacy route").await;
    browser.eval("window.__kept = 7").await;
    let sync = json!({ "projectId": id, "files": { "App.tsx": app("Synced without a reload") } });
    let (status, body) = call(&blink, "/dev/sync", &sync).await;
    assert_eq!((status, body), (200, json!({ "success": true })));
    browser.wait_for_text("Synced without a reload").await;
    assert_eq!(browser.eval("window.__kept").await, 7, "the sync reloaded the page");

    // The log panel: Chromium's own EventSource, on the host's origin, as the frontend opens it.
    let (status, _) = get(&blink, "/health").await;
    assert_eq!(status, 200);
    browser.navigate(&format!("{}/health", blink.url)).await;
    browser
        .eval(&format!(
            "window.__logs = []; const es = new EventSource('/logs/{id}'); \
             es.onmessage = (e) => window.__logs.push(JSON.parse(e.data)); 0"
        ))
        .await;
    let mut logs = Value::Null;
    for _ in 0..100 {
        logs = browser.eval("window.__logs").await;
        if logs.as_array().is_some_and(|l| !l.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let logs = logs.as_array().unwrap_or_else(|| panic!("no log line reached the EventSource: {logs}"));
    assert!(!logs.is_empty(), "no log line reached the EventSource");
    for line in logs {
        assert!(line["text"].as_str().is_some_and(|t| !t.is_empty()), "{line}");
        assert!(["log", "info", "warn", "error"].contains(&line["level"].as_str().unwrap()), "{line}");
        assert!(line["ts"].as_u64().is_some_and(|ts| ts > 1_700_000_000_000), "ts in ms: {line}");
    }

    let (status, body) = get(&blink, &format!("/dev/status/{id}")).await;
    assert_eq!((status, body["active"].clone()), (200, json!(true)), "{body}");
    let (status, body) = call(&blink, "/dev/stop", &json!({ "projectId": id })).await;
    assert_eq!((status, body), (200, json!({ "success": true })));
    assert_eq!(get(&blink, &format!("/dev/status/{id}")).await.1, json!({ "active": false }));
}

/// `usePublish`: the files built in the sandbox and deployed; `buildUrl` is the live page.
#[tokio::test]
async fn a_publish_builds_deploys_and_its_build_url_renders_the_page() {
    let blink = with_sandboxes(&[]).await;
    let id = project();
    let _cleanup = Cleanup(vec![id.clone()]);
    let body = json!({ "files": { "App.tsx": app("Published through the legacy route") }, "projectId": id, "projectName": "Blink App" });
    let (status, answer) = call(&blink, "/build", &body).await;
    assert_eq!(status, 200, "{answer}\n{}", blink.log());
    assert_eq!(answer["success"], true);
    let port = blink.url.rsplit(':').next().unwrap();
    let build_url = answer["buildUrl"].as_str().unwrap();
    assert_eq!(build_url, format!("http://{id}.sites.localhost:{port}/"));
    // Chromium resolves `*.localhost` to this machine, as a user's browser does.
    let mut browser = Browser::launch().await;
    browser.open(build_url, "Published through the legacy route").await;
}

/// `GitHubSyncModal`: a push a real git client then sees on the remote, a second push on top of
/// it, and a pull whose files match; GitHub's refusals come back in its words and status.
#[tokio::test]
async fn a_push_lands_for_a_real_git_client_and_a_pull_reads_it_back() {
    let server = GitServer::start(TOKEN).await;
    let github = FakeGithub::start(&server, TOKEN, "octo").await;
    let created = reqwest::Client::new()
        .post(format!("{}/user/repos", github.base_url))
        .bearer_auth(TOKEN)
        .json(&json!({ "name": "legacy-app" }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let [schemes, private] = local_remotes();
    let blink =
        Blink::start(BIN, &legacy_env(&[("BLINK_GITHUB_API", github.base_url.clone()), schemes, private])).await;

    let files = json!({ "App.tsx": app("Pushed"), "components/Header.tsx": "export const Header = () => null;\n" });
    let push = json!({ "repo": "octo/legacy-app", "token": TOKEN, "files": files, "message": "Update from Blink AI" });
    let (status, body) = call(&blink, "/github/push", &push).await;
    assert_eq!(status, 200, "{body}\n{}", blink.log());
    assert_eq!((body["success"].clone(), body["branch"].clone()), (json!(true), json!("main")));
    let first = body["commitSha"].as_str().unwrap().to_string();

    let scratch = tempfile::tempdir().unwrap();
    let clone = scratch.path().join("clone");
    clone_with_token(&server.repo_url(&github.git_name("legacy-app")), TOKEN, &clone);
    assert_eq!(git(&clone, &["rev-parse", "HEAD"]), first);
    assert_eq!(git(&clone, &["log", "-1", "--format=%s"]), "Update from Blink AI");
    assert_eq!(std::fs::read_to_string(clone.join("App.tsx")).unwrap(), app("Pushed"));
    assert!(clone.join("components/Header.tsx").is_file());

    // A second push is a commit on top; files it does not name stay.
    let push = json!({ "repo": "octo/legacy-app", "token": TOKEN, "files": { "App.tsx": app("Again") } });
    let (status, body) = call(&blink, "/github/push", &push).await;
    assert_eq!(status, 200, "{body}");
    git(&clone, &["pull", "--quiet"]);
    assert_eq!(git(&clone, &["rev-parse", "HEAD~1"]), first);
    assert_eq!(git(&clone, &["rev-parse", "HEAD"]), body["commitSha"].as_str().unwrap());
    assert!(clone.join("components/Header.tsx").is_file());

    // Someone else's change on the remote, then a pull as the modal makes it.
    std::fs::write(clone.join("styles.css"), "h1 { color: teal; }\n").unwrap();
    std::fs::write(clone.join("logo.png"), [0x89, b'P', b'N', b'G']).unwrap();
    git(&clone, &["add", "."]);
    git(&clone, &["commit", "--quiet", "-m", "Styles"]);
    git(&clone, &["push", "--quiet"]);
    let (status, body) = call(&blink, "/github/pull", &json!({ "repo": "octo/legacy-app", "token": TOKEN })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["branch"], "main");
    assert_eq!(
        body["files"],
        json!({
            "App.tsx": app("Again"),
            "components/Header.tsx": "export const Header = () => null;\n",
            "styles.css": "h1 { color: teal; }\n",
        })
    );
    assert_eq!(body["fileCount"], 3);

    // GitHub's refusals, in its words and with its status; the token appears nowhere.
    let wrong = json!({ "repo": "octo/legacy-app", "token": "ghp_wrong", "files": { "a.ts": "" } });
    let (status, body) = call(&blink, "/github/push", &wrong).await;
    assert_eq!((status, body["error"].clone()), (401, json!("Bad credentials")), "{body}");
    let missing = json!({ "repo": "octo/nothing-here", "token": TOKEN });
    let (status, body) = call(&blink, "/github/pull", &missing).await;
    assert_eq!((status, body["error"].clone()), (404, json!("Not Found")), "{body}");
    assert!(!blink.log().contains(TOKEN));
    let leftovers = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("blink-github-"))
        .count();
    assert_eq!(leftovers, 0, "scratch repositories were left behind");
}

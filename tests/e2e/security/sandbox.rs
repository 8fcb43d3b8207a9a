//! Sandboxes, previews and builds: a project's own code (it writes `/app` and runs its Vite
//! config) and its owner's account trying to reach other projects, other users' previews and
//! more than their share of the host. Needs `dockerd` and the sandbox image, as
//! `tests/e2e/sandbox.rs` does.

use std::path::Path;
use std::time::Duration;

use blink_test_support::docker::docker;
use blink_test_support::host::Blink;
use blink_test_support::jwt;
use blink_test_support::sites::site;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_blink");
const ADMIN: &str = "security-sandbox-admin";

/// An id no other test (or earlier run) uses, lowercase (a host name's first label).
fn unique(prefix: &str) -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    format!("{prefix}{nanos:x}{:x}", std::process::id())
}

fn app(marker: &str) -> String {
    format!("export default function App() {{\n  return <h1>{marker}</h1>;\n}}\n")
}

/// The engine's id of the container named after the project, if there is one.
fn container_id(project: &str) -> Option<String> {
    let out = std::process::Command::new("docker")
        .args(["inspect", "-f", "{{.Id}}", &format!("sandbox-{project}")])
        .output()
        .unwrap();
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Removes the test's containers (by project, and every one over its data directory) however
/// it ends.
struct Cleanup {
    projects: Vec<String>,
    data: Option<std::path::PathBuf>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let mut names: Vec<String> = self.projects.iter().map(|p| format!("sandbox-{p}")).collect();
        if let Some(data) = &self.data {
            let all = std::process::Command::new("docker")
                .args(["ps", "-a", "--filter", "label=blink.sandbox=1", "--format", "{{.Names}}"])
                .output()
                .unwrap();
            for name in String::from_utf8_lossy(&all.stdout).lines() {
                let mounts = std::process::Command::new("docker")
                    .args(["inspect", "-f", "{{range .Mounts}}{{.Source}} {{end}}", name])
                    .output()
                    .unwrap();
                if String::from_utf8_lossy(&mounts.stdout).contains(&data.display().to_string()) {
                    names.push(name.to_string());
                }
            }
        }
        for name in names {
            let _ = std::process::Command::new("docker").args(["rm", "-f", &name]).output();
        }
    }
}

fn env(extra: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("BLINK_SANDBOXES", "true".to_string()),
        ("BLINK_ADMIN_TOKEN", ADMIN.to_string()),
        ("BLINK_SANDBOX_WARM", "0".to_string()),
    ];
    env.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    env
}

async fn start(extra: &[(&'static str, &str)]) -> Blink {
    let image = docker(&["images", "-q", "blink-sandbox:latest"]);
    assert!(!image.is_empty(), "the sandbox image is missing: run sandbox/build-image.sh");
    Blink::start(BIN, &env(extra)).await
}

async fn post(blink: &Blink, path: &str, token: &str, body: &Value) -> (u16, Value) {
    let (status, text) = blink.post(path, Some(token), body).await;
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn preview(blink: &Blink, token: &str, project: &str, files: Value) -> (u16, Value) {
    post(blink, "/api/preview", token, &json!({ "projectId": project, "files": files })).await
}

/// The sandbox template's Vite config with `edit` applied and `prelude` run first: code of the
/// project's own, run in its sandbox by the dev server and by builds.
fn vite_config(prelude: &str, edit: impl Fn(String) -> String) -> String {
    let template =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../sandbox/template/vite.config.ts")).unwrap();
    let edited = edit(template.clone());
    assert_ne!(edited, template, "the template changed: this test's edit no longer applies");
    format!("{prelude}\n{edited}")
}

/// Every file under `dir` whose content holds `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
        if meta.is_dir() {
            pending.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else if meta.is_file() && std::fs::read(&path).is_ok_and(|b| String::from_utf8_lossy(&b).contains(needle)) {
            found.push(path);
        }
    }
    found
}

/// Item 3: code in the sandbox builds to `out` and leaves `dist` a link to `../..` (every
/// project's folder on the host); the build is refused with a stable code, nothing of another
/// project lands in the build or a deploy.
#[tokio::test]
async fn a_build_whose_dist_is_a_link_out_of_the_project_is_refused() {
    let blink = start(&[]).await;
    let (victim, attacker) = (unique("victim"), unique("mallory"));
    let _cleanup = Cleanup { projects: vec![victim.clone(), attacker.clone()], data: None };
    let secret = unique("VictimSecret");
    let (status, body) = preview(&blink, &jwt::user_token("alice"), &victim, json!({ "App.tsx": app(&secret) })).await;
    assert_eq!(status, 200, "{body}\n{}", blink.log());

    // Once the bundle is written to `out`, `dist` becomes a link to every project's folder.
    let config = vite_config(
        "import fs from 'node:fs';\n\
         const linkDist = () => ({ name: 'link-dist', apply: 'build', closeBundle() {\n\
           fs.rmSync('/app/dist', { recursive: true, force: true });\n\
           fs.symlinkSync('../..', '/app/dist');\n\
         } });",
        |t| {
            t.replace("outDir: 'dist'", "outDir: 'out'").replace(
                "plugins: [react(), tailwindcss(), blinkSync()]",
                "plugins: [react(), tailwindcss(), blinkSync(), linkDist()]",
            )
        },
    );
    let mallory = jwt::user_token("mallory");
    let files = json!({ "App.tsx": app("Mallory"), "vite.config.ts": config });
    let (status, body) = preview(&blink, &mallory, &attacker, files).await;
    assert_eq!(status, 200, "{body}\n{}", blink.log());

    let (status, body) = post(&blink, "/api/build", &mallory, &json!({ "projectId": attacker })).await;
    let link = blink.data_dir.path().join("projects").join(&attacker).join("app/dist");
    assert!(std::fs::symlink_metadata(&link).is_ok_and(|m| m.is_symlink()), "the build planted the link: {body}");
    assert_eq!((status, body["error"].clone()), (422, json!("build_invalid")), "{body}\n{}", blink.log());
    let builds = blink.data_dir.path().join("builds");
    assert!(files_containing(&builds, &secret).is_empty(), "another project's files were copied into a build");
    assert!(!builds.join(&attacker).join("dist").exists(), "no build is kept");
    let (status, body) = post(&blink, "/api/deploy", &mallory, &json!({ "projectId": attacker })).await;
    assert!(status >= 400, "nothing to deploy: {status} {body}");
}

/// Item 6: a user names a project `warm-…` and leaves its dev server running; after a restart
/// the host must not hand that sandbox (and the folder its code controls) to the next user's
/// first preview.
#[tokio::test]
async fn a_project_named_like_a_warm_sandbox_is_never_handed_to_another_user() {
    let blink = start(&[]).await;
    let trap = unique("warm-");
    let victim = unique("fresh");
    let _cleanup = Cleanup { projects: vec![trap.clone(), victim.clone()], data: Some(blink.data_dir.path().into()) };
    let mallory = jwt::user_token("mallory");
    let (status, body) = preview(&blink, &mallory, &trap, json!({ "App.tsx": app("MalloryServes") })).await;
    assert_eq!(status, 200, "{body}\n{}", blink.log());
    let trap_container = container_id(&trap).expect("the trap's sandbox runs");

    let data = blink.stop().await;
    let blink =
        Blink::start_in(BIN, data, &env(&[("BLINK_SANDBOX_WARM", "1"), ("BLINK_SANDBOX_READY_SECS", "20")])).await;
    let secret = unique("AliceOnly");
    let (status, body) = preview(&blink, &jwt::user_token("alice"), &victim, json!({ "App.tsx": app(&secret) })).await;
    assert_eq!(status, 200, "{body}\n{}", blink.log());
    assert_ne!(container_id(&victim), Some(trap_container.clone()), "Alice got Mallory's sandbox");
    assert_eq!(container_id(&trap), Some(trap_container), "Mallory's sandbox is still Mallory's");
    let projects = blink.data_dir.path().join("projects");
    let trap_app = std::fs::read_to_string(projects.join(&trap).join("app/src/App.tsx")).unwrap();
    assert!(trap_app.contains("MalloryServes") && !trap_app.contains(&secret), "Mallory's folder is untouched");
    let alice_app = std::fs::read_to_string(projects.join(&victim).join("app/src/App.tsx")).unwrap();
    assert!(alice_app.contains(&secret), "{alice_app}");
}

/// A response's header names, lowercase.
fn header_names(response: &reqwest::Response) -> Vec<String> {
    response.headers().keys().map(|k| k.as_str().to_string()).collect()
}

/// Item 8: a project's dev server sends `Service-Worker-Allowed: /` (and a cookie for `/`, and
/// `Clear-Site-Data`) to take over a shared origin. Its preview URL is its own origin, the path
/// form on the API's origin is off by default, and through the proxy none of those headers
/// reach a visitor, on either form.
#[tokio::test]
async fn a_preview_gets_its_own_origin_and_cannot_widen_it() {
    let blink = start(&[]).await;
    let id = unique("widen");
    let _cleanup = Cleanup { projects: vec![id.clone()], data: None };
    let config = vite_config(
        "const widen = () => ({ name: 'widen', configureServer(server) {\n\
           server.middlewares.use((req, res, next) => {\n\
             res.setHeader('Service-Worker-Allowed', '/');\n\
             res.setHeader('Set-Cookie', 'visitor=stolen; Path=/');\n\
             res.setHeader('Clear-Site-Data', '\"storage\"');\n\
             next();\n\
           });\n\
         } });",
        |t| {
            t.replace(
                "plugins: [react(), tailwindcss(), blinkSync()]",
                "plugins: [react(), tailwindcss(), blinkSync(), widen()]",
            )
        },
    );
    let token = jwt::user_token("widener");
    let (status, body) =
        preview(&blink, &token, &id, json!({ "App.tsx": app("Wide"), "vite.config.ts": config })).await;
    assert_eq!(status, 200, "{body}\n{}", blink.log());
    let port = blink.url.rsplit_once(':').unwrap().1.to_string();
    let host = format!("{id}.preview.localhost:{port}");
    assert_eq!(body["previewUrl"], format!("http://{host}/"), "the preview is on its own origin");

    // The dev server does send them: straight from the sandbox, not through the proxy.
    let ip = docker(&[
        "inspect",
        "-f",
        "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
        &format!("sandbox-{id}"),
    ]);
    let direct = reqwest::get(format!("http://{ip}:5173/preview/{id}/")).await.unwrap();
    assert_eq!(direct.headers()["service-worker-allowed"], "/", "the project's dev server sends the header");

    let response = site(&blink, &host, "/", &[]).await;
    let names = header_names(&response);
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains("<div id=\"root\">"));
    for widening in ["service-worker-allowed", "set-cookie", "clear-site-data"] {
        assert!(!names.contains(&widening.to_string()), "{widening} reached the visitor: {names:?}");
    }
    let (status, text) = {
        let r = reqwest::get(format!("{}/preview/{id}/", blink.url)).await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    };
    let error: Value = serde_json::from_str(&text).unwrap_or_default();
    assert_eq!((status, error["error"].clone()), (404, json!("preview_paths_disabled")), "{text}");

    // The operator's opt-in for the path form: served, and hardened the same way.
    let data = blink.stop().await;
    let blink = Blink::start_in(BIN, data, &env(&[("BLINK_PREVIEW_PATHS", "true")])).await;
    let mut answer = None;
    for _ in 0..100 {
        let response = reqwest::get(format!("{}/preview/{id}/", blink.url)).await.unwrap();
        if response.status() == 200 {
            answer = Some(response);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let response = answer.unwrap_or_else(|| panic!("the adopted preview never answered by path\n{}", blink.log()));
    let names = header_names(&response);
    for widening in ["service-worker-allowed", "set-cookie", "clear-site-data"] {
        assert!(!names.contains(&widening.to_string()), "{widening} reached the visitor by path: {names:?}");
    }
}

/// Opens the project's log stream as `token`; the response stays open while it is held.
async fn open_logs(blink: &Blink, token: &str, project: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("{}/api/projects/{project}/logs", blink.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// Item 9: one user cannot hold every sandbox slot or open endless log streams (each one follows
/// the engine's log): both caps are per user and hold at their edge while another user is
/// served.
#[tokio::test]
async fn one_user_cannot_hold_more_than_their_share_of_sandboxes_or_log_streams() {
    let blink = start(&[
        ("BLINK_SANDBOX_MAX_PER_USER", "1"),
        ("BLINK_LOG_STREAMS_PER_USER", "1"),
        ("BLINK_SSE_KEEPALIVE_SECS", "1"),
    ])
    .await;
    let (first, second, others) = (unique("hog"), unique("hog"), unique("fair"));
    let _cleanup = Cleanup { projects: vec![first.clone(), second.clone(), others.clone()], data: None };
    let (hog, fair) = (jwt::user_token("hog"), jwt::user_token("fair"));
    let (status, body) = preview(&blink, &hog, &first, json!({ "App.tsx": app("One") })).await;
    assert_eq!(status, 200, "the first sandbox is within the cap: {body}");
    let (status, body) = preview(&blink, &hog, &second, json!({ "App.tsx": app("Two") })).await;
    assert_eq!((status, body["error"].clone()), (429, json!("sandbox_user_limit")), "{body}");
    assert_eq!(container_id(&second), None, "a refused preview starts nothing");
    let (status, body) = preview(&blink, &fair, &others, json!({ "App.tsx": app("Mine") })).await;
    assert_eq!(status, 200, "another user still gets a sandbox: {body}");

    let held = open_logs(&blink, &hog, &first).await;
    assert_eq!(held.status(), 200);
    let refused = open_logs(&blink, &hog, &first).await;
    assert_eq!(refused.status(), 429);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "too_many_log_streams", "{body}");
    assert_eq!(open_logs(&blink, &fair, &others).await.status(), 200, "another user's stream is theirs");
    // Closing a stream gives its slot back.
    drop(held);
    for _ in 0..100 {
        if open_logs(&blink, &hog, &first).await.status() == 200 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("a closed log stream never gave its slot back\n{}", blink.log());
}

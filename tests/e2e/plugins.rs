//! Operators swap agent versions over the admin API, through the real binary: upload (checked
//! against the role's world), activate, roll back, delete, and the active set survives a restart.
//!
//! Over 500 lines: one test file per surface (the plugin platform), so a failure names the surface.

use blink_test_support::fake_llm::{FakeLlm, Rule, footer_rules};
use blink_test_support::host::Blink;
use blink_test_support::{HOSTILE_VALIDATOR, jwt, sse};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_blink");
const ADMIN: &str = "operator-secret";

async fn call(blink: &Blink, method: reqwest::Method, path: &str, token: &str, body: Option<Vec<u8>>) -> (u16, Value) {
    let mut request = reqwest::Client::new().request(method, format!("{}{path}", blink.url)).bearer_auth(token);
    if let Some(body) = body {
        request = request.header("content-type", "application/wasm").body(body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, serde_json::from_str(&response.text().await.unwrap()).unwrap_or(Value::Null))
}

/// Uploads the component at `path` as the validator (it becomes active) and returns its version.
async fn upload_validator(blink: &Blink, path: &str) -> String {
    let (status, body) =
        call(blink, reqwest::Method::POST, "/api/admin/plugins/validator", ADMIN, Some(std::fs::read(path).unwrap()))
            .await;
    assert!(status == 200 || status == 201, "{body}");
    body["version"]["version"].as_str().unwrap().to_string()
}

/// The confidence score of a run's (last) validation: the plugin validator reports the number of
/// files, the built-in one 100 for these clean files.
async fn confidence(blink: &Blink) -> u64 {
    let token = jwt::user_token("user-1");
    let (status, text) = blink
        .post(
            "/api/orchestrator",
            Some(&token),
            &json!({ "messages": [{ "role": "user", "content": "Add a footer" }] }),
        )
        .await;
    assert_eq!(status, 200, "{text}\n{}", blink.log());
    let events = sse::events(&text);
    events.iter().rev().find(|e| e["type"] == "validation").unwrap_or_else(|| panic!("{events:#?}"))["confidence_score"]
        .as_u64()
        .unwrap()
}

fn env(llm: &FakeLlm, database: &Option<String>) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("BLINK_LLM_BASE_URL", llm.base_url()),
        ("BLINK_ADMIN_TOKEN", ADMIN.into()),
        ("BLINK_PLUGIN_MAX_BYTES", (4 * 1024 * 1024).to_string()),
    ];
    if let Some(url) = database {
        env.push(("DATABASE_URL", url.clone()));
    }
    env
}

#[tokio::test]
async fn upload_activate_roll_back_and_survive_a_restart() {
    for (_backend, database) in blink_test_support::db::backends().await {
        upload_activate_roll_back_and_survive_a_restart_on(database).await;
    }
}

async fn upload_activate_roll_back_and_survive_a_restart_on(database: Option<String>) {
    use reqwest::Method;
    let llm = FakeLlm::start(footer_rules()).await;
    let blink = Blink::start(BIN, &env(&llm, &database)).await;
    let plugin = std::fs::read(HOSTILE_VALIDATOR).unwrap();
    assert_eq!(confidence(&blink).await, 100, "the built-in validator serves first");

    let (status, body) =
        call(&blink, Method::POST, "/api/admin/plugins/validator?author=ops&notes=first", ADMIN, Some(plugin.clone()))
            .await;
    assert_eq!(status, 201, "{body}");
    let version = body["version"]["version"].as_str().unwrap().to_string();
    assert_eq!(body["version"]["author"], "ops");
    assert_eq!(body["version"]["contract"], "blink:agents@0.1.0");
    assert_eq!(body["version"]["size"], plugin.len());
    let (status, _) = call(&blink, Method::POST, "/api/admin/plugins/validator", ADMIN, Some(plugin.clone())).await;
    assert_eq!(status, 200, "the same bytes twice are one version");
    assert_eq!(confidence(&blink).await, 2, "the uploaded validator serves new runs at once");

    let (_, list) = call(&blink, Method::GET, "/api/admin/plugins", ADMIN, None).await;
    assert_eq!(list["validator"]["active"], version.as_str());
    assert_eq!(list["validator"]["versions"].as_array().unwrap().len(), 1);
    let builtin = list["validator"]["builtin"].as_str().unwrap().to_string();
    assert_ne!(builtin, version);

    // Deleting the active version is refused; rolling back restores the built-in for new runs.
    let (status, body) =
        call(&blink, Method::DELETE, &format!("/api/admin/plugins/validator/{version}"), ADMIN, None).await;
    assert_eq!((status, body["error"].clone()), (409, json!("version_active")));
    let (status, body) = call(&blink, Method::POST, "/api/admin/plugins/validator/rollback", ADMIN, None).await;
    assert_eq!((status, body["active"].clone()), (200, json!(builtin)), "{body}");
    assert_eq!(confidence(&blink).await, 100);
    let (status, body) =
        call(&blink, Method::POST, &format!("/api/admin/plugins/validator/{version}/activate"), ADMIN, None).await;
    assert_eq!(status, 200, "{body}\n{}", blink.log());
    assert_eq!(confidence(&blink).await, 2);

    // The active set survives a restart.
    let data = blink.stop().await;
    let blink = Blink::start_in(BIN, data, &env(&llm, &database)).await;
    let (_, list) = call(&blink, Method::GET, "/api/admin/plugins", ADMIN, None).await;
    assert_eq!(list["validator"]["active"], version.as_str(), "{list}");
    assert_eq!(confidence(&blink).await, 2);

    let (status, _) = call(&blink, Method::POST, "/api/admin/plugins/validator/builtin/activate", ADMIN, None).await;
    assert_eq!(status, 200);
    let (status, _) =
        call(&blink, Method::DELETE, &format!("/api/admin/plugins/validator/{version}"), ADMIN, None).await;
    assert_eq!(status, 204);
    let (status, body) =
        call(&blink, Method::POST, &format!("/api/admin/plugins/validator/{version}/activate"), ADMIN, None).await;
    assert_eq!((status, body["error"].clone()), (404, json!("not_found")));
    assert_eq!(confidence(&blink).await, 100);
}

/// `bytes` with every `blink:agents/…@0.1.0` import renamed to the given version.
fn retarget_contract(bytes: &[u8], version: &[u8; 5]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let prefix = b"blink:agents/";
    let mut renamed = 0;
    let mut i = 0;
    while let Some(at) = out[i..].windows(prefix.len()).position(|w| w == prefix) {
        let start = i + at;
        let name_end = out[start..].iter().position(|b| *b == b'@').map(|p| start + p).unwrap();
        if &out[name_end + 1..name_end + 6] == b"0.1.0" {
            out[name_end + 1..name_end + 6].copy_from_slice(version);
            renamed += 1;
        }
        i = name_end;
    }
    assert!(renamed > 0, "the component names no blink:agents import");
    out
}

#[tokio::test]
async fn bad_uploads_are_refused_and_change_nothing() {
    use reqwest::Method;
    let llm = FakeLlm::start(footer_rules()).await;
    let blink = Blink::start(BIN, &env(&llm, &None)).await;
    let plugin = std::fs::read(HOSTILE_VALIDATOR).unwrap();
    let (_, before) = call(&blink, Method::GET, "/api/admin/plugins", ADMIN, None).await;

    let (status, body) =
        call(&blink, Method::POST, "/api/admin/plugins/validator", ADMIN, Some(b"\0asm not really".to_vec())).await;
    assert_eq!((status, body["error"].clone()), (422, json!("not_a_component")), "{body}");
    let (status, body) = call(&blink, Method::POST, "/api/admin/plugins/planner", ADMIN, Some(plugin.clone())).await;
    assert_eq!((status, body["error"].clone()), (422, json!("wrong_world")), "{body}");
    assert!(body["message"].as_str().unwrap().contains("planner world"), "{body}");
    // The same component as if built against the next contract: its imports name
    // `blink:agents/…@0.2.0` (the version string has the same length, so only names change).
    let next_contract = retarget_contract(&plugin, b"0.2.0");
    let (status, body) =
        call(&blink, Method::POST, "/api/admin/plugins/validator", ADMIN, Some(next_contract.clone())).await;
    assert_eq!((status, body["error"].clone()), (422, json!("wrong_contract")), "{body}");
    assert!(body["message"].as_str().unwrap().contains("blink:agents@0.2.0"), "{body}");
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &next_contract).unwrap();
    let (ok, _, err) = blink_cli(&["plugin", "check", file.path().to_str().unwrap(), "--role", "validator"]).await;
    assert!(!ok && err.contains("blink:agents@0.2.0"), "{err}");
    let (status, body) = call(&blink, Method::POST, "/api/admin/plugins/painter", ADMIN, Some(plugin.clone())).await;
    assert_eq!((status, body["error"].clone()), (404, json!("not_found")), "{body}");
    let too_big = vec![0u8; 4 * 1024 * 1024 + 1];
    let (status, body) = call(&blink, Method::POST, "/api/admin/plugins/validator", ADMIN, Some(too_big)).await;
    assert_eq!((status, body["error"].clone()), (413, json!("payload_too_large")), "{body}");
    let (status, body) =
        call(&blink, Method::POST, "/api/admin/plugins/validator", &jwt::user_token("mallory"), Some(plugin)).await;
    assert_eq!((status, body["error"].clone()), (403, json!("forbidden")), "{body}");
    let (status, body) = call(&blink, Method::POST, "/api/admin/plugins/fixer/rollback", ADMIN, None).await;
    assert_eq!((status, body["error"].clone()), (409, json!("nothing_to_roll_back")), "{body}");

    let (_, after) = call(&blink, Method::GET, "/api/admin/plugins", ADMIN, None).await;
    assert_eq!(before, after, "a refused upload changes nothing");
    assert_eq!(confidence(&blink).await, 100);
}

/// The built-in `role` agent with a custom section appended: other bytes, so another version,
/// that behaves exactly like the built-in one.
async fn variant_of_builtin(blink: &Blink, role: &str) -> Vec<u8> {
    let response = reqwest::Client::new()
        .get(format!("{}/api/admin/plugins/{role}/builtin", blink.url))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut bytes = response.bytes().await.unwrap().to_vec();
    let name = b"blink-test-variant";
    // A custom section: id 0, its size, then its name (length-prefixed); all sizes fit one byte.
    bytes.extend_from_slice(&[0, 1 + name.len() as u8, name.len() as u8]);
    bytes.extend_from_slice(name);
    bytes
}

/// A steady stream of orchestrations while each role's active version is swapped 100 times: no
/// request fails, and every run records, for each role, a version that was active when it started.
/// The validator's two versions also tell themselves apart in the run's output.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn swapping_under_load_fails_no_request() {
    use std::time::Instant;

    use reqwest::Method;
    const SWAPS: usize = 100;
    const CLIENTS: usize = 4;
    let llm = FakeLlm::start(footer_rules()).await;
    let blink = Blink::start(BIN, &env(&llm, &None)).await;
    let (_, list) = call(&blink, Method::GET, "/api/admin/plugins", ADMIN, None).await;
    let mut versions = std::collections::BTreeMap::new();
    for role in ["planner", "generator", "validator", "fixer"] {
        let bytes = match role {
            "validator" => std::fs::read(HOSTILE_VALIDATOR).unwrap(),
            _ => variant_of_builtin(&blink, role).await,
        };
        let other = store_only(&blink, role, bytes).await;
        versions.insert(role, [list[role]["builtin"].as_str().unwrap().to_string(), other]);
    }
    let hostile = versions["validator"][1].clone();

    let done = std::sync::atomic::AtomicBool::new(false);
    let swapper = async {
        // (started, finished, role, version) of every activation.
        let mut swaps = Vec::new();
        for i in 0..SWAPS {
            for (role, pair) in &versions {
                let target = &pair[(i + 1) % 2];
                let started = Instant::now();
                let path = format!("/api/admin/plugins/{role}/{target}/activate");
                let (status, body) = call(&blink, Method::POST, &path, ADMIN, None).await;
                assert_eq!(status, 200, "swap {i} of the {role}: {body}");
                swaps.push((started, Instant::now(), *role, target.clone()));
            }
        }
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        swaps
    };
    let client = |n: usize| {
        let (blink, done) = (&blink, &done);
        async move {
            let token = jwt::user_token(&format!("load-{n}"));
            let mut runs = Vec::new();
            while !done.load(std::sync::atomic::Ordering::SeqCst) || runs.is_empty() {
                let sent = Instant::now();
                let response = reqwest::Client::new()
                    .post(format!("{}/api/orchestrator", blink.url))
                    .bearer_auth(&token)
                    .json(&json!({ "messages": [{ "role": "user", "content": "Add a footer" }] }))
                    .send()
                    .await
                    .unwrap();
                let answered = Instant::now();
                assert_eq!(response.status(), 200);
                let run_id = response.headers()["x-blink-run-id"].to_str().unwrap().to_string();
                let events = sse::events(&response.text().await.unwrap());
                let result = events.last().unwrap();
                assert_eq!(result["conversational"], false, "a run failed during the swaps: {events:#?}");
                let score =
                    events.iter().find(|e| e["type"] == "validation").unwrap()["confidence_score"].as_u64().unwrap();
                runs.push((token.clone(), run_id, score, sent, answered));
            }
            runs
        }
    };
    let (swaps, a, b, c, d) = tokio::join!(swapper, client(0), client(1), client(2), client(3));
    let runs: Vec<_> = [a, b, c, d].into_iter().flatten().collect();
    assert!(runs.len() >= CLIENTS, "{} runs", runs.len());
    // A run starts between its request being sent and its stream being answered. The versions
    // that may serve it: the one active when the request was sent, and any activated meanwhile.
    let allowed = |role: &str, sent: Instant, answered: Instant| -> Vec<String> {
        let of_role = swaps.iter().filter(|s| s.2 == role);
        let before = of_role.clone().rfind(|s| s.1 <= sent).map(|s| s.3.clone());
        let before = before.unwrap_or_else(|| versions[role][0].clone());
        let during = of_role.filter(|s| s.0 <= answered && s.1 >= sent).map(|s| s.3.clone());
        std::iter::once(before).chain(during).collect()
    };
    let mut served = std::collections::BTreeMap::new();
    for (token, run_id, score, sent, answered) in &runs {
        let record = run_record(&blink, token, run_id).await;
        for role in versions.keys() {
            let version = record["agents"][role].as_str().unwrap_or_else(|| panic!("{record}")).to_string();
            let allowed = allowed(role, *sent, *answered);
            assert!(allowed.contains(&version), "run {run_id}: the {role} {version} was not active then ({allowed:?})");
            *served.entry((*role, version == versions[role][1])).or_insert(0) += 1;
        }
        let validator = record["agents"]["validator"].as_str().unwrap();
        let expected = if validator == hostile { 2 } else { 100 };
        assert_eq!(*score, expected, "run {run_id}: the recorded validator is not the one that validated");
    }
    println!(
        "{} runs during {} swaps: (role, served by the other version) → runs: {served:?}",
        runs.len(),
        swaps.len()
    );
}

/// A canary with a 10 % share over 1,000 runs serves 100 of them on average, with a standard
/// deviation of √(1000 · 0.1 · 0.9) ≈ 9.5. The test accepts ±5 standard deviations (53 to 147),
/// so a correct host fails it less than once in a million runs, while a share applied wrongly
/// (0 %, 50 %, or to the wrong role) is far outside.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_canary_serves_its_share_of_runs_and_stats_count_them() {
    use reqwest::Method;
    const RUNS: usize = 1000;
    const CLIENTS: usize = 8;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("agents.json");
    std::fs::write(&config, r#"{"planner": {"thinking": "off"}}"#).unwrap();
    let plan = json!({ "intent": "greeting", "conversational": true, "reply": "Hello!", "steps": [] });
    let llm = FakeLlm::start(vec![Rule::text(&["You plan changes"], plan.to_string())]).await;
    let mut env = env(&llm, &None);
    env.push(("BLINK_AGENT_CONFIG", config.display().to_string()));
    env.push(("BLINK_LOG", "warn".into()));
    let blink = Blink::start(BIN, &env).await;
    let plugin = upload_validator(&blink, HOSTILE_VALIDATOR).await;
    call(&blink, Method::POST, "/api/admin/plugins/validator/builtin/activate", ADMIN, None).await;

    let canary = json!({ "version": plugin, "share": 0.1 });
    let request = reqwest::Client::new()
        .put(format!("{}/api/admin/plugins/validator/canary", blink.url))
        .bearer_auth(ADMIN)
        .json(&canary)
        .send()
        .await
        .unwrap();
    assert_eq!(request.status(), 200);
    let bad = reqwest::Client::new()
        .put(format!("{}/api/admin/plugins/validator/canary", blink.url))
        .bearer_auth(ADMIN)
        .json(&json!({ "version": plugin, "share": 1.5 }))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);

    let token = jwt::user_token("canary-user");
    let chat = json!({ "messages": [{ "role": "user", "content": "hello" }] });
    futures::future::join_all((0..CLIENTS).map(|_| {
        let (blink, token, chat) = (&blink, &token, &chat);
        async move {
            for _ in 0..RUNS / CLIENTS {
                let (status, text) = blink.post("/api/orchestrator", Some(token), chat).await;
                assert_eq!(status, 200);
                assert_eq!(sse::events(&text).last().unwrap()["reply"], "Hello!");
            }
        }
    }))
    .await;

    // Runs are recorded as their streams end; wait until all are.
    let runs_of = |version: String| {
        let blink = &blink;
        async move {
            let (_, body) =
                call(blink, Method::GET, &format!("/api/admin/plugins/validator/{version}/stats"), ADMIN, None).await;
            body["stats"]["runs"].as_u64().unwrap()
        }
    };
    let (mut on_canary, mut on_active) = (0, 0);
    for _ in 0..100 {
        on_canary = runs_of(plugin.clone()).await;
        on_active = runs_of("builtin".into()).await;
        if on_canary + on_active == RUNS as u64 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(on_canary + on_active, RUNS as u64);
    assert!((53..=147).contains(&on_canary), "the canary served {on_canary} of {RUNS} runs");

    let (_, body) =
        call(&blink, Method::GET, &format!("/api/admin/plugins/validator/{plugin}/stats"), ADMIN, None).await;
    assert_eq!(body["stats"]["failed"], 0);
    assert_eq!(body["stats"]["conversational"], on_canary);
    assert!(body["stats"]["promptTokens"].as_i64().unwrap() > 0);
}

async fn blink_cli(args: &[&str]) -> (bool, String, String) {
    let output = tokio::process::Command::new(BIN).args(args).env_clear().output().await.unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn plugin_authors_check_push_and_list_from_the_command_line() {
    let (ok, out, err) = blink_cli(&["plugin", "check", HOSTILE_VALIDATOR, "--role", "validator"]).await;
    assert!(ok, "{err}");
    assert!(out.starts_with("ok: ") && out.contains("serves the validator role of blink:agents@0.1.0"), "{out}");
    let (ok, _, err) = blink_cli(&["plugin", "check", HOSTILE_VALIDATOR, "--role", "planner"]).await;
    assert!(!ok);
    assert!(err.contains("cannot serve the planner role") && err.contains("planner world"), "{err}");
    let garbage = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(garbage.path(), b"not wasm").unwrap();
    let (ok, _, err) = blink_cli(&["plugin", "check", garbage.path().to_str().unwrap(), "--role", "fixer"]).await;
    assert!(!ok);
    assert!(err.contains("not a WebAssembly component"), "{err}");

    let llm = FakeLlm::start(footer_rules()).await;
    let blink = Blink::start(BIN, &env(&llm, &None)).await;
    let host = ["--url", blink.url.as_str(), "--token", ADMIN];
    let mut push =
        vec!["plugin", "push", HOSTILE_VALIDATOR, "--role", "validator", "--author", "ada", "--notes", "stricter"];
    push.extend(host);
    let (ok, out, err) = blink_cli(&push).await;
    assert!(ok, "{err}");
    assert!(out.contains("validator version") && out.contains("is active"), "{out}");
    let mut list = vec!["plugin", "list"];
    list.extend(host);
    let (ok, out, _) = blink_cli(&list).await;
    assert!(ok);
    assert!(out.contains("planner: active") && out.contains("(built-in)"), "{out}");
    assert!(out.contains("by ada stricter"), "{out}");
    assert_eq!(confidence(&blink).await, 2, "the pushed validator serves");

    let wrong =
        ["plugin", "push", HOSTILE_VALIDATOR, "--role", "fixer", "--url", blink.url.as_str(), "--token", "nope"];
    let (ok, _, err) = blink_cli(&wrong).await;
    assert!(!ok);
    assert!(err.contains("refused (401"), "{err}");
}

#[tokio::test]
async fn a_component_dropped_in_the_watched_directory_becomes_active() {
    use reqwest::Method;
    let llm = FakeLlm::start(footer_rules()).await;
    let watch = tempfile::tempdir().unwrap();
    let mut env = env(&llm, &None);
    env.push(("BLINK_PLUGINS_WATCH_DIR", watch.path().display().to_string()));
    let blink = Blink::start(BIN, &env).await;
    let active = || async {
        let (_, list) = call(&blink, Method::GET, "/api/admin/plugins", ADMIN, None).await;
        (
            list["validator"]["active"].as_str().unwrap().to_string(),
            list["validator"]["builtin"].as_str().unwrap().to_string(),
        )
    };
    let (builtin, _) = active().await;

    let bytes = std::fs::read(HOSTILE_VALIDATOR).unwrap();
    std::fs::write(watch.path().join("validator-strict.wasm"), &bytes).unwrap();
    let mut now = builtin.clone();
    for _ in 0..100 {
        now = active().await.0;
        if now != builtin {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_ne!(now, builtin, "the dropped component was not activated:\n{}", blink.log());
    assert_eq!(confidence(&blink).await, 2);

    // A broken file leaves the active version in place, and the log says why.
    std::fs::write(watch.path().join("validator.wasm"), b"\0asm broken").unwrap();
    for _ in 0..100 {
        if blink.log().contains("watched component refused") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(blink.log().contains("watched component refused"), "{}", blink.log());
    assert_eq!(active().await.0, now);
    assert_eq!(confidence(&blink).await, 2);
}

#[tokio::test]
async fn the_example_accessibility_validator_reports_in_a_real_run() {
    use reqwest::Method;
    let (ok, out, err) =
        blink_cli(&["plugin", "check", blink_test_support::A11Y_VALIDATOR, "--role", "validator"]).await;
    assert!(ok, "{err}");
    assert!(out.starts_with("ok: "), "{out}");

    let plan = json!({ "intent": "add a hero", "steps": [
        { "id": 1, "action": "modify", "target": "App", "path": "App.tsx", "description": "A hero with a picture" },
    ]});
    let app = "function App() {\n  return (\n    <main>\n      <img src=\"/hero.png\" />\n      <button></button>\n      <div onClick={() => alert('hi')}>Go</div>\n    </main>\n  );\n}\nReactDOM.createRoot(document.getElementById('root')).render(<App />);\n";
    let llm = FakeLlm::start(vec![
        Rule::text(&["thinking out loud"], "A hero."),
        Rule::text(&["You plan changes"], plan.to_string()),
        Rule::text(&["Your part:\n- modify App.tsx"], format!("```tsx\n{app}```")),
    ])
    .await;
    let blink = Blink::start(BIN, &env(&llm, &None)).await;
    let (status, body) = call(
        &blink,
        Method::POST,
        "/api/admin/plugins/validator",
        ADMIN,
        Some(std::fs::read(blink_test_support::A11Y_VALIDATOR).unwrap()),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let token = jwt::user_token("user-1");
    let (_, text) = blink
        .post("/api/orchestrator", Some(&token), &json!({ "messages": [{ "role": "user", "content": "Add a hero" }] }))
        .await;
    let events = sse::events(&text);
    let validation = events.iter().find(|e| e["type"] == "validation").unwrap();
    let found: Vec<(u64, String)> = validation["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| (w["line"].as_u64().unwrap(), w["message"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(found.len(), 3, "{found:?}");
    assert!(found[0].0 == 4 && found[0].1.contains("<img> has no alt text"), "{found:?}");
    assert!(found[1].0 == 5 && found[1].1.contains("<button> has no accessible name"), "{found:?}");
    assert!(found[2].0 == 6 && found[2].1.contains("clickable <div>"), "{found:?}");
    assert_eq!(validation["confidence_score"], 85);
}

async fn send_json(blink: &Blink, method: reqwest::Method, path: &str, token: &str, body: &Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .request(method, format!("{}{path}", blink.url))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, serde_json::from_str(&response.text().await.unwrap()).unwrap_or(Value::Null))
}

/// Stores a component for `role` without activating it and returns its version.
async fn store_only(blink: &Blink, role: &str, bytes: Vec<u8>) -> String {
    let path = format!("/api/admin/plugins/{role}?activate=false&notes=stored");
    let (status, body) = call(blink, reqwest::Method::POST, &path, ADMIN, Some(bytes)).await;
    assert!(status == 200 || status == 201, "{body}");
    assert_eq!(body["active"], false, "{body}");
    body["version"]["version"].as_str().unwrap().to_string()
}

/// Waits for a run's record (written as its stream ends) and returns it.
async fn run_record(blink: &Blink, token: &str, run_id: &str) -> Value {
    for _ in 0..100 {
        let (status, body) = call(blink, reqwest::Method::GET, &format!("/api/runs/{run_id}"), token, None).await;
        if status == 200 {
            return body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("run {run_id} was never recorded\n{}", blink.log());
}

/// Posts a chat and returns the run id and its events.
async fn orchestrate(blink: &Blink, token: &str, body: &Value) -> (String, Vec<Value>) {
    let response = reqwest::Client::new()
        .post(format!("{}/api/orchestrator", blink.url))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let run_id = response.headers()["x-blink-run-id"].to_str().unwrap().to_string();
    (run_id, sse::events(&response.text().await.unwrap()))
}

#[tokio::test]
async fn a_chained_validator_from_plugins_adds_its_diagnostics_to_a_real_run() {
    use reqwest::Method;
    let plan = json!({ "intent": "add a hero", "steps": [
        { "id": 1, "action": "modify", "target": "App", "path": "App.tsx", "description": "A hero with a picture" },
    ]});
    let app = "function App() {\n  return (\n    <main>\n      <img src=\"/hero.png\" />\n      <button></button>\n      <div onClick={() => alert('hi')}>Go</div>\n      <p dangerouslySetInnerHTML={{ __html: '<b>hi</b>' }} />\n    </main>\n  );\n}\nReactDOM.createRoot(document.getElementById('root')).render(<App />);\n";
    let llm = FakeLlm::start(vec![
        Rule::text(&["thinking out loud"], "A hero."),
        Rule::text(&["You plan changes"], plan.to_string()),
        Rule::text(&["Your part:\n- modify App.tsx"], format!("```tsx\n{app}```")),
    ])
    .await;
    let mut env = env(&llm, &None);
    env.push(("BLINK_MAX_EXTRA_VALIDATORS", "1".into()));
    let blink = Blink::start(BIN, &env).await;
    let a11y = store_only(&blink, "validator", std::fs::read(blink_test_support::A11Y_VALIDATOR).unwrap()).await;
    let (_, list) = call(&blink, Method::GET, "/api/admin/plugins", ADMIN, None).await;
    assert_eq!(list["validator"]["active"], list["validator"]["builtin"], "a stored-only version is not active");

    let owner = jwt::user_token("owner");
    let (status, _) = send_json(&blink, Method::POST, "/api/projects", &owner, &json!({ "id": "hero" })).await;
    assert_eq!(status, 201);
    let (status, body) = call(&blink, Method::GET, "/api/projects/hero/pipeline", &owner, None).await;
    assert_eq!((status, body.clone()), (200, json!({ "agents": {}, "extraValidators": [] })), "{body}");
    let pipeline = json!({ "extraValidators": [a11y] });
    let (status, body) = send_json(&blink, Method::PUT, "/api/projects/hero/pipeline", &owner, &pipeline).await;
    assert_eq!(status, 200, "{body}");

    // The same chat in the project (both validators) and outside it (the built-in one only).
    let chat = |project: Option<&str>| {
        let mut body = json!({ "messages": [{ "role": "user", "content": "Add a hero" }] });
        if let Some(project) = project {
            body["projectId"] = json!(project);
        }
        body
    };
    let (run_id, events) = orchestrate(&blink, &owner, &chat(Some("hero"))).await;
    let validation = events.iter().find(|e| e["type"] == "validation").unwrap_or_else(|| panic!("{events:#?}"));
    let warnings: Vec<(u64, String)> = validation["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| (w["line"].as_u64().unwrap_or(0), w["message"].as_str().unwrap().to_string()))
        .collect();
    assert!(warnings.iter().any(|(_, m)| m.contains("dangerouslySetInnerHTML")), "built-in finding: {warnings:?}");
    assert!(warnings.iter().any(|(l, m)| *l == 4 && m.contains("<img> has no alt text")), "{warnings:?}");
    assert!(warnings.iter().any(|(l, m)| *l == 5 && m.contains("<button> has no accessible name")), "{warnings:?}");
    assert!(warnings.iter().any(|(l, m)| *l == 6 && m.contains("clickable <div>")), "{warnings:?}");
    let (_, alone) = orchestrate(&blink, &owner, &chat(None)).await;
    let alone = alone.iter().find(|e| e["type"] == "validation").unwrap();
    let alone_warnings = alone["warnings"].as_array().unwrap();
    assert!(alone_warnings.iter().all(|w| !w["message"].as_str().unwrap().contains("alt text")), "{alone}");
    assert_eq!(warnings.len(), alone_warnings.len() + 3, "the chain adds exactly the plugin's three findings");
    assert!(
        validation["confidence_score"].as_u64() <= alone["confidence_score"].as_u64(),
        "the run is as confident as its least confident validator"
    );
    // The result carries the merged warnings too, and the run record names the chained version.
    assert_eq!(events.last().unwrap()["warnings"].as_array().unwrap().len(), warnings.len());
    let record = run_record(&blink, &owner, &run_id).await;
    assert_eq!(record["agents"]["validator+1"], json!(a11y), "{record}");
    let (_, stats) =
        call(&blink, Method::GET, &format!("/api/admin/plugins/validator/{a11y}/stats"), ADMIN, None).await;
    assert_eq!(stats["stats"]["runs"], 1, "{stats}");

    // A version a project chains cannot be deleted from under it.
    let (status, body) =
        call(&blink, Method::DELETE, &format!("/api/admin/plugins/validator/{a11y}"), ADMIN, None).await;
    assert_eq!((status, body["error"].clone()), (409, json!("version_in_use")), "{body}");
    // Only the owner sees or changes the pipeline.
    let mallory = jwt::user_token("mallory");
    let (status, _) = call(&blink, Method::GET, "/api/projects/hero/pipeline", &mallory, None).await;
    assert_eq!(status, 404);
    let (status, _) = send_json(&blink, Method::PUT, "/api/projects/hero/pipeline", &mallory, &json!({})).await;
    assert_eq!(status, 404);
    // Bad pipelines are refused with a reason and change nothing.
    let hostile = store_only(&blink, "validator", std::fs::read(HOSTILE_VALIDATOR).unwrap()).await;
    let over = json!({ "extraValidators": [a11y, hostile] });
    let (_, body) = send_json(&blink, Method::PUT, "/api/projects/hero/pipeline", &owner, &over).await;
    assert!(body["message"].as_str().unwrap_or_default().contains("at most 1"), "{body}");
    let refused = [
        // Two distinct stored validators, one over BLINK_MAX_EXTRA_VALIDATORS=1.
        (json!({ "extraValidators": [a11y, hostile] }), 422, "invalid_pipeline"),
        (json!({ "extraValidators": ["0".repeat(64)] }), 422, "invalid_pipeline"),
        (json!({ "agents": { "painter": "builtin" } }), 422, "invalid_pipeline"),
        (json!({ "extraValidators": [a11y, a11y] }), 422, "invalid_pipeline"),
        (json!({ "extraValidators": ["builtin"] }), 422, "invalid_pipeline"),
        (json!({ "agents": { "planner": a11y } }), 422, "invalid_pipeline"),
        (json!({ "extraValidator": [a11y] }), 400, "invalid_json"),
    ];
    for (bad, code, error) in refused {
        let (status, body) = send_json(&blink, Method::PUT, "/api/projects/hero/pipeline", &owner, &bad).await;
        assert_eq!((status, body["error"].clone()), (code, json!(error)), "{bad}: {body}");
    }
    let (_, body) = call(&blink, Method::GET, "/api/projects/hero/pipeline", &owner, None).await;
    assert_eq!(body["extraValidators"], json!([a11y]));

    // Taken out of the pipeline (the chain limit of 1 holds at its edge), it can go.
    let (status, body) = send_json(&blink, Method::PUT, "/api/projects/hero/pipeline", &owner, &json!({})).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = call(&blink, Method::DELETE, &format!("/api/admin/plugins/validator/{a11y}"), ADMIN, None).await;
    assert_eq!(status, 204);
}

#[tokio::test]
async fn a_project_pins_a_version_and_keeps_it_across_swaps_and_restarts() {
    use reqwest::Method;
    let llm = FakeLlm::start(footer_rules()).await;
    let blink = Blink::start(BIN, &env(&llm, &None)).await;
    let hostile = store_only(&blink, "validator", std::fs::read(HOSTILE_VALIDATOR).unwrap()).await;
    let owner = jwt::user_token("owner");
    send_json(&blink, Method::POST, "/api/projects", &owner, &json!({ "id": "pinned" })).await;
    let pin = json!({ "agents": { "validator": hostile } });
    let (status, body) = send_json(&blink, Method::PUT, "/api/projects/pinned/pipeline", &owner, &pin).await;
    assert_eq!(status, 200, "{body}");
    let score =
        |events: &[Value]| events.iter().find(|e| e["type"] == "validation").unwrap()["confidence_score"].clone();
    let chat =
        |project: &str| json!({ "projectId": project, "messages": [{ "role": "user", "content": "Add a footer" }] });

    // The hostile validator in "ok" mode scores the number of files (2); the built-in scores 100.
    let (_, events) = orchestrate(&blink, &owner, &chat("pinned")).await;
    assert_eq!(score(&events), 2, "the pinned version serves the project");
    let (_, events) = orchestrate(&blink, &owner, &chat("other")).await;
    assert_eq!(score(&events), 100, "other projects follow the active version");
    // A canary of the whole host does not reach a pinned project.
    let (status, _) = send_json(
        &blink,
        Method::PUT,
        "/api/admin/plugins/validator/canary",
        ADMIN,
        &json!({ "version": "builtin", "share": 1.0 }),
    )
    .await;
    assert_eq!(status, 200);
    let (_, events) = orchestrate(&blink, &owner, &chat("pinned")).await;
    assert_eq!(score(&events), 2);

    // The pin and the canary survive a restart.
    let blink = Blink::start_in(BIN, blink.stop().await, &env(&llm, &None)).await;
    let (_, events) = orchestrate(&blink, &owner, &chat("pinned")).await;
    assert_eq!(score(&events), 2);
    let (_, list) = call(&blink, Method::GET, "/api/admin/plugins", ADMIN, None).await;
    assert_eq!(list["validator"]["canary"]["share"], 1.0, "{list}");
    assert_eq!(list["validator"]["canary"]["version"], list["validator"]["builtin"], "{list}");
}

#[tokio::test]
async fn operators_change_an_agents_prompt_without_a_new_component() {
    use reqwest::Method;
    let plan = json!({ "intent": "greeting", "conversational": true, "reply": "Hello!", "steps": [] });
    let pirate = json!({ "intent": "greeting", "conversational": true, "reply": "Ahoy!", "steps": [] });
    // The fake model answers by what the system prompt says, so the reply shows which prompt ran.
    let llm = FakeLlm::start(vec![
        Rule::text(&["thinking out loud"], "Hi."),
        Rule::text(&["Speak like a pirate"], pirate.to_string()),
        Rule::text(&["You plan changes"], plan.to_string()),
    ])
    .await;
    let blink = Blink::start(BIN, &env(&llm, &None)).await;
    let token = jwt::user_token("user-1");
    let chat = json!({ "messages": [{ "role": "user", "content": "hello" }] });
    let reply = |events: Vec<Value>| events.last().unwrap()["reply"].clone();
    assert_eq!(reply(orchestrate(&blink, &token, &chat).await.1), "Hello!");

    let settings = json!({ "system_prompt": "Speak like a pirate. Answer in JSON.", "temperature": 0.4 });
    let (status, body) = send_json(&blink, Method::PUT, "/api/admin/agents/planner/settings", ADMIN, &settings).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["settings"]["temperature"], "0.4");
    assert_eq!(reply(orchestrate(&blink, &token, &chat).await.1), "Ahoy!", "the next run reads the new prompt");

    // Refused: not an admin, a nested value, an oversized prompt, an unknown role.
    let (status, _) = send_json(&blink, Method::PUT, "/api/admin/agents/planner/settings", &token, &settings).await;
    assert_eq!(status, 403);
    let bad = [
        (json!({ "system_prompt": { "nested": true } }), 400),
        (json!({ "system_prompt": "x".repeat(64 * 1024) }), 400),
        (json!({ "bad key!": "x" }), 400),
        (json!(["not", "an", "object"]), 400),
    ];
    for (body, code) in bad {
        let (status, answer) = send_json(&blink, Method::PUT, "/api/admin/agents/planner/settings", ADMIN, &body).await;
        assert_eq!(status, code, "{answer}");
    }
    let (status, _) = send_json(&blink, Method::PUT, "/api/admin/agents/painter/settings", ADMIN, &settings).await;
    assert_eq!(status, 404);

    // Stored: a restart keeps the prompt; an empty object goes back to the default.
    let blink = Blink::start_in(BIN, blink.stop().await, &env(&llm, &None)).await;
    let (_, all) = call(&blink, Method::GET, "/api/admin/agents/settings", ADMIN, None).await;
    assert_eq!(all["planner"]["overrides"]["temperature"], "0.4", "{all}");
    assert_eq!(reply(orchestrate(&blink, &token, &chat).await.1), "Ahoy!");
    send_json(&blink, Method::PUT, "/api/admin/agents/planner/settings", ADMIN, &json!({})).await;
    assert_eq!(reply(orchestrate(&blink, &token, &chat).await.1), "Hello!");
}

/// The Python example (`plugins/py-quality-validator`, built here with componentize-py as its
/// author would build it) chained after the built-in validator: its error drives a fix round, its
/// warnings reach the user.
#[tokio::test]
async fn a_python_validator_chained_after_the_built_in_one_drives_a_fix_round() {
    use reqwest::Method;
    let out = tempfile::tempdir().unwrap();
    let wasm = out.path().join("py_quality_validator.wasm");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../plugins/py-quality-validator/build.sh");
    let built = tokio::process::Command::new("bash").arg(script).arg(&wasm).output().await.unwrap();
    assert!(built.status.success(), "build.sh failed:\n{}", String::from_utf8_lossy(&built.stderr));
    let (ok, said, err) = blink_cli(&["plugin", "check", wasm.to_str().unwrap(), "--role", "validator"]).await;
    assert!(ok && said.starts_with("ok: "), "{said}{err}");

    let plan = json!({ "intent": "a counter", "steps": [
        { "id": 1, "action": "modify", "target": "App", "path": "App.tsx", "description": "A counter" },
    ]});
    let broken = "// TODO: persist the count\nfunction App() {\n  const [count, setCount] = React.useState(0);\n  console.log('render', count);\n  if (count > 99) debugger;\n  return <button onClick={() => setCount(count + 1)}>{count}</button>;\n}\nReactDOM.createRoot(document.getElementById('root')).render(<App />);\n";
    let fixed = broken.replace("  if (count > 99) debugger;\n", "");
    let llm = FakeLlm::start(vec![
        Rule::text(&["thinking out loud"], "A counter."),
        Rule::text(&["You plan changes"], plan.to_string()),
        Rule::text(&["Problems to fix", "debugger"], format!("```tsx\n{fixed}```")),
        Rule::text(&["Your part:\n- modify App.tsx"], format!("```tsx\n{broken}```")),
    ])
    .await;
    let mut env = env(&llm, &None);
    env.push(("BLINK_PLUGIN_MAX_BYTES", (64 * 1024 * 1024).to_string()));
    let blink = Blink::start(BIN, &env).await;
    let python = store_only(&blink, "validator", std::fs::read(&wasm).unwrap()).await;
    let owner = jwt::user_token("owner");
    let pipeline = json!({ "extraValidators": [python] });
    let (status, body) = send_json(&blink, Method::PUT, "/api/projects/counter/pipeline", &owner, &pipeline).await;
    assert_eq!(status, 404, "a project must exist before its pipeline is set: {body}");
    send_json(&blink, Method::POST, "/api/projects", &owner, &json!({ "id": "counter" })).await;
    let (status, body) = send_json(&blink, Method::PUT, "/api/projects/counter/pipeline", &owner, &pipeline).await;
    assert_eq!(status, 200, "{body}");

    let chat = json!({ "projectId": "counter", "messages": [{ "role": "user", "content": "A counter" }] });
    let (_, events) = orchestrate(&blink, &owner, &chat).await;
    let validations: Vec<&Value> = events.iter().filter(|e| e["type"] == "validation").collect();
    assert_eq!(validations.len(), 2, "{events:#?}");
    let first = validations[0];
    assert_eq!(first["errors"][0]["line"], 5, "{first}");
    assert!(first["errors"][0]["message"].as_str().unwrap().contains("`debugger` statement"), "{first}");
    let warned = |v: &Value, what: &str, line: u64| {
        v["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["line"] == line && w["message"].as_str().unwrap().contains(what))
    };
    assert!(warned(first, "TODO comment", 1) && warned(first, "console.log", 4), "{first}");
    assert!(events.iter().any(|e| e["type"] == "phase" && e["phase"] == "fixing"), "{events:#?}");
    let last = validations[1];
    assert_eq!(last["errors"], json!([]), "the fixer removed the chained validator's error: {last}");
    let result = events.last().unwrap();
    assert!(!result["files"][0]["content"].as_str().unwrap().contains("debugger"), "{result}");
}

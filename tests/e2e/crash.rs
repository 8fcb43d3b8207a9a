//! A host that dies (SIGKILL) leaves nothing taken and nothing unexplained: the credits it held
//! for a model call in flight come back once its heartbeat stops, exactly once, and its run is
//! marked interrupted with the events it had sent; through the real binary, on SQLite and with
//! two hosts on one PostgreSQL.

use std::time::Duration;

use blink_test_support::db;
use blink_test_support::fake_llm::{FakeLlm, Rule};
use blink_test_support::host::Blink;
use blink_test_support::{jwt, sse};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_blink");
const STARTING: i64 = 100_000;
/// The planner's call: 4,000 completion tokens at 1,000 micro-credits per 1K.
const CALL_COST: i64 = 4_000;

fn slow_greeting(delay: Duration) -> Rule {
    let plan = json!({ "intent": "greeting", "conversational": true, "reply": "Hello!", "steps": [] });
    Rule::text(&["You plan changes"], plan.to_string()).bill_max_tokens().delay(delay)
}

fn env(llm: &FakeLlm, dir: &tempfile::TempDir, database: Option<&str>) -> Vec<(&'static str, String)> {
    let config = dir.path().join("agents.json");
    std::fs::write(&config, r#"{"planner": {"thinking": "off"}}"#).unwrap();
    let mut env = vec![
        ("BLINK_LLM_BASE_URL", llm.base_url()),
        ("BLINK_STARTING_CREDITS", STARTING.to_string()),
        ("BLINK_PRICING", r#"{"default": {"prompt": 0, "completion": 1000}}"#.to_string()),
        ("BLINK_AGENT_CONFIG", config.display().to_string()),
        ("BLINK_INSTANCE_HEARTBEAT_SECS", "1".to_string()),
        ("BLINK_INSTANCE_EXPIRY_SECS", "2".to_string()),
    ];
    if let Some(url) = database {
        env.push(("DATABASE_URL", url.to_string()));
    }
    env
}

/// An authenticated GET of `path`, as JSON.
async fn get(blink: &Blink, token: &str, path: &str) -> Value {
    reqwest::Client::new()
        .get(format!("{}{path}", blink.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn credits(blink: &Blink, token: &str) -> Value {
    get(blink, token, "/api/credits").await
}

/// Polls `sql` on `url` until it gives `want`.
async fn until(url: &str, sql: &str, want: i64) {
    let mut last = -1;
    for _ in 0..300 {
        last = db::scalar(url, sql).await;
        if last == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{sql} gave {last}, never {want}");
}

async fn ledger_sum(url: &str, user: &str) -> i64 {
    db::scalar(
        url,
        &format!("SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM credit_ledger WHERE user_id = '{user}'"),
    )
    .await
}

async fn run_of(blink: &Blink, token: &str, id: &str) -> Value {
    get(blink, token, &format!("/api/runs/{id}")).await
}

#[tokio::test]
async fn a_killed_hosts_credits_come_back_once_and_its_run_is_interrupted() {
    let llm = FakeLlm::start(vec![slow_greeting(Duration::from_secs(8))]).await;
    let config = tempfile::tempdir().unwrap();
    let env = env(&llm, &config, None);
    let blink = Blink::start(BIN, &env).await;
    let url = format!("sqlite://{}", blink.data_dir.path().join("blink.db").display());
    let token = jwt::user_token("killed-mid-call");
    assert_eq!(credits(&blink, &token).await["balance"], STARTING);
    let chat = json!({ "messages": [{ "role": "user", "content": "hello" }] });
    let response = reqwest::Client::new()
        .post(format!("{}/api/orchestrator", blink.url))
        .bearer_auth(&token)
        .json(&chat)
        .send()
        .await
        .unwrap();
    let run_id = response.headers()["x-blink-run-id"].to_str().unwrap().to_string();
    // What the client receives until the host dies.
    let received = tokio::spawn(async move {
        let mut body = response.bytes_stream();
        let mut text = String::new();
        while let Some(Ok(chunk)) = futures::StreamExt::next(&mut body).await {
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
        text
    });
    until(&url, "SELECT COUNT(*) FROM credit_reservations", 1).await;
    assert_eq!(db::scalar(&url, "SELECT balance FROM users WHERE id = 'killed-mid-call'").await, STARTING - CALL_COST);
    // The run was written when it started, its first events as they were sent.
    until(&url, &format!("SELECT COUNT(*) FROM runs WHERE id = '{run_id}'"), 1).await;
    let dir = blink.stop().await;
    let received = received.await.unwrap();

    let blink = Blink::start_in(BIN, dir, &env).await;
    until(&url, "SELECT COUNT(*) FROM credit_reservations", 0).await;
    let after = credits(&blink, &token).await;
    assert_eq!(after["balance"], STARTING, "{after}");
    assert_eq!(ledger_sum(&url, "killed-mid-call").await, 0, "balance = starting + ledger");
    let returns = db::scalar(&url, "SELECT COUNT(*) FROM credit_ledger WHERE kind = 'return'").await;
    assert_eq!(returns, 1, "returned exactly once");
    // The run is interrupted, and what it stored is a prefix of what its client received.
    let mut run = run_of(&blink, &token, &run_id).await;
    for _ in 0..50 {
        if run["outcome"]["kind"] == "interrupted" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        run = run_of(&blink, &token, &run_id).await;
    }
    assert_eq!(run["outcome"]["kind"], "interrupted", "{run}");
    let sent = sse::received(&received);
    let stored = run["events"].as_array().unwrap();
    assert!(stored.len() <= sent.len(), "stored {stored:?}, sent {sent:?}");
    assert_eq!(stored[..], sent[..stored.len()], "the stored events are a prefix of what the client received");

    // Service goes on: the next run is charged and recorded as usual.
    let llm_fast = FakeLlm::start(vec![slow_greeting(Duration::from_millis(10))]).await;
    let dir = blink.stop().await;
    let blink = Blink::start_in(BIN, dir, &env_with(&env, &llm_fast)).await;
    let (status, text) = blink.post("/api/orchestrator", Some(&token), &chat).await;
    assert_eq!(status, 200);
    assert_eq!(sse::events(&text).last().unwrap()["reply"], "Hello!");
    assert_eq!(credits(&blink, &token).await["balance"], STARTING - CALL_COST);
    assert_eq!(ledger_sum(&url, "killed-mid-call").await, -CALL_COST);
}

/// Starts a chat on `host`; its whole answer, or what came before the host died.
fn chat_on(host: &Blink, token: &str, chat: &Value) -> tokio::task::JoinHandle<String> {
    let (url, token, chat) = (host.url.clone(), token.to_string(), chat.clone());
    tokio::spawn(async move {
        let response =
            reqwest::Client::new().post(format!("{url}/api/orchestrator")).bearer_auth(token).json(&chat).send().await;
        match response {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    })
}

fn env_with(env: &[(&'static str, String)], llm: &FakeLlm) -> Vec<(&'static str, String)> {
    env.iter().map(|(k, v)| if *k == "BLINK_LLM_BASE_URL" { (*k, llm.base_url()) } else { (*k, v.clone()) }).collect()
}

/// Two hosts on one PostgreSQL, each with a call in flight for one user; one is killed. The
/// other returns the dead host's reservation and leaves its own, which it settles when its
/// call ends.
#[tokio::test]
async fn a_live_host_returns_a_dead_hosts_credits_and_keeps_its_own() {
    let database = db::fresh_postgres().await;
    let llm = FakeLlm::start(vec![slow_greeting(Duration::from_secs(6))]).await;
    let config = tempfile::tempdir().unwrap();
    let env = env(&llm, &config, Some(&database));
    let (a, b) = (Blink::start(BIN, &env).await, Blink::start(BIN, &env).await);
    let token = jwt::user_token("two-hosts");
    assert_eq!(credits(&b, &token).await["balance"], STARTING);
    let chat = json!({ "messages": [{ "role": "user", "content": "hello" }] });
    let on = |host: &Blink| chat_on(host, &token, &chat);
    let (run_a, run_b) = (on(&a), on(&b));
    until(&database, "SELECT COUNT(*) FROM credit_reservations", 2).await;
    a.stop().await;
    let _ = run_a.await;
    // A's reservation comes back while B's call is still in flight.
    until(&database, "SELECT COUNT(*) FROM credit_reservations", 1).await;
    assert_eq!(db::scalar(&database, "SELECT balance FROM users WHERE id = 'two-hosts'").await, STARTING - CALL_COST);
    let text = run_b.await.unwrap();
    assert_eq!(sse::events(&text).last().unwrap()["reply"], "Hello!", "{text}");
    until(&database, "SELECT COUNT(*) FROM credit_reservations", 0).await;
    assert_eq!(credits(&b, &token).await["balance"], STARTING - CALL_COST);
    assert_eq!(ledger_sum(&database, "two-hosts").await, -CALL_COST, "balance = starting + ledger");
    assert_eq!(db::scalar(&database, "SELECT COUNT(*) FROM credit_ledger WHERE kind = 'return'").await, 1);
}

/// What a kill mid-upload leaves in the data directory (a half-written component) is gone after
/// a restart; stored versions stay.
#[tokio::test]
async fn a_restart_removes_a_half_written_component_and_keeps_stored_ones() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::write(plugins.join(".deadbeef.4242.tmp"), b"\0asm half").unwrap();
    std::fs::write(plugins.join("cafe.wasm"), b"a stored version").unwrap();
    let blink = Blink::start_in(BIN, dir, &[]).await;
    let plugins = blink.data_dir.path().join("plugins");
    assert!(!plugins.join(".deadbeef.4242.tmp").exists(), "the half-written upload is still there");
    assert_eq!(std::fs::read(plugins.join("cafe.wasm")).unwrap(), b"a stored version");
}

const FRONTEND_SCHEMA: &str = include_str!("../fixtures/supabase-credits.sql");

/// With the frontend's credit tables (`BLINK_CREDITS=supabase`) and two hosts: a killed host's
/// reservation comes back as a `refund` saying why; a host stalled past its heartbeat's expiry
/// (SIGSTOP) has its reservation returned too, and when it wakes and its call ends, the call's
/// cost is taken from the balance instead: never both returned and settled.
#[tokio::test]
async fn in_the_frontends_tables_a_dead_or_stalled_hosts_reservation_is_closed_exactly_once() {
    let database = db::fresh_postgres().await;
    db::execute(&database, FRONTEND_SCHEMA).await;
    let llm = FakeLlm::start(vec![slow_greeting(Duration::from_secs(6))]).await;
    let config = tempfile::tempdir().unwrap();
    let mut env = env(&llm, &config, Some(&database));
    env.push(("BLINK_CREDITS", "supabase".to_string()));
    let user = uuid::Uuid::new_v4().to_string();
    let given = 1_000_000;
    db::execute(&database, &format!("INSERT INTO users_credits (user_id, credits) VALUES ('{user}', 1)")).await;
    let balance = format!("SELECT floor(credits * 1000000)::bigint FROM users_credits WHERE user_id = '{user}'");
    let sum = format!(
        "SELECT COALESCE(round(SUM(amount) * 1000000), 0)::bigint FROM credit_transactions WHERE user_id = '{user}'"
    );
    let token = jwt::user_token(&user);
    let chat = json!({ "messages": [{ "role": "user", "content": "hello" }] });
    let on = |host: &Blink| chat_on(host, &token, &chat);
    let reserved = "SELECT COUNT(*) FROM credit_transactions WHERE metadata->>'phase' = 'reserved'";
    let returned = "SELECT COUNT(*) FROM credit_transactions WHERE metadata->>'phase' = 'returned'";

    // Killed: its reservation comes back, once.
    let (a, b) = (Blink::start(BIN, &env).await, Blink::start(BIN, &env).await);
    let run = on(&a);
    until(&database, reserved, 1).await;
    assert_eq!(db::scalar(&database, &balance).await, given - CALL_COST);
    a.stop().await;
    let _ = run.await;
    until(&database, returned, 1).await;
    assert_eq!(db::scalar(&database, &balance).await, given);
    assert_eq!(db::scalar(&database, &sum).await, 0, "balance = given + transactions");
    let why =
        db::text(&database, "SELECT description FROM credit_transactions WHERE metadata->>'phase' = 'returned'").await;
    assert!(why.contains("its host stopped"), "{why}");

    // Stalled: returned while it sleeps; when it wakes, its call's cost is charged instead.
    let a = Blink::start(BIN, &env).await;
    let run = on(&a);
    until(&database, reserved, 2).await;
    a.pause();
    until(&database, returned, 2).await;
    assert_eq!(db::scalar(&database, &balance).await, given);
    a.resume();
    let text = run.await.unwrap();
    assert_eq!(sse::events(&text).last().unwrap()["reply"], "Hello!", "{text}");
    until(&database, &balance, given - CALL_COST).await;
    assert_eq!(db::scalar(&database, &sum).await, -CALL_COST, "balance = given + transactions");
    // Settled or returned, once each: no reservation is closed by two refunds.
    let twice = "SELECT COUNT(*) FROM (SELECT metadata->>'settles' FROM credit_transactions WHERE type = 'refund' \
                 GROUP BY 1 HAVING COUNT(*) > 1) t";
    assert_eq!(db::scalar(&database, twice).await, 0);
    // The host that woke goes on serving, and the other never took what was its own.
    drop(b);
}

/// What a kill leaves in project folders at any instruction, planted as it would be left, is
/// mended by the next start: a workspace write cut short, repository locks never released, a
/// build swapped halfway, an upload its host never finished.
#[tokio::test]
async fn a_restart_mends_what_a_kill_left_in_project_folders() {
    let blink = Blink::start(BIN, &[("BLINK_INSTANCE_HEARTBEAT_SECS", "1".to_string())]).await;
    let token = jwt::user_token("mended");
    let (status, _) = blink.post("/api/projects", Some(&token), &json!({ "id": "mended" })).await;
    assert_eq!(status, 201);
    let commit = json!({ "projectId": "mended", "message": "first" });
    let (status, body) = blink.post("/api/git/commit", Some(&token), &commit).await;
    assert_eq!(status, 200, "{body}");
    let dir = blink.stop().await;
    let data = dir.path();
    let url = format!("sqlite://{}", data.join("blink.db").display());

    let project = data.join("projects/mended");
    std::fs::write(project.join("app/src/App.tsx.blink-tmp"), "export default half").unwrap();
    let git = project.join("git");
    for lock in ["index.lock", "HEAD.lock", "refs/heads/main.lock"] {
        std::fs::write(git.join(lock), "").unwrap();
    }
    // The swap cut between its renames: the previous build set aside, the new copy beside it.
    let builds = data.join("builds/mended");
    std::fs::create_dir_all(builds.join(".old-1/assets")).unwrap();
    std::fs::write(builds.join(".old-1/index.html"), "<p>previous build</p>").unwrap();
    std::fs::create_dir_all(builds.join(".dist-2")).unwrap();
    std::fs::write(builds.join(".dist-2/index.html"), "<p>half a copy").unwrap();
    db::execute(
        &url,
        "INSERT INTO deploys (id, project_id, files, bytes, created_at, store, state, instance_id) \
         VALUES ('stuck', 'mended', 1, 1, 1, 'local', 'uploading', 'a-host-that-died')",
    )
    .await;

    let blink = Blink::start_in(BIN, dir, &[("BLINK_INSTANCE_HEARTBEAT_SECS", "1".to_string())]).await;
    let data = blink.data_dir.path();
    assert!(!data.join("projects/mended/app/src/App.tsx.blink-tmp").exists(), "the cut-short write stays");
    for lock in ["index.lock", "HEAD.lock", "refs/heads/main.lock"] {
        assert!(!data.join("projects/mended/git").join(lock).exists(), "{lock} stays");
    }
    let build = std::fs::read_to_string(data.join("builds/mended/dist/index.html")).unwrap();
    assert_eq!(build, "<p>previous build</p>", "the whole previous build is back");
    let names: Vec<_> =
        std::fs::read_dir(data.join("builds/mended")).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(names, ["dist"], "the copy and the set-aside build are gone");
    until(&url, "SELECT COUNT(*) FROM deploys WHERE id = 'stuck' AND state = 'failed'", 1).await;
    // The repository commits again, and git finds it whole.
    std::fs::write(data.join("projects/mended/app/src/App.tsx"), "export default function App() { return null }\n")
        .unwrap();
    let commit = json!({ "projectId": "mended", "message": "after the kill" });
    let (status, body) = blink.post("/api/git/commit", Some(&token), &commit).await;
    assert_eq!(status, 200, "{body}\n{}", blink.log());
    let fsck = std::process::Command::new("git")
        .args(["--git-dir", &data.join("projects/mended/git").display().to_string(), "fsck", "--strict"])
        .output()
        .unwrap();
    assert!(fsck.status.success(), "{}", String::from_utf8_lossy(&fsck.stderr));
}

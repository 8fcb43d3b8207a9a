//! Several hosts on one PostgreSQL, as an operator runs them behind a load balancer: a version
//! uploaded on one host is loaded by the others from the database, and a swap, a canary, a
//! settings change or a rollback made on any host is what every host serves for new runs. A
//! change that reached a host without its notice is read by the periodic reconcile.

use std::time::{Duration, Instant};

use blink_test_support::fake_llm::{FakeLlm, footer_rules};
use blink_test_support::host::Blink;
use blink_test_support::{HOSTILE_VALIDATOR, db, jwt, sse};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_blink");
const ADMIN: &str = "cluster-operator";
const MARK: &str = "CLUSTER-PROMPT-MARK";

async fn start(llm: &FakeLlm, database: &str, reconcile_secs: u64) -> Blink {
    Blink::start(
        BIN,
        &[
            ("DATABASE_URL", database.to_string()),
            ("BLINK_LLM_BASE_URL", llm.base_url()),
            ("BLINK_ADMIN_TOKEN", ADMIN.into()),
            ("BLINK_PLUGIN_MAX_BYTES", (8 * 1024 * 1024).to_string()),
            ("BLINK_RECONCILE_SECS", reconcile_secs.to_string()),
        ],
    )
    .await
}

async fn admin(host: &Blink, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
    let mut request = reqwest::Client::new().request(method, format!("{}{path}", host.url)).bearer_auth(ADMIN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{path}: {status} {body}\n{}", host.log());
    body
}

/// The validator version that served a run made on `host` now.
async fn served_by(host: &Blink) -> String {
    let (status, text) = host
        .post(
            "/api/orchestrator",
            Some(&jwt::user_token("user-1")),
            &json!({ "messages": [{ "role": "user", "content": "Add a footer" }] }),
        )
        .await;
    assert_eq!(status, 200, "{text}\n{}", host.log());
    assert!(sse::events(&text).iter().any(|e| e["type"] == "result"), "{text}");
    let runs = admin(host, reqwest::Method::GET, "/api/admin/runs?limit=1", None).await;
    runs["runs"][0]["agents"]["validator"].as_str().unwrap().to_string()
}

/// Waits until `host` lists `check` as true of its validator, and says how long that took.
async fn until(host: &Blink, what: &str, check: impl Fn(&Value) -> bool) -> Duration {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        let list = admin(host, reqwest::Method::GET, "/api/admin/plugins", None).await;
        if check(&list["validator"]) {
            return started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{} never got to {what}\n{}", host.url, host.log());
}

#[tokio::test]
async fn a_change_on_one_host_is_what_every_host_serves() {
    use reqwest::Method;
    let llm = FakeLlm::start(footer_rules()).await;
    let database = db::fresh_postgres().await;
    // No periodic reconcile to speak of: here, only the notices carry the changes.
    let a = start(&llm, &database, 3600).await;
    let b = start(&llm, &database, 3600).await;
    let c = start(&llm, &database, 3600).await;
    let hosts = [&a, &b, &c];
    let builtin = served_by(&c).await;

    // Uploaded and activated on A; C, which never saw the bytes, loads them from the database.
    let bytes = std::fs::read(HOSTILE_VALIDATOR).unwrap();
    let response = reqwest::Client::new()
        .post(format!("{}/api/admin/plugins/validator", a.url))
        .bearer_auth(ADMIN)
        .body(bytes)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let version = response.json::<Value>().await.unwrap()["version"]["version"].as_str().unwrap().to_string();
    let local = |host: &Blink| host.data_dir.path().join("plugins").join(format!("{version}.wasm"));
    assert!(!local(&c).exists());
    for host in [&b, &c] {
        let took = until(host, "the new version", |v| v["active"] == version.as_str()).await;
        println!("swap on A reached {} in {took:?}", host.url);
    }
    assert_eq!(served_by(&c).await, version, "the next run on C is served by the version A swapped in");
    assert!(local(&c).exists(), "C keeps a copy of the bytes it fetched");

    // A canary set on B holds on every host: each serves both versions.
    admin(&b, Method::POST, "/api/admin/plugins/validator/builtin/activate", None).await;
    admin(&b, Method::PUT, "/api/admin/plugins/validator/canary", Some(json!({ "version": version, "share": 0.5 })))
        .await;
    for host in hosts {
        until(host, "the canary", |v| v["active"] == builtin.as_str() && v["canary"]["share"] == 0.5).await;
    }
    for host in hosts {
        let mut served = std::collections::BTreeMap::<String, u32>::new();
        for _ in 0..16 {
            *served.entry(served_by(host).await).or_default() += 1;
        }
        assert_eq!(served.len(), 2, "{} served both versions: {served:?}", host.url);
    }

    // Settings changed on C reach the planner's model request of a run on A.
    let settings = admin(&a, Method::GET, "/api/admin/agents/settings", None).await;
    let prompt = settings["planner"]["builtin"]["system_prompt"].as_str().unwrap().to_string();
    admin(
        &c,
        Method::PUT,
        "/api/admin/agents/planner/settings",
        Some(json!({ "system_prompt": format!("{MARK}\n{prompt}") })),
    )
    .await;
    let started = Instant::now();
    loop {
        let seen = admin(&a, Method::GET, "/api/admin/agents/settings", None).await;
        if seen["planner"]["settings"]["system_prompt"].as_str().is_some_and(|p| p.starts_with(MARK)) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "A never read C's settings");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    served_by(&a).await;
    let planned = llm.received().into_iter().rev().find(|r| r.text().contains("You plan changes")).unwrap();
    assert!(planned.text().contains(MARK), "the run on A used the prompt set on C");

    // The canary ended on A, the version activated on B, rolled back on C: all serve the built-in.
    admin(&a, Method::PUT, "/api/admin/plugins/validator/canary", Some(json!({ "version": version, "share": 0 })))
        .await;
    admin(&b, Method::POST, &format!("/api/admin/plugins/validator/{version}/activate"), None).await;
    for host in hosts {
        until(host, "the version, canary ended", |v| v["active"] == version.as_str() && v["canary"].is_null()).await;
    }
    admin(&c, Method::POST, "/api/admin/plugins/validator/rollback", None).await;
    for host in hosts {
        until(host, "the rollback", |v| v["active"] == builtin.as_str()).await;
        assert_eq!(served_by(host).await, builtin);
    }

    // A change no notice announced (written straight into the database) is read by a host's
    // periodic reconcile.
    let d = start(&llm, &database, 1).await;
    db::execute(
        &database,
        &format!("UPDATE plugin_active SET version = '{version}' WHERE role = 'validator'; \
                  INSERT INTO plugin_active (role, version, previous, changed_at) \
                  SELECT 'validator', '{version}', NULL, 0 WHERE NOT EXISTS (SELECT 1 FROM plugin_active WHERE role = 'validator')"),
    )
    .await;
    let took = until(&d, "the unannounced change", |v| v["active"] == version.as_str()).await;
    println!("an unannounced change reached D by its reconcile in {took:?}");
    assert_eq!(served_by(&d).await, version);
}

#[tokio::test]
async fn one_project_takes_turns_across_hosts_and_loses_nothing() {
    let llm = FakeLlm::start(footer_rules()).await;
    let database = db::fresh_postgres().await;
    // One volume for every host's projects and builds, as a shared mount would be.
    let shared = tempfile::tempdir().unwrap();
    let (projects, builds) = (shared.path().join("projects"), shared.path().join("builds"));
    let mut hosts = Vec::new();
    for _ in 0..3 {
        hosts.push(
            Blink::start(
                BIN,
                &[
                    ("DATABASE_URL", database.clone()),
                    ("BLINK_LLM_BASE_URL", llm.base_url()),
                    ("BLINK_PROJECTS_DIR", projects.display().to_string()),
                    ("BLINK_BUILDS_DIR", builds.display().to_string()),
                ],
            )
            .await,
        );
    }
    let user = jwt::user_token("user-1");
    let (status, _) = hosts[0].post("/api/projects", Some(&user), &json!({ "id": "shared" })).await;
    assert_eq!(status, 201);
    // A run through host B writes the project's files where every host sees them.
    let body = json!({ "messages": [{ "role": "user", "content": "Add a footer" }], "projectId": "shared" });
    let (status, text) = hosts[1].post("/api/orchestrator", Some(&user), &body).await;
    assert_eq!(status, 200, "{text}");
    let app = projects.join("shared").join("app");
    assert!(app.join("src").join("Footer.tsx").exists(), "the run's files are in the shared folder");

    // Twelve edits, each committed at once through a different host, all concurrently: the
    // project's turn is taken across hosts, so every commit sees a whole repository.
    let mut commits = Vec::new();
    for i in 0..12 {
        let (url, user, app) = (hosts[i % 3].url.clone(), user.clone(), app.clone());
        commits.push(tokio::spawn(async move {
            std::fs::write(app.join("src").join(format!("Note{i}.tsx")), format!("export const note = {i};\n"))
                .unwrap();
            let response = reqwest::Client::new()
                .post(format!("{url}/api/git/commit"))
                .bearer_auth(&user)
                .json(&json!({ "projectId": "shared", "message": format!("note {i}") }))
                .send()
                .await
                .unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }));
    }
    let mut committed = 0;
    for commit in commits {
        let (status, body) = commit.await.unwrap();
        match status {
            200 => committed += 1,
            // Another host's commit took this edit with its own: nothing to commit is an answer.
            409 => assert!(body.contains("nothing_to_commit"), "{body}"),
            _ => panic!("a commit failed while others ran on other hosts: {status} {body}"),
        }
    }
    assert!(committed >= 1);
    // Nothing was lost: every edit is in history, the last host to look finds nothing left over.
    let (status, body) = hosts[2]
        .post("/api/git/commit", Some(&user), &json!({ "projectId": "shared", "message": "anything left?" }))
        .await;
    assert_eq!(status, 409, "every edit was committed: {body}");
    let log: Value = reqwest::Client::new()
        .get(format!("{}/api/projects/shared/git/log?limit=100", hosts[0].url))
        .bearer_auth(&user)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(log["commits"].as_array().unwrap().len(), committed, "{log}");
}

//! Users and projects through the real binary, on the embedded SQLite and on a real PostgreSQL:
//! accounts appear on first sight, a project belongs to its creator, and nobody else can see,
//! use or delete it.

use blink_test_support::db;
use blink_test_support::host::Blink;
use blink_test_support::jwt;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_blink");

async fn start(database: &Option<String>) -> Blink {
    let env: Vec<(&str, String)> = database.iter().map(|url| ("DATABASE_URL", url.clone())).collect();
    Blink::start(BIN, &env).await
}

/// The URL the test reads the host's database with.
fn url_of(blink: &Blink, database: &Option<String>) -> String {
    database.clone().unwrap_or_else(|| format!("sqlite://{}", blink.data_dir.path().join("blink.db").display()))
}

async fn request(blink: &Blink, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let client = reqwest::Client::new();
    let url = format!("{}{path}", blink.url);
    let mut req = match method {
        "GET" => client.get(url),
        "DELETE" => client.delete(url),
        _ => client.post(url),
    }
    .bearer_auth(token);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let response = req.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn projects_belong_to_their_creator_on_both_databases() {
    for (backend, database) in db::backends().await {
        let blink = start(&database).await;
        let (alice, bob) = (jwt::user_token("alice"), jwt::user_token("bob"));
        let id = "3f1c2a9e-0d7b-4c1e-9a55-2b8f6f0c1d2e";

        let (status, project) =
            request(&blink, "POST", "/api/projects", &alice, Some(json!({ "id": id, "name": "Shop" }))).await;
        assert_eq!(status, 201, "{backend}: {project}");
        assert_eq!(project["id"], id);
        assert_eq!(project["name"], "Shop");
        let (status, again) =
            request(&blink, "POST", "/api/projects", &alice, Some(json!({ "id": id, "name": "Other" }))).await;
        assert_eq!(
            (status, again["name"].clone()),
            (200, json!("Shop")),
            "{backend}: creating twice returns the project"
        );
        let (status, generated) = request(&blink, "POST", "/api/projects", &alice, None).await;
        assert_eq!(status, 201, "{backend}");
        assert_eq!(generated["id"].as_str().unwrap().len(), 36, "{backend}: a uuid is generated");

        let (_, list) = request(&blink, "GET", "/api/projects", &alice, None).await;
        assert_eq!(list.as_array().unwrap().len(), 2, "{backend}: {list}");

        // Bob sees none of it, and every route that takes Alice's id answers 404.
        let (_, list) = request(&blink, "GET", "/api/projects", &bob, None).await;
        assert_eq!(list, json!([]), "{backend}");
        let (status, body) = request(&blink, "DELETE", &format!("/api/projects/{id}"), &bob, None).await;
        assert_eq!((status, body["error"].clone()), (404, json!("not_found")), "{backend}");
        let (status, body) = request(&blink, "POST", "/api/projects", &bob, Some(json!({ "id": id }))).await;
        assert_eq!((status, body["error"].clone()), (404, json!("not_found")), "{backend}");
        let chat = json!({ "messages": [{ "role": "user", "content": "hi" }], "projectId": id });
        let (status, body) = request(&blink, "POST", "/api/orchestrator", &bob, Some(chat.clone())).await;
        assert_eq!((status, body["error"].clone()), (404, json!("not_found")), "{backend}");

        // A projectId never seen before is created for its caller on first use.
        let fresh = json!({ "messages": [{ "role": "user", "content": "hi" }], "projectId": "bobs-first-project" });
        let (status, _) = request(&blink, "POST", "/api/orchestrator", &bob, Some(fresh)).await;
        assert_eq!(status, 200, "{backend}");
        let (_, list) = request(&blink, "GET", "/api/projects", &bob, None).await;
        assert_eq!(list[0]["id"], "bobs-first-project", "{backend}");

        let (status, body) = request(&blink, "POST", "/api/projects", &alice, Some(json!({ "id": "../etc" }))).await;
        assert_eq!((status, body["error"].clone()), (400, json!("invalid_project_id")), "{backend}");

        let (status, _) = request(&blink, "DELETE", &format!("/api/projects/{id}"), &alice, None).await;
        assert_eq!(status, 204, "{backend}");
        let (status, _) = request(&blink, "DELETE", &format!("/api/projects/{id}"), &alice, None).await;
        assert_eq!(status, 404, "{backend}: deleting twice");

        let url = url_of(&blink, &database);
        assert_eq!(db::scalar(&url, "SELECT COUNT(*) FROM users").await, 2, "{backend}: one account per user");
        let balance = db::scalar(&url, "SELECT balance FROM users WHERE id = 'alice'").await;
        assert_eq!(balance, 10_000_000, "{backend}: the starting balance");
    }
}

#[tokio::test]
async fn blink_migrate_prepares_a_database_and_is_idempotent() {
    for (backend, database) in db::backends().await {
        let dir = tempfile::tempdir().unwrap();
        for _ in 0..2 {
            let mut command = std::process::Command::new(BIN);
            command.arg("migrate").env_clear().env("BLINK_DATA_DIR", dir.path());
            if let Some(url) = &database {
                command.env("DATABASE_URL", url);
            }
            let output = command.output().unwrap();
            assert!(output.status.success(), "{backend}: {}", String::from_utf8_lossy(&output.stderr));
            assert!(String::from_utf8_lossy(&output.stdout).contains("database is up to date"));
        }
        let url = database.clone().unwrap_or_else(|| format!("sqlite://{}", dir.path().join("blink.db").display()));
        assert_eq!(db::scalar(&url, "SELECT COUNT(*) FROM projects").await, 0, "{backend}");
    }
}

#[tokio::test]
async fn an_unreachable_database_stops_the_host_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(BIN)
        .args(["migrate"])
        .env_clear()
        .env("BLINK_DATA_DIR", dir.path())
        .env("DATABASE_URL", "postgres://nobody:secret@127.0.0.1:1/none")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("connecting to the database at postgres://nobody:***@127.0.0.1:1/none"), "{stderr}");
    assert!(!stderr.contains("secret"), "the password leaked: {stderr}");
}

mod credits {
    use super::*;
    use blink_test_support::fake_llm::{FakeLlm, Rule};
    use blink_test_support::sse;

    /// Each run is one model call (no thinking stream; the plan is a greeting with its reply)
    /// that costs exactly what it reserves: 4,000 completion tokens at 1,000 micro-credits per 1K.
    const CALL_COST: i64 = 4_000;

    async fn metered_host(llm: &FakeLlm, database: &Option<String>, starting: i64, dir: &tempfile::TempDir) -> Blink {
        let config = dir.path().join("agents.json");
        std::fs::write(&config, r#"{"planner": {"thinking": "off"}}"#).unwrap();
        let mut env = vec![
            ("BLINK_LLM_BASE_URL", llm.base_url()),
            ("BLINK_STARTING_CREDITS", starting.to_string()),
            ("BLINK_PRICING", r#"{"default": {"prompt": 0, "completion": 1000}}"#.to_string()),
            ("BLINK_AGENT_CONFIG", config.display().to_string()),
            ("BLINK_ADMIN_TOKEN", "operator-secret".to_string()),
        ];
        if let Some(url) = database {
            env.push(("DATABASE_URL", url.clone()));
        }
        Blink::start(BIN, &env).await
    }

    fn greeting() -> Rule {
        let plan = json!({ "intent": "greeting", "conversational": true, "reply": "Hello!", "steps": [] });
        Rule::text(&["You plan changes"], plan.to_string())
            .bill_max_tokens()
            .delay(std::time::Duration::from_millis(50))
    }

    #[tokio::test]
    async fn concurrency_cannot_spend_credits_a_user_does_not_have() {
        const AFFORDABLE: i64 = 5;
        const ATTEMPTS: usize = 24;
        for (backend, database) in db::backends().await {
            let llm = FakeLlm::start(vec![greeting()]).await;
            let dir = tempfile::tempdir().unwrap();
            let blink = metered_host(&llm, &database, AFFORDABLE * CALL_COST, &dir).await;
            let token = jwt::user_token("carol");
            let chat = json!({ "messages": [{ "role": "user", "content": "hello" }] });
            let results =
                futures::future::join_all((0..ATTEMPTS).map(|_| blink.post("/api/orchestrator", Some(&token), &chat)))
                    .await;

            let mut answered = 0;
            let mut refused = 0;
            for (status, body) in &results {
                match status {
                    200 => {
                        let events = sse::events(body);
                        let last = events.last().unwrap();
                        if last["reply"] == "Hello!" {
                            answered += 1;
                        } else {
                            let error = events.iter().find(|e| e["type"] == "error").unwrap();
                            assert_eq!(error["code"], "insufficient_credits", "{backend}: {events:?}");
                            refused += 1;
                        }
                    }
                    402 => {
                        assert_eq!(body, r#"{"error":"no_credits","message":"Credits exhausted."}"#);
                        refused += 1;
                    }
                    other => panic!("{backend}: unexpected {other}: {body}"),
                }
            }
            assert_eq!(answered, AFFORDABLE, "{backend}: exactly the affordable runs are answered");
            assert_eq!(refused, ATTEMPTS as i64 - AFFORDABLE, "{backend}");
            assert_eq!(llm.received().len() as i64, AFFORDABLE, "{backend}: exactly N calls reached the model");

            let (status, credits) = request(&blink, "GET", "/api/credits", &token, None).await;
            assert_eq!(status, 200);
            assert_eq!(credits["balance"], 0, "{backend}: {credits}");
            let url = url_of(&blink, &database);
            let ledger = db::scalar(
                &url,
                "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM credit_ledger WHERE user_id = 'carol'",
            )
            .await;
            assert_eq!(ledger, -AFFORDABLE * CALL_COST, "{backend}: the ledger sums to the balance change");
            assert_eq!(db::scalar(&url, "SELECT balance FROM users WHERE id = 'carol'").await, 0);

            // After a grant, the user can work again.
            let grant = json!({ "userId": "carol", "amount": CALL_COST, "reason": "support ticket 42" });
            let (status, body) =
                request(&blink, "POST", "/api/admin/credits", "operator-secret", Some(grant.clone())).await;
            assert_eq!((status, body["balance"].clone()), (200, json!(CALL_COST)), "{backend}: {body}");
            let (status, body) = request(&blink, "POST", "/api/admin/credits", &token, Some(grant)).await;
            assert_eq!((status, body["error"].clone()), (403, json!("forbidden")), "{backend}: users cannot grant");
            let (status, text) = blink.post("/api/orchestrator", Some(&token), &chat).await;
            assert_eq!(status, 200);
            assert_eq!(sse::events(&text).last().unwrap()["reply"], "Hello!", "{backend}");
            let (_, credits) = request(&blink, "GET", "/api/credits", &token, None).await;
            assert_eq!(credits["balance"], 0, "{backend}");
            let kinds: Vec<&str> =
                credits["recent"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
            assert!(
                kinds.contains(&"grant") && kinds.contains(&"reserve") && kinds.contains(&"settle"),
                "{backend}: {kinds:?}"
            );
        }
    }

    /// A balance that cannot pay for a call's longest answer still pays for a shorter one: the
    /// call's answer is capped at what the balance covers (never below it), down to
    /// `BLINK_CREDITS_MIN_ANSWER_TOKENS`, which is held at its edge.
    #[tokio::test]
    async fn the_last_credits_pay_for_a_shorter_answer_down_to_the_useful_minimum() {
        const LEFT: i64 = CALL_COST - 1_000;
        for (backend, database) in db::backends().await {
            for (minimum, served) in [(None, true), (Some(LEFT), true), (Some(LEFT + 1), false)] {
                let llm = FakeLlm::start(vec![greeting()]).await;
                let dir = tempfile::tempdir().unwrap();
                let mut env = vec![
                    ("BLINK_LLM_BASE_URL", llm.base_url()),
                    ("BLINK_STARTING_CREDITS", LEFT.to_string()),
                    ("BLINK_PRICING", r#"{"default": {"prompt": 0, "completion": 1000}}"#.to_string()),
                    ("BLINK_AGENT_CONFIG", {
                        let config = dir.path().join("agents.json");
                        std::fs::write(&config, r#"{"planner": {"thinking": "off"}}"#).unwrap();
                        config.display().to_string()
                    }),
                ];
                if let Some(minimum) = minimum {
                    env.push(("BLINK_CREDITS_MIN_ANSWER_TOKENS", minimum.to_string()));
                }
                if let Some(url) = &database {
                    env.push(("DATABASE_URL", url.clone()));
                }
                let blink = Blink::start(BIN, &env).await;
                let user = format!("last-{}", uuid::Uuid::new_v4());
                let token = jwt::user_token(&user);
                let chat = json!({ "messages": [{ "role": "user", "content": "hello" }] });
                let (status, text) = blink.post("/api/orchestrator", Some(&token), &chat).await;
                assert_eq!(status, 200, "{backend}: {text}");
                let events = sse::events(&text);
                let (_, credits) = request(&blink, "GET", "/api/credits", &token, None).await;
                if served {
                    assert_eq!(events.last().unwrap()["reply"], "Hello!", "{backend} {minimum:?}: {events:?}");
                    let asked = &llm.received()[0].body["max_tokens"];
                    assert_eq!(asked, &json!(LEFT), "{backend}: the answer was capped at what the balance pays for");
                    assert_eq!(credits["balance"], 0, "{backend}: {credits}");
                } else {
                    let error = events.iter().find(|e| e["type"] == "error").unwrap();
                    assert_eq!(error["code"], "insufficient_credits", "{backend} {minimum:?}: {events:?}");
                    assert!(llm.received().is_empty(), "{backend}: no call below the useful minimum");
                    assert_eq!(credits["balance"], LEFT, "{backend}: {credits}");
                }
            }
        }
    }

    #[tokio::test]
    async fn an_admin_jwt_can_grant_and_a_failed_call_costs_nothing() {
        for (backend, database) in db::backends().await {
            let llm = FakeLlm::start(vec![Rule::status(&[], 503, "down")]).await;
            let dir = tempfile::tempdir().unwrap();
            let blink = metered_host(&llm, &database, CALL_COST, &dir).await;
            let mut claims = jwt::claims("root");
            claims["app_metadata"] = json!({ "role": "admin" });
            let admin = jwt::hs256(&claims, jwt::SECRET);
            let (status, body) =
                request(&blink, "POST", "/api/admin/credits", &admin, Some(json!({ "userId": "erin", "amount": 7 })))
                    .await;
            // Granted before her first visit: the starting credits that visit would have given, too.
            assert_eq!((status, body["balance"].clone()), (200, json!(CALL_COST + 7)), "{backend}: {body}");
            let (status, body) =
                request(&blink, "POST", "/api/admin/credits", &admin, Some(json!({ "userId": "erin", "amount": 0 })))
                    .await;
            assert_eq!((status, body["error"].clone()), (400, json!("invalid_amount")), "{backend}");
            // A withdrawal beyond the balance takes what is there, and the ledger says what it took.
            let withdraw = json!({ "userId": "erin", "amount": -1_000_000_000 });
            let (status, body) = request(&blink, "POST", "/api/admin/credits", &admin, Some(withdraw)).await;
            assert_eq!((status, body["balance"].clone()), (200, json!(0)), "{backend}: {body}");
            let (_, usage) = request(&blink, "GET", "/api/admin/usage?userId=erin", &admin, None).await;
            let ledger: i64 = usage["ledger"].as_array().unwrap().iter().map(|e| e["amount"].as_i64().unwrap()).sum();
            assert_eq!(ledger, -CALL_COST, "{backend}: balance = starting + ledger: {usage}");

            // The model is down: the call fails, its reservation comes back.
            let token = jwt::user_token("frank");
            let (status, text) = blink
                .post("/api/orchestrator", Some(&token), &json!({ "messages": [{ "role": "user", "content": "hi" }] }))
                .await;
            assert_eq!(status, 200);
            let events = sse::events(&text);
            assert_eq!(events.iter().find(|e| e["type"] == "error").unwrap()["code"], "llm_unavailable");
            let (_, credits) = request(&blink, "GET", "/api/credits", &token, None).await;
            assert_eq!(credits["balance"], CALL_COST, "{backend}: {credits}");
        }
    }
}

#[tokio::test]
async fn a_run_is_recorded_with_the_events_its_client_received() {
    use blink_test_support::fake_llm::{FakeLlm, Rule};
    use blink_test_support::sse;
    for (backend, database) in db::backends().await {
        let plan = json!({ "intent": "question", "conversational": true, "steps": [] });
        let llm = FakeLlm::start(vec![
            Rule::text(&["thinking out loud"], "A question about state."),
            Rule::text(&["You plan changes"], plan.to_string()),
            Rule::text(&["Answer the user's last message"], "Use the useState hook to keep state."),
        ])
        .await;
        let mut env = vec![("BLINK_LLM_BASE_URL", llm.base_url())];
        if let Some(url) = &database {
            env.push(("DATABASE_URL", url.clone()));
        }
        let blink = Blink::start(BIN, &env).await;
        let token = jwt::user_token("gina");
        let response = reqwest::Client::new()
            .post(format!("{}/api/orchestrator", blink.url))
            .bearer_auth(&token)
            .json(&json!({ "messages": [{ "role": "user", "content": "How do I keep state?" }], "projectId": "gina-app" }))
            .send()
            .await
            .unwrap();
        let run_id = response.headers()["x-blink-run-id"].to_str().unwrap().to_string();
        let received = sse::events(&response.text().await.unwrap());

        // The record is written as the stream ends; give it a moment.
        let mut run = Value::Null;
        for _ in 0..50 {
            let (status, body) = request(&blink, "GET", &format!("/api/runs/{run_id}"), &token, None).await;
            if status == 200 {
                run = body;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(run["events"], Value::Array(received.clone()), "{backend}: stored events differ from the stream");
        assert_eq!(run["outcome"]["kind"], "conversational", "{backend}");
        assert_eq!(run["projectId"], "gina-app");
        assert_eq!(run["request"]["lastMessage"], "How do I keep state?");
        assert_eq!(run["usage"]["modelCalls"], 3, "{backend}");
        assert!(run["usage"]["promptTokens"].as_i64().unwrap() > 0);
        for role in ["planner", "generator", "validator", "fixer"] {
            assert_eq!(run["agents"][role].as_str().map(str::len), Some(64), "{backend}: {role} version");
        }
        let (status, _) = request(&blink, "GET", &format!("/api/runs/{run_id}"), &jwt::user_token("henry"), None).await;
        assert_eq!(status, 404, "{backend}: another user cannot read the run");
    }
}

#[tokio::test]
async fn a_database_outage_gives_clean_errors_and_service_comes_back() {
    use blink_test_support::fake_llm::{FakeLlm, Rule};
    use blink_test_support::sse;
    let pg = db::PrivatePostgres::start();
    let plan = json!({ "intent": "question", "conversational": true, "steps": [] });
    let llm = FakeLlm::start(vec![
        Rule::text(&["thinking out loud"], "Thinking."),
        Rule::text(&["You plan changes"], plan.to_string()).delay(std::time::Duration::from_millis(1500)),
        Rule::text(&["Answer the user's last message"], "An answer."),
    ])
    .await;
    let blink = Blink::start(BIN, &[("DATABASE_URL", pg.url()), ("BLINK_LLM_BASE_URL", llm.base_url())]).await;
    let token = jwt::user_token("ivy");
    assert_eq!(request(&blink, "GET", "/api/projects", &token, None).await.0, 200);

    // The database goes away while a run is in flight: the run ends cleanly.
    let chat = json!({ "messages": [{ "role": "user", "content": "What is JSX?" }] });
    let in_flight = blink.post("/api/orchestrator", Some(&token), &chat);
    let outage = async {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        pg.stop();
    };
    let ((status, text), ()) = tokio::join!(in_flight, outage);
    assert_eq!(status, 200);
    let events = sse::events(&text);
    let error = events.iter().find(|e| e["type"] == "error").expect("the run reports the outage");
    assert_eq!(error["code"], "database_unavailable", "{error}");
    assert!(error["message"].as_str().unwrap().contains("credits"), "{error}");

    // While it is down: 503 with a clear body, and the host stays up.
    let (status, body) = request(&blink, "GET", "/api/projects", &token, None).await;
    assert_eq!((status, body["error"].clone()), (503, json!("unavailable")), "{body}");
    let (status, body) = request(&blink, "POST", "/api/orchestrator", &token, Some(chat.clone())).await;
    assert_eq!((status, body["error"].clone()), (503, json!("unavailable")), "{body}");

    // Back up: normal service, without a restart of the host.
    pg.resume();
    let mut status = 0;
    for _ in 0..40 {
        status = request(&blink, "GET", "/api/projects", &token, None).await.0;
        if status == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert_eq!(status, 200, "the host did not recover:\n{}", blink.log());
    let (status, text) = blink.post("/api/orchestrator", Some(&token), &chat).await;
    assert_eq!(status, 200);
    assert_eq!(sse::events(&text).last().unwrap()["reply"], "An answer.");
}

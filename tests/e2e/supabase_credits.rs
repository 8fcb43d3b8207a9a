//! `BLINK_CREDITS=supabase`: the host charges the balance today's frontend shows and sells, in
//! its own tables (`users_credits`, `credit_transactions`, created here from its migrations on a
//! real PostgreSQL), with the guarantees of the host's own store.

use blink_test_support::db;
use blink_test_support::fake_llm::{FakeLlm, Rule};
use blink_test_support::host::Blink;
use blink_test_support::{jwt, sse};
use serde_json::{Value, json};
use sqlx::Connection;

const BIN: &str = env!("CARGO_BIN_EXE_blink");
const SCHEMA: &str = include_str!("../fixtures/supabase-credits.sql");

/// A fresh database with the frontend's credit schema; returns its URL.
async fn frontend_database() -> String {
    let url = db::fresh_postgres().await;
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::raw_sql(SCHEMA).execute(&mut conn).await.unwrap();
    url
}

async fn sql(url: &str, query: &str) -> Value {
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    let text: Option<String> =
        sqlx::query_scalar(&format!("SELECT ({query})::text")).fetch_one(&mut conn).await.unwrap();
    text.map_or(Value::Null, Value::String)
}

fn greeting() -> Rule {
    let plan = json!({ "intent": "greeting", "conversational": true, "reply": "Hello!", "steps": [] });
    Rule::text(&["You plan changes"], plan.to_string()).bill_max_tokens().delay(std::time::Duration::from_millis(50))
}

async fn host(url: &str, llm: &FakeLlm, dir: &tempfile::TempDir) -> Blink {
    let config = dir.path().join("agents.json");
    std::fs::write(&config, r#"{"planner": {"thinking": "off"}}"#).unwrap();
    Blink::start(
        BIN,
        &[
            ("BLINK_LLM_BASE_URL", llm.base_url()),
            ("BLINK_CREDITS", "supabase".into()),
            ("DATABASE_URL", url.to_string()),
            ("BLINK_PRICING", r#"{"default": {"prompt": 0, "completion": 1000}}"#.into()),
            ("BLINK_AGENT_CONFIG", config.display().to_string()),
            ("BLINK_ADMIN_TOKEN", "operator-secret".into()),
        ],
    )
    .await
}

/// The frontend's invariant: the balance is what the user was given plus every transaction.
async fn balance_matches_transactions(url: &str, user: &str, given: &str) {
    let check = format!(
        "(SELECT credits FROM users_credits WHERE user_id = '{user}') = {given} + \
         (SELECT COALESCE(SUM(amount), 0) FROM credit_transactions WHERE user_id = '{user}')"
    );
    assert_eq!(sql(url, &check).await, json!("true"), "balance ≠ given + transactions");
}

async fn chat(blink: &Blink, token: &str) -> (u16, Vec<Value>) {
    let body = json!({ "messages": [{ "role": "user", "content": "hello" }] });
    let (status, text) = blink.post("/api/orchestrator", Some(token), &body).await;
    (status, if status == 200 { sse::events(&text) } else { vec![json!({ "status": status, "body": text })] })
}

#[tokio::test]
async fn racing_runs_spend_exactly_the_frontend_balance_and_a_top_up_is_spendable_at_once() {
    const AFFORDABLE: i64 = 5;
    const ATTEMPTS: usize = 24;
    let url = frontend_database().await;
    let llm = FakeLlm::start(vec![greeting()]).await;
    let dir = tempfile::tempdir().unwrap();
    let blink = host(&url, &llm, &dir).await;
    let user = uuid::Uuid::new_v4().to_string();
    // The row as the frontend creates it, with credits for exactly five calls: each run is one
    // model call of 4,000 completion tokens at 1,000 micro-credits per 1K, 0.004 credits.
    let given = "0.020";
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query(&format!("INSERT INTO users_credits (user_id, credits) VALUES ('{user}', {given})"))
        .execute(&mut conn)
        .await
        .unwrap();
    let token = jwt::user_token(&user);
    let results = futures::future::join_all((0..ATTEMPTS).map(|_| chat(&blink, &token))).await;
    let answered = results.iter().filter(|(_, events)| events.last().is_some_and(|e| e["reply"] == "Hello!")).count();
    assert_eq!(answered as i64, AFFORDABLE, "exactly the affordable runs are served: {results:?}");
    assert_eq!(llm.received().len() as i64, AFFORDABLE, "exactly N calls reached the model");
    assert_eq!(
        sql(&url, &format!("SELECT round(credits, 6) FROM users_credits WHERE user_id = '{user}'")).await,
        json!("0.000000")
    );
    assert_eq!(
        sql(&url, &format!("SELECT round(lifetime_used, 6) FROM users_credits WHERE user_id = '{user}'")).await,
        json!("0.020000"),
        "lifetime_used counts what calls cost"
    );
    balance_matches_transactions(&url, &user, given).await;
    let bounds = format!(
        "SELECT bool_and(balance_after >= 0 AND balance_after <= {given}) FROM credit_transactions WHERE user_id = '{user}'"
    );
    assert_eq!(
        sql(&url, &bounds).await,
        json!("true"),
        "no transaction left a balance below zero or above what was given"
    );
    let deductions =
        sql(&url, &format!("SELECT COUNT(*) FROM credit_transactions WHERE user_id = '{user}' AND type = 'deduction'"))
            .await;
    assert_eq!(deductions, json!(AFFORDABLE.to_string()));
    let metadata = sql(
        &url,
        &format!(
            "SELECT metadata->>'model' FROM credit_transactions WHERE user_id = '{user}' AND type = 'deduction' LIMIT 1"
        ),
    )
    .await;
    assert!(metadata.as_str().is_some_and(|m| !m.is_empty()), "the model is in metadata");

    // A top-up written by another client (as the frontend's top-up function does) during runs:
    // spendable at once, never lost.
    let slow = FakeLlm::start(vec![greeting()]).await;
    let blink = host(&url, &slow, &dir).await;
    let top_up = async {
        let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
        sqlx::raw_sql(&format!(
            "BEGIN; UPDATE users_credits SET credits = credits + 0.008, topup_credits = topup_credits + 0.008 \
             WHERE user_id = '{user}'; INSERT INTO credit_transactions (user_id, type, amount, balance_after) \
             SELECT user_id, 'topup', 0.008, credits FROM users_credits WHERE user_id = '{user}'; COMMIT;"
        ))
        .execute(&mut conn)
        .await
        .unwrap();
    };
    let runs = futures::future::join_all((0..6).map(|_| chat(&blink, &token)));
    let (results, ()) = tokio::join!(runs, top_up);
    let served = |(_, events): &(u16, Vec<Value>)| events.last().is_some_and(|e| e["reply"] == "Hello!");
    let mut answered = results.iter().filter(|r| served(r)).count();
    // Whatever the top-up paid for that the racing runs did not spend is spendable now.
    for _ in 0..3 {
        if !served(&chat(&blink, &token).await) {
            break;
        }
        answered += 1;
    }
    assert_eq!(answered, 2, "the top-up paid for exactly two calls: {results:?}");
    assert_eq!(
        sql(&url, &format!("SELECT round(credits, 6) FROM users_credits WHERE user_id = '{user}'")).await,
        json!("0.000000")
    );
    balance_matches_transactions(&url, &user, given).await;

    // The host shows the frontend's balance and history.
    let response = reqwest::Client::new()
        .get(format!("{}/api/credits", blink.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(response["balance"], 0, "{response}");
    let kinds: Vec<&str> = response["recent"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"topup") && kinds.contains(&"deduction"), "{kinds:?}");
}

#[tokio::test]
async fn a_new_user_gets_the_frontends_row_and_failures_cost_nothing() {
    let url = frontend_database().await;
    let llm = FakeLlm::start(vec![Rule::status(&[], 503, "down")]).await;
    let dir = tempfile::tempdir().unwrap();
    let blink = host(&url, &llm, &dir).await;
    let user = uuid::Uuid::new_v4().to_string();
    let token = jwt::user_token(&user);
    let (status, events) = chat(&blink, &token).await;
    assert_eq!(status, 200);
    assert_eq!(events.iter().find(|e| e["type"] == "error").unwrap()["code"], "llm_unavailable");
    // The row the frontend would create on the user's first visit: 100 credits.
    assert_eq!(
        sql(&url, &format!("SELECT round(credits, 6) FROM users_credits WHERE user_id = '{user}'")).await,
        json!("100.000000")
    );
    // The failed call's reservation came back, as a refund the history shows.
    let types = sql(
        &url,
        &format!(
            "SELECT string_agg(type, ',' ORDER BY created_at, type) FROM credit_transactions WHERE user_id = '{user}'"
        ),
    )
    .await;
    assert_eq!(types, json!("deduction,refund"));
    balance_matches_transactions(&url, &user, "100").await;
    // An operator's grant is a top-up in the frontend's history.
    let grant = json!({ "userId": user, "amount": 500_000, "reason": "support ticket 7" });
    let response = reqwest::Client::new()
        .post(format!("{}/api/admin/credits", blink.url))
        .bearer_auth("operator-secret")
        .json(&grant)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        sql(&url, &format!("SELECT round(credits, 6) FROM users_credits WHERE user_id = '{user}'")).await,
        json!("100.500000")
    );
    balance_matches_transactions(&url, &user, "100").await;
    // A balance the frontend cannot hold (no uuid) is refused with its own code.
    let stranger = json!({ "userId": "not-a-uuid", "amount": 500_000 });
    let response = reqwest::Client::new()
        .post(format!("{}/api/admin/credits", blink.url))
        .bearer_auth("operator-secret")
        .json(&stranger)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "invalid_user");
}

#[tokio::test]
async fn without_the_frontends_tables_the_host_refuses_to_start() {
    let url = db::fresh_postgres().await;
    let out = std::process::Command::new(BIN)
        .arg("serve")
        .env_clear()
        .env("BLINK_ADDR", "127.0.0.1:0")
        .env("BLINK_DATA_DIR", tempfile::tempdir().unwrap().path())
        .env("BLINK_CREDITS", "supabase")
        .env("DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("users_credits"), "{stderr}");
}

/// The edge function's "1 credit per run": token prices at zero and `BLINK_RUN_PRICE` at one
/// credit; a run that ends with an answer pays it, a failed one gets it back.
#[tokio::test]
async fn a_flat_price_per_run_is_the_edge_functions_one_credit() {
    let url = frontend_database().await;
    let llm = FakeLlm::start(vec![Rule::status(&["fail please"], 503, "down"), greeting()]).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("agents.json");
    std::fs::write(&config, r#"{"planner": {"thinking": "off"}}"#).unwrap();
    let blink = Blink::start(
        BIN,
        &[
            ("BLINK_LLM_BASE_URL", llm.base_url()),
            ("BLINK_CREDITS", "supabase".into()),
            ("DATABASE_URL", url.clone()),
            ("BLINK_PRICING", r#"{"default": {"prompt": 0, "completion": 0}}"#.into()),
            ("BLINK_RUN_PRICE", "1000000".into()),
            ("BLINK_AGENT_CONFIG", config.display().to_string()),
        ],
    )
    .await;
    let user = uuid::Uuid::new_v4().to_string();
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query(&format!("INSERT INTO users_credits (user_id, credits) VALUES ('{user}', 2)"))
        .execute(&mut conn)
        .await
        .unwrap();
    let token = jwt::user_token(&user);
    let query = format!("SELECT round(credits, 6) FROM users_credits WHERE user_id = '{user}'");
    let credits = || sql(&url, &query);
    let (_, events) = chat(&blink, &token).await;
    assert_eq!(events.last().unwrap()["reply"], "Hello!", "{events:?}");
    assert_eq!(credits().await, json!("1.000000"));
    let failing = json!({ "messages": [{ "role": "user", "content": "fail please" }] });
    let (_, text) = blink.post("/api/orchestrator", Some(&token), &failing).await;
    assert_eq!(sse::events(&text).iter().find(|e| e["type"] == "error").unwrap()["code"], "llm_unavailable");
    assert_eq!(credits().await, json!("1.000000"), "a failed run costs nothing");
    let (_, events) = chat(&blink, &token).await;
    assert_eq!(events.last().unwrap()["reply"], "Hello!");
    assert_eq!(credits().await, json!("0.000000"));
    let (status, events) = chat(&blink, &token).await;
    let refused = status == 402 || events.iter().any(|e| e["code"] == "insufficient_credits");
    assert!(refused, "{status} {events:?}");
    balance_matches_transactions(&url, &user, "2").await;
}

/// The last credits in the frontend's balance pay for a shorter answer, never below zero.
#[tokio::test]
async fn the_last_frontend_credits_pay_for_a_shorter_answer() {
    let url = frontend_database().await;
    let llm = FakeLlm::start(vec![greeting()]).await;
    let dir = tempfile::tempdir().unwrap();
    let blink = host(&url, &llm, &dir).await;
    let user = uuid::Uuid::new_v4().to_string();
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    // 0.003 credits: 3,000 tokens' worth, short of the planner's 4,000-token worst case.
    sqlx::query(&format!("INSERT INTO users_credits (user_id, credits) VALUES ('{user}', 0.003)"))
        .execute(&mut conn)
        .await
        .unwrap();
    let (_, events) = chat(&blink, &jwt::user_token(&user)).await;
    assert_eq!(events.last().unwrap()["reply"], "Hello!", "{events:?}");
    assert_eq!(llm.received()[0].body["max_tokens"], 3_000);
    let left = sql(&url, &format!("SELECT round(credits, 6) FROM users_credits WHERE user_id = '{user}'")).await;
    assert_eq!(left, json!("0.000000"));
    balance_matches_transactions(&url, &user, "0.003").await;
}

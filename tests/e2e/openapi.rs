//! The API's OpenAPI description, through the real binary: served at `/api/openapi.json`,
//! complete, and true: a property-based fuzzer (schemathesis) reads it, sends what it describes
//! and what it forbids, and finds no server error, no answer the description does not allow, and
//! no hang.

use std::collections::BTreeSet;
use std::time::Duration;

use blink_test_support::fake_llm::{FakeLlm, Rule};
use blink_test_support::host::Blink;
use blink_test_support::jwt;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_blink");

async fn description(blink: &Blink) -> Value {
    let response = reqwest::get(format!("{}/api/openapi.json", blink.url)).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    response.json().await.unwrap()
}

/// Every operation as `METHOD /path`.
fn operations(spec: &Value) -> BTreeSet<String> {
    let mut all = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            all.insert(format!("{} {path}", method.to_uppercase()));
        }
    }
    all
}

#[tokio::test]
async fn the_description_covers_every_route_its_errors_and_the_run_events() {
    let blink = Blink::start(BIN, &[]).await;
    let spec = description(&blink).await;
    assert_eq!(spec["openapi"], "3.1.0");
    let ops = operations(&spec);
    // What the frontend and operators call; a route added without a description cannot be
    // registered at all (the router is built from the descriptions).
    for op in [
        "POST /api/orchestrator",
        "GET /api/runs/{id}",
        "POST /api/projects",
        "GET /api/projects",
        "DELETE /api/projects/{id}",
        "GET /api/projects/{id}/pipeline",
        "PUT /api/projects/{id}/pipeline",
        "GET /api/credits",
        "POST /api/admin/credits",
        "GET /api/admin/usage",
        "POST /api/preview",
        "POST /api/build",
        "GET /api/projects/{id}/logs",
        "POST /api/deploy",
        "GET /api/projects/{id}/deploys",
        "POST /api/projects/{id}/deploys/{deploy}/restore",
        "GET /api/projects/{id}/domains",
        "POST /api/projects/{id}/domains/{hostname}/verify",
        "DELETE /api/projects/{id}/domains/{hostname}",
        "POST /api/git/commit",
        "POST /api/git/pull",
        "PUT /api/projects/{id}/git",
        "GET /api/projects/{id}/git",
        "GET /api/projects/{id}/git/log",
        "POST /api/projects/{id}/git/restore",
        "POST /api/projects/{id}/git/github",
        "POST /api/admin/plugins/{role}",
        "GET /api/admin/plugins",
        "GET /api/admin/plugins/{role}/{version}",
        "DELETE /api/admin/plugins/{role}/{version}",
        "GET /healthz",
        "GET /readyz",
        "GET /metrics",
        "GET /api/openapi.json",
    ] {
        assert!(ops.contains(op), "{op} is not described; described: {ops:#?}");
    }
    assert!(ops.len() >= 40, "{} operations: {ops:#?}", ops.len());

    // Every operation says what a refusal looks like; signed-in ones say 401.
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            assert!(responses.contains_key("429"), "{method} {path} does not describe 429");
            let signed = op["security"].as_array().is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some()));
            if signed && path != "/metrics" {
                assert!(responses.contains_key("401"), "{method} {path} does not describe 401");
            }
        }
    }
    // The legacy routes are described only where they are served.
    assert!(!ops.contains("POST /dev/start"), "legacy routes described while off");
    let legacy = Blink::start(BIN, &[("BLINK_LEGACY_ROUTES", "true".into())]).await;
    let with_legacy = operations(&description(&legacy).await);
    for op in ["GET /health", "POST /dev/start", "POST /dev/sync", "POST /dev/stop", "GET /dev/status/{id}"]
        .into_iter()
        .chain(["POST /build", "GET /logs/{id}", "POST /github/push", "POST /github/pull"])
    {
        assert!(with_legacy.contains(op), "{op} is not described with the legacy routes on");
    }
    let error = &spec["components"]["schemas"]["ErrorBody"];
    assert_eq!(error["required"], json!(["error"]), "{error}");

    // The run's events, one schema per `type`, as the stream sends them.
    let event = &spec["components"]["schemas"]["Event"];
    let types: BTreeSet<&str> = event["oneOf"]
        .as_array()
        .unwrap_or_else(|| panic!("Event is not a oneOf: {event}"))
        .iter()
        .map(|variant| variant["properties"]["type"]["enum"][0].as_str().unwrap())
        .collect();
    let expected = [
        "phase",
        "thinking_delta",
        "intent_classified",
        "plan",
        "file_read",
        "conv_start",
        "conv_delta",
        "file_generated",
        "validation",
        "error",
        "result",
    ];
    assert_eq!(types, expected.into_iter().collect(), "{event}");
    let stream = &spec["paths"]["/api/orchestrator"]["post"]["responses"]["200"]["content"]["text/event-stream"];
    assert_eq!(stream["schema"]["$ref"], "#/components/schemas/Event", "{stream}");
}

/// The fuzzer's command: the Python environment the test script installs it into.
fn schemathesis() -> std::path::PathBuf {
    let python = std::env::var("BLINK_TOOLS_PYTHON")
        .expect("BLINK_TOOLS_PYTHON names the Python with schemathesis (scripts/test.sh installs it)");
    std::path::Path::new(&python).with_file_name("st")
}

#[tokio::test]
async fn a_fuzzer_finds_no_server_error_no_undescribed_answer_and_no_hang() {
    let plan = json!({ "intent": "greeting", "conversational": true, "reply": "Hello!", "steps": [] });
    let llm = FakeLlm::start(vec![Rule::text(&["You plan changes"], plan.to_string())]).await;
    let config = tempfile::tempdir().unwrap();
    std::fs::write(config.path().join("agents.json"), r#"{"planner": {"thinking": "off"}}"#).unwrap();
    let blink = Blink::start(
        BIN,
        &[
            ("BLINK_LLM_BASE_URL", llm.base_url()),
            ("BLINK_AGENT_CONFIG", config.path().join("agents.json").display().to_string()),
            // Nothing outside this machine: GitHub's API is a closed port here.
            ("BLINK_GITHUB_API", "http://127.0.0.1:9".into()),
            // The legacy routes too, described when they are served.
            ("BLINK_LEGACY_ROUTES", "true".into()),
        ],
    )
    .await;
    // An operator who is also a user: every route is reachable with one token.
    let mut claims = jwt::claims("fuzzer");
    claims["app_metadata"] = json!({ "role": "admin" });
    let token = jwt::hs256(&claims, jwt::SECRET);
    let examples = std::env::var("BLINK_FUZZ_EXAMPLES").unwrap_or_else(|_| "100".into());
    let report = tempfile::tempdir().unwrap();
    let junit = report.path().join("junit.xml");
    let output = tokio::time::timeout(
        Duration::from_secs(900),
        tokio::process::Command::new(schemathesis())
            .args(["--config-file", concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/e2e/schemathesis.toml")])
            .args(["run", &format!("{}/api/openapi.json", blink.url)])
            .args(["--header", &format!("Authorization: Bearer {token}")])
            .args(["--phases", "examples,coverage,fuzzing"])
            .args(["--max-examples", &examples])
            .args(["--request-timeout", "20", "--max-response-time", "20"])
            // One worker: hypothesis's source inspection is not thread-safe (with two, it
            // sometimes fails inside the tool with "AST constructor recursion depth mismatch").
            .args(["--workers", "1", "--seed", "1"])
            .args(["--report", "junit", "--report-junit-path"])
            .arg(&junit)
            .env("SCHEMATHESIS_HOOKS", "")
            // Its cache (`.schemathesis/`) goes with the report, not into the checkout.
            .current_dir(report.path())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the fuzzer finished within 15 minutes")
    .expect("schemathesis runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(output.status.success(), "the fuzzer found failures:\n{stdout}\n{stderr}");
    // It really sent requests, to every operation.
    let summary = stdout.lines().filter(|l| l.contains("generated") || l.contains("Tested")).collect::<Vec<_>>();
    assert!(!summary.is_empty(), "no summary in:\n{stdout}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.matches("<testcase").count() >= 49, "{xml}");
}

/// What the fuzzer found stays fixed, tested at its edge rather than left to a seed: a balance
/// reaches 10^15 micro-credits and not one more; a commit message with a NUL is refused by name.
#[tokio::test]
async fn what_the_fuzzer_found_is_refused_with_a_stable_code() {
    const MAX: i64 = 1_000_000_000_000_000;
    let blink = Blink::start(BIN, &[("BLINK_ADMIN_TOKEN", "fuzz-admin".into())]).await;
    let client = reqwest::Client::new();
    let grant = |amount: i64| {
        client
            .post(format!("{}/api/admin/credits", blink.url))
            .bearer_auth("fuzz-admin")
            .json(&json!({ "userId": "rich", "amount": amount }))
            .send()
    };
    let first: Value = grant(1).await.unwrap().json().await.unwrap();
    let balance = first["balance"].as_i64().unwrap();
    let up_to_the_cap = grant(MAX - balance).await.unwrap();
    assert_eq!(up_to_the_cap.status(), 200);
    assert_eq!(up_to_the_cap.json::<Value>().await.unwrap()["balance"], MAX);
    for amount in [1, MAX + 1, i64::MAX - 1] {
        let refused = grant(amount).await.unwrap();
        assert_eq!(refused.status(), 400, "{amount}");
        assert_eq!(refused.json::<Value>().await.unwrap()["error"], "invalid_amount", "{amount}");
    }
    // Taking credits back still works from the cap.
    assert_eq!(grant(-MAX).await.unwrap().status(), 200);

    let commit = client
        .post(format!("{}/api/git/commit", blink.url))
        .bearer_auth(jwt::user_token("nul-writer"))
        .json(&json!({ "projectId": "nul", "message": "fix\u{0}this" }))
        .send()
        .await
        .unwrap();
    assert_eq!(commit.status(), 400);
    let body: Value = commit.json().await.unwrap();
    assert_eq!(body["error"], "invalid_git_request", "{body}");
    assert!(body["message"].as_str().unwrap().contains("NUL"), "{body}");
}

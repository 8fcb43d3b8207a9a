//! Operating the host, through the real binary: per-user limits on the routes that spend the
//! host, per-address limits on what needs no valid token, each with its own counter and a 429
//! that says when to come back; request ids from the caller to the logs and the run's record;
//! JSON logs for log shippers.

use std::time::Duration;

use blink_test_support::fake_llm::{FakeLlm, Rule};
use blink_test_support::host::Blink;
use blink_test_support::{jwt, sse};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_blink");

fn greeting() -> Rule {
    let plan = json!({ "intent": "greeting", "conversational": true, "reply": "Hello!", "steps": [] });
    Rule::text(&["You plan changes"], plan.to_string())
}

async fn host(llm: &FakeLlm, extra: &[(&'static str, &str)]) -> (Blink, tempfile::TempDir) {
    let config = tempfile::tempdir().unwrap();
    std::fs::write(config.path().join("agents.json"), r#"{"planner": {"thinking": "off"}}"#).unwrap();
    let mut env = vec![
        ("BLINK_LLM_BASE_URL", llm.base_url()),
        ("BLINK_AGENT_CONFIG", config.path().join("agents.json").display().to_string()),
    ];
    env.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    (Blink::start(BIN, &env).await, config)
}

async fn call(blink: &Blink, path: &str, token: Option<&str>, body: Option<Value>) -> reqwest::Response {
    let client = reqwest::Client::new();
    let mut request = match body {
        Some(body) => client.post(format!("{}{path}", blink.url)).json(&body),
        None => client.get(format!("{}{path}", blink.url)),
    };
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

/// A refusal as a client sees it: 429, `Retry-After` in whole seconds, the stable JSON error.
async fn assert_limited(response: reqwest::Response) -> u64 {
    assert_eq!(response.status(), 429);
    let wait: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "rate_limited", "{body}");
    assert_eq!(body["retryAfterSeconds"], wait);
    assert!(wait >= 1, "{body}");
    wait
}

fn chat() -> Value {
    json!({ "messages": [{ "role": "user", "content": "hello" }] })
}

#[tokio::test]
async fn each_spending_route_has_its_own_limit_per_user() {
    let llm = FakeLlm::start(vec![greeting()]).await;
    let (blink, _config) = host(&llm, &[("BLINK_RATE_RUNS", "2/60"), ("BLINK_RATE_GIT", "3/60")]).await;
    let (alice, bob) = (jwt::user_token("limited-alice"), jwt::user_token("limited-bob"));
    // Exactly the limit passes; the next is refused, before any model call.
    for _ in 0..2 {
        let response = call(&blink, "/api/orchestrator", Some(&alice), Some(chat())).await;
        assert_eq!(response.status(), 200);
        let _ = response.text().await;
    }
    let calls = llm.received().len();
    assert_limited(call(&blink, "/api/orchestrator", Some(&alice), Some(chat())).await).await;
    assert_eq!(llm.received().len(), calls, "a refused run made a model call");
    // Another user has their own runs; the same user has their own git operations.
    assert_eq!(call(&blink, "/api/orchestrator", Some(&bob), Some(chat())).await.status(), 200);
    let commit = json!({ "projectId": "limited", "message": "m" });
    for _ in 0..3 {
        let status = call(&blink, "/api/git/commit", Some(&alice), Some(commit.clone())).await.status();
        assert!(status == 200 || status == 409, "{status}");
    }
    assert_limited(call(&blink, "/api/git/commit", Some(&alice), Some(commit)).await).await;
}

#[tokio::test]
async fn previews_builds_and_deploys_each_hold_their_own_limit_at_its_edge() {
    let llm = FakeLlm::start(vec![greeting()]).await;
    let limits = [("BLINK_RATE_PREVIEWS", "3/60"), ("BLINK_RATE_BUILDS", "2/60"), ("BLINK_RATE_DEPLOYS", "1/60")];
    let (blink, _config) = host(&llm, &limits).await;
    let token = jwt::user_token("builder");
    let project = json!({ "projectId": "edges", "files": { "App.tsx": "export default () => null;" } });
    // The limit is spent before anything else is looked at: here the host has no sandboxes and
    // no build, so what passes is refused for that, never for the rate.
    for (path, allowed) in [("/api/preview", 3), ("/api/build", 2), ("/api/deploy", 1)] {
        for _ in 0..allowed {
            let response = call(&blink, path, Some(&token), Some(project.clone())).await;
            assert_ne!(response.status(), 429, "{path} refused within its limit");
        }
        assert_limited(call(&blink, path, Some(&token), Some(project.clone())).await).await;
    }
    // Spent on one route, the others are untouched for another user, and this user's runs too.
    let other = jwt::user_token("builder-two");
    assert_ne!(call(&blink, "/api/deploy", Some(&other), Some(project.clone())).await.status(), 429);
    let response = call(&blink, "/api/orchestrator", Some(&token), Some(chat())).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn coming_back_after_retry_after_succeeds() {
    let llm = FakeLlm::start(vec![greeting()]).await;
    let (blink, _config) = host(&llm, &[("BLINK_RATE_RUNS", "1/2")]).await;
    let token = jwt::user_token("patient");
    assert_eq!(call(&blink, "/api/orchestrator", Some(&token), Some(chat())).await.status(), 200);
    let wait = assert_limited(call(&blink, "/api/orchestrator", Some(&token), Some(chat())).await).await;
    assert!(wait <= 2, "{wait}");
    tokio::time::sleep(Duration::from_secs(wait)).await;
    let response = call(&blink, "/api/orchestrator", Some(&token), Some(chat())).await;
    assert_eq!(response.status(), 200);
    assert_eq!(sse::events(&response.text().await.unwrap()).last().unwrap()["reply"], "Hello!");
}

#[tokio::test]
async fn calls_without_a_valid_token_are_limited_per_address() {
    let llm = FakeLlm::start(vec![greeting()]).await;
    let (blink, _config) = host(&llm, &[("BLINK_RATE_UNAUTHENTICATED", "3/60"), ("BLINK_RATE_HEALTH", "2/60")]).await;
    for token in [None, Some("forged"), Some("also.forged.token")] {
        assert_eq!(call(&blink, "/api/credits", token, None).await.status(), 401);
    }
    assert_limited(call(&blink, "/api/credits", Some("guess"), None).await).await;
    // A valid token is not a guess: it passes, and spends nothing of the address's limit.
    let token = jwt::user_token("honest");
    assert_eq!(call(&blink, "/api/credits", Some(&token), None).await.status(), 200);
    // Health checks count apart.
    for _ in 0..2 {
        assert_eq!(call(&blink, "/healthz", None, None).await.status(), 200);
    }
    assert_limited(call(&blink, "/readyz", None, None).await).await;
}

#[tokio::test]
async fn a_limit_that_is_not_a_rate_stops_the_host_with_a_clear_error() {
    let out = std::process::Command::new(BIN)
        .arg("serve")
        .env_clear()
        .env("BLINK_RATE_RUNS", "0/60")
        .env("BLINK_DATA_DIR", tempfile::tempdir().unwrap().path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("BLINK_RATE_RUNS") || stderr.contains("rate-runs"), "{stderr}");
    assert!(stderr.contains("not a rate"), "{stderr}");
}

#[tokio::test]
async fn a_request_id_goes_from_the_caller_to_the_logs_and_the_run() {
    let llm = FakeLlm::start(vec![greeting()]).await;
    let (blink, _config) = host(&llm, &[("BLINK_LOG_FORMAT", "json")]).await;
    let token = jwt::user_token("traced");
    let response = reqwest::Client::new()
        .post(format!("{}/api/orchestrator", blink.url))
        .bearer_auth(&token)
        .header("x-request-id", "edge-7f3a.42")
        .json(&chat())
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "edge-7f3a.42");
    let run_id = response.headers()["x-blink-run-id"].to_str().unwrap().to_string();
    let _ = response.text().await;
    let run: Value = call(&blink, &format!("/api/runs/{run_id}"), Some(&token), None).await.json().await.unwrap();
    assert_eq!(run["requestId"], "edge-7f3a.42", "{run}");

    // An id that could forge a log line is replaced by one of the host's.
    let response = reqwest::Client::new()
        .get(format!("{}/api/credits", blink.url))
        .bearer_auth(&token)
        .header("x-request-id", "a\"b")
        .send()
        .await
        .unwrap();
    let given = response.headers()["x-request-id"].to_str().unwrap();
    assert_ne!(given, "a\"b");
    assert_eq!(given.len(), 36, "a uuid: {given}");

    // Every log line is one JSON object; the run's lines carry the request's id.
    let log = blink.log();
    let lines: Vec<Value> =
        log.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect();
    let traced = lines.iter().filter(|l| l.to_string().contains("edge-7f3a.42")).count();
    assert!(traced >= 1, "no log line names the request:\n{log}");
}

/// The samples of a Prometheus text exposition, as Prometheus's own Python client parses it
/// (`prometheus_client.parser`, installed by `scripts/test.sh`): `(name, labels, value)`.
fn parse_prometheus(text: &str) -> Vec<(String, serde_json::Map<String, Value>, f64)> {
    let python = std::env::var("BLINK_TOOLS_PYTHON")
        .expect("BLINK_TOOLS_PYTHON names a Python with prometheus_client: run the tests with scripts/test.sh");
    let script = "import sys, json\n\
                  from prometheus_client.parser import text_string_to_metric_families\n\
                  out = [[s.name, s.labels, s.value] for f in text_string_to_metric_families(sys.stdin.read()) for s in f.samples]\n\
                  print(json.dumps(out))";
    let mut child = std::process::Command::new(python)
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "the exposition does not parse: {}\n{text}", String::from_utf8_lossy(&out.stderr));
    let samples: Vec<(String, serde_json::Map<String, Value>, f64)> = serde_json::from_slice(&out.stdout).unwrap();
    samples
}

/// The sum of the samples named `name` whose labels include `labels`.
fn total(samples: &[(String, serde_json::Map<String, Value>, f64)], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|(n, l, _)| n == name && labels.iter().all(|(k, v)| l.get(*k).and_then(Value::as_str) == Some(*v)))
        .map(|(_, _, v)| v)
        .sum()
}

#[tokio::test]
async fn metrics_count_a_real_workload_by_route_template_and_parse_as_prometheus_reads_them() {
    let llm = FakeLlm::start(vec![greeting().bill_max_tokens()]).await;
    let (blink, _config) = host(
        &llm,
        &[
            ("BLINK_METRICS_TOKEN", "scrape-secret"),
            ("BLINK_PRICING", r#"{"default": {"prompt": 1, "completion": 1000}}"#),
            ("BLINK_SANDBOXES", "true"),
            ("BLINK_SANDBOX_WARM", "0"),
        ],
    )
    .await;
    let token = jwt::user_token("measured");
    let mut runs = Vec::new();
    for _ in 0..3 {
        let response = call(&blink, "/api/orchestrator", Some(&token), Some(chat())).await;
        runs.push(response.headers()["x-blink-run-id"].to_str().unwrap().to_string());
        let _ = response.text().await;
    }
    for run in &runs {
        assert_eq!(call(&blink, &format!("/api/runs/{run}"), Some(&token), None).await.status(), 200);
    }
    assert_eq!(call(&blink, "/api/credits", Some("forged"), None).await.status(), 401);
    let commit = json!({ "projectId": "measured", "message": "m" });
    assert_eq!(call(&blink, "/api/git/commit", Some(&token), Some(commit)).await.status(), 200);
    // A preview started, then updated, in a real sandbox.
    let project = format!("m{}", std::process::id());
    let _cleanup = blink_test_support::docker::Cleanup(vec![project.clone()]);
    let app = |marker: &str| format!("export default function App() {{ return <h1>{marker}</h1>; }}\n");
    for marker in ["first", "second"] {
        let body = json!({ "projectId": project, "files": { "App.tsx": app(marker) } });
        let response = call(&blink, "/api/preview", Some(&token), Some(body)).await;
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    }

    // Behind its token.
    assert_eq!(call(&blink, "/metrics", None, None).await.status(), 401);
    assert_eq!(call(&blink, "/metrics", Some("wrong"), None).await.status(), 401);
    let response = call(&blink, "/metrics", Some("scrape-secret"), None).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let text = response.text().await.unwrap();
    let samples = parse_prometheus(&text);

    // HTTP by route template, never by raw path.
    let runs_route = [("route", "/api/runs/{id}"), ("status", "200"), ("method", "GET")];
    assert_eq!(total(&samples, "blink_http_requests_total", &runs_route), 3.0, "{text}");
    assert!(total(&samples, "blink_http_request_duration_seconds_count", &[("route", "/api/orchestrator")]) >= 3.0);
    for run in &runs {
        assert!(!text.contains(run.as_str()), "a raw path (a run id) became a label");
    }
    assert_eq!(total(&samples, "blink_http_requests_total", &[("route", "/api/credits"), ("status", "401")]), 1.0);
    // Runs, model calls, tokens, credits and agent calls.
    assert_eq!(total(&samples, "blink_runs_total", &[("outcome", "conversational")]), 3.0, "{text}");
    assert_eq!(total(&samples, "blink_model_calls_total", &[("status", "ok")]), 3.0);
    assert!(total(&samples, "blink_model_tokens_total", &[("kind", "completion")]) > 0.0);
    assert!(total(&samples, "blink_credits_charged_micro_total", &[]) > 0.0);
    assert_eq!(total(&samples, "blink_agent_calls_total", &[("role", "planner"), ("outcome", "ok")]), 3.0, "{text}");
    assert!(total(&samples, "blink_agent_call_duration_seconds_bucket", &[("role", "planner"), ("le", "+Inf")]) >= 3.0);
    // Swaps and canaries, sandboxes and previews, git, the database pool.
    assert_eq!(total(&samples, "blink_canary_share", &[("role", "validator")]), 0.0);
    assert_eq!(total(&samples, "blink_sandboxes", &[("state", "running")]), 1.0, "{text}");
    assert_eq!(total(&samples, "blink_preview_duration_seconds_count", &[("kind", "start")]), 1.0, "{text}");
    assert_eq!(total(&samples, "blink_preview_duration_seconds_count", &[("kind", "update")]), 1.0, "{text}");
    assert_eq!(total(&samples, "blink_operations_total", &[("kind", "git_commit"), ("outcome", "ok")]), 1.0);
    assert!(samples.iter().any(|(n, l, _)| n == "blink_db_connections" && l.get("state").is_some()), "{text}");
}

//! `POST /api/orchestrator` end to end: the real binary, a fake OpenAI-compatible model behind
//! `BLINK_LLM_BASE_URL`, a real HS256 token, and the stream read by the frontend's rules.
//!
//! Over 500 lines: one test file per surface (the orchestrator route), so a failure names the
//! surface.

use std::time::Duration;

use blink_test_support::fake_llm::{FakeLlm, Rule};
use blink_test_support::host::Blink;
use blink_test_support::{jwt, sse};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_blink");

async fn blink_with(llm: &FakeLlm, extra: &[(&str, String)]) -> Blink {
    let mut env = vec![
        ("BLINK_LLM_BASE_URL", llm.base_url()),
        ("BLINK_LLM_API_KEY", "sk-test".to_string()),
        ("BLINK_LLM_MODEL", "fake-model".to_string()),
        ("BLINK_LLM_BACKOFF_MS", "10".to_string()),
    ];
    env.extend(extra.iter().cloned());
    Blink::start(BIN, &env).await
}

async fn orchestrate(blink: &Blink, body: &Value) -> Vec<Value> {
    let token = jwt::user_token("user-1");
    let (status, text) = blink.post("/api/orchestrator", Some(&token), body).await;
    assert_eq!(status, 200, "{text}");
    sse::events(&text)
}

fn of_type<'a>(events: &'a [Value], t: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == t).collect()
}

fn deltas(events: &[Value], t: &str) -> String {
    of_type(events, t).iter().map(|e| e["delta"].as_str().unwrap()).collect()
}

const THINKING: &str = "I will add a navigation bar component and render it at the top of the app.";

fn plan_json(steps: Value) -> String {
    // Prose and a code fence around the JSON, as models write it.
    let plan = json!({
        "intent": "add a navbar", "risk_level": "low", "conversational": false,
        "clarification_needed": false, "clarification_question": null, "reply": null,
        "dependencies_needed": [], "reasoning": "A Navbar component, used by App.",
        "steps": steps,
    });
    format!("Here is the plan you asked for:\n```json\n{plan:#}\n```\nLet me know!")
}

fn navbar_steps() -> Value {
    json!([
        { "id": 1, "action": "create", "target": "Navbar", "path": "Navbar.tsx", "description": "A top navigation bar showing the site title.", "priority": "critical" },
        { "id": 2, "action": "modify", "target": "App", "path": "App.tsx", "description": "Render Navbar above the existing content.", "priority": "normal" },
    ])
}

const BROWSER_NAVBAR_BROKEN: &str = "function Navbar() {\n  return (\n    <nav className=\"p-4 bg-slate-900 text-white\">\n      <Logo />\n      <span>My site</span>\n    </nav>\n  );\n}\n";
const BROWSER_NAVBAR_FIXED: &str = "function Navbar() {\n  return (\n    <nav className=\"p-4 bg-slate-900 text-white\">\n      <span>My site</span>\n    </nav>\n  );\n}\n\nwindow.Navbar = Navbar;\n";
const BROWSER_APP: &str = "function App() {\n  const [count, setCount] = React.useState(0);\n  return (\n    <div>\n      <Navbar />\n      <button onClick={() => setCount(count + 1)}>{count}</button>\n    </div>\n  );\n}\n\nReactDOM.createRoot(document.getElementById('root')).render(<App />);\n";

const VITE_NAVBAR_BROKEN: &str = "import Logo from './Logo';\n\nexport default function Navbar() {\n  return (\n    <nav className=\"p-4\">\n      <Logo />\n      <span>My site</span>\n    </nav>\n  );\n}\n";
const VITE_NAVBAR_FIXED: &str = "export default function Navbar() {\n  return (\n    <nav className=\"p-4\">\n      <span>My site</span>\n    </nav>\n  );\n}\n";
const VITE_APP: &str = "import { useState } from 'react';\nimport Navbar from './Navbar';\n\nexport default function App() {\n  const [count, setCount] = useState(0);\n  return (\n    <div>\n      <Navbar />\n      <button onClick={() => setCount(count + 1)}>{count}</button>\n    </div>\n  );\n}\n";

fn fenced(code: &str) -> String {
    format!("```tsx\n{code}```")
}

async fn two_file_change_with_one_fix_round(
    host_default: &str,
    target: &str,
    navbar_broken: &str,
    navbar_fixed: &str,
    app: &str,
    body: Value,
) {
    let llm = FakeLlm::start(vec![
        Rule::text(&["thinking out loud"], THINKING),
        Rule::text(&["You plan changes"], plan_json(navbar_steps())),
        Rule::text(&["Problems to fix", "Navbar.tsx"], fenced(navbar_fixed)),
        Rule::text(&["Your part:\n- create Navbar.tsx"], fenced(navbar_broken)),
        Rule::text(&["Your part:\n- modify App.tsx"], fenced(app)),
    ])
    .await;
    let blink = blink_with(&llm, &[("BLINK_TARGET", host_default.to_string())]).await;
    let events = orchestrate(&blink, &body).await;

    // The two files are written concurrently: either may finish first.
    assert_eq!(
        sse::squash_deltas(&sse::sequence(&events)),
        [
            "phase:planning",
            "thinking_delta",
            "intent_classified",
            "plan",
            "file_read",
            "phase:generating",
            "file_generated",
            "file_generated",
            "phase:validating",
            "validation",
            "phase:fixing",
            "validation",
            "phase:complete",
            "result",
        ],
        "{events:#?}"
    );
    assert_eq!(events[0], json!({ "type": "phase", "phase": "planning", "message": "🧠 Analyse…" }));
    assert_eq!(deltas(&events, "thinking_delta"), THINKING);
    let intent = &of_type(&events, "intent_classified")[0];
    assert_eq!(intent["intent"], "add a navbar");
    assert_eq!(intent["conversational"], false);
    assert_eq!(intent["risk_level"], "low");
    assert_eq!(intent["steps_count"], 2);
    let plan = &of_type(&events, "plan")[0]["plan"];
    assert_eq!(plan["intent"], "add a navbar");
    assert_eq!(
        plan["steps"][0],
        json!({ "id": 1, "action": "create", "target": "Navbar", "path": "Navbar.tsx", "description": "A top navigation bar showing the site title.", "priority": "critical" })
    );
    assert_eq!(plan["steps"][1]["action"], "modify");
    assert_eq!(of_type(&events, "file_read")[0], &json!({ "type": "file_read", "path": "App.tsx" }));
    let generating = events.iter().find(|e| e["phase"] == "generating").unwrap();
    assert_eq!(generating["message"], "⚡ Génération…");
    let mut generated: Vec<(String, u64)> = of_type(&events, "file_generated")
        .iter()
        .map(|e| (e["path"].as_str().unwrap().to_string(), e["linesCount"].as_u64().unwrap()))
        .collect();
    generated.sort();
    assert_eq!(
        generated,
        [
            ("App.tsx".to_string(), app.split('\n').count() as u64),
            ("Navbar.tsx".to_string(), navbar_broken.split('\n').count() as u64)
        ]
    );

    let validations = of_type(&events, "validation");
    let first = validations[0];
    assert_eq!(first["errors"].as_array().unwrap().len(), 1, "{first:#}");
    let error = &first["errors"][0];
    assert_eq!(error["file"], "Navbar.tsx");
    assert_eq!(error["line"], if target == "vite" { 1 } else { 4 });
    assert_eq!(error["type"], if target == "vite" { "import" } else { "reference" });
    assert_eq!(error["severity"], "critical");
    assert!(first["confidence_score"].as_u64().unwrap() < 100);
    assert!(first.get("fixerExhausted").is_none());
    let fixing = events.iter().find(|e| e["phase"] == "fixing").unwrap();
    assert_eq!(fixing["message"], "Auto-fixing pass 1/2 — 1 error(s)…");
    assert_eq!(validations[1]["errors"], json!([]));
    assert_eq!(validations[1]["confidence_score"], 100);

    let complete = events.iter().find(|e| e["phase"] == "complete").unwrap();
    assert_eq!(complete["message"], "✅ Code prêt !");
    let result = events.last().unwrap();
    assert_eq!(result["conversational"], false);
    assert_eq!(result["intent"], "add a navbar");
    assert_eq!(result["deletedFiles"], json!([]));
    if target == "browser" {
        // The model forgot to put Navbar on window for App.tsx; the host did it, and says so.
        let warnings = result["warnings"].as_array().unwrap();
        assert_eq!(warnings.len(), 1, "{warnings:#?}");
        assert_eq!((&warnings[0]["file"], &warnings[0]["type"]), (&json!("Navbar.tsx"), &json!("reference")));
        assert!(warnings[0]["message"].as_str().unwrap().contains("`window.Navbar = Navbar;`"), "{warnings:#?}");
        let repaired = &llm.received().into_iter().find(|r| r.text().contains("Problems to fix")).unwrap();
        assert!(repaired.text().contains("window.Navbar = Navbar;"), "the fixer saw the file before the repair");
    } else {
        assert_eq!(result["warnings"], json!([]));
    }
    assert_eq!(
        result["files"],
        json!([{ "path": "Navbar.tsx", "content": navbar_fixed }, { "path": "App.tsx", "content": app }])
    );

    // What the model was shown: the conversation and the project's current code.
    let received = llm.received();
    let planner = received.iter().find(|r| r.text().contains("You plan changes")).unwrap();
    assert!(planner.text().contains("Add a navbar with the site title"));
    assert!(planner.text().contains("OLD_APP_MARKER"), "the planner did not see the project's code");
    assert_eq!(planner.body["response_format"], json!({ "type": "json_object" }));
    assert_eq!(planner.authorization.as_deref(), Some("Bearer sk-test"));
    let app_call = received.iter().find(|r| r.text().contains("Your part:\n- modify App.tsx")).unwrap();
    assert!(app_call.text().contains("OLD_APP_MARKER"), "the generator did not see the file it modifies");
    let fixer = received.iter().find(|r| r.text().contains("Problems to fix")).unwrap();
    assert!(fixer.text().contains(navbar_broken.trim_end()), "the fixer did not see the broken file");
    assert!(received.iter().filter(|r| r.text().contains("thinking out loud")).all(|r| r.streamed()));
    assert_eq!(received.len(), 5, "one call each: thinking, plan, two files, one fix");
}

#[tokio::test]
async fn browser_two_file_change_with_one_fix_round() {
    let old_app = "// OLD_APP_MARKER\nfunction App() {\n  return <div>Hello</div>;\n}\nReactDOM.createRoot(document.getElementById('root')).render(<App />);\n";
    let body = json!({
        "messages": [{ "role": "user", "content": "Add a navbar with the site title" }],
        "projectContext": old_app,
        "fileTree": "App.tsx",
    });
    two_file_change_with_one_fix_round(
        "browser",
        "browser",
        BROWSER_NAVBAR_BROKEN,
        BROWSER_NAVBAR_FIXED,
        BROWSER_APP,
        body,
    )
    .await;
}

#[tokio::test]
async fn vite_two_file_change_with_one_fix_round() {
    let old_app = "// OLD_APP_MARKER\nexport default function App() {\n  return <div>Hello</div>;\n}\n";
    let body = json!({
        "messages": [{ "role": "user", "content": "Add a navbar with the site title" }],
        "files": { "App.tsx": old_app },
        "fileTree": "App.tsx",
        "target": "vite",
    });
    // The host defaults to `browser`; the request asks for `vite`.
    two_file_change_with_one_fix_round("browser", "vite", VITE_NAVBAR_BROKEN, VITE_NAVBAR_FIXED, VITE_APP, body).await;
}

#[tokio::test]
async fn a_question_gets_a_streamed_conversational_answer() {
    let answer = "Hooks such as useState let a function component keep state between renders.";
    let plan = json!({ "intent": "question about hooks", "risk_level": "low", "conversational": true, "steps": [] });
    let llm = FakeLlm::start(vec![
        Rule::text(&["thinking out loud"], "The user asks a question."),
        Rule::text(&["You plan changes"], plan.to_string()),
        Rule::text(&["Answer the user's last message", "What are React hooks?"], answer),
    ])
    .await;
    let blink = blink_with(&llm, &[]).await;
    let events =
        orchestrate(&blink, &json!({ "messages": [{ "role": "user", "content": "What are React hooks?" }] })).await;
    assert_eq!(
        sse::squash_deltas(&sse::sequence(&events)),
        ["phase:planning", "thinking_delta", "intent_classified", "plan", "conv_start", "conv_delta", "result"]
    );
    assert!(of_type(&events, "conv_delta").len() > 3, "the answer was not streamed token by token");
    assert_eq!(deltas(&events, "conv_delta"), answer);
    assert_eq!(
        events.last().unwrap(),
        &json!({ "type": "result", "conversational": true, "reply": answer, "files": [], "deletedFiles": [] })
    );
    assert_eq!(of_type(&events, "intent_classified")[0]["conversational"], true);
    let answer_call = llm.received().into_iter().find(|r| r.text().contains("Answer the user's last message")).unwrap();
    assert!(answer_call.streamed());
}

#[tokio::test]
async fn an_ambiguous_request_gets_a_clarification_question() {
    let plan = json!({ "intent": "build something", "risk_level": "low", "conversational": false, "clarification_needed": true, "clarification_question": "Which pages should the site have?", "steps": [] });
    let llm = FakeLlm::start(vec![
        Rule::text(&["thinking out loud"], "Unclear."),
        Rule::text(&["You plan changes"], plan.to_string()),
    ])
    .await;
    let blink = blink_with(&llm, &[]).await;
    let events = orchestrate(&blink, &json!({ "messages": [{ "role": "user", "content": "make it better" }] })).await;
    assert_eq!(
        sse::squash_deltas(&sse::sequence(&events)),
        ["phase:planning", "thinking_delta", "intent_classified", "plan", "conv_start", "conv_delta", "result"]
    );
    let reply = "🤔 Which pages should the site have?";
    assert_eq!(deltas(&events, "conv_delta"), reply);
    assert_eq!(events.last().unwrap()["reply"], reply);
    assert_eq!(llm.received().len(), 2, "a clarification needs no answer call");
}

async fn assert_llm_unavailable(events: &[Value], message_part: &str) {
    assert_eq!(sse::sequence(events), ["phase:planning", "phase:error", "error", "result"], "{events:#?}");
    let error = &events[2];
    assert_eq!(error["code"], "llm_unavailable");
    assert!(error["message"].as_str().unwrap().contains(message_part), "{error}");
    assert_eq!(events[1]["message"], error["message"]);
    let result = &events[3];
    assert_eq!(result["conversational"], true);
    assert_eq!(result["reply"], format!("⚠️ Erreur: {}", error["message"].as_str().unwrap()));
    assert_eq!(result["files"], json!([]));
    assert_eq!(result["deletedFiles"], json!([]));
}

#[tokio::test]
async fn a_model_outage_is_reported_as_llm_unavailable_after_retries() {
    let llm = FakeLlm::start(vec![Rule::status(&[], 503, "upstream overloaded")]).await;
    let blink = blink_with(&llm, &[("BLINK_LLM_MAX_RETRIES", "2".into())]).await;
    let events = orchestrate(&blink, &json!({ "messages": [{ "role": "user", "content": "Add a footer" }] })).await;
    assert_llm_unavailable(&events, "upstream overloaded").await;
    // Thinking (1 + 2 retries) is skipped, then planning (1 + 2 retries) fails the run.
    assert_eq!(llm.received().len(), 6);
}

#[tokio::test]
async fn without_a_configured_model_the_stream_explains_how_to_configure_one() {
    let blink = Blink::start(BIN, &[]).await;
    let events = orchestrate(&blink, &json!({ "messages": [{ "role": "user", "content": "Add a footer" }] })).await;
    assert_llm_unavailable(&events, "BLINK_LLM_BASE_URL").await;
}

#[tokio::test]
async fn bad_requests_get_json_errors_before_any_stream() {
    let llm = FakeLlm::start(vec![]).await;
    let blink = blink_with(&llm, &[("BLINK_MAX_BODY_BYTES", "2000".into()), ("BLINK_MAX_MESSAGES", "3".into())]).await;
    let token = jwt::user_token("user-1");
    let post = |body: Value| {
        let (blink, token) = (&blink, token.clone());
        async move { blink.post("/api/orchestrator", Some(&token), &body).await }
    };
    let (status, text) = post(json!({ "messages": [] })).await;
    assert_eq!((status, text.as_str()), (400, r#"{"error":"Messages array required"}"#));
    let (status, text) = post(json!({ "projectContext": "x" })).await;
    assert_eq!((status, text.as_str()), (400, r#"{"error":"Messages array required"}"#));
    let user = json!({ "role": "user", "content": "hi" });
    let (status, text) = post(json!({ "messages": [user, user, user] })).await;
    assert_eq!(status, 200, "three messages is the limit, not over it: {text}");
    let (status, text) = post(json!({ "messages": [user, user, user, user] })).await;
    assert_eq!(status, 400);
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap()["error"], "too_many_messages");
    let (status, text) = post(json!({ "messages": [user], "projectContext": "x".repeat(2100) })).await;
    assert_eq!(status, 413, "{text}");
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap()["error"], "payload_too_large");
    let (status, text) = post(json!({ "messages": [{ "role": "robot", "content": "hi" }] })).await;
    assert_eq!(
        (status, serde_json::from_str::<Value>(&text).unwrap()["error"].clone()),
        (400, json!("invalid_message"))
    );
    let (status, text) = post(json!({ "messages": [user], "files": { "../../etc/passwd": "x" } })).await;
    assert_eq!((status, serde_json::from_str::<Value>(&text).unwrap()["error"].clone()), (400, json!("invalid_path")));
    let (status, text) = post(json!({ "messages": [user], "target": "deno" })).await;
    assert_eq!(
        (status, serde_json::from_str::<Value>(&text).unwrap()["error"].clone()),
        (400, json!("invalid_target"))
    );
    let response = reqwest::Client::new()
        .post(format!("{}/api/orchestrator", blink.url))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "invalid_json");
    assert!(llm.received().iter().all(|r| !r.text().contains("robot")));
}

#[tokio::test]
async fn cors_preflight_and_health() {
    let blink = Blink::start(BIN, &[]).await;
    let client = reqwest::Client::new();
    let response = client
        .request(reqwest::Method::OPTIONS, format!("{}/api/orchestrator", blink.url))
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "authorization, x-client-info, apikey, content-type")
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    let allowed = response.headers()["access-control-allow-headers"].to_str().unwrap().to_lowercase();
    for h in ["authorization", "x-client-info", "apikey", "content-type"] {
        assert!(allowed.contains(h), "{h} not allowed: {allowed}");
    }
    let health: Value = client.get(format!("{}/healthz", blink.url)).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["status"], "ok");
}

#[tokio::test]
async fn idle_streams_carry_keep_alive_comments() {
    let plan =
        json!({ "intent": "hello", "conversational": true, "reply": "Hello! What shall we build?", "steps": [] });
    let llm = FakeLlm::start(vec![
        Rule::text(&["thinking out loud"], "Greeting."),
        Rule::text(&["You plan changes"], plan.to_string()).delay(Duration::from_millis(2500)),
    ])
    .await;
    let blink = blink_with(&llm, &[("BLINK_SSE_KEEPALIVE_SECS", "1".into())]).await;
    let token = jwt::user_token("user-1");
    let (status, text) = blink
        .post("/api/orchestrator", Some(&token), &json!({ "messages": [{ "role": "user", "content": "hello" }] }))
        .await;
    assert_eq!(status, 200);
    assert!(text.contains("\n: keep-alive\n") || text.starts_with(": keep-alive\n"), "{text}");
    let events = sse::events(&text);
    assert_eq!(events.last().unwrap()["reply"], "Hello! What shall we build?");
}

#[tokio::test]
async fn a_client_that_disconnects_cancels_the_run() {
    let llm = FakeLlm::start(vec![
        Rule::text(&["thinking out loud"], "Thinking."),
        Rule::text(&["You plan changes"], plan_json(navbar_steps())).delay(Duration::from_millis(1500)),
        Rule::text(&["Your part:"], fenced(BROWSER_APP)),
    ])
    .await;
    let blink = blink_with(&llm, &[]).await;
    let token = jwt::user_token("user-1");
    let mut response = reqwest::Client::new()
        .post(format!("{}/api/orchestrator", blink.url))
        .bearer_auth(&token)
        .json(&json!({ "messages": [{ "role": "user", "content": "Add a navbar" }] }))
        .send()
        .await
        .unwrap();
    let first = response.chunk().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("planning"));
    drop(response);
    tokio::time::sleep(Duration::from_millis(3000)).await;
    let received = llm.received();
    assert!(
        received.iter().all(|r| !r.text().contains("Your part:")),
        "a generator call was made after the client left"
    );
    assert!(blink.log().contains("Cancelled"), "{}", blink.log());
}

fn error_code(events: &[Value]) -> Option<String> {
    of_type(events, "error").first().map(|e| e["code"].as_str().unwrap().to_string())
}

/// Thinking, plan and two files: four model calls, and no fix round (the files are clean).
fn clean_two_file_rules() -> Vec<Rule> {
    vec![
        Rule::text(&["thinking out loud"], THINKING),
        Rule::text(&["You plan changes"], plan_json(navbar_steps())),
        Rule::text(&["Your part:\n- create Navbar.tsx"], fenced(BROWSER_NAVBAR_FIXED)),
        Rule::text(&["Your part:\n- modify App.tsx"], fenced(BROWSER_APP)),
    ]
}

fn navbar_request() -> Value {
    json!({ "messages": [{ "role": "user", "content": "Add a navbar with the site title" }], "projectContext": "function App() {}", "fileTree": "App.tsx" })
}

#[tokio::test]
async fn the_model_call_budget_holds_at_its_edge() {
    let llm = FakeLlm::start(clean_two_file_rules()).await;
    let blink = blink_with(&llm, &[("BLINK_RUN_MAX_MODEL_CALLS", "4".into())]).await;
    let events = orchestrate(&blink, &navbar_request()).await;
    assert_eq!(error_code(&events), None, "four calls fit a budget of four: {events:#?}");
    assert_eq!(events.last().unwrap()["files"].as_array().unwrap().len(), 2);

    let llm = FakeLlm::start(clean_two_file_rules()).await;
    let blink = blink_with(&llm, &[("BLINK_RUN_MAX_MODEL_CALLS", "3".into())]).await;
    let events = orchestrate(&blink, &navbar_request()).await;
    assert_eq!(error_code(&events).as_deref(), Some("budget_exceeded"), "{events:#?}");
    assert!(llm.received().len() <= 3, "the host let the run make {} calls", llm.received().len());
}

#[tokio::test]
async fn the_token_budget_stops_a_run() {
    let llm = FakeLlm::start(clean_two_file_rules()).await;
    let blink = blink_with(&llm, &[("BLINK_RUN_MAX_TOKENS", "2000".into())]).await;
    let events = orchestrate(&blink, &navbar_request()).await;
    assert_eq!(error_code(&events).as_deref(), Some("budget_exceeded"), "{events:#?}");
    let used: usize = llm.received().iter().map(|r| r.prompt_tokens + r.completion_tokens).sum();
    assert!(used <= 2000, "{used} tokens used against a budget of 2000");
}

#[tokio::test]
async fn the_fix_loop_stops_when_a_round_makes_no_progress() {
    // The "fix" swaps one undefined component for another: still one error.
    let still_broken = BROWSER_NAVBAR_BROKEN.replace("<Logo />", "<Brand />");
    let llm = FakeLlm::start(vec![
        Rule::text(&["thinking out loud"], THINKING),
        Rule::text(&["You plan changes"], plan_json(navbar_steps())),
        Rule::text(&["Problems to fix"], fenced(&still_broken)),
        Rule::text(&["Your part:\n- create Navbar.tsx"], fenced(BROWSER_NAVBAR_BROKEN)),
        Rule::text(&["Your part:\n- modify App.tsx"], fenced(BROWSER_APP)),
    ])
    .await;
    let blink = blink_with(&llm, &[("BLINK_MAX_FIX_ROUNDS", "5".into())]).await;
    let events = orchestrate(&blink, &navbar_request()).await;
    let validations = of_type(&events, "validation");
    assert_eq!(validations.len(), 2, "one round, then stop: {events:#?}");
    assert_eq!(validations[1]["fixerExhausted"], true);
    assert_eq!(llm.received().iter().filter(|r| r.text().contains("Problems to fix")).count(), 1);
    let result = events.last().unwrap();
    assert_eq!(result["conversational"], false, "the files are delivered with their errors shown");
    assert!(result["files"].as_array().unwrap().iter().any(|f| f["content"].as_str().unwrap().contains("<Brand />")));
}

#[tokio::test]
async fn with_no_fix_rounds_the_first_validation_is_the_last() {
    let llm = FakeLlm::start(vec![
        Rule::text(&["thinking out loud"], THINKING),
        Rule::text(&["You plan changes"], plan_json(navbar_steps())),
        Rule::text(&["Your part:\n- create Navbar.tsx"], fenced(BROWSER_NAVBAR_BROKEN)),
        Rule::text(&["Your part:\n- modify App.tsx"], fenced(BROWSER_APP)),
    ])
    .await;
    let blink = blink_with(&llm, &[("BLINK_MAX_FIX_ROUNDS", "0".into())]).await;
    let events = orchestrate(&blink, &navbar_request()).await;
    let validations = of_type(&events, "validation");
    assert_eq!(validations.len(), 1);
    assert_eq!(validations[0]["fixerExhausted"], true);
    assert!(!sse::sequence(&events).contains(&"phase:fixing".to_string()));
}

#[tokio::test]
async fn plans_cannot_reach_outside_the_project_or_delete_the_app() {
    let steps = json!([
        { "id": 1, "action": "create", "target": "Evil", "path": "../../etc/evil.tsx", "description": "escape", "priority": "normal" },
        { "id": 2, "action": "delete", "target": "App", "path": "App.tsx", "description": "remove the app", "priority": "normal" },
        { "id": 3, "action": "create", "target": "Navbar", "path": "Navbar.tsx", "description": "A navbar", "priority": "normal" },
        { "id": 4, "action": "delete", "target": "Old", "path": "Old.tsx", "description": "unused", "priority": "optional" },
    ]);
    let llm = FakeLlm::start(vec![
        Rule::text(&["thinking out loud"], THINKING),
        Rule::text(&["You plan changes"], plan_json(steps)),
        Rule::text(&["Your part:\n- create Navbar.tsx"], fenced(BROWSER_NAVBAR_FIXED)),
    ])
    .await;
    let blink = blink_with(&llm, &[]).await;
    let body = json!({
        "messages": [{ "role": "user", "content": "Add a navbar" }],
        "files": { "App.tsx": BROWSER_APP, "Old.tsx": "function Old() { return null; }\n" },
        "fileTree": "App.tsx\nOld.tsx",
    });
    let events = orchestrate(&blink, &body).await;
    let plan = &of_type(&events, "plan")[0]["plan"];
    let paths: Vec<&str> = plan["steps"].as_array().unwrap().iter().map(|s| s["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["Navbar.tsx", "Old.tsx"]);
    assert_eq!(
        of_type(&events, "file_read").iter().map(|e| e["path"].as_str().unwrap()).collect::<Vec<_>>(),
        ["Old.tsx"]
    );
    let result = events.last().unwrap();
    assert_eq!(result["deletedFiles"], json!(["Old.tsx"]));
    assert_eq!(result["files"], json!([{ "path": "Navbar.tsx", "content": BROWSER_NAVBAR_FIXED }]));
    assert!(llm.received().iter().all(|r| !r.text().contains("Your part:\n- create ../../etc/evil.tsx")));
}

#[tokio::test]
async fn a_file_cut_off_at_the_token_limit_is_not_delivered_as_whole() {
    let llm = FakeLlm::start(vec![
        Rule::text(&["thinking out loud"], THINKING),
        Rule::text(&["You plan changes"], plan_json(navbar_steps())),
        Rule::text(&["Your part:\n- create Navbar.tsx"], "```tsx\nfunction Navbar() {\n  return (\n    <nav>")
            .truncated(),
        Rule::text(&["Your part:\n- modify App.tsx"], fenced(BROWSER_APP)),
    ])
    .await;
    let blink = blink_with(&llm, &[]).await;
    let events = orchestrate(&blink, &navbar_request()).await;
    assert_eq!(error_code(&events).as_deref(), Some("agent_failed"), "{events:#?}");
    let message = of_type(&events, "error")[0]["message"].as_str().unwrap().to_string();
    assert!(message.contains("token limit") && message.contains("Navbar.tsx"), "{message}");
}

async fn stream_text(response: reqwest::Response) -> String {
    String::from_utf8(response.bytes().await.unwrap().to_vec()).unwrap()
}

#[tokio::test]
async fn shutdown_lets_runs_in_flight_finish_then_cancels_what_is_left() {
    let plan = json!({ "intent": "hello", "conversational": true, "reply": "Hello there!", "steps": [] });
    let llm = FakeLlm::start(vec![
        Rule::text(&["thinking out loud"], "Greeting."),
        Rule::text(&["You plan changes", "slow"], plan.to_string()).delay(Duration::from_secs(30)),
        Rule::text(&["You plan changes"], plan.to_string()).delay(Duration::from_millis(1500)),
    ])
    .await;
    let mut blink = blink_with(&llm, &[("BLINK_SHUTDOWN_GRACE_SECS", "3".into())]).await;
    let token = jwt::user_token("user-1");
    let client = reqwest::Client::new();
    let start = |content: &str| {
        client
            .post(format!("{}/api/orchestrator", blink.url))
            .bearer_auth(&token)
            .json(&json!({ "messages": [{ "role": "user", "content": content }] }))
            .send()
    };
    let (quick, slow) = tokio::join!(start("hello"), start("hello, slow one"));
    let (quick, slow) = (quick.unwrap(), slow.unwrap());
    blink.terminate();
    let (quick, slow) = tokio::join!(stream_text(quick), stream_text(slow));
    let quick = sse::events(&quick);
    assert_eq!(quick.last().unwrap()["reply"], "Hello there!", "a run in flight finishes: {quick:#?}");
    let slow = sse::events(&slow);
    assert_eq!(error_code(&slow).as_deref(), Some("cancelled"), "{slow:#?}");
    assert_eq!(blink.wait(Duration::from_secs(10)).await, Some(true), "{}", blink.log());
}

#[tokio::test]
async fn a_recorded_run_replays_with_no_model_behind() {
    let llm = FakeLlm::start(vec![
        Rule::text(&["thinking out loud"], THINKING),
        Rule::text(&["You plan changes"], plan_json(navbar_steps())),
        Rule::text(&["Problems to fix", "Navbar.tsx"], fenced(BROWSER_NAVBAR_FIXED)),
        Rule::text(&["Your part:\n- create Navbar.tsx"], fenced(BROWSER_NAVBAR_BROKEN)),
        Rule::text(&["Your part:\n- modify App.tsx"], fenced(BROWSER_APP)),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("navbar.jsonl");
    let recording = blink_with(&llm, &[("BLINK_LLM_RECORD", cassette.display().to_string())]).await;
    let recorded = orchestrate(&recording, &navbar_request()).await;
    assert_eq!(error_code(&recorded), None, "{recorded:#?}");
    assert_eq!(std::fs::read_to_string(&cassette).unwrap().lines().count(), 5, "one line per model exchange");

    // No model at all: only the cassette.
    let replaying = Blink::start(BIN, &[("BLINK_LLM_REPLAY", cassette.display().to_string())]).await;
    let replayed = orchestrate(&replaying, &navbar_request()).await;
    assert_eq!(sse::squash_deltas(&sse::sequence(&replayed)), sse::squash_deltas(&sse::sequence(&recorded)));
    assert_eq!(deltas(&replayed, "thinking_delta"), THINKING);
    assert_eq!(of_type(&replayed, "validation"), of_type(&recorded, "validation"));
    assert_eq!(replayed.last(), recorded.last(), "the replayed run delivers the same files");
    assert_eq!(llm.received().len(), 5, "the replay made no model call");

    // A request the cassette never saw is a clear model error, not a hang.
    let other = json!({ "messages": [{ "role": "user", "content": "Something else entirely" }] });
    let events = orchestrate(&replaying, &other).await;
    assert_eq!(error_code(&events).as_deref(), Some("llm_unavailable"));
    assert!(of_type(&events, "error")[0]["message"].as_str().unwrap().contains("no recorded answer"), "{events:#?}");
}

/// What a model writes for the `browser` target when it slips the way models do: components and
/// data defined in one file and used in another, with nothing put on `window`, and a TypeScript
/// type argument the frontend's Babel reads as a comparison.
const DASHBOARD_SLIPPED: &str = "function Dashboard() {\n  const [shown] = React.useState<number>(ITEMS.length);\n  return <section>{ITEMS.map((item) => <StatCard key={item} label={item} />)}<p>Total: {shown}</p></section>;\n}\n";
const DASHBOARD_FIXED: &str = "function Dashboard() {\n  const [shown] = React.useState(ITEMS.length);\n  return <section>{ITEMS.map((item) => <StatCard key={item} label={item} />)}<p>Total: {shown}</p></section>;\n}\n";
const STAT_CARD: &str = "function StatCard({ label }) {\n  return <div className=\"rounded p-4\">{label}</div>;\n}\n";
const ITEMS_FILE: &str = "const ITEMS = ['Revenue', 'Users', 'Churn'];\n";
const DASHBOARD_APP: &str = "function App() {\n  return <main><h1>Metrics</h1><Dashboard /></main>;\n}\n\nReactDOM.createRoot(document.getElementById('root')).render(<App />);\n";

#[tokio::test]
async fn a_browser_run_whose_files_cross_files_renders_in_the_frontends_preview() {
    use blink_test_support::browser::Browser;
    use blink_test_support::frontend_preview::FrontendPreview;
    use std::collections::BTreeMap;

    let steps = json!([
        { "id": 1, "action": "create", "target": "items", "path": "items.ts", "description": "The metric names.", "priority": "critical" },
        { "id": 2, "action": "create", "target": "StatCard", "path": "StatCard.tsx", "description": "One metric.", "priority": "critical" },
        { "id": 3, "action": "create", "target": "Dashboard", "path": "Dashboard.tsx", "description": "A StatCard per item and the total.", "priority": "critical" },
        { "id": 4, "action": "modify", "target": "App", "path": "App.tsx", "description": "Render Dashboard.", "priority": "normal" },
    ]);
    let llm = FakeLlm::start(vec![
        Rule::text(&["thinking out loud"], THINKING),
        Rule::text(&["You plan changes"], plan_json(steps)),
        Rule::text(&["Problems to fix", "Dashboard.tsx"], fenced(DASHBOARD_FIXED)),
        Rule::text(&["Your part:\n- create items.ts"], fenced(ITEMS_FILE)),
        Rule::text(&["Your part:\n- create StatCard.tsx"], fenced(STAT_CARD)),
        Rule::text(&["Your part:\n- create Dashboard.tsx"], fenced(DASHBOARD_SLIPPED)),
        Rule::text(&["Your part:\n- modify App.tsx"], fenced(DASHBOARD_APP)),
    ])
    .await;
    let blink = blink_with(&llm, &[]).await;
    let old_app = "function App() {\n  return <div>Hello</div>;\n}\nReactDOM.createRoot(document.getElementById('root')).render(<App />);\n";
    let body = json!({
        "messages": [{ "role": "user", "content": "Show my metrics on a dashboard" }],
        "files": { "App.tsx": old_app },
    });
    let events = orchestrate(&blink, &body).await;
    let result = events.last().unwrap();
    assert_eq!(result["type"], "result", "{events:#?}");
    let validations = of_type(&events, "validation");
    let first_errors = validations[0]["errors"].as_array().unwrap();
    assert!(
        first_errors.iter().any(|e| e["file"] == "Dashboard.tsx" && e["type"] == "syntax"),
        "the type argument was not reported: {first_errors:#?}"
    );
    assert_eq!(validations.last().unwrap()["errors"], json!([]), "{validations:#?}");

    let delivered: BTreeMap<String, String> = result["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["path"].as_str().unwrap().to_string(), f["content"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(delivered.len(), 4, "{delivered:#?}");
    let raw: BTreeMap<String, String> = [
        ("items.ts", ITEMS_FILE),
        ("StatCard.tsx", STAT_CARD),
        ("Dashboard.tsx", DASHBOARD_FIXED),
        ("App.tsx", DASHBOARD_APP),
    ]
    .into_iter()
    .map(|(p, c)| (p.to_string(), c.to_string()))
    .collect();

    // The frontend's own preview document, over the libraries at its versions: what the model wrote
    // crashes there, what the host delivered renders.
    let preview = FrontendPreview::start().await;
    let mut browser = Browser::launch().await;
    let before = preview.render(&mut browser, &raw, "Total: 3").await;
    assert!(!before.shown, "the files as the model wrote them should not render: {before:?}");
    assert!(before.errors.iter().any(|e| e.contains("is not defined")), "{before:?}");
    let after = preview.render(&mut browser, &delivered, "Total: 3").await;
    assert!(after.shown, "the delivered files do not render in the frontend's preview: {after:?}");
    for label in ["Revenue", "Users", "Churn", "Metrics"] {
        assert!(after.text.contains(label), "{label} missing from {:?}", after.text);
    }
}

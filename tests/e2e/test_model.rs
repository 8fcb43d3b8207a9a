//! The built-in test model (`BLINK_LLM_PROVIDER=test`), through the real binary: whole runs with
//! no vendor and no network, whose apps validate clean with the built-in validator and run in
//! today's frontend's own preview; a request "with a mistake" gets a fix round that repairs it.

use std::collections::BTreeMap;

use blink_test_support::browser::Browser;
use blink_test_support::frontend_preview::FrontendPreview;
use blink_test_support::host::Blink;
use blink_test_support::{jwt, sse};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_blink");

async fn run(blink: &Blink, ask: &str, target: &str) -> Vec<Value> {
    let response = reqwest::Client::new()
        .post(format!("{}/api/orchestrator", blink.url))
        .bearer_auth(jwt::user_token("test-model-user"))
        .json(&json!({ "messages": [{ "role": "user", "content": ask }], "target": target }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    sse::events(&response.text().await.unwrap())
}

fn of_type<'e>(events: &'e [Value], kind: &str) -> Vec<&'e Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

fn files(events: &[Value]) -> BTreeMap<String, String> {
    let result = of_type(events, "result").pop().expect("a result event");
    result["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["path"].as_str().unwrap().to_string(), f["content"].as_str().unwrap().to_string()))
        .collect()
}

const APPS: [(&str, &str); 4] = [
    ("Build me a counter", "Counter"),
    ("Make a todo list app", "Todo list"),
    ("I need a dashboard with some stats", "Dashboard"),
    ("A contact form please", "Contact form"),
];

#[tokio::test]
async fn its_apps_validate_clean_for_both_targets_and_run_in_the_frontends_preview() {
    let blink = Blink::start(BIN, &[("BLINK_LLM_PROVIDER", "test".into())]).await;
    let preview = FrontendPreview::start().await;
    let mut browser = Browser::launch().await;
    for (ask, title) in APPS {
        for target in ["browser", "vite"] {
            let events = run(&blink, ask, target).await;
            let validations = of_type(&events, "validation");
            assert_eq!(validations.len(), 1, "{ask} ({target}) needed a fix round: {events:#?}");
            assert_eq!(validations[0]["errors"], json!([]), "{ask} ({target})");
            assert!(of_type(&events, "error").is_empty(), "{events:#?}");
            let files = files(&events);
            assert!(files.contains_key("App.tsx"), "{ask} ({target}): {files:?}");
            if target == "browser" {
                let rendered = preview.render(&mut browser, &files, title).await;
                assert!(rendered.shown && rendered.errors.is_empty(), "{ask}: {rendered:?}\n{files:#?}");
                assert!(rendered.console.is_empty(), "{ask}: {:?}", rendered.console);
            }
        }
    }
}

#[tokio::test]
async fn a_mistake_asked_for_is_fixed_in_a_fix_round() {
    let blink = Blink::start(BIN, &[("BLINK_LLM_PROVIDER", "test".into())]).await;
    for target in ["browser", "vite"] {
        let events = run(&blink, "Build me a counter with a mistake", target).await;
        let phases: Vec<&str> = of_type(&events, "phase").iter().map(|e| e["phase"].as_str().unwrap()).collect();
        assert!(phases.contains(&"fixing"), "{target}: {phases:?}");
        let validations = of_type(&events, "validation");
        assert!(validations.len() >= 2, "{target}: {validations:#?}");
        assert_ne!(validations[0]["errors"], json!([]), "the mistake was not seen");
        assert_eq!(validations.last().unwrap()["errors"], json!([]), "{target}: not fixed: {validations:#?}");
        assert!(files(&events)["Counter.tsx"].contains("setCount(count + 1)"));
    }
}

#[tokio::test]
async fn greetings_and_questions_get_canned_answers_that_say_so() {
    let blink = Blink::start(BIN, &[("BLINK_LLM_PROVIDER", "test".into())]).await;
    let hello = run(&blink, "hello", "browser").await;
    let result = of_type(&hello, "result").pop().unwrap().clone();
    assert_eq!(result["conversational"], true);
    assert!(result["reply"].as_str().unwrap().contains("test model"), "{result}");
    let question = run(&blink, "What can you do?", "browser").await;
    let answer: String =
        of_type(&question, "conv_delta").iter().map(|e| e["delta"].as_str().unwrap().to_string()).collect();
    assert!(answer.contains("canned"), "{question:#?}");
    // The runs say which model served them.
    let readyz: Value = reqwest::get(format!("{}/readyz", blink.url)).await.unwrap().json().await.unwrap();
    assert_eq!(readyz["llm"], true);
}

/// The sample cassette shipped in `docs/cassettes/` replays the run it recorded: same plan, same
/// files, same verdict. When the built-in prompts change, its keys no longer match and this says
/// to record it again.
#[tokio::test]
async fn the_sample_cassette_replays_the_run_it_recorded() {
    let cassette = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/cassettes/todo-list.jsonl");
    let live = Blink::start(BIN, &[("BLINK_LLM_PROVIDER", "test".into())]).await;
    let replayed = Blink::start(BIN, &[("BLINK_LLM_REPLAY", cassette.into())]).await;
    let (live, replayed) =
        (run(&live, "Build me a todo list", "browser").await, run(&replayed, "Build me a todo list", "browser").await);
    assert!(
        of_type(&replayed, "error").is_empty(),
        "the sample cassette no longer matches the built-in prompts: record it again as docs/cassettes.md says\n{replayed:#?}"
    );
    for kind in ["plan", "validation", "result"] {
        assert_eq!(of_type(&live, kind), of_type(&replayed, kind), "{kind}");
    }
    let thinking = |events: &[Value]| -> String {
        of_type(events, "thinking_delta").iter().map(|e| e["delta"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(thinking(&live), thinking(&replayed));
}

//! Credits: what a user makes the vendor produce is what they pay for, however the run ends.

use std::time::Duration;

use blink_test_support::fake_llm::{FakeLlm, Rule};
use blink_test_support::host::Blink;
use blink_test_support::jwt;
use serde_json::{Value, json};

use super::BIN;

/// Item 7: a client that disconnects while an answer streams is charged the prompt and what was
/// streamed to it, never given the whole reservation back.
#[tokio::test]
async fn a_client_that_leaves_mid_answer_pays_for_what_it_was_sent() {
    let words: Vec<String> = (0..300).map(|i| format!("word{i:03}")).collect();
    let answer = words.join(" ");
    let plan = json!({ "intent": "a question", "conversational": true, "steps": [] });
    let llm = FakeLlm::start(vec![
        Rule::text(&["You plan changes"], plan.to_string()),
        Rule::text(&["Answer the user's last message"], answer.clone()).paced(Duration::from_millis(25)),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("agents.json");
    std::fs::write(&config, r#"{"planner": {"thinking": "off"}}"#).unwrap();
    // One micro-credit a token, so costs are token counts.
    let blink = Blink::start(
        BIN,
        &[
            ("BLINK_LLM_BASE_URL", llm.base_url()),
            ("BLINK_PRICING", r#"{"default": {"prompt": 1000, "completion": 1000}}"#.to_string()),
            ("BLINK_AGENT_CONFIG", config.display().to_string()),
        ],
    )
    .await;
    let token = jwt::user_token("leaver");
    let client = reqwest::Client::new();
    let credits = || async {
        let response = client.get(format!("{}/api/credits", blink.url)).bearer_auth(&token).send().await.unwrap();
        response.json::<Value>().await.unwrap()
    };
    let starting = credits().await["balance"].as_i64().unwrap();

    // Read the answer as it streams, and leave a third of the way through it.
    let mut response = client
        .post(format!("{}/api/orchestrator", blink.url))
        .bearer_auth(&token)
        .json(&json!({ "messages": [{ "role": "user", "content": "Tell me a long story" }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut seen = String::new();
    while seen.matches("\"conv_delta\"").count() < 100 {
        let chunk = tokio::time::timeout(Duration::from_secs(30), response.chunk()).await.unwrap().unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk.expect("the stream ended before the client left")));
    }
    drop(response);
    let streamed: usize = seen
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter(|e| e["type"] == "conv_delta")
        .map(|e| e["delta"].as_str().unwrap_or_default().len())
        .sum();

    // The answer's reservation is settled once the host notices the client left.
    let mut settled = None;
    for _ in 0..200 {
        let now = credits().await;
        let recent = now["recent"].as_array().unwrap().clone();
        let closing: Vec<&Value> = recent.iter().filter(|e| e["kind"] != "reserve").collect();
        if closing.len() >= 2 {
            settled = Some(now.clone());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    settled.unwrap_or_else(|| panic!("the answer's reservation was never settled:\n{}", blink.log()));
    // Read again once the run has stopped moving: the balance and the ledger lines are two reads,
    // and a settlement may land between them while the host is still winding the run down.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let now = credits().await;
    let recent = now["recent"].as_array().unwrap();
    assert!(
        !recent.iter().any(|e| e["kind"] == "release"),
        "the cut answer's reservation was handed back whole: {recent:#?}"
    );
    let answer_line = recent
        .iter()
        .filter(|e| e["kind"] == "settle")
        .max_by_key(|e| e["completionTokens"].as_i64().unwrap_or(0))
        .unwrap();
    let (prompt, completion) =
        (answer_line["promptTokens"].as_i64().unwrap(), answer_line["completionTokens"].as_i64().unwrap());
    assert!(prompt > 0, "the prompt the vendor read is charged: {answer_line}");
    assert!(
        completion >= (streamed / 4) as i64,
        "at least what reached the client ({streamed} characters) is charged: {answer_line}"
    );
    assert!(completion < (answer.len() / 4) as i64, "only what was streamed, not the whole answer: {answer_line}");
    // The balance moved by exactly what the ledger says.
    let moved: i64 = recent.iter().map(|e| e["amount"].as_i64().unwrap()).sum();
    assert_eq!(now["balance"].as_i64().unwrap(), starting + moved, "{recent:#?}");
    assert!(starting - now["balance"].as_i64().unwrap() >= prompt + completion);
}

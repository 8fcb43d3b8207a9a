//! Section 2 of the benchmark report: Orchestrations through the real binary.

use super::agents::{APP, FOOTER, PLAN};
use super::*;

pub(crate) fn two_file_rules() -> Vec<Rule> {
    vec![
        Rule::text(&["thinking out loud"], "A footer component, rendered by App."),
        Rule::text(&["You plan changes"], PLAN),
        Rule::text(&["Your part:\n- create Footer.tsx"], format!("```tsx\n{FOOTER}```")),
        Rule::text(&["Your part:\n- modify App.tsx"], format!("```tsx\n{APP}```")),
    ]
}

pub(crate) fn body() -> Value {
    json!({ "messages": [{ "role": "user", "content": "Add a footer with links" }], "projectContext": APP, "fileTree": "App.tsx" })
}

pub(crate) async fn run_once(
    client: &reqwest::Client,
    blink: &Blink,
    token: &str,
    body: &Value,
) -> Vec<(Duration, Value)> {
    let start = Instant::now();
    let response =
        client.post(format!("{}/api/orchestrator", blink.url)).bearer_auth(token).json(body).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let mut stream = response.bytes_stream();
    let mut buffer = String::new();
    let mut events: Vec<(Duration, Value)> = Vec::new();
    let mut all = String::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        all.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(i) = buffer.find('\n') {
            let line: String = buffer.drain(..=i).collect();
            if let Some(data) = line.trim_end().strip_prefix("data: ")
                && data != "[DONE]"
            {
                events.push((start.elapsed(), serde_json::from_str(data).unwrap()));
            }
        }
    }
    sse::events(&all);
    let last = &events.last().unwrap().1;
    assert_eq!(last["type"], "result", "{last}");
    assert_eq!(last["conversational"], false, "{last}");
    events
}

/// Returns the host's overhead per model call (orchestration p50 / model calls per run), in ms.
pub(crate) async fn orchestration_overhead(report: &mut String) -> f64 {
    const SEQUENTIAL: usize = 100;
    const CLIENTS: usize = 4;
    const PER_CLIENT: usize = 50;
    let llm = FakeLlm::start(two_file_rules()).await;
    let blink = Blink::start(BIN, &[("BLINK_LLM_BASE_URL", llm.base_url()), ("BLINK_LOG", "warn".into())]).await;
    let token = jwt::user_token("bench");
    let client = reqwest::Client::new();
    for _ in 0..10 {
        run_once(&client, &blink, &token, &body()).await;
    }
    let mut latency = histogram();
    for _ in 0..SEQUENTIAL {
        let t = Instant::now();
        run_once(&client, &blink, &token, &body()).await;
        latency.record(t.elapsed().as_micros() as u64).unwrap();
    }
    let t = Instant::now();
    futures::future::join_all((0..CLIENTS).map(|_| {
        let (client, blink, token) = (&client, &blink, &token);
        async move {
            for _ in 0..PER_CLIENT {
                run_once(client, blink, token, &body()).await;
            }
        }
    }))
    .await;
    let throughput = (CLIENTS * PER_CLIENT) as f64 / t.elapsed().as_secs_f64();
    let calls_per_run = llm.received().len() / (10 + SEQUENTIAL + CLIENTS * PER_CLIENT);
    let _ = writeln!(report, "## 2. Host overhead per orchestration\n");
    let _ = writeln!(
        report,
        "The real `blink` binary over HTTP/SSE, a two-file change (thinking, plan, two files generated concurrently, validation with no errors: {calls_per_run} model calls a run) against a fake OpenAI-compatible server on loopback that answers instantly. Everything measured is the host's own work plus loopback HTTP.\n"
    );
    let _ = writeln!(report, "| measure | value |\n|---|---|");
    let _ = writeln!(report, "| sequential runs, p50 latency | {:.2} ms |", us(&latency, 0.5) / 1000.0);
    let _ = writeln!(report, "| sequential runs, p99 latency | {:.2} ms |", us(&latency, 0.99) / 1000.0);
    let _ = writeln!(report, "| throughput, {CLIENTS} concurrent clients | {throughput:.0} runs/s |\n");
    us(&latency, 0.5) / 1000.0 / calls_per_run.max(1) as f64
}

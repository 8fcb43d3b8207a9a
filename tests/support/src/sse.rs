//! Reads an SSE body exactly as today's frontend does (`useOrchestrator.ts`), and fails loudly on
//! anything it would not accept.

use serde_json::Value;

/// The events of a complete stream, in order. Panics if a data line is not `data: ` + one JSON
/// object, if anything follows `[DONE]`, or if `[DONE]` is missing.
pub fn events(body: &str) -> Vec<Value> {
    let mut events = Vec::new();
    let mut done = false;
    for raw in body.split('\n') {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.is_empty() || line.starts_with(':') {
            continue;
        }
        assert!(!done, "a line follows [DONE]: {line:?}");
        let data = line.strip_prefix("data: ").unwrap_or_else(|| panic!("not a `data: ` line: {line:?}"));
        if data == "[DONE]" {
            done = true;
            continue;
        }
        let value: Value = serde_json::from_str(data).unwrap_or_else(|e| panic!("not one JSON object ({e}): {data:?}"));
        assert!(value.is_object(), "not an object: {data}");
        assert!(value["type"].is_string(), "no type: {data}");
        events.push(value);
    }
    assert!(done, "the stream did not end with [DONE]:\n{body}");
    events
}

/// The `type` of each event, with the phase for phase events (`phase:planning`).
pub fn sequence(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| match e["type"].as_str().unwrap_or_default() {
            "phase" => format!("phase:{}", e["phase"].as_str().unwrap_or_default()),
            t => t.to_string(),
        })
        .collect()
}

/// Collapses runs of the same streamed-delta type, so sequences compare independent of chunking.
pub fn squash_deltas(sequence: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in sequence {
        if s.ends_with("_delta") && out.last() == Some(s) {
            continue;
        }
        out.push(s.clone());
    }
    out
}

/// The events a client received of a stream cut anywhere (its host killed): every whole frame,
/// in order; a frame cut short is not one.
pub fn received(body: &str) -> Vec<Value> {
    body.split("\n\n")
        .filter_map(|frame| frame.trim_start().strip_prefix("data: "))
        .filter_map(|data| serde_json::from_str::<Value>(data).ok())
        .filter(Value::is_object)
        .collect()
}

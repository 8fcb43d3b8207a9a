//! A fake OpenAI-compatible chat-completions server: real HTTP, streaming and non-streaming,
//! scripted answers chosen by what the request contains, and a record of every request received.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use futures::StreamExt;
use serde_json::{Value, json};

/// What the server answers to a matching request.
#[derive(Clone, Debug)]
pub enum Reply {
    /// The assistant's text (streamed in word-sized chunks when the request asks for a stream).
    Text(String),
    /// An HTTP error with an OpenAI-style error body.
    Status(u16, String),
}

#[derive(Clone, Debug)]
pub struct Rule {
    /// Every one of these must occur somewhere in the request's messages.
    pub when: Vec<String>,
    pub reply: Reply,
    /// How many times the rule answers; `None` for always.
    pub times: Option<usize>,
    pub delay: Duration,
    /// Extra latency per completion token, as a model that writes at a finite speed.
    pub per_token: Duration,
    /// `stop`, or `length` for an answer cut at the token limit.
    pub finish_reason: &'static str,
    /// Report the request's `max_tokens` as the completion tokens used, for exact billing tests.
    pub bill_max_tokens: bool,
    /// Time between streamed pieces, as a model whose answer arrives while it writes.
    pub pace: Duration,
}

/// A model that adds a footer: a two-step plan (create `Footer.tsx`, modify `App.tsx`) and the
/// code for each step, as the built-in agents ask for them.
pub fn footer_rules() -> Vec<Rule> {
    let plan = json!({ "intent": "add a footer", "steps": [
        { "id": 1, "action": "create", "target": "Footer", "path": "Footer.tsx", "description": "A footer" },
        { "id": 2, "action": "modify", "target": "App", "path": "App.tsx", "description": "Render the footer" },
    ]});
    vec![
        Rule::text(&["thinking out loud"], "A footer."),
        Rule::text(&["You plan changes"], plan.to_string()),
        Rule::text(
            &["Your part:\n- create Footer.tsx"],
            "```tsx\nfunction Footer() {\n  return <footer>Made with Blink</footer>;\n}\n```",
        ),
        Rule::text(
            &["Your part:\n- modify App.tsx"],
            "```tsx\nfunction App() {\n  return <div><Footer /></div>;\n}\nReactDOM.createRoot(document.getElementById('root')).render(<App />);\n```",
        ),
    ]
}

impl Rule {
    pub fn text(when: &[&str], text: impl Into<String>) -> Self {
        Self {
            when: when.iter().map(|s| s.to_string()).collect(),
            reply: Reply::Text(text.into()),
            times: None,
            delay: Duration::ZERO,
            per_token: Duration::ZERO,
            finish_reason: "stop",
            bill_max_tokens: false,
            pace: Duration::ZERO,
        }
    }
    pub fn status(when: &[&str], status: u16, message: &str) -> Self {
        Self {
            when: when.iter().map(|s| s.to_string()).collect(),
            reply: Reply::Status(status, message.into()),
            times: None,
            delay: Duration::ZERO,
            per_token: Duration::ZERO,
            finish_reason: "stop",
            bill_max_tokens: false,
            pace: Duration::ZERO,
        }
    }
    pub fn once(mut self) -> Self {
        self.times = Some(1);
        self
    }
    pub fn times(mut self, n: usize) -> Self {
        self.times = Some(n);
        self
    }
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
    /// Reports the request's `max_tokens` as the completion tokens used.
    pub fn bill_max_tokens(mut self) -> Self {
        self.bill_max_tokens = true;
        self
    }

    /// Answers as a model that hit its token limit.
    pub fn truncated(mut self) -> Self {
        self.finish_reason = "length";
        self
    }
    /// Streams the answer piece by piece, `pace` apart (a non-streamed answer waits for all of it).
    pub fn paced(mut self, pace: Duration) -> Self {
        self.pace = pace;
        self
    }
    pub fn per_token(mut self, per_token: Duration) -> Self {
        self.per_token = per_token;
        self
    }
}

/// One request the server received.
#[derive(Clone, Debug)]
pub struct Received {
    pub body: Value,
    pub authorization: Option<String>,
    /// The usage the server reported for its answer (zero for errors).
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
}

impl Received {
    /// All message contents, joined.
    pub fn text(&self) -> String {
        messages_text(&self.body)
    }
    pub fn streamed(&self) -> bool {
        self.body["stream"].as_bool().unwrap_or(false)
    }
}

fn messages_text(body: &Value) -> String {
    body["messages"]
        .as_array()
        .map(|m| m.iter().filter_map(|m| m["content"].as_str()).collect::<Vec<_>>().join("\n"))
        .unwrap_or_default()
}

#[derive(Default)]
struct Inner {
    rules: Vec<Rule>,
    received: Vec<Received>,
}

#[derive(Clone)]
pub struct FakeLlm {
    inner: Arc<Mutex<Inner>>,
    pub addr: SocketAddr,
}

impl FakeLlm {
    /// Starts the server on a free loopback port, in the current tokio runtime.
    pub async fn start(rules: Vec<Rule>) -> Self {
        let inner = Arc::new(Mutex::new(Inner { rules, received: Vec::new() }));
        let app = axum::Router::new().route("/v1/chat/completions", post(complete)).with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the fake model server");
        let addr = listener.local_addr().unwrap();
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        tokio::spawn(async move { axum::serve(listener, app).await.ok() });
        Self { inner, addr }
    }

    /// The value for `BLINK_LLM_BASE_URL`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.lock().unwrap().received.clone()
    }

    pub fn push(&self, rule: Rule) {
        self.inner.lock().unwrap().rules.push(rule);
    }
}

async fn complete(State(inner): State<Arc<Mutex<Inner>>>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let text = messages_text(&body);
    let authorization = headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_string);
    let prompt_tokens = text.len().div_ceil(4);
    let (reply, delay, finish_reason, completion_tokens) = {
        let mut inner = inner.lock().unwrap();
        let found =
            inner.rules.iter_mut().find(|r| r.times != Some(0) && r.when.iter().all(|w| text.contains(w.as_str())));
        let (reply, delay, finish_reason) = match found {
            Some(rule) => {
                if let Some(n) = rule.times.as_mut() {
                    *n -= 1;
                }
                let delay = match &rule.reply {
                    Reply::Text(t) => {
                        rule.delay + rule.per_token * u32::try_from(t.len().div_ceil(4)).unwrap_or(u32::MAX)
                    }
                    Reply::Status(..) => rule.delay,
                };
                let pieces = match &rule.reply {
                    Reply::Text(t) => t.split_inclusive(' ').count(),
                    Reply::Status(..) => 0,
                };
                let pace = rule.pace;
                let delay = if body["stream"].as_bool().unwrap_or(false) {
                    delay
                } else {
                    delay + pace * u32::try_from(pieces).unwrap_or(u32::MAX)
                };
                (rule.reply.clone(), (delay, pace), (rule.finish_reason, rule.bill_max_tokens))
            }
            None => (
                Reply::Status(
                    500,
                    format!(
                        "fake model: no scripted answer for a request containing: {}",
                        text.chars().take(300).collect::<String>()
                    ),
                ),
                (Duration::ZERO, Duration::ZERO),
                ("stop", false),
            ),
        };
        let completion_tokens = match &reply {
            Reply::Text(_) if finish_reason.1 => body["max_tokens"].as_u64().unwrap_or(0) as usize,
            Reply::Text(t) => t.len().div_ceil(4),
            Reply::Status(..) => 0,
        };
        inner.received.push(Received { body: body.clone(), authorization, prompt_tokens, completion_tokens });
        (reply, delay, finish_reason.0, completion_tokens)
    };
    let (delay, pace) = delay;
    tokio::time::sleep(delay).await;
    let model = body["model"].as_str().unwrap_or("fake-model").to_string();
    match reply {
        Reply::Status(status, message) => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            Json(json!({ "error": { "message": message, "type": "fake_error" } })),
        )
            .into_response(),
        Reply::Text(content) => {
            let usage = json!({ "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": prompt_tokens + completion_tokens });
            if body["stream"].as_bool().unwrap_or(false) {
                let mut chunks = Vec::new();
                for piece in content.split_inclusive(' ') {
                    let chunk = json!({ "id": "c", "object": "chat.completion.chunk", "model": model, "choices": [{ "index": 0, "delta": { "content": piece }, "finish_reason": null }] });
                    chunks.push(format!("data: {chunk}\n\n"));
                }
                let last = json!({ "id": "c", "object": "chat.completion.chunk", "model": model, "choices": [{ "index": 0, "delta": {}, "finish_reason": finish_reason }], "usage": usage });
                chunks.push(format!("data: {last}\n\ndata: [DONE]\n\n"));
                let body = if pace.is_zero() {
                    Body::from(chunks.concat())
                } else {
                    let paced = futures::stream::iter(chunks).then(move |chunk| async move {
                        tokio::time::sleep(pace).await;
                        Ok::<_, std::convert::Infallible>(chunk)
                    });
                    Body::from_stream(paced)
                };
                Response::builder().header("content-type", "text/event-stream").body(body).unwrap()
            } else {
                Json(json!({
                    "id": "c", "object": "chat.completion", "model": model,
                    "choices": [{ "index": 0, "message": { "role": "assistant", "content": content }, "finish_reason": finish_reason }],
                    "usage": usage,
                }))
                .into_response()
            }
        }
    }
}

//! The `llm` capability's outside half: an OpenAI-compatible chat-completions client.
//!
//! Works with any server that speaks `POST {base}/chat/completions` (OpenAI, OpenRouter, Ollama,
//! vLLM, llama.cpp server). Retries 429s, 5xxs and connection errors with exponential backoff (never
//! after a streamed token reached the client, which would duplicate text), and always reports
//! token usage, estimating it when a server leaves it out.

use std::sync::Arc;
use std::time::Duration;

use blink_agent_sdk::{ChatMessage, Completion, LlmError, Usage};
use futures::StreamExt;
use serde_json::{Value, json};

pub(crate) mod cassette;
mod settings;
mod test_model;

pub(crate) use self::settings::{LlmSettings, Provider};

/// One chat completion, as the host asks for it.
#[derive(Debug, Clone)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<ChatMessage>,
    pub temperature: Option<f32>,
    pub max_tokens: Option<u32>,
    pub json_mode: bool,
}

/// Answers computed in the process, for benchmarks and offline runs: the same metering,
/// budgets and streaming as a remote model, with no network in between.
pub type InProcessModel = Arc<dyn Fn(&ChatRequest) -> Result<String, LlmError> + Send + Sync>;

/// How the host reaches models: a configured endpoint (optionally recorded to a cassette), a
/// replayed cassette, an in-process model, or nothing (the host still serves and explains how to
/// configure one).
#[derive(Clone)]
pub enum LlmProvider {
    OpenAi(OpenAiClient),
    Recording { inner: Box<LlmProvider>, recorder: Arc<cassette::Recorder> },
    Replay(Arc<cassette::Replay>),
    InProcess { model: String, answer: InProcessModel },
    Unconfigured,
}

impl LlmProvider {
    pub(crate) fn from_settings(settings: &LlmSettings) -> anyhow::Result<Self> {
        if let Some(path) = &settings.replay {
            return Self::replay(path);
        }
        let provider = match (settings.provider, settings.endpoint()) {
            (Provider::Test, _) => Self::test_model(),
            (Provider::Openai, Some((base_url, api_key))) => {
                Self::OpenAi(OpenAiClient::new(settings, base_url, api_key)?)
            }
            (Provider::Openai, None) => Self::Unconfigured,
        };
        Ok(match &settings.record {
            Some(path) => {
                Self::Recording { inner: Box::new(provider), recorder: Arc::new(cassette::Recorder::create(path)?) }
            }
            None => provider,
        })
    }

    /// The built-in test model: canned answers in the built-in agents' formats.
    pub(crate) fn test_model() -> Self {
        Self::InProcess { model: test_model::MODEL.into(), answer: Arc::new(test_model::answer) }
    }

    /// Every answer from the cassette at `path`.
    pub(crate) fn replay(path: &std::path::Path) -> anyhow::Result<Self> {
        Ok(Self::Replay(Arc::new(cassette::Replay::open(path)?)))
    }

    pub(crate) fn default_model(&self) -> Option<&str> {
        match self {
            Self::OpenAi(c) => Some(&c.model),
            Self::InProcess { model, .. } => Some(model),
            Self::Recording { inner, .. } => inner.default_model(),
            Self::Replay(_) => Some("replay"),
            Self::Unconfigured => None,
        }
    }

    /// Runs one completion. With `on_delta`, the answer is streamed and each piece of text is passed
    /// to it as it arrives; the whole text is returned either way.
    pub(crate) async fn complete(
        &self,
        request: &ChatRequest,
        on_delta: Option<&mut (dyn FnMut(&str) + Send)>,
    ) -> Result<Completion, LlmError> {
        match self {
            Self::OpenAi(client) => client.complete(request, on_delta).await,
            Self::InProcess { model, answer } => {
                let content = answer(request)?;
                if let Some(on_delta) = on_delta {
                    on_delta(&content);
                }
                let usage = estimate_usage(&request.messages, &content);
                Ok(Completion { content, model: model.clone(), usage, truncated: false })
            }
            Self::Recording { inner, recorder } => {
                let completion = Box::pin(inner.complete(request, on_delta)).await?;
                recorder.record(request, &completion.model, &completion.content, &completion.usage);
                Ok(completion)
            }
            Self::Replay(replay) => {
                let exchange = replay.answer(request)?;
                if let Some(on_delta) = on_delta {
                    for piece in exchange.content.split_inclusive(' ') {
                        on_delta(piece);
                    }
                }
                Ok(Completion {
                    content: exchange.content,
                    model: exchange.model,
                    usage: Usage {
                        prompt_tokens: exchange.prompt_tokens,
                        completion_tokens: exchange.completion_tokens,
                    },
                    truncated: false,
                })
            }
            Self::Unconfigured => Err(LlmError::Unavailable(UNCONFIGURED.into())),
        }
    }
}

pub(crate) const UNCONFIGURED: &str = "No language model is configured. Set BLINK_LLM_API_KEY (or OPENAI_API_KEY) \
for OpenAI, or BLINK_LLM_BASE_URL for any OpenAI-compatible server (OpenRouter, Ollama, vLLM, llama.cpp), \
and BLINK_LLM_MODEL for the model, then restart the host. To try it offline, BLINK_LLM_PROVIDER=test \
answers with the built-in test model's canned apps.";

#[derive(Clone)]
pub struct OpenAiClient {
    http: reqwest::Client,
    url: String,
    api_key: Option<String>,
    model: String,
    max_retries: u32,
    backoff: Duration,
}

enum Failure {
    Retry(LlmError, Option<Duration>),
    Fatal(LlmError),
}

impl OpenAiClient {
    pub(crate) fn new(settings: &LlmSettings, base_url: String, api_key: Option<String>) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            // An idle gap, not a total: a long answer streams for as long as it keeps coming.
            .read_timeout(Duration::from_secs(settings.timeout_secs))
            .user_agent(concat!("blink-host/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            http,
            url: format!("{}/chat/completions", base_url.trim_end_matches('/')),
            api_key,
            model: settings.model.clone(),
            max_retries: settings.max_retries,
            backoff: Duration::from_millis(settings.backoff_ms),
        })
    }

    async fn complete(
        &self,
        request: &ChatRequest,
        mut on_delta: Option<&mut (dyn FnMut(&str) + Send)>,
    ) -> Result<Completion, LlmError> {
        let stream = on_delta.is_some();
        let mut body = json!({
            "model": request.model,
            "messages": request.messages,
            "stream": stream,
        });
        if let Some(t) = request.temperature {
            body["temperature"] = json!(t);
        }
        if let Some(m) = request.max_tokens {
            body["max_tokens"] = json!(m);
        }
        if request.json_mode {
            body["response_format"] = json!({ "type": "json_object" });
        }
        if stream {
            body["stream_options"] = json!({ "include_usage": true });
        }
        let mut attempt = 0;
        loop {
            let mut emitted = false;
            let result = self.attempt(&body, on_delta.as_deref_mut(), &mut emitted).await;
            let (error, retry_after) = match result {
                Ok(mut completion) => {
                    if completion.usage == Usage::default() {
                        completion.usage = estimate_usage(&request.messages, &completion.content);
                    }
                    return Ok(completion);
                }
                Err(Failure::Fatal(e)) => return Err(e),
                Err(Failure::Retry(e, retry_after)) => (e, retry_after),
            };
            if emitted || attempt >= self.max_retries {
                return Err(error);
            }
            let backoff = self.backoff * 2u32.saturating_pow(attempt);
            let delay = retry_after.unwrap_or(backoff).min(Duration::from_secs(30));
            tracing::warn!(attempt, ?delay, %error, "model call failed; retrying");
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    async fn attempt<'f>(
        &self,
        body: &Value,
        on_delta: Option<&mut (dyn FnMut(&str) + Send + 'f)>,
        emitted: &mut bool,
    ) -> Result<Completion, Failure> {
        let mut builder = self.http.post(&self.url).json(body);
        if let Some(key) = &self.api_key {
            builder = builder.bearer_auth(key);
        }
        let response = builder.send().await.map_err(|e| Failure::Retry(transport(e), None))?;
        let status = response.status();
        if !status.is_success() {
            let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::trim);
            // OpenAI sends `retry-after-ms`; others the standard header in seconds.
            let retry_after = header("retry-after-ms")
                .and_then(|v| v.parse::<u64>().ok())
                .map(Duration::from_millis)
                .or_else(|| header("retry-after").and_then(|v| v.parse::<u64>().ok()).map(Duration::from_secs));
            let text = response.text().await.unwrap_or_default();
            let detail = vendor_message(&text).unwrap_or_else(|| format!("HTTP {status}"));
            return Err(match status.as_u16() {
                429 => Failure::Retry(LlmError::RateLimited(detail), retry_after),
                408 => {
                    Failure::Retry(LlmError::Unavailable(format!("the model server timed out: {detail}")), retry_after)
                }
                500..=599 => {
                    Failure::Retry(LlmError::Unavailable(format!("model server error: {detail}")), retry_after)
                }
                401 | 403 => {
                    Failure::Fatal(LlmError::Unavailable(format!("the model endpoint refused the API key: {detail}")))
                }
                _ => Failure::Fatal(LlmError::Rejected(detail)),
            });
        }
        match on_delta {
            None => {
                let value: Value = response.json().await.map_err(|e| Failure::Retry(transport(e), None))?;
                parse_completion(&value).map_err(Failure::Fatal)
            }
            Some(on_delta) => {
                let mut events = eventsource_stream::Eventsource::eventsource(response.bytes_stream());
                let mut content = String::new();
                let mut usage = Usage::default();
                let mut model = String::new();
                let mut truncated = false;
                let mut finished = false;
                while let Some(event) = events.next().await {
                    let event = event
                        .map_err(|e| Failure::Retry(LlmError::Unavailable(format!("model stream broke: {e}")), None))?;
                    if event.data.trim() == "[DONE]" {
                        finished = true;
                        break;
                    }
                    let Ok(chunk) = serde_json::from_str::<Value>(&event.data) else { continue };
                    if let Some(message) = chunk.get("error").and_then(error_message) {
                        return Err(Failure::Fatal(LlmError::Unavailable(message)));
                    }
                    if let Some(m) = chunk["model"].as_str() {
                        model = m.to_string();
                    }
                    if let Some(u) = parse_usage(&chunk["usage"]) {
                        usage = u;
                    }
                    if let Some(reason) = chunk["choices"][0]["finish_reason"].as_str() {
                        truncated = reason == "length";
                    }
                    if let Some(delta) = chunk["choices"][0]["delta"]["content"].as_str()
                        && !delta.is_empty()
                    {
                        content.push_str(delta);
                        *emitted = true;
                        on_delta(delta);
                    }
                }
                // A stream that ends without `[DONE]` was cut by the network, not finished.
                if !finished {
                    return Err(Failure::Fatal(LlmError::Unavailable("the model stream ended early".into())));
                }
                Ok(Completion { content, model, usage, truncated })
            }
        }
    }
}

fn transport(e: reqwest::Error) -> LlmError {
    if e.is_timeout() {
        LlmError::Unavailable("the model did not answer in time".into())
    } else if e.is_connect() {
        LlmError::Unavailable(format!("cannot reach the model endpoint: {e}"))
    } else {
        LlmError::Unavailable(format!("model call failed: {e}"))
    }
}

fn parse_completion(value: &Value) -> Result<Completion, LlmError> {
    // Some gateways (OpenRouter) report an upstream failure inside a 200.
    if let Some(message) = value.get("error").and_then(error_message) {
        return Err(LlmError::Unavailable(message));
    }
    let content = value["choices"][0]["message"]["content"]
        .as_str()
        .ok_or_else(|| LlmError::Unavailable("the model answer has no message content".into()))?;
    Ok(Completion {
        content: content.to_string(),
        model: value["model"].as_str().unwrap_or_default().to_string(),
        usage: parse_usage(&value["usage"]).unwrap_or_default(),
        truncated: value["choices"][0]["finish_reason"] == "length",
    })
}

fn parse_usage(usage: &Value) -> Option<Usage> {
    let prompt = usage.get("prompt_tokens")?.as_u64()?;
    let completion = usage.get("completion_tokens")?.as_u64()?;
    Some(Usage {
        prompt_tokens: u32::try_from(prompt).unwrap_or(u32::MAX),
        completion_tokens: u32::try_from(completion).unwrap_or(u32::MAX),
    })
}

fn error_message(error: &Value) -> Option<String> {
    error.get("message").and_then(Value::as_str).map(str::to_string).or_else(|| error.as_str().map(str::to_string))
}

fn vendor_message(body: &str) -> Option<String> {
    let value: Value = serde_json::from_str(body).ok()?;
    let message = error_message(value.get("error")?)?;
    Some(message.chars().take(500).collect())
}

/// About four characters a token: what servers that omit usage are charged by, so a run's budget
/// still holds against them.
pub fn estimate_usage(messages: &[ChatMessage], answer: &str) -> Usage {
    let prompt: usize = messages.iter().map(|m| m.content.len() + 4).sum();
    Usage {
        prompt_tokens: u32::try_from(prompt.div_ceil(4)).unwrap_or(u32::MAX),
        completion_tokens: u32::try_from(answer.len().div_ceil(4)).unwrap_or(u32::MAX),
    }
}

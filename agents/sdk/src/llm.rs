//! What an agent needs from its host: model calls, settings and a log.
//!
//! The components implement these traits over their WIT imports; native tests implement them with
//! scripted answers.

use crate::types::ChatMessage;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamChannel {
    Thinking,
    Conversation,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CompletionRequest {
    pub messages: Vec<ChatMessage>,
    pub temperature: Option<f32>,
    pub max_tokens: Option<u32>,
    pub json_mode: bool,
    pub model: Option<String>,
    pub stream_to: Option<StreamChannel>,
}

impl CompletionRequest {
    pub fn new(messages: Vec<ChatMessage>) -> Self {
        Self { messages, temperature: None, max_tokens: None, json_mode: false, model: None, stream_to: None }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Usage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    pub content: String,
    pub model: String,
    pub usage: Usage,
    /// The model stopped at its token limit: `content` is incomplete.
    pub truncated: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LlmError {
    Unavailable(String),
    RateLimited(String),
    InsufficientCredits(String),
    BudgetExceeded(String),
    Rejected(String),
    Cancelled,
}

impl std::fmt::Display for LlmError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unavailable(m) => write!(f, "model unavailable: {m}"),
            Self::RateLimited(m) => write!(f, "model rate-limited: {m}"),
            Self::InsufficientCredits(m) => write!(f, "insufficient credits: {m}"),
            Self::BudgetExceeded(m) => write!(f, "run budget exceeded: {m}"),
            Self::Rejected(m) => write!(f, "model rejected the request: {m}"),
            Self::Cancelled => f.write_str("cancelled"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentError {
    Llm(LlmError),
    BadModelOutput(String),
    InvalidRequest(String),
    Internal(String),
}

impl From<LlmError> for AgentError {
    fn from(e: LlmError) -> Self {
        Self::Llm(e)
    }
}

impl std::fmt::Display for AgentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Llm(e) => e.fmt(f),
            Self::BadModelOutput(m) => write!(f, "unusable model output: {m}"),
            Self::InvalidRequest(m) => write!(f, "invalid request: {m}"),
            Self::Internal(m) => write!(f, "internal error: {m}"),
        }
    }
}

impl std::error::Error for AgentError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

/// The host as an agent sees it.
pub trait Host {
    fn complete(&self, request: CompletionRequest) -> Result<Completion, LlmError>;
    /// An operator's setting for this role (`system_prompt`, `temperature`, `model`, ...).
    fn config(&self, key: &str) -> Option<String>;
    fn log(&self, level: LogLevel, message: &str);

    fn config_f32(&self, key: &str) -> Option<f32> {
        self.config(key).and_then(|v| v.trim().parse().ok())
    }
    fn config_u32(&self, key: &str) -> Option<u32> {
        self.config(key).and_then(|v| v.trim().parse().ok())
    }
}

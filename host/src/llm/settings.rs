//! The model endpoint's settings: which OpenAI-compatible API, with which key, how patiently.

use std::path::PathBuf;

use clap::Args;

/// Where answers come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Provider {
    /// Any OpenAI-compatible chat-completions API.
    Openai,
    /// The built-in test model: canned answers, offline, never used unless asked for.
    Test,
}

#[derive(Debug, Clone, Args)]
pub(crate) struct LlmSettings {
    /// `openai` (any OpenAI-compatible API, configured below) or `test` (the built-in test model:
    /// canned answers that build a few small apps, for trying the host and testing agents offline).
    #[arg(long = "llm-provider", env = "BLINK_LLM_PROVIDER", value_enum, default_value = "openai")]
    pub(crate) provider: Provider,

    /// Base URL of an OpenAI-compatible API (OpenAI, OpenRouter, Ollama, vLLM, llama.cpp server).
    #[arg(long = "llm-base-url", env = "BLINK_LLM_BASE_URL")]
    pub(crate) base_url: Option<String>,

    /// API key for the model endpoint (falls back to `OPENAI_API_KEY`).
    #[arg(long = "llm-api-key", env = "BLINK_LLM_API_KEY", hide_env_values = true)]
    pub(crate) api_key: Option<String>,

    /// Default model for every agent (an agent's `model` setting overrides it).
    #[arg(long = "llm-model", env = "BLINK_LLM_MODEL", default_value = "gpt-4o-mini")]
    pub(crate) model: String,

    /// Seconds without a byte from the model before an attempt is abandoned.
    #[arg(long = "llm-timeout-secs", env = "BLINK_LLM_TIMEOUT_SECS", default_value_t = 180)]
    pub(crate) timeout_secs: u64,

    /// Retries after a 429, a 5xx or a connection error, with exponential backoff.
    #[arg(long = "llm-max-retries", env = "BLINK_LLM_MAX_RETRIES", default_value_t = 3)]
    pub(crate) max_retries: u32,

    /// Record every model exchange to this cassette file (JSON lines, appended).
    #[arg(long = "llm-record", env = "BLINK_LLM_RECORD")]
    pub(crate) record: Option<PathBuf>,

    /// Answer every model call from this cassette, with no model behind.
    #[arg(long = "llm-replay", env = "BLINK_LLM_REPLAY")]
    pub(crate) replay: Option<PathBuf>,

    /// First backoff delay in milliseconds; doubled each retry.
    #[arg(long = "llm-backoff-ms", env = "BLINK_LLM_BACKOFF_MS", default_value_t = 500)]
    pub(crate) backoff_ms: u64,
}

pub(crate) const DEFAULT_LLM_BASE_URL: &str = "https://api.openai.com/v1";

impl LlmSettings {
    /// The key from the flag, `BLINK_LLM_API_KEY` or `OPENAI_API_KEY`.
    pub(crate) fn resolved_api_key(&self) -> Option<String> {
        self.api_key.clone().or_else(|| std::env::var("OPENAI_API_KEY").ok()).filter(|k| !k.trim().is_empty())
    }

    /// `None` when nothing is configured: with neither a key nor a base URL there is no model to call.
    pub(crate) fn endpoint(&self) -> Option<(String, Option<String>)> {
        let key = self.resolved_api_key();
        match (&self.base_url, key) {
            (None, None) => None,
            (base, key) => Some((base.clone().unwrap_or_else(|| DEFAULT_LLM_BASE_URL.into()), key)),
        }
    }
}

//! Cassettes: a run's model exchanges recorded to a file, and replayed with no model behind, for
//! deterministic agent tests and demos.
//!
//! A cassette is JSON lines, one exchange each: the request's key (a hash of its messages and
//! JSON mode, so concurrent calls and another default model still match), the answer and its
//! usage. Recording appends; replay answers each request from the first exchange with its key
//! not used yet, so a request made twice gets its two recorded answers in order.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use blink_agent_sdk::{LlmError, Usage};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::ChatRequest;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Exchange {
    pub(crate) key: String,
    pub(crate) model: String,
    pub(crate) content: String,
    pub(crate) prompt_tokens: u32,
    pub(crate) completion_tokens: u32,
    /// The last user message, so a person can find an exchange in the file.
    pub(crate) asked: String,
}

/// The key a request is recorded and replayed under.
pub(crate) fn key(request: &ChatRequest) -> String {
    let mut hasher = Sha256::new();
    for m in &request.messages {
        hasher.update(format!("{:?}\u{0}{}\u{0}", m.role, m.content).as_bytes());
    }
    hasher.update([u8::from(request.json_mode)]);
    hex::encode(hasher.finalize())
}

/// Appends exchanges to a cassette file.
pub struct Recorder {
    path: PathBuf,
    file: Mutex<std::fs::File>,
}

impl Recorder {
    pub(crate) fn create(path: &Path) -> anyhow::Result<Self> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Self { path: path.to_path_buf(), file: Mutex::new(file) })
    }

    pub(crate) fn record(&self, request: &ChatRequest, model: &str, content: &str, usage: &Usage) {
        let asked = request
            .messages
            .iter()
            .rev()
            .find(|m| m.role == blink_agent_sdk::ChatRole::User)
            .map(|m| m.content.chars().take(200).collect())
            .unwrap_or_default();
        let exchange = Exchange {
            key: key(request),
            model: model.to_string(),
            content: content.to_string(),
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            asked,
        };
        let line = serde_json::to_string(&exchange).unwrap_or_default();
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = writeln!(file, "{line}") {
            tracing::error!(path = %self.path.display(), "cannot record the exchange: {e}");
        }
    }
}

/// Answers requests from a recorded cassette.
pub struct Replay {
    path: PathBuf,
    exchanges: Mutex<HashMap<String, std::collections::VecDeque<Exchange>>>,
}

impl Replay {
    pub(crate) fn open(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("reading the cassette {}: {e}", path.display()))?;
        let mut exchanges: HashMap<String, std::collections::VecDeque<Exchange>> = HashMap::new();
        for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let exchange: Exchange = serde_json::from_str(line)
                .map_err(|e| anyhow::anyhow!("{} line {}: not a recorded exchange: {e}", path.display(), i + 1))?;
            exchanges.entry(exchange.key.clone()).or_default().push_back(exchange);
        }
        Ok(Self { path: path.to_path_buf(), exchanges: Mutex::new(exchanges) })
    }

    pub(crate) fn answer(&self, request: &ChatRequest) -> Result<Exchange, LlmError> {
        let mut exchanges = self.exchanges.lock().unwrap_or_else(|e| e.into_inner());
        let queue = exchanges.get_mut(&key(request));
        match queue {
            // The last answer for a key keeps serving, so a replayed run can be repeated.
            Some(q) if q.len() > 1 => Ok(q.pop_front().expect("non-empty")),
            Some(q) if !q.is_empty() => Ok(q[0].clone()),
            _ => Err(LlmError::Unavailable(format!(
                "the cassette {} has no recorded answer for this request",
                self.path.display()
            ))),
        }
    }
}

//! The logic of Blink's built-in agents.
//!
//! Free of any WebAssembly binding: each component in `agents/` is a thin adapter from the WIT
//! contract to these functions, and the host links this crate natively to test and benchmark them.

pub mod browser;
pub mod defaults;
pub mod files;
pub mod fixer;
pub mod generator;
pub mod json;
pub mod llm;
pub mod planner;
pub mod preview;
pub mod prompts;
pub mod types;
pub mod validator;

pub use llm::{AgentError, Completion, CompletionRequest, Host, LlmError, LogLevel, StreamChannel, Usage};
pub use types::*;

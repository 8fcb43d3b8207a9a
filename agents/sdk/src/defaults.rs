//! The built-in agents' settings when an operator sets none, in one place: the agents read them,
//! and the host shows them to operators as each setting's built-in value.

use crate::prompts;

/// Tokens a generator or fixer call may write (both roles write whole files).
pub const FILES_MAX_TOKENS: u32 = 16_000;

pub mod planner {
    pub const TEMPERATURE: f32 = 0.2;
    pub const MAX_TOKENS: u32 = 4_000;
    pub const CONTEXT_CHARS: usize = 24_000;
    pub const THINKING_MAX_TOKENS: u32 = 150;
    pub const ANSWER_TEMPERATURE: f32 = 0.7;
    pub const ANSWER_MAX_TOKENS: u32 = 1_024;
}

pub mod generator {
    pub const TEMPERATURE: f32 = 0.2;
    pub const CONTEXT_CHARS: usize = 40_000;
}

pub mod fixer {
    pub const TEMPERATURE: f32 = 0.1;
    pub const CONTEXT_CHARS: usize = 30_000;
}

/// Each setting a built-in role reads, with the value it uses when none is set (`model` settings
/// default to the host's model, named `host default`).
pub fn builtin(role: &str) -> Vec<(&'static str, String)> {
    let host_model = || "host default".to_string();
    match role {
        "planner" => vec![
            ("system_prompt", prompts::PLANNER.to_string()),
            ("temperature", planner::TEMPERATURE.to_string()),
            ("max_tokens", planner::MAX_TOKENS.to_string()),
            ("model", host_model()),
            ("context_chars", planner::CONTEXT_CHARS.to_string()),
            ("thinking", "on".into()),
            ("thinking_prompt", prompts::THINKING.to_string()),
            ("thinking_model", host_model()),
            ("thinking_max_tokens", planner::THINKING_MAX_TOKENS.to_string()),
            ("answer_prompt", prompts::ANSWER.to_string()),
            ("answer_model", "model, else host default".into()),
            ("answer_temperature", planner::ANSWER_TEMPERATURE.to_string()),
            ("answer_max_tokens", planner::ANSWER_MAX_TOKENS.to_string()),
        ],
        "generator" => vec![
            ("system_prompt", prompts::GENERATOR.to_string()),
            ("temperature", generator::TEMPERATURE.to_string()),
            ("max_tokens", FILES_MAX_TOKENS.to_string()),
            ("model", host_model()),
            ("context_chars", generator::CONTEXT_CHARS.to_string()),
        ],
        "fixer" => vec![
            ("system_prompt", prompts::FIXER.to_string()),
            ("temperature", fixer::TEMPERATURE.to_string()),
            ("max_tokens", FILES_MAX_TOKENS.to_string()),
            ("model", host_model()),
            ("context_chars", fixer::CONTEXT_CHARS.to_string()),
        ],
        _ => Vec::new(),
    }
}

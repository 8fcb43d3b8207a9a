//! What one request may ask and one run may spend: body, messages, context, files, fix rounds,
//! model calls, tokens, and how files are generated.

use clap::Args;

use super::GenerationMode;

#[derive(Debug, Clone, Args)]
pub(crate) struct Limits {
    /// Largest accepted request body, in bytes.
    #[arg(long, env = "BLINK_MAX_BODY_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub(crate) max_body_bytes: usize,

    /// Most chat messages in one request.
    #[arg(long, env = "BLINK_MAX_MESSAGES", default_value_t = 200)]
    pub(crate) max_messages: usize,

    /// Most bytes of messages, `projectContext`, `fileTree` and `files` together in one request.
    #[arg(long, env = "BLINK_MAX_CONTEXT_BYTES", default_value_t = 2_000_000)]
    pub(crate) max_context_bytes: usize,

    /// Most files in one request's `files` map.
    #[arg(long, env = "BLINK_MAX_FILES", default_value_t = 500)]
    pub(crate) max_files: usize,

    /// Fix rounds after the first validation.
    #[arg(long, env = "BLINK_MAX_FIX_ROUNDS", default_value_t = 2)]
    pub(crate) max_fix_rounds: u32,

    /// Model calls one run may make.
    #[arg(long, env = "BLINK_RUN_MAX_MODEL_CALLS", default_value_t = 60)]
    pub(crate) run_max_model_calls: u32,

    /// Model tokens (prompt + completion) one run may use.
    #[arg(long, env = "BLINK_RUN_MAX_TOKENS", default_value_t = 1_000_000)]
    pub(crate) run_max_tokens: u64,

    /// Files generated at the same time in one run.
    #[arg(long, env = "BLINK_GENERATION_CONCURRENCY", default_value_t = 4)]
    pub(crate) generation_concurrency: usize,

    /// `per-file`: one model call per file, concurrently; `single`: one call for all files.
    #[arg(long, env = "BLINK_GENERATION_MODE", value_enum, default_value_t = GenerationMode::PerFile)]
    pub(crate) generation_mode: GenerationMode,
}

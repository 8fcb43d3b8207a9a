//! The agent platform's settings: what one agent call may use, where components come from, how
//! large they and their settings may be, how many validators a project may chain,
//! how many past runs one evaluation may replay.

use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Clone, Args)]
pub(crate) struct AgentLimits {
    /// Linear memory one agent call may use, in MiB.
    #[arg(long, env = "BLINK_AGENT_MEMORY_MIB", default_value_t = 256)]
    pub(crate) agent_memory_mib: u64,

    /// CPU time one agent call may spend in its own code (model calls excluded), in milliseconds.
    #[arg(long, env = "BLINK_AGENT_CPU_MS", default_value_t = 10_000)]
    pub(crate) agent_cpu_ms: u64,

    /// Wall-clock time one agent call may take, model calls included, in seconds.
    #[arg(long, env = "BLINK_AGENT_WALL_SECS", default_value_t = 600)]
    pub(crate) agent_wall_secs: u64,

    /// Bytes an agent call may return (file contents, messages) plus what it logs.
    #[arg(long, env = "BLINK_AGENT_OUTPUT_BYTES", default_value_t = 8 * 1024 * 1024)]
    pub(crate) agent_output_bytes: usize,

    /// Agent instances alive at once (the pooling allocator's slots).
    #[arg(long, env = "BLINK_AGENT_INSTANCES", default_value_t = 64)]
    pub(crate) agent_instances: u32,

    /// Directory watched for components (`<role>.wasm`); default `<data dir>/plugins-watch`.
    #[arg(long, env = "BLINK_PLUGINS_WATCH_DIR")]
    pub(crate) plugins_watch_dir: Option<PathBuf>,

    /// Largest component an operator may upload, in bytes.
    #[arg(long, env = "BLINK_PLUGIN_MAX_BYTES", default_value_t = 32 * 1024 * 1024)]
    pub(crate) plugin_max_bytes: usize,

    /// JSON file of per-role settings: `{"planner": {"temperature": "0.3", "system_prompt": "..."}}`.
    #[arg(long, env = "BLINK_AGENT_CONFIG")]
    pub(crate) agent_config: Option<PathBuf>,

    /// Bytes of keys and values one role's settings may hold when set over the admin API.
    #[arg(long, env = "BLINK_AGENT_SETTINGS_MAX_BYTES", default_value_t = 64 * 1024)]
    pub(crate) agent_settings_max_bytes: usize,

    /// Validators a project may chain after the main one.
    #[arg(long, env = "BLINK_MAX_EXTRA_VALIDATORS", default_value_t = 4)]
    pub(crate) max_extra_validators: usize,

    /// Recorded runs one evaluation (`POST /api/admin/evaluations`) may validate again.
    #[arg(long, env = "BLINK_EVAL_MAX_RUNS", default_value_t = 200, value_parser = clap::value_parser!(i64).range(1..=100_000))]
    pub(crate) eval_max_runs: i64,
}

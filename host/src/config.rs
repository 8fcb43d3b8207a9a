//! Every setting of the host: one flag and one environment variable each, with a sane default.

use std::net::SocketAddr;
use std::path::PathBuf;

use blink_agent_sdk::RuntimeTarget;
use clap::Args;

// Each domain owns its settings; they are assembled here into the host's command line.
pub(crate) use crate::auth::AuthSettings;
pub(crate) use crate::credits::CreditSettings;
pub(crate) use crate::db::DatabaseSettings;
pub(crate) use crate::deploy::DeploySettings;
pub(crate) use crate::git::GitSettings;
pub(crate) use crate::llm::LlmSettings;
pub(crate) use crate::pipeline::Limits;
pub(crate) use crate::plugins::AgentLimits;
pub(crate) use crate::preview::SandboxSettings;

#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Address the HTTP server listens on.
    #[arg(long, env = "BLINK_ADDR", default_value = "127.0.0.1:3000")]
    pub(crate) addr: SocketAddr,

    /// Directory holding all of the host's state.
    #[arg(long, env = "BLINK_DATA_DIR", default_value = "./data")]
    pub(crate) data_dir: PathBuf,

    /// Where compiled agents are cached (default: `<data dir>/cache`). Safe to share between hosts
    /// of the same build.
    #[arg(long, env = "BLINK_CACHE_DIR")]
    pub(crate) cache_dir: Option<PathBuf>,

    #[command(flatten)]
    pub(crate) database: DatabaseSettings,

    #[command(flatten)]
    pub(crate) credits: CreditSettings,

    #[command(flatten)]
    pub(crate) llm: LlmSettings,

    #[command(flatten)]
    pub(crate) auth: AuthSettings,

    #[command(flatten)]
    pub(crate) limits: Limits,

    #[command(flatten)]
    pub(crate) agents: AgentLimits,

    #[command(flatten)]
    pub(crate) sandbox: SandboxSettings,

    #[command(flatten)]
    pub(crate) git: GitSettings,

    #[command(flatten)]
    pub(crate) deploy: DeploySettings,

    /// Origins allowed by CORS, comma-separated; `*` allows any.
    #[arg(long, env = "BLINK_CORS_ORIGINS", default_value = "*", value_delimiter = ',')]
    pub(crate) cors_origins: Vec<String>,

    /// Runtime target of generated code when a request does not name one.
    #[arg(long, env = "BLINK_TARGET", default_value = "browser", value_parser = parse_target)]
    pub(crate) target: RuntimeTarget,

    /// Seconds runs in flight may take to finish after a shutdown signal, before they are cancelled.
    #[arg(long, env = "BLINK_SHUTDOWN_GRACE_SECS", default_value_t = 30)]
    pub(crate) shutdown_grace_secs: u64,

    /// Seconds between keep-alive comments on an idle SSE stream.
    #[arg(long, env = "BLINK_SSE_KEEPALIVE_SECS", default_value_t = 15)]
    pub(crate) sse_keepalive_secs: u64,
}

impl Settings {
    pub(crate) fn cache_dir(&self) -> PathBuf {
        self.cache_dir.clone().unwrap_or_else(|| self.data_dir.join("cache"))
    }
}

fn parse_target(s: &str) -> Result<RuntimeTarget, String> {
    RuntimeTarget::parse(s).ok_or_else(|| format!("unknown target {s:?}: expected `browser` or `vite`"))
}

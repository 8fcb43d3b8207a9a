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
pub(crate) use crate::instances::InstanceSettings;
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

    #[command(flatten)]
    pub(crate) legacy: LegacySettings,

    #[command(flatten)]
    pub(crate) rates: RateSettings,

    #[command(flatten)]
    pub(crate) instances: InstanceSettings,

    /// Bearer token `/metrics` requires; unset, the metrics are open to whoever reaches the port.
    #[arg(long, env = "BLINK_METRICS_TOKEN", hide_env_values = true)]
    pub(crate) metrics_token: Option<String>,

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

    pub(crate) fn projects_dir(&self) -> PathBuf {
        self.sandbox.projects_dir.clone().unwrap_or_else(|| self.data_dir.join("projects"))
    }

    pub(crate) fn builds_dir(&self) -> PathBuf {
        self.sandbox.builds_dir.clone().unwrap_or_else(|| self.data_dir.join("builds"))
    }
}

fn parse_target(s: &str) -> Result<RuntimeTarget, String> {
    RuntimeTarget::parse(s).ok_or_else(|| format!("unknown target {s:?}: expected `browser` or `vite`"))
}

/// How fast one caller may spend the host (the API's limits, `api/limits.rs`).
#[derive(Debug, Clone, Args)]
pub(crate) struct RateSettings {
    /// Orchestrations (`POST /api/orchestrator`) per user: `CALLS/SECONDS`.
    #[arg(long, env = "BLINK_RATE_RUNS", default_value = "60/60", value_parser = parse_rate)]
    pub(crate) rate_runs: Rate,
    /// Previews (`POST /api/preview`) per user.
    #[arg(long, env = "BLINK_RATE_PREVIEWS", default_value = "120/60", value_parser = parse_rate)]
    pub(crate) rate_previews: Rate,
    /// Production builds (`POST /api/build`) per user.
    #[arg(long, env = "BLINK_RATE_BUILDS", default_value = "20/60", value_parser = parse_rate)]
    pub(crate) rate_builds: Rate,
    /// Deploys (`POST /api/deploy`) per user.
    #[arg(long, env = "BLINK_RATE_DEPLOYS", default_value = "20/60", value_parser = parse_rate)]
    pub(crate) rate_deploys: Rate,
    /// Git operations (commit, pull, restore, setting a remote, repository creation) per user.
    #[arg(long, env = "BLINK_RATE_GIT", default_value = "60/60", value_parser = parse_rate)]
    pub(crate) rate_git: Rate,
    /// Per client address: requests without a valid token (rejected ones included) and health
    /// checks.
    #[arg(long, env = "BLINK_RATE_UNAUTHENTICATED", default_value = "120/60", value_parser = parse_rate)]
    pub(crate) rate_unauthenticated: Rate,
    /// Per client address: health checks (`/healthz`, `/readyz`), which load balancers call often.
    #[arg(long, env = "BLINK_RATE_HEALTH", default_value = "600/60", value_parser = parse_rate)]
    pub(crate) rate_health: Rate,
}

/// The routes of today's frontend's earlier Node backend (`/dev/*`, `/build`, `/logs/*`,
/// `/github/*`, `/health`), served by the host's own sandboxes, builds, deploys and git.
#[derive(Debug, Clone, Args)]
pub(crate) struct LegacySettings {
    /// Serve the legacy routes. The frontend calls them without a token (its log stream cannot
    /// send one), so a call without one acts on projects no signed-in user owns, the project id
    /// being their only secret, as with the Node backend. Off: they answer 404.
    #[arg(long, env = "BLINK_LEGACY_ROUTES", default_value_t = false, action = clap::ArgAction::Set)]
    pub(crate) legacy_routes: bool,

    /// `/dev/start` calls per client address: `N/SECONDS`.
    #[arg(long, env = "BLINK_LEGACY_RATE_START", default_value = "10/600", value_parser = parse_rate)]
    pub(crate) legacy_rate_start: Rate,

    /// `/dev/sync` calls per client address: `N/SECONDS`.
    #[arg(long, env = "BLINK_LEGACY_RATE_SYNC", default_value = "120/60", value_parser = parse_rate)]
    pub(crate) legacy_rate_sync: Rate,

    /// `/build` calls per client address: `N/SECONDS`.
    #[arg(long, env = "BLINK_LEGACY_RATE_BUILD", default_value = "5/3600", value_parser = parse_rate)]
    pub(crate) legacy_rate_build: Rate,

    /// `/github/push` and `/github/pull` calls per client address: `N/SECONDS`.
    #[arg(long, env = "BLINK_LEGACY_RATE_GITHUB", default_value = "30/3600", value_parser = parse_rate)]
    pub(crate) legacy_rate_github: Rate,

    /// Files `/github/pull` returns at most (the first in path order), as the Node backend did.
    #[arg(long, env = "BLINK_LEGACY_PULL_MAX_FILES", default_value_t = 50)]
    pub(crate) legacy_pull_max_files: usize,

    /// Take the client's address from the last `X-Forwarded-For` entry (the one the proxy in
    /// front of the host added) rather than the connection, for the per-address limits. Only
    /// behind a proxy that sets it: otherwise any caller could pick its own address.
    #[arg(long, env = "BLINK_TRUST_FORWARDED_FOR", default_value_t = false, action = clap::ArgAction::Set)]
    pub(crate) trust_forwarded_for: bool,
}

/// Calls allowed per period, per client address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rate {
    pub(crate) calls: u32,
    pub(crate) per: std::time::Duration,
}

fn parse_rate(s: &str) -> Result<Rate, String> {
    let invalid = || format!("{s:?} is not a rate: expected CALLS/SECONDS, both above 0, such as 10/600");
    let (calls, seconds) = s.trim().split_once('/').ok_or_else(invalid)?;
    let calls: u32 = calls.trim().parse().map_err(|_| invalid())?;
    let seconds: u64 = seconds.trim().parse().map_err(|_| invalid())?;
    if calls == 0 || seconds == 0 {
        return Err(invalid());
    }
    Ok(Rate { calls, per: std::time::Duration::from_secs(seconds) })
}

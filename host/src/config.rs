//! Every setting of the host: one flag and one environment variable each, with a sane default.

use std::net::SocketAddr;
use std::path::PathBuf;

use blink_agent_sdk::RuntimeTarget;
use clap::Args;

// Each domain owns its settings; they are assembled here into the host's command line.
pub(crate) use crate::auth::AuthSettings;
pub(crate) use crate::deploy::DeploySettings;
pub(crate) use crate::llm::LlmSettings;
pub(crate) use crate::pipeline::GenerationMode;

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
    pub(crate) llm: LlmSettings,

    #[command(flatten)]
    pub(crate) auth: AuthSettings,

    #[command(flatten)]
    pub(crate) limits: Limits,

    #[command(flatten)]
    pub(crate) agents: AgentSettings,

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

#[derive(Debug, Clone, Args)]
pub(crate) struct DatabaseSettings {
    /// `postgres://user:password@host/db` for PostgreSQL; default: SQLite at `<data dir>/blink.db`.
    #[arg(long = "database-url", env = "DATABASE_URL", hide_env_values = true)]
    pub(crate) url: Option<String>,

    /// Credits a new user starts with, in micro-credits (1 credit = 1,000,000).
    #[arg(long = "starting-credits", env = "BLINK_STARTING_CREDITS", default_value_t = 10_000_000)]
    pub(crate) starting_credits: i64,

    /// Model prices in micro-credits per 1,000 tokens, as JSON:
    /// `{"default": {"prompt": 500, "completion": 1500}, "models": {"gpt-4o": {"prompt": 2500, "completion": 10000}}}`.
    #[arg(long, env = "BLINK_PRICING", value_parser = parse_pricing, default_value = DEFAULT_PRICING)]
    pub(crate) pricing: PricingSetting,

    /// Operator token: a bearer equal to it is an admin (credit grants, usage).
    #[arg(long = "admin-token", env = "BLINK_ADMIN_TOKEN", hide_env_values = true)]
    pub(crate) admin_token: Option<String>,
}

const DEFAULT_PRICING: &str = r#"{"default": {"prompt": 500, "completion": 1500}}"#;

#[derive(Debug, Clone, serde::Deserialize)]
pub(crate) struct PricingSetting {
    pub(crate) default: crate::credits::Price,
    #[serde(default)]
    pub(crate) models: std::collections::BTreeMap<String, crate::credits::Price>,
}

fn parse_pricing(s: &str) -> Result<PricingSetting, String> {
    let p: PricingSetting =
        serde_json::from_str(s).map_err(|e| format!("BLINK_PRICING is not valid pricing JSON: {e}"))?;
    let all = std::iter::once(&p.default).chain(p.models.values());
    if all.into_iter().any(|price| price.prompt < 0 || price.completion < 0) {
        return Err("prices cannot be negative".into());
    }
    Ok(p)
}

impl DatabaseSettings {
    pub(crate) fn resolved_url(&self, data_dir: &std::path::Path) -> String {
        self.url.clone().filter(|u| !u.trim().is_empty()).unwrap_or_else(|| crate::db::sqlite_url(data_dir))
    }
}

fn parse_target(s: &str) -> Result<RuntimeTarget, String> {
    RuntimeTarget::parse(s).ok_or_else(|| format!("unknown target {s:?}: expected `browser` or `vite`"))
}

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

#[derive(Debug, Clone, Args)]
pub(crate) struct AgentSettings {
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
}

#[derive(Debug, Clone, Args)]
pub(crate) struct SandboxSettings {
    /// Run project sandboxes (Docker) for `/api/preview` and `/api/build`.
    #[arg(long, env = "BLINK_SANDBOXES", default_value_t = true, action = clap::ArgAction::Set)]
    pub(crate) sandboxes: bool,

    /// The sandbox image (`sandbox/build-image.sh` builds it).
    #[arg(long, env = "BLINK_SANDBOX_IMAGE", default_value = "blink-sandbox:latest")]
    pub(crate) sandbox_image: String,

    /// The internal Docker network sandboxes join: no route out; created if missing.
    #[arg(long, env = "BLINK_SANDBOX_NETWORK", default_value = "blink-sandboxes")]
    pub(crate) sandbox_network: String,

    /// The container runtime sandboxes run under, as the engine names it: `runsc` (gVisor, a
    /// user-space kernel between the project's code and the host's) or `runc`. Unset: the
    /// engine's default. A runtime the engine lacks is refused, never silently replaced.
    #[arg(long, env = "BLINK_SANDBOX_RUNTIME")]
    pub(crate) sandbox_runtime: Option<String>,

    /// Memory per sandbox, in MiB (no swap on top).
    #[arg(long, env = "BLINK_SANDBOX_MEMORY_MIB", default_value_t = 512)]
    pub(crate) sandbox_memory_mib: i64,

    /// CPUs per sandbox.
    #[arg(long, env = "BLINK_SANDBOX_CPUS", default_value_t = 1.0)]
    pub(crate) sandbox_cpus: f64,

    /// Processes per sandbox.
    #[arg(long, env = "BLINK_SANDBOX_PIDS", default_value_t = 100)]
    pub(crate) sandbox_pids: i64,

    /// Size of the sandbox's writable /tmp, in MiB.
    #[arg(long, env = "BLINK_SANDBOX_TMPFS_MIB", default_value_t = 64)]
    pub(crate) sandbox_tmpfs_mib: u64,

    /// Sandboxes running at once; past it, a new preview gets 503 `sandbox_limit`.
    #[arg(long, env = "BLINK_SANDBOX_MAX", default_value_t = 16)]
    pub(crate) sandbox_max: usize,

    /// Sandboxes kept started ahead of time, so a project's first preview skips creating one
    /// (they do not count toward `BLINK_SANDBOX_MAX`); 0 turns the pool off.
    #[arg(long, env = "BLINK_SANDBOX_WARM", default_value_t = 1)]
    pub(crate) sandbox_warm: usize,

    /// Seconds without requests after which a sandbox is removed (its files stay).
    #[arg(long, env = "BLINK_SANDBOX_IDLE_SECS", default_value_t = 900)]
    pub(crate) sandbox_idle_secs: u64,

    /// Seconds a new dev server may take to answer.
    #[arg(long, env = "BLINK_SANDBOX_READY_SECS", default_value_t = 60)]
    pub(crate) sandbox_ready_secs: u64,

    /// Seconds `vite build` may take.
    #[arg(long, env = "BLINK_SANDBOX_BUILD_SECS", default_value_t = 300)]
    pub(crate) sandbox_build_secs: u64,

    /// Seconds installing a project's extra npm packages may take.
    #[arg(long, env = "BLINK_SANDBOX_INSTALL_SECS", default_value_t = 300)]
    pub(crate) sandbox_install_secs: u64,

    /// Files a project may post to `/api/preview`.
    #[arg(long, env = "BLINK_PROJECT_MAX_FILES", default_value_t = 500)]
    pub(crate) project_max_files: usize,

    /// Bytes of names and contents a project may post to `/api/preview`.
    #[arg(long, env = "BLINK_PROJECT_MAX_BYTES", default_value_t = 8 * 1024 * 1024)]
    pub(crate) project_max_bytes: usize,

    /// Sandboxes one user may have running at once; past it, their next preview gets 503
    /// `sandbox_user_limit`.
    #[arg(long, env = "BLINK_SANDBOX_MAX_PER_USER", default_value_t = 3)]
    pub(crate) sandbox_max_per_user: usize,

    /// Sandbox log streams (`/api/projects/{id}/logs`) one user may hold open at once; past it,
    /// 429 `too_many_log_streams`.
    #[arg(long, env = "BLINK_LOG_STREAMS_PER_USER", default_value_t = 4)]
    pub(crate) log_streams_per_user: usize,

    /// Files a build may leave in `dist/`; past it, 413 `build_too_large`.
    #[arg(long, env = "BLINK_BUILD_MAX_FILES", default_value_t = 10_000)]
    pub(crate) build_max_files: usize,

    /// Bytes a build may leave in `dist/`; past it, 413 `build_too_large`.
    #[arg(long, env = "BLINK_BUILD_MAX_BYTES", default_value_t = 512 * 1024 * 1024)]
    pub(crate) build_max_bytes: u64,

    /// Previews answer at `{projectId}.{domain}`, each project on its own origin; `*.localhost`
    /// reaches this machine in browsers.
    #[arg(long, env = "BLINK_PREVIEW_DOMAIN", default_value = "preview.localhost")]
    pub(crate) preview_domain: String,

    /// Overrides the preview URL given to the frontend: `{origin}` is how the caller reached the
    /// host, `{projectId}` the project. Unset: `{projectId}.{BLINK_PREVIEW_DOMAIN}`, with the
    /// caller's scheme and port.
    #[arg(long, env = "BLINK_PREVIEW_URL")]
    pub(crate) preview_url: Option<String>,

    /// Also serve previews by path on the API's own origin (`/preview/{projectId}/…`), for
    /// development setups without wildcard names. Every preview then shares one origin (storage,
    /// service workers); off, those paths answer 404 `preview_paths_disabled`.
    #[arg(long, env = "BLINK_PREVIEW_PATHS", default_value_t = false, action = clap::ArgAction::Set)]
    pub(crate) preview_paths: bool,

    /// Package metadata documents the registry proxy keeps in memory.
    #[arg(long, env = "BLINK_REGISTRY_CACHE_ENTRIES", default_value_t = 1000)]
    pub(crate) registry_cache_entries: usize,

    /// Bytes of package metadata the registry proxy keeps in memory.
    #[arg(long, env = "BLINK_REGISTRY_CACHE_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub(crate) registry_cache_bytes: usize,

    /// Largest package metadata document the registry proxy fetches; past it, 502.
    #[arg(long, env = "BLINK_REGISTRY_MAX_METADATA_BYTES", default_value_t = 32 * 1024 * 1024)]
    pub(crate) registry_max_metadata_bytes: usize,

    /// Largest package tarball the registry proxy fetches; past it, 502.
    #[arg(long, env = "BLINK_REGISTRY_MAX_TARBALL_BYTES", default_value_t = 128 * 1024 * 1024)]
    pub(crate) registry_max_tarball_bytes: u64,

    /// The npm registry the host's registry proxy fetches from for sandboxes.
    #[arg(long, env = "BLINK_NPM_REGISTRY", default_value = "https://registry.npmjs.org")]
    pub(crate) npm_registry: String,
}

#[derive(Debug, Clone, Args)]
pub(crate) struct GitSettings {
    /// Name on the commits the host makes (the user is the author).
    #[arg(long, env = "BLINK_GIT_COMMITTER_NAME", default_value = "Blink")]
    pub(crate) git_committer_name: String,

    /// Email on the commits the host makes.
    #[arg(long, env = "BLINK_GIT_COMMITTER_EMAIL", default_value = "blink@localhost")]
    pub(crate) git_committer_email: String,

    /// GitHub's REST API, for creating a project's repository.
    #[arg(long, env = "BLINK_GITHUB_API", default_value = "https://api.github.com")]
    pub(crate) github_api: String,

    /// 64 hex digits: the key that seals remote tokens at rest. Default: `<data dir>/secret.key`,
    /// generated on first start.
    #[arg(long, env = "BLINK_SECRET_KEY", hide_env_values = true)]
    pub(crate) secret_key: Option<String>,

    /// Schemes a project's remote may use, comma-separated: `https`, and `http` by opt-in. Git's
    /// other transports (`file`, `ssh`, `git`) read the host's disk or resolve names on their own,
    /// so they are never offered.
    #[arg(long, env = "BLINK_GIT_REMOTE_SCHEMES", default_value = "https", value_delimiter = ',', value_parser = parse_remote_scheme)]
    pub(crate) git_remote_schemes: Vec<String>,

    /// Let remotes reach loopback, private, link-local and other internal addresses (a git server
    /// on the operator's own network); off, such remotes are refused before and at connection.
    #[arg(long, env = "BLINK_GIT_ALLOW_PRIVATE_NETWORKS", default_value_t = false, action = clap::ArgAction::Set)]
    pub(crate) git_allow_private_networks: bool,

    /// Bytes one fetch (a pull) may receive from the remote; past it the fetch is aborted.
    #[arg(long, env = "BLINK_GIT_MAX_FETCH_BYTES", default_value_t = 64 << 20)]
    pub(crate) git_max_fetch_bytes: u64,

    /// Seconds the remote may take to accept a connection, and to send the next bytes of an
    /// answer; a remote that stalls longer fails the pull or push instead of holding it.
    #[arg(long, env = "BLINK_GIT_REMOTE_TIMEOUT_SECS", default_value_t = 60)]
    pub(crate) git_remote_timeout_secs: u64,

    /// Seconds one git operation (a pull's fetch, a push) may talk to its remote in all, however
    /// steadily the remote answers.
    #[arg(long, env = "BLINK_GIT_OPERATION_TIMEOUT_SECS", default_value_t = 600)]
    pub(crate) git_operation_timeout_secs: u64,
}

fn parse_remote_scheme(s: &str) -> Result<String, String> {
    let scheme = s.trim().to_ascii_lowercase();
    match scheme.as_str() {
        "https" | "http" => Ok(scheme),
        _ => Err(format!("remotes may use https or http, not {s:?}")),
    }
}

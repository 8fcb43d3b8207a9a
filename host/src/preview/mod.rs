//! Live previews and production builds: one sandbox (a container) per project, running the Vite
//! dev server over the project's directory, reached through the host's reverse proxy.
//!
//! The host owns the lifecycle: a project never gets two sandboxes (one lock per project), a cap
//! bounds how many run at once, idle ones are removed, and running ones are re-adopted after a
//! restart (the backend finds them by label). Files live in the project's workspace on the host;
//! the sandbox mounts it, so an update is a write on the host that the dev server, told which
//! files changed, turns into HMR.

mod build;
mod entry;
mod lifecycle;
mod owners;
mod packages;
mod placement;
pub(crate) mod registry;
mod settings;
mod sync;
mod warm;

pub(crate) use self::build::{human_size, repair_build};
pub(crate) use self::lifecycle::SandboxesStatus;
pub(crate) use self::owners::{Owner, owners};
pub(crate) use self::placement::Placements;
pub(crate) use self::settings::{SandboxEngine, SandboxSettings, parse_labels};
use self::sync::write_entry;
use self::warm::WARM_MARKER;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use blink_agent_sdk::RuntimeTarget;
use blink_sandbox::{SandboxBackend, SandboxError, SandboxSpec};
use tokio::sync::broadcast;

use crate::db::now_ms;
use crate::workspace::{CopyLimits, WorkspaceError, Workspaces};

/// Lines of sandbox output kept per project for a logs client that connects later.
const RECENT_LINES: usize = 500;

#[derive(Debug, Clone)]
pub(crate) struct PreviewSettings {
    /// Overrides the preview URL: `{projectId}` and `{origin}` (the request's scheme and host)
    /// are replaced. `None`: `{projectId}.{domain}`, each project on its own origin.
    pub(crate) url_template: Option<String>,
    /// Previews answer at `{projectId}.{domain}`.
    pub(crate) domain: String,
    pub(crate) idle: Duration,
    pub(crate) max_sandboxes: usize,
    /// Sandboxes one user may have running at once.
    pub(crate) max_per_user: usize,
    /// Log streams one user may hold open at once (each one follows the engine's log).
    pub(crate) log_streams_per_user: usize,
    pub(crate) ready_timeout: Duration,
    pub(crate) build_timeout: Duration,
    pub(crate) install_timeout: Duration,
    /// The Vite dev server's port inside the sandbox.
    pub(crate) dev_port: u16,
    /// Where builds are kept: `<dir>/<projectId>/dist`.
    pub(crate) builds_dir: std::path::PathBuf,
    /// The registry the sandbox's npm reaches through the host, as the sandbox sees it.
    pub(crate) registry_url: Option<String>,
    /// Sandboxes kept started ahead of time, so a project's first preview skips creating one.
    pub(crate) warm: usize,
    /// What a build may leave in `dist/` to be kept.
    pub(crate) build_limits: CopyLimits,
    /// Each sandbox's token for telling its dev server what changed is derived from this.
    pub(crate) sync_key: [u8; 32],
    /// This host's mark on its sandboxes ([`blink_sandbox::OWNER_LABEL`]): its data directory.
    pub(crate) owner: String,
    /// Each sandbox's memory limit, for operators.
    pub(crate) memory_mib: i64,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum PreviewError {
    #[error(transparent)]
    Workspace(#[from] WorkspaceError),
    #[error("the sandbox engine is unavailable: {0}")]
    Unavailable(String),
    /// The operator chose a runtime (`BLINK_SANDBOX_RUNTIME`) the engine does not have.
    #[error("{0}")]
    RuntimeMissing(String),
    #[error("{running} sandboxes are running, the most this host allows; try again when one stops")]
    AtCapacity { running: usize },
    #[error("you have {limit} sandboxes running, the most one user may; stop one or wait until one is idle")]
    UserAtCapacity { limit: usize },
    #[error("you have {limit} log streams open, the most one user may; close one first")]
    TooManyStreams { limit: usize },
    #[error("the dev server did not answer within {}s", .0.as_secs())]
    NotReady(Duration),
    #[error("the build failed:\n{0}")]
    BuildFailed(String),
    #[error("the build's dist folder cannot be kept: {0}")]
    BuildInvalid(String),
    #[error("the build's dist folder is too large: {0}")]
    BuildTooLarge(String),
    #[error("installing the project's packages failed:\n{0}")]
    InstallFailed(String),
    #[error("no sandbox is running for this project")]
    NotRunning,
    #[error("the dev server stopped before it answered:\n{0}")]
    Exited(String),
    #[error("sandbox error: {0}")]
    Sandbox(String),
    /// Another live host runs the project's sandbox: the request is for that host, at this URL
    /// (which stays between hosts: it is no caller's business).
    #[error("the project's sandbox runs on another host; try again in a moment")]
    Elsewhere(String),
    #[error(transparent)]
    Database(#[from] crate::db::DbError),
}

impl From<SandboxError> for PreviewError {
    fn from(e: SandboxError) -> Self {
        match e {
            SandboxError::EngineUnavailable(m) => Self::Unavailable(m),
            missing @ SandboxError::RuntimeMissing { .. } => Self::RuntimeMissing(missing.to_string()),
            other => Self::Sandbox(other.to_string()),
        }
    }
}

/// A project's sandbox as the host tracks it.
#[derive(Default)]
struct Entry {
    address: Mutex<Option<SocketAddr>>,
    /// The user whose preview or build started it; `None` for one adopted after a restart until
    /// its owner uses it again.
    owner: Mutex<Option<String>>,
    last_used: std::sync::atomic::AtomicI64,
    /// The dependencies last installed, to install again only when `package.json` changes them.
    installed: Mutex<Option<String>>,
    recent: Mutex<VecDeque<String>>,
    live: Mutex<Option<broadcast::Sender<String>>>,
}

impl Entry {
    fn touch(&self) {
        self.last_used.store(now_ms(), std::sync::atomic::Ordering::Relaxed);
    }

    fn address(&self) -> Option<SocketAddr> {
        *self.address.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn owned_by(&self, user: &str) -> bool {
        self.owner.lock().unwrap_or_else(|e| e.into_inner()).as_deref() == Some(user)
    }

    fn set_owner(&self, user: &str) {
        *self.owner.lock().unwrap_or_else(|e| e.into_inner()) = Some(user.to_string());
    }

    /// Keeps a line of install or build output for the logs stream.
    fn record(&self, line: String) {
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        if recent.len() == RECENT_LINES {
            recent.pop_front();
        }
        recent.push_back(line.clone());
        if let Some(live) = self.live.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            let _ = live.send(line);
        }
    }

    fn subscribe(&self) -> (Vec<String>, broadcast::Receiver<String>) {
        let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner()).iter().cloned().collect();
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        let sender = live.get_or_insert_with(|| broadcast::channel(1024).0);
        (recent, sender.subscribe())
    }
}

/// What a build produced.
#[derive(Debug, Clone)]
pub(crate) struct Build {
    pub(crate) bytes: u64,
    pub(crate) files: usize,
}

pub(crate) struct Previews {
    backend: Arc<dyn SandboxBackend>,
    pub(crate) workspaces: Workspaces,
    settings: PreviewSettings,
    entries: Mutex<HashMap<String, Arc<Entry>>>,
    creating: tokio::sync::Mutex<()>,
    http: reqwest::Client,
    registry: Option<registry::RegistryProxy>,
    /// This, for background work (filling the pool).
    this: std::sync::Weak<Previews>,
    /// Ready warm sandboxes, by their placeholder project id (`warm-…`).
    pool: Mutex<Vec<String>>,
    /// Held while the pool is being filled: one filler at a time.
    filling: tokio::sync::Mutex<()>,
    /// Set when the host stops: the pool is drained and never filled again.
    closing: std::sync::atomic::AtomicBool,
    /// Log streams open, by user.
    log_streams: crate::slots::Slots,
    /// Where sandboxes run, when hosts share the database.
    placements: Option<Placements>,
}

impl Previews {
    pub(crate) fn new(
        backend: Arc<dyn SandboxBackend>,
        workspaces: Workspaces,
        settings: PreviewSettings,
        registry: Option<registry::RegistryProxy>,
        placements: Option<Placements>,
    ) -> Arc<Self> {
        let http = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(5)).build().unwrap_or_default();
        Arc::new_cyclic(|this| Self {
            this: this.clone(),
            backend,
            workspaces,
            settings,
            entries: Mutex::default(),
            creating: Default::default(),
            http,
            registry,
            pool: Mutex::default(),
            filling: Default::default(),
            closing: Default::default(),
            log_streams: Default::default(),
            placements,
        })
    }

    fn entry(&self, project: &str) -> Arc<Entry> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).entry(project.to_string()).or_default().clone()
    }

    fn existing(&self, project: &str) -> Option<Arc<Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).get(project).cloned()
    }

    /// The base path the dev server serves the project under, behind the proxy.
    pub(crate) fn base_path(project: &str) -> String {
        format!("/preview/{project}/")
    }

    /// Where the caller opens the project's preview, given how it reached this host (`scheme`,
    /// and `host` with any port): by default the project's own origin, so no preview shares
    /// storage, cookies or service workers with the API or another preview.
    pub(crate) fn preview_url(&self, project: &str, scheme: &str, host: &str) -> String {
        match &self.settings.url_template {
            Some(template) => {
                template.replace("{projectId}", project).replace("{origin}", &format!("{scheme}://{host}"))
            }
            None => {
                let port = host.rsplit_once(':').map(|(_, p)| p).filter(|p| p.parse::<u16>().is_ok());
                let port = port.map_or(String::new(), |p| format!(":{p}"));
                format!("{scheme}://{project}.{}{port}/", self.settings.domain)
            }
        }
    }

    /// The domain previews answer under, as `{projectId}.{domain}`.
    pub(crate) fn domain(&self) -> &str {
        &self.settings.domain
    }

    fn spec(&self, project: &str, app_dir: std::path::PathBuf) -> SandboxSpec {
        let mut env = vec![
            ("BLINK_BASE".to_string(), Self::base_path(project)),
            ("BLINK_SYNC_TOKEN".to_string(), self.sync_token(project)),
        ];
        if let Some(registry) = &self.settings.registry_url {
            env.push(("npm_config_registry".into(), registry.clone()));
        }
        SandboxSpec {
            project: project.to_string(),
            app_dir,
            env,
            command: dev_server_command(self.settings.dev_port),
            warm: false,
        }
    }

    /// Writes the files (and, for the `browser` target, the entry that runs them as the
    /// frontend's preview does), starts the project's sandbox if it is not running, installs new
    /// packages, and returns once the dev server answers.
    pub(crate) async fn preview(
        &self,
        project: &str,
        owner: &str,
        files: &BTreeMap<String, String>,
        target: RuntimeTarget,
    ) -> Result<SocketAddr, PreviewError> {
        let entry = self.entry(project);
        let _guard = self.workspaces.lock(project).await?;
        self.here_or_nowhere(project).await?;
        entry.set_owner(owner);
        entry.touch();
        let started = std::time::Instant::now();
        let mut claimed = false;
        if !self.workspaces.app_dir(project).exists() {
            // A warm sandbox is a running one too: the caps hold for it as for a new one.
            let _creating = self.creating.lock().await;
            self.check_caps(project, owner)?;
            claimed = self.claim_warm(project, &entry).await;
        }
        let workspaces = self.workspaces.clone();
        let (owned_project, owned_files) = (project.to_string(), files.clone());
        let applied = tokio::task::spawn_blocking(move || {
            let mut applied = workspaces.apply(&owned_project, &owned_files)?;
            applied.written.extend(write_entry(&workspaces, &owned_project, Some(target))?);
            Ok::<_, WorkspaceError>(applied)
        })
        .await
        .map_err(|e| PreviewError::Sandbox(e.to_string()))??;
        let elapsed_us = started.elapsed().as_micros() as u64;
        tracing::debug!(
            project,
            written = applied.written.len(),
            deleted = applied.deleted.len(),
            elapsed_us,
            "files applied"
        );
        // An update of a running project: a dev server that takes the news of the changed files is
        // running and ready, so the engine and the readiness probe (Vite transforming the page)
        // are skipped. Anything else (a dead sandbox, nothing to tell) takes the full path.
        if !claimed
            && let Some(address) = entry.address()
            && !applied.written.iter().any(|p| p == "package.json")
            && self.sync(project, address, &applied).await
        {
            entry.touch();
            crate::telemetry::preview("update", started.elapsed());
            return Ok(address);
        }
        if claimed && let Err(e) = self.start_claimed(project) {
            tracing::warn!(project, "cannot start the warm sandbox's dev server: {e}");
            self.backend.remove(project).await?;
        }
        // A dev server this call starts (or a warm one it claims) reads every file as it starts:
        // telling it of them would only make Vite restart for a changed config, and the page's
        // first request could meet the restart.
        let fresh = claimed || entry.address().is_none();
        self.start(project, &entry).await?;
        self.install_if_needed(project, &entry).await?;
        let address = entry.address().ok_or(PreviewError::NotRunning)?;
        self.wait_ready(project, address).await?;
        if !fresh {
            self.sync(project, address, &applied).await;
        }
        entry.touch();
        crate::telemetry::preview(if fresh { "start" } else { "update" }, started.elapsed());
        Ok(address)
    }

    async fn start(&self, project: &str, entry: &Entry) -> Result<SocketAddr, PreviewError> {
        if let Some(info) = self.backend.inspect(project).await?
            && info.running
            && let Some(address) = info.address
        {
            *entry.address.lock().unwrap_or_else(|e| e.into_inner()) = Some(address);
            self.place(project, address).await?;
            return Ok(address);
        }
        // One creation at a time, so two new projects cannot both pass the cap.
        let _creating = self.creating.lock().await;
        let owner = entry.owner.lock().unwrap_or_else(|e| e.into_inner()).clone();
        self.check_caps(project, owner.as_deref().unwrap_or_default())?;
        let app_dir = self.workspaces.app_dir(project);
        let info = self.backend.ensure(&self.spec(project, app_dir)).await?;
        let address = info.address.ok_or_else(|| PreviewError::Sandbox("the sandbox has no address".into()))?;
        *entry.address.lock().unwrap_or_else(|e| e.into_inner()) = Some(address);
        tracing::info!(project, %address, "sandbox started");
        self.place(project, address).await?;
        Ok(address)
    }

    async fn wait_ready(&self, project: &str, address: SocketAddr) -> Result<(), PreviewError> {
        let url = format!("http://{address}{}", Self::base_path(project));
        let started = tokio::time::Instant::now();
        let mut checked = started;
        loop {
            if let Ok(response) = self.http.get(&url).send().await
                && response.status().is_success()
            {
                return Ok(());
            }
            if started.elapsed() >= self.settings.ready_timeout {
                return Err(PreviewError::NotReady(self.settings.ready_timeout));
            }
            // A dev server that died (its config crashed, the memory limit killed it) will not
            // answer: say so now, with its last words, rather than at the timeout.
            if checked.elapsed() >= Duration::from_millis(500) {
                checked = tokio::time::Instant::now();
                if !self.backend.inspect(project).await?.is_some_and(|s| s.running) {
                    return Err(PreviewError::Exited(self.last_lines(project, 20).await));
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The main process's last lines, for an error message.
    async fn last_lines(&self, project: &str, n: usize) -> String {
        use futures::StreamExt;
        let Ok(stream) = self.backend.logs(project, n).await else { return String::new() };
        let lines: Vec<String> = stream
            .take_until(tokio::time::sleep(Duration::from_secs(2)))
            .filter_map(|l| async move { l.ok() })
            .collect()
            .await;
        lines.join("\n")
    }

    /// Where the project's dev server answers, if its sandbox runs; marks the project as used.
    pub(crate) fn upstream(&self, project: &str) -> Option<SocketAddr> {
        let entry = self.existing(project)?;
        entry.touch();
        entry.address()
    }

    /// The sandbox's output: recent lines first, then live ones. Each stream follows the engine's
    /// log, so a user holds only so many open at once.
    pub(crate) async fn logs(
        &self,
        project: &str,
        user: &str,
    ) -> Result<futures::stream::BoxStream<'static, String>, PreviewError> {
        use futures::StreamExt;
        let limit = self.settings.log_streams_per_user;
        let slot = self.log_streams.take(user, limit).ok_or(PreviewError::TooManyStreams { limit })?;
        let entry = self.entry(project);
        let (recent, live) = entry.subscribe();
        let dev = match self.backend.logs(project, 200).await {
            Ok(stream) => stream.filter_map(|l| async move { l.ok().map(|l| format!("[dev] {l}")) }).boxed(),
            Err(SandboxError::NotFound(_)) => futures::stream::empty().boxed(),
            Err(e) => return Err(e.into()),
        };
        let live = tokio_stream::wrappers::BroadcastStream::new(live).filter_map(|l| async move { l.ok() });
        let lines = futures::stream::iter(recent).chain(futures::stream::select(dev, live));
        // The slot lives as long as the stream.
        Ok(lines
            .map(move |line| {
                let _open = &slot;
                line
            })
            .boxed())
    }
}

/// Vite's arguments with the config loader a read-only root needs (the default one writes beside
/// the image's `node_modules`).
fn vite_args(args: &[&str]) -> Vec<String> {
    args.iter().copied().chain(["--configLoader", "runner"]).map(String::from).collect()
}

/// The image's Vite, run by node directly: the root filesystem is read-only and npm's bin shims
/// are not needed.
fn vite_command(args: &[&str]) -> Vec<String> {
    ["node", "/node_modules/vite/bin/vite.js"].into_iter().map(String::from).chain(vite_args(args)).collect()
}

fn dev_server_command(port: u16) -> Vec<String> {
    vite_command(&["--host", "0.0.0.0", "--port", &port.to_string(), "--strictPort"])
}

/// The text without terminal colour codes (some tools colour their errors whatever `NO_COLOR` says).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            // Parameters and intermediates, up to the final byte (@ to ~).
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The lines of a failed command's output worth showing: errors and their context, at most 40.
fn relevant_lines(output: &str) -> String {
    let output = strip_ansi(output);
    let lines: Vec<&str> = output.lines().filter(|l| !l.trim().is_empty()).collect();
    let first_error = lines.iter().position(|l| {
        let lower = l.to_ascii_lowercase();
        lower.contains("error") || lower.contains("failed") || lower.contains("404")
    });
    let start = first_error.unwrap_or(lines.len().saturating_sub(40));
    lines[start..].iter().take(40).copied().collect::<Vec<_>>().join("\n")
}

//! Live previews and production builds: one sandbox (a container) per project, running the Vite
//! dev server over the project's directory, reached through the host's reverse proxy.
//!
//! The host owns the lifecycle: a project never gets two sandboxes (one lock per project), a cap
//! bounds how many run at once, idle ones are removed, and running ones are re-adopted after a
//! restart (the backend finds them by label). Files live in the project's workspace on the host;
//! the sandbox mounts it, so an update is a write on the host that the dev server, told which
//! files changed, turns into HMR.

mod entry;
pub(crate) mod registry;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use blink_agent_sdk::RuntimeTarget;
use blink_sandbox::{SandboxBackend, SandboxError, SandboxSpec};
use tokio::sync::broadcast;

use crate::db::now_ms;
use crate::workspace::{Applied, CopyLimits, CopyOutError, WorkspaceError, Workspaces};

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
}

impl Previews {
    pub(crate) fn new(
        backend: Arc<dyn SandboxBackend>,
        workspaces: Workspaces,
        settings: PreviewSettings,
        registry: Option<registry::RegistryProxy>,
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

    /// Takes the sandboxes a previous run of the host left running: they serve again at once.
    pub(crate) async fn adopt(&self) -> Result<usize, PreviewError> {
        let mut adopted = 0;
        for info in self.backend.list().await? {
            // Ours: running over a project directory of this host's (another host on the same
            // engine, a test's say, keeps its own).
            if !info.running || !self.workspaces.app_dir(&info.project).is_dir() {
                continue;
            }
            // Made by another host (one with the same project id, a test's): not ours to adopt.
            // A sandbox without the label predates it, and is judged by its directory alone.
            if info.labels.get(blink_sandbox::OWNER_LABEL).is_some_and(|owner| *owner != self.settings.owner) {
                continue;
            }
            // Warm only if this host made it so: the label it set when it created the sandbox for
            // the pool, and its marker beside the directory, taken away when a project claimed it.
            // A project's own id or name proves nothing: any user may name a project `warm-…`.
            let labelled = info.labels.get(blink_sandbox::WARM_LABEL).is_some_and(|v| v == "1");
            if labelled && self.workspaces.project_dir(&info.project).join(WARM_MARKER).is_file() {
                self.pool.lock().unwrap_or_else(|e| e.into_inner()).push(info.project.clone());
                continue;
            }
            let entry = self.entry(&info.project);
            *entry.address.lock().unwrap_or_else(|e| e.into_inner()) = info.address;
            entry.touch();
            adopted += 1;
            tracing::info!(project = %info.project, address = ?info.address, "sandbox adopted");
        }
        Ok(adopted)
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
        let _guard = self.workspaces.lock(project).await;
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
        if claimed && let Err(e) = self.start_claimed(project) {
            tracing::warn!(project, "cannot start the warm sandbox's dev server: {e}");
            self.backend.remove(project).await?;
        }
        self.start(project, &entry).await?;
        self.install_if_needed(project, &entry).await?;
        let address = entry.address().ok_or(PreviewError::NotRunning)?;
        self.wait_ready(project, address).await?;
        self.sync(project, address, &applied).await;
        entry.touch();
        Ok(address)
    }

    /// Tells a running project's dev server which files changed, after a run wrote them.
    pub(crate) async fn changed(&self, project: &str, applied: &Applied) {
        if let Some(address) = self.existing(project).and_then(|entry| entry.address()) {
            self.sync(project, address, applied).await;
        }
    }

    /// Tells the dev server at `address` which files changed and waits until it has forgotten
    /// their old versions (the template's `blink-sync` plugin), so the next request gets the new
    /// ones. A dev server that cannot be told (a project created from an older template, one
    /// restarting) still has its file watcher; that is logged, not an error.
    async fn sync(&self, project: &str, address: SocketAddr, applied: &Applied) {
        if applied.written.is_empty() && applied.deleted.is_empty() {
            return;
        }
        let body = serde_json::json!({ "changed": applied.written, "removed": applied.deleted });
        let answer = self
            .http
            .post(format!("http://{address}/__blink/sync"))
            .header("x-blink-sync", self.sync_token(project))
            // Vite drops many modules' old versions under a loaded gVisor sandbox slower than the
            // client's default; a sync that gives up early leaves the page on old code.
            .timeout(Duration::from_secs(30))
            .json(&body)
            .send()
            .await;
        match answer {
            Ok(response) if response.status().is_success() => {}
            Ok(response) => {
                tracing::warn!(project, status = %response.status(), "the dev server was not told what changed")
            }
            Err(e) => tracing::warn!(project, "the dev server was not told what changed: {e}"),
        }
    }

    /// The project's sandbox's token for `/__blink/sync`: its own, so code in one sandbox cannot
    /// make another's dev server reload, and the same after a restart of the host.
    fn sync_token(&self, project: &str) -> String {
        use sha2::Digest;
        hex::encode(
            sha2::Sha256::new().chain_update(self.settings.sync_key).chain_update(project.as_bytes()).finalize(),
        )
    }

    async fn start(&self, project: &str, entry: &Entry) -> Result<SocketAddr, PreviewError> {
        if let Some(info) = self.backend.inspect(project).await?
            && info.running
            && let Some(address) = info.address
        {
            *entry.address.lock().unwrap_or_else(|e| e.into_inner()) = Some(address);
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
        Ok(address)
    }

    /// Installs the packages `package.json` lists beyond the template's. The image's packages are
    /// shared and read-only, so the extra ones go to `.blink-packages/` in the project and are
    /// linked into `node_modules/`, where Vite resolves them; their own dependencies resolve from
    /// where they really are. Peer dependencies (React…) are the image's: never a second copy.
    async fn install_if_needed(&self, project: &str, entry: &Entry) -> Result<(), PreviewError> {
        let app_dir = self.workspaces.app_dir(project);
        let manifest = std::fs::read_to_string(app_dir.join("package.json")).unwrap_or_default();
        let template = dependencies(crate::workspace::template_file("package.json").unwrap_or_default());
        let mut extra = Vec::new();
        for (name, spec) in dependencies(&manifest) {
            if template.contains_key(&name) {
                continue;
            }
            if !valid_package(&name, &spec) {
                return Err(PreviewError::InstallFailed(format!(
                    "{name}@{spec} is not a registry package this sandbox can install"
                )));
            }
            extra.push(format!("{name}@{spec}"));
        }
        let key = extra.join(" ");
        if extra.is_empty()
            || entry.installed.lock().unwrap_or_else(|e| e.into_inner()).as_deref() == Some(key.as_str())
        {
            return Ok(());
        }
        let workspaces = self.workspaces.clone();
        let owned = project.to_string();
        tokio::task::spawn_blocking(move || {
            workspaces.write_internal(&owned, ".blink-packages/package.json", b"{\"private\": true}\n")
        })
        .await
        .map_err(|e| PreviewError::Sandbox(e.to_string()))??;
        let env = self.spec(project, app_dir).env;
        let mut install: Vec<String> = [
            "npm",
            "install",
            "--prefix",
            "/app/.blink-packages",
            "--no-save",
            "--no-package-lock",
            "--no-audit",
            "--no-fund",
            "--legacy-peer-deps",
            "--cache",
            "/tmp/.npm",
        ]
        .into_iter()
        .map(String::from)
        .collect();
        install.extend(extra.iter().cloned());
        entry.record(format!("[install] {}", install.join(" ")));
        let out = self.backend.exec(project, &install, &env, self.settings.install_timeout).await?;
        for line in out.output.lines() {
            entry.record(format!("[install] {line}"));
        }
        if out.exit_code != 0 {
            return Err(PreviewError::InstallFailed(install_failure(&out.output)));
        }
        let names: Vec<&str> = extra.iter().map(|e| e.rsplit_once('@').map_or(e.as_str(), |(n, _)| n)).collect();
        let mut link_env = env.clone();
        link_env.push(("BLINK_LINK".into(), names.join(",")));
        let link = vec!["node".to_string(), "-e".to_string(), LINK_SCRIPT.to_string()];
        let out = self.backend.exec(project, &link, &link_env, Duration::from_secs(30)).await?;
        if out.exit_code != 0 {
            return Err(PreviewError::InstallFailed(relevant_lines(&out.output)));
        }
        entry.record(format!("[install] linked {}", names.join(", ")));
        *entry.installed.lock().unwrap_or_else(|e| e.into_inner()) = Some(key);
        // Vite resolves and pre-bundles dependencies when it starts, and remembers a package it
        // could not find: new packages need a fresh dev server.
        self.backend.stop(project).await?;
        self.start(project, entry).await?;
        Ok(())
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

    /// Gives a new project a warm sandbox: its directory becomes the project's (the sandbox's
    /// mount follows it) and the container takes the project's name; [`Self::start_claimed`]
    /// then starts its dev server. Any failure leaves the normal path to create a sandbox.
    async fn claim_warm(&self, project: &str, entry: &Entry) -> bool {
        let Some(warm) = self.pool.lock().unwrap_or_else(|e| e.into_inner()).pop() else { return false };
        let (from, to) = (self.workspaces.project_dir(&warm), self.workspaces.project_dir(project));
        // No longer warm, whatever happens next: a restarted host must never pool it again.
        if let Err(e) = std::fs::remove_file(from.join(WARM_MARKER)) {
            tracing::warn!(project, warm, "cannot unmark the warm sandbox: {e}");
            let _ = self.backend.remove(&warm).await;
            return false;
        }
        if let Err(e) = std::fs::rename(&from, &to) {
            tracing::warn!(project, warm, "cannot take the warm sandbox's directory: {e}");
            let _ = self.backend.remove(&warm).await;
            return false;
        }
        let info = match self.backend.rename(&warm, project).await {
            Ok(info) => info,
            Err(e) => {
                tracing::warn!(project, warm, "cannot take the warm sandbox: {e}");
                let _ = std::fs::rename(&to, &from);
                let _ = self.backend.remove(&warm).await;
                return false;
            }
        };
        *entry.address.lock().unwrap_or_else(|e| e.into_inner()) = info.address;
        tracing::info!(project, warm, "warm sandbox claimed");
        self.refill();
        true
    }

    /// Starts the dev server of a claimed warm sandbox, once the project's files are in place (its
    /// own `vite.config.ts` or `index.html` are read as it starts).
    fn start_claimed(&self, project: &str) -> Result<(), PreviewError> {
        let env: serde_json::Map<String, serde_json::Value> = self
            .spec(project, self.workspaces.app_dir(project))
            .env
            .into_iter()
            .map(|(k, v)| (k, serde_json::Value::String(v)))
            .collect();
        let start = serde_json::json!({ "env": env, "port": self.settings.dev_port });
        self.workspaces.write_internal(project, WARM_START, start.to_string().as_bytes())?;
        Ok(())
    }

    /// Starts warm sandboxes in the background until the pool is full.
    pub(crate) fn refill(&self) {
        let Some(this) = self.this.upgrade() else { return };
        tokio::spawn(async move {
            let _filling = this.filling.lock().await;
            while this.pool.lock().unwrap_or_else(|e| e.into_inner()).len() < this.settings.warm
                && !this.closing.load(std::sync::atomic::Ordering::SeqCst)
            {
                let warm = format!("{WARM_PREFIX}{}", uuid::Uuid::new_v4().simple());
                let workspaces = this.workspaces.clone();
                let id = warm.clone();
                let seeded = tokio::task::spawn_blocking(move || {
                    workspaces.ensure(&id)?;
                    // Beside the app directory, where the sandbox cannot write.
                    std::fs::write(workspaces.project_dir(&id).join(WARM_MARKER), b"")?;
                    Ok::<_, WorkspaceError>(())
                })
                .await;
                if !matches!(seeded, Ok(Ok(()))) {
                    tracing::warn!("cannot prepare a warm sandbox's directory");
                    return;
                }
                let spec = SandboxSpec {
                    project: warm.clone(),
                    app_dir: this.workspaces.app_dir(&warm),
                    env: Vec::new(),
                    command: WARM_COMMAND.iter().map(|s| s.to_string()).collect(),
                    warm: true,
                };
                let ready = match this.backend.ensure(&spec).await {
                    Ok(_) => this.warmed(&warm).await,
                    Err(e) => Err(e.to_string()),
                };
                match ready {
                    Ok(()) => this.pool.lock().unwrap_or_else(|e| e.into_inner()).push(warm),
                    Err(e) => {
                        tracing::warn!("cannot start a warm sandbox: {e}");
                        let _ = this.backend.remove(&warm).await;
                        let _ = this.workspaces.remove(&warm);
                        return;
                    }
                }
            }
        });
    }

    /// Waits until a new warm sandbox has run its dev server once (the image's `warm.mjs` marks
    /// it): one claimed earlier would start no faster than a new sandbox.
    async fn warmed(&self, warm: &str) -> Result<(), String> {
        let started = tokio::time::Instant::now();
        loop {
            if self.workspaces.exists(warm, WARM_DONE).map_err(|e| e.to_string())? {
                return Ok(());
            }
            if self.closing.load(std::sync::atomic::Ordering::SeqCst) {
                return Err("the host is stopping".into());
            }
            if !self.backend.inspect(warm).await.map_err(|e| e.to_string())?.is_some_and(|s| s.running) {
                return Err(format!("it stopped while warming up:\n{}", self.last_lines(warm, 20).await));
            }
            if started.elapsed() >= self.settings.ready_timeout {
                return Err(format!("it did not warm up within {}s", self.settings.ready_timeout.as_secs()));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Removes the warm sandboxes, which no project can claim once this host has stopped: a
    /// stopping host leaves none behind. A fill in progress finishes first; none starts after.
    pub(crate) async fn drain_pool(&self) {
        self.closing.store(true, std::sync::atomic::Ordering::SeqCst);
        let _filling = self.filling.lock().await;
        let warm = std::mem::take(&mut *self.pool.lock().unwrap_or_else(|e| e.into_inner()));
        for id in warm {
            if let Err(e) = self.backend.remove(&id).await {
                tracing::warn!(sandbox = %id, "cannot remove a warm sandbox: {e}");
                continue;
            }
            let workspaces = self.workspaces.clone();
            let _ = tokio::task::spawn_blocking(move || workspaces.remove(&id)).await;
        }
    }

    /// Refuses a sandbox for `project` past the host's cap or its owner's. The project's own
    /// (being restarted, say) does not count against it.
    fn check_caps(&self, project: &str, owner: &str) -> Result<(), PreviewError> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let others = || entries.iter().filter(|(p, e)| p.as_str() != project && e.address().is_some());
        let running = others().count();
        if running >= self.settings.max_sandboxes {
            return Err(PreviewError::AtCapacity { running });
        }
        if others().filter(|(_, e)| e.owned_by(owner)).count() >= self.settings.max_per_user {
            return Err(PreviewError::UserAtCapacity { limit: self.settings.max_per_user });
        }
        Ok(())
    }

    /// Where the project's dev server answers, if its sandbox runs; marks the project as used.
    pub(crate) fn upstream(&self, project: &str) -> Option<SocketAddr> {
        let entry = self.existing(project)?;
        entry.touch();
        entry.address()
    }

    /// Runs `vite build` in the project's sandbox and keeps `dist/` as the project's latest build.
    pub(crate) async fn build(&self, project: &str, owner: &str) -> Result<Build, PreviewError> {
        let entry = self.entry(project);
        {
            let _guard = self.workspaces.lock(project).await;
            entry.set_owner(owner);
            entry.touch();
            let workspaces = self.workspaces.clone();
            let owned = project.to_string();
            // A run may have added or removed files since the last preview: a `browser` entry
            // must load the files the project has now.
            tokio::task::spawn_blocking(move || {
                workspaces.ensure(&owned)?;
                write_entry(&workspaces, &owned, None).map(drop)
            })
            .await
            .map_err(|e| PreviewError::Sandbox(e.to_string()))??;
            self.start(project, &entry).await?;
            self.install_if_needed(project, &entry).await?;
        }
        let _guard = self.workspaces.lock(project).await;
        let mut env = self.spec(project, self.workspaces.app_dir(project)).env;
        // A production build is served from the root of its own domain.
        env.retain(|(k, _)| k != "BLINK_BASE");
        env.push(("BLINK_BASE".into(), "/".into()));
        let command = vite_command(&["build"]);
        entry.record(format!("[build] {}", command.join(" ")));
        let out = self.backend.exec(project, &command, &env, self.settings.build_timeout).await?;
        for line in out.output.lines() {
            entry.record(format!("[build] {line}"));
        }
        if out.exit_code != 0 {
            return Err(PreviewError::BuildFailed(relevant_lines(&out.output)));
        }
        let target = self.settings.builds_dir.join(project);
        let (workspaces, owned, limits) = (self.workspaces.clone(), project.to_string(), self.settings.build_limits);
        let build = tokio::task::spawn_blocking(move || keep_build(&workspaces, &owned, &target, limits))
            .await
            .map_err(|e| PreviewError::Sandbox(e.to_string()))??;
        entry.touch();
        Ok(build)
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

    /// Stops and removes the project's sandbox; its files stay.
    pub(crate) async fn stop(&self, project: &str) -> Result<(), PreviewError> {
        if let Some(entry) = self.existing(project) {
            let _guard = self.workspaces.lock(project).await;
            self.backend.remove(project).await?;
            *entry.address.lock().unwrap_or_else(|e| e.into_inner()) = None;
        } else {
            self.backend.remove(project).await?;
        }
        Ok(())
    }

    /// Removes the project's sandbox, files and builds (the project is being deleted).
    pub(crate) async fn forget(&self, project: &str) -> Result<(), PreviewError> {
        self.stop(project).await?;
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).remove(project);
        self.workspaces.remove(project)?;
        match std::fs::remove_dir_all(self.settings.builds_dir.join(project)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(PreviewError::Sandbox(e.to_string())),
            _ => Ok(()),
        }
    }

    /// Removes sandboxes nobody used for the idle time; runs until the host stops.
    pub(crate) async fn reap_idle(self: Arc<Self>, every: Duration, shutdown: tokio_util::sync::CancellationToken) {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
            let idle_ms = i64::try_from(self.settings.idle.as_millis()).unwrap_or(i64::MAX);
            let stale: Vec<String> = self
                .entries
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .filter(|(_, e)| {
                    e.address().is_some() && now_ms() - e.last_used.load(std::sync::atomic::Ordering::Relaxed) > idle_ms
                })
                .map(|(p, _)| p.clone())
                .collect();
            for project in stale {
                match self.stop(&project).await {
                    Ok(()) => tracing::info!(project, "idle sandbox removed"),
                    Err(e) => tracing::warn!(project, "cannot remove an idle sandbox: {e}"),
                }
            }
        }
    }

    /// What operators see: this host's sandboxes and the registry proxy's counters.
    pub(crate) fn status(&self) -> serde_json::Value {
        let now = now_ms();
        let sandboxes: Vec<serde_json::Value> = self
            .entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter_map(|(project, e)| {
                let address = e.address()?;
                let idle = now - e.last_used.load(std::sync::atomic::Ordering::Relaxed);
                Some(serde_json::json!({ "projectId": project, "address": address.to_string(), "idleMs": idle }))
            })
            .collect();
        serde_json::json!({
            "sandboxes": sandboxes,
            "max": self.settings.max_sandboxes,
            "warm": self.pool.lock().unwrap_or_else(|e| e.into_inner()).len(),
            "registry": self.registry.as_ref().map(|r| r.stats()),
        })
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

/// Placeholder project ids of warm sandboxes.
const WARM_PREFIX: &str = "warm-";
/// The host's mark of a warm sandbox's directory, in the project directory (beside `app/`).
const WARM_MARKER: &str = "warm";

/// A warm sandbox's main process (the image's `warm.mjs`): Vite loaded and run once over the
/// template, waiting for the project it will serve.
const WARM_COMMAND: [&str; 2] = ["node", "/usr/local/lib/blink/warm.mjs"];
/// Written by the host when a claimed warm sandbox has the project's files: the dev server's
/// environment and port.
const WARM_START: &str = ".blink/start.json";
/// Written by `warm.mjs` once its warm-up run is done.
const WARM_DONE: &str = ".blink/warmed";

/// Links each package of `BLINK_LINK` from `.blink-packages/node_modules` into `node_modules`.
const LINK_SCRIPT: &str = "const fs = require('fs'), path = require('path');\
for (const name of (process.env.BLINK_LINK || '').split(',').filter(Boolean)) {\
  const target = path.join('/app/node_modules', name);\
  fs.mkdirSync(path.dirname(target), { recursive: true });\
  fs.rmSync(target, { recursive: true, force: true });\
  fs.symlinkSync(path.join('/app/.blink-packages/node_modules', name), target, 'dir');\
}";

/// A package name and version range npm takes from a registry: no URLs, paths or git specs, and
/// nothing npm could read as an option.
fn valid_package(name: &str, spec: &str) -> bool {
    let name_ok = {
        let bare = name.strip_prefix('@').and_then(|n| n.split_once('/')).map_or(Some(name), |(scope, rest)| {
            (!scope.is_empty()
                && scope.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-._~".contains(c)))
            .then_some(rest)
        });
        bare.is_some_and(|n| {
            !n.is_empty()
                && n.len() <= 214
                && !n.starts_with(['.', '_', '-'])
                && n.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-._~".contains(c))
        })
    };
    let spec_ok = !spec.is_empty()
        && !spec.starts_with('-')
        && spec.chars().all(|c| c.is_ascii_alphanumeric() || " .^~<>=|*-+x".contains(c))
        && spec.len() <= 64;
    name_ok && spec_ok
}

/// npm's failure, said plainly when a package does not exist.
fn install_failure(output: &str) -> String {
    let missing: Vec<&str> =
        output.lines().filter_map(|l| l.split('\'').nth(1).filter(|_| l.contains("is not in this registry"))).collect();
    if missing.is_empty() {
        relevant_lines(output)
    } else {
        format!("no such package in the npm registry: {}", missing.join(", "))
    }
}

/// `dependencies` and `devDependencies` of a `package.json`, by name.
fn dependencies(manifest: &str) -> BTreeMap<String, String> {
    let value: serde_json::Value = serde_json::from_str(manifest).unwrap_or_default();
    ["dependencies", "devDependencies"]
        .iter()
        .filter_map(|k| value[k].as_object())
        .flat_map(|deps| deps.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())))
        .collect()
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

/// Copies the project's `dist/` beside the previous build, then swaps it in, so the kept build is
/// always whole; a refused copy leaves the previous build as it was.
fn keep_build(
    workspaces: &Workspaces,
    project: &str,
    target: &std::path::Path,
    limits: CopyLimits,
) -> Result<Build, PreviewError> {
    let io = |e: std::io::Error| PreviewError::Sandbox(format!("keeping the build: {e}"));
    std::fs::create_dir_all(target).map_err(io)?;
    let fresh = target.join(format!(".dist-{}", uuid::Uuid::new_v4()));
    let (bytes, files) = workspaces.copy_out(project, "dist", &fresh, limits).map_err(|e| match e {
        CopyOutError::Missing(_) => PreviewError::BuildFailed("the build wrote no dist folder".into()),
        CopyOutError::NotPlain(_) | CopyOutError::TooDeep(_) => PreviewError::BuildInvalid(e.to_string()),
        CopyOutError::TooManyFiles(_) | CopyOutError::TooLarge(_) => PreviewError::BuildTooLarge(e.to_string()),
        CopyOutError::Io(e) => io(e),
    })?;
    let dist = target.join("dist");
    let old = target.join(format!(".old-{}", uuid::Uuid::new_v4()));
    let had = dist.exists();
    let swapped = match had.then(|| std::fs::rename(&dist, &old)) {
        Some(Err(e)) => Err(e),
        _ => std::fs::rename(&fresh, &dist).inspect_err(|_| {
            if had {
                let _ = std::fs::rename(&old, &dist);
            }
        }),
    };
    if let Err(e) = swapped {
        let _ = std::fs::remove_dir_all(&fresh);
        return Err(io(e));
    }
    let _ = std::fs::remove_dir_all(&old);
    Ok(Build { bytes, files })
}

/// A build's size as the seed reports it: `"245KB"`.
/// Writes the dev server's entry for `target`: the `browser` entry from the project's files, or
/// the template's own entry back when a `browser` project becomes a Vite one. `None` keeps the
/// kind the project has and only brings a `browser` entry up to date. Unchanged files are not
/// written again, so Vite sees no change and reloads nothing.
fn write_entry(
    workspaces: &Workspaces,
    project: &str,
    target: Option<RuntimeTarget>,
) -> Result<Vec<String>, WorkspaceError> {
    let current = workspaces.read_small(project, entry::ENTRY, 1 << 20)?;
    let generated = current.as_deref().is_some_and(entry::is_generated);
    let posted = workspaces.posted(project)?;
    let mut written = Vec::new();
    let wanted = match target {
        Some(RuntimeTarget::Browser) => {
            // A project that posts its own entry keeps it.
            if posted.iter().any(|p| p == entry::ENTRY) {
                return Ok(written);
            }
            write_if_changed(workspaces, project, entry::GLOBALS, entry::GLOBALS_SOURCE, &mut written)?;
            entry::browser_entry(&posted)
        }
        None if generated => entry::browser_entry(&posted),
        Some(RuntimeTarget::Vite) if generated => {
            crate::workspace::template_file(entry::ENTRY).unwrap_or_default().to_string()
        }
        _ => return Ok(written),
    };
    write_if_changed(workspaces, project, entry::ENTRY, &wanted, &mut written)?;
    Ok(written)
}

fn write_if_changed(
    workspaces: &Workspaces,
    project: &str,
    path: &str,
    content: &str,
    written: &mut Vec<String>,
) -> Result<(), WorkspaceError> {
    if workspaces.read_small(project, path, 1 << 20)?.as_deref() != Some(content.as_bytes()) {
        workspaces.write_internal(project, path, content.as_bytes())?;
        written.push(path.to_string());
    }
    Ok(())
}

/// Who owns a sandbox, as `blink sandbox prune` sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Owner {
    /// A host serves from this data directory now.
    Live(String),
    /// Its data directory is gone or no host serves from it: nothing will ever stop the sandbox.
    Gone(String),
    /// Made before sandboxes carried their owner.
    Unknown,
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Live(dir) => write!(f, "its host serves from {dir}"),
            Self::Gone(dir) => write!(f, "no host serves from {dir}"),
            Self::Unknown => f.write_str("it names no owner"),
        }
    }
}

/// Every sandbox on the engine, with whether a live host owns it.
pub(crate) async fn owners(
    backend: &dyn SandboxBackend,
) -> Result<Vec<(blink_sandbox::SandboxInfo, Owner)>, PreviewError> {
    let mut found = Vec::new();
    for sandbox in backend.list().await? {
        let owner = match sandbox.labels.get(blink_sandbox::OWNER_LABEL) {
            None => Owner::Unknown,
            Some(dir) if crate::host_lock::in_use(std::path::Path::new(dir)) => Owner::Live(dir.clone()),
            Some(dir) => Owner::Gone(dir.clone()),
        };
        found.push((sandbox, owner));
    }
    Ok(found)
}

pub(crate) fn human_size(bytes: u64) -> String {
    format!("{}KB", (bytes as f64 / 1024.0).round() as u64)
}

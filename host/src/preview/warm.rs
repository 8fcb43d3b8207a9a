//! The warm pool: sandboxes started ahead of need, their dev server already through its first
//! dependency scan, so a new project's preview starts in the time it takes to claim one.

use std::time::Duration;

use blink_sandbox::SandboxSpec;

use crate::preview::{Entry, PreviewError, Previews};
use crate::workspace::WorkspaceError;

impl Previews {
    /// Gives a new project a warm sandbox: its directory becomes the project's (the sandbox's
    /// mount follows it) and the container takes the project's name; [`Self::start_claimed`]
    /// then starts its dev server. Any failure leaves the normal path to create a sandbox.
    pub(super) async fn claim_warm(&self, project: &str, entry: &Entry) -> bool {
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
    pub(super) fn start_claimed(&self, project: &str) -> Result<(), PreviewError> {
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
    pub(super) async fn warmed(&self, warm: &str) -> Result<(), String> {
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
}

/// Placeholder project ids of warm sandboxes.
pub(super) const WARM_PREFIX: &str = "warm-";

/// The host's mark of a warm sandbox's directory, in the project directory (beside `app/`).
pub(super) const WARM_MARKER: &str = "warm";

/// A warm sandbox's main process (the image's `warm.mjs`): Vite loaded and run once over the
/// template, waiting for the project it will serve.
pub(super) const WARM_COMMAND: [&str; 2] = ["node", "/usr/local/lib/blink/warm.mjs"];

/// Written by the host when a claimed warm sandbox has the project's files: the dev server's
/// environment and port.
pub(super) const WARM_START: &str = ".blink/start.json";

/// Written by `warm.mjs` once its warm-up run is done.
pub(super) const WARM_DONE: &str = ".blink/warmed";

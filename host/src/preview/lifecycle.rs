//! Sandboxes' lives beyond one request: adopted after a restart, capped, reaped when idle,
//! stopped, forgotten, and reported.

use std::sync::Arc;
use std::time::Duration;

use crate::db::now_ms;
use crate::preview::{PreviewError, Previews, WARM_MARKER};

impl Previews {
    /// Takes the sandboxes a previous run of the host left running: they serve again at once.
    /// Ours that cannot serve (stopped, or over a project deleted while the host was down) are
    /// removed: no host knows them, and the data directory is this host's alone.
    pub(crate) async fn adopt(&self) -> Result<usize, PreviewError> {
        let mut adopted = 0;
        for info in self.backend.list().await? {
            let ours = info.labels.get(blink_sandbox::OWNER_LABEL).is_some_and(|owner| *owner == self.settings.owner);
            // Running over a project directory of this host's (another host on the same engine,
            // a test's say, keeps its own).
            if !info.running || !self.workspaces.app_dir(&info.project).is_dir() {
                if ours {
                    match self.backend.remove(&info.project).await {
                        Ok(()) => tracing::info!(project = %info.project, "a sandbox no host knew was removed"),
                        Err(e) => tracing::warn!(project = %info.project, "a sandbox no host knew stays: {e}"),
                    }
                }
                continue;
            }
            // Made by another host (one with the same project id, a test's): not ours to adopt.
            // A sandbox without the label predates it, and is judged by its directory alone.
            if info.labels.get(blink_sandbox::OWNER_LABEL).is_some_and(|owner| *owner != self.settings.owner) {
                continue;
            }
            // Sealed again: the host that started it may have died before it sealed it.
            let info = match self.backend.resume(&info.project).await {
                Ok(info) => info,
                Err(e) => {
                    tracing::warn!(project = %info.project, "a sandbox left running could not be taken over: {e}");
                    let _ = self.backend.remove(&info.project).await;
                    continue;
                }
            };
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
            if let Some(address) = info.address {
                self.place(&info.project, address).await?;
            }
            adopted += 1;
            tracing::info!(project = %info.project, address = ?info.address, "sandbox adopted");
        }
        Ok(adopted)
    }

    /// Refuses a sandbox for `project` past the host's cap or its owner's. The project's own
    /// (being restarted, say) does not count against it.
    pub(super) fn check_caps(&self, project: &str, owner: &str) -> Result<(), PreviewError> {
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

    /// Stops and removes the project's sandbox; its files stay. Never another live host's: that
    /// host stops its own.
    pub(crate) async fn stop(&self, project: &str) -> Result<(), PreviewError> {
        let _guard = self.workspaces.lock(project).await?;
        let entry = self.existing(project);
        if entry.as_ref().is_none_or(|e| e.address().is_none())
            && let Some(url) = self.runs_on(project).await
        {
            return Err(PreviewError::Elsewhere(url));
        }
        self.backend.remove(project).await?;
        if let Some(entry) = entry {
            *entry.address.lock().unwrap_or_else(|e| e.into_inner()) = None;
        }
        if let Some(placements) = &self.placements {
            placements.clear(project).await?;
        }
        Ok(())
    }

    /// Removes the project's sandbox, files and builds (the project is being deleted).
    pub(crate) async fn forget(&self, project: &str) -> Result<(), PreviewError> {
        match self.stop(project).await {
            // The host running it removes it once idle, as nobody can open a deleted project.
            Ok(()) | Err(PreviewError::Elsewhere(_)) => {}
            Err(e) => return Err(e),
        }
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).remove(project);
        self.workspaces.remove(project)?;
        match std::fs::remove_dir_all(self.settings.builds_dir.join(project)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(PreviewError::Sandbox(e.to_string())),
            _ => Ok(()),
        }
    }

    /// What operators see: this host's sandboxes and the registry proxy's counters.
    /// Sandboxes serving projects, and warm ones waiting.
    pub(crate) fn counts(&self) -> (usize, usize) {
        let running =
            self.entries.lock().unwrap_or_else(|e| e.into_inner()).values().filter(|e| e.address().is_some()).count();
        (running, self.pool.lock().unwrap_or_else(|e| e.into_inner()).len())
    }

    pub(crate) fn status(&self) -> SandboxesStatus {
        let now = now_ms();
        let sandboxes = self
            .entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter_map(|(project, e)| {
                let address = e.address()?.to_string();
                let idle_ms = now - e.last_used.load(std::sync::atomic::Ordering::Relaxed);
                Some(RunningSandbox { project_id: project.clone(), address, idle_ms })
            })
            .collect();
        SandboxesStatus {
            sandboxes,
            max: self.settings.max_sandboxes,
            memory_mib: self.settings.memory_mib,
            warm: self.pool.lock().unwrap_or_else(|e| e.into_inner()).len(),
            registry: self.registry.as_ref().map(|r| r.stats()),
        }
    }
}

/// The sandboxes this host runs, as an operator sees them.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct SandboxesStatus {
    pub(crate) sandboxes: Vec<RunningSandbox>,
    /// How many may run at once.
    max: usize,
    /// The memory each sandbox may use (its container's limit), in MiB.
    #[serde(rename = "memoryMib")]
    memory_mib: i64,
    /// Started ahead, waiting for a project.
    warm: usize,
    /// The package registry proxy's counters, when it runs.
    registry: Option<super::registry::RegistryStats>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RunningSandbox {
    project_id: String,
    address: String,
    idle_ms: i64,
}

//! What the dev server hears of: the files the host wrote (so the next request gets them) and the
//! entry a `browser`-target project needs.

use std::net::SocketAddr;
use std::time::Duration;

use blink_agent_sdk::RuntimeTarget;

use crate::preview::{Previews, entry};
use crate::workspace::{Applied, WorkspaceError, Workspaces};

impl Previews {
    /// Tells a running project's dev server which files changed, after a run wrote them: this
    /// host's, or the one another host runs (no file watcher sees a write made on another
    /// machine, nor one made from outside a gVisor sandbox).
    pub(crate) async fn changed(&self, project: &str, applied: &Applied) {
        let address = match self.existing(project).and_then(|entry| entry.address()) {
            Some(address) => Some(address),
            None => self.address_elsewhere(project).await,
        };
        if let Some(address) = address {
            self.sync(project, address, applied).await;
        }
    }

    /// Tells the dev server at `address` which files changed and waits until it has forgotten
    /// their old versions (the template's `blink-sync` plugin), so the next request gets the new
    /// ones. A dev server that cannot be told (a project created from an older template, one
    /// restarting) still has its file watcher; that is logged, not an error.
    pub(super) async fn sync(&self, project: &str, address: SocketAddr, applied: &Applied) -> bool {
        if applied.written.is_empty() && applied.deleted.is_empty() {
            return false;
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
            Ok(response) if response.status().is_success() => true,
            Ok(response) => {
                tracing::warn!(project, status = %response.status(), "the dev server was not told what changed");
                false
            }
            Err(e) => {
                tracing::warn!(project, "the dev server was not told what changed: {e}");
                false
            }
        }
    }

    /// The project's sandbox's token for `/__blink/sync`: its own, so code in one sandbox cannot
    /// make another's dev server reload, and the same after a restart of the host.
    pub(super) fn sync_token(&self, project: &str) -> String {
        use sha2::Digest;
        hex::encode(
            sha2::Sha256::new().chain_update(self.settings.sync_key).chain_update(project.as_bytes()).finalize(),
        )
    }
}

/// Writes the dev server's entry for `target`: the `browser` entry from the project's files, or
/// the template's own entry back when a `browser` project becomes a Vite one. `None` keeps the
/// kind the project has and only brings a `browser` entry up to date. Unchanged files are not
/// written again, so Vite sees no change and reloads nothing.
pub(super) fn write_entry(
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

pub(super) fn write_if_changed(
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

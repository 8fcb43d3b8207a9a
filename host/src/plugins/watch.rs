//! The watched plugins directory: dropping `validator.wasm` (or `validator-anything.wasm`) there
//! uploads it as a new version of that role, activated when it type-checks. A broken file leaves
//! the active version in place and the log says why.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher};

use super::PluginStore;
use crate::runtime::Role;

/// Quiet time after the last event for a file before it is read: a copy in progress fires many.
const SETTLE: Duration = Duration::from_millis(400);

/// Watches `dir` until the process ends. The returned watcher must be kept alive.
pub(crate) fn watch(store: PluginStore, dir: &Path) -> anyhow::Result<notify::RecommendedWatcher> {
    std::fs::create_dir_all(dir)?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<PathBuf>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event
            && matches!(event.kind, EventKind::Create(_) | EventKind::Modify(_))
        {
            for path in event.paths {
                let _ = tx.send(path);
            }
        }
    })?;
    watcher.watch(dir, RecursiveMode::NonRecursive)?;
    tracing::info!(dir = %dir.display(), "watching for plugin components");
    tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            let mut pending = BTreeSet::from([first]);
            // Wait until the directory has been quiet for a moment.
            while let Ok(Some(more)) = tokio::time::timeout(SETTLE, rx.recv()).await {
                pending.insert(more);
            }
            for path in pending {
                install(&store, &path).await;
            }
        }
    });
    Ok(watcher)
}

/// The role a file in the watched directory is for, from its name.
fn role_of(path: &Path) -> Option<Role> {
    let name = path.file_name()?.to_str()?;
    let stem = name.strip_suffix(".wasm")?;
    let role = stem.split_once('-').map_or(stem, |(role, _)| role);
    role.parse().ok()
}

async fn install(store: &PluginStore, path: &Path) {
    let Some(role) = role_of(path) else {
        if path.extension().is_some_and(|e| e == "wasm") {
            tracing::warn!(file = %path.display(), "ignored: name it <role>.wasm or <role>-<anything>.wasm");
        }
        return;
    };
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) => {
            tracing::warn!(file = %path.display(), "cannot read the component: {e}");
            return;
        }
    };
    let notes = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
    match store.upload(role, &bytes, "watched-dir", &notes, true).await {
        Ok(uploaded) => {
            let version = &uploaded.version.version;
            tracing::info!(%role, version, file = %path.display(), "watched component activated")
        }
        Err(e) => {
            tracing::warn!(%role, file = %path.display(), "watched component refused, the active version stays: {e}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_come_from_file_names() {
        assert_eq!(role_of(Path::new("/x/validator.wasm")), Some(Role::Validator));
        assert_eq!(role_of(Path::new("/x/planner-v2.wasm")), Some(Role::Planner));
        assert_eq!(role_of(Path::new("/x/painter.wasm")), None);
        assert_eq!(role_of(Path::new("/x/validator.wasm.tmp")), None);
    }
}

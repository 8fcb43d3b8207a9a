//! What a host killed mid-write leaves in project folders, removed when the next one starts: the
//! temporaries of writes cut short (`*.blink-tmp`). Only what is older than this process: the
//! data directory is one host's at a time (`host_lock`), so anything older was left by a process
//! that is gone, and nothing a write of this one is making is touched.

use std::time::SystemTime;

use cap_std::fs::Dir;

use super::{MAX_DEPTH, WorkspaceError, Workspaces, valid_project_id};

/// Folders no write of the host's goes into, and which can be huge: not walked.
const NOT_WRITTEN: &[&str] = &["node_modules", "dist", ".vite", ".git"];

impl Workspaces {
    /// The projects that have a folder here.
    pub(crate) fn projects(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(&self.root) else { return Vec::new() };
        entries.filter_map(|e| e.ok()?.file_name().into_string().ok()).filter(|name| valid_project_id(name)).collect()
    }

    /// Removes the temporaries of writes into the project's app folder that a process cut short
    /// before `before`; the count. The folder is the sandbox's too: walked without following a
    /// link, to a bounded depth.
    pub(crate) fn remove_temporaries(&self, project: &str, before: SystemTime) -> Result<usize, WorkspaceError> {
        if !self.app_dir(project).is_dir() {
            return Ok(0);
        }
        let (_, app) = self.open(project)?;
        remove_in(&app, 0, before)
    }
}

fn remove_in(dir: &Dir, depth: usize, before: SystemTime) -> Result<usize, WorkspaceError> {
    let mut removed = 0;
    for entry in dir.entries()? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let kind = entry.file_type()?;
        if kind.is_dir() {
            if depth < MAX_DEPTH && !NOT_WRITTEN.contains(&name) {
                removed += remove_in(&dir.open_dir(name)?, depth + 1, before)?;
            }
        } else if name.ends_with(".blink-tmp") {
            // A FIFO or a link the sandbox planted under that name goes too: never opened.
            let older = dir.symlink_metadata(name)?.modified().is_ok_and(|at| at.into_std() < before);
            if older {
                dir.remove_file(name)?;
                removed += 1;
            }
        }
    }
    Ok(removed)
}

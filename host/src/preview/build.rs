//! Production builds: `vite build` in the project's sandbox, its `dist/` kept whole beside the
//! previous build and swapped in.

use crate::preview::sync::write_entry;
use crate::preview::{Build, PreviewError, Previews, relevant_lines, vite_command};
use crate::workspace::{CopyLimits, CopyOutError, Workspaces};

impl Previews {
    /// Runs `vite build` in the project's sandbox and keeps `dist/` as the project's latest build.
    pub(crate) async fn build(&self, project: &str, owner: &str) -> Result<Build, PreviewError> {
        let entry = self.entry(project);
        {
            let _guard = self.workspaces.lock(project).await?;
            self.here_or_nowhere(project).await?;
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
        let _guard = self.workspaces.lock(project).await?;
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
}

/// Copies the project's `dist/` beside the previous build, then swaps it in, so the kept build is
/// always whole; a refused copy leaves the previous build as it was.
pub(super) fn keep_build(
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

/// Mends what a host killed in the middle of [`keep_build`] left in `project`'s folder under
/// `builds`: a swap cut between its two renames leaves no `dist` but the previous build aside,
/// which is put back; copies and set-aside builds are removed. Run with the project's turn held,
/// so no build of it is going on; `true` when something was mended.
pub(crate) fn repair_build(builds: &std::path::Path, project: &str) -> bool {
    let target = builds.join(project);
    let Ok(entries) = std::fs::read_dir(&target) else { return false };
    let leftovers: Vec<_> = entries
        .flatten()
        .filter(|e| e.file_name().to_str().is_some_and(|n| n.starts_with(".dist-") || n.starts_with(".old-")))
        .collect();
    if leftovers.is_empty() {
        return false;
    }
    let dist = target.join("dist");
    if !dist.exists()
        && let Some(old) = leftovers.iter().find(|e| e.file_name().to_string_lossy().starts_with(".old-"))
    {
        let _ = std::fs::rename(old.path(), &dist);
    }
    for leftover in leftovers {
        if leftover.path().exists() {
            let _ = std::fs::remove_dir_all(leftover.path());
        }
    }
    true
}

/// A build's size as the seed reports it: `"245KB"`.
pub(crate) fn human_size(bytes: u64) -> String {
    format!("{}KB", (bytes as f64 / 1024.0).round() as u64)
}

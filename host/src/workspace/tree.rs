//! The project's whole tree for git: read for a commit (files only, never through a link) and
//! replaced whole by a pull or restore, or not at all.

use std::collections::BTreeSet;
use std::path::Path;

use cap_std::fs::{Dir, OpenOptions, OpenOptionsExt as _, PermissionsExt as _};

use crate::workspace::{
    Applied, MAX_DEPTH, NO_FOLLOW_NO_BLOCK, WorkspaceError, Workspaces, check_parents, check_parents_but,
};

/// A file of the project as a repository records it: its workspace path, its content and whether
/// it is executable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TrackedFile {
    pub(crate) path: String,
    pub(crate) bytes: Vec<u8>,
    pub(crate) executable: bool,
}

/// Folders at the project's root that only the host writes (the sandbox's start file, packages
/// installed beside the shared ones): a repository never brings files into them.
pub(crate) const HOST_FOLDERS: &[&str] = &[".blink", ".blink-packages"];

impl Workspaces {
    /// Reads every regular file of the project, for a commit. Symbolic links are skipped, never
    /// followed: code in the sandbox plants them, and following one would copy the host's files
    /// into the history (and the remote). `.git` entries are git's own and never read; `skip`
    /// says which other paths (directories end with `/`) to leave out. The project's file and
    /// byte limits hold here as they do for posted files, so a sandbox that fills its folder
    /// cannot make the host read it all.
    pub(crate) fn snapshot(
        &self,
        project: &str,
        skip: &mut dyn FnMut(&str) -> bool,
    ) -> Result<Vec<TrackedFile>, WorkspaceError> {
        self.ensure(project)?;
        let (_, app) = self.open(project)?;
        let mut files = Vec::new();
        let mut bytes = 0;
        self.snapshot_dir(&app, "", skip, &mut files, &mut bytes)?;
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(files)
    }

    pub(super) fn snapshot_dir(
        &self,
        dir: &Dir,
        prefix: &str,
        skip: &mut dyn FnMut(&str) -> bool,
        files: &mut Vec<TrackedFile>,
        bytes: &mut usize,
    ) -> Result<(), WorkspaceError> {
        for entry in dir.entries()? {
            let entry = entry?;
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                tracing::debug!("skipping a file whose name is not UTF-8 under {prefix:?}");
                continue;
            };
            if name.eq_ignore_ascii_case(".git") {
                continue;
            }
            let path = format!("{prefix}{name}");
            let kind = entry.file_type()?;
            if kind.is_dir() {
                if prefix.matches('/').count() >= MAX_DEPTH {
                    return Err(WorkspaceError::InvalidPath { path, reason: "it is nested too deep (64 folders)" });
                }
                if !skip(&format!("{path}/")) {
                    self.snapshot_dir(&dir.open_dir(&name)?, &format!("{path}/"), skip, files, bytes)?;
                }
            } else if kind.is_file() && !skip(&path) {
                if files.len() == self.max_files {
                    return Err(WorkspaceError::TooManyFiles(files.len() + 1, self.max_files));
                }
                let mut options = OpenOptions::new();
                options.read(true).custom_flags(NO_FOLLOW_NO_BLOCK);
                let file = match dir.open_with(&name, &options) {
                    // A FIFO swapped in since the listing is not a file to record.
                    Ok(file) if !file.metadata()?.is_file() => continue,
                    Ok(file) => file,
                    // Replaced by a link or removed since the listing: not a file to record.
                    Err(e) if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => continue,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e.into()),
                };
                let executable = file.metadata()?.permissions().mode() & 0o111 != 0;
                *bytes += path.len();
                // One byte past what is left is enough to know the limit is crossed.
                let budget = (self.max_bytes + 1).saturating_sub(*bytes);
                let mut content = Vec::new();
                std::io::Read::read_to_end(&mut std::io::Read::take(file, budget as u64), &mut content)?;
                *bytes += content.len();
                if *bytes > self.max_bytes {
                    return Err(WorkspaceError::TooLarge(*bytes, self.max_bytes));
                }
                files.push(TrackedFile { path, bytes: content, executable });
            }
        }
        Ok(())
    }

    /// Reads a file the host looks at in the project (`.gitignore`), up to `limit` bytes; `None`
    /// when it is missing or not a regular file (a link is not followed).
    pub(crate) fn read_small(&self, project: &str, path: &str, limit: u64) -> Result<Option<Vec<u8>>, WorkspaceError> {
        let (_, app) = self.open(project)?;
        check_parents(&app, path)?;
        let mut options = OpenOptions::new();
        options.read(true).custom_flags(NO_FOLLOW_NO_BLOCK);
        let file = match app.open_with(path, &options) {
            Ok(file) if file.metadata()?.is_file() => file,
            Ok(_) => return Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let mut content = Vec::new();
        std::io::Read::read_to_end(&mut std::io::Read::take(file, limit), &mut content)?;
        Ok(Some(content))
    }

    /// Applies what changed between two states of a repository: writes `written`, removes
    /// `deleted` (and the directories that leaves empty), and says which files it changed. Every path is checked before anything
    /// changes: one that goes through a symbolic link (planted by code in the sandbox), into `.git`
    /// or into a folder the host manages is refused, and the project stays as it was.
    pub(crate) fn apply_tree(
        &self,
        project: &str,
        written: &[TrackedFile],
        deleted: &[String],
    ) -> Result<Applied, WorkspaceError> {
        self.ensure(project)?;
        let mut applied = Applied::default();
        let (_, app) = self.open(project)?;
        let gone: BTreeSet<&str> = deleted.iter().map(String::as_str).collect();
        for path in written.iter().map(|f| f.path.as_str()).chain(deleted.iter().map(String::as_str)) {
            check_tree_path(path)?;
            check_tree_parents(&app, path, &gone)?;
        }
        for path in deleted {
            match app.symlink_metadata(path) {
                Ok(meta) if meta.is_dir() => continue,
                Ok(_) => {
                    app.remove_file(path).map_err(|e| self.escape_to_invalid(path, e.into()))?;
                    applied.deleted.push(path.clone());
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e.into()),
            }
            // Like git, a directory whose last file went goes too; one still holding files stays.
            let mut parent = Path::new(path).parent();
            while let Some(dir) = parent.filter(|p| !p.as_os_str().is_empty()) {
                if app.remove_dir(dir).is_err() {
                    break;
                }
                parent = dir.parent();
            }
        }
        for file in written {
            self.write(&app, &file.path, &file.bytes).map_err(|e| self.escape_to_invalid(&file.path, e))?;
            if file.executable {
                app.set_permissions(&file.path, cap_std::fs::Permissions::from_mode(0o755))?;
            }
            applied.written.push(file.path.clone());
        }
        Ok(applied)
    }

    /// Removes the `.git` file libgit2 once wrote into the project (`gitdir: <the host's path>`):
    /// it told code in the sandbox where the host keeps its data. Any other `.git` is the
    /// project's own and stays.
    pub(crate) fn remove_git_link(&self, project: &str, git_dir: &Path) -> Result<(), WorkspaceError> {
        // A gitlink is one line naming a path, which is at most PATH_MAX (4096) bytes.
        let Some(content) = self.read_small(project, ".git", 4096 + 16)? else { return Ok(()) };
        let content = String::from_utf8_lossy(&content);
        let target = content.trim().strip_prefix("gitdir:").map(|t| t.trim().trim_end_matches('/'));
        if target == Some(git_dir.to_string_lossy().trim_end_matches('/')) {
            let (_, app) = self.open(project)?;
            app.remove_file(".git")?;
        }
        Ok(())
    }
}

/// Refuses a repository path the project must never hold: `.`/`..`/empty segments, `.git` in any
/// case, or a folder only the host writes.
pub(super) fn check_tree_path(path: &str) -> Result<(), WorkspaceError> {
    let invalid = |reason| WorkspaceError::InvalidPath { path: path.to_string(), reason };
    if path.is_empty() || path.starts_with('/') || path.contains('\0') {
        return Err(invalid("it must be a relative path"));
    }
    let segments: Vec<&str> = path.split('/').collect();
    if segments.iter().any(|s| s.is_empty() || *s == "." || *s == "..") {
        return Err(invalid("it must not contain empty, . or .. segments"));
    }
    if segments.iter().any(|s| s.eq_ignore_ascii_case(".git")) {
        return Err(invalid(".git is git's own"));
    }
    if segments.len() > 1 && HOST_FOLDERS.contains(&segments[0]) {
        return Err(invalid("this folder is managed by the host"));
    }
    Ok(())
}

/// Like [`check_parents`], except that a file in the way is fine when the same change deletes it
/// (a file that becomes a directory).
pub(super) fn check_tree_parents(app: &Dir, path: &str, deleted: &BTreeSet<&str>) -> Result<(), WorkspaceError> {
    check_parents_but(app, path, |file| deleted.contains(file))
}

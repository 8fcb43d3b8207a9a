//! Each project's files on disk, opened as a capability: every path is resolved inside the
//! project's directory (cap-std), so no posted name and no symlink planted by code running in the
//! sandbox can reach a file outside it.
//!
//! A project's directory holds the sandbox template (seeded on first use) with the project's own
//! files over it. The frontend posts flat names (`App.tsx`); they belong in `src/` unless they
//! already name `src/…`, `public/…` or one of the template's root files.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use cap_std::ambient_authority;
use cap_std::fs::{Dir, DirBuilder, OpenOptions, OpenOptionsExt as _};

/// The sandbox template (`sandbox/template`), embedded by the build script.
mod copy;
mod repair;
mod tree;

pub(crate) use self::copy::{CopyLimits, CopyOutError};
pub(crate) use self::tree::{HOST_FOLDERS, TrackedFile};

mod template {
    include!(concat!(env!("OUT_DIR"), "/sandbox_template.rs"));
}

/// Files at the template's root that a posted name may replace as they are.
const ROOT_FILES: &[&str] = &[
    "package.json",
    "package-lock.json",
    "index.html",
    "vite.config.ts",
    "vite.config.js",
    "tsconfig.json",
    "tsconfig.node.json",
    "tsconfig.app.json",
    "postcss.config.js",
    "tailwind.config.js",
    "tailwind.config.ts",
];

/// Where the posted-files list lives, beside (not inside) the directory the sandbox can write.
const POSTED: &str = "posted.json";

#[derive(Debug, thiserror::Error)]
pub(crate) enum WorkspaceError {
    #[error("{path:?} is not a valid file path: {reason}")]
    InvalidPath { path: String, reason: &'static str },
    #[error("{0} files posted; at most {1} are accepted")]
    TooManyFiles(usize, usize),
    #[error("the files total {0} bytes; at most {1} are accepted")]
    TooLarge(usize, usize),
    #[error("cannot write the project's files: {0}")]
    Io(#[from] std::io::Error),
    #[error("cannot take the project's turn across hosts: {0}")]
    Turn(String),
}

/// A project's turn held across hosts (the `turns` module's); dropping it gives the turn back.
pub(crate) struct SharedTurn(#[allow(dead_code)] Box<dyn Send + Sync>);

impl SharedTurn {
    pub(crate) fn new(held: impl Send + Sync + 'static) -> Self {
        Self(Box::new(held))
    }
}

/// Turns taken across the hosts that share the projects, besides this process's own.
pub(crate) trait SharedTurns: Send + Sync {
    fn take<'a>(&'a self, project: &'a str) -> futures::future::BoxFuture<'a, Result<SharedTurn, String>>;
}

#[derive(Clone)]
struct Shared(std::sync::Arc<dyn SharedTurns>);

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedTurns")
    }
}

/// A project's turn: this process's, and the other hosts' when they share the projects. Held
/// while it lives.
pub(crate) struct Turn {
    _shared: Option<SharedTurn>,
    _local: tokio::sync::OwnedMutexGuard<()>,
}

/// What applying a set of posted files changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Applied {
    /// Workspace paths written because they are new or their content changed.
    pub(crate) written: Vec<String>,
    /// Workspace paths removed because an earlier post had them and this one does not.
    pub(crate) deleted: Vec<String>,
    pub(crate) unchanged: usize,
}

#[derive(Debug, Clone)]
pub(crate) struct Workspaces {
    root: PathBuf,
    /// One lock per project: previews, builds, runs and git operations on a project take turns;
    /// different projects never wait on each other.
    locks: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<tokio::sync::Mutex<()>>>>>,
    /// The sandbox user, who must be able to write in the project (Vite's cache, `dist/`).
    owner: Option<(u32, u32)>,
    /// The turns of other hosts sharing the projects, if any.
    shared: Option<Shared>,
    pub(crate) max_files: usize,
    pub(crate) max_bytes: usize,
}

/// A file of the sandbox template, as text.
pub(crate) fn template_file(path: &str) -> Option<&'static str> {
    template::FILES.iter().find(|(p, _)| *p == path).and_then(|(_, bytes)| std::str::from_utf8(bytes).ok())
}

/// Whether `id` can name a project: a lowercase DNS label, so one id is one folder and one host
/// name (host names are case-insensitive, so an id differing only by case would share a site).
pub(crate) fn valid_project_id(id: &str) -> bool {
    (1..=63).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !id.starts_with('-')
        && !id.ends_with('-')
}

/// Checks a posted name and returns where it lives in the project.
pub(crate) fn workspace_path(posted: &str) -> Result<String, WorkspaceError> {
    let invalid = |reason| WorkspaceError::InvalidPath { path: posted.to_string(), reason };
    if posted.is_empty() || posted.len() > 512 {
        return Err(invalid("it must have 1 to 512 characters"));
    }
    if posted.contains('\0') {
        return Err(invalid("it contains a NUL byte"));
    }
    if posted.starts_with('/') || posted.contains('\\') || posted.contains(':') {
        return Err(invalid("it must be a relative path with / separators"));
    }
    let segments: Vec<&str> = posted.split('/').collect();
    if segments.iter().any(|s| s.is_empty() || *s == "." || *s == "..") {
        return Err(invalid("it must not contain empty, . or .. segments"));
    }
    if segments.iter().any(|s| s.chars().any(char::is_control)) {
        return Err(invalid("it contains a control character"));
    }
    if matches!(segments[0], "node_modules" | "dist" | ".git") {
        return Err(invalid("node_modules, dist and .git are managed by the host"));
    }
    if segments[0] == "src" || segments[0] == "public" || (segments.len() == 1 && ROOT_FILES.contains(&posted)) {
        Ok(posted.to_string())
    } else {
        Ok(format!("src/{posted}"))
    }
}

impl Workspaces {
    pub(crate) fn new(root: PathBuf, owner: Option<(u32, u32)>, max_files: usize, max_bytes: usize) -> Self {
        Self { root, owner, max_files, max_bytes, locks: Default::default(), shared: None }
    }

    /// Takes turns with other hosts too, through `turns`.
    pub(crate) fn shared_with(mut self, turns: std::sync::Arc<dyn SharedTurns>) -> Self {
        self.shared = Some(Shared(turns));
        self
    }

    /// Waits for the project's turn, on this host and then across hosts; the turn holds it.
    pub(crate) async fn lock(&self, project: &str) -> Result<Turn, WorkspaceError> {
        let lock = self.locks.lock().unwrap_or_else(|e| e.into_inner()).entry(project.to_string()).or_default().clone();
        let local = lock.lock_owned().await;
        let shared = match &self.shared {
            Some(Shared(turns)) => Some(turns.take(project).await.map_err(WorkspaceError::Turn)?),
            None => None,
        };
        Ok(Turn { _shared: shared, _local: local })
    }

    /// Where the project's repository lives: beside its files, out of the sandbox's reach.
    pub(crate) fn git_dir(&self, project: &str) -> PathBuf {
        self.root.join(project).join("git")
    }

    /// Everything the host keeps of the project: its app directory and bookkeeping beside it.
    pub(crate) fn project_dir(&self, project: &str) -> PathBuf {
        self.root.join(project)
    }

    /// The directory the project's sandbox mounts as its app.
    pub(crate) fn app_dir(&self, project: &str) -> PathBuf {
        self.root.join(project).join("app")
    }

    fn open(&self, project: &str) -> Result<(Dir, Dir), WorkspaceError> {
        let base = self.root.join(project);
        std::fs::create_dir_all(base.join("app"))?;
        let outer = Dir::open_ambient_dir(&base, ambient_authority())?;
        let app = outer.open_dir("app")?;
        Ok((outer, app))
    }

    /// Seeds a new project with the template; an existing one is left as it is.
    pub(crate) fn ensure(&self, project: &str) -> Result<PathBuf, WorkspaceError> {
        let (outer, app) = self.open(project)?;
        if !outer.exists(".seeded") {
            for (path, bytes) in template::FILES {
                if !app.exists(path) {
                    self.write(&app, path, bytes)?;
                }
            }
            self.chown_dir(&app)?;
            outer.write(".seeded", b"")?;
        }
        Ok(self.app_dir(project))
    }

    /// Makes the posted files the project's own: writes what is new or changed, and removes the
    /// files an earlier post had that this one does not. Template files nobody posted stay.
    pub(crate) fn apply(&self, project: &str, files: &BTreeMap<String, String>) -> Result<Applied, WorkspaceError> {
        if files.len() > self.max_files {
            return Err(WorkspaceError::TooManyFiles(files.len(), self.max_files));
        }
        let total: usize = files.iter().map(|(p, c)| p.len() + c.len()).sum();
        if total > self.max_bytes {
            return Err(WorkspaceError::TooLarge(total, self.max_bytes));
        }
        // Every name is checked before anything is written: a bad name changes nothing.
        let mut mapped = BTreeMap::new();
        for (posted, content) in files {
            mapped.insert(workspace_path(posted)?, content);
        }
        self.ensure(project)?;
        let (outer, app) = self.open(project)?;
        for path in mapped.keys() {
            check_parents(&app, path)?;
        }
        let before: BTreeSet<String> =
            outer.read_to_string(POSTED).ok().and_then(|s| serde_json::from_str(&s).ok()).unwrap_or_default();
        let mut applied = Applied::default();
        for (path, content) in &mapped {
            let same = app.read(path).is_ok_and(|old| old == content.as_bytes());
            if same {
                applied.unchanged += 1;
            } else {
                self.write(&app, path, content.as_bytes()).map_err(|e| self.escape_to_invalid(path, e))?;
                applied.written.push(path.clone());
            }
        }
        for gone in before.iter().filter(|p| !mapped.contains_key(*p)) {
            match app.remove_file(gone) {
                Ok(()) => applied.deleted.push(gone.clone()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        let now: BTreeSet<&String> = mapped.keys().collect();
        let json = serde_json::to_vec(&now).map_err(std::io::Error::other)?;
        atomic_write(&outer, POSTED, &json, None)?;
        Ok(applied)
    }

    /// Applies a run's result to the project: files written (created or modified) and deleted.
    /// The rest of the project stays as it is.
    pub(crate) fn apply_changes(
        &self,
        project: &str,
        written: &[(String, String)],
        deleted: &[String],
    ) -> Result<Applied, WorkspaceError> {
        let mut mapped = Vec::new();
        for (posted, content) in written {
            mapped.push((workspace_path(posted)?, content));
        }
        let gone: Vec<String> = deleted.iter().map(|p| workspace_path(p)).collect::<Result<_, _>>()?;
        self.ensure(project)?;
        let (outer, app) = self.open(project)?;
        for (path, _) in &mapped {
            check_parents(&app, path)?;
        }
        let mut posted: BTreeSet<String> =
            outer.read_to_string(POSTED).ok().and_then(|s| serde_json::from_str(&s).ok()).unwrap_or_default();
        let mut applied = Applied::default();
        for (path, content) in mapped {
            if app.read(&path).is_ok_and(|old| old == content.as_bytes()) {
                applied.unchanged += 1;
            } else {
                self.write(&app, &path, content.as_bytes()).map_err(|e| self.escape_to_invalid(&path, e))?;
                applied.written.push(path.clone());
            }
            posted.insert(path);
        }
        for path in gone {
            match app.remove_file(&path) {
                Ok(()) => applied.deleted.push(path.clone()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
            posted.remove(&path);
        }
        let json = serde_json::to_vec(&posted).map_err(std::io::Error::other)?;
        atomic_write(&outer, POSTED, &json, None)?;
        Ok(applied)
    }

    /// Writes a file the host itself manages in the project (not a posted one).
    pub(crate) fn write_internal(&self, project: &str, path: &str, bytes: &[u8]) -> Result<(), WorkspaceError> {
        let (_, app) = self.open(project)?;
        check_parents(&app, path)?;
        self.write(&app, path, bytes)
    }

    /// Whether the project has a file at `path` (a link counts only if it stays in the project).
    pub(crate) fn exists(&self, project: &str, path: &str) -> Result<bool, WorkspaceError> {
        let (_, app) = self.open(project)?;
        Ok(app.exists(path))
    }

    /// The project's files as posted, by workspace path.
    pub(crate) fn posted(&self, project: &str) -> Result<Vec<String>, WorkspaceError> {
        let (outer, _) = self.open(project)?;
        Ok(outer.read_to_string(POSTED).ok().and_then(|s| serde_json::from_str(&s).ok()).unwrap_or_default())
    }

    /// Removes the project's directory and everything in it.
    pub(crate) fn remove(&self, project: &str) -> Result<(), WorkspaceError> {
        match std::fs::remove_dir_all(self.root.join(project)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    fn write(&self, app: &Dir, path: &str, bytes: &[u8]) -> Result<(), WorkspaceError> {
        if let Some(parent) = Path::new(path).parent().filter(|p| !p.as_os_str().is_empty()) {
            let mut builder = DirBuilder::new();
            builder.recursive(true);
            app.create_dir_with(parent, &builder)?;
            // Each directory on the way, so the sandbox user can write beside the file.
            let mut partial = PathBuf::new();
            for part in parent.components() {
                partial.push(part);
                self.chown_dir(&app.open_dir(&partial)?)?;
            }
        }
        atomic_write(app, path, bytes, self.owner)?;
        Ok(())
    }

    fn chown_dir(&self, dir: &Dir) -> Result<(), WorkspaceError> {
        if let Some((uid, gid)) = self.owner {
            // cap-std may hold directories as O_PATH descriptors, which fchown refuses; chownat
            // with an empty path acts on the descriptor itself.
            let (uid, gid) = (Some(rustix::fs::Uid::from_raw(uid)), Some(rustix::fs::Gid::from_raw(gid)));
            rustix::fs::chownat(dir, "", uid, gid, rustix::fs::AtFlags::EMPTY_PATH).map_err(std::io::Error::from)?;
        }
        Ok(())
    }

    /// cap-std refuses a path that leaves the directory (through a symlink the sandbox planted,
    /// say) with `PermissionDenied`; to the caller that is a bad path, not a server fault.
    fn escape_to_invalid(&self, path: &str, e: WorkspaceError) -> WorkspaceError {
        match e {
            WorkspaceError::Io(io) if io.kind() == std::io::ErrorKind::PermissionDenied => {
                WorkspaceError::InvalidPath { path: path.to_string(), reason: "it leads outside the project" }
            }
            other => other,
        }
    }
}

/// Refuses a path whose directories include a symlink (code in the sandbox can plant one) or a
/// file. cap-std would refuse an escape anyway; this names the problem before anything is written.
fn check_parents(app: &Dir, path: &str) -> Result<(), WorkspaceError> {
    check_parents_but(app, path, |_| false)
}

/// [`check_parents`], where a file in the way that `going` says is about to go is no obstacle.
fn check_parents_but(app: &Dir, path: &str, going: impl Fn(&str) -> bool) -> Result<(), WorkspaceError> {
    let invalid = |reason| WorkspaceError::InvalidPath { path: path.to_string(), reason };
    let mut partial = PathBuf::new();
    let parents: Vec<_> = Path::new(path).parent().map(|p| p.components().collect()).unwrap_or_default();
    for part in parents {
        partial.push(part);
        match app.symlink_metadata(&partial) {
            Ok(meta) if meta.file_type().is_symlink() => return Err(invalid("it goes through a symbolic link")),
            Ok(meta) if meta.is_dir() => {}
            Ok(_) if partial.to_str().is_some_and(&going) => return Ok(()),
            Ok(_) => return Err(invalid("one of its directories is a file")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Folders deeper than this in a project are refused: every level is a descriptor and a stack
/// frame of the host's, and no app needs them.
const MAX_DEPTH: usize = 64;

/// Opens a name as it is: a link there is refused (`O_NOFOLLOW`), and a FIFO the sandbox
/// planted cannot block the host (`O_NONBLOCK`).
const NO_FOLLOW_NO_BLOCK: i32 = (rustix::fs::OFlags::NOFOLLOW.bits() | rustix::fs::OFlags::NONBLOCK.bits()) as i32;

/// Writes through a temporary file and a rename, so a reader (Vite) never sees half a file. No
/// fsync: it would put a disk flush between every keystroke and its hot reload, and the files
/// are the frontend's too; what matters is that no reader ever sees a torn file.
/// The owner is set before the rename, so the watcher sees one event for the file, not a change
/// and then a change of owner.
fn atomic_write(dir: &Dir, path: &str, bytes: &[u8], owner: Option<(u32, u32)>) -> std::io::Result<()> {
    let tmp = format!("{path}.blink-tmp");
    // Only a file this call creates is written: whatever the sandbox left at that name (a FIFO,
    // whose opening would block the host) is removed first, and a race with it is an error.
    let mut options = OpenOptions::new();
    options.write(true).create_new(true).custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32);
    let mut file = match dir.open_with(&tmp, &options) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            dir.remove_file(&tmp)?;
            dir.open_with(&tmp, &options)?
        }
        other => other?,
    };
    file.write_all(bytes)?;
    if let Some((uid, gid)) = owner {
        rustix::fs::fchown(&file, Some(rustix::fs::Uid::from_raw(uid)), Some(rustix::fs::Gid::from_raw(gid)))?;
    }
    drop(file);
    dir.rename(&tmp, dir, path)
}

#[cfg(test)]
mod tests;

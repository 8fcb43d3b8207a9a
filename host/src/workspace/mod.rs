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
use cap_std::fs::{Dir, DirBuilder, OpenOptions, OpenOptionsExt as _, PermissionsExt as _};

/// The sandbox template (`sandbox/template`), embedded by the build script.
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
        Self { root, owner, max_files, max_bytes, locks: Default::default() }
    }

    /// Waits for the project's turn; the guard holds it.
    pub(crate) async fn lock(&self, project: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = self.locks.lock().unwrap_or_else(|e| e.into_inner()).entry(project.to_string()).or_default().clone();
        lock.lock_owned().await
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

    fn snapshot_dir(
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
fn check_tree_path(path: &str) -> Result<(), WorkspaceError> {
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
fn check_tree_parents(app: &Dir, path: &str, deleted: &BTreeSet<&str>) -> Result<(), WorkspaceError> {
    check_parents_but(app, path, |file| deleted.contains(file))
}

/// Bounds on what [`Workspaces::copy_out`] copies: a build is the sandbox's output, as large as
/// its code makes it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CopyLimits {
    pub(crate) max_files: usize,
    pub(crate) max_bytes: u64,
}

/// Why a folder of the project could not be copied out.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CopyOutError {
    #[error("{0} does not exist")]
    Missing(String),
    #[error(
        "{0} is a symbolic link, a special file or a file where a folder belongs; only files and folders are copied"
    )]
    NotPlain(String),
    #[error("it holds more than {0} files")]
    TooManyFiles(usize),
    #[error("{0} is nested more than 64 folders deep")]
    TooDeep(String),
    #[error("it holds more than {0} bytes")]
    TooLarge(u64),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl Workspaces {
    /// Copies the project's `folder`, one name at its root (a build's `dist`), out to `to`, a directory of the
    /// host's own: only folders and regular files, opened one name at a time without following a
    /// link anywhere (the sandbox writes the project and may plant one, at `folder` itself too),
    /// within `limits`. Whatever fails leaves no `to` behind. Returns the bytes and files copied.
    pub(crate) fn copy_out(
        &self,
        project: &str,
        folder: &str,
        to: &Path,
        limits: CopyLimits,
    ) -> Result<(u64, usize), CopyOutError> {
        let (_, app) = self.open(project).map_err(|e| match e {
            WorkspaceError::Io(io) => CopyOutError::Io(io),
            other => CopyOutError::Io(std::io::Error::other(other.to_string())),
        })?;
        if folder.is_empty() || folder.contains('/') || folder == "." || folder == ".." {
            return Err(CopyOutError::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "one name at the root",
            )));
        }
        let from = match open_nofollow(&app, folder, true) {
            Ok(fd) => Dir::from_std_file(std::fs::File::from(fd)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(CopyOutError::Missing(folder.into())),
            Err(_) if is_not_a_folder(&app, folder) => return Err(CopyOutError::NotPlain(folder.into())),
            Err(e) => return Err(e.into()),
        };
        let mut copied = Copied { bytes: 0, files: 0, limits };
        let result = copy_dir(&from, Path::new(folder), to, &mut copied);
        if result.is_err() {
            let _ = std::fs::remove_dir_all(to);
        }
        result.map(|()| (copied.bytes, copied.files))
    }
}

struct Copied {
    bytes: u64,
    files: usize,
    limits: CopyLimits,
}

/// Opens one name of `dir` as it is: a link there is refused by the kernel (`O_NOFOLLOW`), and a
/// FIFO swapped in cannot block the host (`O_NONBLOCK`).
fn open_nofollow(dir: &Dir, name: impl AsRef<Path>, directory: bool) -> std::io::Result<rustix::fd::OwnedFd> {
    use rustix::fs::{Mode, OFlags};
    let mut flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK;
    if directory {
        flags |= OFlags::DIRECTORY;
    }
    Ok(rustix::fs::openat(dir, name.as_ref(), flags, Mode::empty())?)
}

fn is_not_a_folder(dir: &Dir, name: &str) -> bool {
    dir.symlink_metadata(name).is_ok_and(|m| !m.is_dir())
}

fn copy_dir(from: &Dir, shown: &Path, to: &Path, copied: &mut Copied) -> Result<(), CopyOutError> {
    use std::io::Read as _;
    if shown.components().count() > MAX_DEPTH {
        return Err(CopyOutError::TooDeep(shown.display().to_string()));
    }
    std::fs::create_dir_all(to)?;
    for entry in from.entries()? {
        let entry = entry?;
        let name = entry.file_name();
        let path = shown.join(&name);
        let not_plain = || CopyOutError::NotPlain(path.display().to_string());
        let kind = entry.file_type()?;
        if kind.is_dir() {
            let fd = open_nofollow(from, &name, true).map_err(|_| not_plain())?;
            copy_dir(&Dir::from_std_file(std::fs::File::from(fd)), &path, &to.join(&name), copied)?;
        } else if kind.is_file() {
            if copied.files == copied.limits.max_files {
                return Err(CopyOutError::TooManyFiles(copied.limits.max_files));
            }
            let file = std::fs::File::from(open_nofollow(from, &name, false).map_err(|_| not_plain())?);
            // Checked on the open file: the name may have been swapped since it was listed.
            if !file.metadata()?.is_file() {
                return Err(not_plain());
            }
            let room = copied.limits.max_bytes.saturating_sub(copied.bytes);
            let mut out = std::fs::File::create_new(to.join(&name))?;
            let written = std::io::copy(&mut file.take(room.saturating_add(1)), &mut out)?;
            if written > room {
                return Err(CopyOutError::TooLarge(copied.limits.max_bytes));
            }
            copied.bytes += written;
            copied.files += 1;
        } else {
            return Err(not_plain());
        }
    }
    Ok(())
}

#[cfg(test)]
mod copy_out_tests {
    use super::*;

    fn project_with_dist(files: &[(&str, usize)]) -> (tempfile::TempDir, Workspaces) {
        let root = tempfile::tempdir().unwrap();
        let ws = Workspaces::new(root.path().to_path_buf(), None, 100, 1 << 20);
        let dist = ws.app_dir("p").join("dist");
        std::fs::create_dir_all(&dist).unwrap();
        for (path, size) in files {
            let path = dist.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, vec![b'x'; *size]).unwrap();
        }
        (root, ws)
    }

    #[test]
    fn the_file_and_byte_limits_hold_at_their_edges_and_leave_nothing_behind() {
        let (root, ws) = project_with_dist(&[("index.html", 6), ("assets/a.js", 4)]);
        let to = |name: &str| root.path().join(name);
        let exact = CopyLimits { max_files: 2, max_bytes: 10 };
        assert_eq!(ws.copy_out("p", "dist", &to("ok"), exact).unwrap(), (10, 2));
        assert_eq!(std::fs::read(to("ok").join("assets/a.js")).unwrap(), b"xxxx");
        let files = ws.copy_out("p", "dist", &to("files"), CopyLimits { max_files: 1, max_bytes: 10 });
        assert!(matches!(files, Err(CopyOutError::TooManyFiles(1))), "{files:?}");
        let bytes = ws.copy_out("p", "dist", &to("bytes"), CopyLimits { max_files: 2, max_bytes: 9 });
        assert!(matches!(bytes, Err(CopyOutError::TooLarge(9))), "{bytes:?}");
        assert!(!to("files").exists() && !to("bytes").exists(), "a refused copy leaves no half a copy");
    }

    #[test]
    fn links_are_refused_at_any_level_and_a_missing_folder_is_named() {
        let limits = CopyLimits { max_files: 10, max_bytes: 1 << 20 };
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), b"s").unwrap();
        // `dist` itself a link, as code in the sandbox can leave it.
        let (root, ws) = project_with_dist(&[]);
        let dist = ws.app_dir("p").join("dist");
        std::fs::remove_dir(&dist).unwrap();
        std::os::unix::fs::symlink(outside.path(), &dist).unwrap();
        let err = ws.copy_out("p", "dist", &root.path().join("a"), limits).unwrap_err();
        assert!(matches!(err, CopyOutError::NotPlain(_)), "{err:?}");
        assert!(!root.path().join("a").exists());
        // A link deeper in, to a folder or to a file.
        for (name, target) in [("assets/up", outside.path().to_path_buf()), ("leak", outside.path().join("secret"))] {
            let (root, ws) = project_with_dist(&[("index.html", 1), ("assets/a.js", 1)]);
            std::os::unix::fs::symlink(&target, ws.app_dir("p").join("dist").join(name)).unwrap();
            let err = ws.copy_out("p", "dist", &root.path().join("b"), limits).unwrap_err();
            assert!(matches!(err, CopyOutError::NotPlain(_)), "{name}: {err:?}");
            assert!(!root.path().join("b").exists());
        }
        // A file where the folder belongs.
        let (root, ws) = project_with_dist(&[]);
        let dist = ws.app_dir("p").join("dist");
        std::fs::remove_dir(&dist).unwrap();
        std::fs::write(&dist, b"x").unwrap();
        let err = ws.copy_out("p", "dist", &root.path().join("d"), limits).unwrap_err();
        assert!(matches!(err, CopyOutError::NotPlain(_)), "{err:?}");
        let err = ws.copy_out("p", "missing", &root.path().join("c"), limits).unwrap_err();
        assert!(matches!(err, CopyOutError::Missing(_)), "{err:?}");
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
mod tests {
    use super::*;

    #[test]
    fn posted_names_land_in_src_unless_they_name_the_template() {
        assert_eq!(workspace_path("App.tsx").unwrap(), "src/App.tsx");
        assert_eq!(workspace_path("components/Nav.tsx").unwrap(), "src/components/Nav.tsx");
        assert_eq!(workspace_path("src/main.tsx").unwrap(), "src/main.tsx");
        assert_eq!(workspace_path("public/logo.svg").unwrap(), "public/logo.svg");
        assert_eq!(workspace_path("package.json").unwrap(), "package.json");
        assert_eq!(workspace_path("index.html").unwrap(), "index.html");
        for bad in ["", "../x", "a/../../x", "/etc/passwd", "a\0b", "a//b", "./a", "C:\\x", "node_modules/x", "dist/a"]
        {
            assert!(workspace_path(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn the_file_count_and_size_limits_hold_at_their_edges() {
        let root = tempfile::tempdir().unwrap();
        let ws = Workspaces::new(root.path().to_path_buf(), None, 2, 20);
        let files = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs.iter().map(|(p, c)| (p.to_string(), c.to_string())).collect()
        };
        // "a.tsx" + 5 bytes twice is exactly 20 bytes, in exactly 2 files.
        assert!(ws.apply("p", &files(&[("a.tsx", "12345"), ("b.tsx", "12345")])).is_ok());
        let err = ws.apply("p", &files(&[("a.tsx", "12345"), ("b.tsx", "123456")])).unwrap_err();
        assert!(matches!(err, WorkspaceError::TooLarge(21, 20)), "{err}");
        let err = ws.apply("p", &files(&[("a.tsx", ""), ("b.tsx", ""), ("c.tsx", "")])).unwrap_err();
        assert!(matches!(err, WorkspaceError::TooManyFiles(3, 2)), "{err}");
        assert_eq!(
            std::fs::read_to_string(ws.app_dir("p").join("src/b.tsx")).unwrap(),
            "12345",
            "refused posts change nothing"
        );
    }

    #[test]
    fn a_tree_is_applied_whole_or_not_at_all_and_never_through_a_link() {
        let root = tempfile::tempdir().unwrap();
        let ws = Workspaces::new(root.path().to_path_buf(), None, 100, 1 << 20);
        let file = |path: &str, text: &str| TrackedFile { path: path.into(), bytes: text.into(), executable: false };
        ws.apply_tree("p", &[file("lib/a.ts", "a"), file("lib/deep/b.ts", "b")], &[]).unwrap();
        let app = ws.app_dir("p");
        // A file becomes a folder, a folder's last file goes and the folder with it.
        ws.apply_tree("p", &[file("lib/a.ts/c.ts", "c")], &["lib/a.ts".into(), "lib/deep/b.ts".into()]).unwrap();
        assert_eq!(std::fs::read_to_string(app.join("lib/a.ts/c.ts")).unwrap(), "c");
        assert!(!app.join("lib/deep").exists());

        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), app.join("linked")).unwrap();
        for (written, deleted) in [
            (vec![file("src/ok.ts", "ok"), file("linked/x.ts", "pwned")], vec![]),
            (vec![file("src/ok.ts", "ok")], vec!["linked/x.ts".to_string()]),
            (vec![file("src/ok.ts", "ok"), file(".blink-packages/x.wasm", "pwned")], vec![]),
            (vec![file("src/ok.ts", "ok"), file("src/.GIT/config", "pwned")], vec![]),
            (vec![file("src/ok.ts", "ok"), file("src/../../x", "pwned")], vec![]),
        ] {
            let err = ws.apply_tree("p", &written, &deleted).unwrap_err();
            assert!(matches!(err, WorkspaceError::InvalidPath { .. }), "{err}");
            assert!(!app.join("src/ok.ts").exists(), "nothing is written when one path is refused");
        }
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_snapshot_reads_files_only_and_within_the_limits() {
        let root = tempfile::tempdir().unwrap();
        let ws = Workspaces::new(root.path().to_path_buf(), None, 1000, 1 << 20);
        let app = ws.ensure("p").unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "host secret").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), app.join("src/secret.txt")).unwrap();
        std::os::unix::fs::symlink(outside.path(), app.join("src/outside")).unwrap();
        std::fs::create_dir_all(app.join("node_modules/x")).unwrap();
        std::fs::write(app.join("node_modules/x/index.js"), "x").unwrap();
        let files = ws.snapshot("p", &mut |path| path == "node_modules/").unwrap();
        assert!(files.iter().any(|f| f.path == "src/main.tsx"));
        assert!(files.iter().all(|f| !f.path.contains("secret") && !f.path.starts_with("src/outside")));
        assert!(files.iter().all(|f| !f.path.starts_with("node_modules")));

        // Exactly the limits pass; a byte or a file more is refused.
        let total: usize = files.iter().map(|f| f.path.len() + f.bytes.len()).sum();
        let at = |max_files, max_bytes| Workspaces::new(root.path().to_path_buf(), None, max_files, max_bytes);
        let skip = &mut |path: &str| path == "node_modules/";
        assert!(at(files.len(), total).snapshot("p", skip).is_ok());
        assert!(matches!(at(files.len(), total - 1).snapshot("p", skip), Err(WorkspaceError::TooLarge(..))));
        assert!(matches!(at(files.len() - 1, total).snapshot("p", skip), Err(WorkspaceError::TooManyFiles(..))));
    }

    #[test]
    fn fifos_and_deep_folders_the_sandbox_plants_never_block_or_exhaust_the_host() {
        let root = tempfile::tempdir().unwrap();
        let ws = Workspaces::new(root.path().to_path_buf(), None, 1000, 1 << 20);
        let app = ws.ensure("p").unwrap();
        let mkfifo = |path: &Path| assert!(std::process::Command::new("mkfifo").arg(path).status().unwrap().success());
        // Opening any of these for reading or writing would wait for a peer that never comes.
        mkfifo(&app.join(".gitignore"));
        mkfifo(&app.join("src/pipe.tsx"));
        mkfifo(&app.join("src/App.tsx.blink-tmp"));
        assert_eq!(ws.read_small("p", ".gitignore", 1024).unwrap(), None);
        let files = ws.snapshot("p", &mut |_| false).unwrap();
        assert!(files.iter().all(|f| f.path != "src/pipe.tsx" && f.path != ".gitignore"));
        let posted = [("App.tsx".to_string(), "ok".to_string())].into_iter().collect();
        ws.apply("p", &posted).unwrap();
        assert_eq!(std::fs::read_to_string(app.join("src/App.tsx")).unwrap(), "ok");

        // 64 folders deep is a project; 65 is refused, not walked.
        let deep = |n: usize| (0..n).map(|_| "d").collect::<Vec<_>>().join("/");
        std::fs::create_dir_all(app.join(deep(64))).unwrap();
        assert!(ws.snapshot("p", &mut |_| false).is_ok());
        std::fs::create_dir_all(app.join(deep(65))).unwrap();
        let err = ws.snapshot("p", &mut |_| false).unwrap_err();
        assert!(matches!(err, WorkspaceError::InvalidPath { .. }), "{err}");
    }

    #[test]
    fn apply_writes_changes_removes_dropped_files_and_refuses_escapes() {
        let root = tempfile::tempdir().unwrap();
        let ws = Workspaces::new(root.path().to_path_buf(), None, 100, 1 << 20);
        let files = |pairs: &[(&str, &str)]| pairs.iter().map(|(p, c)| (p.to_string(), c.to_string())).collect();
        let first = ws.apply("p1", &files(&[("App.tsx", "a"), ("Nav.tsx", "n")])).unwrap();
        assert_eq!(first.written, vec!["src/App.tsx", "src/Nav.tsx"]);
        let app = ws.app_dir("p1");
        assert!(app.join("package.json").exists(), "the template is seeded");
        let second = ws.apply("p1", &files(&[("App.tsx", "b")])).unwrap();
        assert_eq!(
            (second.written, second.deleted),
            (vec!["src/App.tsx".to_string()], vec!["src/Nav.tsx".to_string()])
        );
        assert!(!app.join("src/Nav.tsx").exists());
        assert!(app.join("src/main.tsx").exists(), "template files nobody posted stay");

        // A symlink planted inside the project (as code in the sandbox could) leads nowhere.
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), app.join("src/evil")).unwrap();
        let err = ws.apply("p1", &files(&[("evil/x.tsx", "pwned")])).unwrap_err();
        assert!(matches!(err, WorkspaceError::InvalidPath { .. }), "{err}");
        assert!(!outside.path().join("x.tsx").exists());
        // A bad name anywhere in a post changes nothing.
        assert!(ws.apply("p1", &files(&[("App.tsx", "c"), ("../x", "y")])).is_err());
        assert_eq!(std::fs::read_to_string(app.join("src/App.tsx")).unwrap(), "b");
    }
}

//! Each project is a git repository (git2): commit the workspace, push to the project's remote,
//! pull and merge from it, read history, restore an earlier state as a new commit.
//!
//! The repository's metadata lives beside the project's files, not among them (`<projects>/<id>/git`),
//! so code running in the project's sandbox, which can write the files, cannot touch the history.
//! libgit2 never sees the project's folder: the repository is opened bare, commits read the files
//! through the capability-safe workspace, and pulls and restores compute the new tree in the object
//! database and apply the difference through the workspace, which refuses symbolic links the sandbox
//! may have planted. Every operation takes the project's workspace lock.

pub(crate) mod secrets;
mod store;
pub(crate) mod transport;

use std::cell::RefCell;
use std::path::Path;

use git2::{
    FetchOptions, FileMode, Index, IndexEntry, IndexTime, PushOptions, RemoteCallbacks, Repository,
    RepositoryInitOptions, Signature, Tree,
};
use serde::Serialize;

use self::secrets::Secrets;
use self::transport::{Remotes, TransportError};
use crate::db::{Database, DbError};
use crate::workspace::{Applied, HOST_FOLDERS, TrackedFile, WorkspaceError, Workspaces};

/// What the repository never tracks: installed packages, build output, the host's own files.
const EXCLUDE: &str = "node_modules/\ndist/\n.blink/\n.blink-packages/\n*.blink-tmp\n.vite/\n";

#[derive(Debug, thiserror::Error)]
pub(crate) enum GitError {
    #[error("nothing to commit: the project's files are as they were at the last commit")]
    NothingToCommit,
    #[error("this project has no remote; set one with PUT /api/projects/{{id}}/git")]
    NoRemote,
    #[error("the remote refused the credentials: check the token and its access to {0}")]
    Auth(String),
    #[error("no commit {0} in this project's history")]
    UnknownCommit(String),
    #[error("{0}")]
    Invalid(String),
    /// A path the project's folder must not take: through a symbolic link planted there, into
    /// `.git` or a folder the host manages, or a link or submodule in the repository.
    #[error("{0}")]
    Unsafe(String),
    /// The files would exceed the project's limits (`BLINK_PROJECT_MAX_FILES`/`_BYTES`).
    #[error("{0}")]
    TooLarge(String),
    #[error("git: {0}")]
    Git(String),
    #[error("the remote could not be reached: {0}")]
    Remote(String),
    /// A remote this host's policy does not let it reach (scheme or address).
    #[error("{0}")]
    NotAllowed(String),
    #[error("the remote sent more than {0} bytes, the most this host fetches at once")]
    FetchTooLarge(u64),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<WorkspaceError> for GitError {
    fn from(e: WorkspaceError) -> Self {
        match e {
            WorkspaceError::InvalidPath { .. } => {
                Self::Unsafe(format!("the project's files were left as they were: {e}"))
            }
            WorkspaceError::TooManyFiles(_, max) => {
                Self::TooLarge(format!("the project would hold more than {max} files (BLINK_PROJECT_MAX_FILES)"))
            }
            WorkspaceError::TooLarge(_, max) => Self::TooLarge(format!(
                "the project's files would total more than {max} bytes of names and contents (BLINK_PROJECT_MAX_BYTES)"
            )),
            WorkspaceError::Io(e) => Self::Git(format!("the project's files: {e}")),
        }
    }
}

impl From<git2::Error> for GitError {
    fn from(e: git2::Error) -> Self {
        Self::Git(e.message().to_string())
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CommitOutcome {
    pub(crate) commit_hash: String,
    pub(crate) pushed: bool,
    /// Why the commit was not pushed, when a remote is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) reason: Option<String>,
    /// The project's files this changed (a restore's), for a running dev server to hear of.
    #[serde(skip)]
    pub(crate) changed: Applied,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PullOutcome {
    pub(crate) updated: bool,
    pub(crate) conflicts: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) commit_hash: Option<String>,
    /// The project's files the pull changed, for a running dev server to hear of.
    #[serde(skip)]
    pub(crate) changed: Applied,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LogEntry {
    pub(crate) hash: String,
    pub(crate) message: String,
    pub(crate) author: String,
    pub(crate) email: String,
    /// Unix seconds.
    pub(crate) time: i64,
}

/// Who a commit is by.
#[derive(Debug, Clone)]
pub(crate) struct Author {
    pub(crate) name: String,
    pub(crate) email: String,
}

#[derive(Clone)]
pub(crate) struct ProjectGit {
    workspaces: Workspaces,
    db: Database,
    secrets: Secrets,
    committer: Author,
    pub(crate) github_api: String,
    http: reqwest::Client,
    remotes: Remotes,
}

/// The remote as a push or fetch needs it: URL, branch, the opened token and the policy that
/// decides whether and how the host may reach it.
struct Remote {
    url: String,
    branch: String,
    token: Option<String>,
    remotes: Remotes,
}

impl ProjectGit {
    pub(crate) fn new(
        workspaces: Workspaces,
        db: Database,
        secrets: Secrets,
        committer: Author,
        github_api: String,
        remotes: Remotes,
    ) -> Self {
        static OWNERSHIP: std::sync::Once = std::sync::Once::new();
        OWNERSHIP.call_once(|| {
            // The sandbox user owns each work tree by design (its dev server and builds write
            // there) while the host runs as another user. libgit2's ownership check guards
            // against opening someone else's repository; these are all the host's own.
            // SAFETY: a process-wide setting, changed once, before any repository is opened.
            #[allow(unsafe_code)]
            let result = unsafe { git2::opts::set_verify_owner_validation(false) };
            if let Err(e) = result {
                tracing::error!("cannot turn off libgit2's ownership check: {e}");
            }
        });
        let http = reqwest::Client::builder().user_agent("blink-host").build().unwrap_or_default();
        Self { workspaces, db, secrets, committer, github_api, http, remotes }
    }

    /// Opens the project's repository, creating it (and the project's files) on first use. It is
    /// bare: with no work tree, libgit2 cannot follow a link in the project's folder, and writes
    /// no `.git` file there that would tell the sandbox where the host keeps its data.
    fn open(workspaces: &Workspaces, project: &str) -> Result<Repository, GitError> {
        let git_dir = workspaces.git_dir(project);
        workspaces.ensure(project)?;
        let repo = if git_dir.join("HEAD").exists() {
            let repo = Repository::open_bare(&git_dir)?;
            // Repositories made by earlier versions name the project's folder as their work tree.
            let mut config = repo.config()?.open_level(git2::ConfigLevel::Local)?;
            if config.get_entry("core.worktree").is_ok() {
                config.remove("core.worktree")?;
                config.set_bool("core.bare", true)?;
            }
            repo
        } else {
            let mut options = RepositoryInitOptions::new();
            options.bare(true).initial_head("main");
            let repo = Repository::init_opts(&git_dir, &options)?;
            std::fs::create_dir_all(git_dir.join("info")).map_err(|e| GitError::Git(e.to_string()))?;
            std::fs::write(git_dir.join("info/exclude"), EXCLUDE).map_err(|e| GitError::Git(e.to_string()))?;
            repo
        };
        workspaces.remove_git_link(project, &git_dir)?;
        Ok(repo)
    }

    async fn remote(&self, project: &str) -> Result<Option<Remote>, GitError> {
        Ok(store::git_remote(&self.db, project).await?.map(|r| Remote {
            url: r.url,
            branch: r.branch,
            token: r.sealed_token.and_then(|t| self.secrets.open(&t)),
            remotes: self.remotes.clone(),
        }))
    }

    /// Sets the project's remote. The token is sealed before it is stored and never shown again.
    /// The scheme and every address the name resolves to now must be allowed; the same check
    /// runs again at each connection, where it is the one that counts.
    pub(crate) async fn set_remote(
        &self,
        project: &str,
        url: &str,
        token: Option<&str>,
        branch: Option<&str>,
    ) -> Result<(), GitError> {
        let url = url.trim();
        let parsed = self.remotes.check(url).map_err(refused)?;
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(GitError::Invalid("put the token in \"token\", not in the URL".into()));
        }
        let branch = branch.map(str::trim).filter(|b| !b.is_empty()).unwrap_or("main");
        if git2::Branch::name_is_valid(branch).ok() != Some(true) {
            return Err(GitError::Invalid(format!("{branch:?} is not a valid branch name")));
        }
        let parsed = self.remotes.check_resolved(parsed.as_str()).await.map_err(refused)?;
        let sealed_token = token.map(str::trim).filter(|t| !t.is_empty()).map(|t| self.secrets.seal(t));
        // Stored as parsed, so that libgit2 is handed exactly the URL that was checked.
        let remote = store::GitRemote { url: parsed.to_string(), branch: branch.to_string(), sealed_token };
        store::set_git_remote(&self.db, project, &remote).await?;
        Ok(())
    }

    /// The remote as shown to its owner: never the token, only whether there is one.
    pub(crate) async fn remote_info(&self, project: &str) -> Result<Option<serde_json::Value>, GitError> {
        Ok(store::git_remote(&self.db, project).await?.map(
            |r| serde_json::json!({ "remoteUrl": r.url, "branch": r.branch, "hasToken": r.sealed_token.is_some() }),
        ))
    }

    /// Commits every change of the workspace and pushes it when the project has a remote.
    pub(crate) async fn commit(&self, project: &str, message: &str, author: Author) -> Result<CommitOutcome, GitError> {
        let message = message.trim();
        if message.is_empty() {
            return Err(GitError::Invalid("a commit needs a message".into()));
        }
        let _turn = self.workspaces.lock(project).await;
        let remote = self.remote(project).await?;
        let (workspaces, project_id, message, committer) =
            (self.workspaces.clone(), project.to_string(), message.to_string(), self.committer.clone());
        tokio::task::spawn_blocking(move || {
            let repo = Self::open(&workspaces, &project_id)?;
            let hash = commit_all(&repo, &workspaces, &project_id, &message, &author, &committer)?
                .ok_or(GitError::NothingToCommit)?;
            let (pushed, reason) = match &remote {
                None => (false, None),
                Some(remote) => match push(&repo, remote) {
                    Ok(()) => (true, None),
                    Err(GitError::Auth(url)) => return Err(GitError::Auth(url)),
                    Err(e) => (false, Some(e.to_string())),
                },
            };
            Ok(CommitOutcome { commit_hash: hash.to_string(), pushed, reason, changed: Applied::default() })
        })
        .await
        .map_err(|e| GitError::Git(e.to_string()))?
    }

    /// Fetches the remote branch and merges it into the workspace (fast-forward when possible).
    /// Uncommitted changes are committed first, so nothing is lost; with conflicts, the workspace
    /// stays as it was and the conflicting paths are returned.
    pub(crate) async fn pull(&self, project: &str, author: Author) -> Result<PullOutcome, GitError> {
        let _turn = self.workspaces.lock(project).await;
        let remote = self.remote(project).await?.ok_or(GitError::NoRemote)?;
        let (workspaces, project_id, committer) =
            (self.workspaces.clone(), project.to_string(), self.committer.clone());
        tokio::task::spawn_blocking(move || {
            let repo = Self::open(&workspaces, &project_id)?;
            commit_all(&repo, &workspaces, &project_id, "Changes before pulling", &author, &committer)?;
            let theirs = fetch(&repo, &remote)?;
            merge(&repo, &workspaces, &project_id, &remote, theirs, &author, &committer)
        })
        .await
        .map_err(|e| GitError::Git(e.to_string()))?
    }

    pub(crate) async fn log(&self, project: &str, limit: usize) -> Result<Vec<LogEntry>, GitError> {
        let _turn = self.workspaces.lock(project).await;
        let (workspaces, project_id) = (self.workspaces.clone(), project.to_string());
        tokio::task::spawn_blocking(move || {
            let repo = Self::open(&workspaces, &project_id)?;
            if repo.head().is_err() {
                return Ok(Vec::new());
            }
            let mut walk = repo.revwalk()?;
            walk.push_head()?;
            walk.set_sorting(git2::Sort::TIME)?;
            let mut entries = Vec::new();
            for oid in walk.take(limit) {
                let commit = repo.find_commit(oid?)?;
                let author = commit.author();
                entries.push(LogEntry {
                    hash: commit.id().to_string(),
                    message: commit.message().unwrap_or_default().trim_end().to_string(),
                    author: author.name().unwrap_or_default().to_string(),
                    email: author.email().unwrap_or_default().to_string(),
                    time: commit.time().seconds(),
                });
            }
            Ok(entries)
        })
        .await
        .map_err(|e| GitError::Git(e.to_string()))?
    }

    /// Makes the workspace what it was at `commit`, as a new commit on top: history is kept.
    pub(crate) async fn restore(&self, project: &str, commit: &str, author: Author) -> Result<CommitOutcome, GitError> {
        let _turn = self.workspaces.lock(project).await;
        let (workspaces, project_id, commit, committer) =
            (self.workspaces.clone(), project.to_string(), commit.to_string(), self.committer.clone());
        tokio::task::spawn_blocking(move || {
            let repo = Self::open(&workspaces, &project_id)?;
            let unknown = || GitError::UnknownCommit(commit.clone());
            let oid = git2::Oid::from_str(&commit).map_err(|_| unknown())?;
            let target = repo.find_commit(oid).map_err(|_| unknown())?;
            // Whatever the workspace holds now is committed first: a restore loses nothing.
            commit_all(&repo, &workspaces, &project_id, "Changes before restoring", &author, &committer)?;
            let head = repo.head()?.peel_to_commit()?;
            let tree = target.tree()?;
            if head.tree_id() == tree.id() {
                return Err(GitError::NothingToCommit);
            }
            let changed = apply_trees(&repo, &workspaces, &project_id, Some(&head.tree()?), &tree)?;
            let short = &target.id().to_string()[..12];
            let message = format!("Restore the project as it was at {short}");
            let author = Signature::now(&author.name, &author.email)?;
            let committer = Signature::now(&committer.name, &committer.email)?;
            let hash = repo.commit(Some("HEAD"), &author, &committer, &message, &tree, &[&head])?;
            sync_index(&repo, &tree)?;
            Ok(CommitOutcome { commit_hash: hash.to_string(), pushed: false, reason: None, changed })
        })
        .await
        .map_err(|e| GitError::Git(e.to_string()))?
    }

    /// Creates a repository on GitHub (`POST /user/repos`) with the user's token and makes it the
    /// project's remote.
    pub(crate) async fn create_github(
        &self,
        project: &str,
        name: &str,
        private: bool,
        token: &str,
    ) -> Result<serde_json::Value, GitError> {
        let url = format!("{}/user/repos", self.github_api.trim_end_matches('/'));
        let response = self
            .http
            .post(&url)
            .bearer_auth(token)
            .header("accept", "application/vnd.github+json")
            .header("x-github-api-version", "2022-11-28")
            .json(&serde_json::json!({ "name": name, "private": private, "auto_init": false }))
            .send()
            .await
            .map_err(|e| GitError::Remote(format!("GitHub's API at {}: {}", self.github_api, e.without_url())))?;
        let status = response.status();
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        if status == reqwest::StatusCode::UNAUTHORIZED {
            return Err(GitError::Auth("GitHub".into()));
        }
        if !status.is_success() {
            let detail = body["errors"][0]["message"].as_str().or(body["message"].as_str()).unwrap_or("no detail");
            return Err(GitError::Invalid(format!("GitHub refused to create {name}: {detail}")));
        }
        let clone_url = body["clone_url"]
            .as_str()
            .ok_or_else(|| GitError::Remote("GitHub's answer has no clone_url".into()))?
            .to_string();
        let branch = body["default_branch"].as_str().unwrap_or("main").to_string();
        self.set_remote(project, &clone_url, Some(token), Some(&branch)).await?;
        Ok(serde_json::json!({
            "remoteUrl": clone_url,
            "htmlUrl": body["html_url"],
            "fullName": body["full_name"],
            "branch": branch,
        }))
    }
}

/// Commits the project's files as they are (new, changed, deleted); `None` when nothing changed.
fn commit_all(
    repo: &Repository,
    workspaces: &Workspaces,
    project: &str,
    message: &str,
    author: &Author,
    committer: &Author,
) -> Result<Option<git2::Oid>, GitError> {
    let parent = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
    let tree_id = snapshot_tree(repo, workspaces, project, parent.as_ref().map(|p| p.tree()).transpose()?.as_ref())?;
    if parent.as_ref().map(|p| p.tree_id()) == Some(tree_id) {
        return Ok(None);
    }
    let tree = repo.find_tree(tree_id)?;
    let author = Signature::now(&author.name, &author.email)?;
    let committer = Signature::now(&committer.name, &committer.email)?;
    let parents: Vec<&git2::Commit> = parent.iter().collect();
    let commit = repo.commit(Some("HEAD"), &author, &committer, message, &tree, &parents)?;
    sync_index(repo, &tree)?;
    Ok(Some(commit))
}

/// Writes the project's files into the object database and returns their tree. What git would
/// leave out stays out: the host's folders, what `info/exclude` and the project's root
/// `.gitignore` ignore (unless `head` tracks it, as `git add -A` keeps tracked files); symbolic
/// links are not recorded (see [`Workspaces::snapshot`]).
fn snapshot_tree(
    repo: &Repository,
    workspaces: &Workspaces,
    project: &str,
    head: Option<&Tree>,
) -> Result<git2::Oid, GitError> {
    // Read through the workspace: libgit2 would follow a `.gitignore` link anywhere. Nested
    // `.gitignore` files are not read; the root one and the host's exclude list cover projects.
    // It is one of the project's files, so the project's byte limit bounds it.
    if let Some(rules) = workspaces.read_small(project, ".gitignore", MAX_GITIGNORE_BYTES)? {
        repo.add_ignore_rule(&String::from_utf8_lossy(&rules))?;
    }
    let tracked = |path: &str| head.is_some_and(|t| t.get_path(Path::new(path.trim_end_matches('/'))).is_ok());
    let mut failure = None;
    let files = workspaces.snapshot(project, &mut |path: &str| {
        if HOST_FOLDERS.contains(&path.trim_end_matches('/')) {
            return true;
        }
        match repo.is_path_ignored(path) {
            Ok(ignored) => ignored && !tracked(path),
            Err(e) => {
                failure.get_or_insert(e);
                true
            }
        }
    })?;
    if let Some(e) = failure {
        return Err(e.into());
    }
    let mut index = Index::new()?;
    for file in files {
        let id = repo.blob(&file.bytes)?;
        let mode = if file.executable { FileMode::BlobExecutable } else { FileMode::Blob };
        index.add(&IndexEntry {
            ctime: IndexTime::new(0, 0),
            mtime: IndexTime::new(0, 0),
            dev: 0,
            ino: 0,
            mode: u32::try_from(i32::from(mode)).unwrap_or(0o100644),
            uid: 0,
            gid: 0,
            file_size: u32::try_from(file.bytes.len()).unwrap_or(u32::MAX),
            id,
            flags: 0,
            flags_extended: 0,
            path: file.path.into_bytes(),
        })?;
    }
    Ok(index.write_tree_to(repo)?)
}

/// Keeps the repository's index on HEAD's tree, as git would after a commit or checkout, without
/// touching any file.
fn sync_index(repo: &Repository, tree: &Tree) -> Result<(), GitError> {
    let mut index = repo.index()?;
    index.read_tree(tree)?;
    index.write()?;
    Ok(())
}

/// Makes the project's files go from `old` (HEAD's tree, which a commit just made match them) to
/// `new`. Nothing is written before the whole of `new` is checked: within the project's limits,
/// no symbolic link or submodule, every path safe in the workspace.
fn apply_trees(
    repo: &Repository,
    workspaces: &Workspaces,
    project: &str,
    old: Option<&Tree>,
    new: &Tree,
) -> Result<Applied, GitError> {
    check_limits(repo, new, workspaces.max_files, workspaces.max_bytes)?;
    let diff = repo.diff_tree_to_tree(old, Some(new), None)?;
    let (mut written, mut deleted) = (Vec::new(), Vec::new());
    for delta in diff.deltas() {
        let file = if delta.status() == git2::Delta::Deleted { delta.old_file() } else { delta.new_file() };
        let path = std::str::from_utf8(file.path_bytes().unwrap_or_default())
            .map_err(|_| GitError::Unsafe("the repository has a path that is not UTF-8".into()))?
            .to_string();
        match (delta.status(), file.mode()) {
            (git2::Delta::Deleted, _) => deleted.push(path),
            (_, FileMode::Blob | FileMode::BlobGroupWritable | FileMode::BlobExecutable) => written.push(TrackedFile {
                bytes: repo.find_blob(file.id())?.content().to_vec(),
                executable: file.mode() == FileMode::BlobExecutable,
                path,
            }),
            (_, FileMode::Link) => {
                return Err(GitError::Unsafe(format!(
                    "{path:?} is a symbolic link in the repository; a project holds files only"
                )));
            }
            (_, FileMode::Commit) => {
                return Err(GitError::Unsafe(format!("{path:?} is a submodule; a project holds files only")));
            }
            _ => {}
        }
    }
    Ok(workspaces.apply_tree(project, &written, &deleted)?)
}

/// Refuses a tree with more files, or more bytes of names and contents, than a project may hold:
/// the limits posted files obey. Sizes come from the object headers; nothing is read whole.
/// The most of a project's `.gitignore` read: its rules are matched against every path, on the
/// host's CPU, with the project's turn held.
const MAX_GITIGNORE_BYTES: u64 = 64 * 1024;

/// Folders deeper than this in a tree from a remote are refused before anything walks them whole.
const MAX_TREE_DEPTH: usize = 64;

fn check_limits(repo: &Repository, tree: &Tree, max_files: usize, max_bytes: usize) -> Result<(), GitError> {
    let odb = repo.odb()?;
    let (mut files, mut bytes, mut entries) = (0usize, 0usize, 0usize);
    // libgit2 walks a tree recursively, so a remote's tree nested thousands of folders deep would
    // overflow a thread's stack, and folders shared between parents make a small pack a huge
    // walk: folders count too, and the walk stops at a depth no project needs.
    let max_entries = max_files.saturating_mul(2).saturating_add(MAX_TREE_DEPTH);
    let mut too_deep = None;
    let mut failure = None;
    tree.walk(git2::TreeWalkMode::PreOrder, |root, entry| {
        entries += 1;
        if entries > max_entries {
            return git2::TreeWalkResult::Abort;
        }
        if entry.kind() != Some(git2::ObjectType::Blob) {
            if root.matches('/').count() >= MAX_TREE_DEPTH {
                too_deep = Some(format!("{root}{}", entry.name().unwrap_or_default()));
                return git2::TreeWalkResult::Abort;
            }
            return git2::TreeWalkResult::Ok;
        }
        match odb.read_header(entry.id()) {
            Ok((size, _)) => {
                files += 1;
                bytes += root.len() + entry.name_bytes().len() + size;
            }
            Err(e) => failure = Some(e),
        }
        if failure.is_some() || files > max_files || bytes > max_bytes {
            git2::TreeWalkResult::Abort
        } else {
            git2::TreeWalkResult::Ok
        }
    })
    .or_else(|e| if e.code() == git2::ErrorCode::User { Ok(()) } else { Err(e) })?;
    if let Some(e) = failure {
        return Err(e.into());
    }
    if let Some(path) = too_deep {
        return Err(GitError::Unsafe(format!("{path} is nested more than {MAX_TREE_DEPTH} folders deep")));
    }
    if files > max_files || entries > max_entries {
        return Err(WorkspaceError::TooManyFiles(files.max(max_files + 1), max_files).into());
    }
    if bytes > max_bytes {
        return Err(WorkspaceError::TooLarge(bytes, max_bytes).into());
    }
    Ok(())
}

/// A remote refused by policy, or a URL that is none.
fn refused(e: TransportError) -> GitError {
    match e {
        TransportError::Invalid(m) => GitError::Invalid(m),
        TransportError::Unresolvable(_) => GitError::Invalid(e.to_string()),
        _ => GitError::NotAllowed(e.to_string()),
    }
}

/// Maps a failed transfer: the transport's own reason when it stopped it (refused credentials
/// name the remote, nothing of the token is kept), libgit2's otherwise.
fn transport_error(e: git2::Error, failure: Option<TransportError>, remote: &Remote) -> GitError {
    match failure {
        Some(TransportError::Auth) => GitError::Auth(remote.url.clone()),
        Some(TransportError::TooLarge { limit }) => GitError::FetchTooLarge(limit),
        Some(TransportError::Failed(m)) => GitError::Remote(m),
        Some(other) => refused(other),
        None => GitError::Remote(e.message().to_string()),
    }
}

fn push(repo: &Repository, remote: &Remote) -> Result<(), GitError> {
    remote.remotes.check(&remote.url).map_err(refused)?;
    let head = repo.head()?;
    let local = head.shorthand().unwrap_or("main").to_string();
    let refspec = format!("refs/heads/{local}:refs/heads/{}", remote.branch);
    let rejection: RefCell<Option<String>> = RefCell::new(None);
    let mut handle = repo.remote_anonymous(&remote.url)?;
    let (result, failure) = remote.remotes.run(remote.token.as_deref(), || {
        let mut callbacks = RemoteCallbacks::new();
        callbacks.push_update_reference(|_name, status| {
            if let Some(status) = status {
                *rejection.borrow_mut() = Some(status.to_string());
            }
            Ok(())
        });
        let mut options = PushOptions::new();
        options.remote_callbacks(callbacks);
        handle.push(&[refspec.as_str()], Some(&mut options))
    });
    match result {
        Err(e)
            if failure.is_none()
                && (e.code() == git2::ErrorCode::NotFastForward || e.message().contains("not present locally")) =>
        {
            Err(GitError::Remote(format!(
                "the remote's {} has commits this project does not have; pull first, then push again",
                remote.branch
            )))
        }
        Err(e) => Err(transport_error(e, failure, remote)),
        Ok(()) => match rejection.take() {
            Some(status) => Err(GitError::Remote(format!("the remote refused the push: {status}"))),
            None => Ok(()),
        },
    }
}

/// Fetches the remote branch; returns its commit, or `None` when the remote has no such branch yet.
fn fetch(repo: &Repository, remote: &Remote) -> Result<Option<git2::Oid>, GitError> {
    // A remote stored under another policy (or before this one) is checked again here, and each
    // connection again by the transport.
    remote.remotes.check(&remote.url).map_err(refused)?;
    let tracking = format!("refs/remotes/origin/{}", remote.branch);
    let refspec = format!("+refs/heads/{}:{tracking}", remote.branch);
    let mut handle = repo.remote_anonymous(&remote.url)?;
    let (result, failure) = remote
        .remotes
        .run(remote.token.as_deref(), || handle.fetch(&[refspec.as_str()], Some(&mut FetchOptions::new()), None));
    result.map_err(|e| transport_error(e, failure, remote))?;
    Ok(repo.find_reference(&tracking).ok().and_then(|r| r.target()))
}

fn merge(
    repo: &Repository,
    workspaces: &Workspaces,
    project: &str,
    remote: &Remote,
    theirs: Option<git2::Oid>,
    author: &Author,
    committer: &Author,
) -> Result<PullOutcome, GitError> {
    let unchanged =
        PullOutcome { updated: false, conflicts: Vec::new(), commit_hash: None, changed: Applied::default() };
    let Some(theirs) = theirs else { return Ok(unchanged) };
    let annotated = repo.find_annotated_commit(theirs)?;
    let (analysis, _) = repo.merge_analysis(&[&annotated])?;
    if analysis.is_up_to_date() {
        return Ok(unchanged);
    }
    let head_ref = match repo.head() {
        Ok(head) => head.name().unwrap_or("refs/heads/main").to_string(),
        Err(_) => repo.find_reference("HEAD")?.symbolic_target().unwrap_or("refs/heads/main").to_string(),
    };
    let ours_tree = repo.head().ok().and_then(|h| h.peel_to_tree().ok());
    if analysis.is_fast_forward() || analysis.is_unborn() {
        let tree = repo.find_commit(theirs)?.tree()?;
        // Files first, then the branch: a refused pull leaves history untouched.
        let changed = apply_trees(repo, workspaces, project, ours_tree.as_ref(), &tree)?;
        repo.reference(&head_ref, theirs, true, "pull: fast-forward")?;
        repo.set_head(&head_ref)?;
        sync_index(repo, &tree)?;
        return Ok(PullOutcome {
            updated: true,
            conflicts: Vec::new(),
            commit_hash: Some(theirs.to_string()),
            changed,
        });
    }
    let ours = repo.head()?.peel_to_commit()?;
    let their_commit = repo.find_commit(theirs)?;
    // Their tree is the remote's to shape: checked before a merge walks it.
    check_limits(repo, &their_commit.tree()?, workspaces.max_files, workspaces.max_bytes)?;
    let mut index = repo.merge_commits(&ours, &their_commit, None)?;
    if index.has_conflicts() {
        let mut conflicts: Vec<String> = index
            .conflicts()?
            .filter_map(|c| c.ok())
            .filter_map(|c| c.our.or(c.their).or(c.ancestor))
            .map(|entry| String::from_utf8_lossy(&entry.path).into_owned())
            .collect();
        conflicts.sort();
        conflicts.dedup();
        return Ok(PullOutcome { updated: false, conflicts, commit_hash: None, changed: Applied::default() });
    }
    let tree = repo.find_tree(index.write_tree_to(repo)?)?;
    let changed = apply_trees(repo, workspaces, project, ours_tree.as_ref(), &tree)?;
    let author = Signature::now(&author.name, &author.email)?;
    let committer = Signature::now(&committer.name, &committer.email)?;
    let message = format!("Merge {} of {}", remote.branch, remote.url);
    let merged = repo.commit(None, &author, &committer, &message, &tree, &[&ours, &their_commit])?;
    repo.reference(&head_ref, merged, true, "pull: merge")?;
    sync_index(repo, &tree)?;
    Ok(PullOutcome { updated: true, conflicts: Vec::new(), commit_hash: Some(merged.to_string()), changed })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tree of `folders` nested folders with one file at the bottom.
    fn nested(repo: &Repository, folders: usize) -> Tree<'_> {
        let blob = repo.blob(b"deep").unwrap();
        let mut builder = repo.treebuilder(None).unwrap();
        builder.insert("file.txt", blob, 0o100644).unwrap();
        let mut id = builder.write().unwrap();
        for _ in 0..folders {
            let mut builder = repo.treebuilder(None).unwrap();
            builder.insert("d", id, 0o040000).unwrap();
            id = builder.write().unwrap();
        }
        repo.find_tree(id).unwrap()
    }

    #[test]
    fn a_remotes_tree_is_refused_past_the_depth_and_entry_limits_before_it_is_walked_whole() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init_bare(dir.path()).unwrap();
        assert!(check_limits(&repo, &nested(&repo, MAX_TREE_DEPTH), 10, 1 << 20).is_ok());
        let err = check_limits(&repo, &nested(&repo, MAX_TREE_DEPTH + 1), 10, 1 << 20).unwrap_err();
        assert!(matches!(&err, GitError::Unsafe(m) if m.contains("nested more than 64")), "{err}");
        // Folders shared by parents: 2^20 paths from a 21-object tree; the walk stops early.
        let blob = repo.blob(b"x").unwrap();
        let mut builder = repo.treebuilder(None).unwrap();
        builder.insert("f", blob, 0o100644).unwrap();
        let mut id = builder.write().unwrap();
        for _ in 0..20 {
            let mut builder = repo.treebuilder(None).unwrap();
            builder.insert("a", id, 0o040000).unwrap();
            builder.insert("b", id, 0o040000).unwrap();
            id = builder.write().unwrap();
        }
        let err = check_limits(&repo, &repo.find_tree(id).unwrap(), 1000, usize::MAX).unwrap_err();
        assert!(matches!(&err, GitError::TooLarge(m) if m.contains("BLINK_PROJECT_MAX_FILES")), "{err}");
    }
}

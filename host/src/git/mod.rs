//! Each project is a git repository (git2): commit the workspace, push to the project's remote,
//! pull and merge from it, read history, restore an earlier state as a new commit.
//!
//! The repository's metadata lives beside the project's files, not among them (`<projects>/<id>/git`),
//! so code running in the project's sandbox, which can write the files, cannot touch the history.
//! libgit2 never sees the project's folder: the repository is opened bare, commits read the files
//! through the capability-safe workspace, and pulls and restores compute the new tree in the object
//! database and apply the difference through the workspace, which refuses symbolic links the sandbox
//! may have planted. Every operation takes the project's workspace lock.

mod addresses;
mod exchange;
mod github;
pub(crate) mod secrets;
mod settings;
mod store;
pub(crate) mod transport;
mod trees;

use git2::{Repository, RepositoryInitOptions, Signature};
use serde::Serialize;

use self::exchange::{fetch, merge, push, refused};
pub(crate) use self::github::FileLimits;
use self::secrets::Secrets;
pub(crate) use self::settings::GitSettings;
use self::transport::{Remotes, TransportError};
use self::trees::{apply_trees, commit_all, sync_index};
use crate::db::{Database, DbError};
use crate::workspace::{Applied, WorkspaceError, Workspaces};

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
    /// GitHub's API refused a request, in its own words and with its status.
    #[error("{message}")]
    Github { status: u16, message: String },
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("cannot take the project's turn across hosts: {0}")]
    Turn(String),
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
            WorkspaceError::Turn(e) => Self::Turn(e),
        }
    }
}

impl From<git2::Error> for GitError {
    fn from(e: git2::Error) -> Self {
        Self::Git(e.message().to_string())
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
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

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
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

/// A project's remote as its owner sees it: never the token itself.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RemoteInfo {
    pub(crate) remote_url: String,
    pub(crate) branch: String,
    pub(crate) has_token: bool,
}

/// A repository created on GitHub, now the project's remote.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GithubRepository {
    pub(crate) remote_url: String,
    pub(crate) html_url: Option<String>,
    pub(crate) full_name: Option<String>,
    pub(crate) branch: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
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
    /// Removes the lock files a process killed mid-write left in the project's repository
    /// (`index.lock`, `HEAD.lock`, `refs/heads/main.lock`, …), which would refuse every later
    /// commit; the count. Only those older than `before`, this process's start: the data
    /// directory is one host's at a time, so those were left by a process that is gone.
    pub(crate) fn remove_stale_locks(&self, project: &str, before: std::time::SystemTime) -> usize {
        fn walk(dir: &std::path::Path, depth: usize, before: std::time::SystemTime) -> usize {
            let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
            let mut removed = 0;
            for entry in entries.flatten() {
                let Ok(meta) = entry.path().symlink_metadata() else { continue };
                let name = entry.file_name();
                if meta.is_dir() && depth < 16 && (depth > 0 || name == "refs") {
                    removed += walk(&entry.path(), depth + 1, before);
                } else if meta.is_file()
                    && name.to_string_lossy().ends_with(".lock")
                    && meta.modified().is_ok_and(|at| at < before)
                    && std::fs::remove_file(entry.path()).is_ok()
                {
                    removed += 1;
                }
            }
            removed
        }
        walk(&self.workspaces.git_dir(project), 0, before)
    }

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
    pub(crate) async fn remote_info(&self, project: &str) -> Result<Option<RemoteInfo>, GitError> {
        Ok(store::git_remote(&self.db, project).await?.map(|r| RemoteInfo {
            remote_url: r.url,
            branch: r.branch,
            has_token: r.sealed_token.is_some(),
        }))
    }

    /// Commits every change of the workspace and pushes it when the project has a remote.
    pub(crate) async fn commit(&self, project: &str, message: &str, author: Author) -> Result<CommitOutcome, GitError> {
        let message = message.trim();
        if message.is_empty() {
            return Err(GitError::Invalid("a commit needs a message".into()));
        }
        // git stores a message as a C string: a NUL would cut it (libgit2 refuses it outright).
        if message.contains('\0') {
            return Err(GitError::Invalid("a commit message cannot contain a NUL character".into()));
        }
        let _turn = self.workspaces.lock(project).await?;
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
        let _turn = self.workspaces.lock(project).await?;
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
        let _turn = self.workspaces.lock(project).await?;
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
        let _turn = self.workspaces.lock(project).await?;
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
    ) -> Result<GithubRepository, GitError> {
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
        Ok(GithubRepository {
            remote_url: clone_url,
            html_url: body["html_url"].as_str().map(str::to_string),
            full_name: body["full_name"].as_str().map(str::to_string),
            branch,
        })
    }
}

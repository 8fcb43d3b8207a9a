//! A GitHub repository as a plain file map, for callers that name a repository and a token
//! rather than a project (today's frontend's GitHub sync): the files written into the default
//! branch as one commit, or the branch's text files read back. Git's own protocol over the
//! checked transport does the transfer, in a scratch repository removed afterwards; the token is
//! used for the one operation and kept nowhere.

use std::collections::BTreeMap;
use std::path::PathBuf;

use git2::build::TreeUpdateBuilder;
use git2::{FileMode, Repository, Signature};

use super::exchange::{fetch, push};
use super::{Author, GitError, ProjectGit, Remote};

/// What a pull keeps: text files of the kinds a web app's source is made of.
const PULLED_EXTENSIONS: &[&str] = &[".tsx", ".ts", ".jsx", ".js", ".css", ".html", ".json", ".md"];

/// A commit made by [`ProjectGit::push_files`].
#[derive(Debug)]
pub(crate) struct Pushed {
    pub(crate) commit: String,
    pub(crate) branch: String,
}

/// The files read by [`ProjectGit::pull_files`].
#[derive(Debug)]
pub(crate) struct Pulled {
    pub(crate) files: BTreeMap<String, String>,
    pub(crate) branch: String,
}

/// Limits of one push or pull of files.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FileLimits {
    /// Files one push may write, or one pull may return.
    pub(crate) max_files: usize,
    /// Bytes of names and contents one push may write.
    pub(crate) max_bytes: usize,
}

/// `owner/name`, as GitHub spells a repository: checked before it goes into a URL.
fn check_repo(repo: &str) -> Result<(), GitError> {
    let valid = |part: &str| {
        !part.is_empty()
            && part.len() <= 100
            && part != "."
            && part != ".."
            && part.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    match repo.split_once('/') {
        Some((owner, name)) if valid(owner) && valid(name) => Ok(()),
        _ => Err(GitError::Invalid(format!("{repo:?} is not a GitHub repository (owner/name)"))),
    }
}

/// A path the pushed files may take in the repository: relative, no `.`, `..` or empty segment,
/// nothing under `.git`.
fn check_path(path: &str) -> Result<(), GitError> {
    let refused = || GitError::Unsafe(format!("{path:?} is not a path inside the repository"));
    if path.is_empty() || path.starts_with('/') || path.contains('\\') || path.contains('\0') {
        return Err(refused());
    }
    for segment in path.split('/') {
        if segment.is_empty() || segment == "." || segment == ".." || segment.eq_ignore_ascii_case(".git") {
            return Err(refused());
        }
    }
    Ok(())
}

/// A scratch repository that is removed when dropped, whatever happened.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl ProjectGit {
    /// The repository's default branch and clone URL, as GitHub's API describes it. A refusal
    /// (unknown repository, bad token) comes back with GitHub's status and message.
    async fn github_repo(&self, repo: &str, token: &str) -> Result<(String, String), GitError> {
        check_repo(repo)?;
        let url = format!("{}/repos/{repo}", self.github_api.trim_end_matches('/'));
        let response = self
            .http
            .get(&url)
            .bearer_auth(token)
            .header("accept", "application/vnd.github+json")
            .header("x-github-api-version", "2022-11-28")
            .send()
            .await
            .map_err(|e| GitError::Remote(format!("GitHub's API at {}: {}", self.github_api, e.without_url())))?;
        let status = response.status();
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        if !status.is_success() {
            let message = body["message"].as_str().unwrap_or("GitHub refused the request").to_string();
            return Err(GitError::Github { status: status.as_u16(), message });
        }
        let clone_url = body["clone_url"]
            .as_str()
            .ok_or_else(|| GitError::Remote("GitHub's answer has no clone_url".into()))?
            .to_string();
        Ok((body["default_branch"].as_str().unwrap_or("main").to_string(), clone_url))
    }

    fn scratch(&self) -> Result<(Scratch, Repository), GitError> {
        let dir = std::env::temp_dir().join(format!("blink-github-{}", uuid::Uuid::new_v4()));
        let scratch = Scratch(dir);
        let repo = Repository::init_bare(&scratch.0)?;
        Ok((scratch, repo))
    }

    /// Writes `files` (repository path → content) into `repo`'s default branch as one commit on
    /// top of it, leaving its other files as they are, and pushes it (never forced).
    pub(crate) async fn push_files(
        &self,
        repo: &str,
        token: &str,
        files: &BTreeMap<String, String>,
        message: &str,
        author: Author,
        limits: FileLimits,
    ) -> Result<Pushed, GitError> {
        if files.len() > limits.max_files {
            return Err(GitError::TooLarge(format!("more than {} files in one push", limits.max_files)));
        }
        let bytes: usize = files.iter().map(|(p, c)| p.len() + c.len()).sum();
        if bytes > limits.max_bytes {
            return Err(GitError::TooLarge(format!("more than {} bytes in one push", limits.max_bytes)));
        }
        for path in files.keys() {
            check_path(path)?;
        }
        let (branch, url) = self.github_repo(repo, token).await?;
        let remote =
            Remote { url, branch: branch.clone(), token: Some(token.to_string()), remotes: self.remotes.clone() };
        let (scratch, repository) = self.scratch()?;
        let (files, message, committer) = (files.clone(), message.to_string(), self.committer.clone());
        let commit = tokio::task::spawn_blocking(move || -> Result<String, GitError> {
            let _scratch = scratch;
            let parent = fetch(&repository, &remote)?.map(|oid| repository.find_commit(oid)).transpose()?;
            let base = match &parent {
                Some(commit) => commit.tree()?,
                None => repository.find_tree(repository.treebuilder(None)?.write()?)?,
            };
            let mut update = TreeUpdateBuilder::new();
            for (path, content) in &files {
                update.upsert(path.as_str(), repository.blob(content.as_bytes())?, FileMode::Blob);
            }
            let tree = repository.find_tree(update.create_updated(&repository, &base)?)?;
            let head = format!("refs/heads/{}", remote.branch);
            repository.set_head(&head)?;
            let author = Signature::now(&author.name, &author.email)?;
            let committer = Signature::now(&committer.name, &committer.email)?;
            let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
            let oid = repository.commit(Some("HEAD"), &author, &committer, &message, &tree, &parents)?;
            push(&repository, &remote)?;
            Ok(oid.to_string())
        })
        .await
        .map_err(|e| GitError::Git(e.to_string()))??;
        Ok(Pushed { commit, branch })
    }

    /// The text files of `repo`'s default branch (those under `prefix` when given), the first
    /// `limits.max_files` in path order; binary and non-UTF-8 files are left out.
    pub(crate) async fn pull_files(
        &self,
        repo: &str,
        token: &str,
        prefix: Option<&str>,
        limits: FileLimits,
    ) -> Result<Pulled, GitError> {
        let (branch, url) = self.github_repo(repo, token).await?;
        let remote =
            Remote { url, branch: branch.clone(), token: Some(token.to_string()), remotes: self.remotes.clone() };
        let (scratch, repository) = self.scratch()?;
        let prefix = prefix.unwrap_or_default().trim_start_matches('/').to_string();
        let files = tokio::task::spawn_blocking(move || -> Result<BTreeMap<String, String>, GitError> {
            let _scratch = scratch;
            let Some(head) = fetch(&repository, &remote)? else { return Ok(BTreeMap::new()) };
            let tree = repository.find_commit(head)?.tree()?;
            let mut paths = Vec::new();
            tree.walk(git2::TreeWalkMode::PreOrder, |folder, entry| {
                if entry.kind() == Some(git2::ObjectType::Blob)
                    && let Some(name) = entry.name()
                {
                    let path = format!("{folder}{name}");
                    if path.starts_with(&prefix) && PULLED_EXTENSIONS.iter().any(|e| path.ends_with(e)) {
                        paths.push((path, entry.id()));
                    }
                }
                git2::TreeWalkResult::Ok
            })?;
            paths.sort();
            let mut files = BTreeMap::new();
            for (path, id) in paths {
                if files.len() == limits.max_files {
                    break;
                }
                if let Ok(text) = String::from_utf8(repository.find_blob(id)?.content().to_vec()) {
                    files.insert(path, text);
                }
            }
            Ok(files)
        })
        .await
        .map_err(|e| GitError::Git(e.to_string()))??;
        Ok(Pulled { files, branch })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_owner_slash_name_and_inner_paths_pass() {
        for good in ["octo/app", "a-b/c.d_e", "O/R"] {
            assert!(check_repo(good).is_ok(), "{good}");
        }
        for bad in ["", "octo", "octo/", "/app", "octo/app/x", "../x", "octo/..", "o?x/app", "octo/app#x", "a b/c"] {
            assert!(check_repo(bad).is_err(), "{bad}");
        }
        for good in ["App.tsx", "src/components/Header.tsx", ".github/workflows/ci.yml"] {
            assert!(check_path(good).is_ok(), "{good}");
        }
        for bad in ["", "/etc/passwd", "../x", "a/../b", "a//b", ".git/config", "x/.GIT/hooks", "a\\b", "./a"] {
            assert!(check_path(bad).is_err(), "{bad}");
        }
    }
}

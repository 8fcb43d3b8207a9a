//! Push, fetch and merge with a project's remote, over the checked transport.

use std::cell::RefCell;

use git2::{FetchOptions, PushOptions, RemoteCallbacks, Repository, Signature};

use crate::git::trees::{apply_trees, check_limits, sync_index};
use crate::git::{Author, GitError, PullOutcome, Remote, TransportError};
use crate::workspace::{Applied, Workspaces};

/// A remote refused by policy, or a URL that is none.
pub(super) fn refused(e: TransportError) -> GitError {
    match e {
        TransportError::Invalid(m) => GitError::Invalid(m),
        TransportError::Unresolvable(_) => GitError::Invalid(e.to_string()),
        _ => GitError::NotAllowed(e.to_string()),
    }
}

/// Maps a failed transfer: the transport's own reason when it stopped it (refused credentials
/// name the remote, nothing of the token is kept), libgit2's otherwise.
pub(super) fn transport_error(e: git2::Error, failure: Option<TransportError>, remote: &Remote) -> GitError {
    match failure {
        Some(TransportError::Auth) => GitError::Auth(remote.url.clone()),
        Some(TransportError::TooLarge { limit }) => GitError::FetchTooLarge(limit),
        Some(TransportError::Failed(m)) => GitError::Remote(m),
        Some(other) => refused(other),
        None => GitError::Remote(e.message().to_string()),
    }
}

pub(super) fn push(repo: &Repository, remote: &Remote) -> Result<(), GitError> {
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
pub(super) fn fetch(repo: &Repository, remote: &Remote) -> Result<Option<git2::Oid>, GitError> {
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

pub(super) fn merge(
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

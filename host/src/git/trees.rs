//! Trees and the project's files: a commit of the workspace as it is, a pull's or restore's tree
//! applied to it, and a remote's tree checked against the project's limits before it is walked.

use std::path::Path;

use git2::{FileMode, Index, IndexEntry, IndexTime, Repository, Signature, Tree};

use crate::git::{Author, GitError};
use crate::workspace::{Applied, HOST_FOLDERS, TrackedFile, WorkspaceError, Workspaces};

/// Commits the project's files as they are (new, changed, deleted); `None` when nothing changed.
pub(super) fn commit_all(
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
pub(super) fn snapshot_tree(
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
pub(super) fn sync_index(repo: &Repository, tree: &Tree) -> Result<(), GitError> {
    let mut index = repo.index()?;
    index.read_tree(tree)?;
    index.write()?;
    Ok(())
}

/// Makes the project's files go from `old` (HEAD's tree, which a commit just made match them) to
/// `new`. Nothing is written before the whole of `new` is checked: within the project's limits,
/// no symbolic link or submodule, every path safe in the workspace.
pub(super) fn apply_trees(
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
pub(super) const MAX_GITIGNORE_BYTES: u64 = 64 * 1024;

/// Folders deeper than this in a tree from a remote are refused before anything walks them whole.
pub(super) const MAX_TREE_DEPTH: usize = 64;

pub(super) fn check_limits(repo: &Repository, tree: &Tree, max_files: usize, max_bytes: usize) -> Result<(), GitError> {
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

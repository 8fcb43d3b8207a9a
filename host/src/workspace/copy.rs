//! Copying a folder the sandbox wrote (a build's `dist/`) out to the host's own disk, one name at
//! a time, never through a link, within limits.

use std::path::Path;

use cap_std::fs::Dir;

use crate::workspace::{MAX_DEPTH, WorkspaceError, Workspaces};

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

pub(super) struct Copied {
    bytes: u64,
    files: usize,
    limits: CopyLimits,
}

/// Opens one name of `dir` as it is: a link there is refused by the kernel (`O_NOFOLLOW`), and a
/// FIFO swapped in cannot block the host (`O_NONBLOCK`).
pub(super) fn open_nofollow(
    dir: &Dir,
    name: impl AsRef<Path>,
    directory: bool,
) -> std::io::Result<rustix::fd::OwnedFd> {
    use rustix::fs::{Mode, OFlags};
    let mut flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK;
    if directory {
        flags |= OFlags::DIRECTORY;
    }
    Ok(rustix::fs::openat(dir, name.as_ref(), flags, Mode::empty())?)
}

pub(super) fn is_not_a_folder(dir: &Dir, name: &str) -> bool {
    dir.symlink_metadata(name).is_ok_and(|m| !m.is_dir())
}

pub(super) fn copy_dir(from: &Dir, shown: &Path, to: &Path, copied: &mut Copied) -> Result<(), CopyOutError> {
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

    pub(super) fn project_with_dist(files: &[(&str, usize)]) -> (tempfile::TempDir, Workspaces) {
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
    pub(super) fn the_file_and_byte_limits_hold_at_their_edges_and_leave_nothing_behind() {
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
    pub(super) fn links_are_refused_at_any_level_and_a_missing_folder_is_named() {
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

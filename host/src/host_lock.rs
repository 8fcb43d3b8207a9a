//! One host per data directory: the lock a serving host holds on it for as long as it lives, and
//! how another process tells whether a data directory still has a host.
//!
//! The kernel releases the lock when the process ends, however it ends (SIGKILL, OOM, power
//! loss), so a lock that can be taken is proof that no host is serving from that directory.

use std::fs::File;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::Context;
use rustix::fs::{FlockOperation, flock};

const LOCK_FILE: &str = "blink.lock";

/// The held lock; dropping it releases the directory.
#[derive(Debug)]
pub(crate) struct HostLock {
    _file: File,
}

/// Takes the data directory for this process; fails, naming it, if another host serves from it.
pub(crate) fn acquire(data_dir: &Path) -> anyhow::Result<HostLock> {
    let path = data_dir.join(LOCK_FILE);
    let file = open(&path).with_context(|| format!("opening {}", path.display()))?;
    match flock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(HostLock { _file: file }),
        Err(rustix::io::Errno::WOULDBLOCK) => anyhow::bail!(
            "another blink host is serving from {}; two hosts on one data directory would corrupt it",
            data_dir.display()
        ),
        Err(e) => Err(std::io::Error::from(e)).with_context(|| format!("locking {}", path.display())),
    }
}

/// Whether a host is serving from `data_dir` now. A directory that is gone, or whose lock can be
/// taken, has none.
pub(crate) fn in_use(data_dir: &Path) -> bool {
    let Ok(file) = std::fs::File::open(data_dir.join(LOCK_FILE)) else { return false };
    match flock(&file, FlockOperation::NonBlockingLockShared) {
        // Taken: nobody holds it exclusively. Dropping the file releases it at once.
        Ok(()) => false,
        Err(_) => true,
    }
}

fn open(path: &Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).mode(0o600).open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_directory_is_in_use_until_its_host_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!in_use(dir.path()), "no lock file yet");
        let lock = acquire(dir.path()).unwrap();
        assert!(in_use(dir.path()));
        let second = acquire(dir.path()).unwrap_err().to_string();
        assert!(second.contains("another blink host"), "{second}");
        drop(lock);
        assert!(!in_use(dir.path()));
        assert!(!in_use(&dir.path().join("gone")));
    }
}

//! A project's directory made ready for its sandbox, whatever engine runs it.

use std::path::PathBuf;

use crate::error::SandboxError;

/// Creates the project directory if needed and gives everything in it to the sandbox user: the
/// host runs as root, and the dev server, installs and builds write there. Symbolic links are
/// changed themselves, never followed.
pub(crate) async fn prepare_app_dir(path: PathBuf, uid: u32, gid: u32) -> Result<(), SandboxError> {
    let task_path = path.clone();
    let result = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        use std::os::unix::fs::MetadataExt;
        std::fs::create_dir_all(&task_path)?;
        let mut pending = vec![task_path];
        while let Some(path) = pending.pop() {
            let meta = std::fs::symlink_metadata(&path)?;
            if meta.uid() != uid || meta.gid() != gid {
                std::os::unix::fs::lchown(&path, Some(uid), Some(gid))?;
            }
            if meta.is_dir() {
                for entry in std::fs::read_dir(&path)? {
                    pending.push(entry?.path());
                }
            }
        }
        Ok(())
    })
    .await;
    match result {
        Ok(Ok(())) => Ok(()),
        Ok(Err(source)) => Err(SandboxError::AppDir { path, source }),
        Err(join) => Err(SandboxError::AppDir { path, source: std::io::Error::other(join.to_string()) }),
    }
}

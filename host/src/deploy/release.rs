//! A build read as a release: every file hashed and sized, within the limits of one release,
//! never through a link.

use std::path::Path;

use crate::deploy::{DeployError, Upload, store};

/// What one release may hold.
#[derive(Clone, Copy)]
pub(super) struct Limits {
    pub(super) files: usize,
    pub(super) bytes: u64,
    pub(super) file_bytes: u64,
}

/// Every regular file under `root` (symbolic links are not followed: a build cannot publish
/// what is outside it), hashed within the limits. Files are streamed, never held whole: the
/// store reads them again from disk, so a deploy's memory does not grow with its build.
pub(super) fn read_release(root: &Path, limits: Limits) -> Result<Vec<Upload>, DeployError> {
    let reading = |e: std::io::Error| DeployError::Storage(format!("reading the build: {e}"));
    // Nor is the build's own folder, were it a link.
    if !std::fs::symlink_metadata(root).map_err(reading)?.is_dir() {
        return Err(DeployError::Storage(format!("reading the build: {} is not a folder", root.display())));
    }
    let mut files = Vec::new();
    let mut total = 0u64;
    let mut pending = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = pending.pop() {
        for entry in std::fs::read_dir(&dir).map_err(reading)? {
            let entry = entry.map_err(reading)?;
            let Some(name) = entry.file_name().to_str().map(str::to_string) else { continue };
            let kind = entry.file_type().map_err(reading)?;
            let path = format!("{prefix}{name}");
            if kind.is_dir() {
                pending.push((entry.path(), format!("{path}/")));
            } else if kind.is_file() {
                if files.len() == limits.files {
                    let max = limits.files;
                    return Err(DeployError::TooLarge(format!("more than {max} files (BLINK_DEPLOY_MAX_FILES)")));
                }
                let (sha256, size) =
                    hash_file(&entry.path(), limits.file_bytes).map_err(reading)?.ok_or_else(|| {
                        let max = limits.file_bytes;
                        DeployError::TooLarge(format!(
                            "{path} is larger than {max} bytes (BLINK_DEPLOY_MAX_FILE_BYTES)"
                        ))
                    })?;
                total += size;
                if total > limits.bytes {
                    let max = limits.bytes;
                    return Err(DeployError::TooLarge(format!("more than {max} bytes (BLINK_DEPLOY_MAX_BYTES)")));
                }
                files.push(Upload {
                    content_type: content_type(&path),
                    cache_control: cache_control(&path),
                    source: entry.path(),
                    size,
                    sha256,
                    path,
                });
            }
        }
    }
    Ok(files)
}

/// The file's SHA-256 and size, read in pieces; `None` if it is larger than `max` bytes.
pub(super) fn hash_file(path: &Path, max: u64) -> std::io::Result<Option<(String, u64)>> {
    use sha2::Digest as _;
    use std::io::Read as _;
    let file = store::open_regular(path)?;
    if file.metadata()?.len() > max {
        return Ok(None);
    }
    // Bounded by the limit whatever the file does while it is read.
    let mut reader = file.take(max.saturating_add(1));
    let (mut hasher, mut buf, mut size) = (sha2::Sha256::new(), vec![0u8; 64 * 1024], 0u64);
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size <= max).then(|| (hex::encode(hasher.finalize()), size)))
}

/// Hashed build assets never change under their name; everything else must be revalidated, so
/// a new release is seen at once.
pub(super) fn cache_control(path: &str) -> &'static str {
    if path.starts_with("assets/") { "public, max-age=31536000, immutable" } else { "no-cache" }
}

pub(super) fn content_type(path: &str) -> String {
    let guess = mime_guess::from_path(path).first_or_octet_stream();
    match guess.type_() {
        mime_guess::mime::TEXT => format!("{guess}; charset=utf-8"),
        _ if guess.subtype() == mime_guess::mime::JAVASCRIPT || guess.subtype() == mime_guess::mime::JSON => {
            format!("{guess}; charset=utf-8")
        }
        _ => guess.to_string(),
    }
}

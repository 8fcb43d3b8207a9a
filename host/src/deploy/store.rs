//! Where releases' bytes live: the data directory (the embedded default) or an S3 bucket. Both
//! keep each release under its own immutable prefix, `{project}/{release}/{path}`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region, RequestChecksumCalculation};
use aws_sdk_s3::primitives::{ByteStream, Length};
use aws_sdk_s3::types::{Delete, ObjectIdentifier};

use super::DeploySettings;

/// One file of a release to store, read from the build when it is stored.
pub(crate) struct Upload {
    pub(crate) path: String,
    pub(crate) source: PathBuf,
    pub(crate) size: u64,
    pub(crate) content_type: String,
    pub(crate) cache_control: &'static str,
    pub(crate) sha256: String,
}

/// A stored file, opened for serving.
pub(crate) enum Stored {
    /// A file of the data directory.
    File(PathBuf),
    /// An object's bytes: all of them, or the range asked for (`content_range` then says which).
    Object {
        length: Option<u64>,
        content_range: Option<String>,
        body: std::pin::Pin<Box<dyn futures::Stream<Item = std::io::Result<bytes::Bytes>> + Send>>,
    },
}

/// Why a stored file could not be opened.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FetchError {
    #[error("Not found.")]
    NotFound,
    #[error("the range asked for is not in the file")]
    RangeNotSatisfiable,
    #[error("The site's storage is unavailable; try again.")]
    Unavailable,
}

#[derive(Clone)]
pub(crate) enum Store {
    Local(PathBuf),
    S3(Arc<S3Store>),
}

pub(crate) struct S3Store {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
    parallel: usize,
}

impl Store {
    pub(crate) fn from_settings(settings: &DeploySettings, sites: PathBuf) -> anyhow::Result<Self> {
        let Some(bucket) = settings.s3_bucket.clone().filter(|b| !b.is_empty()) else {
            return Ok(Store::Local(sites));
        };
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let key = settings.s3_access_key_id.clone().or_else(|| env("AWS_ACCESS_KEY_ID"));
        let secret = settings.s3_secret_access_key.clone().or_else(|| env("AWS_SECRET_ACCESS_KEY"));
        let (Some(key), Some(secret)) = (key, secret) else {
            anyhow::bail!(
                "BLINK_S3_BUCKET is set but no credentials are: set BLINK_S3_ACCESS_KEY_ID and \
                 BLINK_S3_SECRET_ACCESS_KEY (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
            );
        };
        let token = settings.s3_session_token.clone().or_else(|| env("AWS_SESSION_TOKEN"));
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let mut config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(settings.s3_region.clone()))
            .credentials_provider(Credentials::new(key, secret, token, None, "blink-settings"))
            .http_client(http)
            .force_path_style(settings.s3_path_style)
            .retry_config(RetryConfig::standard().with_max_attempts(settings.s3_max_attempts.max(1)))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(10))
                    .operation_attempt_timeout(Duration::from_secs(settings.s3_timeout_secs.max(1)))
                    .build(),
            )
            // Checksums only where the API requires them: several S3-compatible stores refuse
            // the newer default trailing checksums.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired);
        if let Some(endpoint) = settings.s3_endpoint.as_deref().filter(|e| !e.is_empty()) {
            config = config.endpoint_url(endpoint);
        }
        Ok(Store::S3(Arc::new(S3Store {
            client: aws_sdk_s3::Client::from_conf(config.build()),
            bucket,
            prefix: settings.s3_prefix.clone(),
            parallel: settings.s3_parallel.max(1),
        })))
    }

    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Store::Local(_) => "local",
            Store::S3(_) => "s3",
        }
    }

    /// Where the store is, for the startup log.
    pub(crate) fn describe(&self) -> String {
        match self {
            Store::Local(dir) => dir.display().to_string(),
            Store::S3(s3) => format!("s3://{}/{}", s3.bucket, s3.prefix),
        }
    }

    /// Stores `files` under the release's prefix. The local store writes into a staging
    /// directory renamed into place, hard-linking `unchanged` files from `previous`, so that a
    /// release directory is whole and self-contained. Any failure is returned as it is; the
    /// caller sweeps what was stored.
    pub(crate) async fn put_release(
        &self,
        project: &str,
        release: &str,
        files: Vec<Upload>,
        previous: Option<(&str, Vec<String>)>,
    ) -> Result<(), String> {
        match self {
            Store::Local(sites) => {
                let project_dir = sites.join(project);
                let staging = project_dir.join(format!(".staging-{release}"));
                let target = project_dir.join(release);
                let previous = previous.map(|(id, paths)| (project_dir.join(id), paths));
                tokio::task::spawn_blocking(move || -> std::io::Result<()> {
                    let result = (|| {
                        for file in &files {
                            let to = safe_join(&staging, &file.path).ok_or_else(|| bad_path(&file.path))?;
                            std::fs::create_dir_all(to.parent().unwrap_or(&staging))?;
                            copy_exactly(&file.source, &to, file.size)?;
                        }
                        if let Some((from, paths)) = &previous {
                            for path in paths {
                                let (Some(src), Some(to)) = (safe_join(from, path), safe_join(&staging, path)) else {
                                    return Err(bad_path(path));
                                };
                                std::fs::create_dir_all(to.parent().unwrap_or(&staging))?;
                                // Releases are never modified, so sharing an inode is safe.
                                std::fs::hard_link(&src, &to).or_else(|_| std::fs::copy(&src, &to).map(drop))?;
                            }
                        }
                        std::fs::create_dir_all(&staging)?;
                        std::fs::rename(&staging, &target)
                    })();
                    if result.is_err() {
                        let _ = std::fs::remove_dir_all(&staging);
                    }
                    result
                })
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())
            }
            Store::S3(s3) => s3.put_all(project, release, files).await,
        }
    }

    /// Opens one stored file: a file of the data directory (whose ranges its server answers), or
    /// the object, or `range` of it.
    pub(crate) async fn open(
        &self,
        project: &str,
        release: &str,
        path: &str,
        range: Option<String>,
    ) -> Result<Stored, FetchError> {
        match self {
            Store::Local(sites) => {
                safe_join(&sites.join(project).join(release), path).map(Stored::File).ok_or(FetchError::NotFound)
            }
            Store::S3(s3) => s3.open(project, release, path, range).await,
        }
    }

    /// Deletes a release's objects: `paths` of it, or everything under its prefix when `None`
    /// (a release that never completed has no trustworthy manifest).
    pub(crate) async fn delete(&self, project: &str, release: &str, paths: Option<Vec<String>>) -> Result<(), String> {
        match self {
            Store::Local(sites) => {
                let dir = sites.join(project).join(release);
                let staging = sites.join(project).join(format!(".staging-{release}"));
                tokio::task::spawn_blocking(move || {
                    let _ = std::fs::remove_dir_all(staging);
                    match std::fs::remove_dir_all(dir) {
                        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.to_string()),
                        _ => Ok(()),
                    }
                })
                .await
                .map_err(|e| e.to_string())?
            }
            Store::S3(s3) => s3.delete(project, release, paths).await,
        }
    }

    /// Removes everything a project stored.
    pub(crate) async fn forget(&self, project: &str) -> Result<(), String> {
        match self {
            Store::Local(sites) => {
                let dir = sites.join(project);
                tokio::task::spawn_blocking(move || match std::fs::remove_dir_all(dir) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.to_string()),
                    _ => Ok(()),
                })
                .await
                .map_err(|e| e.to_string())?
            }
            Store::S3(s3) => s3.delete_prefix(&format!("{}{project}/", s3.prefix)).await,
        }
    }
}

impl S3Store {
    fn key(&self, project: &str, release: &str, path: &str) -> String {
        format!("{}{project}/{release}/{path}", self.prefix)
    }

    /// Uploads every file, `parallel` at a time. After a failure no new upload starts, but
    /// those in flight are waited for, so that a sweep after it finds everything stored.
    async fn put_all(&self, project: &str, release: &str, files: Vec<Upload>) -> Result<(), String> {
        use futures::StreamExt as _;
        let failed = std::sync::atomic::AtomicBool::new(false);
        let results: Vec<Result<(), String>> = futures::stream::iter(files)
            .map(|file| {
                let failed = &failed;
                async move {
                    if failed.load(std::sync::atomic::Ordering::SeqCst) {
                        return Ok(());
                    }
                    // Streamed from disk, and read again from the start for each retry.
                    let body = ByteStream::read_from()
                        .path(&file.source)
                        .length(Length::Exact(file.size))
                        .build()
                        .await
                        .map_err(|e| format!("reading {}: {e}", file.path))?;
                    let result = self
                        .client
                        .put_object()
                        .bucket(&self.bucket)
                        .key(self.key(project, release, &file.path))
                        .content_type(file.content_type)
                        .cache_control(file.cache_control)
                        .metadata("sha256", file.sha256)
                        .content_length(i64::try_from(file.size).unwrap_or(i64::MAX))
                        .body(body)
                        .send()
                        .await
                        .map(drop)
                        .map_err(|e| format!("uploading {}: {}", file.path, error_text(&e)));
                    if result.is_err() {
                        failed.store(true, std::sync::atomic::Ordering::SeqCst);
                    }
                    result
                }
            })
            .buffer_unordered(self.parallel)
            .collect()
            .await;
        results.into_iter().find(Result::is_err).unwrap_or(Ok(()))
    }

    async fn open(
        &self,
        project: &str,
        release: &str,
        path: &str,
        range: Option<String>,
    ) -> Result<Stored, FetchError> {
        let answer = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.key(project, release, path))
            .set_range(range)
            .send()
            .await;
        let object = match answer {
            Ok(object) => object,
            Err(e) => {
                let status = e.raw_response().map(|r| r.status().as_u16());
                return Err(match status {
                    Some(416) => FetchError::RangeNotSatisfiable,
                    Some(404) => FetchError::NotFound,
                    _ => {
                        tracing::warn!(project, release, path, "the site's storage did not answer: {}", error_text(&e));
                        FetchError::Unavailable
                    }
                });
            }
        };
        let body = futures::stream::unfold(object.body, |mut body| async move {
            body.next().await.map(|chunk| (chunk.map_err(std::io::Error::other), body))
        });
        Ok(Stored::Object {
            length: object.content_length.and_then(|l| u64::try_from(l).ok()),
            content_range: object.content_range,
            body: Box::pin(body),
        })
    }

    async fn delete(&self, project: &str, release: &str, paths: Option<Vec<String>>) -> Result<(), String> {
        match paths {
            Some(paths) => {
                let keys = paths.iter().map(|p| self.key(project, release, p)).collect();
                self.delete_keys(keys).await
            }
            None => self.delete_prefix(&format!("{}{project}/{release}/", self.prefix)).await,
        }
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<(), String> {
        let mut pages = self.client.list_objects_v2().bucket(&self.bucket).prefix(prefix).into_paginator().send();
        let mut keys = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| format!("listing {prefix}: {}", error_text(&e)))?;
            keys.extend(page.contents.unwrap_or_default().into_iter().filter_map(|o| o.key));
        }
        self.delete_keys(keys).await
    }

    async fn delete_keys(&self, keys: Vec<String>) -> Result<(), String> {
        // DeleteObjects takes at most 1,000 keys.
        for batch in keys.chunks(1000) {
            let objects: Vec<_> =
                batch.iter().filter_map(|key| ObjectIdentifier::builder().key(key).build().ok()).collect();
            let delete = Delete::builder().set_objects(Some(objects)).quiet(true).build().map_err(|e| e.to_string())?;
            let answer = self
                .client
                .delete_objects()
                .bucket(&self.bucket)
                .delete(delete)
                .send()
                .await
                .map_err(|e| format!("deleting objects: {}", error_text(&e)))?;
            if let Some(error) = answer.errors.unwrap_or_default().first() {
                return Err(format!(
                    "deleting {}: {}",
                    error.key.as_deref().unwrap_or("?"),
                    error.message.as_deref().unwrap_or("refused")
                ));
            }
        }
        Ok(())
    }
}

/// An SDK error with its cause: the top level says only "service error" or "dispatch failure".
fn error_text(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Opens a file of a build for reading: a regular file, never through a symbolic link.
pub(super) fn open_regular(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let file =
        std::fs::OpenOptions::new().read(true).custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32).open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{}: not a file", path.display())));
    }
    Ok(file)
}

/// Copies the `size` bytes that were hashed, and no others: a file that changed since fails.
fn copy_exactly(from: &Path, to: &Path, size: u64) -> std::io::Result<()> {
    use std::io::Read as _;
    let mut source = open_regular(from)?.take(size.saturating_add(1));
    let copied = std::io::copy(&mut source, &mut std::fs::File::create(to)?)?;
    if copied != size {
        let why = format!("{} changed while it was deployed", from.display());
        return Err(std::io::Error::other(why));
    }
    Ok(())
}

fn bad_path(path: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{path}: not a path inside the release"))
}

/// `root` joined with a request path, or `None` if the path tries to leave it.
pub(crate) fn safe_join(root: &Path, path: &str) -> Option<PathBuf> {
    let mut joined = root.to_path_buf();
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        if segment == "." || segment == ".." || segment.contains('\\') || segment.contains('\0') {
            return None;
        }
        joined.push(segment);
    }
    Some(joined)
}

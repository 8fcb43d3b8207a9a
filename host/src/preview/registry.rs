//! The npm registry as sandboxes see it: a read-only pull-through cache that the host serves on
//! the sandbox network's gateway. Sandboxes have no route out; this is the one thing they reach,
//! and it fetches from the configured registry only, package metadata and tarballs only.
//!
//! Tarballs are immutable and cached on disk, so a second sandbox installing a package does not
//! fetch it again; metadata is cached in memory for a few minutes. Tarball URLs in metadata are
//! rewritten to point back here. Both are bounded: a sandbox asks for whatever its code names,
//! so no document or tarball may be larger than the limits, and the memory cache holds so many
//! documents and bytes, the oldest going first. Tarballs stream through a file, never whole in
//! memory.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::header;

/// How long package metadata is served from the cache before it is fetched again.
const METADATA_TTL: Duration = Duration::from_secs(300);

#[derive(Debug, Default, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RegistryStats {
    pub(crate) upstream_fetches: u64,
    pub(crate) cache_hits: u64,
    pub(crate) refused: u64,
}

/// How much the proxy fetches and keeps.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RegistryLimits {
    /// Metadata documents kept in memory.
    pub(crate) cache_entries: usize,
    /// Bytes of metadata kept in memory.
    pub(crate) cache_bytes: usize,
    /// Largest metadata document fetched.
    pub(crate) max_metadata_bytes: usize,
    /// Largest tarball fetched.
    pub(crate) max_tarball_bytes: u64,
}

/// Package metadata by name, bounded in documents and bytes; the oldest fetched goes first.
struct MetadataCache {
    documents: HashMap<String, (Instant, bytes::Bytes)>,
    /// Names, oldest fetched first.
    order: VecDeque<String>,
    bytes: usize,
    max_entries: usize,
    max_bytes: usize,
}

impl MetadataCache {
    fn new(max_entries: usize, max_bytes: usize) -> Self {
        Self { documents: HashMap::new(), order: VecDeque::new(), bytes: 0, max_entries, max_bytes }
    }

    fn get(&self, name: &str) -> Option<(Instant, bytes::Bytes)> {
        self.documents.get(name).cloned()
    }

    fn remove(&mut self, name: &str) {
        if let Some((_, body)) = self.documents.remove(name) {
            self.bytes -= body.len();
            self.order.retain(|n| n != name);
        }
    }

    /// Keeps `body`, making room; a document larger than the whole cache is not kept.
    fn insert(&mut self, name: &str, body: bytes::Bytes) {
        self.remove(name);
        if body.len() > self.max_bytes || self.max_entries == 0 {
            return;
        }
        while self.documents.len() >= self.max_entries || self.bytes + body.len() > self.max_bytes {
            let Some(oldest) = self.order.pop_front() else { break };
            if let Some((_, gone)) = self.documents.remove(&oldest) {
                self.bytes -= gone.len();
            }
        }
        self.bytes += body.len();
        self.order.push_back(name.to_string());
        self.documents.insert(name.to_string(), (Instant::now(), body));
    }
}

struct Inner {
    upstream: String,
    /// What sandboxes call this proxy, for rewriting tarball URLs.
    public: String,
    cache: PathBuf,
    http: reqwest::Client,
    limits: RegistryLimits,
    metadata: std::sync::Mutex<MetadataCache>,
    upstream_fetches: AtomicU64,
    cache_hits: AtomicU64,
    refused: AtomicU64,
}

#[derive(Clone)]
pub(crate) struct RegistryProxy(Arc<Inner>);

impl RegistryProxy {
    /// The proxy that sandboxes reach at `address` (its URL is in every tarball URL it rewrites).
    pub(crate) fn new(
        address: SocketAddr,
        upstream: &str,
        cache: PathBuf,
        limits: RegistryLimits,
    ) -> anyhow::Result<Self> {
        let public = format!("http://{address}");
        std::fs::create_dir_all(&cache)?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .build()?;
        let inner = Inner {
            upstream: upstream.trim_end_matches('/').to_string(),
            public,
            cache,
            http,
            limits,
            metadata: std::sync::Mutex::new(MetadataCache::new(limits.cache_entries, limits.cache_bytes)),
            upstream_fetches: AtomicU64::new(0),
            cache_hits: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        };
        Ok(Self(Arc::new(inner)))
    }

    /// The registry URL sandboxes are given.
    pub(crate) fn url(&self) -> String {
        format!("{}/", self.0.public)
    }

    /// What a read of `path` answers: package metadata or a tarball, nothing else.
    pub(crate) async fn get(&self, path: &str) -> Result<Package, RegistryError> {
        match classify(path) {
            Some(Wanted::Metadata(name)) => metadata(&self.0, &name).await.map(Package::Metadata),
            Some(Wanted::Tarball(path)) => tarball(&self.0, &path).await.map(Package::Tarball),
            None => {
                self.0.refused.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(path, "registry proxy refused a request");
                Err(RegistryError::NotServed)
            }
        }
    }

    /// Counts a request refused before it was read (a write to this read-only registry).
    pub(crate) fn refuse(&self) {
        self.0.refused.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn stats(&self) -> RegistryStats {
        RegistryStats {
            upstream_fetches: self.0.upstream_fetches.load(Ordering::Relaxed),
            cache_hits: self.0.cache_hits.load(Ordering::Relaxed),
            refused: self.0.refused.load(Ordering::Relaxed),
        }
    }
}

/// What a request asks for, if it is something this proxy serves.
enum Wanted {
    /// Package metadata: `/name` or `/@scope/name` (npm sends the slash as `%2f`).
    Metadata(String),
    /// A tarball: `/name/-/file.tgz` or `/@scope/name/-/file.tgz`.
    Tarball(String),
}

fn classify(path: &str) -> Option<Wanted> {
    let path = path.strip_prefix('/')?.replace("%2f", "/").replace("%2F", "/");
    let valid_segment = |s: &str| {
        !s.is_empty()
            && s != "."
            && s != ".."
            && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~'))
    };
    let parts: Vec<&str> = path.split('/').collect();
    let (name_len, rest) = match parts.first() {
        Some(scope) if scope.starts_with('@') => (2, &parts[2.min(parts.len())..]),
        _ => (1, &parts[1.min(parts.len())..]),
    };
    if parts.len() < name_len {
        return None;
    }
    let name = &parts[..name_len];
    let scope_ok = name_len == 1 || valid_segment(&name[0][1..]);
    if !scope_ok || !valid_segment(name[name_len - 1]) {
        return None;
    }
    match rest {
        [] => Some(Wanted::Metadata(name.join("/"))),
        ["-", file] if valid_segment(file) && file.ends_with(".tgz") => Some(Wanted::Tarball(path.clone())),
        _ => None,
    }
}

/// What the proxy serves.
pub(crate) enum Package {
    /// A package's metadata document (JSON), tarball URLs pointing back here.
    Metadata(bytes::Bytes),
    /// A tarball from the disk cache, to be read as it is sent.
    Tarball(tokio::fs::File),
}

/// Why the proxy serves nothing for a request.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RegistryError {
    #[error("Only package metadata and tarballs are served here.")]
    NotServed,
    #[error("the registry cannot be reached: {0}")]
    Unreachable(String),
    /// The registry's own refusal (a package that does not exist), with its status.
    #[error("{message}")]
    Upstream { status: u16, message: String },
    /// An answer this proxy will not pass on: too large, cut off, not text.
    #[error("{0}")]
    Refused(String),
}

fn upstream_url(inner: &Inner, path: &str) -> String {
    // A scoped name goes upstream with its slash encoded, as npm itself sends it.
    let encoded = match path.strip_prefix('@') {
        Some(rest) if !path.contains("/-/") => format!("@{}", rest.replacen('/', "%2f", 1)),
        _ => path.to_string(),
    };
    format!("{}/{encoded}", inner.upstream)
}

async fn metadata(inner: &Inner, name: &str) -> Result<bytes::Bytes, RegistryError> {
    let cached = inner.metadata.lock().unwrap_or_else(|e| e.into_inner()).get(name);
    if let Some((at, body)) = cached
        && at.elapsed() < METADATA_TTL
    {
        inner.cache_hits.fetch_add(1, Ordering::Relaxed);
        return Ok(body);
    }
    inner.upstream_fetches.fetch_add(1, Ordering::Relaxed);
    let response = inner
        .http
        .get(upstream_url(inner, name))
        .header(header::ACCEPT, "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8")
        .send()
        .await
        .map_err(|e| RegistryError::Unreachable(e.to_string()))?;
    let status = response.status();
    if !status.is_success() {
        return Err(RegistryError::Upstream { status: status.as_u16(), message: format!("{name}: {status}") });
    }
    let body = read_capped(response, inner.limits.max_metadata_bytes)
        .await
        .map_err(|problem| RegistryError::Refused(format!("{name}: {problem}")))?;
    let Ok(body) = String::from_utf8(body) else {
        return Err(RegistryError::Refused(format!("{name}: the registry's answer is not text")));
    };
    let rewritten = body.replace(&format!("{}/", inner.upstream), &format!("{}/", inner.public));
    let body = bytes::Bytes::from(rewritten);
    inner.metadata.lock().unwrap_or_else(|e| e.into_inner()).insert(name, body.clone());
    Ok(body)
}

/// A response's body, refused past `max` bytes (said up front or found while reading).
async fn read_capped(mut response: reqwest::Response, max: usize) -> Result<Vec<u8>, String> {
    let too_large = || format!("larger than {max} bytes, the most this proxy fetches");
    if response.content_length().is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|_| "the registry's answer was cut off".to_string())? {
        if body.len() + chunk.len() > max {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

async fn tarball(inner: &Inner, path: &str) -> Result<tokio::fs::File, RegistryError> {
    let file = inner.cache.join(path.replace('/', "__"));
    if let Ok(cached) = tokio::fs::File::open(&file).await {
        inner.cache_hits.fetch_add(1, Ordering::Relaxed);
        return Ok(cached);
    }
    inner.upstream_fetches.fetch_add(1, Ordering::Relaxed);
    let response = match inner.http.get(upstream_url(inner, path)).send().await {
        Ok(r) if r.status().is_success() => r,
        Ok(r) => return Err(RegistryError::Upstream { status: r.status().as_u16(), message: String::new() }),
        Err(e) => return Err(RegistryError::Unreachable(e.to_string())),
    };
    // Streamed to a file then renamed: a concurrent reader sees the whole tarball or nothing,
    // and a tarball never sits whole in memory.
    let tmp = file.with_extension(format!("tmp-{}", uuid::Uuid::new_v4()));
    let fetched = download(response, &tmp, inner.limits.max_tarball_bytes).await;
    let opened = match fetched {
        Ok(()) => match tokio::fs::rename(&tmp, &file).await {
            Ok(()) => tokio::fs::File::open(&file).await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        },
        Err(problem) => Err(problem),
    };
    match opened {
        Ok(opened) => Ok(opened),
        Err(problem) => {
            let _ = tokio::fs::remove_file(&tmp).await;
            Err(RegistryError::Refused(format!("{path}: {problem}")))
        }
    }
}

/// Writes a response's body to `to`, refused past `max` bytes.
async fn download(mut response: reqwest::Response, to: &std::path::Path, max: u64) -> Result<(), String> {
    use tokio::io::AsyncWriteExt as _;
    let too_large = || format!("larger than {max} bytes, the most this proxy fetches");
    if response.content_length().is_some_and(|n| n > max) {
        return Err(too_large());
    }
    let mut out = tokio::fs::File::create(to).await.map_err(|e| e.to_string())?;
    let mut written = 0u64;
    while let Some(chunk) = response.chunk().await.map_err(|_| "the registry's answer was cut off".to_string())? {
        written += chunk.len() as u64;
        if written > max {
            return Err(too_large());
        }
        out.write_all(&chunk).await.map_err(|e| e.to_string())?;
    }
    out.flush().await.map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metadata_cache_holds_its_entry_and_byte_limits_at_their_edges() {
        let doc = |n: usize| bytes::Bytes::from(vec![b'x'; n]);
        // Two entries: a third pushes the oldest out.
        let mut cache = MetadataCache::new(2, 100);
        cache.insert("a", doc(10));
        cache.insert("b", doc(10));
        assert!(cache.get("a").is_some() && cache.get("b").is_some());
        cache.insert("c", doc(10));
        assert!(cache.get("a").is_none() && cache.get("b").is_some() && cache.get("c").is_some());
        // 100 bytes: exactly 100 fit, one more byte pushes the oldest out.
        let mut cache = MetadataCache::new(10, 100);
        cache.insert("a", doc(60));
        cache.insert("b", doc(40));
        assert_eq!((cache.bytes, cache.documents.len()), (100, 2));
        cache.insert("c", doc(1));
        assert!(cache.get("a").is_none() && cache.get("b").is_some());
        assert_eq!(cache.bytes, 41);
        // A document larger than the whole cache is served, not kept; a fresh copy replaces the old.
        cache.insert("huge", doc(101));
        assert!(cache.get("huge").is_none());
        cache.insert("b", doc(5));
        assert_eq!((cache.bytes, cache.order.len()), (6, 2));
    }

    #[test]
    fn only_package_metadata_and_tarballs_are_served() {
        assert!(matches!(classify("/left-pad"), Some(Wanted::Metadata(n)) if n == "left-pad"));
        assert!(matches!(classify("/@types%2fnode"), Some(Wanted::Metadata(n)) if n == "@types/node"));
        assert!(matches!(classify("/@types/node"), Some(Wanted::Metadata(n)) if n == "@types/node"));
        assert!(matches!(classify("/left-pad/-/left-pad-1.3.0.tgz"), Some(Wanted::Tarball(_))));
        assert!(matches!(classify("/@types/node/-/node-20.0.0.tgz"), Some(Wanted::Tarball(_))));
        for refused in
            ["/", "/-/v1/search", "/-/npm/v1/security/audits", "/../etc/passwd", "/a/b/c", "/x/-/y.txt", "/@/x"]
        {
            assert!(classify(refused).is_none(), "{refused} was served");
        }
    }
}

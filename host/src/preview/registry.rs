//! The npm registry as sandboxes see it: a read-only pull-through cache that the host serves on
//! the sandbox network's gateway. Sandboxes have no route out; this is the one thing they reach,
//! and it fetches from the configured registry only, package metadata and tarballs only.
//!
//! Tarballs are immutable and cached on disk, so a second sandbox installing a package does not
//! fetch it again; metadata is cached for a few minutes. Tarball URLs in metadata are rewritten
//! to point back here.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// How long package metadata is served from the cache before it is fetched again.
const METADATA_TTL: Duration = Duration::from_secs(300);

#[derive(Debug, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistryStats {
    pub upstream_fetches: u64,
    pub cache_hits: u64,
    pub refused: u64,
}

struct Inner {
    upstream: String,
    /// What sandboxes call this proxy, for rewriting tarball URLs.
    public: String,
    cache: PathBuf,
    http: reqwest::Client,
    metadata: std::sync::Mutex<std::collections::HashMap<String, (Instant, bytes::Bytes)>>,
    upstream_fetches: AtomicU64,
    cache_hits: AtomicU64,
    refused: AtomicU64,
}

#[derive(Clone)]
pub struct RegistryProxy(Arc<Inner>);

impl RegistryProxy {
    /// Serves the proxy on `listener` until `shutdown`; returns the proxy and its URL.
    pub async fn serve(
        listener: tokio::net::TcpListener,
        upstream: &str,
        cache: PathBuf,
        shutdown: tokio_util::sync::CancellationToken,
    ) -> anyhow::Result<(Self, String)> {
        let address: SocketAddr = listener.local_addr()?;
        let public = format!("http://{address}");
        std::fs::create_dir_all(&cache)?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .build()?;
        let inner = Inner {
            upstream: upstream.trim_end_matches('/').to_string(),
            public: public.clone(),
            cache,
            http,
            metadata: Default::default(),
            upstream_fetches: AtomicU64::new(0),
            cache_hits: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        };
        let proxy = Self(Arc::new(inner));
        let app = Router::new().fallback(handle).with_state(proxy.clone());
        tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move { shutdown.cancelled().await });
            if let Err(e) = serve.await {
                tracing::error!("the registry proxy stopped: {e}");
            }
        });
        tracing::info!(%public, "npm registry proxy for sandboxes");
        Ok((proxy, format!("{public}/")))
    }

    pub fn stats(&self) -> RegistryStats {
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

async fn handle(State(proxy): State<RegistryProxy>, request: Request) -> Response {
    let inner = &proxy.0;
    if request.method() != axum::http::Method::GET && request.method() != axum::http::Method::HEAD {
        inner.refused.fetch_add(1, Ordering::Relaxed);
        return (StatusCode::FORBIDDEN, "This registry is read-only.").into_response();
    }
    match classify(request.uri().path()) {
        Some(Wanted::Metadata(name)) => metadata(inner, &name).await,
        Some(Wanted::Tarball(path)) => tarball(inner, &path).await,
        None => {
            inner.refused.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(path = %request.uri().path(), "registry proxy refused a request");
            (StatusCode::NOT_FOUND, "Only package metadata and tarballs are served here.").into_response()
        }
    }
}

fn upstream_url(inner: &Inner, path: &str) -> String {
    // A scoped name goes upstream with its slash encoded, as npm itself sends it.
    let encoded = match path.strip_prefix('@') {
        Some(rest) if !path.contains("/-/") => format!("@{}", rest.replacen('/', "%2f", 1)),
        _ => path.to_string(),
    };
    format!("{}/{encoded}", inner.upstream)
}

async fn metadata(inner: &Inner, name: &str) -> Response {
    let cached = inner.metadata.lock().unwrap_or_else(|e| e.into_inner()).get(name).cloned();
    if let Some((at, body)) = cached
        && at.elapsed() < METADATA_TTL
    {
        inner.cache_hits.fetch_add(1, Ordering::Relaxed);
        return json_response(body);
    }
    inner.upstream_fetches.fetch_add(1, Ordering::Relaxed);
    let response = match inner
        .http
        .get(upstream_url(inner, name))
        .header(header::ACCEPT, "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8")
        .send()
        .await
    {
        Ok(r) => r,
        Err(e) => return (StatusCode::BAD_GATEWAY, format!("the registry cannot be reached: {e}")).into_response(),
    };
    let status = response.status();
    if !status.is_success() {
        return (StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY), format!("{name}: {status}"))
            .into_response();
    }
    let Ok(body) = response.text().await else {
        return (StatusCode::BAD_GATEWAY, "the registry's answer was cut off").into_response();
    };
    let rewritten = body.replace(&format!("{}/", inner.upstream), &format!("{}/", inner.public));
    let body = bytes::Bytes::from(rewritten);
    inner.metadata.lock().unwrap_or_else(|e| e.into_inner()).insert(name.to_string(), (Instant::now(), body.clone()));
    json_response(body)
}

fn json_response(body: bytes::Bytes) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn tarball(inner: &Inner, path: &str) -> Response {
    let file = inner.cache.join(path.replace('/', "__"));
    if let Ok(bytes) = tokio::fs::read(&file).await {
        inner.cache_hits.fetch_add(1, Ordering::Relaxed);
        return tarball_response(bytes);
    }
    inner.upstream_fetches.fetch_add(1, Ordering::Relaxed);
    let response = match inner.http.get(upstream_url(inner, path)).send().await {
        Ok(r) if r.status().is_success() => r,
        Ok(r) => {
            return (StatusCode::from_u16(r.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY), "").into_response();
        }
        Err(e) => return (StatusCode::BAD_GATEWAY, format!("the registry cannot be reached: {e}")).into_response(),
    };
    let Ok(bytes) = response.bytes().await else {
        return (StatusCode::BAD_GATEWAY, "the registry's answer was cut off").into_response();
    };
    // Written whole then renamed: a concurrent reader sees the tarball or nothing.
    let tmp = file.with_extension(format!("tmp-{}", uuid::Uuid::new_v4()));
    if tokio::fs::write(&tmp, &bytes).await.is_ok() {
        let _ = tokio::fs::rename(&tmp, &file).await;
    }
    tarball_response(bytes.to_vec())
}

fn tarball_response(bytes: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/octet-stream")], Body::from(bytes)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

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

//! Deploys: a project's latest build published as an immutable release, made live by switching
//! one pointer (a database row) once every file is in place, and served by the host by `Host`
//! header, the way a CDN's origin would be. Earlier releases stay until the newest N are kept,
//! and any of them can be made live again.
//!
//! This is the embedded default: releases live in the data directory. S3-compatible storage and
//! custom domains build on the same release and pointer model.

use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tower::ServiceExt as _;

use crate::db::{Database, DbError, now_ms};

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error("this project has no build yet: run POST /api/build first")]
    NoBuild,
    #[error("no deploy {0} of this project")]
    UnknownDeploy(String),
    #[error("custom domains are not available on this host yet")]
    CustomDomains,
    #[error("storing the release failed: {0}")]
    Storage(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Deploy {
    pub id: String,
    pub files: i64,
    pub bytes: i64,
    pub created_at: i64,
    pub live: bool,
}

#[derive(Clone)]
pub struct Deployer {
    db: Database,
    builds: PathBuf,
    sites: PathBuf,
    /// Releases kept per project (the live one always is).
    pub keep: usize,
    /// Sites answer at `{projectId}.{domain}`.
    pub domain: String,
    /// How long a retired release is kept beyond `keep`.
    pub grace: std::time::Duration,
}

impl Deployer {
    pub fn new(
        db: Database,
        builds: PathBuf,
        sites: PathBuf,
        keep: usize,
        domain: String,
        grace: std::time::Duration,
    ) -> Self {
        Self { db, builds, sites, keep: keep.max(1), domain, grace }
    }

    fn release_dir(&self, project: &str, deploy: &str) -> PathBuf {
        self.sites.join(project).join(deploy)
    }

    /// Publishes the project's latest build as a new release and makes it live.
    pub async fn deploy(&self, project: &str) -> Result<Deploy, DeployError> {
        let dist = self.builds.join(project).join("dist");
        if !dist.join("index.html").is_file() {
            return Err(DeployError::NoBuild);
        }
        let id = format!("{}-{}", now_ms(), &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let target = self.release_dir(project, &id);
        let staging = self.sites.join(project).join(format!(".staging-{id}"));
        let copied = tokio::task::spawn_blocking(move || -> std::io::Result<(i64, i64)> {
            let (bytes, files) = crate::workspace::copy_tree(&dist, &staging)?;
            // The release appears whole or not at all.
            std::fs::rename(&staging, &target)?;
            Ok((files as i64, bytes as i64))
        })
        .await
        .map_err(|e| DeployError::Storage(e.to_string()))?
        .map_err(|e| DeployError::Storage(e.to_string()))?;
        let deploy = Deploy { id: id.clone(), files: copied.0, bytes: copied.1, created_at: now_ms(), live: true };
        self.db.insert_deploy(project, &deploy).await?;
        self.db.set_live_deploy(project, &id).await?;
        tracing::info!(project, deploy = %id, files = deploy.files, bytes = deploy.bytes, "release live");
        self.cleanup(project).await;
        Ok(deploy)
    }

    /// Makes an earlier release live again.
    pub async fn restore(&self, project: &str, deploy: &str) -> Result<(), DeployError> {
        let known = self.db.deploys(project).await?.into_iter().any(|(id, ..)| id == deploy);
        if !known || !self.release_dir(project, deploy).is_dir() {
            return Err(DeployError::UnknownDeploy(deploy.to_string()));
        }
        self.db.set_live_deploy(project, deploy).await?;
        Ok(())
    }

    pub async fn list(&self, project: &str) -> Result<Vec<Deploy>, DeployError> {
        let live = self.db.live_deploy(project).await?;
        Ok(self
            .db
            .deploys(project)
            .await?
            .into_iter()
            .map(|(id, files, bytes, created_at, _)| Deploy {
                live: live.as_deref() == Some(&id),
                id,
                files,
                bytes,
                created_at,
            })
            .collect())
    }

    /// Removes releases beyond the newest `keep`: never the live one, nor one retired less than
    /// the grace period ago (a page loaded from it may still be fetching its assets).
    async fn cleanup(&self, project: &str) {
        let Ok(deploys) = self.db.deploys(project).await else { return };
        let live = self.db.live_deploy(project).await.ok().flatten();
        let grace_ms = i64::try_from(self.grace.as_millis()).unwrap_or(i64::MAX);
        for (id, _, _, _, retired) in deploys.into_iter().skip(self.keep) {
            if live.as_deref() == Some(id.as_str()) || retired.is_some_and(|at| now_ms() - at < grace_ms) {
                continue;
            }
            let _ = std::fs::remove_dir_all(self.release_dir(project, &id));
            if let Err(e) = self.db.delete_deploy(&id).await {
                tracing::warn!(project, deploy = %id, "an old release could not be forgotten: {e}");
            }
        }
    }

    /// Removes every release of a deleted project.
    pub async fn forget(&self, project: &str) {
        let _ = std::fs::remove_dir_all(self.sites.join(project));
        let _ = self.db.delete_deploys(project).await;
    }

    pub fn url(&self, project: &str, origin_port: Option<u16>) -> String {
        match origin_port {
            Some(port) => format!("http://{project}.{}:{port}", self.domain),
            None => format!("https://{project}.{}", self.domain),
        }
    }

    /// The project a `{projectId}.{domain}` host name names.
    pub fn project_of_host<'a>(&self, host: &'a str) -> Option<&'a str> {
        let name =
            host.rsplit_once(':').map_or(host, |(name, port)| if port.parse::<u16>().is_ok() { name } else { host });
        let project = name.strip_suffix(&self.domain)?.strip_suffix('.')?;
        crate::api::projects::valid_project_id(project).then_some(project)
    }

    /// Serves a request for a deployed site from its live release: files as they are, other
    /// paths fall back to `index.html` (single-page apps route on the client).
    pub async fn serve(&self, project: &str, request: Request) -> Response {
        // The pointer can move on (and an old release be cleaned up) between reading it and
        // reading the files: read it again until its release is there.
        let mut found = None;
        for _ in 0..3 {
            let Ok(Some(live)) = self.db.live_deploy(project).await else {
                return (StatusCode::NOT_FOUND, "Nothing is deployed here yet.").into_response();
            };
            let root = self.release_dir(project, &live);
            if root.is_dir() {
                found = Some((live, root));
                break;
            }
        }
        let Some((live, root)) = found else {
            return (StatusCode::SERVICE_UNAVAILABLE, "The site is being updated; try again.").into_response();
        };
        let path = request.uri().path().trim_start_matches('/').to_string();
        let path = path.as_str();
        let mut file = safe_join(&root, path).filter(|p| p.is_file());
        if file.is_none() && path.starts_with("assets/") {
            // A page loaded just before a switch asks for its own assets after it: hashed names
            // are unique to their content, so the kept releases still answer them, and the
            // visitor sees the old site whole rather than a mix.
            for (id, ..) in self.db.deploys(project).await.unwrap_or_default() {
                if let Some(found) = safe_join(&self.release_dir(project, &id), path).filter(|p| p.is_file()) {
                    file = Some(found);
                    break;
                }
            }
        }
        let (file, is_index) = match file {
            Some(file) => {
                let is_index = file.file_name().is_some_and(|n| n == "index.html");
                (file, is_index)
            }
            // A missing asset is a 404; a missing page is the app's to route.
            None if Path::new(path).extension().is_some() => {
                return (StatusCode::NOT_FOUND, "Not found.").into_response();
            }
            None => (root.join("index.html"), true),
        };
        let etag = format!("\"{live}-{}\"", crate::runtime::content_hash(path.as_bytes()).get(..16).unwrap_or(""));
        if request.headers().get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(etag.as_str()) {
            return StatusCode::NOT_MODIFIED.into_response();
        }
        let hashed = path.starts_with("assets/");
        let mut response = match tower_http::services::ServeFile::new(&file).oneshot(request).await {
            Ok(response) => response.map(Body::new),
            Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        };
        let headers = response.headers_mut();
        let cache = if hashed && !is_index { "public, max-age=31536000, immutable" } else { "no-cache" };
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
        if let Ok(value) = HeaderValue::from_str(&etag) {
            headers.insert(header::ETAG, value);
        }
        response
    }
}

/// `root` joined with a request path, or `None` if the path tries to leave it.
fn safe_join(root: &Path, path: &str) -> Option<PathBuf> {
    let mut joined = root.to_path_buf();
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        if segment == "." || segment == ".." || segment.contains('\\') || segment.contains('\0') {
            return None;
        }
        joined.push(segment);
    }
    Some(joined)
}

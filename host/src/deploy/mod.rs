//! Deploys: a project's latest build published as an immutable release, made live by switching
//! one pointer (a database row) once every file is stored, and served by the host by `Host`
//! header, the way a CDN's origin would be. Earlier releases stay until the newest N are kept,
//! and any of them can be made live again.
//!
//! Bytes go to a [`Store`]: the data directory by default, or an S3 bucket. Each release has a
//! manifest (path → content hash, size, and the release whose storage holds the bytes), so a
//! redeploy uploads only what changed and serving needs no listing.

pub mod cloudflare;
mod domains;
pub mod store;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

pub use self::domains::{Domain, DomainError};
use self::store::{Store, Upload};
use crate::config::DeploySettings;
use crate::db::{Database, DbError, now_ms};

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error("this project has no build yet: run POST /api/build first")]
    NoBuild,
    #[error("no deploy {0} of this project")]
    UnknownDeploy(String),
    #[error("the build is too large to deploy: {0}")]
    TooLarge(String),
    #[error("storing the release failed, and the previous release stays live: {0}")]
    Storage(String),
    #[error(transparent)]
    Domain(#[from] DomainError),
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
    /// Files whose bytes this release stored; the rest were unchanged since the live release.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uploaded: Option<usize>,
}

/// One file of a release.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    pub sha256: String,
    pub size: u64,
    /// The release whose storage holds the bytes.
    #[serde(rename = "in")]
    pub stored_in: String,
}

pub type Manifest = BTreeMap<String, Entry>;

#[derive(Clone)]
pub struct Deployer {
    db: Database,
    builds: PathBuf,
    store: Store,
    cloudflare: Option<(cloudflare::Cloudflare, String)>,
    /// Releases kept per project (the live one always is).
    keep: usize,
    /// Sites answer at `{projectId}.{domain}`.
    domain: String,
    /// How long a retired release is kept beyond `keep`.
    grace: std::time::Duration,
    max_bytes: u64,
    max_files: usize,
    /// Manifests never change once a release is complete.
    manifests: Arc<Mutex<HashMap<String, Arc<Manifest>>>>,
    /// Names no project may claim: this host's own.
    reserved: Vec<String>,
    /// Custom domain → project, for serving by `Host` without a query per request.
    custom_domains: Arc<ArcSwap<HashMap<String, String>>>,
}

const MANIFEST_CACHE: usize = 512;

impl Deployer {
    pub async fn new(db: Database, data_dir: &Path, settings: &DeploySettings) -> anyhow::Result<Self> {
        let store = Store::from_settings(settings, data_dir.join("sites"))?;
        let cloudflare = match &settings.cloudflare_token {
            Some(token) if !token.is_empty() => {
                let (Some(zone), Some(origin)) = (&settings.cloudflare_zone_id, &settings.cloudflare_origin) else {
                    anyhow::bail!("BLINK_CLOUDFLARE_TOKEN needs BLINK_CLOUDFLARE_ZONE_ID and BLINK_CLOUDFLARE_ORIGIN");
                };
                Some((cloudflare::Cloudflare::new(&settings.cloudflare_api, token, zone), origin.clone()))
            }
            _ => None,
        };
        tracing::info!(store = %store.describe(), cloudflare = cloudflare.is_some(), "deploys");
        let deployer = Self {
            db,
            builds: data_dir.join("builds"),
            store,
            cloudflare,
            keep: settings.deploy_keep.max(1),
            domain: settings.sites_domain.trim_end_matches('.').to_ascii_lowercase(),
            grace: std::time::Duration::from_secs(settings.deploy_grace_secs),
            max_bytes: settings.deploy_max_bytes,
            max_files: settings.deploy_max_files,
            manifests: Arc::default(),
            reserved: settings
                .reserved_domains
                .iter()
                .chain(&settings.cloudflare_origin)
                .map(|d| d.trim().trim_end_matches('.').to_ascii_lowercase())
                .filter(|d| !d.is_empty())
                .collect(),
            custom_domains: Arc::default(),
        };
        deployer.reload_domains().await?;
        Ok(deployer)
    }

    pub fn has_build(&self, project: &str) -> bool {
        self.builds.join(project).join("dist").join("index.html").is_file()
    }

    /// Publishes the project's latest build as a new release and makes it live. Only files that
    /// differ from the live release are stored again; the switch happens after every one is.
    pub async fn deploy(&self, project: &str) -> Result<Deploy, DeployError> {
        if !self.has_build(project) {
            return Err(DeployError::NoBuild);
        }
        let dist = self.builds.join(project).join("dist");
        let (max_files, max_bytes) = (self.max_files, self.max_bytes);
        let files = tokio::task::spawn_blocking(move || read_release(&dist, max_files, max_bytes))
            .await
            .map_err(|e| DeployError::Storage(e.to_string()))??;
        let previous = match self.db.live_deploy(project).await? {
            Some(live) => self.manifest(project, &live).await.map(|m| (live, m)),
            None => None,
        };
        let id = format!("{}-{}", now_ms(), &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let (count, bytes) = (files.len() as i64, files.iter().map(|f| f.bytes.len() as i64).sum::<i64>());
        self.db.insert_deploy(project, &id, self.store.kind(), count, bytes, now_ms()).await?;

        let mut manifest = Manifest::new();
        let mut uploads = Vec::new();
        let mut unchanged = Vec::new();
        for file in files {
            let same = previous.as_ref().and_then(|(_, m)| m.get(&file.path)).filter(|e| e.sha256 == file.sha256);
            let stored_in = match (same, &self.store) {
                // The local store links unchanged files into the new release directory, so
                // that each directory stays whole on its own.
                (Some(_), Store::Local(_)) => {
                    unchanged.push(file.path.clone());
                    id.clone()
                }
                (Some(entry), Store::S3(_)) => entry.stored_in.clone(),
                (None, _) => id.clone(),
            };
            manifest.insert(
                file.path.clone(),
                Entry { sha256: file.sha256.clone(), size: file.bytes.len() as u64, stored_in },
            );
            if same.is_none() {
                uploads.push(file);
            }
        }
        let uploaded = uploads.len();
        let linked = previous.as_ref().map(|(live, _)| (live.as_str(), unchanged));
        if let Err(e) = self.store.put_release(project, &id, uploads, linked).await {
            tracing::warn!(project, deploy = %id, "release not stored, the previous one stays live: {e}");
            // What was stored is swept now if the store answers, or by the next deploy's cleanup.
            if self.store.delete(project, &id, None).await.is_ok() {
                let _ = self.db.delete_deploy(&id).await;
            }
            return Err(DeployError::Storage(e));
        }
        let json = serde_json::to_string(&manifest).map_err(|e| DeployError::Storage(e.to_string()))?;
        self.db.complete_deploy(&id, &json).await?;
        self.cache_manifest(&id, Arc::new(manifest));
        self.db.set_live_deploy(project, &id).await?;
        tracing::info!(project, deploy = %id, files = count, bytes, uploaded, "release live");
        self.cleanup(project).await;
        Ok(Deploy { id, files: count, bytes, created_at: now_ms(), live: true, uploaded: Some(uploaded) })
    }

    /// Makes an earlier release live again.
    pub async fn restore(&self, project: &str, deploy: &str) -> Result<(), DeployError> {
        let known = self.db.deploys(project).await?.into_iter().any(|(id, ..)| id == deploy);
        if !known || self.manifest(project, deploy).await.is_none() {
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
                uploaded: None,
            })
            .collect())
    }

    /// Removes releases beyond the newest `keep` (never the live one, nor one retired less than
    /// the grace period ago: a page loaded from it may still be fetching its assets), and any
    /// release that never completed. Bytes a kept release still uses stay.
    async fn cleanup(&self, project: &str) {
        let Ok(deploys) = self.db.deploys(project).await else { return };
        let live = self.db.live_deploy(project).await.ok().flatten();
        let grace_ms = i64::try_from(self.grace.as_millis()).unwrap_or(i64::MAX);
        let (mut kept, mut doomed) = (Vec::new(), Vec::new());
        for (index, (id, _, _, _, retired)) in deploys.into_iter().enumerate() {
            let protected = index < self.keep
                || live.as_deref() == Some(id.as_str())
                || retired.is_some_and(|at| now_ms() - at < grace_ms);
            if protected { kept.push(id) } else { doomed.push(id) }
        }
        let mut in_use = std::collections::HashSet::new();
        for id in &kept {
            if let Some(manifest) = self.manifest(project, id).await {
                in_use.extend(manifest.iter().map(|(path, e)| (e.stored_in.clone(), path.clone())));
            }
        }
        for id in doomed {
            let Some(manifest) = self.manifest(project, &id).await else { continue };
            let mut by_release: HashMap<&str, Vec<String>> = HashMap::new();
            for (path, entry) in manifest.iter() {
                if !in_use.contains(&(entry.stored_in.clone(), path.clone())) {
                    by_release.entry(&entry.stored_in).or_default().push(path.clone());
                }
            }
            let mut deleted = true;
            for (release, paths) in by_release {
                // The local store's release directories are self-contained: remove it whole.
                let paths = matches!(self.store, Store::S3(_)).then_some(paths);
                if let Err(e) = self.store.delete(project, release, paths).await {
                    tracing::warn!(project, deploy = %id, "an old release could not be deleted: {e}");
                    deleted = false;
                }
            }
            if matches!(self.store, Store::Local(_)) {
                deleted &= self.store.delete(project, &id, None).await.is_ok();
            }
            if deleted {
                let _ = self.db.delete_deploy(&id).await;
                self.manifests.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
            }
        }
        for id in self.db.unfinished_deploys(project).await.unwrap_or_default() {
            if self.store.delete(project, &id, None).await.is_ok() {
                let _ = self.db.delete_deploy(&id).await;
            }
        }
    }

    /// Removes every release and domain of a deleted project.
    pub async fn forget(&self, project: &str) {
        if let Err(e) = self.store.forget(project).await {
            tracing::warn!(project, "a deleted project's releases could not be removed: {e}");
        }
        let _ = self.db.delete_deploys(project).await;
        self.forget_domains(project).await;
    }

    /// The project's default host name.
    pub fn host_name(&self, project: &str) -> String {
        format!("{project}.{}", self.domain)
    }

    /// The project a `{projectId}.{domain}` host name (or a custom domain) names.
    pub fn project_of_host(&self, host: &str) -> Option<String> {
        let name =
            host.rsplit_once(':').map_or(host, |(name, port)| if port.parse::<u16>().is_ok() { name } else { host });
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if let Some(project) = name.strip_suffix(&self.domain).and_then(|p| p.strip_suffix('.')) {
            return crate::api::projects::valid_project_id(project).then(|| project.to_string());
        }
        self.custom_domains.load().get(&name).cloned()
    }

    async fn manifest(&self, project: &str, release: &str) -> Option<Arc<Manifest>> {
        if let Some(found) = self.manifests.lock().unwrap_or_else(|e| e.into_inner()).get(release) {
            return Some(found.clone());
        }
        let (store, json) = self.db.deploy_manifest(project, release).await.ok().flatten()?;
        if store != self.store.kind() {
            return None;
        }
        let manifest: Manifest = match json {
            Some(json) => serde_json::from_str(&json).ok()?,
            // Releases from before manifests existed are whole directories of the local store.
            None => {
                let Store::Local(sites) = &self.store else { return None };
                let dir = sites.join(project).join(release);
                let id = release.to_string();
                tokio::task::spawn_blocking(move || {
                    let files = read_release(&dir, usize::MAX, u64::MAX).ok()?;
                    Some(
                        files
                            .into_iter()
                            .map(|f| {
                                (f.path, Entry { sha256: f.sha256, size: f.bytes.len() as u64, stored_in: id.clone() })
                            })
                            .collect(),
                    )
                })
                .await
                .ok()??
            }
        };
        let manifest = Arc::new(manifest);
        self.cache_manifest(release, manifest.clone());
        Some(manifest)
    }

    fn cache_manifest(&self, release: &str, manifest: Arc<Manifest>) {
        let mut cache = self.manifests.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= MANIFEST_CACHE {
            cache.clear();
        }
        cache.insert(release.to_string(), manifest);
    }

    /// Serves a request for a deployed site from its live release: files as they are, other
    /// paths fall back to `index.html` (single-page apps route on the client).
    pub async fn serve(&self, project: &str, request: Request) -> Response {
        let live = match self.db.live_deploy(project).await {
            Ok(Some(live)) => live,
            Ok(None) => return (StatusCode::NOT_FOUND, "Nothing is deployed here yet.").into_response(),
            Err(e) => return (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
        };
        let Some(manifest) = self.manifest(project, &live).await else {
            return (StatusCode::SERVICE_UNAVAILABLE, "The site is being updated; try again.").into_response();
        };
        // Manifests hold file names as they are; URLs carry them percent-encoded.
        let raw = request.uri().path().trim_start_matches('/');
        let Ok(path) = percent_encoding::percent_decode_str(raw).decode_utf8().map(|p| p.into_owned()) else {
            return (StatusCode::NOT_FOUND, "Not found.").into_response();
        };
        let mut found = manifest.get(&path).cloned().map(|e| (path.clone(), e));
        if found.is_none() && path.starts_with("assets/") {
            // A page loaded just before a switch asks for its own assets after it: hashed names
            // are unique to their content, so the kept releases still answer them, and the
            // visitor sees the old site whole rather than a mix.
            for (id, ..) in self.db.deploys(project).await.unwrap_or_default() {
                if let Some(entry) = self.manifest(project, &id).await.and_then(|m| m.get(&path).cloned()) {
                    found = Some((path.clone(), entry));
                    break;
                }
            }
        }
        let (path, entry) = match found {
            Some(found) => found,
            // A missing asset is a 404; a missing page is the app's to route.
            None if Path::new(&path).extension().is_some() => {
                return (StatusCode::NOT_FOUND, "Not found.").into_response();
            }
            None => match manifest.get("index.html") {
                Some(index) => ("index.html".to_string(), index.clone()),
                None => return (StatusCode::NOT_FOUND, "Not found.").into_response(),
            },
        };
        let etag = format!("\"{}\"", entry.sha256.get(..32).unwrap_or(&entry.sha256));
        let cache = HeaderValue::from_static(cache_control(&path));
        let matches =
            request.headers().get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|v| {
                v.split(',').any(|tag| tag.trim().trim_start_matches("W/") == etag || tag.trim() == "*")
            });
        if matches {
            let mut response = StatusCode::NOT_MODIFIED.into_response();
            response.headers_mut().insert(header::CACHE_CONTROL, cache);
            if let Ok(value) = HeaderValue::from_str(&etag) {
                response.headers_mut().insert(header::ETAG, value);
            }
            return response;
        }
        let mut response = self.store.fetch(project, &entry.stored_in, &path, request).await;
        if response.status().is_success() {
            let headers = response.headers_mut();
            headers.insert(header::CACHE_CONTROL, cache);
            if let Ok(value) = HeaderValue::from_str(&etag) {
                headers.insert(header::ETAG, value);
            }
            if let Ok(kind) = HeaderValue::from_str(&content_type(&path)) {
                headers.insert(header::CONTENT_TYPE, kind);
            }
        }
        response
    }
}

/// Hashed build assets never change under their name; everything else must be revalidated, so
/// a new release is seen at once.
fn cache_control(path: &str) -> &'static str {
    if path.starts_with("assets/") { "public, max-age=31536000, immutable" } else { "no-cache" }
}

fn content_type(path: &str) -> String {
    let guess = mime_guess::from_path(path).first_or_octet_stream();
    match guess.type_() {
        mime_guess::mime::TEXT => format!("{guess}; charset=utf-8"),
        _ if guess.subtype() == mime_guess::mime::JAVASCRIPT || guess.subtype() == mime_guess::mime::JSON => {
            format!("{guess}; charset=utf-8")
        }
        _ => guess.to_string(),
    }
}

/// Every regular file under `root` (symbolic links are not followed: a build cannot publish
/// what is outside it), read and hashed, within the limits.
fn read_release(root: &Path, max_files: usize, max_bytes: u64) -> Result<Vec<Upload>, DeployError> {
    let mut files = Vec::new();
    let mut total = 0u64;
    let mut pending = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = pending.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| DeployError::Storage(format!("reading the build: {e}")))?;
        for entry in entries {
            let entry = entry.map_err(|e| DeployError::Storage(format!("reading the build: {e}")))?;
            let Some(name) = entry.file_name().to_str().map(str::to_string) else { continue };
            let kind = entry.file_type().map_err(|e| DeployError::Storage(e.to_string()))?;
            let path = format!("{prefix}{name}");
            if kind.is_dir() {
                pending.push((entry.path(), format!("{path}/")));
            } else if kind.is_file() {
                if files.len() == max_files {
                    return Err(DeployError::TooLarge(format!("more than {max_files} files (BLINK_DEPLOY_MAX_FILES)")));
                }
                let bytes = std::fs::read(entry.path()).map_err(|e| DeployError::Storage(e.to_string()))?;
                total += bytes.len() as u64;
                if total > max_bytes {
                    return Err(DeployError::TooLarge(format!("more than {max_bytes} bytes (BLINK_DEPLOY_MAX_BYTES)")));
                }
                files.push(Upload {
                    sha256: crate::runtime::content_hash(&bytes),
                    content_type: content_type(&path),
                    cache_control: cache_control(&path),
                    bytes: bytes.into(),
                    path,
                });
            }
        }
    }
    Ok(files)
}

//! A live site's files as requests name them: the live release's, an earlier release's hashed
//! asset for a page loaded before a switch, or the app's `index.html` for a route.

use std::path::Path;
use std::sync::Arc;

use crate::deploy::release::{Limits, cache_control, content_type, read_release};
use crate::deploy::{
    DeployError, Deployer, Entry, FetchError, MANIFEST_CACHE, Manifest, Release, Store, Stored, records,
};

impl Deployer {
    /// The file of the live site a request path names: files as they are, other paths fall back
    /// to `index.html` (single-page apps route on the client).
    pub(crate) async fn site_file(&self, project: &str, url_path: &str) -> Result<SiteFile, SiteError> {
        let live = match records::live_deploy(&self.db, project).await {
            Ok(Some(live)) => live,
            Ok(None) => return Err(SiteError::NothingDeployed),
            Err(e) => return Err(SiteError::Unavailable(e.to_string())),
        };
        let release = match self.release(project, &live).await {
            Ok(Some(release)) => release,
            Ok(None) => return Err(SiteError::Updating),
            Err(e) => return Err(SiteError::Unavailable(e.to_string())),
        };
        // Manifests hold file names as they are; URLs carry them percent-encoded.
        let raw = url_path.trim_start_matches('/');
        let Ok(path) = percent_encoding::percent_decode_str(raw).decode_utf8().map(|p| p.into_owned()) else {
            return Err(SiteError::NotFound);
        };
        let mut found = release.files.get(&path).cloned().map(|e| (path.clone(), e, release.store.clone()));
        if found.is_none() && path.starts_with("assets/") {
            // A page loaded just before a switch asks for its own assets after it: hashed names
            // are unique to their content, so the kept releases still answer them, and the
            // visitor sees the old site whole rather than a mix.
            for row in records::deploys(&self.db, project).await.unwrap_or_default() {
                if let Ok(Some(old)) = self.release(project, &row.id).await
                    && let Some(entry) = old.files.get(&path)
                {
                    found = Some((path.clone(), entry.clone(), old.store.clone()));
                    break;
                }
            }
        }
        let (path, entry, store) = match found {
            Some(found) => found,
            // A missing asset is a 404; a missing page is the app's to route.
            None if Path::new(&path).extension().is_some() => return Err(SiteError::NotFound),
            None => match release.files.get("index.html") {
                Some(index) => ("index.html".to_string(), index.clone(), release.store.clone()),
                None => return Err(SiteError::NotFound),
            },
        };
        Ok(SiteFile {
            etag: format!("\"{}\"", entry.sha256.get(..32).unwrap_or(&entry.sha256)),
            cache_control: cache_control(&path),
            content_type: content_type(&path),
            size: entry.size,
            project: project.to_string(),
            release: entry.stored_in,
            path,
            store,
        })
    }

    /// A complete release (or one being deleted), `None` if there is no such release or its
    /// store is not configured any more.
    pub(super) async fn release(&self, project: &str, id: &str) -> Result<Option<Arc<Release>>, DeployError> {
        if let Some(found) = self.manifests.lock().unwrap_or_else(|e| e.into_inner()).get(id) {
            return Ok(Some(found.clone()));
        }
        let Some(stored) = records::deploy_manifest(&self.db, project, id).await? else { return Ok(None) };
        let store = match stored.store.as_str() {
            "local" => self.local.clone(),
            kind if kind == self.store.kind() => self.store.clone(),
            _ => return Ok(None),
        };
        let files: Manifest = match stored.manifest {
            Some(json) => {
                serde_json::from_str(&json).map_err(|e| DeployError::Storage(format!("manifest of {id}: {e}")))?
            }
            // Releases from before manifests existed are whole directories of the local store.
            None => {
                let Store::Local(sites) = &store else { return Ok(None) };
                let dir = sites.join(project).join(id);
                let owner = id.to_string();
                tokio::task::spawn_blocking(move || -> Result<Manifest, DeployError> {
                    let unlimited = Limits { files: usize::MAX, bytes: u64::MAX, file_bytes: u64::MAX };
                    Ok(read_release(&dir, unlimited)?
                        .into_iter()
                        .map(|f| {
                            let entry = Entry { sha256: f.sha256, size: f.size, stored_in: owner.clone() };
                            (f.path, entry)
                        })
                        .collect())
                })
                .await
                .map_err(|e| DeployError::Storage(e.to_string()))??
            }
        };
        let release = Arc::new(Release { store, files });
        self.cache_release(id, release.clone());
        Ok(Some(release))
    }

    pub(super) fn cache_release(&self, id: &str, release: Arc<Release>) {
        let mut cache = self.manifests.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= MANIFEST_CACHE {
            // One out, not all: the others are as likely to be asked for again.
            if let Some(evicted) = cache.keys().next().cloned() {
                cache.remove(&evicted);
            }
        }
        cache.insert(id.to_string(), release);
    }
}

/// Why a site has no file for a request.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SiteError {
    #[error("Nothing is deployed here yet.")]
    NothingDeployed,
    #[error("The site is being updated; try again.")]
    Updating,
    #[error("Not found.")]
    NotFound,
    #[error("{0}")]
    Unavailable(String),
}

/// A file of a live site, with the validators and headers it is served with.
pub(crate) struct SiteFile {
    pub(crate) path: String,
    /// A strong validator from the content hash: a store's own dates never answer for it.
    pub(crate) etag: String,
    pub(crate) cache_control: &'static str,
    pub(crate) content_type: String,
    pub(crate) size: u64,
    project: String,
    /// The release whose storage holds the bytes.
    release: String,
    store: Store,
}

impl SiteFile {
    /// The file's bytes, or the byte range `range` (an HTTP `Range` value) of them.
    pub(crate) async fn open(&self, range: Option<String>) -> Result<Stored, FetchError> {
        self.store.open(&self.project, &self.release, &self.path, range).await
    }
}

//! Deploys: a project's latest build published as an immutable release, made live by switching
//! one pointer (a database row) once every file is stored, and served by the host by `Host`
//! header, the way a CDN's origin would be. Earlier releases stay until the newest N are kept,
//! and any of them can be made live again.
//!
//! Bytes go to a [`Store`]: the data directory by default, or an S3 bucket. Each release has a
//! manifest (path → content hash, size, and the release whose storage holds the bytes), so a
//! redeploy uploads only what changed and serving needs no listing.

pub(crate) mod cloudflare;
mod domains;
mod records;
mod release;
mod settings;
mod site;
pub(crate) mod store;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use serde::{Deserialize, Serialize};

pub(crate) use self::domains::{Domain, DomainError};
use self::release::{Limits, read_release};
pub(crate) use self::settings::DeploySettings;
pub(crate) use self::site::SiteError;
pub(crate) use self::store::{FetchError, Stored};
use self::store::{Store, Upload};
use crate::db::{Database, DbError, now_ms};

#[derive(Debug, thiserror::Error)]
pub(crate) enum DeployError {
    #[error("this project has no build yet: run POST /api/build first")]
    NoBuild,
    #[error("no deploy {0} of this project")]
    UnknownDeploy(String),
    #[error("the build is too large to deploy: {0}")]
    TooLarge(String),
    #[error("storing the release failed, and the previous release stays live: {0}")]
    Storage(String),
    #[error(
        "{0} deploys of yours are in flight already (BLINK_DEPLOY_MAX_CONCURRENT_PER_USER): try again once one finished"
    )]
    Busy(usize),
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error(transparent)]
    Db(#[from] DbError),
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Deploy {
    pub(crate) id: String,
    pub(crate) files: i64,
    pub(crate) bytes: i64,
    pub(crate) created_at: i64,
    pub(crate) live: bool,
    /// Files whose bytes this release stored; the rest were unchanged since the live release.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) uploaded: Option<usize>,
}

/// The site a request's host name names.
pub(crate) struct SiteHost {
    pub(crate) project: String,
    /// A user's own domain rather than the project's default name.
    pub(crate) custom: bool,
}

/// One file of a release.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Entry {
    pub(crate) sha256: String,
    pub(crate) size: u64,
    /// The release whose storage holds the bytes.
    #[serde(rename = "in")]
    pub(crate) stored_in: String,
}

pub(crate) type Manifest = BTreeMap<String, Entry>;

/// A complete release: its files, and the store that holds them (releases made before the
/// operator configured S3 stay in the local store, and keep being served from it).
pub(crate) struct Release {
    store: Store,
    files: Manifest,
}

#[derive(Clone)]
pub(crate) struct Deployer {
    db: Database,
    builds: PathBuf,
    /// Where new releases go.
    store: Store,
    /// The data directory's store, which earlier releases may still be in.
    local: Store,
    cloudflare: Option<(cloudflare::Cloudflare, String)>,
    /// Releases kept per project (the live one always is).
    keep: usize,
    /// Sites answer at `{projectId}.{domain}`.
    domain: String,
    /// How long a retired release is kept beyond `keep`.
    grace: std::time::Duration,
    max_bytes: u64,
    max_files: usize,
    max_file_bytes: u64,
    /// Deploys in flight per user, each holding a build's worth of work.
    in_flight: crate::slots::Slots,
    max_in_flight: usize,
    /// Manifests never change once a release is complete.
    manifests: Arc<Mutex<HashMap<String, Arc<Release>>>>,
    /// Names no project may claim: this host's own.
    reserved: Vec<String>,
    /// Previews' parent domain: its names are projects' previews.
    preview_domain: String,
    /// Custom domain → project, for serving by `Host` without a query per request.
    custom_domains: Arc<ArcSwap<HashMap<String, String>>>,
    /// This host process, which holds the uploads it starts.
    instance: Arc<str>,
    /// How long a custom-domain claim may wait for its proof.
    claim_ttl: std::time::Duration,
    /// The DNS server asked for proofs; `None`: the system's.
    dns_resolver: Option<std::net::SocketAddr>,
}

/// A deploy counted against its user's in-flight deploys until dropped.
pub(crate) type InFlight = crate::slots::Slot;

const MANIFEST_CACHE: usize = 512;

/// An upload from before uploads named their host, still in progress after this long, was
/// abandoned.
const ABANDONED_MS: i64 = 6 * 60 * 60 * 1000;

impl Deployer {
    /// `preview_domain`: where previews answer, whose names no custom domain may take.
    pub(crate) async fn new(
        db: Database,
        data_dir: &Path,
        builds: &Path,
        settings: &DeploySettings,
        preview_domain: &str,
    ) -> anyhow::Result<Self> {
        let store = Store::from_settings(settings, data_dir.join("sites"))?;
        let local = Store::Local(data_dir.join("sites"));
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
            builds: builds.to_path_buf(),
            store,
            local,
            cloudflare,
            keep: settings.deploy_keep.max(1),
            domain: settings.sites_domain.trim_end_matches('.').to_ascii_lowercase(),
            preview_domain: preview_domain.trim_end_matches('.').to_ascii_lowercase(),
            grace: std::time::Duration::from_secs(settings.deploy_grace_secs),
            max_bytes: settings.deploy_max_bytes,
            max_files: settings.deploy_max_files,
            max_file_bytes: settings.deploy_max_file_bytes,
            in_flight: Default::default(),
            max_in_flight: settings.deploy_max_concurrent_per_user.max(1),
            manifests: Arc::default(),
            reserved: settings
                .reserved_domains
                .iter()
                .chain(&settings.cloudflare_origin)
                .map(|d| d.trim().trim_end_matches('.').to_ascii_lowercase())
                .filter(|d| !d.is_empty())
                .collect(),
            custom_domains: Arc::default(),
            instance: Arc::from(crate::instances::UNREGISTERED),
            claim_ttl: std::time::Duration::from_secs(settings.domain_claim_ttl_secs),
            dns_resolver: settings.dns_resolver,
        };
        deployer.reload_domains().await?;
        Ok(deployer)
    }

    /// Uploads are held by `instance` (this host process, registered with a heartbeat).
    pub(crate) fn held_by(mut self, instance: &str) -> Self {
        self.instance = Arc::from(instance);
        self
    }

    /// Marks failed the uploads of hosts that died mid-upload (no heartbeat since `cutoff`): a
    /// release is live only once whole, so the site never saw them; the next prune removes their
    /// bytes. The count.
    pub(crate) async fn fail_orphaned_uploads(&self, cutoff: i64) -> Result<u64, DbError> {
        records::fail_orphaned_uploads(&self.db, cutoff).await
    }

    /// Counts a deploy of `user`'s as in flight, or refuses it if they have as many as allowed.
    pub(crate) fn start_deploy(&self, user: &str) -> Result<InFlight, DeployError> {
        self.in_flight.take(user, self.max_in_flight).ok_or(DeployError::Busy(self.max_in_flight))
    }

    pub(crate) fn has_build(&self, project: &str) -> bool {
        self.builds.join(project).join("dist").join("index.html").is_file()
    }

    /// Publishes the project's latest build as a new release and makes it live. Only files that
    /// differ from the live release are stored again; the switch happens after every one is.
    pub(crate) async fn deploy(&self, project: &str) -> Result<Deploy, DeployError> {
        if !self.has_build(project) {
            return Err(DeployError::NoBuild);
        }
        let dist = self.builds.join(project).join("dist");
        let limits = Limits { files: self.max_files, bytes: self.max_bytes, file_bytes: self.max_file_bytes };
        let files = tokio::task::spawn_blocking(move || read_release(&dist, limits))
            .await
            .map_err(|e| DeployError::Storage(e.to_string()))??;
        // Unchanged files are reused only from a release in the same store.
        let previous = match records::live_deploy(&self.db, project).await? {
            Some(live) => {
                self.release(project, &live).await?.filter(|r| r.store.kind() == self.store.kind()).map(|r| (live, r))
            }
            None => None,
        };
        let id = format!("{}-{}", now_ms(), &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let (count, bytes) = (files.len() as i64, files.iter().map(|f| f.size as i64).sum::<i64>());
        records::insert_deploy(&self.db, project, &id, self.store.kind(), count, bytes, &self.instance).await?;

        let mut manifest = Manifest::new();
        let mut uploads = Vec::new();
        let mut unchanged = Vec::new();
        for file in files {
            let same = previous.as_ref().and_then(|(_, r)| r.files.get(&file.path)).filter(|e| e.sha256 == file.sha256);
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
            manifest.insert(file.path.clone(), Entry { sha256: file.sha256.clone(), size: file.size, stored_in });
            if same.is_none() {
                uploads.push(file);
            }
        }
        let uploaded = uploads.len();
        let linked = previous.as_ref().map(|(live, _)| (live.as_str(), unchanged));
        if let Err(e) = self.store.put_release(project, &id, uploads, linked).await {
            tracing::warn!(project, deploy = %id, "release not stored, the previous one stays live: {e}");
            // No upload is in flight any more: what was stored is swept now if the store
            // answers, else by the next deploy's cleanup.
            if self.store.delete(project, &id, None).await.is_ok() {
                let _ = records::delete_deploy(&self.db, &id).await;
            } else {
                let _ = records::fail_deploy(&self.db, &id).await;
            }
            return Err(DeployError::Storage(e));
        }
        let json = serde_json::to_string(&manifest).map_err(|e| DeployError::Storage(e.to_string()))?;
        if !records::complete_deploy(&self.db, &id, &json).await? {
            // The project was deleted meanwhile: its releases are gone, this one with them.
            let _ = self.store.delete(project, &id, None).await;
            return Err(DeployError::UnknownDeploy(id));
        }
        self.cache_release(&id, Arc::new(Release { store: self.store.clone(), files: manifest }));
        records::set_live_deploy(&self.db, project, &id).await?;
        tracing::info!(project, deploy = %id, files = count, bytes, uploaded, "release live");
        self.cleanup(project).await;
        Ok(Deploy { id, files: count, bytes, created_at: now_ms(), live: true, uploaded: Some(uploaded) })
    }

    /// Makes an earlier release live again.
    pub(crate) async fn restore(&self, project: &str, deploy: &str) -> Result<(), DeployError> {
        let known = records::deploys(&self.db, project).await?.into_iter().any(|row| row.id == deploy);
        if !known || self.release(project, deploy).await?.is_none() {
            return Err(DeployError::UnknownDeploy(deploy.to_string()));
        }
        records::set_live_deploy(&self.db, project, deploy).await?;
        Ok(())
    }

    pub(crate) async fn list(&self, project: &str) -> Result<Vec<Deploy>, DeployError> {
        let live = records::live_deploy(&self.db, project).await?;
        Ok(records::deploys(&self.db, project)
            .await?
            .into_iter()
            .map(|row| Deploy {
                live: live.as_deref() == Some(&row.id),
                id: row.id,
                files: row.files,
                bytes: row.bytes,
                created_at: row.created_at,
                uploaded: None,
            })
            .collect())
    }

    /// Removes releases beyond the newest `keep` (never the live one, nor one retired less than
    /// the grace period ago: a page loaded from it may still be fetching its assets), and any
    /// release whose upload failed. Bytes a kept release still uses stay. Any doubt (a manifest
    /// that cannot be read) stops it: deleting too little is retried next time, too much is not.
    async fn cleanup(&self, project: &str) {
        if let Err(e) = self.try_cleanup(project).await {
            tracing::warn!(project, "old releases not cleaned up this time: {e}");
        }
    }

    async fn try_cleanup(&self, project: &str) -> Result<(), DeployError> {
        let deploys = records::deploys(&self.db, project).await?;
        let live = records::live_deploy(&self.db, project).await?;
        let grace_ms = i64::try_from(self.grace.as_millis()).unwrap_or(i64::MAX);
        let (mut kept, mut doomed) = (Vec::new(), records::deleting_deploys(&self.db, project).await?);
        for (index, row) in deploys.into_iter().enumerate() {
            let protected = index < self.keep
                || live.as_deref() == Some(row.id.as_str())
                || row.retired_at.is_some_and(|at| now_ms() - at < grace_ms);
            if protected { kept.push(row.id) } else { doomed.push(row.id) }
        }
        let mut in_use = std::collections::HashSet::new();
        for id in &kept {
            let release = self.release(project, id).await?.ok_or_else(|| DeployError::UnknownDeploy(id.clone()))?;
            in_use.extend(release.files.iter().map(|(path, e)| (e.stored_in.clone(), path.clone())));
        }
        for id in doomed {
            let Some(release) = self.release(project, &id).await? else { continue };
            // Out of the list first: a release half deleted can never be restored.
            records::mark_deploy_deleting(&self.db, &id).await?;
            let mut by_release: HashMap<&str, Vec<String>> = HashMap::new();
            for (path, entry) in release.files.iter() {
                if !in_use.contains(&(entry.stored_in.clone(), path.clone())) {
                    by_release.entry(&entry.stored_in).or_default().push(path.clone());
                }
            }
            let mut deleted = true;
            for (stored_in, paths) in by_release {
                // The local store's release directories are self-contained: removed whole.
                let paths = matches!(release.store, Store::S3(_)).then_some(paths);
                if let Err(e) = release.store.delete(project, stored_in, paths).await {
                    tracing::warn!(project, deploy = %id, "an old release could not be deleted: {e}");
                    deleted = false;
                }
            }
            if matches!(release.store, Store::Local(_)) {
                deleted &= release.store.delete(project, &id, None).await.is_ok();
            }
            if deleted {
                records::delete_deploy(&self.db, &id).await?;
                self.manifests.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
            }
        }
        // Uploads that failed, or that a host stopped during long ago (another host sharing
        // the database may be uploading right now: recent ones are left alone).
        for id in records::abandoned_deploys(&self.db, project, now_ms() - ABANDONED_MS).await? {
            if self.store.delete(project, &id, None).await.is_ok() {
                records::delete_deploy(&self.db, &id).await?;
            }
        }
        Ok(())
    }

    /// Removes every release and domain of a deleted project.
    pub(crate) async fn forget(&self, project: &str) {
        let stores =
            if self.store.kind() == self.local.kind() { vec![&self.store] } else { vec![&self.store, &self.local] };
        for store in stores {
            if let Err(e) = store.forget(project).await {
                tracing::warn!(project, "a deleted project's releases could not be removed: {e}");
            }
        }
        let _ = records::delete_deploys(&self.db, project).await;
        self.forget_domains(project).await;
    }

    /// The project's default host name.
    pub(crate) fn host_name(&self, project: &str) -> String {
        format!("{project}.{}", self.domain)
    }

    /// The site a `{projectId}.{domain}` host name, or a custom domain, names.
    pub(crate) fn site_of_host(&self, host: &str) -> Option<SiteHost> {
        let name =
            host.rsplit_once(':').map_or(host, |(name, port)| if port.parse::<u16>().is_ok() { name } else { host });
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if let Some(project) = name.strip_suffix(&self.domain).and_then(|p| p.strip_suffix('.')) {
            return crate::workspace::valid_project_id(project)
                .then(|| SiteHost { project: project.to_string(), custom: false });
        }
        self.custom_domains.load().get(&name).map(|project| SiteHost { project: project.clone(), custom: true })
    }
}

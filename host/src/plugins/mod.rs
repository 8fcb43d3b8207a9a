//! The plugin store: versions of each agent role that operators upload, kept in the database with
//! their bytes in the data directory, and the active version of each role.
//!
//! A version becomes active only after it compiled and type-checked against its role's world; a
//! bad upload changes nothing. The runtime swaps the active pointer atomically, so runs already
//! going keep the version they started with, and the active set is restored at start.

pub(crate) mod evaluate;
mod limits;
mod pipelines;
pub(crate) mod settings;
mod store;
pub(crate) mod watch;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::db::{Database, DbError, now_ms};
use crate::runtime::{Agent, AgentRuntime, CONTRACT_VERSION, Canary, LoadError, Role, content_hash};

pub(crate) use self::limits::AgentLimits;
pub(crate) use self::pipelines::ProjectPipeline;
pub(crate) use store::PluginVersion;

/// What an upload did, and how long its two halves took.
pub(crate) struct Uploaded {
    pub(crate) version: PluginVersion,
    /// False when these bytes were already a version.
    pub(crate) created: bool,
    /// Compiling and type-checking (or loading from the compile cache).
    pub(crate) compile: std::time::Duration,
    /// Storing the bytes and the record, and swapping the version in.
    pub(crate) activation: std::time::Duration,
}

/// How the runs a version served went.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct VersionStats {
    pub(crate) runs: u64,
    pub(crate) failed: u64,
    pub(crate) conversational: u64,
    pub(crate) with_files: u64,
    pub(crate) fix_rounds: u64,
    pub(crate) errors_left: u64,
    pub(crate) mean_confidence: Option<f64>,
    pub(crate) prompt_tokens: i64,
    pub(crate) completion_tokens: i64,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum PluginError {
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("the component is {size} bytes, over the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("no version {0} of this role")]
    UnknownVersion(String),
    #[error("version {0} is active; activate another version first")]
    Active(String),
    #[error("share {0} is not between 0 and 1")]
    BadShare(f64),
    #[error("there is no earlier version to roll back to")]
    NothingToRollBack,
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("cannot store the component: {0}")]
    Storage(String),
    #[error("version {version} is in {pipelines} project pipeline(s); take it out of them first")]
    InUse { version: String, pipelines: i64 },
    #[error("{0}")]
    BadPipeline(String),
}

/// Loaded components kept for pinned versions, chained validators and canaries, so a run does
/// not deserialize them again. Bounded: past the cap the least recently loaded goes.
const LOADED_CAP: usize = 64;

/// Loaded components by role and version, each with the tick it was last used at.
type LoadedAgents = HashMap<(Role, String), (u64, Arc<Agent>)>;

#[derive(Clone)]
pub(crate) struct PluginStore {
    db: Database,
    runtime: Arc<AgentRuntime>,
    dir: PathBuf,
    pub(crate) max_bytes: usize,
    /// How many validators a project may chain after the main one.
    pub(crate) max_extra_validators: usize,
    /// Recorded runs one evaluation may validate again.
    pub(crate) eval_max_runs: i64,
    loaded: Arc<Mutex<LoadedAgents>>,
}

impl PluginStore {
    pub(crate) fn new(
        db: Database,
        runtime: Arc<AgentRuntime>,
        dir: PathBuf,
        max_bytes: usize,
        max_extra_validators: usize,
    ) -> Self {
        // An upload cut short by a kill leaves its temporary file. The data directory is this
        // host's alone (its lock), so whatever temporary file is there, no live process writes.
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') && name.ends_with(".tmp") {
                match std::fs::remove_file(entry.path()) {
                    Ok(()) => {
                        tracing::warn!(file = %name, "removed a component upload a stopped host left half-written")
                    }
                    Err(e) => tracing::warn!(file = %name, "cannot remove a half-written upload: {e}"),
                }
            }
        }
        Self { db, runtime, dir, max_bytes, max_extra_validators, eval_max_runs: 200, loaded: Default::default() }
    }

    fn blob(&self, version: &str) -> PathBuf {
        self.dir.join(format!("{version}.wasm"))
    }

    /// Checks `bytes` against `role`, stores them as a version (the same bytes twice are one
    /// version) and, if asked, makes it active.
    pub(crate) async fn upload(
        &self,
        role: Role,
        bytes: &[u8],
        author: &str,
        notes: &str,
        activate: bool,
    ) -> Result<Uploaded, PluginError> {
        if bytes.len() > self.max_bytes {
            return Err(PluginError::TooLarge { size: bytes.len(), limit: self.max_bytes });
        }
        let runtime = self.runtime.clone();
        let owned = bytes.to_vec();
        let started = std::time::Instant::now();
        // Compiling takes a while: off the async threads.
        let agent = tokio::task::spawn_blocking(move || runtime.load(role, &owned))
            .await
            .map_err(|e| PluginError::Storage(e.to_string()))??;
        let compile = started.elapsed();
        let version = content_hash(bytes);
        if !self.blob(&version).exists() {
            self.write_local(&version, bytes)?;
        }
        // In the database before the record names it: any host that reads the record finds them.
        store::put_blob(&self.db, &version, bytes).await?;
        let record = PluginVersion {
            role: role.as_str().into(),
            version: version.clone(),
            size: bytes.len() as i64,
            contract: format!("blink:agents@{CONTRACT_VERSION}"),
            author: author.into(),
            notes: notes.into(),
            created_at: now_ms(),
        };
        let created = store::insert_plugin_version(&self.db, &record).await?;
        let stored = store::plugin_version(&self.db, role.as_str(), &version).await?.unwrap_or(record);
        let agent = self.remember((role, version.clone()), agent);
        if activate {
            store::set_active_plugin(&self.db, role.as_str(), &version).await?;
            self.runtime.activate(agent);
            crate::telemetry::swap(role.as_str());
            tracing::info!(%role, version, "plugin version uploaded and activated");
            self.announce().await;
        } else {
            tracing::info!(%role, version, "plugin version uploaded");
        }
        Ok(Uploaded { version: stored, created, compile, activation: started.elapsed() - compile })
    }

    /// The component bytes of a stored version or (`builtin`) of the built-in agent.
    pub(crate) async fn bytes(&self, role: Role, version: &str) -> Result<Vec<u8>, PluginError> {
        if version == "builtin" || version == self.runtime.builtin_version(role) {
            return Ok(crate::runtime::builtin_bytes(role).to_vec());
        }
        if store::plugin_version(&self.db, role.as_str(), version).await?.is_none() {
            return Err(PluginError::UnknownVersion(version.into()));
        }
        self.stored_bytes(version).await
    }

    /// Writes `bytes` as this host's copy of `version`: whole or absent, after a power loss too.
    fn write_local(&self, version: &str, bytes: &[u8]) -> Result<(), PluginError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| PluginError::Storage(e.to_string()))?;
        let path = self.blob(version);
        let tmp = self.dir.join(format!(".{version}.{}.tmp", std::process::id()));
        let write = || -> std::io::Result<()> {
            use std::io::Write as _;
            let mut file = std::fs::File::create(&tmp)?;
            file.write_all(bytes)?;
            file.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            std::fs::File::open(&self.dir)?.sync_all()
        };
        write().map_err(|e| PluginError::Storage(e.to_string()))
    }

    /// A stored version's bytes: this host's copy when it is whole, else the database's, kept
    /// here for next time (a host that never saw a version gets it from any other's upload).
    async fn stored_bytes(&self, version: &str) -> Result<Vec<u8>, PluginError> {
        if let Ok(bytes) = std::fs::read(self.blob(version))
            && content_hash(&bytes) == version
        {
            return Ok(bytes);
        }
        let Some(bytes) = store::blob(&self.db, version).await? else {
            return Err(PluginError::Storage(format!(
                "version {version} has its bytes neither here nor in the database"
            )));
        };
        // A version is its bytes' hash: bytes that do not hash to it are not that version.
        if content_hash(&bytes) != version {
            return Err(PluginError::Storage(format!("the database's bytes of version {version} do not hash to it")));
        }
        if let Err(e) = self.write_local(version, &bytes) {
            tracing::warn!(version, "cannot keep a copy of the version here: {e}");
        }
        Ok(bytes)
    }

    /// Tells the other hosts on this database that what serves has changed. A notice that does
    /// not arrive is healed by their periodic reconcile, so a failure here is only logged.
    async fn announce(&self) {
        if let Err(e) = self.db.notify(crate::db::CHANGES, "plugins").await {
            tracing::warn!("cannot tell the other hosts of this change (they reconcile on their own): {e}");
        }
    }

    /// Makes a stored version (or `builtin`) the role's active one.
    pub(crate) async fn activate(&self, role: Role, version: &str) -> Result<(), PluginError> {
        if version == "builtin" || version == self.runtime.builtin_version(role) {
            store::clear_active_plugin(&self.db, role.as_str()).await?;
            self.runtime.activate_builtin(role)?;
            crate::telemetry::swap(role.as_str());
            self.announce().await;
            return Ok(());
        }
        if store::plugin_version(&self.db, role.as_str(), version).await?.is_none() {
            return Err(PluginError::UnknownVersion(version.into()));
        }
        let agent = self.load_stored(role, version).await?;
        store::set_active_plugin(&self.db, role.as_str(), version).await?;
        self.runtime.activate(agent);
        crate::telemetry::swap(role.as_str());
        tracing::info!(%role, version, "plugin version activated");
        self.announce().await;
        Ok(())
    }

    /// Goes back to the version that was active before the current one.
    pub(crate) async fn rollback(&self, role: Role) -> Result<String, PluginError> {
        let Some(store::ActivePlugin { previous, .. }) = store::active_plugin(&self.db, role.as_str()).await? else {
            return Err(PluginError::NothingToRollBack);
        };
        let target = previous.unwrap_or_else(|| "builtin".into());
        self.activate(role, &target).await?;
        Ok(target)
    }

    pub(crate) async fn delete(&self, role: Role, version: &str) -> Result<(), PluginError> {
        if self.runtime.active(role).version.as_ref() == version {
            return Err(PluginError::Active(version.into()));
        }
        let pipelines = store::pipelines_using(&self.db, version).await?;
        if pipelines > 0 {
            return Err(PluginError::InUse { version: version.into(), pipelines });
        }
        if !store::delete_plugin_version(&self.db, role.as_str(), version).await? {
            return Err(PluginError::UnknownVersion(version.into()));
        }
        // The bytes may serve the same version of another role.
        if !store::plugin_version_exists_anywhere(&self.db, version).await? {
            store::delete_blob(&self.db, version).await?;
            let _ = std::fs::remove_file(self.blob(version));
        }
        Ok(())
    }

    /// Sends `share` (0 to 1) of new runs to `version`; a share of 0 ends the canary.
    pub(crate) async fn set_canary(&self, role: Role, version: &str, share: f64) -> Result<(), PluginError> {
        if !(0.0..=1.0).contains(&share) || share.is_nan() {
            return Err(PluginError::BadShare(share));
        }
        if share == 0.0 {
            store::set_canary(&self.db, role.as_str(), None).await?;
            self.runtime.set_canary(role, None);
            self.announce().await;
            return Ok(());
        }
        let agent = self.agent(role, version).await?;
        // Parts per million: what is stored is what serves, after a restart too.
        let ppm = (share * 1e6).round() as i64;
        store::set_canary(&self.db, role.as_str(), Some((&agent.version, ppm))).await?;
        self.runtime.set_canary(role, Some(Canary { agent, share: ppm as f64 / 1e6 }));
        tracing::info!(%role, version, share, "canary set");
        self.announce().await;
        Ok(())
    }

    /// A stored version of `role`, or its built-in (`builtin` or the built-in's hash), loaded.
    pub(crate) async fn agent(&self, role: Role, version: &str) -> Result<Arc<Agent>, PluginError> {
        if version == "builtin" || version == self.runtime.builtin_version(role) {
            let key = (role, self.runtime.builtin_version(role).to_string());
            if let Some(agent) = self.cached(&key) {
                return Ok(agent);
            }
            let runtime = self.runtime.clone();
            let agent = tokio::task::spawn_blocking(move || runtime.builtin(role))
                .await
                .map_err(|e| PluginError::Storage(e.to_string()))??;
            return Ok(self.remember(key, agent));
        }
        if store::plugin_version(&self.db, role.as_str(), version).await?.is_none() {
            return Err(PluginError::UnknownVersion(version.into()));
        }
        self.load_stored(role, version).await
    }

    fn cached(&self, key: &(Role, String)) -> Option<Arc<Agent>> {
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        let tick = loaded.values().map(|(t, _)| *t).max().unwrap_or(0) + 1;
        loaded.get_mut(key).map(|(t, agent)| {
            *t = tick;
            agent.clone()
        })
    }

    fn remember(&self, key: (Role, String), agent: Arc<Agent>) -> Arc<Agent> {
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        if loaded.len() >= LOADED_CAP
            && let Some(oldest) = loaded.iter().min_by_key(|(_, (t, _))| *t).map(|(k, _)| k.clone())
        {
            loaded.remove(&oldest);
        }
        let tick = loaded.values().map(|(t, _)| *t).max().unwrap_or(0) + 1;
        loaded.insert(key, (tick, agent.clone()));
        agent
    }

    /// How runs served by `version` of `role` went.
    pub(crate) async fn stats(&self, role: Role, version: &str) -> Result<VersionStats, PluginError> {
        let runs = store::runs_served_by(&self.db, role.as_str(), version).await?;
        let mut stats = VersionStats::default();
        let mut confidence_sum = 0u64;
        for run in runs {
            stats.runs += 1;
            stats.prompt_tokens += run.prompt_tokens;
            stats.completion_tokens += run.completion_tokens;
            let outcome: serde_json::Value = serde_json::from_str(&run.outcome).unwrap_or_default();
            match outcome["kind"].as_str() {
                Some("failed") => stats.failed += 1,
                Some("conversational") => stats.conversational += 1,
                Some("files") => {
                    stats.with_files += 1;
                    stats.fix_rounds += outcome["fixRounds"].as_u64().unwrap_or(0);
                    stats.errors_left += outcome["errorsLeft"].as_u64().unwrap_or(0);
                    confidence_sum += outcome["confidence"].as_u64().unwrap_or(0);
                }
                _ => {}
            }
        }
        if stats.with_files > 0 {
            stats.mean_confidence = Some(confidence_sum as f64 / stats.with_files as f64);
        }
        Ok(stats)
    }

    pub(crate) async fn list(&self) -> Result<Vec<PluginVersion>, PluginError> {
        Ok(store::plugin_versions(&self.db).await?)
    }

    async fn load_stored(&self, role: Role, version: &str) -> Result<Arc<Agent>, PluginError> {
        let key = (role, version.to_string());
        if let Some(agent) = self.cached(&key) {
            return Ok(agent);
        }
        let bytes = self.stored_bytes(version).await?;
        let runtime = self.runtime.clone();
        let agent = tokio::task::spawn_blocking(move || runtime.load(role, &bytes))
            .await
            .map_err(|e| PluginError::Storage(e.to_string()))??;
        Ok(self.remember(key, agent))
    }

    /// Makes the stored active versions active again after a restart. Versions stored before
    /// the database kept their bytes are copied in from this host's data directory first.
    pub(crate) async fn restore(&self) -> Result<(), DbError> {
        for version in store::versions_without_blob(&self.db).await? {
            match std::fs::read(self.blob(&version)) {
                Ok(bytes) if content_hash(&bytes) == version => store::put_blob(&self.db, &version, &bytes).await?,
                _ => tracing::warn!(version, "a stored version's bytes are neither in the database nor on this host"),
            }
        }
        self.reconcile().await
    }

    /// Makes this host serve what the database says is active and in canary, loading any version
    /// it has not seen. Another host's swap reaches this one here, by notice or by the periodic
    /// reconcile. A version that cannot be loaded leaves the current one serving and says why.
    pub(crate) async fn reconcile(&self) -> Result<(), DbError> {
        for role in Role::ALL {
            let want = store::active_plugin(&self.db, role.as_str()).await?.map(|a| a.version);
            let have = self.runtime.active(role).version.to_string();
            match want {
                Some(version) if version != have => match self.load_stored(role, &version).await {
                    Ok(agent) => {
                        self.runtime.activate(agent);
                        crate::telemetry::swap(role.as_str());
                        tracing::info!(%role, version, "serving the active version");
                    }
                    Err(e) => tracing::error!(%role, version, "cannot load the active version, keeping {have}: {e}"),
                },
                None if have != self.runtime.builtin_version(role) => match self.runtime.activate_builtin(role) {
                    Ok(()) => {
                        crate::telemetry::swap(role.as_str());
                        tracing::info!(%role, "serving the built-in version");
                    }
                    Err(e) => tracing::error!(%role, "cannot load the built-in version, keeping {have}: {e}"),
                },
                _ => {}
            }
            let want = store::canary(&self.db, role.as_str()).await?;
            let have = self.runtime.canary(role);
            match want {
                None if have.is_some() => {
                    self.runtime.set_canary(role, None);
                    tracing::info!(%role, "the canary ended");
                }
                None => {}
                Some(row) => {
                    let share = row.share_ppm as f64 / 1e6;
                    if have.is_some_and(|c| c.agent.version.as_ref() == row.version && c.share == share) {
                        continue;
                    }
                    match self.agent(role, &row.version).await {
                        Ok(agent) => {
                            self.runtime.set_canary(role, Some(Canary { agent, share }));
                            tracing::info!(%role, version = row.version, share, "serving the canary");
                        }
                        Err(e) => tracing::error!(%role, version = row.version, "cannot load the canary: {e}"),
                    }
                }
            }
        }
        Ok(())
    }
}

//! The plugin store: versions of each agent role that operators upload, kept in the database with
//! their bytes in the data directory, and the active version of each role.
//!
//! A version becomes active only after it compiled and type-checked against its role's world; a
//! bad upload changes nothing. The runtime swaps the active pointer atomically, so runs already
//! going keep the version they started with, and the active set is restored at start.

pub mod watch;

use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;

use crate::db::{Database, DbError, now_ms};
use crate::runtime::{AgentRuntime, CONTRACT_VERSION, Canary, LoadError, Role, content_hash};

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginVersion {
    pub role: String,
    pub version: String,
    pub size: i64,
    pub contract: String,
    pub author: String,
    pub notes: String,
    pub created_at: i64,
}

/// How the runs a version served went.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionStats {
    pub runs: u64,
    pub failed: u64,
    pub conversational: u64,
    pub with_files: u64,
    pub fix_rounds: u64,
    pub errors_left: u64,
    pub mean_confidence: Option<f64>,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum PluginError {
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
}

#[derive(Clone)]
pub struct PluginStore {
    db: Database,
    runtime: Arc<AgentRuntime>,
    dir: PathBuf,
    pub max_bytes: usize,
}

impl PluginStore {
    pub fn new(db: Database, runtime: Arc<AgentRuntime>, dir: PathBuf, max_bytes: usize) -> Self {
        Self { db, runtime, dir, max_bytes }
    }

    fn blob(&self, version: &str) -> PathBuf {
        self.dir.join(format!("{version}.wasm"))
    }

    /// Checks `bytes` against `role`, stores them as a version (the same bytes twice are one
    /// version) and makes it active.
    pub async fn upload(
        &self,
        role: Role,
        bytes: &[u8],
        author: &str,
        notes: &str,
    ) -> Result<(PluginVersion, bool), PluginError> {
        if bytes.len() > self.max_bytes {
            return Err(PluginError::TooLarge { size: bytes.len(), limit: self.max_bytes });
        }
        let runtime = self.runtime.clone();
        let owned = bytes.to_vec();
        // Compiling takes a while: off the async threads.
        let agent = tokio::task::spawn_blocking(move || runtime.load(role, &owned))
            .await
            .map_err(|e| PluginError::Storage(e.to_string()))??;
        let version = content_hash(bytes);
        std::fs::create_dir_all(&self.dir).map_err(|e| PluginError::Storage(e.to_string()))?;
        let path = self.blob(&version);
        if !path.exists() {
            let tmp = self.dir.join(format!(".{version}.{}.tmp", std::process::id()));
            std::fs::write(&tmp, bytes)
                .and_then(|()| std::fs::rename(&tmp, &path))
                .map_err(|e| PluginError::Storage(e.to_string()))?;
        }
        let record = PluginVersion {
            role: role.as_str().into(),
            version: version.clone(),
            size: bytes.len() as i64,
            contract: format!("blink:agents@{CONTRACT_VERSION}"),
            author: author.into(),
            notes: notes.into(),
            created_at: now_ms(),
        };
        let created = self.db.insert_plugin_version(&record).await?;
        let stored = self.db.plugin_version(role.as_str(), &version).await?.unwrap_or(record);
        self.db.set_active_plugin(role.as_str(), &version).await?;
        self.runtime.activate(agent);
        tracing::info!(%role, version, "plugin version uploaded and activated");
        Ok((stored, created))
    }

    /// Makes a stored version (or `builtin`) the role's active one.
    pub async fn activate(&self, role: Role, version: &str) -> Result<(), PluginError> {
        if version == "builtin" || version == self.runtime.builtin_version(role) {
            self.db.clear_active_plugin(role.as_str()).await?;
            self.runtime.activate_builtin(role)?;
            return Ok(());
        }
        if self.db.plugin_version(role.as_str(), version).await?.is_none() {
            return Err(PluginError::UnknownVersion(version.into()));
        }
        let agent = self.load_stored(role, version).await?;
        self.db.set_active_plugin(role.as_str(), version).await?;
        self.runtime.activate(agent);
        tracing::info!(%role, version, "plugin version activated");
        Ok(())
    }

    /// Goes back to the version that was active before the current one.
    pub async fn rollback(&self, role: Role) -> Result<String, PluginError> {
        let Some((_, previous)) = self.db.active_plugin(role.as_str()).await? else {
            return Err(PluginError::NothingToRollBack);
        };
        let target = previous.unwrap_or_else(|| "builtin".into());
        self.activate(role, &target).await?;
        Ok(target)
    }

    pub async fn delete(&self, role: Role, version: &str) -> Result<(), PluginError> {
        if self.runtime.active(role).version.as_ref() == version {
            return Err(PluginError::Active(version.into()));
        }
        if !self.db.delete_plugin_version(role.as_str(), version).await? {
            return Err(PluginError::UnknownVersion(version.into()));
        }
        // The bytes may serve the same version of another role.
        if !self.db.plugin_version_exists_anywhere(version).await? {
            let _ = std::fs::remove_file(self.blob(version));
        }
        Ok(())
    }

    /// Sends `share` (0 to 1) of new runs to `version`; a share of 0 ends the canary.
    pub async fn set_canary(&self, role: Role, version: &str, share: f64) -> Result<(), PluginError> {
        if !(0.0..=1.0).contains(&share) || share.is_nan() {
            return Err(PluginError::BadShare(share));
        }
        if share == 0.0 {
            self.runtime.set_canary(role, None);
            return Ok(());
        }
        let agent = if version == "builtin" || version == self.runtime.builtin_version(role) {
            let runtime = self.runtime.clone();
            tokio::task::spawn_blocking(move || runtime.builtin(role))
                .await
                .map_err(|e| PluginError::Storage(e.to_string()))??
        } else {
            if self.db.plugin_version(role.as_str(), version).await?.is_none() {
                return Err(PluginError::UnknownVersion(version.into()));
            }
            self.load_stored(role, version).await?
        };
        self.runtime.set_canary(role, Some(Canary { agent, share }));
        tracing::info!(%role, version, share, "canary set");
        Ok(())
    }

    /// How runs served by `version` of `role` went.
    pub async fn stats(&self, role: Role, version: &str) -> Result<VersionStats, PluginError> {
        let runs = self.db.runs_served_by(role.as_str(), version).await?;
        let mut stats = VersionStats::default();
        let mut confidence_sum = 0u64;
        for (outcome, prompt, completion) in runs {
            stats.runs += 1;
            stats.prompt_tokens += prompt;
            stats.completion_tokens += completion;
            let outcome: serde_json::Value = serde_json::from_str(&outcome).unwrap_or_default();
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

    pub async fn list(&self) -> Result<Vec<PluginVersion>, PluginError> {
        Ok(self.db.plugin_versions().await?)
    }

    async fn load_stored(&self, role: Role, version: &str) -> Result<Arc<crate::runtime::Agent>, PluginError> {
        let bytes = std::fs::read(self.blob(version))
            .map_err(|e| PluginError::Storage(format!("reading version {version}: {e}")))?;
        let runtime = self.runtime.clone();
        Ok(tokio::task::spawn_blocking(move || runtime.load(role, &bytes))
            .await
            .map_err(|e| PluginError::Storage(e.to_string()))??)
    }

    /// Makes the stored active versions active again after a restart. A version that cannot be
    /// loaded leaves the built-in agent in place and says why.
    pub async fn restore(&self) -> Result<(), DbError> {
        for role in Role::ALL {
            let Some((version, _)) = self.db.active_plugin(role.as_str()).await? else { continue };
            match self.load_stored(role, &version).await {
                Ok(agent) => {
                    self.runtime.activate(agent);
                    tracing::info!(%role, version, "restored the active plugin version");
                }
                Err(e) => {
                    tracing::error!(%role, version, "cannot restore the active plugin version, keeping the built-in: {e}")
                }
            }
        }
        Ok(())
    }
}

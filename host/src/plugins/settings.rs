//! Agent settings operators change while the host serves: a role's prompt, temperature or model,
//! read by the agents through `config`. The operator's file gives the defaults; settings set over
//! the API are stored, override the file key by key, and survive restarts.

use std::collections::BTreeMap;
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::db::{Database, DbError};
use crate::pipeline::AgentConfig;
use crate::runtime::Role;

/// Why settings were refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SettingsError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

pub(crate) struct AgentSettings {
    db: Database,
    /// From the operator's file, read at start.
    defaults: AgentConfig,
    /// What runs read: the defaults with the stored settings over them.
    current: Arc<ArcSwap<AgentConfig>>,
    /// Most bytes of keys and values one role's settings may hold.
    pub(crate) max_bytes: usize,
}

impl AgentSettings {
    pub(crate) fn new(db: Database, defaults: AgentConfig, max_bytes: usize) -> Self {
        let current = Arc::new(ArcSwap::from_pointee(defaults.clone()));
        Self { db, defaults, current, max_bytes }
    }

    /// The handle runs read their settings from.
    pub(crate) fn handle(&self) -> Arc<ArcSwap<AgentConfig>> {
        self.current.clone()
    }

    /// The operator's file, as read at start.
    pub(crate) fn file(&self) -> &AgentConfig {
        &self.defaults
    }

    pub(crate) fn current(&self) -> Arc<AgentConfig> {
        self.current.load_full()
    }

    /// The settings set over the API, by role.
    pub(crate) async fn overrides(&self) -> Result<BTreeMap<Role, BTreeMap<String, String>>, DbError> {
        let mut out = BTreeMap::new();
        for (role, json) in super::store::agent_settings(&self.db).await? {
            let (Ok(role), Ok(values)) = (role.parse::<Role>(), serde_json::from_str(&json)) else {
                tracing::error!(role, "stored agent settings cannot be read; ignored");
                continue;
            };
            out.insert(role, values);
        }
        Ok(out)
    }

    /// Reads the stored settings again and makes them what new runs see.
    pub(crate) async fn reload(&self) -> Result<(), DbError> {
        let mut merged = self.defaults.clone();
        for (role, values) in self.overrides().await? {
            let mut all = merged.get(&role).map(|m| (**m).clone()).unwrap_or_default();
            all.extend(values);
            merged.insert(role, Arc::new(all));
        }
        self.current.store(Arc::new(merged));
        Ok(())
    }

    /// Replaces the API-set settings of `role` (an empty map goes back to the file's) and applies
    /// them to new runs at once. Values are strings; numbers and booleans are taken as written.
    pub(crate) async fn set(
        &self,
        role: Role,
        values: serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), SettingsError> {
        let mut settings = BTreeMap::new();
        for (key, value) in values {
            if key.is_empty()
                || key.len() > 64
                || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(SettingsError::Invalid(format!(
                    "{key:?} is not a setting name (1-64 letters, digits, _ or -)"
                )));
            }
            let value = match value {
                serde_json::Value::String(s) => s,
                v @ (serde_json::Value::Number(_) | serde_json::Value::Bool(_)) => v.to_string(),
                other => {
                    return Err(SettingsError::Invalid(format!(
                        "setting {key:?} is {other}; a setting is a string, a number or a boolean"
                    )));
                }
            };
            settings.insert(key, value);
        }
        let size: usize = settings.iter().map(|(k, v)| k.len() + v.len()).sum();
        if size > self.max_bytes {
            return Err(SettingsError::Invalid(format!(
                "the {role}'s settings total {size} bytes; at most {} are accepted",
                self.max_bytes
            )));
        }
        let json = serde_json::to_string(&settings).map_err(|e| SettingsError::Invalid(e.to_string()))?;
        super::store::set_agent_settings(&self.db, role.as_str(), &json).await?;
        self.reload().await?;
        tracing::info!(%role, keys = settings.len(), "agent settings changed");
        if let Err(e) = self.db.notify(crate::db::CHANGES, "settings").await {
            tracing::warn!("cannot tell the other hosts of this change (they reconcile on their own): {e}");
        }
        Ok(())
    }
}

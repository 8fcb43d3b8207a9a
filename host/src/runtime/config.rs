//! The `config` capability: the read-only settings an operator gives the agent's role.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::bindings::config;

/// The `config` import of one agent call.
pub(crate) struct ConfigImport(pub(crate) Arc<BTreeMap<String, String>>);

impl config::Host for ConfigImport {
    async fn get(&mut self, key: String) -> Option<String> {
        self.0.get(&key).cloned()
    }
}

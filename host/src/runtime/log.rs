//! The `log` capability: an agent's diagnostics, in the host's log under its role and version,
//! counted against the call's output limit.

use std::sync::Arc;

use blink_agent_sdk as sdk;

use super::Role;
use super::bindings::log;

/// Longest log line kept; the rest is cut so a chatty agent cannot flood the host's log.
const MAX_LOG_LINE: usize = 4096;

/// The `log` import of one agent call.
pub(crate) struct LogImport {
    role: Role,
    version: Arc<str>,
    /// Bytes logged so far; once the output limit is reached, lines are dropped.
    pub(crate) logged_bytes: usize,
    output_limit: usize,
}

impl LogImport {
    pub(crate) fn new(role: Role, version: Arc<str>, output_limit: usize) -> Self {
        Self { role, version, logged_bytes: 0, output_limit }
    }
}

impl log::Host for LogImport {
    async fn log(&mut self, level: log::Level, message: String) {
        if self.logged_bytes >= self.output_limit {
            return;
        }
        self.logged_bytes += message.len();
        let message = sdk::planner::truncate(&message, MAX_LOG_LINE);
        let (role, version) = (self.role, &*self.version);
        match level {
            log::Level::Debug => tracing::debug!(%role, version, "{message}"),
            log::Level::Info => tracing::info!(%role, version, "{message}"),
            log::Level::Warn => tracing::warn!(%role, version, "{message}"),
            log::Level::Error => tracing::error!(%role, version, "{message}"),
        }
    }
}

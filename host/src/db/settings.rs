//! Which database the host keeps its tables in.

use clap::Args;

#[derive(Debug, Clone, Args)]
pub(crate) struct DatabaseSettings {
    /// `postgres://user:password@host/db` for PostgreSQL; default: SQLite at `<data dir>/blink.db`.
    #[arg(long = "database-url", env = "DATABASE_URL", hide_env_values = true)]
    pub(crate) url: Option<String>,
}

impl DatabaseSettings {
    pub(crate) fn resolved_url(&self, data_dir: &std::path::Path) -> String {
        self.url.clone().filter(|u| !u.trim().is_empty()).unwrap_or_else(|| super::sqlite_url(data_dir))
    }
}

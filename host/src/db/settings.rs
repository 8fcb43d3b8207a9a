//! Which database the host keeps its tables in, and how often a host sharing it with others
//! reads again what they changed.

use clap::Args;

#[derive(Debug, Clone, Args)]
pub(crate) struct DatabaseSettings {
    /// `postgres://user:password@host/db` for PostgreSQL; default: SQLite at `<data dir>/blink.db`.
    #[arg(long = "database-url", env = "DATABASE_URL", hide_env_values = true)]
    pub(crate) url: Option<String>,

    /// Seconds between two reads of what serves (active versions, canaries, agent settings) from
    /// a database other hosts share. Their changes arrive at once by notice; this heals a
    /// notice lost with a connection.
    #[arg(long, env = "BLINK_RECONCILE_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub(crate) reconcile_secs: u64,

    /// Connections for projects' turns across hosts on a shared database (one per operation in
    /// flight on a project: a commit, a build, a preview); past it, operations wait for one.
    #[arg(long, env = "BLINK_TURN_CONNECTIONS", default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub(crate) turn_connections: u32,
}

impl DatabaseSettings {
    pub(crate) fn resolved_url(&self, data_dir: &std::path::Path) -> String {
        self.url.clone().filter(|u| !u.trim().is_empty()).unwrap_or_else(|| super::sqlite_url(data_dir))
    }
}

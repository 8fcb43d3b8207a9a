//! The database: SQLite embedded by default (a file in the data directory, WAL mode), PostgreSQL
//! through `DATABASE_URL`. One set of migrations (`host/migrations`) serves both.
//!
//! This module is the pool, the migrations, the error and the clock; each domain keeps the
//! queries of the tables it owns beside its logic (`projects`, `credits`, `plugins`, `pipeline`
//! for runs, `git` for remotes, `deploy` for releases and domains).

mod settings;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor};

pub(crate) use self::settings::DatabaseSettings;

/// Why a database operation failed, as callers need to tell it apart.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The database cannot be reached or failed; the request may succeed later.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
}

impl From<sqlx::Error> for DbError {
    fn from(e: sqlx::Error) -> Self {
        Self::Unavailable(e.to_string())
    }
}

#[derive(Clone)]
pub struct Database {
    pool: AnyPool,
    /// Where it is, for PostgreSQL's listeners (a connection of their own).
    url: std::sync::Arc<str>,
}

/// The channel on which hosts sharing a database tell each other that what serves has changed;
/// the payload names what (`plugins`, `settings`).
pub(crate) const CHANGES: &str = "blink_changes";

pub(crate) fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// The embedded default: a SQLite file in the data directory, created if missing.
pub fn sqlite_url(data_dir: &std::path::Path) -> String {
    format!("sqlite://{}?mode=rwc", data_dir.join("blink.db").display())
}

impl Database {
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        install_default_drivers();
        let sqlite = url.starts_with("sqlite:");
        let pool = AnyPoolOptions::new()
            .max_connections(if sqlite { 4 } else { 16 })
            .acquire_timeout(Duration::from_secs(5))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if sqlite {
                        // Writers wait for each other instead of failing with SQLITE_BUSY.
                        conn.execute("PRAGMA busy_timeout = 5000").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        // In WAL mode, FULL syncs the log at every commit: a commit the host
                        // answered for survives a power loss, not only a crash of the process.
                        conn.execute("PRAGMA synchronous = FULL").await?;
                    }
                    Ok(())
                })
            })
            .connect(url)
            .await
            .with_context(|| format!("connecting to the database at {}", redact(url)))?;
        if sqlite {
            sqlx::query("PRAGMA journal_mode = WAL").execute(&pool).await.context("enabling WAL")?;
        }
        Ok(Self { pool, url: url.into() })
    }

    /// Whether other hosts may share this database (PostgreSQL); a SQLite file is one host's.
    pub(crate) fn is_shared(&self) -> bool {
        !self.url.starts_with("sqlite:")
    }

    /// The PostgreSQL URL, for what needs connections of its own (listeners, turns).
    pub(crate) fn shared_url(&self) -> Option<&str> {
        self.is_shared().then_some(&*self.url)
    }

    /// Tells every host listening on `channel` (PostgreSQL's `NOTIFY`, sent when the statement
    /// commits). On SQLite, where a host is alone, there is no one to tell.
    pub(crate) async fn notify(&self, channel: &str, payload: &str) -> Result<(), DbError> {
        if self.is_shared() {
            sqlx::query("SELECT pg_notify($1, $2)").bind(channel).bind(payload).execute(&self.pool).await?;
        }
        Ok(())
    }

    /// A listener on `channel`, on its own connection; `None` on SQLite. It reconnects by itself
    /// after a lost connection; notices sent meanwhile are lost, which a reconcile heals.
    pub(crate) async fn listen(&self, channel: &str) -> anyhow::Result<Option<sqlx::postgres::PgListener>> {
        if !self.is_shared() {
            return Ok(None);
        }
        let mut listener = sqlx::postgres::PgListener::connect(&self.url)
            .await
            .with_context(|| format!("listening to {}", redact(&self.url)))?;
        listener.listen(channel).await?;
        Ok(Some(listener))
    }

    /// The pool, for the queries each domain keeps beside its own logic.
    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Connections open, and how many of them are idle.
    pub(crate) fn pool_usage(&self) -> (u32, usize) {
        (self.pool.size(), self.pool.num_idle())
    }

    /// Applies the migrations that have not run yet.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        sqlx::migrate!("./migrations").run(&self.pool).await.context("running the database migrations")?;
        Ok(())
    }
}

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{}://{user}:***@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

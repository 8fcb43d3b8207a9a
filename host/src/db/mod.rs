//! The database: SQLite embedded by default (a file in the data directory, WAL mode), PostgreSQL
//! through `DATABASE_URL`. One set of migrations (`host/migrations`) serves both.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor, Row};

/// Why a database operation failed, as callers need to tell it apart.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The database cannot be reached or failed; the request may succeed later.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error("project id {0:?} is already taken")]
    ProjectIdTaken(String),
}

impl From<sqlx::Error> for DbError {
    fn from(e: sqlx::Error) -> Self {
        Self::Unavailable(e.to_string())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Project {
    pub id: String,
    pub name: String,
    /// Unix milliseconds.
    pub created_at: i64,
}

#[derive(Clone)]
pub struct Database {
    pool: AnyPool,
}

pub fn now_ms() -> i64 {
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
        Ok(Self { pool })
    }

    /// Applies the migrations that have not run yet.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        sqlx::migrate!("./migrations").run(&self.pool).await.context("running the database migrations")?;
        Ok(())
    }

    /// Creates the user on first sight; later calls change nothing.
    pub async fn ensure_user(&self, id: &str, email: Option<&str>, starting_balance: i64) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO users (id, email, balance, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .bind(email)
        .bind(starting_balance)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Creates a project owned by `owner`. Re-creating one of the owner's projects returns it;
    /// an id someone else owns is refused.
    pub async fn create_project(&self, owner: &str, id: &str, name: &str) -> Result<(Project, bool), DbError> {
        let inserted = sqlx::query(
            "INSERT INTO projects (id, owner_id, name, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .bind(owner)
        .bind(name)
        .bind(now_ms())
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1;
        match self.project(owner, id).await? {
            Some(project) => Ok((project, inserted)),
            None => Err(DbError::ProjectIdTaken(id.to_string())),
        }
    }

    /// The project if it exists and belongs to `owner`; someone else's project is `None`, exactly
    /// like a missing one, so ids do not leak.
    pub async fn project(&self, owner: &str, id: &str) -> Result<Option<Project>, DbError> {
        let row = sqlx::query("SELECT id, name, created_at FROM projects WHERE id = $1 AND owner_id = $2")
            .bind(id)
            .bind(owner)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| Project { id: r.get(0), name: r.get(1), created_at: r.get(2) }))
    }

    pub async fn projects(&self, owner: &str) -> Result<Vec<Project>, DbError> {
        let rows = sqlx::query("SELECT id, name, created_at FROM projects WHERE owner_id = $1 ORDER BY created_at, id")
            .bind(owner)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(|r| Project { id: r.get(0), name: r.get(1), created_at: r.get(2) }).collect())
    }

    /// Deletes the owner's project; `false` when there is none of that id.
    pub async fn delete_project(&self, owner: &str, id: &str) -> Result<bool, DbError> {
        let done = sqlx::query("DELETE FROM projects WHERE id = $1 AND owner_id = $2")
            .bind(id)
            .bind(owner)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
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

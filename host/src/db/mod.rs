//! The database: SQLite embedded by default (a file in the data directory, WAL mode), PostgreSQL
//! through `DATABASE_URL`. One set of migrations (`host/migrations`) serves both.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use serde::Serialize;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor, Row};

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

/// One line of a user's recent usage.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LedgerEntry {
    pub kind: String,
    pub amount: i64,
    pub run_id: Option<String>,
    pub model: Option<String>,
    pub prompt_tokens: Option<i64>,
    pub completion_tokens: Option<i64>,
    pub reason: Option<String>,
    pub created_at: i64,
}

/// A stored version of a plugin component.
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

    /// The pool, for the queries each domain keeps beside its own logic.
    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
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
}

impl Database {
    pub async fn balance(&self, user: &str) -> Result<i64, DbError> {
        let balance: Option<i64> =
            sqlx::query_scalar("SELECT balance FROM users WHERE id = $1").bind(user).fetch_optional(&self.pool).await?;
        Ok(balance.unwrap_or(0))
    }

    /// Takes `amount` from the balance only if the balance covers it, and records the reservation.
    pub async fn debit_if_covered(&self, user: &str, run: &str, model: &str, amount: i64) -> Result<bool, DbError> {
        let mut tx = self.pool.begin().await?;
        let taken = sqlx::query("UPDATE users SET balance = balance - $1 WHERE id = $2 AND balance >= $1")
            .bind(amount)
            .bind(user)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 1;
        if taken {
            ledger_insert(&mut tx, user, Some(run), "reserve", -amount, Some(model), None, None, None).await?;
        }
        tx.commit().await?;
        Ok(taken)
    }

    /// Settles a reservation of `reserved` against the real `cost`: the difference goes back to
    /// the balance, or, when the call cost more, is taken from it down to zero at most.
    #[allow(clippy::too_many_arguments)]
    pub async fn settle(
        &self,
        user: &str,
        run: &str,
        model: &str,
        reserved: i64,
        cost: i64,
        prompt_tokens: i64,
        completion_tokens: i64,
    ) -> Result<(), DbError> {
        let mut tx = self.pool.begin().await?;
        let back = reserved - cost;
        let moved = if back >= 0 {
            sqlx::query("UPDATE users SET balance = balance + $1 WHERE id = $2")
                .bind(back)
                .bind(user)
                .execute(&mut *tx)
                .await?;
            back
        } else {
            // The overage is taken as far as the balance goes; the ledger records what was taken.
            // Writing first takes SQLite's write lock, so the read below cannot go stale.
            sqlx::query("UPDATE users SET balance = balance WHERE id = $1").bind(user).execute(&mut *tx).await?;
            let balance: i64 =
                sqlx::query_scalar("SELECT balance FROM users WHERE id = $1").bind(user).fetch_one(&mut *tx).await?;
            let taken = (-back).min(balance);
            sqlx::query("UPDATE users SET balance = balance - $1 WHERE id = $2 AND balance >= $1")
                .bind(taken)
                .bind(user)
                .execute(&mut *tx)
                .await?;
            -taken
        };
        let kind = if cost == 0 && prompt_tokens == 0 { "release" } else { "settle" };
        ledger_insert(
            &mut tx,
            user,
            Some(run),
            kind,
            moved,
            Some(model),
            Some(prompt_tokens),
            Some(completion_tokens),
            None,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Adds `amount` (negative to take) to a user's balance, creating the user if needed; returns
    /// the new balance.
    pub async fn grant(&self, user: &str, amount: i64, reason: &str) -> Result<i64, DbError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO users (id, email, balance, created_at) VALUES ($1, NULL, 0, $2) ON CONFLICT (id) DO NOTHING",
        )
        .bind(user)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE users SET balance = CASE WHEN balance + $1 < 0 THEN 0 ELSE balance + $1 END WHERE id = $2")
            .bind(amount)
            .bind(user)
            .execute(&mut *tx)
            .await?;
        ledger_insert(&mut tx, user, None, "grant", amount, None, None, None, Some(reason)).await?;
        let balance: i64 =
            sqlx::query_scalar("SELECT balance FROM users WHERE id = $1").bind(user).fetch_one(&mut *tx).await?;
        tx.commit().await?;
        Ok(balance)
    }

    pub async fn ledger(&self, user: &str, limit: i64) -> Result<Vec<LedgerEntry>, DbError> {
        let rows = sqlx::query(
            "SELECT kind, amount, run_id, model, prompt_tokens, completion_tokens, reason, created_at \
             FROM credit_ledger WHERE user_id = $1 ORDER BY created_at DESC, id LIMIT $2",
        )
        .bind(user)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| LedgerEntry {
                kind: r.get(0),
                amount: r.get(1),
                run_id: r.get(2),
                model: r.get(3),
                prompt_tokens: r.get(4),
                completion_tokens: r.get(5),
                reason: r.get(6),
                created_at: r.get(7),
            })
            .collect())
    }
}

/// A finished run, as stored.
#[derive(Debug, Clone)]
pub struct RunRecord {
    pub id: String,
    pub user_id: String,
    pub project_id: Option<String>,
    /// JSON: a summary of the request.
    pub request: String,
    /// JSON: role → component version.
    pub agents: String,
    /// JSON: how it ended.
    pub outcome: String,
    pub model_calls: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub created_at: i64,
    pub finished_at: i64,
}

impl Database {
    /// Stores a run and its events (each a JSON line as the client was sent it), all or nothing.
    pub async fn record_run(&self, run: &RunRecord, events: &[String]) -> Result<(), DbError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO runs (id, user_id, project_id, request, agents, outcome, model_calls, prompt_tokens, \
             completion_tokens, created_at, finished_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&run.id)
        .bind(&run.user_id)
        .bind(&run.project_id)
        .bind(&run.request)
        .bind(&run.agents)
        .bind(&run.outcome)
        .bind(run.model_calls)
        .bind(run.prompt_tokens)
        .bind(run.completion_tokens)
        .bind(run.created_at)
        .bind(run.finished_at)
        .execute(&mut *tx)
        .await?;
        for (seq, event) in events.iter().enumerate() {
            sqlx::query("INSERT INTO run_events (run_id, seq, event) VALUES ($1, $2, $3)")
                .bind(&run.id)
                .bind(seq as i64)
                .bind(event)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The owner's run and its events; someone else's run is `None`.
    pub async fn run(&self, owner: &str, id: &str) -> Result<Option<(RunRecord, Vec<String>)>, DbError> {
        let row = sqlx::query(
            "SELECT id, user_id, project_id, request, agents, outcome, model_calls, prompt_tokens, completion_tokens, \
             created_at, finished_at FROM runs WHERE id = $1 AND user_id = $2",
        )
        .bind(id)
        .bind(owner)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let record = RunRecord {
            id: r.get(0),
            user_id: r.get(1),
            project_id: r.get(2),
            request: r.get(3),
            agents: r.get(4),
            outcome: r.get(5),
            model_calls: r.get(6),
            prompt_tokens: r.get(7),
            completion_tokens: r.get(8),
            created_at: r.get(9),
            finished_at: r.get(10),
        };
        let events: Vec<String> = sqlx::query_scalar("SELECT event FROM run_events WHERE run_id = $1 ORDER BY seq")
            .bind(id)
            .fetch_all(&self.pool)
            .await?;
        Ok(Some((record, events)))
    }
}

impl Database {
    /// Stores a plugin version; `false` when those bytes were already a version of the role.
    pub async fn insert_plugin_version(&self, v: &PluginVersion) -> Result<bool, DbError> {
        let done = sqlx::query(
            "INSERT INTO plugin_versions (role, version, size, contract, author, notes, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (role, version) DO NOTHING",
        )
        .bind(&v.role)
        .bind(&v.version)
        .bind(v.size)
        .bind(&v.contract)
        .bind(&v.author)
        .bind(&v.notes)
        .bind(v.created_at)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn plugin_version(&self, role: &str, version: &str) -> Result<Option<PluginVersion>, DbError> {
        let row = sqlx::query(
            "SELECT role, version, size, contract, author, notes, created_at FROM plugin_versions WHERE role = $1 AND version = $2",
        )
        .bind(role)
        .bind(version)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(plugin_from_row))
    }

    pub async fn plugin_versions(&self) -> Result<Vec<PluginVersion>, DbError> {
        let rows = sqlx::query(
            "SELECT role, version, size, contract, author, notes, created_at FROM plugin_versions ORDER BY role, created_at, version",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(plugin_from_row).collect())
    }

    pub async fn plugin_version_exists_anywhere(&self, version: &str) -> Result<bool, DbError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM plugin_versions WHERE version = $1")
            .bind(version)
            .fetch_one(&self.pool)
            .await?;
        Ok(n > 0)
    }

    pub async fn delete_plugin_version(&self, role: &str, version: &str) -> Result<bool, DbError> {
        let done = sqlx::query("DELETE FROM plugin_versions WHERE role = $1 AND version = $2")
            .bind(role)
            .bind(version)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The role's active stored version and the one before it (`None`: the built-in).
    pub async fn active_plugin(&self, role: &str) -> Result<Option<(String, Option<String>)>, DbError> {
        let row = sqlx::query("SELECT version, previous FROM plugin_active WHERE role = $1")
            .bind(role)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| (r.get(0), r.get(1))))
    }

    /// Records `version` as active, remembering the one it replaces for a rollback. Single
    /// statements, each atomic: no read-then-write transaction for SQLite to refuse as stale.
    pub async fn set_active_plugin(&self, role: &str, version: &str) -> Result<(), DbError> {
        let now = now_ms();
        let replaced = sqlx::query(
            "UPDATE plugin_active SET previous = version, version = $2, changed_at = $3 WHERE role = $1 AND version <> $2",
        )
        .bind(role)
        .bind(version)
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if replaced == 0 {
            sqlx::query(
                "INSERT INTO plugin_active (role, version, previous, changed_at) VALUES ($1, $2, NULL, $3) \
                 ON CONFLICT (role) DO NOTHING",
            )
            .bind(role)
            .bind(version)
            .bind(now)
            .execute(&self.pool)
            .await?;
        }
        Ok(())
    }

    /// Outcome JSON and tokens of every run that `version` of `role` served, as its main agent
    /// or (for validators) as a chained one.
    pub async fn runs_served_by(&self, role: &str, version: &str) -> Result<Vec<(String, i64, i64)>, DbError> {
        // A content hash is unique enough for LIKE to narrow the rows; the exact role is checked
        // on the parsed agents, so no pattern can match across keys.
        let rows =
            sqlx::query("SELECT outcome, prompt_tokens, completion_tokens, agents FROM runs WHERE agents LIKE $1")
                .bind(format!("%{version}%"))
                .fetch_all(&self.pool)
                .await?;
        let chained = format!("{role}+");
        Ok(rows
            .into_iter()
            .filter(|r| {
                let agents: std::collections::BTreeMap<String, String> =
                    serde_json::from_str(&r.get::<String, _>(3)).unwrap_or_default();
                agents.iter().any(|(k, v)| v == version && (k == role || k.starts_with(&chained)))
            })
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect())
    }

    /// The built-in agent serves the role again.
    pub async fn clear_active_plugin(&self, role: &str) -> Result<(), DbError> {
        sqlx::query("DELETE FROM plugin_active WHERE role = $1").bind(role).execute(&self.pool).await?;
        Ok(())
    }
}

impl Database {
    /// A project's pipeline settings (JSON), if it has any.
    pub async fn project_pipeline(&self, project: &str) -> Result<Option<String>, DbError> {
        Ok(sqlx::query_scalar("SELECT config FROM project_pipelines WHERE project_id = $1")
            .bind(project)
            .fetch_optional(&self.pool)
            .await?)
    }

    pub async fn set_project_pipeline(&self, project: &str, config: &str) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO project_pipelines (project_id, config, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (project_id) DO UPDATE SET config = excluded.config, updated_at = excluded.updated_at",
        )
        .bind(project)
        .bind(config)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// How many project pipelines name `version` (a content hash, so a substring match is exact
    /// enough).
    pub async fn pipelines_using(&self, version: &str) -> Result<i64, DbError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM project_pipelines WHERE config LIKE $1")
            .bind(format!("%{version}%"))
            .fetch_one(&self.pool)
            .await?)
    }

    /// The role's canary: version and share in parts per million.
    pub async fn canary(&self, role: &str) -> Result<Option<(String, i64)>, DbError> {
        let row = sqlx::query("SELECT version, share_ppm FROM plugin_canaries WHERE role = $1")
            .bind(role)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| (r.get(0), r.get(1))))
    }

    /// Records the role's canary; `None` ends it.
    pub async fn set_canary(&self, role: &str, canary: Option<(&str, i64)>) -> Result<(), DbError> {
        match canary {
            None => {
                sqlx::query("DELETE FROM plugin_canaries WHERE role = $1").bind(role).execute(&self.pool).await?;
            }
            Some((version, ppm)) => {
                sqlx::query(
                    "INSERT INTO plugin_canaries (role, version, share_ppm, changed_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (role) DO UPDATE SET version = excluded.version, share_ppm = excluded.share_ppm, \
                     changed_at = excluded.changed_at",
                )
                .bind(role)
                .bind(version)
                .bind(ppm)
                .bind(now_ms())
                .execute(&self.pool)
                .await?;
            }
        }
        Ok(())
    }

    /// Every role's settings set over the API (JSON objects).
    pub async fn agent_settings(&self) -> Result<Vec<(String, String)>, DbError> {
        let rows = sqlx::query("SELECT role, settings FROM agent_settings").fetch_all(&self.pool).await?;
        Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    pub async fn set_agent_settings(&self, role: &str, settings: &str) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO agent_settings (role, settings, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (role) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at",
        )
        .bind(role)
        .bind(settings)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

/// A project's git remote as stored (the token still sealed).
#[derive(Debug, Clone)]
pub struct GitRemote {
    pub url: String,
    pub branch: String,
    pub sealed_token: Option<String>,
}

impl Database {
    pub async fn git_remote(&self, project: &str) -> Result<Option<GitRemote>, DbError> {
        let row = sqlx::query("SELECT remote_url, branch, token FROM project_git WHERE project_id = $1")
            .bind(project)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| GitRemote { url: r.get(0), branch: r.get(1), sealed_token: r.get(2) }))
    }

    pub async fn set_git_remote(&self, project: &str, remote: &GitRemote) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO project_git (project_id, remote_url, branch, token, updated_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (project_id) DO UPDATE SET remote_url = excluded.remote_url, branch = excluded.branch, \
             token = excluded.token, updated_at = excluded.updated_at",
        )
        .bind(project)
        .bind(&remote.url)
        .bind(&remote.branch)
        .bind(&remote.sealed_token)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

impl Database {
    /// A release being stored: not listed, restorable or live until [`Database::complete_deploy`].
    pub async fn insert_deploy(
        &self,
        project: &str,
        id: &str,
        store: &str,
        files: i64,
        bytes: i64,
        created_at: i64,
    ) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO deploys (id, project_id, files, bytes, created_at, store, state) \
             VALUES ($1, $2, $3, $4, $5, $6, 'uploading')",
        )
        .bind(id)
        .bind(project)
        .bind(files)
        .bind(bytes)
        .bind(created_at)
        .bind(store)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Whether the release was still there to complete (its project may have been deleted).
    pub async fn complete_deploy(&self, id: &str, manifest: &str) -> Result<bool, DbError> {
        let done = sqlx::query("UPDATE deploys SET manifest = $1, state = 'complete' WHERE id = $2")
            .bind(manifest)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn set_deploy_state(&self, id: &str, state: &str) -> Result<(), DbError> {
        sqlx::query("UPDATE deploys SET state = $1 WHERE id = $2").bind(state).bind(id).execute(&self.pool).await?;
        Ok(())
    }

    /// An upload that failed and whose objects could not be swept yet.
    pub async fn fail_deploy(&self, id: &str) -> Result<(), DbError> {
        self.set_deploy_state(id, "failed").await
    }

    /// A release being deleted: no longer listed or restorable, its manifest kept until its
    /// objects are gone.
    pub async fn mark_deploy_deleting(&self, id: &str) -> Result<(), DbError> {
        self.set_deploy_state(id, "deleting").await
    }

    pub async fn deleting_deploys(&self, project: &str) -> Result<Vec<String>, DbError> {
        Ok(sqlx::query_scalar("SELECT id FROM deploys WHERE project_id = $1 AND state = 'deleting'")
            .bind(project)
            .fetch_all(&self.pool)
            .await?)
    }

    /// Uploads that failed, or were still in progress before `before` (their host stopped).
    pub async fn abandoned_deploys(&self, project: &str, before: i64) -> Result<Vec<String>, DbError> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM deploys WHERE project_id = $1 \
             AND (state = 'failed' OR (state = 'uploading' AND created_at < $2))",
        )
        .bind(project)
        .bind(before)
        .fetch_all(&self.pool)
        .await?)
    }

    /// A complete release's store kind and manifest (none for releases older than manifests).
    pub async fn deploy_manifest(&self, project: &str, id: &str) -> Result<Option<(String, Option<String>)>, DbError> {
        let row =
            sqlx::query("SELECT store, manifest FROM deploys WHERE id = $1 AND project_id = $2 AND state = 'complete'")
                .bind(id)
                .bind(project)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|r| (r.get(0), r.get(1))))
    }

    /// The switch: one statement, so a reader sees the old release or the new one. The release
    /// it replaces is marked retired (for the grace period before cleanup).
    pub async fn set_live_deploy(&self, project: &str, deploy: &str) -> Result<(), DbError> {
        sqlx::query(
            "UPDATE deploys SET retired_at = $1 WHERE id = (SELECT deploy_id FROM deploy_live WHERE project_id = $2) \
             AND id <> $3",
        )
        .bind(now_ms())
        .bind(project)
        .bind(deploy)
        .execute(&self.pool)
        .await?;
        sqlx::query(
            "INSERT INTO deploy_live (project_id, deploy_id, changed_at) VALUES ($1, $2, $3) \
             ON CONFLICT (project_id) DO UPDATE SET deploy_id = excluded.deploy_id, changed_at = excluded.changed_at",
        )
        .bind(project)
        .bind(deploy)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn live_deploy(&self, project: &str) -> Result<Option<String>, DbError> {
        Ok(sqlx::query_scalar("SELECT deploy_id FROM deploy_live WHERE project_id = $1")
            .bind(project)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// The project's releases, newest first: id, files, bytes, created, retired.
    #[allow(clippy::type_complexity)]
    pub async fn deploys(&self, project: &str) -> Result<Vec<(String, i64, i64, i64, Option<i64>)>, DbError> {
        let rows = sqlx::query(
            "SELECT id, files, bytes, created_at, retired_at FROM deploys WHERE project_id = $1 \
             AND state = 'complete' ORDER BY created_at DESC, id DESC",
        )
        .bind(project)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4))).collect())
    }

    pub async fn delete_deploy(&self, id: &str) -> Result<(), DbError> {
        sqlx::query("DELETE FROM deploys WHERE id = $1").bind(id).execute(&self.pool).await?;
        Ok(())
    }

    pub async fn delete_deploys(&self, project: &str) -> Result<(), DbError> {
        sqlx::query("DELETE FROM deploys WHERE project_id = $1").bind(project).execute(&self.pool).await?;
        sqlx::query("DELETE FROM deploy_live WHERE project_id = $1").bind(project).execute(&self.pool).await?;
        Ok(())
    }
}

/// A custom domain's row.
pub struct DomainRow {
    pub hostname: String,
    pub project_id: String,
    pub cf_hostname_id: Option<String>,
    pub ssl_status: String,
}

const DOMAIN_COLUMNS: &str = "hostname, project_id, cf_hostname_id, ssl_status";

fn domain_from_row(r: sqlx::any::AnyRow) -> DomainRow {
    DomainRow { hostname: r.get(0), project_id: r.get(1), cf_hostname_id: r.get(2), ssl_status: r.get(3) }
}

/// A custom-domain claim waiting for its proof.
pub struct ClaimRow {
    pub hostname: String,
    pub token: String,
    pub created_at: i64,
}

const CLAIM_COLUMNS: &str = "hostname, token, created_at";

fn claim_from_row(r: sqlx::any::AnyRow) -> ClaimRow {
    ClaimRow { hostname: r.get(0), token: r.get(1), created_at: r.get(2) }
}

impl Database {
    /// Gives a proven `hostname` to the project unless someone proved it first; the row as it
    /// is after, whose project says who won.
    pub async fn claim_domain(&self, hostname: &str, project: &str, user: &str) -> Result<DomainRow, DbError> {
        sqlx::query(
            "INSERT INTO domains (hostname, project_id, user_id, ssl_status, created_at) \
             VALUES ($1, $2, $3, 'none', $4) ON CONFLICT (hostname) DO NOTHING",
        )
        .bind(hostname)
        .bind(project)
        .bind(user)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        let row = sqlx::query(&format!("SELECT {DOMAIN_COLUMNS} FROM domains WHERE hostname = $1"))
            .bind(hostname)
            .fetch_one(&self.pool)
            .await?;
        Ok(domain_from_row(row))
    }

    /// The project that proved `hostname`, if one did.
    pub async fn domain_owner(&self, hostname: &str) -> Result<Option<DomainRow>, DbError> {
        let row = sqlx::query(&format!("SELECT {DOMAIN_COLUMNS} FROM domains WHERE hostname = $1"))
            .bind(hostname)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(domain_from_row))
    }

    pub async fn project_domains(&self, project: &str) -> Result<Vec<DomainRow>, DbError> {
        let rows =
            sqlx::query(&format!("SELECT {DOMAIN_COLUMNS} FROM domains WHERE project_id = $1 ORDER BY created_at"))
                .bind(project)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().map(domain_from_row).collect())
    }

    /// Domains with a custom hostname whose certificate is not active yet.
    pub async fn pending_domains(&self) -> Result<Vec<DomainRow>, DbError> {
        let rows = sqlx::query(&format!(
            "SELECT {DOMAIN_COLUMNS} FROM domains WHERE cf_hostname_id IS NOT NULL AND ssl_status <> 'active'"
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(domain_from_row).collect())
    }

    /// Every custom domain and its project.
    pub async fn all_domains(&self) -> Result<Vec<(String, String)>, DbError> {
        let rows = sqlx::query("SELECT hostname, project_id FROM domains").fetch_all(&self.pool).await?;
        Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    pub async fn set_domain_cloudflare(&self, hostname: &str, id: &str, ssl_status: &str) -> Result<(), DbError> {
        sqlx::query("UPDATE domains SET cf_hostname_id = $1, ssl_status = $2 WHERE hostname = $3")
            .bind(id)
            .bind(ssl_status)
            .bind(hostname)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn delete_domain(&self, hostname: &str) -> Result<(), DbError> {
        sqlx::query("DELETE FROM domains WHERE hostname = $1").bind(hostname).execute(&self.pool).await?;
        Ok(())
    }

    /// The project's claim of `hostname` waiting for its proof: the one it has unless that one
    /// expired (made before `expired_before`), else a new one with `token`.
    pub async fn claim_pending_domain(
        &self,
        hostname: &str,
        project: &str,
        user: &str,
        token: &str,
        expired_before: i64,
    ) -> Result<ClaimRow, DbError> {
        sqlx::query("DELETE FROM domain_claims WHERE hostname = $1 AND project_id = $2 AND created_at < $3")
            .bind(hostname)
            .bind(project)
            .bind(expired_before)
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO domain_claims (hostname, project_id, user_id, token, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (hostname, project_id) DO NOTHING",
        )
        .bind(hostname)
        .bind(project)
        .bind(user)
        .bind(token)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        self.domain_claim(hostname, project)
            .await?
            .ok_or_else(|| DbError::Unavailable("a claim just made vanished".into()))
    }

    pub async fn domain_claim(&self, hostname: &str, project: &str) -> Result<Option<ClaimRow>, DbError> {
        let row =
            sqlx::query(&format!("SELECT {CLAIM_COLUMNS} FROM domain_claims WHERE hostname = $1 AND project_id = $2"))
                .bind(hostname)
                .bind(project)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(claim_from_row))
    }

    pub async fn project_claims(&self, project: &str) -> Result<Vec<ClaimRow>, DbError> {
        let rows = sqlx::query(&format!(
            "SELECT {CLAIM_COLUMNS} FROM domain_claims WHERE project_id = $1 ORDER BY created_at"
        ))
        .bind(project)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(claim_from_row).collect())
    }

    /// Drops one project's claim of `hostname`, or with `project` `None` every claim of it (its
    /// owner proved it).
    pub async fn delete_domain_claims(&self, hostname: &str, project: Option<&str>) -> Result<bool, DbError> {
        let done = match project {
            Some(project) => {
                sqlx::query("DELETE FROM domain_claims WHERE hostname = $1 AND project_id = $2")
                    .bind(hostname)
                    .bind(project)
                    .execute(&self.pool)
                    .await?
            }
            None => {
                sqlx::query("DELETE FROM domain_claims WHERE hostname = $1").bind(hostname).execute(&self.pool).await?
            }
        };
        Ok(done.rows_affected() > 0)
    }

    pub async fn delete_project_claims(&self, project: &str) -> Result<(), DbError> {
        sqlx::query("DELETE FROM domain_claims WHERE project_id = $1").bind(project).execute(&self.pool).await?;
        Ok(())
    }

    /// Sweeps the claims made before `expired_before`.
    pub async fn delete_expired_claims(&self, expired_before: i64) -> Result<(), DbError> {
        sqlx::query("DELETE FROM domain_claims WHERE created_at < $1").bind(expired_before).execute(&self.pool).await?;
        Ok(())
    }

    pub async fn site_dns(&self, project: &str) -> Result<Option<String>, DbError> {
        Ok(sqlx::query_scalar("SELECT record_id FROM site_dns WHERE project_id = $1")
            .bind(project)
            .fetch_optional(&self.pool)
            .await?)
    }

    pub async fn set_site_dns(&self, project: &str, record: &str) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO site_dns (project_id, record_id) VALUES ($1, $2) \
             ON CONFLICT (project_id) DO UPDATE SET record_id = excluded.record_id",
        )
        .bind(project)
        .bind(record)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn delete_site_dns(&self, project: &str) -> Result<(), DbError> {
        sqlx::query("DELETE FROM site_dns WHERE project_id = $1").bind(project).execute(&self.pool).await?;
        Ok(())
    }
}

fn plugin_from_row(r: sqlx::any::AnyRow) -> PluginVersion {
    PluginVersion {
        role: r.get(0),
        version: r.get(1),
        size: r.get(2),
        contract: r.get(3),
        author: r.get(4),
        notes: r.get(5),
        created_at: r.get(6),
    }
}

#[allow(clippy::too_many_arguments)]
async fn ledger_insert(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    user: &str,
    run: Option<&str>,
    kind: &str,
    amount: i64,
    model: Option<&str>,
    prompt_tokens: Option<i64>,
    completion_tokens: Option<i64>,
    reason: Option<&str>,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO credit_ledger (id, user_id, run_id, kind, amount, model, prompt_tokens, completion_tokens, reason, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(user)
    .bind(run)
    .bind(kind)
    .bind(amount)
    .bind(model)
    .bind(prompt_tokens)
    .bind(completion_tokens)
    .bind(reason)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(())
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

//! The plugin tables: stored component versions (`plugin_versions`), the active one and the
//! canary per role (`active_plugins`), each project's pipeline (`project_pipelines`), and the
//! operator's settings per role (`agent_settings`).

use sqlx::Row;

use crate::db::{Database, DbError, now_ms};

/// A stored version of a plugin component.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PluginVersion {
    pub(crate) role: String,
    pub(crate) version: String,
    pub(crate) size: i64,
    pub(crate) contract: String,
    pub(crate) author: String,
    pub(crate) notes: String,
    pub(crate) created_at: i64,
}

/// Stores a plugin version; `false` when those bytes were already a version of the role.
pub(super) async fn insert_plugin_version(db: &Database, v: &PluginVersion) -> Result<bool, DbError> {
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
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

pub(super) async fn plugin_version(db: &Database, role: &str, version: &str) -> Result<Option<PluginVersion>, DbError> {
    let row = sqlx::query(
        "SELECT role, version, size, contract, author, notes, created_at FROM plugin_versions WHERE role = $1 AND version = $2",
    )
    .bind(role)
    .bind(version)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.map(plugin_from_row))
}

pub(super) async fn plugin_versions(db: &Database) -> Result<Vec<PluginVersion>, DbError> {
    let rows = sqlx::query(
        "SELECT role, version, size, contract, author, notes, created_at FROM plugin_versions ORDER BY role, created_at, version",
    )
    .fetch_all(db.pool())
    .await?;
    Ok(rows.into_iter().map(plugin_from_row).collect())
}

pub(super) async fn plugin_version_exists_anywhere(db: &Database, version: &str) -> Result<bool, DbError> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM plugin_versions WHERE version = $1")
        .bind(version)
        .fetch_one(db.pool())
        .await?;
    Ok(n > 0)
}

pub(super) async fn delete_plugin_version(db: &Database, role: &str, version: &str) -> Result<bool, DbError> {
    let done = sqlx::query("DELETE FROM plugin_versions WHERE role = $1 AND version = $2")
        .bind(role)
        .bind(version)
        .execute(db.pool())
        .await?;
    Ok(done.rows_affected() == 1)
}

/// A role's active stored version.
#[derive(sqlx::FromRow)]
pub(super) struct ActivePlugin {
    pub(super) version: String,
    /// The version it replaced, for a rollback (`None`: the built-in).
    pub(super) previous: Option<String>,
}

/// The role's active stored version, if it is not the built-in.
pub(super) async fn active_plugin(db: &Database, role: &str) -> Result<Option<ActivePlugin>, DbError> {
    Ok(sqlx::query_as("SELECT version, previous FROM plugin_active WHERE role = $1")
        .bind(role)
        .fetch_optional(db.pool())
        .await?)
}

/// Records `version` as active, remembering the one it replaces for a rollback. Single
/// statements, each atomic: no read-then-write transaction for SQLite to refuse as stale.
pub(super) async fn set_active_plugin(db: &Database, role: &str, version: &str) -> Result<(), DbError> {
    let now = now_ms();
    let replaced = sqlx::query(
        "UPDATE plugin_active SET previous = version, version = $2, changed_at = $3 WHERE role = $1 AND version <> $2",
    )
    .bind(role)
    .bind(version)
    .bind(now)
    .execute(db.pool())
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
        .execute(db.pool())
        .await?;
    }
    Ok(())
}

/// How one run that a version served went.
pub(super) struct ServedRun {
    /// The run's outcome, as JSON.
    pub(super) outcome: String,
    pub(super) prompt_tokens: i64,
    pub(super) completion_tokens: i64,
}

/// Every run that `version` of `role` served, as its main agent or (for validators) as a
/// chained one.
pub(super) async fn runs_served_by(db: &Database, role: &str, version: &str) -> Result<Vec<ServedRun>, DbError> {
    // A content hash is unique enough for LIKE to narrow the rows; the exact role is checked
    // on the parsed agents, so no pattern can match across keys.
    let rows = sqlx::query("SELECT outcome, prompt_tokens, completion_tokens, agents FROM runs WHERE agents LIKE $1")
        .bind(format!("%{version}%"))
        .fetch_all(db.pool())
        .await?;
    let chained = format!("{role}+");
    Ok(rows
        .into_iter()
        .filter(|r| {
            let agents: std::collections::BTreeMap<String, String> =
                serde_json::from_str(&r.get::<String, _>(3)).unwrap_or_default();
            agents.iter().any(|(k, v)| v == version && (k == role || k.starts_with(&chained)))
        })
        .map(|r| ServedRun { outcome: r.get(0), prompt_tokens: r.get(1), completion_tokens: r.get(2) })
        .collect())
}

/// The built-in agent serves the role again.
pub(super) async fn clear_active_plugin(db: &Database, role: &str) -> Result<(), DbError> {
    sqlx::query("DELETE FROM plugin_active WHERE role = $1").bind(role).execute(db.pool()).await?;
    Ok(())
}

/// A project's pipeline settings (JSON), if it has any.
pub(super) async fn project_pipeline(db: &Database, project: &str) -> Result<Option<String>, DbError> {
    Ok(sqlx::query_scalar("SELECT config FROM project_pipelines WHERE project_id = $1")
        .bind(project)
        .fetch_optional(db.pool())
        .await?)
}

pub(super) async fn set_project_pipeline(db: &Database, project: &str, config: &str) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO project_pipelines (project_id, config, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (project_id) DO UPDATE SET config = excluded.config, updated_at = excluded.updated_at",
    )
    .bind(project)
    .bind(config)
    .bind(now_ms())
    .execute(db.pool())
    .await?;
    Ok(())
}

/// How many project pipelines name `version` (a content hash, so a substring match is exact
/// enough).
pub(super) async fn pipelines_using(db: &Database, version: &str) -> Result<i64, DbError> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM project_pipelines WHERE config LIKE $1")
        .bind(format!("%{version}%"))
        .fetch_one(db.pool())
        .await?)
}

/// A role's canary.
#[derive(sqlx::FromRow)]
pub(super) struct CanaryRow {
    pub(super) version: String,
    /// Its share of runs, in parts per million.
    pub(super) share_ppm: i64,
}

pub(super) async fn canary(db: &Database, role: &str) -> Result<Option<CanaryRow>, DbError> {
    Ok(sqlx::query_as("SELECT version, share_ppm FROM plugin_canaries WHERE role = $1")
        .bind(role)
        .fetch_optional(db.pool())
        .await?)
}

/// Records the role's canary; `None` ends it.
pub(super) async fn set_canary(db: &Database, role: &str, canary: Option<(&str, i64)>) -> Result<(), DbError> {
    match canary {
        None => {
            sqlx::query("DELETE FROM plugin_canaries WHERE role = $1").bind(role).execute(db.pool()).await?;
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
            .execute(db.pool())
            .await?;
        }
    }
    Ok(())
}

/// Every role's settings set over the API (JSON objects).
pub(super) async fn agent_settings(db: &Database) -> Result<Vec<(String, String)>, DbError> {
    let rows = sqlx::query("SELECT role, settings FROM agent_settings").fetch_all(db.pool()).await?;
    Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
}

pub(super) async fn set_agent_settings(db: &Database, role: &str, settings: &str) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO agent_settings (role, settings, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (role) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at",
    )
    .bind(role)
    .bind(settings)
    .bind(now_ms())
    .execute(db.pool())
    .await?;
    Ok(())
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

/// Stores a component's bytes under its content hash; the same bytes twice are one row.
pub(super) async fn put_blob(db: &Database, version: &str, bytes: &[u8]) -> Result<(), DbError> {
    sqlx::query("INSERT INTO plugin_blobs (version, bytes) VALUES ($1, $2) ON CONFLICT (version) DO NOTHING")
        .bind(version)
        .bind(bytes.to_vec())
        .execute(db.pool())
        .await?;
    Ok(())
}

pub(super) async fn blob(db: &Database, version: &str) -> Result<Option<Vec<u8>>, DbError> {
    Ok(sqlx::query_scalar("SELECT bytes FROM plugin_blobs WHERE version = $1")
        .bind(version)
        .fetch_optional(db.pool())
        .await?)
}

pub(super) async fn delete_blob(db: &Database, version: &str) -> Result<(), DbError> {
    sqlx::query("DELETE FROM plugin_blobs WHERE version = $1").bind(version).execute(db.pool()).await?;
    Ok(())
}

/// Stored versions whose bytes are not in the database yet (stored before it kept them).
pub(super) async fn versions_without_blob(db: &Database) -> Result<Vec<String>, DbError> {
    Ok(sqlx::query_scalar(
        "SELECT DISTINCT version FROM plugin_versions WHERE version NOT IN (SELECT version FROM plugin_blobs)",
    )
    .fetch_all(db.pool())
    .await?)
}

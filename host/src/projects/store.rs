//! The `projects` table: one row per project, with its owner.

use sqlx::Row;

use super::ProjectError;
use crate::db::{Database, DbError, now_ms};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Project {
    pub(crate) id: String,
    pub(crate) name: String,
    /// Unix milliseconds.
    pub(crate) created_at: i64,
}

fn project(row: &sqlx::any::AnyRow) -> Project {
    Project { id: row.get(0), name: row.get(1), created_at: row.get(2) }
}

/// Creates a project owned by `owner`. Re-creating one of the owner's projects returns it; an id
/// someone else owns is refused like a missing project.
pub(super) async fn create(db: &Database, owner: &str, id: &str, name: &str) -> Result<(Project, bool), ProjectError> {
    let inserted = sqlx::query(
        "INSERT INTO projects (id, owner_id, name, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING",
    )
    .bind(id)
    .bind(owner)
    .bind(name)
    .bind(now_ms())
    .execute(db.pool())
    .await
    .map_err(DbError::from)?
    .rows_affected()
        == 1;
    match get(db, owner, id).await? {
        Some(project) => Ok((project, inserted)),
        None => Err(ProjectError::NotFound),
    }
}

/// The project if it exists and belongs to `owner`; someone else's is `None`, like a missing one.
pub(super) async fn get(db: &Database, owner: &str, id: &str) -> Result<Option<Project>, DbError> {
    let row = sqlx::query("SELECT id, name, created_at FROM projects WHERE id = $1 AND owner_id = $2")
        .bind(id)
        .bind(owner)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.as_ref().map(project))
}

/// Any project and its owner, for operators.
pub(super) async fn owner_of(db: &Database, id: &str) -> Result<Option<(Project, String)>, DbError> {
    let row = sqlx::query("SELECT id, name, created_at, owner_id FROM projects WHERE id = $1")
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.as_ref().map(|r| (project(r), r.get(3))))
}

pub(super) async fn list(db: &Database, owner: &str) -> Result<Vec<Project>, DbError> {
    let rows = sqlx::query("SELECT id, name, created_at FROM projects WHERE owner_id = $1 ORDER BY created_at, id")
        .bind(owner)
        .fetch_all(db.pool())
        .await?;
    Ok(rows.iter().map(project).collect())
}

/// Deletes the owner's project and the rows other domains keep under its id; `false` when the
/// owner has no project of that id.
pub(super) async fn delete(db: &Database, owner: &str, id: &str) -> Result<bool, DbError> {
    let done = sqlx::query("DELETE FROM projects WHERE id = $1 AND owner_id = $2")
        .bind(id)
        .bind(owner)
        .execute(db.pool())
        .await?;
    if done.rows_affected() != 1 {
        return Ok(false);
    }
    sqlx::query("DELETE FROM project_pipelines WHERE project_id = $1").bind(id).execute(db.pool()).await?;
    sqlx::query("DELETE FROM project_git WHERE project_id = $1").bind(id).execute(db.pool()).await?;
    Ok(true)
}

//! The `project_git` table: each project's remote, branch and sealed token.

use sqlx::Row;

use crate::db::{Database, DbError, now_ms};

/// A project's git remote as stored (the token still sealed).
#[derive(Debug, Clone)]
pub(crate) struct GitRemote {
    pub(crate) url: String,
    pub(crate) branch: String,
    pub(crate) sealed_token: Option<String>,
}

pub(super) async fn git_remote(db: &Database, project: &str) -> Result<Option<GitRemote>, DbError> {
    let row = sqlx::query("SELECT remote_url, branch, token FROM project_git WHERE project_id = $1")
        .bind(project)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.map(|r| GitRemote { url: r.get(0), branch: r.get(1), sealed_token: r.get(2) }))
}

pub(super) async fn set_git_remote(db: &Database, project: &str, remote: &GitRemote) -> Result<(), DbError> {
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
    .execute(db.pool())
    .await?;
    Ok(())
}

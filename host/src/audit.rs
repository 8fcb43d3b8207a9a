//! The audit log: every change an operator makes through the admin API, with who made it, kept
//! in the database so any host (and the console) can show it.

use serde::Serialize;
use sqlx::Row;

use crate::db::{Database, DbError, now_ms};

/// One change, as recorded.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub(crate) struct AuditEntry {
    pub(crate) id: String,
    /// Unix milliseconds.
    pub(crate) at: i64,
    /// `admin-token`, or `user:<id>` (with the e-mail when the token carries one).
    pub(crate) actor: String,
    pub(crate) method: String,
    pub(crate) path: String,
    /// The status the change was answered with; a refused change is recorded too.
    pub(crate) status: u16,
    /// What the change named beyond its path (an upload's author and notes, a grant's reason).
    pub(crate) detail: String,
}

/// Longest detail kept: the log says what happened, it does not archive request bodies.
const MAX_DETAIL: usize = 500;

pub(crate) async fn record(
    db: &Database,
    actor: &str,
    method: &str,
    path: &str,
    status: u16,
    detail: &str,
) -> Result<(), DbError> {
    let mut detail = detail.to_string();
    if detail.len() > MAX_DETAIL {
        let mut cut = MAX_DETAIL;
        while !detail.is_char_boundary(cut) {
            cut -= 1;
        }
        detail.truncate(cut);
        detail.push('…');
    }
    sqlx::query(
        "INSERT INTO audit_log (id, at, actor, method, path, status, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(now_ms())
    .bind(actor)
    .bind(method)
    .bind(path)
    .bind(i64::from(status))
    .bind(detail)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// The latest `limit` changes, newest first; with a cursor (the `at` and `id` of the last entry
/// seen), only those after it in that order, so entries of one millisecond are not skipped.
pub(crate) async fn recent(
    db: &Database,
    limit: i64,
    before: Option<i64>,
    before_id: Option<&str>,
) -> Result<Vec<AuditEntry>, DbError> {
    let rows = sqlx::query(
        "SELECT id, at, actor, method, path, status, detail FROM audit_log WHERE at < $1 OR (at = $1 AND id < $2) \
         ORDER BY at DESC, id DESC LIMIT $3",
    )
    .bind(before.unwrap_or(i64::MAX))
    .bind(before_id.unwrap_or_default())
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| AuditEntry {
            id: r.get(0),
            at: r.get(1),
            actor: r.get(2),
            method: r.get(3),
            path: r.get(4),
            status: u16::try_from(r.get::<i64, _>(5)).unwrap_or_default(),
            detail: r.get(6),
        })
        .collect())
}

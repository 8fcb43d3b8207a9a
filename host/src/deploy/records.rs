//! The deploy tables: releases (`deploys`) and the live one per project, custom domains
//! (`domains`) and their pending claims (`domain_claims`), and each site's DNS record (`site_dns`).

use sqlx::Row;

use crate::db::{Database, DbError, now_ms};

/// A release being stored: not listed, restorable or live until [`complete_deploy`].
pub(super) async fn insert_deploy(
    db: &Database,
    project: &str,
    id: &str,
    store: &str,
    files: i64,
    bytes: i64,
    instance: &str,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO deploys (id, project_id, files, bytes, created_at, store, state, instance_id) \
         VALUES ($1, $2, $3, $4, $5, $6, 'uploading', $7)",
    )
    .bind(id)
    .bind(project)
    .bind(files)
    .bind(bytes)
    .bind(now_ms())
    .bind(store)
    .bind(instance)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Marks failed the uploads whose host has had no heartbeat since `cutoff`; the count.
pub(super) async fn fail_orphaned_uploads(db: &Database, cutoff: i64) -> Result<u64, DbError> {
    let sql = format!(
        "UPDATE deploys SET state = 'failed' WHERE state = 'uploading' AND instance_id IS NOT NULL AND {}",
        crate::instances::not_live("instance_id", 1)
    );
    Ok(sqlx::query(&sql).bind(cutoff).execute(db.pool()).await?.rows_affected())
}

/// Whether the release was still there to complete (its project may have been deleted).
pub(super) async fn complete_deploy(db: &Database, id: &str, manifest: &str) -> Result<bool, DbError> {
    let done = sqlx::query("UPDATE deploys SET manifest = $1, state = 'complete' WHERE id = $2")
        .bind(manifest)
        .bind(id)
        .execute(db.pool())
        .await?;
    Ok(done.rows_affected() == 1)
}

async fn set_deploy_state(db: &Database, id: &str, state: &str) -> Result<(), DbError> {
    sqlx::query("UPDATE deploys SET state = $1 WHERE id = $2").bind(state).bind(id).execute(db.pool()).await?;
    Ok(())
}

/// An upload that failed and whose objects could not be swept yet.
pub(super) async fn fail_deploy(db: &Database, id: &str) -> Result<(), DbError> {
    set_deploy_state(db, id, "failed").await
}

/// A release being deleted: no longer listed or restorable, its manifest kept until its
/// objects are gone.
pub(super) async fn mark_deploy_deleting(db: &Database, id: &str) -> Result<(), DbError> {
    set_deploy_state(db, id, "deleting").await
}

pub(super) async fn deleting_deploys(db: &Database, project: &str) -> Result<Vec<String>, DbError> {
    Ok(sqlx::query_scalar("SELECT id FROM deploys WHERE project_id = $1 AND state = 'deleting'")
        .bind(project)
        .fetch_all(db.pool())
        .await?)
}

/// Uploads that failed, or were still in progress before `before` (their host stopped).
pub(super) async fn abandoned_deploys(db: &Database, project: &str, before: i64) -> Result<Vec<String>, DbError> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM deploys WHERE project_id = $1 \
         AND (state = 'failed' OR (state = 'uploading' AND created_at < $2))",
    )
    .bind(project)
    .bind(before)
    .fetch_all(db.pool())
    .await?)
}

/// Where a complete release's bytes are and what it holds.
#[derive(sqlx::FromRow)]
pub(super) struct StoredRelease {
    /// The kind of store that holds the bytes (`local`, `s3`).
    pub(super) store: String,
    /// The manifest's JSON; none for releases older than manifests.
    pub(super) manifest: Option<String>,
}

pub(super) async fn deploy_manifest(db: &Database, project: &str, id: &str) -> Result<Option<StoredRelease>, DbError> {
    Ok(sqlx::query_as("SELECT store, manifest FROM deploys WHERE id = $1 AND project_id = $2 AND state = 'complete'")
        .bind(id)
        .bind(project)
        .fetch_optional(db.pool())
        .await?)
}

/// The switch: one statement, so a reader sees the old release or the new one. The release
/// it replaces is marked retired (for the grace period before cleanup).
pub(super) async fn set_live_deploy(db: &Database, project: &str, deploy: &str) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE deploys SET retired_at = $1 WHERE id = (SELECT deploy_id FROM deploy_live WHERE project_id = $2) \
         AND id <> $3",
    )
    .bind(now_ms())
    .bind(project)
    .bind(deploy)
    .execute(db.pool())
    .await?;
    sqlx::query(
        "INSERT INTO deploy_live (project_id, deploy_id, changed_at) VALUES ($1, $2, $3) \
         ON CONFLICT (project_id) DO UPDATE SET deploy_id = excluded.deploy_id, changed_at = excluded.changed_at",
    )
    .bind(project)
    .bind(deploy)
    .bind(now_ms())
    .execute(db.pool())
    .await?;
    Ok(())
}

pub(super) async fn live_deploy(db: &Database, project: &str) -> Result<Option<String>, DbError> {
    Ok(sqlx::query_scalar("SELECT deploy_id FROM deploy_live WHERE project_id = $1")
        .bind(project)
        .fetch_optional(db.pool())
        .await?)
}

/// One complete release of a project.
#[derive(sqlx::FromRow)]
pub(super) struct DeployRow {
    pub(super) id: String,
    pub(super) files: i64,
    pub(super) bytes: i64,
    pub(super) created_at: i64,
    /// When another release replaced it as live.
    pub(super) retired_at: Option<i64>,
}

/// The project's complete releases, newest first.
pub(super) async fn deploys(db: &Database, project: &str) -> Result<Vec<DeployRow>, DbError> {
    Ok(sqlx::query_as(
        "SELECT id, files, bytes, created_at, retired_at FROM deploys WHERE project_id = $1 \
         AND state = 'complete' ORDER BY created_at DESC, id DESC",
    )
    .bind(project)
    .fetch_all(db.pool())
    .await?)
}

pub(super) async fn delete_deploy(db: &Database, id: &str) -> Result<(), DbError> {
    sqlx::query("DELETE FROM deploys WHERE id = $1").bind(id).execute(db.pool()).await?;
    Ok(())
}

pub(super) async fn delete_deploys(db: &Database, project: &str) -> Result<(), DbError> {
    sqlx::query("DELETE FROM deploys WHERE project_id = $1").bind(project).execute(db.pool()).await?;
    sqlx::query("DELETE FROM deploy_live WHERE project_id = $1").bind(project).execute(db.pool()).await?;
    Ok(())
}

/// A custom domain's row.
pub(crate) struct DomainRow {
    pub(crate) hostname: String,
    pub(crate) project_id: String,
    pub(crate) cf_hostname_id: Option<String>,
    pub(crate) ssl_status: String,
}

const DOMAIN_COLUMNS: &str = "hostname, project_id, cf_hostname_id, ssl_status";

fn domain_from_row(r: sqlx::any::AnyRow) -> DomainRow {
    DomainRow { hostname: r.get(0), project_id: r.get(1), cf_hostname_id: r.get(2), ssl_status: r.get(3) }
}

/// A custom-domain claim waiting for its proof.
pub(crate) struct ClaimRow {
    pub(crate) hostname: String,
    pub(crate) token: String,
    pub(crate) created_at: i64,
}

const CLAIM_COLUMNS: &str = "hostname, token, created_at";

fn claim_from_row(r: sqlx::any::AnyRow) -> ClaimRow {
    ClaimRow { hostname: r.get(0), token: r.get(1), created_at: r.get(2) }
}

/// Gives a proven `hostname` to the project unless someone proved it first; the row as it
/// is after, whose project says who won.
pub(super) async fn claim_domain(
    db: &Database,
    hostname: &str,
    project: &str,
    user: &str,
) -> Result<DomainRow, DbError> {
    sqlx::query(
        "INSERT INTO domains (hostname, project_id, user_id, ssl_status, created_at) \
         VALUES ($1, $2, $3, 'none', $4) ON CONFLICT (hostname) DO NOTHING",
    )
    .bind(hostname)
    .bind(project)
    .bind(user)
    .bind(now_ms())
    .execute(db.pool())
    .await?;
    let row = sqlx::query(&format!("SELECT {DOMAIN_COLUMNS} FROM domains WHERE hostname = $1"))
        .bind(hostname)
        .fetch_one(db.pool())
        .await?;
    Ok(domain_from_row(row))
}

/// The project that proved `hostname`, if one did.
pub(super) async fn domain_owner(db: &Database, hostname: &str) -> Result<Option<DomainRow>, DbError> {
    let row = sqlx::query(&format!("SELECT {DOMAIN_COLUMNS} FROM domains WHERE hostname = $1"))
        .bind(hostname)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.map(domain_from_row))
}

pub(super) async fn project_domains(db: &Database, project: &str) -> Result<Vec<DomainRow>, DbError> {
    let rows = sqlx::query(&format!("SELECT {DOMAIN_COLUMNS} FROM domains WHERE project_id = $1 ORDER BY created_at"))
        .bind(project)
        .fetch_all(db.pool())
        .await?;
    Ok(rows.into_iter().map(domain_from_row).collect())
}

/// Domains with a custom hostname whose certificate is not active yet.
pub(super) async fn pending_domains(db: &Database) -> Result<Vec<DomainRow>, DbError> {
    let rows = sqlx::query(&format!(
        "SELECT {DOMAIN_COLUMNS} FROM domains WHERE cf_hostname_id IS NOT NULL AND ssl_status <> 'active'"
    ))
    .fetch_all(db.pool())
    .await?;
    Ok(rows.into_iter().map(domain_from_row).collect())
}

/// Every custom domain and its project.
pub(super) async fn all_domains(db: &Database) -> Result<Vec<(String, String)>, DbError> {
    let rows = sqlx::query("SELECT hostname, project_id FROM domains").fetch_all(db.pool()).await?;
    Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
}

pub(super) async fn set_domain_cloudflare(
    db: &Database,
    hostname: &str,
    id: &str,
    ssl_status: &str,
) -> Result<(), DbError> {
    sqlx::query("UPDATE domains SET cf_hostname_id = $1, ssl_status = $2 WHERE hostname = $3")
        .bind(id)
        .bind(ssl_status)
        .bind(hostname)
        .execute(db.pool())
        .await?;
    Ok(())
}

pub(super) async fn delete_domain(db: &Database, hostname: &str) -> Result<(), DbError> {
    sqlx::query("DELETE FROM domains WHERE hostname = $1").bind(hostname).execute(db.pool()).await?;
    Ok(())
}

/// The project's claim of `hostname` waiting for its proof: the one it has unless that one
/// expired (made before `expired_before`), else a new one with `token`.
pub(super) async fn claim_pending_domain(
    db: &Database,
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
        .execute(db.pool())
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
    .execute(db.pool())
    .await?;
    domain_claim(db, hostname, project).await?.ok_or_else(|| DbError::Unavailable("a claim just made vanished".into()))
}

pub(super) async fn domain_claim(db: &Database, hostname: &str, project: &str) -> Result<Option<ClaimRow>, DbError> {
    let row =
        sqlx::query(&format!("SELECT {CLAIM_COLUMNS} FROM domain_claims WHERE hostname = $1 AND project_id = $2"))
            .bind(hostname)
            .bind(project)
            .fetch_optional(db.pool())
            .await?;
    Ok(row.map(claim_from_row))
}

pub(super) async fn project_claims(db: &Database, project: &str) -> Result<Vec<ClaimRow>, DbError> {
    let rows =
        sqlx::query(&format!("SELECT {CLAIM_COLUMNS} FROM domain_claims WHERE project_id = $1 ORDER BY created_at"))
            .bind(project)
            .fetch_all(db.pool())
            .await?;
    Ok(rows.into_iter().map(claim_from_row).collect())
}

/// Drops one project's claim of `hostname`, or with `project` `None` every claim of it (its
/// owner proved it).
pub(super) async fn delete_domain_claims(
    db: &Database,
    hostname: &str,
    project: Option<&str>,
) -> Result<bool, DbError> {
    let done = match project {
        Some(project) => {
            sqlx::query("DELETE FROM domain_claims WHERE hostname = $1 AND project_id = $2")
                .bind(hostname)
                .bind(project)
                .execute(db.pool())
                .await?
        }
        None => sqlx::query("DELETE FROM domain_claims WHERE hostname = $1").bind(hostname).execute(db.pool()).await?,
    };
    Ok(done.rows_affected() > 0)
}

pub(super) async fn delete_project_claims(db: &Database, project: &str) -> Result<(), DbError> {
    sqlx::query("DELETE FROM domain_claims WHERE project_id = $1").bind(project).execute(db.pool()).await?;
    Ok(())
}

/// Sweeps the claims made before `expired_before`.
pub(super) async fn delete_expired_claims(db: &Database, expired_before: i64) -> Result<(), DbError> {
    sqlx::query("DELETE FROM domain_claims WHERE created_at < $1").bind(expired_before).execute(db.pool()).await?;
    Ok(())
}

pub(super) async fn site_dns(db: &Database, project: &str) -> Result<Option<String>, DbError> {
    Ok(sqlx::query_scalar("SELECT record_id FROM site_dns WHERE project_id = $1")
        .bind(project)
        .fetch_optional(db.pool())
        .await?)
}

pub(super) async fn set_site_dns(db: &Database, project: &str, record: &str) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO site_dns (project_id, record_id) VALUES ($1, $2) \
         ON CONFLICT (project_id) DO UPDATE SET record_id = excluded.record_id",
    )
    .bind(project)
    .bind(record)
    .execute(db.pool())
    .await?;
    Ok(())
}

pub(super) async fn delete_site_dns(db: &Database, project: &str) -> Result<(), DbError> {
    sqlx::query("DELETE FROM site_dns WHERE project_id = $1").bind(project).execute(db.pool()).await?;
    Ok(())
}

//! The run tables: each run (`runs`), written when it starts and when it ends, and the events
//! its client was sent (`run_events`), appended as they go, so a client that lost its stream,
//! or an operator after a crash, can read the run back.

use sqlx::Row;

use crate::db::{Database, DbError};

/// A finished run, as stored.
#[derive(Debug, Clone)]
pub(crate) struct RunRecord {
    pub(crate) id: String,
    pub(crate) user_id: String,
    pub(crate) project_id: Option<String>,
    /// JSON: a summary of the request.
    pub(crate) request: String,
    /// JSON: role → component version.
    pub(crate) agents: String,
    /// JSON: how it ended.
    pub(crate) outcome: String,
    pub(crate) model_calls: i64,
    pub(crate) prompt_tokens: i64,
    pub(crate) completion_tokens: i64,
    pub(crate) created_at: i64,
    pub(crate) finished_at: i64,
    /// The request that started it, as its log lines name it.
    pub(crate) request_id: Option<String>,
}

/// Writes a run as it starts, held by `instance`: `outcome` `{"kind": "running"}` until it ends.
pub(crate) async fn start_run(db: &Database, run: &RunRecord, instance: &str) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO runs (id, user_id, project_id, request, agents, outcome, model_calls, prompt_tokens, \
         completion_tokens, created_at, finished_at, instance_id, request_id) \
         VALUES ($1, $2, $3, $4, $5, $6, 0, 0, 0, $7, 0, $8, $9)",
    )
    .bind(&run.id)
    .bind(&run.user_id)
    .bind(&run.project_id)
    .bind(&run.request)
    .bind(&run.agents)
    .bind(RUNNING)
    .bind(run.created_at)
    .bind(instance)
    .bind(&run.request_id)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Appends events (JSON lines as the client was sent them) from sequence number `first` on, in
/// one transaction.
pub(crate) async fn append_events(db: &Database, run: &str, first: i64, events: &[String]) -> Result<(), DbError> {
    let mut tx = db.pool().begin().await?;
    for (offset, event) in events.iter().enumerate() {
        sqlx::query("INSERT INTO run_events (run_id, seq, event) VALUES ($1, $2, $3)")
            .bind(run)
            .bind(first + offset as i64)
            .bind(event)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Writes how a run ended.
pub(crate) async fn finish_run(db: &Database, run: &RunRecord) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE runs SET agents = $2, outcome = $3, model_calls = $4, prompt_tokens = $5, completion_tokens = $6, \
         finished_at = $7 WHERE id = $1",
    )
    .bind(&run.id)
    .bind(&run.agents)
    .bind(&run.outcome)
    .bind(run.model_calls)
    .bind(run.prompt_tokens)
    .bind(run.completion_tokens)
    .bind(run.finished_at)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Marks the runs of hosts no longer alive (no heartbeat since `cutoff`, or no row) as
/// interrupted, keeping the events they had sent; returns how many.
pub(crate) async fn interrupt_orphans(db: &Database, cutoff: i64) -> Result<u64, DbError> {
    let sql = format!(
        "UPDATE runs SET outcome = $1, finished_at = $2 WHERE outcome = $3 AND {}",
        crate::instances::not_live("instance_id", 4)
    );
    Ok(sqlx::query(&sql)
        .bind(INTERRUPTED)
        .bind(crate::db::now_ms())
        .bind(RUNNING)
        .bind(cutoff)
        .execute(db.pool())
        .await?
        .rows_affected())
}

const RUNNING: &str = r#"{"kind":"running"}"#;
const INTERRUPTED: &str = r#"{"kind":"interrupted"}"#;

/// The owner's run and its events; someone else's run is `None`.
pub(crate) async fn run(db: &Database, owner: &str, id: &str) -> Result<Option<(RunRecord, Vec<String>)>, DbError> {
    match any_run(db, id).await? {
        Some((record, events)) if record.user_id == owner => Ok(Some((record, events))),
        _ => Ok(None),
    }
}

/// Any user's run and its events, for operators.
pub(crate) async fn any_run(db: &Database, id: &str) -> Result<Option<(RunRecord, Vec<String>)>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM runs WHERE id = $1");
    let Some(row) = sqlx::query(&sql).bind(id).fetch_optional(db.pool()).await? else { return Ok(None) };
    let events: Vec<String> = sqlx::query_scalar("SELECT event FROM run_events WHERE run_id = $1 ORDER BY seq")
        .bind(id)
        .fetch_all(db.pool())
        .await?;
    Ok(Some((record(&row), events)))
}

/// Which runs an operator asks for; every field left out matches all.
#[derive(Debug, Clone, Default)]
pub(crate) struct RunFilter {
    pub(crate) user: Option<String>,
    pub(crate) project: Option<String>,
    /// The outcome's kind: `files`, `conversational`, `failed`, `interrupted`, `running`.
    pub(crate) outcome: Option<String>,
    /// A version (content hash) that served any role of the run.
    pub(crate) version: Option<String>,
    /// Started at or after (Unix ms).
    pub(crate) since: Option<i64>,
    /// Started before (Unix ms).
    pub(crate) until: Option<i64>,
    /// With `until`, the id of the last run seen: runs started in that same millisecond that
    /// come after it (newest first, then by id) are included, for the next page.
    pub(crate) before_id: Option<String>,
    pub(crate) limit: i64,
}

/// The runs that match, newest first.
pub(crate) async fn runs(db: &Database, filter: &RunFilter) -> Result<Vec<RunRecord>, DbError> {
    // Each condition is a fixed fragment with its own parameter; a filter left out binds a value
    // that matches everything, so the statement and its parameters never depend on user text.
    let sql = format!(
        "SELECT {COLUMNS} FROM runs WHERE ($1 = '' OR user_id = $1) AND ($2 = '' OR project_id = $2) \
         AND outcome LIKE $3 ESCAPE '\\' AND agents LIKE $4 ESCAPE '\\' AND created_at >= $5 \
         AND (created_at < $6 OR (created_at = $6 AND id < $8)) ORDER BY created_at DESC, id DESC LIMIT $7"
    );
    // The values are matched as written: no `%` or `_` of theirs is a wildcard.
    let escape = |text: &str| text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    let like =
        |text: &Option<String>, quoted: fn(&str) -> String| text.as_deref().map_or("%".into(), |t| quoted(&escape(t)));
    let rows = sqlx::query(&sql)
        .bind(filter.user.clone().unwrap_or_default())
        .bind(filter.project.clone().unwrap_or_default())
        .bind(like(&filter.outcome, |kind| format!("%\"kind\":\"{kind}\"%")))
        .bind(like(&filter.version, |version| format!("%\"{version}\"%")))
        .bind(filter.since.unwrap_or(0))
        .bind(filter.until.unwrap_or(i64::MAX))
        .bind(filter.limit)
        .bind(filter.before_id.clone().unwrap_or_default())
        .fetch_all(db.pool())
        .await?;
    Ok(rows.iter().map(record).collect())
}

const COLUMNS: &str = "id, user_id, project_id, request, agents, outcome, model_calls, prompt_tokens, \
                       completion_tokens, created_at, finished_at, request_id";

fn record(r: &sqlx::any::AnyRow) -> RunRecord {
    RunRecord {
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
        request_id: r.get(11),
    }
}

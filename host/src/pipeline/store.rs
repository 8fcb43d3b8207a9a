//! The run tables: each finished run (`runs`) and the events its client was sent (`run_events`),
//! so a client that lost its stream can read the run back.

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
}

/// Stores a run and its events (each a JSON line as the client was sent it), all or nothing.
pub(crate) async fn record_run(db: &Database, run: &RunRecord, events: &[String]) -> Result<(), DbError> {
    let mut tx = db.pool().begin().await?;
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
pub(crate) async fn run(db: &Database, owner: &str, id: &str) -> Result<Option<(RunRecord, Vec<String>)>, DbError> {
    let row = sqlx::query(
        "SELECT id, user_id, project_id, request, agents, outcome, model_calls, prompt_tokens, completion_tokens, \
         created_at, finished_at FROM runs WHERE id = $1 AND user_id = $2",
    )
    .bind(id)
    .bind(owner)
    .fetch_optional(db.pool())
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
        .fetch_all(db.pool())
        .await?;
    Ok(Some((record, events)))
}

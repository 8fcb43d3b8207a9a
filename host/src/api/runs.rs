//! `GET /api/runs/{id}`: a run as it was recorded, for its owner only.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::spec::{Always, ErrorBody, Signed};
use super::{ApiError, AppState, Path};
use crate::auth::User;
use crate::pipeline::events::Event;

/// A run as recorded: what was asked, which agents served it, how it ended, and every event the
/// client was sent, in order.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Run {
    id: String,
    project_id: Option<String>,
    /// A summary of the request: how many messages and files, the target, the last message.
    #[schema(value_type = Object)]
    request: Value,
    /// Role → the agent version that served it.
    #[schema(value_type = Object)]
    agents: Value,
    /// `{"kind": "running"}` while the run goes on, then how it ended.
    #[schema(value_type = Object)]
    outcome: Value,
    usage: RunUsage,
    created_at: i64,
    /// 0 while the run goes on.
    finished_at: i64,
    /// The `x-request-id` of the request that started it.
    request_id: Option<String>,
    #[schema(value_type = Vec<Event>)]
    events: Vec<Value>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RunUsage {
    model_calls: i64,
    prompt_tokens: i64,
    completion_tokens: i64,
}

#[utoipa::path(get, path = "/api/runs/{id}", tag = "runs", security(("bearer" = [])), params(("id" = String, Path)),
    responses(
        (status = 200, body = Run),
        (status = 404, description = "`not_found`: no run of the caller's with this id", body = ErrorBody),
        Signed, Always,
    ))]
pub(crate) async fn get(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<String>,
) -> Result<Json<Run>, ApiError> {
    let Some((run, events)) = crate::pipeline::store::run(&state.db, &user.id, &id).await? else {
        return Err(ApiError::NotFound("run"));
    };
    Ok(Json(Run::of(run, &events)))
}

impl Run {
    /// The run as the API shows it, from its record.
    pub(super) fn of(run: crate::pipeline::store::RunRecord, events: &[String]) -> Self {
        Self {
            id: run.id,
            project_id: run.project_id,
            request: parse(&run.request),
            agents: parse(&run.agents),
            outcome: parse(&run.outcome),
            usage: RunUsage {
                model_calls: run.model_calls,
                prompt_tokens: run.prompt_tokens,
                completion_tokens: run.completion_tokens,
            },
            created_at: run.created_at,
            finished_at: run.finished_at,
            request_id: run.request_id,
            events: events.iter().map(|e| parse(e)).collect(),
        }
    }
}

/// A stored JSON column; text that is not JSON (never written by this host) reads as `null`.
pub(super) fn parse(text: &str) -> Value {
    serde_json::from_str::<Value>(text).unwrap_or(Value::Null)
}

//! `GET /api/runs/{id}`: a run as it was recorded, for its owner only.

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};

use super::{ApiError, AppState};
use crate::auth::User;

pub(crate) async fn get(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let Some((run, events)) = crate::pipeline::store::run(&state.db, &user.id, &id).await? else {
        return Err(ApiError::NotFound("run"));
    };
    let parse = |text: &str| serde_json::from_str::<Value>(text).unwrap_or(Value::Null);
    Ok(Json(json!({
        "id": run.id,
        "projectId": run.project_id,
        "request": parse(&run.request),
        "agents": parse(&run.agents),
        "outcome": parse(&run.outcome),
        "usage": { "modelCalls": run.model_calls, "promptTokens": run.prompt_tokens, "completionTokens": run.completion_tokens },
        "createdAt": run.created_at,
        "finishedAt": run.finished_at,
        "requestId": run.request_id,
        "events": events.iter().map(|e| parse(e)).collect::<Vec<_>>(),
    })))
}

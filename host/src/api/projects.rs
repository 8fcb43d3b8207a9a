//! `/api/projects`: a user's projects. Someone else's project answers 404, like a missing one.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{ApiError, AppState};
use crate::auth::User;
use crate::plugins::ProjectPipeline;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewProject {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

pub(crate) async fn create(State(state): State<AppState>, user: User, body: Bytes) -> Result<Response, ApiError> {
    let new: NewProject = if body.iter().all(u8::is_ascii_whitespace) {
        NewProject::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request("invalid_json", format!("The body is not valid JSON: {e}")))?
    };
    let (project, created) = state.projects.create(&user.id, new.id, new.name).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(project)).into_response())
}

pub(crate) async fn list(State(state): State<AppState>, user: User) -> Result<Response, ApiError> {
    Ok(Json(state.projects.list(&user.id).await?).into_response())
}

pub(crate) async fn remove(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.projects.remove(&user.id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The agents the project's runs use: pinned versions and chained validators.
pub(crate) async fn pipeline(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    owned(&state, &user, &id).await?;
    Ok(Json(state.plugins.pipeline(&id).await?).into_response())
}

pub(crate) async fn set_pipeline(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    owned(&state, &user, &id).await?;
    let pipeline: ProjectPipeline =
        super::parse_json(&body, r#"{"agents": {role: version}, "extraValidators": [version]}"#)?;
    state.plugins.set_pipeline(&id, &pipeline).await?;
    Ok(Json(pipeline).into_response())
}

/// An existing project of the caller's; anyone else's is answered like a missing one.
pub(super) async fn owned(state: &AppState, user: &User, id: &str) -> Result<(), ApiError> {
    state.projects.owned(&user.id, id).await?;
    Ok(())
}

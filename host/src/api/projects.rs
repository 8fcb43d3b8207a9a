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

/// A project id is a lowercase DNS label (the frontend's are lowercase uuids): it names the
/// project's site, `{id}.{sites domain}`, and host names are case-insensitive, so two ids that
/// differ only by case, or that a host name cannot spell, would let one site answer for another.
pub fn check_project_id(id: &str) -> Result<(), ApiError> {
    if crate::workspace::valid_project_id(id) {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "invalid_project_id",
            format!(
                "{id:?} is not a valid project id (1-63 lowercase letters, digits or -, not starting or ending with -)"
            ),
        ))
    }
}

pub async fn create(State(state): State<AppState>, user: User, body: Bytes) -> Result<Response, ApiError> {
    let new: NewProject = if body.iter().all(u8::is_ascii_whitespace) {
        NewProject::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request("invalid_json", format!("The body is not valid JSON: {e}")))?
    };
    let id = new.id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    check_project_id(&id)?;
    let name = new.name.map(|n| n.trim().to_string()).filter(|n| !n.is_empty()).unwrap_or_else(|| "Untitled".into());
    if name.chars().count() > 200 {
        return Err(ApiError::bad_request("invalid_name", "a project name has at most 200 characters"));
    }
    let (project, created) = state.db.create_project(&user.id, &id, &name).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(project)).into_response())
}

pub async fn list(State(state): State<AppState>, user: User) -> Result<Response, ApiError> {
    Ok(Json(state.db.projects(&user.id).await?).into_response())
}

pub async fn remove(State(state): State<AppState>, user: User, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    owned(&state, &user, &id).await?;
    // Everything of the project goes before its record: the id is free for anyone to take again
    // only once nothing of the old project is left for them to find. A failure to remove a part
    // is logged, not returned; the user asked for the project to be gone.
    // The sandbox first: stopping it takes the project's turn itself.
    if let Some(previews) = &state.previews
        && let Err(e) = previews.forget(&id).await
    {
        tracing::warn!(project = %id, "the deleted project's sandbox or files could not be removed: {e}");
    }
    // After a deploy, a run or a git operation in flight, which would otherwise leave files behind.
    let _turn = state.workspaces.lock(&id).await;
    state.deployer.forget(&id).await;
    if let Err(e) = state.workspaces.remove(&id) {
        tracing::warn!(project = %id, "the deleted project's files could not be removed: {e}");
    }
    if !state.db.delete_project(&user.id, &id).await? {
        return Err(ApiError::NotFound("project"));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The agents the project's runs use: pinned versions and chained validators.
pub async fn pipeline(State(state): State<AppState>, user: User, Path(id): Path<String>) -> Result<Response, ApiError> {
    owned(&state, &user, &id).await?;
    Ok(Json(state.plugins.pipeline(&id).await?).into_response())
}

pub async fn set_pipeline(
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
    check_project_id(id)?;
    if state.db.project(&user.id, id).await?.is_none() {
        return Err(ApiError::NotFound("project"));
    }
    Ok(())
}

//! `/api/projects`: a user's projects. Someone else's project answers 404, like a missing one.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::ToSchema;

use super::spec::{Always, ErrorBody, Signed};
use super::{ApiError, AppState, Path};
use crate::auth::User;
use crate::plugins::ProjectPipeline;
use crate::projects::Project;

/// The body may also be empty: a fresh id and a default name.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NewProject {
    /// A DNS label: 1 to 63 lowercase letters, digits and `-`, not starting or ending with `-`
    /// (it names the project's site); generated when absent.
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

#[utoipa::path(post, path = "/api/projects", tag = "projects", security(("bearer" = [])), request_body = NewProject,
    responses(
        (status = 201, description = "Created", body = Project),
        (status = 200, description = "The caller's project of that id, unchanged", body = Project),
        (status = 400, description = "`invalid_json`, `invalid_project_id`, `invalid_name`", body = ErrorBody),
        (status = 404, description = "`not_found`: someone else's id", body = ErrorBody),
        Signed, Always,
    ))]
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

#[utoipa::path(get, path = "/api/projects", tag = "projects", security(("bearer" = [])),
    responses((status = 200, description = "The caller's projects", body = Vec<Project>), Signed, Always))]
pub(crate) async fn list(State(state): State<AppState>, user: User) -> Result<Response, ApiError> {
    Ok(Json(state.projects.list(&user.id).await?).into_response())
}

#[utoipa::path(delete, path = "/api/projects/{id}", tag = "projects", security(("bearer" = [])), params(("id" = String, Path, pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", description = "The project's id")),
    responses(
        (status = 204, description = "Removed with its files, sandbox and records"),
        (status = 400, description = "`invalid_project_id`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        Signed, Always,
    ))]
pub(crate) async fn remove(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.projects.remove(&user.id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The agents the project's runs use: pinned versions and chained validators.
#[utoipa::path(get, path = "/api/projects/{id}/pipeline", tag = "projects", security(("bearer" = [])), params(("id" = String, Path, pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", description = "The project's id")),
    responses(
        (status = 200, body = ProjectPipeline),
        (status = 400, description = "`invalid_project_id`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        Signed, Always,
    ))]
pub(crate) async fn pipeline(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    owned(&state, &user, &id).await?;
    Ok(Json(state.plugins.pipeline(&id).await?).into_response())
}

#[utoipa::path(put, path = "/api/projects/{id}/pipeline", tag = "projects", security(("bearer" = [])), params(("id" = String, Path, pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", description = "The project's id")),
    request_body = ProjectPipeline,
    responses(
        (status = 200, description = "The pipeline as stored", body = ProjectPipeline),
        (status = 400, description = "`invalid_json`, `invalid_project_id`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 422, description = "`invalid_pipeline`: an unknown role, version or validator", body = ErrorBody),
        Signed, Always,
    ))]
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

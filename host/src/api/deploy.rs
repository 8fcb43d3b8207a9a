//! `/api/deploy` and `/api/projects/{id}/deploys…`: publishing a project's latest build.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::{ApiError, AppState};
use crate::auth::User;
use crate::deploy::DeployError;

impl From<DeployError> for ApiError {
    fn from(e: DeployError) -> Self {
        let message = e.to_string();
        let coded = |status, code| ApiError::Coded { status, code, message: message.clone() };
        match e {
            DeployError::NoBuild => coded(StatusCode::CONFLICT, "no_build"),
            DeployError::UnknownDeploy(_) => coded(StatusCode::NOT_FOUND, "unknown_deploy"),
            DeployError::CustomDomains => coded(StatusCode::NOT_IMPLEMENTED, "custom_domains_unavailable"),
            DeployError::Storage(m) => ApiError::Internal(m),
            DeployError::Db(e) => e.into(),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeployBody {
    project_id: String,
    #[serde(default)]
    custom_domain: Option<String>,
}

/// The port the caller reached us on, for a URL it can open on this machine.
fn port(headers: &HeaderMap) -> Option<u16> {
    let host = headers.get(header::HOST)?.to_str().ok()?;
    host.rsplit_once(':')?.1.parse().ok()
}

pub async fn deploy(
    State(state): State<AppState>,
    user: User,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: DeployBody = super::parse_json(&body, r#"{"projectId": "…", "customDomain"?: "…"}"#)?;
    super::orchestrator::claim_project(&state, &user, &body.project_id).await?;
    if body.custom_domain.as_deref().is_some_and(|d| !d.trim().is_empty()) {
        return Err(DeployError::CustomDomains.into());
    }
    let _turn = state.workspaces.lock(&body.project_id).await;
    let deploy = state.deployer.deploy(&body.project_id).await?;
    let url = state.deployer.url(&body.project_id, port(&headers));
    Ok(Json(json!({ "url": url, "ssl": false, "deployId": deploy.id, "files": deploy.files, "bytes": deploy.bytes }))
        .into_response())
}

pub async fn list(State(state): State<AppState>, user: User, Path(id): Path<String>) -> Result<Response, ApiError> {
    super::projects::owned(&state, &user, &id).await?;
    Ok(Json(json!({ "deploys": state.deployer.list(&id).await? })).into_response())
}

pub async fn restore(
    State(state): State<AppState>,
    user: User,
    Path((id, deploy)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    super::projects::owned(&state, &user, &id).await?;
    state.deployer.restore(&id, &deploy).await?;
    Ok(Json(json!({ "live": deploy })).into_response())
}

//! `/api/admin/plugins`: operators upload, list, activate, roll back and delete agent versions.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Admin, ApiError, AppState, parse_json};
use crate::runtime::Role;

/// The role's canary as the API shows it, `null` when there is none.
fn canary_json(state: &AppState, role: Role) -> Value {
    state
        .pipeline
        .runtime
        .canary(role)
        .map_or(Value::Null, |c| json!({ "version": c.agent.version.to_string(), "share": c.share }))
}

fn role(name: &str) -> Result<Role, ApiError> {
    name.parse::<Role>().map_err(|_| ApiError::NotFound("role"))
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct UploadQuery {
    #[serde(default)]
    author: Option<String>,
    #[serde(default)]
    notes: Option<String>,
    /// `false` stores the version without making it active.
    #[serde(default)]
    activate: Option<bool>,
}

pub(crate) async fn upload(
    State(state): State<AppState>,
    _admin: Admin,
    Path(role_name): Path<String>,
    Query(query): Query<UploadQuery>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let role = role(&role_name)?;
    let bytes = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge { limit: state.plugins.max_bytes }
        } else {
            ApiError::bad_request("invalid_body", e.body_text())
        }
    })?;
    let author = query.author.unwrap_or_else(|| "operator".into());
    let notes = query.notes.unwrap_or_default();
    let activate = query.activate.unwrap_or(true);
    let uploaded = state.plugins.upload(role, &bytes, &author, &notes, activate).await?;
    let active = state.pipeline.runtime.active(role).version.as_ref() == uploaded.version.version;
    let status = if uploaded.created { StatusCode::CREATED } else { StatusCode::OK };
    let body = json!({
        "version": uploaded.version,
        "active": active,
        "compileMs": uploaded.compile.as_secs_f64() * 1e3,
        "activationMs": uploaded.activation.as_secs_f64() * 1e3,
    });
    Ok((status, Json(body)).into_response())
}

/// The bytes of a stored version or of the built-in agent, as they were uploaded.
pub(crate) async fn download(
    State(state): State<AppState>,
    _admin: Admin,
    Path((role_name, version)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let role = role(&role_name)?;
    let bytes = state.plugins.bytes(role, &version).await?;
    Ok(([(axum::http::header::CONTENT_TYPE, "application/wasm")], bytes).into_response())
}

pub(crate) async fn list(State(state): State<AppState>, _admin: Admin) -> Result<Json<Value>, ApiError> {
    let versions = state.plugins.list().await?;
    let runtime = &state.pipeline.runtime;
    let roles: serde_json::Map<String, Value> = Role::ALL
        .iter()
        .map(|r| {
            let active = runtime.active(*r).version.to_string();
            let builtin = runtime.builtin_version(*r).to_string();
            let mine: Vec<&crate::plugins::PluginVersion> = versions.iter().filter(|v| v.role == r.as_str()).collect();
            let canary =
                runtime.canary(*r).map(|c| json!({ "version": c.agent.version.to_string(), "share": c.share }));
            (
                r.as_str().to_string(),
                json!({ "active": active, "builtin": builtin, "canary": canary, "versions": mine }),
            )
        })
        .collect();
    Ok(Json(Value::Object(roles)))
}

pub(crate) async fn activate(
    State(state): State<AppState>,
    _admin: Admin,
    Path((role_name, version)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let role = role(&role_name)?;
    state.plugins.activate(role, &version).await?;
    Ok(Json(json!({ "role": role.as_str(), "active": state.pipeline.runtime.active(role).version.to_string() })))
}

pub(crate) async fn rollback(
    State(state): State<AppState>,
    _admin: Admin,
    Path(role_name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let role = role(&role_name)?;
    state.plugins.rollback(role).await?;
    Ok(Json(json!({ "role": role.as_str(), "active": state.pipeline.runtime.active(role).version.to_string() })))
}

pub(crate) async fn remove(
    State(state): State<AppState>,
    _admin: Admin,
    Path((role_name, version)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let role = role(&role_name)?;
    state.plugins.delete(role, &version).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
pub(crate) struct CanaryBody {
    version: String,
    share: f64,
}

pub(crate) async fn canary(
    State(state): State<AppState>,
    _admin: Admin,
    Path(role_name): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let role = role(&role_name)?;
    let canary: CanaryBody = parse_json(&body, r#"{"version", "share"}"#)?;
    state.plugins.set_canary(role, &canary.version, canary.share).await?;
    Ok(Json(json!({
        "role": role.as_str(),
        "active": state.pipeline.runtime.active(role).version.to_string(),
        "canary": canary_json(&state, role),
    })))
}

pub(crate) async fn stats(
    State(state): State<AppState>,
    _admin: Admin,
    Path((role_name, version)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let role = role(&role_name)?;
    let version = if version == "builtin" { state.pipeline.runtime.builtin_version(role).to_string() } else { version };
    let stats = state.plugins.stats(role, &version).await?;
    Ok(Json(json!({ "role": role.as_str(), "version": version, "stats": stats })))
}

/// Each role's settings as runs see them, and the part set over the API.
pub(crate) async fn settings(State(state): State<AppState>, _admin: Admin) -> Result<Json<Value>, ApiError> {
    let current = state.agent_settings.current();
    let overrides = state.agent_settings.overrides().await?;
    let roles: serde_json::Map<String, Value> = Role::ALL
        .iter()
        .map(|r| {
            let effective = current.get(r).map(|m| json!(**m)).unwrap_or_else(|| json!({}));
            let set = overrides.get(r).map(|m| json!(m)).unwrap_or_else(|| json!({}));
            (r.as_str().to_string(), json!({ "settings": effective, "overrides": set }))
        })
        .collect();
    Ok(Json(Value::Object(roles)))
}

/// Replaces the role's API-set settings; new runs read them at once, runs in flight keep theirs.
pub(crate) async fn set_settings(
    State(state): State<AppState>,
    _admin: Admin,
    Path(role_name): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let role = role(&role_name)?;
    let values: serde_json::Map<String, Value> = parse_json(&body, "a JSON object of settings")?;
    state.agent_settings.set(role, values).await?;
    let effective = state.agent_settings.current().get(&role).map(|m| json!(**m)).unwrap_or_else(|| json!({}));
    Ok(Json(json!({ "role": role.as_str(), "settings": effective })))
}

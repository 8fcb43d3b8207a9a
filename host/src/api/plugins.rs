//! `/api/admin/plugins`: operators upload, list, activate, roll back and delete agent versions.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use super::spec::{Always, ErrorBody, Operator};
use super::{Admin, ApiError, AppState, Path, Query, parse_json};
use crate::plugins::{PluginVersion, VersionStats};
use crate::runtime::Role;

/// A version serving a share of new runs beside the active one.
#[derive(Serialize, ToSchema)]
pub(crate) struct CanaryShare {
    version: String,
    /// Between 0 and 1.
    share: f64,
}

/// The role's canary as the API shows it, `null` when there is none.
fn canary_of(state: &AppState, role: Role) -> Option<CanaryShare> {
    state.pipeline.runtime.canary(role).map(|c| CanaryShare { version: c.agent.version.to_string(), share: c.share })
}

/// A role and the version now serving it.
#[derive(Serialize, ToSchema)]
pub(crate) struct RoleActive {
    role: &'static str,
    active: String,
}

impl RoleActive {
    fn of(state: &AppState, role: Role) -> Self {
        Self { role: role.as_str(), active: state.pipeline.runtime.active(role).version.to_string() }
    }
}

fn role(name: &str) -> Result<Role, ApiError> {
    name.parse::<Role>().map_err(|_| ApiError::NotFound("role"))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct UploadQuery {
    /// Who made it; `operator` by default.
    #[serde(default)]
    author: Option<String>,
    #[serde(default)]
    notes: Option<String>,
    /// `false` stores the version without making it active.
    #[serde(default)]
    activate: Option<bool>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Uploaded {
    version: PluginVersion,
    /// It serves new runs now.
    active: bool,
    compile_ms: f64,
    activation_ms: f64,
}

/// Stores a WASI component as a version of the role (its content hash), compiled and checked
/// against the role's world; active at once unless `activate=false`.
#[utoipa::path(post, path = "/api/admin/plugins/{role}", tag = "plugins", security(("bearer" = [])),
    params(("role" = String, Path, description = "`planner`, `generator`, `validator` or `fixer`"), UploadQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The component's bytes (any content type is read as bytes)"),
    responses(
        (status = 201, description = "A new version", body = Uploaded),
        (status = 200, description = "These bytes were already a version", body = Uploaded),
        (status = 400, description = "`invalid_body`, `invalid_query`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such role", body = ErrorBody),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 422, description = "`not_a_component`, `wrong_contract`, `wrong_world`", body = ErrorBody),
        Operator, Always,
    ))]
pub(crate) async fn upload(
    State(state): State<AppState>,
    admin: Admin,
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
    admin.note(format!("{} bytes by {author:?}: {notes:?}, activate={activate}", bytes.len()));
    let uploaded = state.plugins.upload(role, &bytes, &author, &notes, activate).await?;
    admin.note(format!("version {} by {author:?}: {notes:?}, activate={activate}", uploaded.version.version));
    let active = state.pipeline.runtime.active(role).version.as_ref() == uploaded.version.version;
    let status = if uploaded.created { StatusCode::CREATED } else { StatusCode::OK };
    let body = Uploaded {
        version: uploaded.version,
        active,
        compile_ms: uploaded.compile.as_secs_f64() * 1e3,
        activation_ms: uploaded.activation.as_secs_f64() * 1e3,
    };
    Ok((status, Json(body)).into_response())
}

/// The bytes of a stored version or of the built-in agent, as they were uploaded.
#[utoipa::path(get, path = "/api/admin/plugins/{role}/{version}", tag = "plugins", security(("bearer" = [])),
    params(("role" = String, Path), ("version" = String, Path, description = "A stored version or `builtin`")),
    responses(
        (status = 200, content_type = "application/wasm", body = Vec<u8>),
        (status = 404, description = "`not_found`: no such role or version", body = ErrorBody),
        Operator, Always,
    ))]
pub(crate) async fn download(
    State(state): State<AppState>,
    _admin: Admin,
    Path((role_name, version)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let role = role(&role_name)?;
    let bytes = state.plugins.bytes(role, &version).await?;
    Ok(([(axum::http::header::CONTENT_TYPE, "application/wasm")], bytes).into_response())
}

/// A role's versions: the one serving, the built-in one, any canary, and every stored one.
#[derive(Serialize, ToSchema)]
pub(crate) struct RoleVersions {
    active: String,
    builtin: String,
    canary: Option<CanaryShare>,
    versions: Vec<PluginVersion>,
}

#[utoipa::path(get, path = "/api/admin/plugins", tag = "plugins", security(("bearer" = [])),
    responses((status = 200, description = "Role → its versions", body = BTreeMap<String, RoleVersions>), Operator, Always))]
pub(crate) async fn list(
    State(state): State<AppState>,
    _admin: Admin,
) -> Result<Json<BTreeMap<&'static str, RoleVersions>>, ApiError> {
    let mut versions = state.plugins.list().await?;
    let runtime = &state.pipeline.runtime;
    let roles = Role::ALL
        .iter()
        .map(|r| {
            let (mine, rest) = versions.drain(..).partition(|v| v.role == r.as_str());
            versions = rest;
            let listed = RoleVersions {
                active: runtime.active(*r).version.to_string(),
                builtin: runtime.builtin_version(*r).to_string(),
                canary: canary_of(&state, *r),
                versions: mine,
            };
            (r.as_str(), listed)
        })
        .collect();
    Ok(Json(roles))
}

#[utoipa::path(post, path = "/api/admin/plugins/{role}/{version}/activate", tag = "plugins", security(("bearer" = [])),
    params(("role" = String, Path), ("version" = String, Path, description = "A stored version or `builtin`")),
    responses(
        (status = 200, body = RoleActive),
        (status = 404, description = "`not_found`: no such role or version", body = ErrorBody),
        (status = 422, description = "`invalid_pipeline` and the other load failures of a stored version", body = ErrorBody),
        Operator, Always,
    ))]
pub(crate) async fn activate(
    State(state): State<AppState>,
    _admin: Admin,
    Path((role_name, version)): Path<(String, String)>,
) -> Result<Json<RoleActive>, ApiError> {
    let role = role(&role_name)?;
    state.plugins.activate(role, &version).await?;
    Ok(Json(RoleActive::of(&state, role)))
}

/// Back to the version active before the current one.
#[utoipa::path(post, path = "/api/admin/plugins/{role}/rollback", tag = "plugins", security(("bearer" = [])),
    params(("role" = String, Path)),
    responses(
        (status = 200, body = RoleActive),
        (status = 404, description = "`not_found`: no such role", body = ErrorBody),
        (status = 409, description = "`nothing_to_roll_back`", body = ErrorBody),
        Operator, Always,
    ))]
pub(crate) async fn rollback(
    State(state): State<AppState>,
    admin: Admin,
    Path(role_name): Path<String>,
) -> Result<Json<RoleActive>, ApiError> {
    let role = role(&role_name)?;
    let back_to = state.plugins.rollback(role).await?;
    admin.note(format!("back to {back_to}"));
    Ok(Json(RoleActive::of(&state, role)))
}

#[utoipa::path(delete, path = "/api/admin/plugins/{role}/{version}", tag = "plugins", security(("bearer" = [])),
    params(("role" = String, Path), ("version" = String, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "`not_found`: no such role or version", body = ErrorBody),
        (status = 409, description = "`version_active`, `version_in_use` (a project pins it)", body = ErrorBody),
        Operator, Always,
    ))]
pub(crate) async fn remove(
    State(state): State<AppState>,
    _admin: Admin,
    Path((role_name, version)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let role = role(&role_name)?;
    state.plugins.delete(role, &version).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct CanaryBody {
    /// A stored version of the role.
    version: String,
    share: f64,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct RoleCanary {
    role: &'static str,
    active: String,
    /// `null` once the share is 0.
    canary: Option<CanaryShare>,
}

/// Sends a share of new runs to a stored version beside the active one (0 ends the canary).
#[utoipa::path(put, path = "/api/admin/plugins/{role}/canary", tag = "plugins", security(("bearer" = [])),
    params(("role" = String, Path)), request_body = CanaryBody,
    responses(
        (status = 200, body = RoleCanary),
        (status = 400, description = "`invalid_json`, `invalid_share`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such role or version", body = ErrorBody),
        (status = 422, description = "the version cannot be loaded", body = ErrorBody),
        Operator, Always,
    ))]
pub(crate) async fn canary(
    State(state): State<AppState>,
    admin: Admin,
    Path(role_name): Path<String>,
    body: Bytes,
) -> Result<Json<RoleCanary>, ApiError> {
    let role = role(&role_name)?;
    let canary: CanaryBody = parse_json(&body, r#"{"version", "share"}"#)?;
    admin.note(format!("version {} at share {}", canary.version, canary.share));
    state.plugins.set_canary(role, &canary.version, canary.share).await?;
    let RoleActive { active, .. } = RoleActive::of(&state, role);
    Ok(Json(RoleCanary { role: role.as_str(), active, canary: canary_of(&state, role) }))
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Stats {
    role: &'static str,
    version: String,
    stats: VersionStats,
}

/// How the runs a version served went.
#[utoipa::path(get, path = "/api/admin/plugins/{role}/{version}/stats", tag = "plugins", security(("bearer" = [])),
    params(("role" = String, Path), ("version" = String, Path, description = "A stored version or `builtin`")),
    responses(
        (status = 200, body = Stats),
        (status = 404, description = "`not_found`: no such role", body = ErrorBody),
        Operator, Always,
    ))]
pub(crate) async fn stats(
    State(state): State<AppState>,
    _admin: Admin,
    Path((role_name, version)): Path<(String, String)>,
) -> Result<Json<Stats>, ApiError> {
    let role = role(&role_name)?;
    let version = if version == "builtin" { state.pipeline.runtime.builtin_version(role).to_string() } else { version };
    let stats = state.plugins.stats(role, &version).await?;
    Ok(Json(Stats { role: role.as_str(), version, stats }))
}

/// A role's settings as runs see them, and where each comes from.
#[derive(Serialize, ToSchema)]
pub(crate) struct RoleSettings {
    /// What runs read: the file's settings with the API's over them.
    settings: BTreeMap<String, String>,
    /// Set over the API.
    overrides: BTreeMap<String, String>,
    /// From the operator's file (`BLINK_AGENT_CONFIG`).
    file: BTreeMap<String, String>,
    /// What the built-in agent of the role uses for each setting it reads when none is set.
    builtin: BTreeMap<String, String>,
    /// Setting → `api`, `file` or `builtin`: where the value a run of the built-in agent sees
    /// comes from.
    sources: BTreeMap<String, &'static str>,
}

#[utoipa::path(get, path = "/api/admin/agents/settings", tag = "plugins", security(("bearer" = [])),
    responses((status = 200, description = "Role → its settings", body = BTreeMap<String, RoleSettings>), Operator, Always))]
pub(crate) async fn settings(
    State(state): State<AppState>,
    _admin: Admin,
) -> Result<Json<BTreeMap<&'static str, RoleSettings>>, ApiError> {
    let current = state.agent_settings.current();
    let file = state.agent_settings.file();
    let mut overrides = state.agent_settings.overrides().await?;
    let roles = Role::ALL
        .iter()
        .map(|r| {
            let settings = current.get(r).map(|m| (**m).clone()).unwrap_or_default();
            let overrides = overrides.remove(r).unwrap_or_default();
            let file = file.get(r).map(|m| (**m).clone()).unwrap_or_default();
            let builtin: BTreeMap<String, String> =
                blink_agent_sdk::defaults::builtin(r.as_str()).into_iter().map(|(k, v)| (k.to_string(), v)).collect();
            let sources = builtin
                .keys()
                .chain(file.keys())
                .chain(overrides.keys())
                .map(|key| {
                    let source = if overrides.contains_key(key) {
                        "api"
                    } else if file.contains_key(key) {
                        "file"
                    } else {
                        "builtin"
                    };
                    (key.clone(), source)
                })
                .collect();
            (r.as_str(), RoleSettings { settings, overrides, file, builtin, sources })
        })
        .collect();
    Ok(Json(roles))
}

#[derive(Serialize, ToSchema)]
pub(crate) struct SetSettings {
    role: &'static str,
    /// The role's settings as new runs now see them.
    settings: BTreeMap<String, String>,
}

/// Replaces the role's API-set settings; new runs read them at once, runs in flight keep theirs.
#[utoipa::path(put, path = "/api/admin/agents/{role}/settings", tag = "plugins", security(("bearer" = [])),
    params(("role" = String, Path)),
    request_body(content = Object, description = "Setting → value; replaces what the API set before"),
    responses(
        (status = 200, body = SetSettings),
        (status = 400, description = "`invalid_json`, `invalid_settings`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such role", body = ErrorBody),
        Operator, Always,
    ))]
pub(crate) async fn set_settings(
    State(state): State<AppState>,
    admin: Admin,
    Path(role_name): Path<String>,
    body: Bytes,
) -> Result<Json<SetSettings>, ApiError> {
    let role = role(&role_name)?;
    let values: Map<String, Value> = parse_json(&body, "a JSON object of settings")?;
    admin.note(format!("keys: {}", values.keys().cloned().collect::<Vec<_>>().join(", ")));
    state.agent_settings.set(role, values).await?;
    let settings = state.agent_settings.current().get(&role).map(|m| (**m).clone()).unwrap_or_default();
    Ok(Json(SetSettings { role: role.as_str(), settings }))
}

//! `/api/preview`, `/api/build` and `/api/projects/{id}/logs`: a project's sandbox, as the
//! frontend drives it.

use std::collections::BTreeMap;
use std::convert::Infallible;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use blink_agent_sdk::RuntimeTarget;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::limits::Spend;
use super::spec::{Always, ErrorBody, Operator, Signed};
use super::{ApiError, AppState, Path, parse_json as parse};
use crate::auth::User;
use crate::preview::{PreviewError, Previews, SandboxesStatus, human_size};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PreviewBody {
    #[schema(pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
    project_id: String,
    /// Path → content: the project's whole file set (files left out are removed).
    #[serde(default)]
    files: BTreeMap<String, String>,
    /// `browser` or `vite`; without it, inferred from the files (see [`infer_target`]).
    target: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BuildBody {
    #[schema(pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
    project_id: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PreviewAnswer {
    /// The running app, on its own origin.
    preview_url: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Built {
    dist_path: String,
    /// `bytes` for people, e.g. `245KB`.
    size: String,
    bytes: u64,
    files: usize,
}

/// One SSE `data:` line of a sandbox's output.
#[derive(Serialize, ToSchema)]
pub(crate) struct LogLine {
    line: String,
}

impl From<PreviewError> for ApiError {
    fn from(e: PreviewError) -> Self {
        let message = e.to_string();
        let coded = |status, code| ApiError::Coded { status, code, message: message.clone() };
        match e {
            PreviewError::Workspace(e) => e.into(),
            PreviewError::Unavailable(_) => coded(StatusCode::SERVICE_UNAVAILABLE, "sandbox_unavailable"),
            PreviewError::RuntimeMissing(_) => coded(StatusCode::SERVICE_UNAVAILABLE, "sandbox_runtime_missing"),
            PreviewError::AtCapacity { .. } => coded(StatusCode::SERVICE_UNAVAILABLE, "sandbox_limit"),
            PreviewError::UserAtCapacity { .. } => coded(StatusCode::TOO_MANY_REQUESTS, "sandbox_user_limit"),
            PreviewError::TooManyStreams { .. } => coded(StatusCode::TOO_MANY_REQUESTS, "too_many_log_streams"),
            PreviewError::NotReady(_) => coded(StatusCode::GATEWAY_TIMEOUT, "preview_timeout"),
            PreviewError::BuildFailed(_) => coded(StatusCode::UNPROCESSABLE_ENTITY, "build_failed"),
            PreviewError::BuildInvalid(_) => coded(StatusCode::UNPROCESSABLE_ENTITY, "build_invalid"),
            PreviewError::BuildTooLarge(_) => coded(StatusCode::PAYLOAD_TOO_LARGE, "build_too_large"),
            PreviewError::InstallFailed(_) => coded(StatusCode::UNPROCESSABLE_ENTITY, "install_failed"),
            PreviewError::NotRunning => coded(StatusCode::NOT_FOUND, "not_running"),
            PreviewError::Exited(_) => coded(StatusCode::UNPROCESSABLE_ENTITY, "dev_server_exited"),
            PreviewError::Sandbox(_) => coded(StatusCode::BAD_GATEWAY, "sandbox_failed"),
            PreviewError::Elsewhere(_) => coded(StatusCode::SERVICE_UNAVAILABLE, "sandbox_elsewhere"),
            PreviewError::Database(e) => e.into(),
        }
    }
}

pub(super) fn previews(state: &AppState) -> Result<&Previews, ApiError> {
    state.previews.as_deref().ok_or_else(|| ApiError::Coded {
        status: StatusCode::SERVICE_UNAVAILABLE,
        code: "sandbox_unavailable",
        message: "Sandboxes are turned off on this host (BLINK_SANDBOXES=false).".into(),
    })
}

/// The scheme and host (with any port) the caller reached us by, for URLs it can open.
pub(super) fn origin(headers: &HeaderMap) -> (&str, &str) {
    let host = super::request_hosts(headers).next().unwrap_or("localhost");
    let scheme = headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()).unwrap_or("http");
    (scheme, host)
}

/// Writes the files into the project's sandbox and starts (or updates) its dev server.
#[utoipa::path(post, path = "/api/preview", tag = "sandboxes", security(("bearer" = [])), request_body = PreviewBody,
    responses(
        (status = 200, body = PreviewAnswer),
        (status = 400, description = "`invalid_json`, `invalid_project_id`, `invalid_target`, `invalid_path`, `too_many_files`", body = ErrorBody),
        (status = 404, description = "`not_found`: someone else's project", body = ErrorBody),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 422, description = "`install_failed`, `dev_server_exited`", body = ErrorBody),
        (status = 502, description = "`sandbox_failed`", body = ErrorBody),
        (status = 504, description = "`preview_timeout`", body = ErrorBody),
        Signed, Always,
    ))]
pub(crate) async fn preview(
    State(state): State<AppState>,
    user: User,
    headers: HeaderMap,
    raw: Bytes,
) -> Result<Response, ApiError> {
    let hopped = spend_once(&state, &headers, Spend::Preview, &user)?;
    let started = std::time::Instant::now();
    let body: PreviewBody = parse(&raw, r#"{"projectId": "…", "files": {"App.tsx": "…"}}"#)?;
    super::orchestrator::claim_project(&state, &user, &body.project_id).await?;
    tracing::debug!(project = %body.project_id, elapsed_us = started.elapsed().as_micros() as u64, "preview claimed");
    let target = match body.target.as_deref() {
        None => infer_target(&body.files),
        Some(t) => RuntimeTarget::parse(t).ok_or_else(|| {
            ApiError::bad_request("invalid_target", format!("target {t:?} is neither \"browser\" nor \"vite\""))
        })?,
    };
    let previews = previews(&state)?;
    match previews.preview(&body.project_id, &user.id, &body.files, target).await {
        Ok(_) => {}
        Err(PreviewError::Elsewhere(peer)) if !hopped => {
            let request = again(Method::POST, "/api/preview", headers, raw);
            return Ok(super::proxy::to_peer(&state, &body.project_id, &peer, request).await);
        }
        Err(e) => return Err(e.into()),
    }
    let (scheme, host) = origin(&headers);
    let url = previews.preview_url(&body.project_id, scheme, host);
    Ok(Json(PreviewAnswer { preview_url: url }).into_response())
}

/// Counts the call against the caller's rate, unless the host that passed it on already did;
/// says whether it was passed on.
fn spend_once(state: &AppState, headers: &HeaderMap, spend: Spend, user: &User) -> Result<bool, ApiError> {
    let hopped = super::proxy::hopped(state, headers);
    if !hopped {
        state.rates.spend(spend, &user.id)?;
    }
    Ok(hopped)
}

/// The request as it came, to pass on to another host.
fn again(method: Method, path: &str, headers: HeaderMap, body: Bytes) -> axum::extract::Request {
    let mut request = axum::extract::Request::new(axum::body::Body::from(body));
    *request.method_mut() = method;
    *request.uri_mut() = path.parse().unwrap_or_default();
    *request.headers_mut() = headers;
    // The body's length is the body's own, whatever the caller's header said.
    request.headers_mut().remove(axum::http::header::CONTENT_LENGTH);
    request
}

/// The target files were written for when the caller does not say: an `App.tsx` that mounts
/// itself and exports nothing is the `browser` target's (the frontend's in-browser preview, which
/// loads no entry of its own); anything else is a Vite project, whose template entry imports `App`.
pub(super) fn infer_target(files: &BTreeMap<String, String>) -> RuntimeTarget {
    let app = files.get("App.tsx").or_else(|| files.get("src/App.tsx"));
    match app {
        Some(code) if !code.contains("export ") && code.contains("createRoot(") => RuntimeTarget::Browser,
        _ => RuntimeTarget::Vite,
    }
}

/// A production build of the project's files in its sandbox; kept for `/api/deploy`.
#[utoipa::path(post, path = "/api/build", tag = "sandboxes", security(("bearer" = [])), request_body = BuildBody,
    responses(
        (status = 200, body = Built),
        (status = 400, description = "`invalid_json`, `invalid_project_id`", body = ErrorBody),
        (status = 404, description = "`not_found`: someone else's project", body = ErrorBody),
        (status = 413, description = "`build_too_large`", body = ErrorBody),
        (status = 422, description = "`build_failed`, `build_invalid`, `install_failed`", body = ErrorBody),
        (status = 502, description = "`sandbox_failed`", body = ErrorBody),
        Signed, Always,
    ))]
pub(crate) async fn build(
    State(state): State<AppState>,
    user: User,
    headers: HeaderMap,
    raw: Bytes,
) -> Result<Response, ApiError> {
    let hopped = spend_once(&state, &headers, Spend::Build, &user)?;
    let body: BuildBody = parse(&raw, r#"{"projectId": "…"}"#)?;
    super::orchestrator::claim_project(&state, &user, &body.project_id).await?;
    // The build runs in the project's sandbox, wherever it is.
    if !hopped && let Some(peer) = previews(&state)?.runs_on(&body.project_id).await {
        let request = again(Method::POST, "/api/build", headers, raw);
        return Ok(super::proxy::to_peer(&state, &body.project_id, &peer, request).await);
    }
    let (state, project, user_id) = (state.clone(), body.project_id.clone(), user.id.clone());
    let started = std::time::Instant::now();
    let build = super::detached(async move { Ok(previews(&state)?.build(&project, &user_id).await?) }).await;
    crate::telemetry::operation("build", &build, started.elapsed());
    let build = build?;
    tracing::info!(project = %body.project_id, bytes = build.bytes, files = build.files, "build kept");
    Ok(Json(Built {
        dist_path: format!("/builds/{}/dist", body.project_id),
        size: human_size(build.bytes),
        bytes: build.bytes,
        files: build.files,
    })
    .into_response())
}

/// The sandbox's output as SSE: `data: {"line": "…"}` events, the recent lines first.
#[utoipa::path(get, path = "/api/projects/{id}/logs", tag = "sandboxes", security(("bearer" = [])), params(("id" = String, Path, pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", description = "The project's id")),
    responses(
        (status = 200, description = "An SSE stream; each `data:` is a `LogLine`", content_type = "text/event-stream", body = LogLine),
        (status = 400, description = "`invalid_project_id`", body = ErrorBody),
        (status = 404, description = "`not_found`, `not_running`", body = ErrorBody),
        Signed, Always,
    ))]
pub(crate) async fn logs(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    super::projects::owned(&state, &user, &id).await?;
    if !super::proxy::hopped(&state, &headers)
        && let Some(peer) = previews(&state)?.runs_on(&id).await
    {
        let request = again(Method::GET, &format!("/api/projects/{id}/logs"), headers, Bytes::new());
        return Ok(super::proxy::to_peer(&state, &id, &peer, request).await);
    }
    let lines = previews(&state)?.logs(&id, &user.id).await?;
    let shutdown = state.shutdown.clone();
    let events = lines
        .map(|line| Ok::<_, Infallible>(SseEvent::default().json_data(LogLine { line }).unwrap_or_default()))
        .take_until(async move { shutdown.cancelled().await });
    let keepalive = KeepAlive::new().interval(state.keepalive).text("keep-alive");
    Ok(Sse::new(events).keep_alive(keepalive).into_response())
}

/// `GET /api/admin/sandboxes`: the sandboxes this host runs and the registry proxy's counters.
#[utoipa::path(get, path = "/api/admin/sandboxes", tag = "sandboxes", security(("bearer" = [])),
    responses((status = 200, body = SandboxesStatus), Operator, Always))]
pub(crate) async fn status(State(state): State<AppState>, _admin: super::Admin) -> Result<Response, ApiError> {
    Ok(Json(previews(&state)?.status()).into_response())
}

/// `/preview/{id}/…` on the API's origin while `BLINK_PREVIEW_PATHS` is off: previews live on
/// their own origins, and this one is the API's.
pub(crate) async fn paths_disabled() -> ApiError {
    ApiError::Coded {
        status: StatusCode::NOT_FOUND,
        code: "preview_paths_disabled",
        message: "Previews are served on their own host names here, not under /preview/; open the previewUrl \
                  /api/preview returned."
            .into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(app: &str) -> BTreeMap<String, String> {
        BTreeMap::from([("App.tsx".to_string(), app.to_string())])
    }

    #[test]
    fn the_target_is_inferred_from_how_app_starts() {
        let browser =
            "function App() { return <p/>; }\nReactDOM.createRoot(document.getElementById('root')).render(<App />);";
        assert_eq!(infer_target(&files(browser)), RuntimeTarget::Browser);
        assert_eq!(infer_target(&files("export default function App() { return <p/>; }")), RuntimeTarget::Vite);
        assert_eq!(infer_target(&BTreeMap::new()), RuntimeTarget::Vite);
    }
}

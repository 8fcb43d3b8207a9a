//! The routes of today's frontend's earlier Node backend, with their exact request and answer
//! shapes, backed by the host's own sandboxes, builds, deploys and git: `/dev/start`,
//! `/dev/sync`, `/dev/stop`, `/dev/status/{id}`, `/build`, `/logs/{id}`, `/github/push`,
//! `/github/pull` and `/health`.
//!
//! The frontend calls them without a token (its `EventSource` cannot send one). A call with a
//! valid bearer token acts as its user; one without acts as [`ANONYMOUS`], whose projects are
//! those no signed-in user owns, so the project id is their only secret, as it was with the Node
//! backend; a signed-in user's project answers 404 to it. Failures answer the Node backend's
//! shape, `{"error": <text the frontend shows>}`, with the host's stable `code` beside it.

mod github;
pub(crate) mod limits;
mod spec;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use self::limits::Route;
use self::spec::{
    Build, DevStart, DevStarted, DevStatus, Failures, Health, LegacyErrorBody, LogLine, Projectless, Success,
};
use super::{ApiError, AppState};
use crate::auth::{ANONYMOUS, AuthError};
use crate::db::now_ms;
use crate::deploy::DeployError;

/// The legacy routes, or none when the operator has not turned them on (they answer 404 then,
/// as any unknown path).
pub(super) fn routes(enabled: bool) -> OpenApiRouter<AppState> {
    if !enabled {
        return OpenApiRouter::new();
    }
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(dev_start))
        .routes(routes!(dev_sync))
        .routes(routes!(dev_stop))
        .routes(routes!(dev_status))
        .routes(routes!(build))
        .routes(routes!(logs))
        .routes(routes!(github::push))
        .routes(routes!(github::pull))
}

/// A failure as the Node backend answered it: the text the frontend shows in `error`, the
/// host's stable code in `code`.
pub(super) struct LegacyError {
    status: StatusCode,
    code: String,
    message: String,
    retry_after: Option<u64>,
}

impl LegacyError {
    fn bad_request(message: &str) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: "invalid_request".into(),
            message: message.into(),
            retry_after: None,
        }
    }
}

impl<E: Into<ApiError>> From<E> for LegacyError {
    fn from(e: E) -> Self {
        let (status, body) = e.into().status_and_body();
        let message = body.message.unwrap_or_else(|| body.error.clone());
        Self { status, code: body.error, message, retry_after: None }
    }
}

impl IntoResponse for LegacyError {
    fn into_response(self) -> Response {
        let body = LegacyErrorBody { error: self.message, code: self.code, retry_after_seconds: self.retry_after };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// A legacy call's caller as the request alone tells it: its address and any token.
pub(super) struct Client {
    ip: IpAddr,
    authorization: Option<HeaderValue>,
}

impl FromRequestParts<AppState> for Client {
    type Rejection = LegacyError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0)
            .ok_or_else(|| ApiError::Internal("the connection's address is unknown".into()))?;
        Ok(Self {
            ip: state.legacy.client(peer, &parts.headers),
            authorization: parts.headers.get(header::AUTHORIZATION).cloned(),
        })
    }
}

/// Who a legacy call acts for.
pub(super) struct Caller {
    /// The projects' owner: the token's user, or [`ANONYMOUS`].
    owner: String,
    /// What the per-user sandbox and log-stream caps count under: the user, or for anonymous
    /// calls their address, so one visitor cannot spend every anonymous caller's share.
    cap_key: String,
    email: Option<String>,
}

impl Client {
    /// Spends one of this address's calls of `route`, or says when to come back.
    fn spend(&self, state: &AppState, route: Route) -> Result<(), LegacyError> {
        state.legacy.check(route, self.ip).map_err(|seconds| LegacyError {
            status: StatusCode::TOO_MANY_REQUESTS,
            code: "rate_limited".into(),
            message: "Too many requests. Please slow down.".into(),
            retry_after: Some(seconds),
        })
    }

    /// The token's user, or the anonymous owner when there is no token.
    async fn caller(&self, state: &AppState) -> Result<Caller, LegacyError> {
        let Some(authorization) = &self.authorization else {
            state.credits.ensure_account(ANONYMOUS, None, 0).await?;
            return Ok(Caller { owner: ANONYMOUS.into(), cap_key: format!("{ANONYMOUS}@{}", self.ip), email: None });
        };
        let user = state.auth.authenticate(authorization.to_str().ok()).await.map_err(|e| match e {
            AuthError::KeysUnavailable(m) => ApiError::Unavailable(m),
            other => ApiError::Unauthorized(other),
        })?;
        state.credits.ensure_account(&user.id, user.email.as_deref(), state.starting_credits).await?;
        Ok(Caller { owner: user.id.clone(), cap_key: user.id, email: user.email })
    }

    /// The caller, when `project` is theirs (404 otherwise, as for a missing one).
    async fn owner_of(&self, state: &AppState, project: &str) -> Result<Caller, LegacyError> {
        let caller = self.caller(state).await?;
        state.projects.owned(&caller.owner, project).await?;
        Ok(caller)
    }
}

/// The request's JSON object, or the Node backend's 400.
fn object(body: &[u8], required: &str) -> Result<serde_json::Map<String, Value>, LegacyError> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(object)) => Ok(object),
        _ => Err(LegacyError::bad_request(required)),
    }
}

/// A non-empty string field.
fn text<'a>(object: &'a serde_json::Map<String, Value>, field: &str) -> Option<&'a str> {
    object.get(field)?.as_str().filter(|s| !s.is_empty())
}

/// `files`, path → content.
fn files(object: &serde_json::Map<String, Value>, required: &str) -> Result<BTreeMap<String, String>, LegacyError> {
    let Some(Value::Object(files)) = object.get("files") else { return Err(LegacyError::bad_request(required)) };
    files
        .iter()
        .map(|(path, content)| match content {
            Value::String(content) => Ok((path.clone(), content.clone())),
            _ => Err(LegacyError::bad_request("files must map each file's path to its content (a string)")),
        })
        .collect()
}

const PROJECT_AND_FILES: &str = "projectId and files are required";

/// `{projectId, files, projectName?}`, the project claimed for the caller (named on creation).
async fn project_and_files(
    state: &AppState,
    caller: &Caller,
    body: &[u8],
) -> Result<(String, BTreeMap<String, String>), LegacyError> {
    let object = object(body, PROJECT_AND_FILES)?;
    let project = text(&object, "projectId").ok_or_else(|| LegacyError::bad_request(PROJECT_AND_FILES))?.to_string();
    let files = files(&object, PROJECT_AND_FILES)?;
    let name = text(&object, "projectName").map(str::to_string);
    // A read first: most calls name a project that exists (every sync), and a write costs a commit.
    if state.projects.owned(&caller.owner, &project).await.is_err() {
        state.projects.create(&caller.owner, Some(project.clone()), name).await?;
    }
    Ok((project, files))
}

/// The posted files in the project's sandbox, its dev server ready: `/dev/start` and
/// `/dev/sync` do the same (a sync to a project whose sandbox is not running starts one).
async fn preview_files(state: &AppState, client: &Client, route: Route, body: &[u8]) -> Result<String, LegacyError> {
    client.spend(state, route)?;
    let caller = client.caller(state).await?;
    let (project, files) = project_and_files(state, &caller, body).await?;
    let previews = super::preview::previews(state)?;
    previews.preview(&project, &caller.cap_key, &files, super::preview::infer_target(&files)).await?;
    Ok(project)
}

/// `POST /dev/start`: the URL the frontend puts in its iframe (HMR included).
#[utoipa::path(post, path = "/dev/start", tag = "legacy", request_body = DevStart,
    responses((status = 200, body = DevStarted), Failures))]
async fn dev_start(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, LegacyError> {
    let project = preview_files(&state, &client, Route::Start, &body).await?;
    let (scheme, host) = super::preview::origin(&headers);
    let dev_url = super::preview::previews(&state)?.preview_url(&project, scheme, host);
    let port = url::Url::parse(&dev_url).ok().and_then(|u| u.port_or_known_default());
    Ok(Json(DevStarted { success: true, dev_url, port, project_id: project }).into_response())
}

/// `POST /dev/sync`: the whole file map replaces the project's files; the open page updates by
/// HMR.
#[utoipa::path(post, path = "/dev/sync", tag = "legacy", request_body = DevStart,
    responses((status = 200, body = Success), Failures))]
async fn dev_sync(State(state): State<AppState>, client: Client, body: Bytes) -> Result<Response, LegacyError> {
    preview_files(&state, &client, Route::Sync, &body).await?;
    Ok(Json(Success { success: true }).into_response())
}

/// `POST /dev/stop`: the project's sandbox goes; its files stay.
#[utoipa::path(post, path = "/dev/stop", tag = "legacy", request_body = Projectless,
    responses((status = 200, body = Success), Failures))]
async fn dev_stop(State(state): State<AppState>, client: Client, body: Bytes) -> Result<Response, LegacyError> {
    const REQUIRED: &str = "projectId is required";
    let object = object(&body, REQUIRED)?;
    let project = text(&object, "projectId").ok_or_else(|| LegacyError::bad_request(REQUIRED))?;
    client.owner_of(&state, project).await?;
    super::preview::previews(&state)?.stop(project).await?;
    Ok(Json(Success { success: true }).into_response())
}

/// `GET /dev/status/{id}`: whether the project's dev server runs.
#[utoipa::path(get, path = "/dev/status/{id}", tag = "legacy", params(("id" = String, Path, pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", description = "The project's id")),
    responses((status = 200, body = DevStatus), Failures))]
async fn dev_status(
    State(state): State<AppState>,
    client: Client,
    Path(project): Path<String>,
) -> Result<Response, LegacyError> {
    client.owner_of(&state, &project).await?;
    let running = super::preview::previews(&state)?.upstream(&project);
    Ok(Json(DevStatus { active: running.is_some(), port: running.map(|address| address.port()) }).into_response())
}

/// `POST /build`: the files, a `vite build` in the project's sandbox, and a deploy; `buildUrl`
/// is the live site.
#[utoipa::path(post, path = "/build", tag = "legacy", request_body = DevStart,
    responses((status = 200, body = Build), Failures))]
async fn build(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, LegacyError> {
    client.spend(&state, Route::Build)?;
    let caller = client.caller(&state).await?;
    let (project, files) = project_and_files(&state, &caller, &body).await?;
    // Past this point the work holds sandbox and deploy slots: it runs to its end even if the
    // caller hangs up.
    let deploy = super::detached({
        let (state, project) = (state.clone(), project.clone());
        async move {
            let previews = super::preview::previews(&state)?;
            previews.preview(&project, &caller.cap_key, &files, super::preview::infer_target(&files)).await?;
            previews.build(&project, &caller.cap_key).await?;
            let _in_flight = state.deployer.start_deploy(&caller.cap_key)?;
            let _turn = state.workspaces.lock(&project).await?;
            if !state.deployer.has_build(&project) {
                return Err(DeployError::NoBuild.into());
            }
            state.deployer.ensure_site_dns(&project).await?;
            Ok(state.deployer.deploy(&project).await?)
        }
    })
    .await?;
    let build_url =
        super::deploy::url(&state.deployer.host_name(&project), state.deployer.https(), super::deploy::port(&headers))
            + "/";
    Ok(Json(Build { success: true, build_url, deploy_id: deploy.id, file_count: deploy.files, bytes: deploy.bytes })
        .into_response())
}

/// How the frontend's log panel shows a line: its console levels, guessed from the words.
fn level(line: &str) -> &'static str {
    let lower = line.to_ascii_lowercase();
    if lower.contains("error") || lower.contains("err!") || lower.contains("failed") {
        "error"
    } else if lower.contains("warn") {
        "warn"
    } else {
        "log"
    }
}

/// `GET /logs/{id}`: the sandbox's output as the frontend's `EventSource` reads it,
/// `data: {"text", "level", "ts"}`, the recent lines first, then live, with keep-alives.
#[utoipa::path(get, path = "/logs/{id}", tag = "legacy", params(("id" = String, Path, pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", description = "The project's id")),
    responses(
        (status = 200, description = "An SSE stream; each `data:` is a `LogLine`", content_type = "text/event-stream", body = LogLine),
        Failures,
    ))]
async fn logs(
    State(state): State<AppState>,
    client: Client,
    Path(project): Path<String>,
) -> Result<Response, LegacyError> {
    let caller = client.owner_of(&state, &project).await?;
    let lines = super::preview::previews(&state)?.logs(&project, &caller.cap_key).await?;
    let shutdown = state.shutdown.clone();
    let events = lines
        .map(|line| {
            let event = LogLine { level: level(&line), text: line, ts: now_ms() };
            Ok::<_, Infallible>(SseEvent::default().json_data(event).unwrap_or_default())
        })
        .take_until(async move { shutdown.cancelled().await });
    let keepalive = KeepAlive::new().interval(state.keepalive).text("ping");
    Ok(Sse::new(events).keep_alive(keepalive).into_response())
}

/// `GET /health`: up, and how many dev servers run.
#[utoipa::path(get, path = "/health", tag = "legacy", responses((status = 200, body = Health)))]
async fn health(State(state): State<AppState>) -> Response {
    let active = state.previews.as_ref().map(|p| p.status().sandboxes.len());
    Json(Health {
        status: "ok",
        active_servers: active.unwrap_or(0),
        sandboxes: state.previews.is_some(),
        timestamp: now_ms(),
    })
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_follow_the_words_of_the_line() {
        assert_eq!(level("[build] error during build: x"), "error");
        assert_eq!(level("[install] npm ERR! 404"), "error");
        assert_eq!(level("[dev] Build failed with 1 error"), "error");
        assert_eq!(level("[dev] (!) warning: chunk size"), "warn");
        assert_eq!(level("[dev] VITE v5 ready in 300 ms"), "log");
    }
}

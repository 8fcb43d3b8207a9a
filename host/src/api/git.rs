//! `/api/git/*` and `/api/projects/{id}/git…`: a project's repository, as its owner drives it.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::limits::Spend;
use super::spec::{Always, ErrorBody, Signed};
use super::{ApiError, AppState, Path, Query, parse_json as parse};
use crate::auth::User;
use crate::git::{Author, CommitOutcome, GitError, GithubRepository, LogEntry, PullOutcome, RemoteInfo};

impl From<GitError> for ApiError {
    fn from(e: GitError) -> Self {
        let message = e.to_string();
        let coded = |status, code| ApiError::Coded { status, code, message: message.clone() };
        match e {
            GitError::NothingToCommit => coded(StatusCode::CONFLICT, "nothing_to_commit"),
            GitError::NoRemote => coded(StatusCode::CONFLICT, "no_remote"),
            GitError::Auth(_) => coded(StatusCode::BAD_GATEWAY, "remote_auth_failed"),
            GitError::UnknownCommit(_) => coded(StatusCode::NOT_FOUND, "unknown_commit"),
            GitError::Invalid(_) => ApiError::bad_request("invalid_git_request", message),
            GitError::Unsafe(_) => coded(StatusCode::UNPROCESSABLE_ENTITY, "unsafe_path"),
            GitError::TooLarge(_) => coded(StatusCode::PAYLOAD_TOO_LARGE, "project_too_large"),
            GitError::Remote(_) => coded(StatusCode::BAD_GATEWAY, "remote_failed"),
            GitError::NotAllowed(_) => coded(StatusCode::UNPROCESSABLE_ENTITY, "remote_not_allowed"),
            GitError::FetchTooLarge(_) => coded(StatusCode::UNPROCESSABLE_ENTITY, "fetch_too_large"),
            GitError::Git(_) => coded(StatusCode::INTERNAL_SERVER_ERROR, "git_failed"),
            GitError::Github { status, .. } => {
                coded(StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY), "github_refused")
            }
            GitError::Db(e) => e.into(),
            GitError::Turn(_) => super::error::turn_unavailable(message.clone()),
        }
    }
}

/// The user as a commit's author.
fn author(user: &User) -> Author {
    let email = user.email.clone().unwrap_or_else(|| format!("{}@users.blink", user.id));
    Author { name: user.email.clone().unwrap_or_else(|| user.id.clone()), email }
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CommitBody {
    #[schema(pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
    project_id: String,
    message: String,
}

/// Commits the project's files as they are, and pushes when a remote is set.
#[utoipa::path(post, path = "/api/git/commit", tag = "git", security(("bearer" = [])), request_body = CommitBody,
    responses(
        (status = 200, body = CommitOutcome),
        (status = 400, description = "`invalid_json`, `invalid_project_id`, `invalid_git_request`", body = ErrorBody),
        (status = 404, description = "`not_found`: someone else's project", body = ErrorBody),
        (status = 409, description = "`nothing_to_commit`", body = ErrorBody),
        (status = 413, description = "`project_too_large`", body = ErrorBody),
        (status = 422, description = "`unsafe_path`", body = ErrorBody),
        (status = 502, description = "`remote_auth_failed`: committed, but the remote refused the push's credentials", body = ErrorBody),
        Signed, Always,
    ))]
pub(crate) async fn commit(State(state): State<AppState>, user: User, body: Bytes) -> Result<Response, ApiError> {
    state.rates.spend(Spend::Git, &user.id)?;
    let body: CommitBody = parse(&body, r#"{"projectId": "…", "message": "…"}"#)?;
    super::orchestrator::claim_project(&state, &user, &body.project_id).await?;
    let started = std::time::Instant::now();
    let outcome = state.git.commit(&body.project_id, &body.message, author(&user)).await;
    crate::telemetry::operation("git_commit", &outcome, started.elapsed());
    let outcome = outcome?;
    Ok(Json(outcome).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ProjectBody {
    #[schema(pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
    project_id: String,
}

/// Fetches the remote's branch and merges it into the project's files.
#[utoipa::path(post, path = "/api/git/pull", tag = "git", security(("bearer" = [])), request_body = ProjectBody,
    responses(
        (status = 200, body = PullOutcome),
        (status = 400, description = "`invalid_json`, `invalid_project_id`, `invalid_git_request`", body = ErrorBody),
        (status = 404, description = "`not_found`: someone else's project", body = ErrorBody),
        (status = 409, description = "`no_remote`", body = ErrorBody),
        (status = 413, description = "`project_too_large`", body = ErrorBody),
        (status = 422, description = "`unsafe_path`, `remote_not_allowed`, `fetch_too_large`", body = ErrorBody),
        (status = 502, description = "`remote_auth_failed`, `remote_failed`", body = ErrorBody),
        Signed, Always,
    ))]
pub(crate) async fn pull(State(state): State<AppState>, user: User, body: Bytes) -> Result<Response, ApiError> {
    state.rates.spend(Spend::Git, &user.id)?;
    let body: ProjectBody = parse(&body, r#"{"projectId": "…"}"#)?;
    super::orchestrator::claim_project(&state, &user, &body.project_id).await?;
    let started = std::time::Instant::now();
    let outcome = state.git.pull(&body.project_id, author(&user)).await;
    crate::telemetry::operation("git_pull", &outcome, started.elapsed());
    let outcome = outcome?;
    tell_preview(&state, &body.project_id, &outcome.changed).await;
    Ok(Json(outcome).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct RemoteBody {
    /// An `https://` URL on a host the operator allows.
    remote_url: String,
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    branch: Option<String>,
}

#[utoipa::path(put, path = "/api/projects/{id}/git", tag = "git", security(("bearer" = [])), params(("id" = String, Path, pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", description = "The project's id")),
    request_body = RemoteBody,
    responses(
        (status = 200, body = RemoteInfo),
        (status = 400, description = "`invalid_json`, `invalid_project_id`, `invalid_git_request`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 422, description = "`remote_not_allowed`", body = ErrorBody),
        Signed, Always,
    ))]
pub(crate) async fn set_remote(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    state.rates.spend(Spend::Git, &user.id)?;
    super::projects::owned(&state, &user, &id).await?;
    let body: RemoteBody = parse(&body, r#"{"remoteUrl": "…", "token"?: "…", "branch"?: "main"}"#)?;
    state.git.set_remote(&id, &body.remote_url, body.token.as_deref(), body.branch.as_deref()).await?;
    Ok(Json(state.git.remote_info(&id).await?).into_response())
}

#[utoipa::path(get, path = "/api/projects/{id}/git", tag = "git", security(("bearer" = [])), params(("id" = String, Path, pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", description = "The project's id")),
    responses(
        (status = 200, body = RemoteInfo),
        (status = 400, description = "`invalid_project_id`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such project, or no remote set", body = ErrorBody),
        Signed, Always,
    ))]
pub(crate) async fn remote(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    super::projects::owned(&state, &user, &id).await?;
    match state.git.remote_info(&id).await? {
        Some(info) => Ok(Json(info).into_response()),
        None => Err(ApiError::NotFound("remote")),
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct LogQuery {
    /// Commits, 1 to 500 (50 by default).
    #[serde(default)]
    limit: Option<usize>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Log {
    /// Newest first.
    commits: Vec<LogEntry>,
}

#[utoipa::path(get, path = "/api/projects/{id}/git/log", tag = "git", security(("bearer" = [])), params(("id" = String, Path, pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", description = "The project's id"), LogQuery),
    responses(
        (status = 200, body = Log),
        (status = 400, description = "`invalid_project_id`, `invalid_query`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        Signed, Always,
    ))]
pub(crate) async fn log(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<String>,
    Query(query): Query<LogQuery>,
) -> Result<Response, ApiError> {
    super::projects::owned(&state, &user, &id).await?;
    let limit = query.limit.unwrap_or(50).clamp(1, 500);
    Ok(Json(Log { commits: state.git.log(&id, limit).await? }).into_response())
}

#[derive(Deserialize, ToSchema)]
pub(crate) struct RestoreBody {
    /// A commit of the project's history, by its full or short hash.
    commit: String,
}

/// Brings the project's files back to a commit's, as a new commit.
#[utoipa::path(post, path = "/api/projects/{id}/git/restore", tag = "git", security(("bearer" = [])), params(("id" = String, Path, pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", description = "The project's id")),
    request_body = RestoreBody,
    responses(
        (status = 200, body = CommitOutcome),
        (status = 400, description = "`invalid_json`, `invalid_project_id`, `invalid_git_request`", body = ErrorBody),
        (status = 404, description = "`not_found`, `unknown_commit`", body = ErrorBody),
        (status = 409, description = "`nothing_to_commit`", body = ErrorBody),
        (status = 413, description = "`project_too_large`", body = ErrorBody),
        (status = 422, description = "`unsafe_path`", body = ErrorBody),
        Signed, Always,
    ))]
pub(crate) async fn restore(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    state.rates.spend(Spend::Git, &user.id)?;
    super::projects::owned(&state, &user, &id).await?;
    let body: RestoreBody = parse(&body, r#"{"commit": "<hash>"}"#)?;
    let started = std::time::Instant::now();
    let outcome = state.git.restore(&id, &body.commit, author(&user)).await;
    crate::telemetry::operation("git_restore", &outcome, started.elapsed());
    let outcome = outcome?;
    tell_preview(&state, &id, &outcome.changed).await;
    Ok(Json(outcome).into_response())
}

/// A running dev server hears of the files a pull or restore wrote: under gVisor no file watcher
/// sees a write made outside the sandbox.
async fn tell_preview(state: &AppState, project: &str, changed: &crate::workspace::Applied) {
    if let Some(previews) = &state.previews {
        previews.changed(project, changed).await;
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GithubBody {
    name: String,
    /// The user's GitHub token; kept sealed for pushes.
    token: String,
    #[serde(default = "yes")]
    private: bool,
}

fn yes() -> bool {
    true
}

/// Creates a repository on the user's GitHub account and makes it the project's remote.
#[utoipa::path(post, path = "/api/projects/{id}/git/github", tag = "git", security(("bearer" = [])), params(("id" = String, Path, pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", description = "The project's id")),
    request_body = GithubBody,
    responses(
        (status = 201, body = GithubRepository),
        (status = 400, description = "`invalid_json`, `invalid_project_id`, `invalid_git_request` (GitHub refused)", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 422, description = "`remote_not_allowed`", body = ErrorBody),
        (status = 502, description = "`remote_auth_failed`, `remote_failed`", body = ErrorBody),
        Signed, Always,
    ))]
pub(crate) async fn create_github(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    state.rates.spend(Spend::Git, &user.id)?;
    super::projects::owned(&state, &user, &id).await?;
    let body: GithubBody = parse(&body, r#"{"name": "…", "token": "…", "private"?: true}"#)?;
    let started = std::time::Instant::now();
    let created = state.git.create_github(&id, &body.name, body.private, &body.token).await;
    crate::telemetry::operation("git_create_repository", &created, started.elapsed());
    let created = created?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

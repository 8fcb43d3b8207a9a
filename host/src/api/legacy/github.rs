//! `/github/push` and `/github/pull`: a file map written to a GitHub repository's default
//! branch, or read back from it, with the token the user typed; the token is used for that one
//! call and neither logged nor kept.

use super::limits::Route;
use super::spec::{Failures, GithubPull, GithubPush, Pulled, Pushed};
use super::{Client, LegacyError, files, object, text};
use crate::api::AppState;
use crate::git::{Author, FileLimits};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};

/// `POST /github/push` `{repo, token, files, message?}` → `{success, commitSha, branch}`.
#[utoipa::path(post, path = "/github/push", tag = "legacy", request_body = GithubPush,
    responses((status = 200, body = Pushed), Failures))]
pub(super) async fn push(State(state): State<AppState>, client: Client, body: Bytes) -> Result<Response, LegacyError> {
    const REQUIRED: &str = "repo, token, and files are required";
    client.spend(&state, Route::Github)?;
    let caller = client.caller(&state).await?;
    let object = object(&body, REQUIRED)?;
    let (Some(repo), Some(token)) = (text(&object, "repo"), text(&object, "token")) else {
        return Err(LegacyError::bad_request(REQUIRED));
    };
    let files = files(&object, REQUIRED)?;
    let message = text(&object, "message").unwrap_or("Update from Blink");
    let author = match &caller.email {
        Some(email) => Author { name: email.clone(), email: email.clone() },
        None => Author { name: caller.owner.clone(), email: "anonymous@users.blink".into() },
    };
    let limits = FileLimits { max_files: state.limits.max_files, max_bytes: state.limits.max_context_bytes };
    let pushed = state.git.push_files(repo, token, &files, message, author, limits).await?;
    Ok(Json(Pushed { success: true, commit_sha: pushed.commit, branch: pushed.branch }).into_response())
}

/// `POST /github/pull` `{repo, token, path?}` → `{success, files, branch, fileCount}`.
#[utoipa::path(post, path = "/github/pull", tag = "legacy", request_body = GithubPull,
    responses((status = 200, body = Pulled), Failures))]
pub(super) async fn pull(State(state): State<AppState>, client: Client, body: Bytes) -> Result<Response, LegacyError> {
    const REQUIRED: &str = "repo and token are required";
    client.spend(&state, Route::Github)?;
    client.caller(&state).await?;
    let object = object(&body, REQUIRED)?;
    let (Some(repo), Some(token)) = (text(&object, "repo"), text(&object, "token")) else {
        return Err(LegacyError::bad_request(REQUIRED));
    };
    let limits = FileLimits { max_files: state.pull_max_files, max_bytes: usize::MAX };
    let pulled = state.git.pull_files(repo, token, text(&object, "path"), limits).await?;
    let file_count = pulled.files.len();
    Ok(Json(Pulled { success: true, files: pulled.files, branch: pulled.branch, file_count }).into_response())
}

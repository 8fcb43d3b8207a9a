//! The legacy routes' bodies as the Node backend shaped them, for their answers and the OpenAPI
//! description. Their requests are read by hand (for the Node backend's error texts); the request
//! types here only describe them.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::{IntoResponses, ToSchema};

/// A legacy failure: the text the frontend shows, and the host's stable code beside it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct LegacyErrorBody {
    /// What the frontend shows.
    pub(super) error: String,
    /// The host's stable code (`invalid_request`, `rate_limited`, `sandbox_unavailable`, …).
    pub(super) code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) retry_after_seconds: Option<u64>,
}

// Described, never built: each failure's status is the one the host's own route would answer.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub(super) enum Failures {
    /// `invalid_request` (the Node backend's "… is required"), and the host's 400 codes.
    #[response(status = 400)]
    BadRequest(LegacyErrorBody),
    /// A token was sent and does not verify.
    #[response(status = 401)]
    Unauthorized(LegacyErrorBody),
    /// `not_found`: a project someone else owns, or none.
    #[response(status = 404)]
    NotFound(LegacyErrorBody),
    #[response(status = 413)]
    TooLarge(LegacyErrorBody),
    /// `build_failed`, `install_failed`, `dev_server_exited`, `unsafe_path`, …
    #[response(status = 422)]
    Unprocessable(LegacyErrorBody),
    /// `rate_limited` per address (with `Retry-After`), or a per-user cap.
    #[response(status = 429, headers(("retry-after" = u64, description = "Seconds to wait, with `rate_limited`")))]
    RateLimited(LegacyErrorBody),
    /// `sandbox_failed`, `storage_failed`, `remote_failed`, `remote_auth_failed`, …
    #[response(status = 502)]
    BadGateway(LegacyErrorBody),
    /// `sandbox_unavailable`, `sandbox_limit`, `unavailable`.
    #[response(status = 503)]
    Unavailable(LegacyErrorBody),
    /// `preview_timeout`.
    #[response(status = 504)]
    Timeout(LegacyErrorBody),
}

/// `{projectId, files, projectName?}`: the project's whole file map.
#[derive(ToSchema)]
#[schema(as = LegacyProjectFiles)]
#[allow(dead_code)]
pub(super) struct DevStart {
    #[schema(rename = "projectId")]
    #[schema(pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
    project_id: String,
    files: BTreeMap<String, String>,
    /// The name a project created by this call gets.
    #[schema(rename = "projectName")]
    project_name: Option<String>,
}

/// `{projectId}`.
#[derive(ToSchema)]
#[schema(as = LegacyProject)]
#[allow(dead_code)]
pub(super) struct Projectless {
    #[schema(rename = "projectId")]
    #[schema(pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
    project_id: String,
}

/// `{repo: "owner/name", token, files, message?}`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(super) struct GithubPush {
    repo: String,
    token: String,
    files: BTreeMap<String, String>,
    message: Option<String>,
}

/// `{repo: "owner/name", token, path?}`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(super) struct GithubPull {
    repo: String,
    token: String,
    /// Only the files under this folder.
    path: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub(super) struct Success {
    pub(super) success: bool,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct DevStarted {
    pub(super) success: bool,
    /// What the frontend puts in its iframe.
    pub(super) dev_url: String,
    pub(super) port: Option<u16>,
    #[schema(pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
    pub(super) project_id: String,
}

#[derive(Serialize, ToSchema)]
pub(super) struct DevStatus {
    pub(super) active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) port: Option<u16>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct Build {
    pub(super) success: bool,
    /// The live site.
    pub(super) build_url: String,
    pub(super) deploy_id: String,
    pub(super) file_count: i64,
    pub(super) bytes: i64,
}

/// One SSE `data:` line of `/logs/{id}`.
#[derive(Serialize, ToSchema)]
pub(super) struct LogLine {
    pub(super) text: String,
    /// `log`, `warn` or `error`, guessed from the words.
    pub(super) level: &'static str,
    /// Unix milliseconds.
    pub(super) ts: i64,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct Health {
    pub(super) status: &'static str,
    pub(super) active_servers: usize,
    /// Whether this host runs sandboxes at all.
    pub(super) sandboxes: bool,
    pub(super) timestamp: i64,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct Pushed {
    pub(super) success: bool,
    pub(super) commit_sha: String,
    pub(super) branch: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct Pulled {
    pub(super) success: bool,
    pub(super) files: BTreeMap<String, String>,
    pub(super) branch: String,
    pub(super) file_count: usize,
}

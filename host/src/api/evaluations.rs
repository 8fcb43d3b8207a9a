//! `POST /api/admin/evaluations`: a stored validator tried on recorded runs before it serves
//! anyone, with what it finds that the serving version did not, and the reverse.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use serde::Deserialize;
use utoipa::ToSchema;

use super::spec::{Always, ErrorBody, Operator};
use super::{Admin, ApiError, AppState, parse_json};
use crate::plugins::evaluate::{EvaluationReport, Mode};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct EvaluationBody {
    /// A stored validator version, or `builtin`.
    #[schema(pattern = "^(builtin|[0-9a-f]{64})$")]
    version: String,
    /// `replace` (default): instead of the serving validator; `chain`: after it.
    #[serde(default)]
    mode: Mode,
    /// The latest this many runs that ended with files (20 by default, at most
    /// `BLINK_EVAL_MAX_RUNS`).
    #[serde(default)]
    #[schema(minimum = 1)]
    last: Option<i64>,
    /// Only this user's runs.
    #[serde(default)]
    user: Option<String>,
    /// Only this project's runs.
    #[serde(default)]
    project: Option<String>,
    /// Only runs a version (its whole content hash) served.
    #[serde(default)]
    #[schema(pattern = "^[0-9a-f]{64}$")]
    served_by: Option<String>,
    /// Started at or after (Unix ms).
    #[serde(default)]
    since: Option<i64>,
    /// Started before (Unix ms).
    #[serde(default)]
    until: Option<i64>,
}

/// Validates the final files of recorded runs again with the candidate, in the host's runtime and
/// with no model call, and compares with the versions that served them.
#[utoipa::path(post, path = "/api/admin/evaluations", tag = "plugins", security(("bearer" = [])), request_body = EvaluationBody,
    responses(
        (status = 200, body = EvaluationReport),
        (status = 400, description = "`invalid_json`, `invalid_limit`, `invalid_version`, `invalid_query`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such validator version", body = ErrorBody),
        (status = 422, description = "the version cannot be loaded", body = ErrorBody),
        Operator, Always,
    ))]
pub(crate) async fn evaluate(
    State(state): State<AppState>,
    admin: Admin,
    body: Bytes,
) -> Result<Json<EvaluationReport>, ApiError> {
    let body: EvaluationBody = parse_json(&body, r#"{"version", "mode", "last", "user", "project", ...}"#)?;
    let query = super::admin::RunsQuery::new(body.user, body.project, body.served_by, body.since, body.until);
    let filter = query.filter_with(body.last, 20, state.plugins.eval_max_runs)?;
    admin.note(format!("version {} ({:?}) on up to {} runs", body.version, body.mode, filter.limit));
    let config = state.agent_settings.current();
    let report = state.plugins.evaluate(&body.version, body.mode, &filter, config).await?;
    Ok(Json(report))
}

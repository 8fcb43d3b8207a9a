//! What operators read and do beyond agents: every user's runs, accounts, a project's deploys and
//! domains, stopping a sandbox. The console calls these routes, as any script may.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::runs::{Run, parse};
use super::spec::{Always, ErrorBody, Operator};
use super::{Admin, ApiError, AppState, Path, Query};
use crate::credits::Account;
use crate::deploy::{Deploy, Domain};
use crate::pipeline::store::{RunFilter, RunRecord};
use crate::projects::Project;

/// A page size from the query: `default` (at most `max`) when left out, refused outside 1..=`max`.
pub(super) fn page_limit(given: Option<i64>, default: i64, max: i64) -> Result<i64, ApiError> {
    match given {
        None => Ok(default.min(max)),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::bad_request("invalid_limit", format!("limit {n} is not between 1 and {max}"))),
    }
}

/// The outcome kinds a run can end with.
const OUTCOMES: [&str; 5] = ["files", "conversational", "failed", "interrupted", "running"];

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct RunsQuery {
    /// Only this user's runs.
    #[serde(default)]
    user: Option<String>,
    /// Only this project's runs.
    #[serde(default)]
    project: Option<String>,
    /// `files`, `conversational`, `failed`, `interrupted` or `running`.
    #[serde(default)]
    #[param(pattern = "^(files|conversational|failed|interrupted|running)$")]
    outcome: Option<String>,
    /// Only runs a version (its whole content hash) served, in any role.
    #[serde(default)]
    #[param(pattern = "^[0-9a-f]{64}$")]
    version: Option<String>,
    /// Started at or after this time (Unix ms).
    #[serde(default)]
    since: Option<i64>,
    /// Started before this time (Unix ms); for the next page, the last run's `createdAt`.
    #[serde(default)]
    until: Option<i64>,
    /// With `until`, the last run's `id`: runs of that same millisecond after it are on the
    /// next page too.
    #[serde(default, rename = "beforeId")]
    #[param(rename = "beforeId")]
    before_id: Option<String>,
    /// 1 to 500; 50 by default.
    #[serde(default)]
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
}

impl RunsQuery {
    /// The runs an evaluation picks: any outcome filter is its own.
    pub(super) fn new(
        user: Option<String>,
        project: Option<String>,
        version: Option<String>,
        since: Option<i64>,
        until: Option<i64>,
    ) -> Self {
        Self { user, project, outcome: None, version, since, until, before_id: None, limit: None }
    }

    fn filter(self, max: i64) -> Result<RunFilter, ApiError> {
        let limit = self.limit;
        self.filter_with(limit, 50, max)
    }

    /// The filter, once every field is known to be one the store can match exactly, with
    /// `limit` runs at most (`default` when not given).
    pub(super) fn filter_with(self, limit: Option<i64>, default: i64, max: i64) -> Result<RunFilter, ApiError> {
        if let Some(outcome) = &self.outcome
            && !OUTCOMES.contains(&outcome.as_str())
        {
            return Err(ApiError::bad_request(
                "invalid_outcome",
                format!("outcome {outcome:?} is not one of {}", OUTCOMES.join(", ")),
            ));
        }
        if let Some(version) = &self.version
            && !(version.len() == 64 && version.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()))
        {
            return Err(ApiError::bad_request("invalid_version", "a version is 64 lowercase hex digits"));
        }
        for (name, text) in [("user", &self.user), ("project", &self.project)] {
            if text.as_ref().is_some_and(|t| t.is_empty() || t.len() > 200) {
                return Err(ApiError::bad_request("invalid_query", format!("{name} must be 1 to 200 characters")));
            }
        }
        Ok(RunFilter {
            user: self.user,
            project: self.project,
            outcome: self.outcome,
            version: self.version,
            since: self.since,
            until: self.until,
            before_id: self.before_id,
            limit: page_limit(limit, default, max)?,
        })
    }
}

/// A run in a list: who, what, which versions, how it ended, what it used.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RunSummary {
    id: String,
    user_id: String,
    project_id: Option<String>,
    /// The request's summary: message and file counts, target, the last message.
    #[schema(value_type = Object)]
    request: Value,
    /// Role → the version that served it.
    #[schema(value_type = Object)]
    agents: Value,
    #[schema(value_type = Object)]
    outcome: Value,
    model_calls: i64,
    prompt_tokens: i64,
    completion_tokens: i64,
    created_at: i64,
    finished_at: i64,
}

impl From<RunRecord> for RunSummary {
    fn from(r: RunRecord) -> Self {
        Self {
            request: parse(&r.request),
            agents: parse(&r.agents),
            outcome: parse(&r.outcome),
            id: r.id,
            user_id: r.user_id,
            project_id: r.project_id,
            model_calls: r.model_calls,
            prompt_tokens: r.prompt_tokens,
            completion_tokens: r.completion_tokens,
            created_at: r.created_at,
            finished_at: r.finished_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Runs {
    runs: Vec<RunSummary>,
}

/// Every user's runs, newest first, by user, project, outcome, version and time.
#[utoipa::path(get, path = "/api/admin/runs", tag = "runs", security(("bearer" = [])), params(RunsQuery),
    responses(
        (status = 200, body = Runs),
        (status = 400, description = "`invalid_query`, `invalid_outcome`, `invalid_version`, `invalid_limit`", body = ErrorBody),
        Operator, Always,
    ))]
pub(crate) async fn runs(
    State(state): State<AppState>,
    _admin: Admin,
    Query(query): Query<RunsQuery>,
) -> Result<Json<Runs>, ApiError> {
    let filter = query.filter(500)?;
    let runs = crate::pipeline::store::runs(&state.db, &filter).await?;
    Ok(Json(Runs { runs: runs.into_iter().map(RunSummary::from).collect() }))
}

/// A run as an operator sees it: its record, whose it is and what it cost.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AdminRun {
    user_id: String,
    /// Micro-credits charged for the run; `null` where the frontend's tables keep the ledger.
    credits_spent: Option<i64>,
    run: Run,
}

#[utoipa::path(get, path = "/api/admin/runs/{id}", tag = "runs", security(("bearer" = [])), params(("id" = String, Path)),
    responses(
        (status = 200, body = AdminRun),
        (status = 404, description = "`not_found`: no run with this id", body = ErrorBody),
        Operator, Always,
    ))]
pub(crate) async fn run(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
) -> Result<Json<AdminRun>, ApiError> {
    let Some((run, events)) = crate::pipeline::store::any_run(&state.db, &id).await? else {
        return Err(ApiError::NotFound("run"));
    };
    let credits_spent = state.credits.spent_on_run(&run.user_id, &run.id).await?;
    Ok(Json(AdminRun { user_id: run.user_id.clone(), credits_spent, run: Run::of(run, &events) }))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct UsersQuery {
    /// 1 to 500; 100 by default.
    #[serde(default)]
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Users {
    users: Vec<Account>,
}

/// The users the host has seen, newest first, with their balances.
#[utoipa::path(get, path = "/api/admin/users", tag = "credits", security(("bearer" = [])), params(UsersQuery),
    responses(
        (status = 200, body = Users),
        (status = 400, description = "`invalid_query`, `invalid_limit`", body = ErrorBody),
        Operator, Always,
    ))]
pub(crate) async fn users(
    State(state): State<AppState>,
    _admin: Admin,
    Query(query): Query<UsersQuery>,
) -> Result<Json<Users>, ApiError> {
    let limit = page_limit(query.limit, 100, 500)?;
    Ok(Json(Users { users: state.credits.accounts(limit).await? }))
}

/// A project as an operator sees it: whose it is, its deploys and its domains.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ProjectOverview {
    project: Project,
    owner_id: String,
    deploys: Vec<Deploy>,
    domains: Vec<Domain>,
}

#[utoipa::path(get, path = "/api/admin/projects/{id}", tag = "deploys", security(("bearer" = [])),
    params(("id" = String, Path, pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", description = "The project's id")),
    responses(
        (status = 200, body = ProjectOverview),
        (status = 400, description = "`invalid_project_id`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        Operator, Always,
    ))]
pub(crate) async fn project(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
) -> Result<Json<ProjectOverview>, ApiError> {
    let (project, owner_id) = state.projects.with_owner(&id).await?;
    let deploys = state.deployer.list(&id).await?;
    let domains = state.deployer.domains(&id).await?;
    Ok(Json(ProjectOverview { project, owner_id, deploys, domains }))
}

/// Stops a project's sandbox on this host; its files stay, and its next preview starts a new one.
#[utoipa::path(delete, path = "/api/admin/sandboxes/{id}", tag = "sandboxes", security(("bearer" = [])),
    params(("id" = String, Path, pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", description = "The project's id")),
    responses(
        (status = 204, description = "Stopped (or was not running)"),
        (status = 400, description = "`invalid_project_id`", body = ErrorBody),
        Operator, Always,
    ))]
pub(crate) async fn stop_sandbox(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    crate::projects::check_id(&id)?;
    super::preview::previews(&state)?.stop(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

//! The API's OpenAPI 3.1 description. Paths come from the handlers' own `#[utoipa::path]`
//! annotations, registered with the router in the same call (`routes!`), so a route cannot exist
//! without its description; bodies are the types the handlers parse and answer with.

use std::sync::Arc;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoResponses, Modify, OpenApi, ToSchema};

/// Every failure's body: a stable code the client branches on and a sentence for people.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ErrorBody {
    /// Stable code, e.g. `invalid_json`, `not_found`, `rate_limited`, `Unauthorized`.
    pub(crate) error: String,
    /// What went wrong, in words. Absent only from `Messages array required`, the exact body
    /// today's frontend reads for an empty chat.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) message: Option<String>,
    /// With `rate_limited`: seconds until a call is given back (also in `Retry-After`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) retry_after_seconds: Option<u64>,
}

impl ErrorBody {
    pub(crate) fn new(code: &str, message: &str) -> Self {
        Self { error: code.into(), message: Some(message.into()), retry_after_seconds: None }
    }
}

// The response sets below only describe: `ApiError` builds every error body, so no variant is
// ever constructed.

/// What any route may answer whatever its body: too many calls, or a host that cannot serve.
/// (500 `internal` is left out on purpose: it is never a promise, and the fuzzer flags it.)
#[derive(IntoResponses)]
#[allow(dead_code)]
pub(crate) enum Always {
    /// `rate_limited`: the caller spent this route's calls, and `Retry-After` says when to come
    /// back; or a per-user cap on what runs at once (`sandbox_user_limit`,
    /// `too_many_log_streams`, `too_many_deploys`), without the header.
    #[response(status = 429, headers(("retry-after" = u64, description = "Seconds to wait, with `rate_limited`")))]
    RateLimited(ErrorBody),
    /// `unavailable`: the database or the token keys cannot be reached right now; on the sandbox
    /// routes, `sandbox_unavailable`, `sandbox_runtime_missing` or `sandbox_limit`.
    #[response(status = 503)]
    Unavailable(ErrorBody),
}

/// What a route that needs a signed-in user adds.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub(crate) enum Signed {
    /// `Unauthorized`: no bearer token, or one that does not verify.
    #[response(status = 401)]
    Unauthorized(ErrorBody),
}

/// What an operator's route adds.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub(crate) enum Operator {
    /// `Unauthorized`: no bearer token, or one that does not verify.
    #[response(status = 401)]
    Unauthorized(ErrorBody),
    /// `forbidden`: signed in, but neither the admin token nor an admin's JWT.
    #[response(status = 403)]
    Forbidden(ErrorBody),
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Blink host",
        description = "Plans, writes, validates and repairs web apps with language models, streams the run \
                       over SSE, previews and builds them in sandboxes, keeps them in git and deploys them.",
    ),
    modifiers(&Bearer),
    components(schemas(ErrorBody, crate::pipeline::events::Event)),
    tags(
        (name = "runs", description = "A chat in, the run's events out over SSE; the runs recorded"),
        (name = "projects", description = "A user's projects and the agents their runs use"),
        (name = "credits", description = "Balances and the ledger"),
        (name = "sandboxes", description = "Live previews, production builds and their logs"),
        (name = "git", description = "Each project's repository and its remote"),
        (name = "deploys", description = "Releases, their history and custom domains"),
        (name = "plugins", description = "Operators' agent versions, canaries and settings"),
        (name = "operations", description = "Health, readiness, metrics and this description"),
        (name = "legacy", description = "Today's frontend's earlier Node backend's routes, with its shapes; \
            only when the operator turns them on (BLINK_LEGACY_ROUTES)"),
    )
)]
pub(crate) struct ApiDoc;

/// The one scheme: a bearer token, a Supabase user's JWT (or, for operator routes, the
/// `BLINK_ADMIN_TOKEN`).
struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let scheme = HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build();
        components.add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// The description as served, rendered once at start.
#[derive(Clone)]
pub(crate) struct Served(pub(crate) Arc<str>);

impl Served {
    pub(crate) fn new(openapi: &utoipa::openapi::OpenApi) -> Self {
        Self(Arc::from(openapi.to_pretty_json().expect("an OpenAPI document serializes")))
    }
}

/// `GET /api/openapi.json`.
#[utoipa::path(get, path = "/api/openapi.json", tag = "operations",
    responses((status = 200, description = "This document", content_type = "application/json", body = Object), Always))]
pub(crate) async fn openapi(axum::Extension(served): axum::Extension<Served>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], served.0.to_string()).into_response()
}

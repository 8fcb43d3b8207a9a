//! The HTTP API: routes, shared state, CORS and limits. Handlers are thin: extract, call the
//! domain, map the result.

mod admin;
mod audit;
mod console;
mod credits;
mod deploy;
mod error;
mod evaluations;
mod git;
mod health;
mod legacy;
pub(crate) mod limits;
mod observe;
mod orchestrator;
mod plugins;
mod preview;
mod projects;
pub(crate) mod proxy;
pub(crate) mod registry;
mod runs;
mod sites;
mod spec;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi as _;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt as _};
use utoipa_axum::routes;

pub(crate) use self::error::ApiError;
pub(crate) use self::legacy::limits::Limits as LegacyLimits;
use crate::auth::{AuthError, Authenticator, User};
use crate::config::{Limits, Settings};
use crate::db::Database;
use crate::pipeline::Pipeline;

#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) pipeline: Arc<Pipeline>,
    pub(crate) auth: Arc<Authenticator>,
    pub(crate) db: Database,
    pub(crate) plugins: crate::plugins::PluginStore,
    /// `None` when sandboxes are turned off.
    pub(crate) previews: Option<Arc<crate::preview::Previews>>,
    pub(crate) proxy: proxy::ProxyClient,
    pub(crate) workspaces: crate::workspace::Workspaces,
    pub(crate) git: crate::git::ProjectGit,
    pub(crate) deployer: crate::deploy::Deployer,
    pub(crate) projects: crate::projects::Projects,
    pub(crate) credits: crate::credits::Credits,
    pub(crate) agent_settings: Arc<crate::plugins::settings::AgentSettings>,
    pub(crate) admin_token: Option<Arc<str>>,
    /// Micro-credits a user starts with on first sight.
    pub(crate) starting_credits: i64,
    pub(crate) limits: Arc<Limits>,
    pub(crate) default_target: blink_agent_sdk::RuntimeTarget,
    pub(crate) keepalive: Duration,
    /// This host process's id: it holds the runs it records.
    pub(crate) instance: Arc<str>,
    /// The bearer `/metrics` needs, if any.
    pub(crate) metrics_token: Option<Arc<str>>,
    /// How fast each caller may spend the host.
    pub(crate) rates: Arc<limits::RateLimits>,
    /// The legacy routes' per-address limits.
    pub(crate) legacy: Arc<legacy::limits::Limits>,
    /// Files `/github/pull` returns at most.
    pub(crate) pull_max_files: usize,
    /// Cancelled at shutdown; running orchestrations stop cleanly and close their streams.
    pub(crate) shutdown: tokio_util::sync::CancellationToken,
    /// What marks a request one host passed on to another (`x-blink-hop`): derived from the
    /// secret key every host shares, so no caller can make a request look passed on.
    pub(crate) hop: Arc<str>,
}

pub(crate) fn router(state: AppState, settings: &Settings) -> Router {
    let described = described(&state).merge(legacy::routes(settings.legacy.legacy_routes));
    let (api, openapi) = described.split_for_parts();
    // The document's own route reads it from here: it exists only once every route is described.
    api.layer(axum::Extension(spec::Served::new(&openapi)))
        .merge(preview_paths(settings.sandbox.preview_paths))
        .merge(console::routes(settings.sandbox.preview_paths))
        // Counted by route template: only matched routes pass through this layer.
        .route_layer(axum::middleware::from_fn(observe::track))
        // The orchestrator reads its body itself to answer oversize bodies with JSON; this layer
        // bounds every other route.
        .layer(DefaultBodyLimit::max(state.limits.max_body_bytes))
        .layer(cors(&settings.cors_origins))
        .layer(TraceLayer::new_for_http().make_span_with(observe::span))
        // Outermost: a request whose host name names a preview never reaches the API; every
        // request has its id first.
        .layer(axum::middleware::from_fn_with_state(state.clone(), audit::record))
        .layer(axum::middleware::from_fn_with_state(state.clone(), preview_host))
        .layer(axum::middleware::from_fn(observe::request_id))
        .with_state(state)
}

/// The routes the OpenAPI document describes, each registered with its own description.
pub(crate) fn described(state: &AppState) -> OpenApiRouter<AppState> {
    let plugin_bytes = DefaultBodyLimit::max(state.plugins.max_bytes);
    OpenApiRouter::with_openapi(spec::ApiDoc::openapi())
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(spec::openapi))
        .routes(routes!(observe::metrics))
        .routes(routes!(orchestrator::orchestrate))
        .routes(routes!(runs::get))
        .routes(routes!(admin::runs))
        .routes(routes!(admin::run))
        .routes(routes!(admin::users))
        .routes(routes!(admin::project))
        .routes(routes!(admin::stop_sandbox))
        .routes(routes!(audit::list))
        .routes(routes!(evaluations::evaluate))
        .routes(routes!(projects::create, projects::list))
        .routes(routes!(projects::remove))
        .routes(routes!(projects::pipeline, projects::set_pipeline))
        .routes(routes!(credits::mine))
        .routes(routes!(credits::grant))
        .routes(routes!(credits::usage))
        .routes(routes!(plugins::list))
        .routes(routes!(plugins::upload).layer(plugin_bytes))
        .routes(routes!(plugins::rollback))
        .routes(routes!(plugins::canary))
        .routes(routes!(plugins::stats))
        .routes(routes!(plugins::activate))
        .routes(routes!(plugins::remove, plugins::download))
        .routes(routes!(plugins::settings))
        .routes(routes!(plugins::set_settings))
        .routes(routes!(preview::preview))
        .routes(routes!(preview::build))
        .routes(routes!(preview::logs))
        .routes(routes!(preview::status))
        .routes(routes!(deploy::deploy))
        .routes(routes!(deploy::list))
        .routes(routes!(deploy::restore))
        .routes(routes!(deploy::domains))
        .routes(routes!(deploy::detach_domain))
        .routes(routes!(deploy::verify_domain))
        .routes(routes!(git::commit))
        .routes(routes!(git::pull))
        .routes(routes!(git::set_remote, git::remote))
        .routes(routes!(git::log))
        .routes(routes!(git::restore))
        .routes(routes!(git::create_github))
}

/// Previews by path on the API's own origin, where every preview would share one origin with the
/// API and each other: only when the operator opts in, else a stable error.
fn preview_paths(enabled: bool) -> Router<AppState> {
    if enabled {
        Router::new()
            .route("/preview/{id}", axum::routing::any(proxy::by_path_root))
            .route("/preview/{id}/", axum::routing::any(proxy::by_path_index))
            .route("/preview/{id}/{*rest}", axum::routing::any(proxy::by_path))
    } else {
        Router::new()
            .route("/preview/{id}", axum::routing::any(preview::paths_disabled))
            .route("/preview/{id}/", axum::routing::any(preview::paths_disabled))
            .route("/preview/{id}/{*rest}", axum::routing::any(preview::paths_disabled))
    }
}

/// The names (with any port) a caller reached this API by: its `Host`, and the public one a
/// proxy in front reports in `X-Forwarded-Host`, first.
fn request_hosts(headers: &axum::http::HeaderMap) -> impl Iterator<Item = &str> {
    ["x-forwarded-host", header::HOST.as_str()].into_iter().filter_map(|name| headers.get(name)?.to_str().ok())
}

/// Runs `work` to its end even if the client hangs up. Axum drops a handler's future when its
/// client leaves, which would give back the turn and the per-user slot it holds while the
/// blocking copies it started go on: work that holds a limit must outlive its request.
async fn detached<T: Send + 'static>(
    work: impl std::future::Future<Output = Result<T, ApiError>> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::spawn(work).await.map_err(|e| ApiError::Internal(format!("a detached task failed: {e}")))?
}

/// axum's `Query`, answering a query string it cannot read with the API's JSON error.
pub(crate) struct Query<T>(pub(crate) T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let query = axum::extract::Query::<T>::from_request_parts(parts, state).await;
        query.map(|q| Self(q.0)).map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))
    }
}

/// axum's `Path`, answering a segment it cannot read (not UTF-8 once decoded) with the API's
/// JSON error.
pub(crate) struct Path<T>(pub(crate) T);

impl<T: serde::de::DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let path = axum::extract::Path::<T>::from_request_parts(parts, state).await;
        path.map(|p| Self(p.0)).map_err(|e| ApiError::bad_request("invalid_path_parameter", e.body_text()))
    }
}

/// A JSON body, or 400 `invalid_json` saying what shape was expected.
fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8], shape: &str) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request("invalid_json", format!("expected {shape}: {e}")))
}

async fn preview_host(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let request = match proxy::by_host(&state, request).await {
        Ok(response) => return response,
        Err(request) => request,
    };
    // A deployed site, by its host name: served from its live release, as a CDN's origin.
    let host = request.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default().to_string();
    if let Some(site) = state.deployer.site_of_host(&host) {
        // A custom domain is any name a user typed: were it this API's own, claimed before the
        // operator reserved it, the API's paths still reach the API.
        let path = request.uri().path();
        let api_path =
            ["/api/", "/preview/"].iter().any(|p| path.starts_with(p)) || path == "/healthz" || path == "/readyz";
        if !(site.custom && api_path) {
            return sites::serve(&state.deployer, &site.project, request).await;
        }
    }
    next.run(request).await
}

fn cors(origins: &[String]) -> CorsLayer {
    let allow_origin = if origins.iter().any(|o| o.trim() == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o.trim()).ok()))
    };
    CorsLayer::new()
        .allow_origin(allow_origin)
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE, Method::OPTIONS])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("x-client-info"),
            HeaderName::from_static("apikey"),
            observe::REQUEST_ID,
        ])
        .expose_headers([HeaderName::from_static(orchestrator::RUN_ID_HEADER), observe::REQUEST_ID])
        .max_age(Duration::from_secs(86_400))
}

/// An operator: the `BLINK_ADMIN_TOKEN` bearer, or a user whose JWT says `app_metadata.role: admin`.
/// Naming them also names who made the change in the audit log.
pub(crate) struct Admin {
    audit: Option<audit::Audit>,
}

impl Admin {
    /// What the change named beyond its path, for the audit log.
    pub(crate) fn note(&self, detail: impl Into<String>) {
        if let Some(audit) = &self.audit {
            audit.note(detail);
        }
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let audit = parts.extensions.get::<audit::Audit>().cloned();
        let header = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        let bearer = header.and_then(|h| h.strip_prefix("Bearer ")).map(str::trim);
        if let (Some(token), Some(bearer)) = (&state.admin_token, bearer)
            && constant_time_eq(token.as_bytes(), bearer.as_bytes())
        {
            if let Some(audit) = &audit {
                audit.actor("admin-token".into());
            }
            return Ok(Admin { audit });
        }
        let user = User::from_request_parts(parts, state).await?;
        if !user.is_admin {
            return Err(ApiError::Forbidden);
        }
        if let Some(audit) = &audit {
            let email = user.email.as_deref().map(|e| format!(" ({e})")).unwrap_or_default();
            audit.actor(format!("user:{}{email}", user.id));
        }
        Ok(Admin { audit })
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl FromRequestParts<AppState> for User {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let header = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        let user = match state.auth.authenticate(header).await {
            Ok(user) => user,
            Err(AuthError::KeysUnavailable(m)) => return Err(ApiError::Unavailable(m)),
            Err(other) => {
                // Guessing tokens costs the guesser: past the limit, 429 before any more checks.
                let peer = parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0);
                state.rates.unauthenticated(peer, &parts.headers)?;
                return Err(ApiError::Unauthorized(other));
            }
        };
        // Every signed-in user has an account from their first request on.
        state.credits.ensure_account(&user.id, user.email.as_deref(), state.starting_credits).await?;
        Ok(user)
    }
}

//! The HTTP API: routes, shared state, CORS and limits. Handlers are thin: extract, call the
//! domain, map the result.

mod credits;
mod deploy;
mod error;
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

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::routing::{delete, get, post};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::trace::TraceLayer;

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
}

pub(crate) fn router(state: AppState, settings: &Settings) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/api/orchestrator", post(orchestrator::orchestrate))
        .route("/api/projects", post(projects::create).get(projects::list))
        .route("/api/credits", get(credits::mine))
        .route("/api/runs/{id}", get(runs::get))
        .route("/api/admin/credits", post(credits::grant))
        .route("/api/admin/usage", get(credits::usage))
        .route("/api/admin/plugins/{role}", post(plugins::upload).layer(DefaultBodyLimit::max(state.plugins.max_bytes)))
        .route("/api/admin/plugins", get(plugins::list))
        .route("/api/admin/plugins/{role}/rollback", post(plugins::rollback))
        .route("/api/admin/plugins/{role}/canary", axum::routing::put(plugins::canary))
        .route("/api/admin/plugins/{role}/{version}/stats", get(plugins::stats))
        .route("/api/admin/plugins/{role}/{version}/activate", post(plugins::activate))
        .route("/api/admin/plugins/{role}/{version}", delete(plugins::remove).get(plugins::download))
        .route("/api/projects/{id}", delete(projects::remove))
        .route("/api/projects/{id}/pipeline", get(projects::pipeline).put(projects::set_pipeline))
        .route("/api/admin/agents/settings", get(plugins::settings))
        .route("/api/admin/agents/{role}/settings", axum::routing::put(plugins::set_settings))
        .route("/api/preview", post(preview::preview))
        .route("/api/build", post(preview::build))
        .route("/api/admin/sandboxes", get(preview::status))
        .route("/api/deploy", post(deploy::deploy))
        .route("/api/projects/{id}/deploys", get(deploy::list))
        .route("/api/projects/{id}/deploys/{deploy}/restore", post(deploy::restore))
        .route("/api/projects/{id}/domains", get(deploy::domains))
        .route("/api/projects/{id}/domains/{hostname}", axum::routing::delete(deploy::detach_domain))
        .route("/api/projects/{id}/domains/{hostname}/verify", post(deploy::verify_domain))
        .route("/api/git/commit", post(git::commit))
        .route("/api/git/pull", post(git::pull))
        .route("/api/projects/{id}/git", axum::routing::put(git::set_remote).get(git::remote))
        .route("/api/projects/{id}/git/log", get(git::log))
        .route("/api/projects/{id}/git/restore", post(git::restore))
        .route("/api/projects/{id}/git/github", post(git::create_github))
        .route("/api/projects/{id}/logs", get(preview::logs))
        .route("/metrics", get(observe::metrics))
        .merge(preview_paths(settings.sandbox.preview_paths))
        .merge(legacy::routes(settings.legacy.legacy_routes))
        // Counted by route template: only matched routes pass through this layer.
        .route_layer(axum::middleware::from_fn(observe::track))
        // The orchestrator reads its body itself to answer oversize bodies with JSON; this layer
        // bounds every other route.
        .layer(DefaultBodyLimit::max(state.limits.max_body_bytes))
        .layer(cors(&settings.cors_origins))
        .layer(TraceLayer::new_for_http().make_span_with(observe::span))
        // Outermost: a request whose host name names a preview never reaches the API; every
        // request has its id first.
        .layer(axum::middleware::from_fn_with_state(state.clone(), preview_host))
        .layer(axum::middleware::from_fn(observe::request_id))
        .with_state(state)
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
pub(crate) struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let header = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        let bearer = header.and_then(|h| h.strip_prefix("Bearer ")).map(str::trim);
        if let (Some(token), Some(bearer)) = (&state.admin_token, bearer)
            && constant_time_eq(token.as_bytes(), bearer.as_bytes())
        {
            return Ok(Admin);
        }
        let user = User::from_request_parts(parts, state).await?;
        if user.is_admin { Ok(Admin) } else { Err(ApiError::Forbidden) }
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

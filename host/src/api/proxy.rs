//! The reverse proxy in front of every project's dev server: HTTP and the HMR WebSocket, by host
//! name (`{projectId}.{preview domain}`, each project its own origin) or, when the operator opts
//! in, by path on the API's origin (`/preview/{projectId}/…`).
//!
//! Vite serves each project under its base path, so both ways forward that path unchanged; a
//! request by host name for `/x` is forwarded as `/preview/{projectId}/x`. Headers by which a
//! response could reach beyond its own preview are dropped on the way back.

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

use super::AppState;
use crate::preview::Previews;
use crate::workspace::valid_project_id;

pub(crate) type ProxyClient = Client<HttpConnector, Body>;

pub(crate) fn client() -> ProxyClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new()).build(connector)
}

/// Headers that belong to one hop, not to the message (RFC 9110 §7.6.1).
const HOP_BY_HOP: &[&str] =
    &["keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "transfer-encoding"];

/// Response headers that act on more than the preview that sent them: a service worker's scope
/// widened to the whole origin, cookies (a `Domain` one reaches sibling previews, a `Path=/` one
/// the API's origin on the path form), wiping or redirecting the origin, pinning HTTPS for the
/// host name and its subdomains. A dev server of a single-page app needs none of them.
const ORIGIN_WIDE: &[&str] =
    &["service-worker-allowed", "set-cookie", "clear-site-data", "alt-svc", "strict-transport-security"];

/// `/preview/{projectId}` without the trailing slash: Vite only answers under the base.
pub(crate) async fn by_path_root(Path(project): Path<String>) -> Response {
    let location = format!("/preview/{project}/");
    (StatusCode::PERMANENT_REDIRECT, [(header::LOCATION, location)]).into_response()
}

pub(crate) async fn by_path(
    State(state): State<AppState>,
    Path((project, _)): Path<(String, String)>,
    request: Request,
) -> Response {
    forward(&state, &project, request).await
}

pub(crate) async fn by_path_index(
    State(state): State<AppState>,
    Path(project): Path<String>,
    request: Request,
) -> Response {
    forward(&state, &project, request).await
}

/// The project a `{projectId}.{domain}` host name (with any port) names, if it does.
pub(crate) fn project_of_host<'h>(host: &'h str, domain: &str) -> Option<&'h str> {
    let name = host.rsplit_once(':').filter(|(_, port)| port.parse::<u16>().is_ok()).map_or(host, |(name, _)| name);
    let name = name.strip_suffix('.').unwrap_or(name);
    let (project, rest) = name.split_once('.')?;
    (rest.eq_ignore_ascii_case(domain.trim_end_matches('.')) && valid_project_id(project)).then_some(project)
}

/// Serves a request whose host name names a preview; `None` lets the API handle it.
pub(crate) async fn by_host(state: &AppState, mut request: Request) -> Result<Response, Request> {
    let Some(previews) = state.previews.as_ref() else { return Err(request) };
    let host = request.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
    let Some(project) = project_of_host(host, previews.domain()).map(str::to_string) else {
        return Err(request);
    };
    let base = Previews::base_path(&project);
    let path_and_query = request.uri().path_and_query().map_or("/", |p| p.as_str()).to_string();
    if !path_and_query.starts_with(&base) {
        let rewritten = format!("{}{}", base.trim_end_matches('/'), path_and_query);
        if let Ok(uri) = rewritten.parse::<Uri>() {
            *request.uri_mut() = uri;
        }
    }
    Ok(forward(state, &project, request).await)
}

/// Marks a request one host passed on to another: the receiving host serves it itself, so a
/// request never travels in a circle between hosts that disagree on where a sandbox runs, and
/// does not count it against the caller's rates twice. Its value is the hosts' shared mark.
pub(crate) const HOP: &str = "x-blink-hop";

/// Whether another host passed this request on (the hosts' mark, not a caller's guess).
pub(crate) fn hopped(state: &AppState, headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers.get(HOP) else { return false };
    let (given, mark) = (value.as_bytes(), state.hop.as_bytes());
    // Compared in constant time: the mark is a secret.
    given.len() == mark.len() && given.iter().zip(mark).fold(0u8, |diff, (a, b)| diff | (a ^ b)) == 0
}

/// Where a request for a preview goes.
enum Upstream {
    /// The project's dev server, which runs on this host.
    Sandbox(std::net::SocketAddr),
    /// The host that runs the project's sandbox, at this URL.
    Peer(String),
}

async fn forward(state: &AppState, project: &str, request: Request) -> Response {
    let previews = state.previews.as_ref();
    let upstream = match previews.and_then(|p| p.upstream(project)) {
        Some(address) => Upstream::Sandbox(address),
        None => match previews {
            Some(previews) if !hopped(state, request.headers()) => match previews.runs_on(project).await {
                Some(url) => Upstream::Peer(url),
                None => return not_running(),
            },
            _ => return not_running(),
        },
    };
    relay(state, project, upstream, request).await
}

fn not_running() -> Response {
    (StatusCode::NOT_FOUND, "No preview is running for this project.").into_response()
}

/// Passes an API request about a project's sandbox on to the host that runs it, as it came
/// (the caller's credentials included: that host checks them again).
pub(crate) async fn to_peer(state: &AppState, project: &str, peer: &str, request: Request) -> Response {
    relay(state, project, Upstream::Peer(peer.to_string()), request).await
}

async fn relay(state: &AppState, project: &str, upstream: Upstream, mut request: Request) -> Response {
    let path_and_query = request.uri().path_and_query().map_or("/", |p| p.as_str()).to_string();
    let target = match &upstream {
        Upstream::Sandbox(address) => format!("http://{address}{path_and_query}"),
        Upstream::Peer(url) => format!("{}{path_and_query}", url.trim_end_matches('/')),
    };
    let Ok(uri) = target.parse::<Uri>() else {
        return (StatusCode::BAD_REQUEST, "Bad preview path.").into_response();
    };
    let upgrade = request
        .headers()
        .get(header::UPGRADE)
        .is_some_and(|u| u.as_bytes().eq_ignore_ascii_case(b"websocket"))
        .then(|| hyper::upgrade::on(&mut request));
    *request.uri_mut() = uri;
    let headers = request.headers_mut();
    for name in HOP_BY_HOP {
        headers.remove(*name);
    }
    if upgrade.is_none() {
        headers.remove(header::CONNECTION);
        headers.remove(header::UPGRADE);
    }
    match &upstream {
        Upstream::Sandbox(address) => {
            // The hosts' mark never reaches a project's code.
            headers.remove(HOP);
            if let Ok(host) = HeaderValue::from_str(&address.to_string()) {
                headers.insert(header::HOST, host);
            }
        }
        // The host name the caller used stays: it names the preview, and the URLs the other host
        // answers with are the caller's.
        Upstream::Peer(_) => {
            if let Ok(mark) = HeaderValue::from_str(&state.hop) {
                headers.insert(HOP, mark);
            }
        }
    }
    let mut response = match state.proxy.request(request).await {
        Ok(response) => response,
        Err(e) => {
            tracing::warn!(project, "preview upstream failed: {e}");
            let message = match upstream {
                Upstream::Sandbox(_) => "The preview's dev server did not answer.",
                Upstream::Peer(_) => "The host running this project's sandbox did not answer.",
            };
            return (StatusCode::BAD_GATEWAY, message).into_response();
        }
    };
    if response.status() == StatusCode::SWITCHING_PROTOCOLS
        && let Some(client_side) = upgrade
    {
        let upstream_side = hyper::upgrade::on(&mut response);
        let project = project.to_string();
        tokio::spawn(async move {
            match tokio::try_join!(client_side, upstream_side) {
                Ok((client, server)) => {
                    let (mut client, mut server) = (TokioIo::new(client), TokioIo::new(server));
                    if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut server).await {
                        tracing::debug!(project, "preview websocket closed: {e}");
                    }
                }
                Err(e) => tracing::debug!(project, "preview websocket upgrade failed: {e}"),
            }
        });
    }
    let (mut parts, body) = response.into_parts();
    for name in HOP_BY_HOP.iter().chain(ORIGIN_WIDE) {
        parts.headers.remove(*name);
    }
    Response::from_parts(parts, Body::new(body))
}

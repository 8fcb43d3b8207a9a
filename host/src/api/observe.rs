//! What operators see of each request: its id (the caller's `x-request-id` when it is a sane
//! one, else a fresh one), carried by every log line the request causes, stored with the run it
//! starts, and echoed on the response; its count and latency by route template; and `/metrics`.

use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState};
use crate::runtime::Role;

pub(crate) const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request's id, for handlers that record it.
#[derive(Clone)]
pub(crate) struct RequestId(pub(crate) Arc<str>);

/// Gives the request its id before anything logs it.
pub(crate) async fn request_id(mut request: Request, next: Next) -> Response {
    let given = request.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).filter(|id| sane(id));
    let id = given.map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_string);
    let value = HeaderValue::from_str(&id).expect("a sane id or a uuid is a header value");
    request.headers_mut().insert(REQUEST_ID, value.clone());
    request.extensions_mut().insert(RequestId(Arc::from(id)));
    let mut response = next.run(request).await;
    response.headers_mut().insert(REQUEST_ID, value);
    response
}

/// Counts the request under its route template (`/api/runs/{id}`, never the id itself).
pub(crate) async fn track(request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str).to_string();
    let method = request.method().clone();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    crate::telemetry::http(method.as_str(), &route, response.status().as_u16(), started.elapsed());
    response
}

/// `GET /metrics`: every metric in Prometheus's text format; behind `BLINK_METRICS_TOKEN` when
/// the operator sets one.
#[utoipa::path(get, path = "/metrics", tag = "operations", security((), ("bearer" = [])),
    responses(
        (status = 200, description = "Prometheus's text exposition format", content_type = "text/plain", body = String),
        (status = 401, description = "`Unauthorized`: the metrics token is set and this is not it", body = super::spec::ErrorBody),
        super::spec::Always,
    ))]
pub(crate) async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    if let Some(token) = &state.metrics_token {
        let bearer = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        let given = bearer.and_then(|h| h.strip_prefix("Bearer ")).map(str::trim).unwrap_or_default();
        if !super::constant_time_eq(token.as_bytes(), given.as_bytes()) {
            return Err(ApiError::Coded {
                status: StatusCode::UNAUTHORIZED,
                code: "Unauthorized",
                message: "the metrics need the BLINK_METRICS_TOKEN bearer".into(),
            });
        }
    }
    // Levels are read at scrape time; counters were kept as things happened.
    if let Some(previews) = &state.previews {
        let (running, warm) = previews.counts();
        crate::telemetry::sandboxes(running, warm);
    }
    for role in Role::ALL {
        let share = state.pipeline.runtime.canary(role).map_or(0.0, |c| c.share);
        crate::telemetry::canary_share(role.as_str(), share);
    }
    let (open, idle) = state.db.pool_usage();
    crate::telemetry::database_pool(open, idle);
    let text = crate::telemetry::render();
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response())
}

/// An id a caller may choose: short, and nothing that could forge a log line or a field.
fn sane(id: &str) -> bool {
    (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

/// The span a request's log lines carry.
pub(crate) fn span(request: &Request) -> tracing::Span {
    let id = request.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or_default();
    tracing::info_span!("request", request_id = %id, method = %request.method(), path = %request.uri().path())
}

#[cfg(test)]
mod tests {
    use super::sane;

    #[test]
    fn only_plain_ids_are_taken_from_the_caller() {
        assert!(sane("2f1c9a3e-7b1d-4c55-9d7e-0a1b2c3d4e5f"));
        assert!(sane("req_01.edge:42"));
        for bad in ["", "a b", "x\ny", "{\"forged\":1}", &"a".repeat(129), "é"] {
            assert!(!sane(bad), "{bad:?}");
        }
    }
}

//! `/console`: the operators' console, three files embedded in the binary (no Node.js, no CDN,
//! no build step). The page holds no authority of its own: it calls the same admin API as any
//! script, with the operator's token in an `Authorization` header that it keeps in the tab's
//! session storage, never in a URL or a cookie. With no ambient credential, a page on another
//! site cannot make the browser act for the operator (no CSRF), and the strict policy below keeps
//! any script but these files out of it.

use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use super::AppState;

const INDEX: &str = include_str!("index.html");
const SCRIPT: &str = include_str!("console.js");
const STYLE: &str = include_str!("console.css");

/// Only this origin's own files; no inline script or style, no frames, no forms posting away.
pub(crate) const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The console's routes; none when previews share the API's origin (`BLINK_PREVIEW_PATHS`),
/// where a user's app would share the console's too, and with it the token in its storage.
pub(crate) fn routes(previews_on_this_origin: bool) -> Router<AppState> {
    if previews_on_this_origin {
        return Router::new().route("/console", get(|| async { refused() }));
    }
    Router::new()
        .route("/console", get(|| async { page(INDEX, "text/html; charset=utf-8") }))
        .route("/console/", get(|| async { Redirect::permanent("/console") }))
        .route("/console/console.js", get(|| async { page(SCRIPT, "text/javascript; charset=utf-8") }))
        .route("/console/console.css", get(|| async { page(STYLE, "text/css; charset=utf-8") }))
}

fn page(body: &'static str, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // No page this one opens, or that opens it, keeps a handle on its window (and its token).
    headers.insert(HeaderName::from_static("cross-origin-opener-policy"), HeaderValue::from_static("same-origin"));
    // A new binary brings new files: never serve yesterday's script with today's API.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn refused() -> super::ApiError {
    super::ApiError::Coded {
        status: axum::http::StatusCode::NOT_FOUND,
        code: "console_disabled",
        message: "The console is off while previews are served under /preview/ on this origin \
                  (BLINK_PREVIEW_PATHS=true): a user's app there could read the operator's token."
            .into(),
    }
}

//! Deployed sites served by `Host` header, the way a CDN's origin would: conditional requests
//! and ranges answered against the release's own content hashes.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tower::ServiceExt as _;

use crate::deploy::{Deployer, FetchError, SiteError, Stored};

/// Answers a request for `project`'s live site.
pub(crate) async fn serve(deployer: &Deployer, project: &str, mut request: Request) -> Response {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let file = match deployer.site_file(project, request.uri().path()).await {
        Ok(file) => file,
        Err(e) => {
            let status = match e {
                SiteError::NotFound | SiteError::NothingDeployed => StatusCode::NOT_FOUND,
                SiteError::Updating | SiteError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            };
            return (status, e.to_string()).into_response();
        }
    };
    let cache = HeaderValue::from_static(file.cache_control);
    let etag = HeaderValue::from_str(&file.etag).ok();
    let matches =
        request.headers().get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|v| {
            v.split(',').any(|tag| tag.trim().trim_start_matches("W/") == file.etag || tag.trim() == "*")
        });
    if matches {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        response.headers_mut().insert(header::CACHE_CONTROL, cache);
        if let Some(etag) = etag {
            response.headers_mut().insert(header::ETAG, etag);
        }
        return response;
    }
    // Validators are ours (content hashes): a store's own dates must not answer for them, or a
    // rollback to older bytes would be "not modified". A range of other bytes than the client
    // holds would splice two versions: `If-Range` drops the range then.
    let headers = request.headers_mut();
    let stale_range = headers.get(header::IF_RANGE).is_some_and(|v| v.as_bytes() != file.etag.as_bytes());
    if stale_range {
        headers.remove(header::RANGE);
    }
    for name in [header::IF_RANGE, header::IF_MODIFIED_SINCE, header::IF_UNMODIFIED_SINCE, header::IF_MATCH] {
        headers.remove(name);
    }
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok()).map(str::to_string);
    let mut response = match file.open(range).await {
        Ok(Stored::File(path)) => match tower_http::services::ServeFile::new(&path).oneshot(request).await {
            Ok(response) => response.map(Body::new),
            Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        },
        Ok(Stored::Object { length, content_range, body }) => {
            let status = if content_range.is_some() { StatusCode::PARTIAL_CONTENT } else { StatusCode::OK };
            let mut response = Response::builder().status(status).header(header::ACCEPT_RANGES, "bytes");
            if let Some(length) = length {
                response = response.header(header::CONTENT_LENGTH, length);
            }
            if let Some(range) = content_range {
                response = response.header(header::CONTENT_RANGE, range);
            }
            let body = if request.method() == Method::HEAD { Body::empty() } else { Body::from_stream(body) };
            response.body(body).unwrap_or_else(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response())
        }
        Err(FetchError::NotFound) => (StatusCode::NOT_FOUND, FetchError::NotFound.to_string()).into_response(),
        Err(FetchError::RangeNotSatisfiable) => StatusCode::RANGE_NOT_SATISFIABLE.into_response(),
        Err(e @ FetchError::Unavailable) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    };
    if response.status() == StatusCode::RANGE_NOT_SATISFIABLE
        && let Ok(value) = HeaderValue::from_str(&format!("bytes */{}", file.size))
    {
        response.headers_mut().insert(header::CONTENT_RANGE, value);
    }
    if response.status().is_success() {
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, cache);
        if let Some(etag) = etag {
            headers.insert(header::ETAG, etag);
        }
        if let Ok(kind) = HeaderValue::from_str(&file.content_type) {
            headers.insert(header::CONTENT_TYPE, kind);
        }
    }
    response
}

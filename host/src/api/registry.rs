//! The npm registry proxy's HTTP face, on the sandbox network's gateway: reads only, package
//! metadata as JSON and tarballs streamed from the disk cache.

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::preview::registry::{Package, RegistryError, RegistryProxy};

/// Serves `proxy` on `listener` until `shutdown`.
pub(crate) fn serve(
    listener: tokio::net::TcpListener,
    proxy: RegistryProxy,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let app = Router::new().fallback(handle).with_state(proxy);
    tokio::spawn(async move {
        let serve = axum::serve(listener, app).with_graceful_shutdown(async move { shutdown.cancelled().await });
        if let Err(e) = serve.await {
            tracing::error!("the registry proxy stopped: {e}");
        }
    });
}

async fn handle(State(proxy): State<RegistryProxy>, request: Request) -> Response {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        proxy.refuse();
        return (StatusCode::FORBIDDEN, "This registry is read-only.").into_response();
    }
    match proxy.get(request.uri().path()).await {
        Ok(Package::Metadata(body)) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Ok(Package::Tarball(file)) => tarball(file),
        Err(e) => {
            let status = match &e {
                RegistryError::NotServed => StatusCode::NOT_FOUND,
                RegistryError::Upstream { status, .. } => {
                    StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_GATEWAY)
                }
                RegistryError::Unreachable(_) | RegistryError::Refused(_) => StatusCode::BAD_GATEWAY,
            };
            (status, e.to_string()).into_response()
        }
    }
}

/// A tarball from the disk cache, read as it is sent.
fn tarball(file: tokio::fs::File) -> Response {
    let chunks = futures::stream::unfold(file, |mut file| async move {
        use tokio::io::AsyncReadExt as _;
        let mut buffer = vec![0u8; 64 * 1024];
        match file.read(&mut buffer).await {
            Ok(0) => None,
            Ok(n) => {
                buffer.truncate(n);
                Some((Ok::<_, std::io::Error>(bytes::Bytes::from(buffer)), file))
            }
            Err(e) => Some((Err(e), file)),
        }
    });
    ([(header::CONTENT_TYPE, "application/octet-stream")], Body::from_stream(chunks)).into_response()
}

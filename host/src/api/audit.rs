//! Who changed what: every state-changing admin request is recorded once its operator is known
//! (`Admin` names them), with its answer, and `GET /api/admin/audit` lists the record.

use std::sync::{Arc, Mutex, OnceLock};

use axum::Json;
use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::spec::{Always, ErrorBody, Operator};
use super::{Admin, ApiError, AppState, Query};
use crate::audit::AuditEntry;

/// Filled in by `Admin` (who) and by handlers (what beyond the path) while an admin change runs.
#[derive(Clone, Default)]
pub(crate) struct Audit {
    actor: Arc<OnceLock<String>>,
    detail: Arc<Mutex<String>>,
}

impl Audit {
    pub(crate) fn actor(&self, actor: String) {
        let _ = self.actor.set(actor);
    }

    pub(crate) fn note(&self, detail: impl Into<String>) {
        *self.detail.lock().unwrap_or_else(|e| e.into_inner()) = detail.into();
    }
}

/// Records each admin change after it is answered. Reads are not changes and are not recorded;
/// a caller who is not an operator never reaches the point where `Admin` names them.
pub(crate) async fn record(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let changes = !matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !(changes && request.uri().path().starts_with("/api/admin/")) {
        return next.run(request).await;
    }
    let audit = Audit::default();
    request.extensions_mut().insert(audit.clone());
    let method = request.method().to_string();
    let path = request.uri().path().to_string();
    let response = next.run(request).await;
    if let Some(actor) = audit.actor.get() {
        let detail = audit.detail.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let status = response.status().as_u16();
        if let Err(e) = crate::audit::record(&state.db, actor, &method, &path, status, &detail).await {
            // The change is made and answered; what is missing is its record, which the error
            // line and the metric make visible to whoever watches the host.
            tracing::error!(%actor, %method, %path, status, %detail, "the audit log cannot record this change: {e}");
            crate::telemetry::audit_failed();
        }
    }
    response
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AuditQuery {
    /// At most this many entries, 1 to 500; 100 by default.
    #[serde(default)]
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
    /// Only entries before this time (Unix ms): the last entry's `at`, for the next page.
    #[serde(default)]
    before: Option<i64>,
    /// With `before`, the last entry's `id`: entries of that same millisecond that come after
    /// it are on the next page too.
    #[serde(default, rename = "beforeId")]
    #[param(rename = "beforeId")]
    before_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct AuditLog {
    entries: Vec<AuditEntry>,
}

/// The latest admin changes, newest first.
#[utoipa::path(get, path = "/api/admin/audit", tag = "operations", security(("bearer" = [])), params(AuditQuery),
    responses(
        (status = 200, body = AuditLog),
        (status = 400, description = "`invalid_query`, `invalid_limit`", body = ErrorBody),
        Operator, Always,
    ))]
pub(crate) async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    Query(query): Query<AuditQuery>,
) -> Result<Json<AuditLog>, ApiError> {
    let limit = super::admin::page_limit(query.limit, 100, 500)?;
    Ok(Json(AuditLog {
        entries: crate::audit::recent(&state.db, limit, query.before, query.before_id.as_deref()).await?,
    }))
}

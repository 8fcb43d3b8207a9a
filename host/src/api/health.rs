//! `GET /healthz`: the process answers. `GET /readyz`: it can serve orchestrations.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::{Extension, Json};
use serde::Serialize;
use utoipa::ToSchema;

use super::spec::Always;
use super::{ApiError, AppState};
use crate::runtime::Role;

#[derive(Serialize, ToSchema)]
pub(crate) struct Health {
    /// Always `ok`.
    status: &'static str,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Readiness {
    /// `ok`, or `degraded` without a model (every run then answers `llm_unavailable`).
    status: &'static str,
    /// A model is configured.
    llm: bool,
    /// Each role's active agent version.
    agents: BTreeMap<&'static str, String>,
}

#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Health), Always))]
pub(crate) async fn healthz(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
) -> Result<Json<Health>, ApiError> {
    state.rates.health(peer.map(|Extension(c)| c.0), &headers)?;
    Ok(Json(Health { status: "ok" }))
}

#[utoipa::path(get, path = "/readyz", tag = "operations", responses((status = 200, body = Readiness), Always))]
pub(crate) async fn readyz(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
) -> Result<Json<Readiness>, ApiError> {
    state.rates.health(peer.map(|Extension(c)| c.0), &headers)?;
    let agents = Role::ALL
        .iter()
        .map(|role| (role.as_str(), state.pipeline.runtime.active(*role).version.to_string()))
        .collect();
    let llm = state.pipeline.provider.default_model().is_some();
    Ok(Json(Readiness { status: if llm { "ok" } else { "degraded" }, llm, agents }))
}

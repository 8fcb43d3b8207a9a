//! `GET /healthz`: the process answers. `GET /readyz`: it can serve orchestrations.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::{Extension, Json};
use serde_json::{Value, json};

use super::{ApiError, AppState};
use crate::runtime::Role;

pub(crate) async fn healthz(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    state.rates.health(peer.map(|Extension(c)| c.0), &headers)?;
    Ok(Json(json!({ "status": "ok" })))
}

pub(crate) async fn readyz(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    state.rates.health(peer.map(|Extension(c)| c.0), &headers)?;
    let agents: serde_json::Map<String, Value> = Role::ALL
        .iter()
        .map(|role| (role.as_str().to_string(), json!(state.pipeline.runtime.active(*role).version.to_string())))
        .collect();
    let llm = state.pipeline.provider.default_model().is_some();
    Ok(Json(json!({
        // Without a model the host serves, but every orchestration answers `llm_unavailable`.
        "status": if llm { "ok" } else { "degraded" },
        "llm": llm,
        "agents": agents,
    })))
}

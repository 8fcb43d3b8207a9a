//! `GET /healthz`: the process answers. `GET /readyz`: it can serve orchestrations.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::AppState;
use crate::runtime::Role;

pub(crate) async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

pub(crate) async fn readyz(State(state): State<AppState>) -> Json<Value> {
    let agents: serde_json::Map<String, Value> = Role::ALL
        .iter()
        .map(|role| (role.as_str().to_string(), json!(state.pipeline.runtime.active(*role).version.to_string())))
        .collect();
    let llm = state.pipeline.provider.default_model().is_some();
    Json(json!({
        // Without a model the host serves, but every orchestration answers `llm_unavailable`.
        "status": if llm { "ok" } else { "degraded" },
        "llm": llm,
        "agents": agents,
    }))
}

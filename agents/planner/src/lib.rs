//! Blink's built-in planner as a WebAssembly component: the WIT exports over `sdk::planner`.

// The canonical ABI lowers each record field to its own argument in wit-bindgen's generated code.
#![allow(clippy::too_many_arguments)]

use blink_agent_guest::{ComponentHost, types};
use blink_agent_sdk as sdk;

blink_agent_guest::agent_world!("planner");

struct Planner;

impl Guest for Planner {
    fn plan(request: types::PlanRequest) -> Result<types::Plan, types::AgentError> {
        sdk::planner::plan(&ComponentHost, &request.into()).map(Into::into).map_err(Into::into)
    }

    fn answer(request: types::PlanRequest) -> Result<String, types::AgentError> {
        sdk::planner::answer(&ComponentHost, &request.into()).map_err(Into::into)
    }
}

export!(Planner);

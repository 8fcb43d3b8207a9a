//! Blink's built-in generator as a WebAssembly component: the WIT export over `sdk::generator`.

// The canonical ABI lowers each record field to its own argument in wit-bindgen's generated code.
#![allow(clippy::too_many_arguments)]

use blink_agent_guest::{ComponentHost, types};
use blink_agent_sdk as sdk;

wit_bindgen::generate!({
    path: "../../wit/since_v0.1.0",
    world: "generator",
    with: {
        "blink:agents/types@0.1.0": blink_agent_guest::types,
        "blink:agents/llm@0.1.0": blink_agent_guest::llm,
        "blink:agents/log@0.1.0": blink_agent_guest::log,
        "blink:agents/config@0.1.0": blink_agent_guest::config,
    },
});

struct Generator;

impl Guest for Generator {
    fn generate(request: types::GenerateRequest) -> Result<Vec<types::ProjectFile>, types::AgentError> {
        sdk::generator::generate(&ComponentHost, &request.into())
            .map(|files| files.into_iter().map(Into::into).collect())
            .map_err(Into::into)
    }
}

export!(Generator);

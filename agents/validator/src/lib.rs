//! Blink's built-in validator as a WebAssembly component: the WIT export over `sdk::validator`.

// The canonical ABI lowers each record field to its own argument in wit-bindgen's generated code.
#![allow(clippy::too_many_arguments)]

use blink_agent_guest::types;
use blink_agent_sdk as sdk;

wit_bindgen::generate!({
    path: "../../wit/since_v0.1.0",
    world: "validator",
    with: {
        "blink:agents/types@0.1.0": blink_agent_guest::types,
        "blink:agents/llm@0.1.0": blink_agent_guest::llm,
        "blink:agents/log@0.1.0": blink_agent_guest::log,
        "blink:agents/config@0.1.0": blink_agent_guest::config,
    },
});

struct Validator;

impl Guest for Validator {
    fn validate(request: types::ValidateRequest) -> Result<types::ValidationReport, types::AgentError> {
        Ok(sdk::validator::validate(&request.into()).into())
    }
}

export!(Validator);

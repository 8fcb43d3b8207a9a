//! Blink's built-in validator as a WebAssembly component: the WIT export over `sdk::validator`.

// The canonical ABI lowers each record field to its own argument in wit-bindgen's generated code.
#![allow(clippy::too_many_arguments)]

use blink_agent_guest::types;
use blink_agent_sdk as sdk;

blink_agent_guest::agent_world!("validator");

struct Validator;

impl Guest for Validator {
    fn validate(request: types::ValidateRequest) -> Result<types::ValidationReport, types::AgentError> {
        Ok(sdk::validator::validate(&request.into()).into())
    }
}

export!(Validator);

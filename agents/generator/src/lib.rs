//! Blink's built-in generator as a WebAssembly component: the WIT export over `sdk::generator`.

// The canonical ABI lowers each record field to its own argument in wit-bindgen's generated code.
#![allow(clippy::too_many_arguments)]

use blink_agent_guest::{ComponentHost, types};
use blink_agent_sdk as sdk;

blink_agent_guest::agent_world!("generator");

struct Generator;

impl Guest for Generator {
    fn generate(request: types::GenerateRequest) -> Result<Vec<types::ProjectFile>, types::AgentError> {
        sdk::generator::generate(&ComponentHost, &request.into())
            .map(|files| files.into_iter().map(Into::into).collect())
            .map_err(Into::into)
    }
}

export!(Generator);

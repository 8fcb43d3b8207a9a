//! Blink's built-in fixer as a WebAssembly component: the WIT export over `sdk::fixer`.

// The canonical ABI lowers each record field to its own argument in wit-bindgen's generated code.
#![allow(clippy::too_many_arguments)]

use blink_agent_guest::{ComponentHost, types};
use blink_agent_sdk as sdk;

blink_agent_guest::agent_world!("fixer");

struct Fixer;

impl Guest for Fixer {
    fn fix(request: types::FixRequest) -> Result<Vec<types::ProjectFile>, types::AgentError> {
        sdk::fixer::fix(&ComponentHost, &request.into())
            .map(|files| files.into_iter().map(Into::into).collect())
            .map_err(Into::into)
    }
}

export!(Fixer);

//! Host bindings of the WIT contract in `wit/since_v0.1.0/`, one module per world.
//!
//! The shared interfaces are generated once (world `agent-host`) and every role's world points at
//! them, so a `Plan` is one Rust type whichever component produced it. A future contract version
//! gets a sibling module; this one stays as it is.

pub(crate) mod host {
    wasmtime::component::bindgen!({
        path: "../wit/since_v0.1.0",
        world: "agent-host",
        imports: { default: async },
        exports: { default: async },
    });
}

pub(crate) use host::blink::agents::{config, llm, log, types};

macro_rules! role_world {
    ($module:ident, $world:literal) => {
        pub(crate) mod $module {
            wasmtime::component::bindgen!({
                path: "../wit/since_v0.1.0",
                world: $world,
                imports: { default: async },
                exports: { default: async },
                with: { "blink:agents": crate::runtime::bindings::host::blink::agents },
            });
        }
    };
}

role_world!(planner, "planner");
role_world!(generator, "generator");
role_world!(validator, "validator");
role_world!(fixer, "fixer");

//! Blink host: the backend of an AI app builder whose agents are WebAssembly components.
//!
//! Data flows one way: [`api`] → [`pipeline`] → [`runtime`] (components) → capabilities
//! ([`llm`]) → the outside world.

pub mod api;
pub mod auth;
pub mod cli;
pub mod config;
pub mod credits;
pub mod db;
pub mod deploy;
pub mod git;
pub mod host_lock;
pub mod llm;
pub mod pipeline;
pub mod plugins;
pub mod preview;
pub mod runtime;
pub mod server;
mod slots;
pub mod workspace;

//! Blink host: the backend of an AI app builder whose agents are WebAssembly components.
//!
//! Data flows one way, down this map; a module imports only from floors below its own
//! (`tests/house.rs` reads every `crate::…` path and holds the house to it):
//!
//! 1. entry points: `main`, [`cli`]; then [`server`], which assembles everything;
//! 2. HTTP: [`api`], the only place that knows routes and status codes;
//! 3. [`config`], which assembles the settings each domain owns;
//! 4. domains: [`projects`] (ids, ownership, deletion of everything a project has) and `kit`
//!    (the plugin authors' templates and offline trials); then
//!    [`plugins`], [`preview`], [`deploy`], [`git`]; then [`pipeline`] (plan, generate, validate,
//!    repair);
//! 5. the component runtime, [`runtime`], and the capabilities it gives agents and charges for:
//!    [`credits`], [`llm`], [`auth`];
//! 6. `instances` (host processes and their heartbeats, so any host can take over what a dead
//!    one held), `audit` (who changed what through the admin API) and `turns` (a project's turn
//!    across hosts);
//! 7. stores and shared tools: [`db`], [`workspace`], `slots`, [`host_lock`], `telemetry`.

mod api;
mod audit;
mod auth;
pub mod cli;
pub mod config;
pub mod credits;
pub mod db;
mod deploy;
mod git;
mod host_lock;
mod instances;
mod kit;
pub mod llm;
mod pipeline;
mod plugins;
mod preview;
mod projects;
pub mod runtime;
pub mod server;
mod slots;
mod telemetry;
mod turns;
mod workspace;

//! Test support shared by every test of the workspace: the fake model server, JWT minting, the real
//! `blink` binary under test, the SSE reader that follows the frontend's rules, and hostile
//! components.

pub mod browser;
pub mod db;
pub mod docker;
pub mod fake_cloudflare;
pub mod fake_dns;
pub mod fake_github;
pub mod fake_kube;
pub mod fake_llm;
pub mod frontend_preview;
pub mod git_server;
pub mod host;
pub mod jwt;
pub mod previews;
pub mod s3;
pub mod sites;
pub mod sse;

/// A validator component that misbehaves as its `mode` setting says (see `tests/components`).
pub const HOSTILE_VALIDATOR: &str = env!("BLINK_HOSTILE_VALIDATOR");

/// The accessibility validator of `plugins/a11y-validator`, the example third-party agent.
pub const A11Y_VALIDATOR: &str = env!("BLINK_A11Y_VALIDATOR");

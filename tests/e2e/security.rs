//! An attacker's test suite: each test plays an ordinary user (or the code running in their
//! sandbox) trying to leave their room, through the real `blink` binary, and names the item of
//! SECURITY.md's list it proves closed.

const BIN: &str = env!("CARGO_BIN_EXE_blink");

#[path = "security/credits.rs"]
mod credits;

#[path = "security/deploy.rs"]
mod deploy;

#[path = "security/git.rs"]
mod git;

#[path = "security/host.rs"]
mod host;

#[path = "security/remotes.rs"]
mod remotes;

#[path = "security/sandbox.rs"]
mod sandbox;

//! An attacker's test suite: each test plays an ordinary user (or the code running in their
//! sandbox) trying to leave their room, through the real `blink` binary, and names the item of
//! SECURITY.md's list it proves closed.

#[path = "security/sandbox.rs"]
mod sandbox;

//! Compiles Rust WebAssembly components from a build script, the way wasmtime's test-programs
//! artifacts are built: from source on every normal `cargo build`, never committed.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Builds `packages` of the workspace at `manifest` for `wasm32-wasip2` in release mode and returns
/// the path of each package's component, in order.
///
/// The nested cargo gets its own target directory: sharing the outer one would wait forever on the
/// lock the outer cargo holds.
pub fn build_components(manifest: &Path, packages: &[&str]) -> Vec<PathBuf> {
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR for build scripts"));
    let target_dir = out_dir.join("components");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .arg("build")
        .arg("--release")
        .arg("--locked")
        .args(["--target", "wasm32-wasip2"])
        .arg("--manifest-path")
        .arg(manifest)
        .arg("--target-dir")
        .arg(&target_dir);
    for package in packages {
        command.args(["-p", package]);
    }
    // Flags meant for the host's own compilation must not leak into the guests'.
    for var in
        ["CARGO_ENCODED_RUSTFLAGS", "RUSTFLAGS", "CARGO_TARGET_DIR", "CARGO_BUILD_TARGET", "RUSTC_WORKSPACE_WRAPPER"]
    {
        command.env_remove(var);
    }
    let status = command.status().expect("cannot run cargo to build the agent components");
    assert!(status.success(), "building components from {} failed", manifest.display());

    let workspace = manifest.parent().expect("a manifest has a parent directory");
    println!("cargo:rerun-if-changed={}", workspace.display());
    packages
        .iter()
        .map(|package| target_dir.join("wasm32-wasip2/release").join(format!("{}.wasm", package.replace('-', "_"))))
        .collect()
}

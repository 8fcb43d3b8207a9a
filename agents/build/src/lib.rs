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
    ensure_target();
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
    let status = command.status().unwrap_or_else(|e| fail(&format!("cannot run cargo to build the components: {e}")));
    if !status.success() {
        fail(&format!("building the components of {} failed (its errors are above)", manifest.display()));
    }

    let workspace = manifest.parent().expect("a manifest has a parent directory");
    println!("cargo:rerun-if-changed={}", workspace.display());
    packages
        .iter()
        .map(|package| target_dir.join("wasm32-wasip2/release").join(format!("{}.wasm", package.replace('-', "_"))))
        .collect()
}

const TARGET: &str = "wasm32-wasip2";

/// Makes sure the toolchain building this has the components' target. `rust-toolchain.toml`
/// names it, but rustup adds a pinned target only when it installs the toolchain: one already
/// installed without it stays so. With rustup the target is added; without, the build stops
/// with one line saying what to run.
fn ensure_target() {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    let installed = |sysroot: &Path| sysroot.join("lib/rustlib").join(TARGET).join("lib").is_dir();
    match &sysroot {
        Some(sysroot) if installed(sysroot) => return,
        _ => {}
    }
    // rustup's proxy names the toolchain it runs; without it, rustup picks the same one from
    // `rust-toolchain.toml`.
    let mut add = Command::new("rustup");
    add.args(["target", "add", TARGET]);
    if let Some(toolchain) = std::env::var_os("RUSTUP_TOOLCHAIN") {
        add.arg("--toolchain").arg(toolchain);
    }
    println!("cargo:warning=adding the Rust target {TARGET} with rustup (the agents are built for it)");
    match add.status() {
        Ok(status) if status.success() => {}
        Ok(_) => fail(&format!("`rustup target add {TARGET}` failed (its error is above); run it, then build again")),
        Err(_) => fail(&format!(
            "the Rust target {TARGET} is missing from this toolchain and rustup is not here to add it: \
             install the target for this toolchain, then build again"
        )),
    }
}

/// Stops the build with one line, not a panic's backtrace: the reader is someone building the
/// host, and the line says what to do.
fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1);
}

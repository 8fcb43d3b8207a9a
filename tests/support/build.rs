//! Builds the hostile test components from `tests/components`.

use std::path::PathBuf;

fn main() {
    // Read when the script runs, not when it was compiled: one target directory serves
    // checkouts at several paths.
    let here = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let manifest = here.join("../components/Cargo.toml");
    println!("cargo:rerun-if-changed={}", here.join("../../wit").display());
    let paths = blink_component_build::build_components(&manifest, &["blink-hostile-validator"]);
    println!("cargo:rustc-env=BLINK_HOSTILE_VALIDATOR={}", paths[0].display());
    // The example plugin of `plugins/`, built as its author would build it.
    let manifest = here.join("../../plugins/a11y-validator/Cargo.toml");
    let paths = blink_component_build::build_components(&manifest, &["a11y-validator"]);
    println!("cargo:rustc-env=BLINK_A11Y_VALIDATOR={}", paths[0].display());
}

//! Builds the hostile test components from `tests/components`.

use std::path::Path;

fn main() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../components/Cargo.toml");
    println!("cargo:rerun-if-changed={}", Path::new(env!("CARGO_MANIFEST_DIR")).join("../../wit").display());
    let paths = blink_component_build::build_components(&manifest, &["blink-hostile-validator"]);
    println!("cargo:rustc-env=BLINK_HOSTILE_VALIDATOR={}", paths[0].display());
    // The example plugin of `plugins/`, built as its author would build it.
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plugins/a11y-validator/Cargo.toml");
    let paths = blink_component_build::build_components(&manifest, &["a11y-validator"]);
    println!("cargo:rustc-env=BLINK_A11Y_VALIDATOR={}", paths[0].display());
}

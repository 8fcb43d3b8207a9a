//! Reads the contract's version from its WIT package line, the one place it is written, and
//! writes the `agent_world!` macro every built-in agent uses to generate its world with the
//! shared interfaces of this crate (wit-bindgen's `with` keys must name the version).

use std::path::Path;

fn main() {
    let wit = Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
        .join("../../wit/since_v0.1.0");
    println!("cargo:rerun-if-changed={}", wit.display());
    let types = std::fs::read_to_string(wit.join("types.wit")).expect("wit/since_v0.1.0/types.wit");
    let version = types
        .lines()
        .find_map(|line| line.trim().strip_prefix("package blink:agents@")?.strip_suffix(';'))
        .expect("types.wit declares `package blink:agents@<version>;`");
    let with: String = ["types", "llm", "log", "config"]
        .iter()
        .map(|i| format!("\"blink:agents/{i}@{version}\": ::blink_agent_guest::{i},\n"))
        .collect();
    let code = format!(
        "/// Generates an agent crate's `world` of the contract, with the shared interfaces of\n\
         /// `blink_agent_guest` (so its types convert to and from the SDK's). Called from a crate\n\
         /// beside this one in `agents/`.\n\
         #[macro_export]\n\
         macro_rules! agent_world {{\n\
         ($world:literal) => {{\n\
         wit_bindgen::generate!({{\n\
         path: \"../../wit/since_v0.1.0\",\n\
         world: $world,\n\
         with: {{\n{with}}},\n\
         }});\n\
         }};\n\
         }}\n"
    );
    let out = Path::new(&std::env::var("OUT_DIR").unwrap()).join("agent_world.rs");
    std::fs::write(out, code).unwrap();
}

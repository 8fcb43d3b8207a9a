//! `blink plugin new`: a ready agent project from a template, anywhere on disk, with the contract's
//! WIT written out by this binary (the exact version it serves), a minimal working agent for the
//! role, a README and a `build.sh` that prints the component's path last.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::runtime::{CONTRACT_VERSION, Role};

/// The languages a project can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    Rust,
    Python,
    /// JavaScript, built with componentize-js.
    Js,
}

/// The contract's WIT, as this binary serves it: file name and text.
const WIT: &[(&str, &str)] = &[
    ("agent-host.wit", include_str!("../../../wit/since_v0.1.0/agent-host.wit")),
    ("config.wit", include_str!("../../../wit/since_v0.1.0/config.wit")),
    ("fixer.wit", include_str!("../../../wit/since_v0.1.0/fixer.wit")),
    ("generator.wit", include_str!("../../../wit/since_v0.1.0/generator.wit")),
    ("llm.wit", include_str!("../../../wit/since_v0.1.0/llm.wit")),
    ("log.wit", include_str!("../../../wit/since_v0.1.0/log.wit")),
    ("planner.wit", include_str!("../../../wit/since_v0.1.0/planner.wit")),
    ("types.wit", include_str!("../../../wit/since_v0.1.0/types.wit")),
    ("validator.wit", include_str!("../../../wit/since_v0.1.0/validator.wit")),
];

const README: &str = include_str!("../../templates/plugin/README.md");

mod rust {
    pub(super) const CARGO: &str = include_str!("../../templates/plugin/rust/Cargo.toml");
    pub(super) const BUILD: &str = include_str!("../../templates/plugin/rust/build.sh");
    pub(super) const COMMON: &str = include_str!("../../templates/plugin/rust/common.rs");
    pub(super) const FILES: &str = include_str!("../../templates/plugin/rust/files.rs");
    pub(super) const PLANNER: &str = include_str!("../../templates/plugin/rust/planner.rs");
    pub(super) const GENERATOR: &str = include_str!("../../templates/plugin/rust/generator.rs");
    pub(super) const VALIDATOR: &str = include_str!("../../templates/plugin/rust/validator.rs");
    pub(super) const FIXER: &str = include_str!("../../templates/plugin/rust/fixer.rs");
}

mod python {
    pub(super) const BUILD: &str = include_str!("../../templates/plugin/python/build.sh");
    pub(super) const COMMON: &str = include_str!("../../templates/plugin/python/common.py");
    pub(super) const PLANNER: &str = include_str!("../../templates/plugin/python/planner.py");
    pub(super) const GENERATOR: &str = include_str!("../../templates/plugin/python/generator.py");
    pub(super) const VALIDATOR: &str = include_str!("../../templates/plugin/python/validator.py");
    pub(super) const FIXER: &str = include_str!("../../templates/plugin/python/fixer.py");
}

mod js {
    pub(super) const BUILD: &str = include_str!("../../templates/plugin/js/build.sh");
    pub(super) const BUILD_MJS: &str = include_str!("../../templates/plugin/js/build.mjs");
    pub(super) const PACKAGE: &str = include_str!("../../templates/plugin/js/package.json");
    pub(super) const COMMON: &str = include_str!("../../templates/plugin/js/common.js");
    pub(super) const PLANNER: &str = include_str!("../../templates/plugin/js/planner.js");
    pub(super) const GENERATOR: &str = include_str!("../../templates/plugin/js/generator.js");
    pub(super) const VALIDATOR: &str = include_str!("../../templates/plugin/js/validator.js");
    pub(super) const FIXER: &str = include_str!("../../templates/plugin/js/fixer.js");
}

/// Writes the project into `dir` (which must not exist, or be empty); returns what it wrote.
pub(crate) fn create(dir: &Path, role: Role, lang: Lang) -> anyhow::Result<Vec<PathBuf>> {
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .map(package_name)
        .filter(|n| !n.is_empty())
        .with_context(|| format!("{} does not end in a name a package can take", dir.display()))?;
    if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
        bail!("{} already exists and is not empty: pick a new name, or remove it first", dir.display());
    }
    let crate_name = name.replace('-', "_");
    let test_args = match role {
        Role::Validator => " --files src-to-check/",
        Role::Fixer => " --ask \"Build me a counter with a mistake\"",
        Role::Planner | Role::Generator => " --ask \"Build me a todo list\"",
    };
    let fill = |template: &str| {
        template
            .replace("{{name}}", &name)
            .replace("{{crate}}", &crate_name)
            .replace("{{role}}", role.as_str())
            .replace("{{contract}}", CONTRACT_VERSION)
            .replace("{{test_args}}", test_args)
    };
    let mut files: Vec<(PathBuf, String, bool)> = vec![(PathBuf::from("README.md"), fill(README), false)];
    for (file, text) in WIT {
        files.push((Path::new("wit").join(file), (*text).to_string(), false));
    }
    match lang {
        Lang::Rust => {
            let (source, extra) = match role {
                Role::Planner => (rust::PLANNER, "serde_json = \"1\"\n"),
                Role::Generator => (rust::GENERATOR, ""),
                Role::Validator => (rust::VALIDATOR, ""),
                Role::Fixer => (rust::FIXER, ""),
            };
            let source = fill(source).replace("{{common}}", rust::COMMON).replace("{{files}}", rust::FILES);
            files.push(("Cargo.toml".into(), fill(rust::CARGO).replace("{{extra_dependencies}}", extra), false));
            files.push(("src/lib.rs".into(), source, false));
            files.push(("build.sh".into(), fill(rust::BUILD), true));
            files.push((".gitignore".into(), "/target\n".into(), false));
        }
        Lang::Python => {
            let source = match role {
                Role::Planner => python::PLANNER,
                Role::Generator => python::GENERATOR,
                Role::Validator => python::VALIDATOR,
                Role::Fixer => python::FIXER,
            };
            files.push(("app.py".into(), fill(source).replace("{{common}}", python::COMMON), false));
            files.push(("build.sh".into(), fill(python::BUILD), true));
            files.push((".gitignore".into(), "/target\n__pycache__/\n".into(), false));
        }
        Lang::Js => {
            let source = match role {
                Role::Planner => js::PLANNER,
                Role::Generator => js::GENERATOR,
                Role::Validator => js::VALIDATOR,
                Role::Fixer => js::FIXER,
            };
            files.push(("agent.js".into(), fill(source).replace("{{common}}", js::COMMON), false));
            files.push(("build.mjs".into(), fill(js::BUILD_MJS), false));
            files.push(("package.json".into(), fill(js::PACKAGE), false));
            files.push(("build.sh".into(), fill(js::BUILD), true));
            files.push((".gitignore".into(), "/target\nnode_modules/\n".into(), false));
        }
    }
    if role == Role::Validator {
        // Something to run `plugin test` on at once, with a finding of each kind.
        let sample = "function Greeting() {\n  alert('hello');\n  return <p>Hello</p>;\n}\n";
        files.push(("src-to-check/Greeting.tsx".into(), sample.into(), false));
    }
    let mut written = Vec::new();
    for (path, text, executable) in files {
        let full = dir.join(&path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&full, text).with_context(|| format!("writing {}", full.display()))?;
        if executable {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&full, std::fs::Permissions::from_mode(0o755))?;
        }
        written.push(path);
    }
    Ok(written)
}

/// A package name from a directory name: lowercase letters, digits and single dashes.
fn package_name(raw: &str) -> String {
    let mut name = String::new();
    for c in raw.chars() {
        match c {
            'a'..='z' | '0'..='9' => name.push(c),
            'A'..='Z' => name.push(c.to_ascii_lowercase()),
            _ if !name.ends_with('-') && !name.is_empty() => name.push('-'),
            _ => {}
        }
    }
    let name = name.trim_end_matches('-');
    // A crate name cannot start with a digit.
    if name.starts_with(|c: char| c.is_ascii_digit()) { format!("agent-{name}") } else { name.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_names_are_cleaned_of_what_cargo_and_python_refuse() {
        assert_eq!(package_name("My Alert_Validator"), "my-alert-validator");
        assert_eq!(package_name("2fast"), "agent-2fast");
        assert_eq!(package_name("--x--"), "x");
        assert_eq!(package_name("é"), "");
    }
}

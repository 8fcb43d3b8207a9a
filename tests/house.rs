//! The house keeps its shape: read from the host's own `crate::…` paths, no module imports one
//! above it in `host/src/lib.rs`'s map, no two submodules of a module import each other (directly
//! or through others), and every module says its job in a `//!` line at its top.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The host's top-level modules, top floor first: a module may import only from floors below
/// its own. The same map, in words, heads `host/src/lib.rs`.
const FLOORS: &[&[&str]] = &[
    // Entry points: the command line and the server, which assembles everything.
    &["main", "cli"],
    &["server"],
    // HTTP: routes, handlers, status codes.
    &["api"],
    // Assembles the settings each domain owns.
    &["config"],
    // Domains.
    &["projects", "kit"],
    &["plugins", "preview", "deploy", "git"],
    &["pipeline"],
    // The component runtime and the capabilities it gives agents.
    &["runtime"],
    &["credits", "llm", "auth"],
    // Host processes and their heartbeats; the audit log of operators' changes.
    &["instances", "audit", "turns"],
    // Stores and shared tools.
    &["db", "workspace", "slots", "host_lock", "telemetry"],
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The module path of a file under `src/`: `preview/registry.rs` → `["preview", "registry"]`.
fn module_of(file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src()).unwrap().with_extension("");
    let mut parts: Vec<String> = relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    if parts == ["lib"] {
        parts.clear();
    }
    parts
}

/// The source without comments, so a path named in prose is not an import.
fn code(source: &str) -> String {
    source
        .lines()
        .map(|line| match line.find("//") {
            Some(at) if !line[..at].contains('"') => &line[..at],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every module path named after `prefix` (`crate::`, `super::`): `a::b::Item` gives `a::b`'s
/// segments, and each branch of a `{…}` group counts.
fn paths_after(code: &str, prefix: &str) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find(prefix) {
        let before = rest[..at].chars().last();
        rest = &rest[at + prefix.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        collect(rest, Vec::new(), &mut paths);
    }
    paths
}

/// Reads one path (or a `{…}` group of them) at the start of `text`, prefixed by `head`.
fn collect(text: &str, head: Vec<String>, out: &mut Vec<Vec<String>>) {
    let text = text.trim_start();
    if let Some(group) = text.strip_prefix('{') {
        let mut depth = 0;
        let mut start = 0;
        for (i, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => {
                    collect(&group[start..i], head.clone(), out);
                    return;
                }
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    collect(&group[start..i], head.clone(), out);
                    start = i + 1;
                }
                _ => {}
            }
        }
        return;
    }
    let name: String = text.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
    if name.is_empty() {
        return;
    }
    let mut path = head;
    path.push(name.clone());
    match text[name.len()..].strip_prefix("::") {
        Some(more) => collect(more, path, out),
        None => out.push(path),
    }
}

fn floor(module: &str) -> usize {
    FLOORS
        .iter()
        .position(|floor| floor.contains(&module))
        .unwrap_or_else(|| panic!("`{module}` is on no floor of the map: add it to FLOORS and to lib.rs's map"))
}

/// Top-level module → the top-level modules it names.
fn top_level_imports() -> BTreeMap<String, BTreeSet<String>> {
    let mut imports: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in rust_files(&src()) {
        let module = module_of(&file);
        let Some(top) = module.first() else { continue };
        let source = code(&std::fs::read_to_string(&file).unwrap());
        let named = imports.entry(top.clone()).or_default();
        for path in paths_after(&source, "crate::") {
            if path[0] != *top {
                named.insert(path[0].clone());
            }
        }
    }
    imports
}

#[test]
fn no_module_imports_one_above_it() {
    let mut upward = Vec::new();
    for (module, named) in top_level_imports() {
        for other in named {
            if floor(&other) <= floor(&module) {
                upward.push(format!("{module} → {other}"));
            }
        }
    }
    assert!(upward.is_empty(), "imports that do not point down the map: {upward:?}");
}

#[test]
fn no_two_submodules_import_each_other() {
    // Within each directory module, the graph of its children naming each other (through
    // `super::` or the full path); a parent and its own children are one room.
    let mut rooms: BTreeMap<Vec<String>, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for file in rust_files(&src()) {
        let module = module_of(&file);
        let Some((own, parent)) = module.split_last() else { continue };
        let source = code(&std::fs::read_to_string(&file).unwrap());
        let mut named: BTreeSet<String> = BTreeSet::new();
        for path in paths_after(&source, "super::") {
            named.insert(path[0].clone());
        }
        for path in paths_after(&source, "crate::") {
            if path.len() > parent.len() && path[..parent.len()] == *parent {
                named.insert(path[parent.len()].clone());
            }
        }
        named.remove(own);
        rooms.entry(parent.to_vec()).or_default().entry(own.clone()).or_default().extend(named);
    }
    for (parent, edges) in rooms {
        let siblings: BTreeSet<&String> = edges.keys().collect();
        for start in edges.keys() {
            // Depth-first from `start`: reaching it again is a cycle.
            let mut pending: Vec<(String, Vec<String>)> = vec![(start.clone(), vec![start.clone()])];
            let mut seen = BTreeSet::new();
            while let Some((at, trail)) = pending.pop() {
                for next in edges.get(&at).into_iter().flatten().filter(|n| siblings.contains(n)) {
                    assert!(next != start, "a cycle in {}: {} → {next}", parent.join("::"), trail.join(" → "));
                    if seen.insert(next.clone()) {
                        let mut trail = trail.clone();
                        trail.push(next.clone());
                        pending.push((next.clone(), trail));
                    }
                }
            }
        }
    }
}

#[test]
fn every_module_says_its_job_at_its_top() {
    let silent: Vec<String> = rust_files(&src())
        .into_iter()
        .filter(|file| !std::fs::read_to_string(file).unwrap().starts_with("//!"))
        .map(|file| file.display().to_string())
        .collect();
    assert!(silent.is_empty(), "modules without a `//!` line at their top: {silent:?}");
}

/// The reader itself: a test that cannot see an import would pass on any house.
#[test]
fn the_reader_sees_grouped_nested_and_inline_paths() {
    let source = "use crate::{a::{B, c::D}, e};\nfn f() { crate::g::h(); super::i::J; }\n// crate::not_code\n";
    let code = code(source);
    let crate_paths = paths_after(&code, "crate::");
    let heads: BTreeSet<&str> = crate_paths.iter().map(|p| p[0].as_str()).collect();
    assert_eq!(heads, BTreeSet::from(["a", "e", "g"]));
    assert!(crate_paths.contains(&vec!["a".to_string(), "c".to_string(), "D".to_string()]));
    assert_eq!(paths_after(&code, "super::"), vec![vec!["i".to_string(), "J".to_string()]]);
    assert_eq!(floor("db"), FLOORS.len() - 1);
}

/// Every Rust file of the repository, outside build output.
fn repository_rust_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let mut files = Vec::new();
    for top in ["host", "agents", "sandbox", "tests", "plugins"] {
        let mut pending = vec![root.join(top)];
        while let Some(dir) = pending.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for entry in entries {
                let path = entry.unwrap().path();
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                if path.is_dir() {
                    if !["target", "node_modules", ".git"].contains(&name.as_str()) {
                        pending.push(path);
                    }
                } else if name.ends_with(".rs") {
                    files.push(path);
                }
            }
        }
    }
    files.sort();
    files
}

#[test]
fn no_file_over_500_lines_without_a_reason_in_its_header() {
    let mut long = Vec::new();
    for file in repository_rust_files() {
        let source = std::fs::read_to_string(&file).unwrap();
        let lines = source.lines().count();
        let header: String = source.lines().take_while(|l| l.starts_with("//!")).collect::<Vec<_>>().join("\n");
        if lines > 500 && !header.contains("Over 500 lines: ") {
            long.push(format!("{} ({lines} lines)", file.display()));
        }
    }
    assert!(
        long.is_empty(),
        "files over 500 lines whose `//!` header states no reason (`Over 500 lines: why`): {long:?}"
    );
}

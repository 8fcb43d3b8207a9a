//! Project paths and module specifiers: normalisation, the app entry, relative resolution and npm
//! package names.

use std::collections::BTreeMap;

/// Extensions oxc parses; `.d.ts` falls under `.ts`.
const SCRIPT_EXTENSIONS: &[&str] = &["ts", "tsx", "js", "jsx", "mjs", "cjs", "mts", "cts"];

/// Tried in this order after the exact path, like Vite's default `resolve.extensions`.
const INFERRED_EXTENSIONS: &[&str] = &[".tsx", ".ts", ".jsx", ".js", ".mjs", ".mts", ".json"];

const ENTRY_NAMES: &[&str] = &["App.tsx", "App.jsx", "App.ts", "App.js"];

/// `./App.tsx`, `/src//App.tsx` and `src\App.tsx` all become one key; `..` above the root is kept
/// as a literal segment so that such a path never matches a project file.
pub fn normalize(path: &str) -> String {
    let unified = path.trim().replace('\\', "/");
    let mut segments: Vec<&str> = Vec::new();
    for segment in unified.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                if matches!(segments.last(), Some(last) if *last != "..") {
                    segments.pop();
                } else {
                    segments.push("..");
                }
            }
            other => segments.push(other),
        }
    }
    segments.join("/")
}

fn extension(path: &str) -> Option<&str> {
    let name = file_name(path);
    name.rsplit_once('.').map(|(_, ext)| ext).filter(|ext| !ext.is_empty())
}

pub fn file_name(path: &str) -> &str {
    path.rsplit_once('/').map_or(path, |(_, name)| name)
}

pub fn is_script(path: &str) -> bool {
    extension(path).is_some_and(|ext| SCRIPT_EXTENSIONS.contains(&ext))
}

/// JSON with comments (tsconfig, jsconfig) is valid for its tools, so only strict JSON is checked.
pub fn is_strict_json(path: &str) -> bool {
    let name = file_name(path);
    extension(path) == Some("json") && !name.starts_with("tsconfig") && !name.starts_with("jsconfig")
}

/// The frontend sends flat names and the Vite sandbox keeps them under `src/`, so both count.
pub fn is_app_entry(path: &str) -> bool {
    let inner = path.strip_prefix("src/").unwrap_or(path);
    ENTRY_NAMES.contains(&inner)
}

fn parent_dir(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(dir, _)| dir)
}

pub fn is_relative(specifier: &str) -> bool {
    specifier == "."
        || specifier == ".."
        || specifier.starts_with("./")
        || specifier.starts_with("../")
        || specifier.starts_with('/')
}

/// `?raw`, `?url` and fragments select a loader, not a different file.
fn strip_query(specifier: &str) -> &str {
    let end = specifier.find(['?', '#']).unwrap_or(specifier.len());
    specifier.get(..end).unwrap_or(specifier)
}

/// What a relative specifier points at.
pub enum Resolution {
    Found(String),
    /// No file; `case_mismatch` names a file that matches but for letter case.
    Missing {
        case_mismatch: Option<String>,
    },
}

/// The project's files by normalised path, for module resolution.
pub struct FileSet<'a> {
    paths: &'a BTreeMap<String, &'a str>,
}

impl<'a> FileSet<'a> {
    pub fn new(paths: &'a BTreeMap<String, &'a str>) -> Self {
        Self { paths }
    }

    /// The root and `src/` are one directory: flat names from the frontend land in `src/` in the
    /// sandbox, so `App.tsx` importing `./components/Navbar` may find `src/components/Navbar.tsx`.
    fn lookup(&self, candidate: &str) -> Option<String> {
        if self.paths.contains_key(candidate) {
            return Some(candidate.to_string());
        }
        let alternate = match candidate.strip_prefix("src/") {
            Some(inner) => inner.to_string(),
            None => format!("src/{candidate}"),
        };
        self.paths.contains_key(&alternate).then_some(alternate)
    }

    fn lookup_ignoring_case(&self, candidate: &str) -> Option<String> {
        let wanted = candidate.to_lowercase();
        let alternate = match wanted.strip_prefix("src/") {
            Some(inner) => inner.to_string(),
            None => format!("src/{wanted}"),
        };
        self.paths
            .keys()
            .find(|path| {
                let lower = path.to_lowercase();
                lower == wanted || lower == alternate
            })
            .cloned()
    }

    /// Resolves `./x`, `../x` and root-absolute `/x` the way Vite does: exact file, inferred
    /// extension, then `index.*`; a `.js` specifier may also name a TypeScript file.
    pub fn resolve(&self, importer: &str, specifier: &str) -> Resolution {
        let target = strip_query(specifier);
        let joined = if target.starts_with('/') {
            normalize(target)
        } else {
            normalize(&format!("{}/{target}", parent_dir(importer)))
        };
        if joined.split('/').any(|segment| segment == "..") {
            return Resolution::Missing { case_mismatch: None };
        }
        let candidates = candidates(&joined);
        if let Some(found) = candidates.iter().find_map(|candidate| self.lookup(candidate)) {
            return Resolution::Found(found);
        }
        let case_mismatch = candidates.iter().find_map(|candidate| self.lookup_ignoring_case(candidate));
        Resolution::Missing { case_mismatch }
    }
}

fn candidates(base: &str) -> Vec<String> {
    let mut out = Vec::new();
    if !base.is_empty() {
        out.push(base.to_string());
        for (js, ts) in [(".js", ".ts"), (".js", ".tsx"), (".jsx", ".tsx"), (".mjs", ".mts")] {
            if let Some(stem) = base.strip_suffix(js) {
                out.push(format!("{stem}{ts}"));
            }
        }
        out.extend(INFERRED_EXTENSIONS.iter().map(|ext| format!("{base}{ext}")));
    }
    let dir = if base.is_empty() { String::new() } else { format!("{base}/") };
    out.extend(INFERRED_EXTENSIONS.iter().map(|ext| format!("{dir}index{ext}")));
    out
}

/// `@/` and `~/` are path aliases in many templates; the sandbox configures none.
pub fn is_path_alias(specifier: &str) -> bool {
    specifier.starts_with("@/") || specifier.starts_with("~/")
}

/// URL and data imports are fetched as they are; nothing in the project to check.
pub fn is_url(specifier: &str) -> bool {
    specifier.contains("://") || specifier.starts_with("data:")
}

/// `react-dom/client` → `react-dom`, `@scope/pkg/sub` → `@scope/pkg`.
pub fn package_name(specifier: &str) -> &str {
    let mut parts = specifier.splitn(3, '/');
    let first = parts.next().unwrap_or(specifier);
    if first.starts_with('@')
        && let Some(second) = parts.next()
    {
        let len = first.len() + 1 + second.len();
        return specifier.get(..len).unwrap_or(specifier);
    }
    first
}

/// A declared dependency as the planner writes it: `axios`, `axios@^1.6`, `@tanstack/react-query@5`
/// or `zod 3.22`.
pub fn dependency_name(dependency: &str) -> &str {
    let trimmed = dependency.trim();
    let word = trimmed.split_whitespace().next().unwrap_or(trimmed);
    let version_at = word.char_indices().skip(1).find(|(_, c)| *c == '@').map(|(index, _)| index);
    let name = match version_at {
        Some(index) => word.get(..index).unwrap_or(word),
        None => word,
    };
    package_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_paths() {
        assert_eq!(normalize("./App.tsx"), "App.tsx");
        assert_eq!(normalize("/src//components/./Nav.tsx"), "src/components/Nav.tsx");
        assert_eq!(normalize("src\\App.tsx"), "src/App.tsx");
        assert_eq!(normalize("a/../../b"), "../b");
    }

    #[test]
    fn names_packages() {
        assert_eq!(package_name("react-dom/client"), "react-dom");
        assert_eq!(package_name("@tanstack/react-query/devtools"), "@tanstack/react-query");
        assert_eq!(package_name("@scope"), "@scope");
        assert_eq!(dependency_name(" axios@^1.6 "), "axios");
        assert_eq!(dependency_name("@tanstack/react-query@5"), "@tanstack/react-query");
        assert_eq!(dependency_name("zod 3.22"), "zod");
    }

    #[test]
    fn resolves_like_vite() {
        let files: BTreeMap<String, &str> = ["App.tsx", "src/components/Navbar.tsx", "lib/index.ts"]
            .into_iter()
            .map(|path| (path.to_string(), ""))
            .collect();
        let set = FileSet::new(&files);
        let found = |importer: &str, spec: &str| match set.resolve(importer, spec) {
            Resolution::Found(path) => Some(path),
            Resolution::Missing { .. } => None,
        };
        assert_eq!(found("App.tsx", "./components/Navbar").as_deref(), Some("src/components/Navbar.tsx"));
        assert_eq!(found("src/components/Navbar.tsx", "../App").as_deref(), Some("App.tsx"));
        assert_eq!(found("App.tsx", "./lib").as_deref(), Some("lib/index.ts"));
        assert_eq!(found("App.tsx", "./components/Navbar.js").as_deref(), Some("src/components/Navbar.tsx"));
        assert_eq!(found("App.tsx", "../../App"), None);
        assert!(matches!(
            set.resolve("App.tsx", "./components/navbar"),
            Resolution::Missing { case_mismatch: Some(_) }
        ));
    }
}

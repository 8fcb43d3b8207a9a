//! The dev server's entry for a `browser`-target project: the frontend's in-browser preview, served
//! by Vite.
//!
//! Code for the `browser` target expects what the frontend's preview document gives it: React,
//! ReactDOM, `motion` and `dateFns` as globals, and every file run as its own module in the
//! frontend's order, `App.tsx` last, mounting itself. The template's `main.tsx` expects the Vite
//! target's `export default App` instead, so for a `browser` project the host writes an entry that
//! provides those globals and imports the project's files in that order.

use blink_agent_sdk::browser::load_order;

/// The entry Vite loads (`index.html` names it).
pub(crate) const ENTRY: &str = "src/main.tsx";

/// The module that sets the globals, imported by the entry before any project file.
pub(crate) const GLOBALS: &str = "src/blink-globals.ts";

/// First line of a generated entry: how a build knows to write it again from the current files.
const MARKER: &str = "// Blink host: entry of a `browser`-target project";

/// Only the libraries that load in the frontend's preview: a global the preview lacks must fail
/// here too, or the dev server would hide a bug the user's preview shows.
pub(crate) const GLOBALS_SOURCE: &str = "\
// Blink host: the globals the frontend's in-browser preview gives a `browser`-target project.
import * as React from 'react'
import * as ReactDOM from 'react-dom'
import * as ReactDOMClient from 'react-dom/client'
import * as Motion from 'framer-motion'
import * as dateFns from 'date-fns'

// The preview's React is 18, whose ReactDOM still mounts with `render`; the sandbox has React 19.
function render(element: unknown, container: Element) {
  const root = ReactDOMClient.createRoot(container)
  root.render(element as never)
  return root
}

Object.assign(window, { React, ReactDOM: { ...ReactDOM, ...ReactDOMClient, render }, Motion, motion: Motion, dateFns })
";

/// The entry for a project whose posted files are `posted` (workspace paths, `src/…`).
pub(crate) fn browser_entry(posted: &[String]) -> String {
    // The frontend orders the names it was given (`Card.tsx`, `components/Nav.tsx`), which the
    // workspace keeps under `src/`.
    let names: Vec<&str> = posted
        .iter()
        .filter_map(|path| path.strip_prefix("src/"))
        .filter(|name| is_script(name) && !matches!(*name, "main.tsx" | "blink-globals.ts"))
        .collect();
    let mut entry = format!(
        "{MARKER}, generated from its files; do not edit.\nimport './index.css'\nimport './blink-globals.ts'\n"
    );
    for name in load_order(&names) {
        // A JSON string is a valid JavaScript string literal, whatever the name holds.
        let specifier = serde_json::to_string(&format!("./{name}")).unwrap_or_default();
        entry.push_str(&format!("import {specifier}\n"));
    }
    entry
}

/// Whether `source` is an entry this module wrote (and may write again).
pub(crate) fn is_generated(source: &[u8]) -> bool {
    source.starts_with(MARKER.as_bytes())
}

fn is_script(name: &str) -> bool {
    [".tsx", ".ts", ".jsx", ".js"].iter().any(|ext| name.ends_with(ext)) && !name.ends_with(".d.ts")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_entry_sets_the_globals_then_loads_scripts_in_the_frontends_order() {
        let posted: Vec<String> =
            ["src/App.tsx", "src/zeta.ts", "src/Beta.tsx", "src/styles.css", "src/main.tsx", "public/x.svg"]
                .iter()
                .map(ToString::to_string)
                .collect();
        let entry = browser_entry(&posted);
        assert!(is_generated(entry.as_bytes()));
        let imports: Vec<&str> = entry.lines().filter(|l| l.starts_with("import")).collect();
        assert_eq!(
            imports,
            [
                "import './index.css'",
                "import './blink-globals.ts'",
                "import \"./Beta.tsx\"",
                "import \"./zeta.ts\"",
                "import \"./App.tsx\""
            ]
        );
    }

    #[test]
    fn a_hostile_name_stays_a_string() {
        let entry = browser_entry(&["src/a\"; alert(1); \".tsx".to_string()]);
        assert!(entry.contains(r#"import "./a\"; alert(1); \".tsx""#), "{entry}");
    }
}

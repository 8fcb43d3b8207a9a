//! The facts of the frontend's in-browser preview that code for the `browser` target must respect.
//!
//! The preview (the frontend's `CodePreview`) wraps every project file in its own
//! `<script type="text/babel" data-type="module">`, so each file is a separate ES module: a name
//! declared at the top level of one file is invisible to the others unless the file puts it on
//! `window`. Files run in the order of [`load_order`], and only the library globals in
//! [`LIBRARY_GLOBALS`] actually load. Measured in a page built like the frontend's, with its
//! pinned library versions; the validator, the prompts and the host's dev server share these facts.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use crate::types::ProjectFile;
use crate::validator;

/// The file the preview runs last, whatever its name sorts as.
const ENTRY: &str = "App.tsx";

/// Library globals that work in the preview, with how code uses them.
pub const LIBRARY_GLOBALS: &[(&str, &str)] = &[
    ("React", "React 18; `const { useState, useEffect } = React;` at the top of each file that uses hooks"),
    ("ReactDOM", "ReactDOM 18; `ReactDOM.createRoot(document.getElementById('root')).render(<App />);`"),
    ("motion", "framer-motion 11; `const { motion, AnimatePresence } = window.motion;`, then `<motion.div …>`"),
    ("Motion", "the same framer-motion object as `motion`"),
    ("dateFns", "date-fns 3; `const { format, addDays } = dateFns;`"),
];

/// Globals the preview's page tries to provide but that never work, and why.
pub const BROKEN_GLOBALS: &[(&str, &str)] = &[
    (
        "lucide",
        "lucide-react's UMD build looks for a lowercase `react` global, throws, and leaves every icon undefined",
    ),
    (
        "LucideReact",
        "lucide-react's UMD build looks for a lowercase `react` global, throws, and leaves every icon undefined",
    ),
    (
        "Recharts",
        "Recharts' UMD build needs PropTypes, which the page does not load, so it throws and never defines it",
    ),
    (
        "ReactRouter",
        "react-router-dom's UMD build needs the ReactRouter and RemixRouter globals, which the page does not load, \
         so Routes, Route, Link and the rest are undefined",
    ),
    (
        "ReactRouterDOM",
        "react-router-dom's UMD build needs the ReactRouter and RemixRouter globals, which the page does not load, \
         so Routes, Route, Link and the rest are undefined",
    ),
];

/// Names the browser itself defines on `window`: a file that uses `location` or `history` means
/// the page's, even when another file happens to declare a constant of that name, so such names
/// are never shared between files (`window.location = …` would navigate away).
const BROWSER_GLOBALS: &[&str] = &[
    "window",
    "globalThis",
    "self",
    "document",
    "location",
    "history",
    "navigator",
    "screen",
    "name",
    "status",
    "origin",
    "top",
    "parent",
    "frames",
    "length",
    "opener",
    "event",
    "open",
    "close",
    "print",
    "alert",
    "confirm",
    "prompt",
    "fetch",
    "console",
    "localStorage",
    "sessionStorage",
    "indexedDB",
    "caches",
    "crypto",
    "performance",
    "setTimeout",
    "clearTimeout",
    "setInterval",
    "clearInterval",
    "requestAnimationFrame",
    "cancelAnimationFrame",
    "queueMicrotask",
    "structuredClone",
    "atob",
    "btoa",
    "matchMedia",
    "getComputedStyle",
    "scrollTo",
    "scroll",
    "innerWidth",
    "innerHeight",
    "devicePixelRatio",
    "customElements",
    "Image",
    "Audio",
    "URL",
    "URLSearchParams",
    "Event",
    "CustomEvent",
    "FormData",
    "Blob",
    "File",
    "FileReader",
    "Notification",
    "WebSocket",
    "Worker",
    "AbortController",
    "ResizeObserver",
    "IntersectionObserver",
    "MutationObserver",
    "Intl",
    "JSON",
    "Math",
    "Date",
    "Object",
    "Array",
    "Promise",
    "Number",
    "String",
    "Boolean",
    "Symbol",
    "Map",
    "Set",
    "WeakMap",
    "WeakSet",
    "Error",
    "RegExp",
    "Reflect",
    "Proxy",
    "undefined",
    "NaN",
    "Infinity",
    "isNaN",
    "parseInt",
    "parseFloat",
    "encodeURIComponent",
    "decodeURIComponent",
    "tailwind",
    "Babel",
];

/// React's own components, which are members of `React`, not globals.
const REACT_COMPONENTS: &[&str] = &["Fragment", "Suspense", "StrictMode", "Profiler"];

/// A library global that loads in the preview.
pub(crate) fn is_library(name: &str) -> bool {
    LIBRARY_GLOBALS.iter().any(|(global, _)| *global == name)
}

/// Why `name` does not load, if it is one of the broken globals.
pub(crate) fn broken(name: &str) -> Option<&'static str> {
    BROKEN_GLOBALS.iter().find(|(global, _)| *global == name).map(|(_, why)| *why)
}

/// What to write instead of a broken global.
pub(crate) fn instead_of_broken(name: &str) -> &'static str {
    match name {
        "Recharts" => {
            "draw the chart yourself: SVG (`<svg>` with `<rect>`, `<polyline>`, `<circle>`) or Tailwind-styled \
             `<div>` bars"
        }
        "ReactRouter" | "ReactRouterDOM" => {
            "keep the current view in state (`const [page, setPage] = React.useState('home');`), render the matching \
             component and switch views with buttons"
        }
        _ => {
            "draw icons as inline SVG, e.g. `<svg viewBox=\"0 0 24 24\" className=\"h-5 w-5\" fill=\"none\" \
             stroke=\"currentColor\" strokeWidth={2}><path d=\"M5 12h14\" /></svg>`"
        }
    }
}

pub(crate) fn is_browser_global(name: &str) -> bool {
    BROWSER_GLOBALS.contains(&name)
}

pub(crate) fn is_react_component(name: &str) -> bool {
    REACT_COMPONENTS.contains(&name)
}

/// The order in which the preview runs a project's files: every path but `App.tsx` sorted as
/// JavaScript's `a.localeCompare(b)` sorts them in Chromium, then `App.tsx` (if present).
///
/// `localeCompare` uses ICU's root collation. This is an approximation of it that is exact for
/// ASCII file names (checked against Chromium): strings compare first case-insensitively, with
/// whitespace < punctuation and symbols (in ICU's order, `_ - , ; : ! ? . ' " ( ) [ ] { } @ * / \
/// & # % ` ^ + < = > | ~ $`) < digits (one by one, `a10` before `a2`) < letters; then accents
/// (Latin-1 letters sort with their base letter, unaccented first); then case, lowercase first at
/// the first difference. Other characters sort after the letters by code point, and a final
/// code-point comparison keeps the order total.
///
/// With one file, the frontend runs only `App.tsx`; a project of one file is its App.
pub fn load_order<'a>(paths: &[&'a str]) -> Vec<&'a str> {
    let mut order: Vec<&'a str> = paths.iter().copied().filter(|path| *path != ENTRY).collect();
    order.sort_by(|a, b| locale_compare(a, b));
    if paths.contains(&ENTRY) {
        order.push(ENTRY);
    }
    order
}

/// ICU root's primary group and weight of the ASCII punctuation and symbols, as measured in
/// Chromium (space is whitespace, before all of them).
const PUNCTUATION: &str = "_-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~$";

/// (group, weight) at the primary level: what the character is, ignoring accents and case.
fn primary(c: char) -> (u8, u32) {
    let base = fold_accent(c).unwrap_or(c);
    if base.is_whitespace() || base.is_control() {
        (0, u32::from(base))
    } else if let Some(index) = PUNCTUATION.find(base) {
        (1, u32::try_from(index).unwrap_or(u32::MAX))
    } else if base.is_ascii_digit() {
        (2, u32::from(base))
    } else if base.is_ascii_alphabetic() {
        (3, u32::from(base.to_ascii_lowercase()))
    } else {
        (4, base.to_lowercase().next().map_or(u32::from(base), u32::from))
    }
}

/// The base letter of an accented Latin-1 letter.
fn fold_accent(c: char) -> Option<char> {
    let base = match c {
        'à'..='å' => 'a',
        'À'..='Å' => 'A',
        'ç' => 'c',
        'Ç' => 'C',
        'è'..='ë' => 'e',
        'È'..='Ë' => 'E',
        'ì'..='ï' => 'i',
        'Ì'..='Ï' => 'I',
        'ñ' => 'n',
        'Ñ' => 'N',
        'ò'..='ö' | 'ø' => 'o',
        'Ò'..='Ö' | 'Ø' => 'O',
        'ù'..='ü' => 'u',
        'Ù'..='Ü' => 'U',
        'ý' | 'ÿ' => 'y',
        'Ý' => 'Y',
        _ => return None,
    };
    Some(base)
}

fn locale_compare(a: &str, b: &str) -> Ordering {
    let primaries = |s: &str| s.chars().map(primary).collect::<Vec<_>>();
    let accents = |s: &str| s.chars().map(|c| fold_accent(c).map_or(0, |_| u32::from(c))).collect::<Vec<_>>();
    let cases = |s: &str| s.chars().map(|c| fold_accent(c).unwrap_or(c).is_uppercase()).collect::<Vec<_>>();
    primaries(a)
        .cmp(&primaries(b))
        .then_with(|| accents(a).cmp(&accents(b)))
        .then_with(|| cases(a).cmp(&cases(b)))
        .then_with(|| a.cmp(b))
}

/// One file the repair changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shared {
    /// The path as the caller gave it.
    pub path: String,
    /// The names it now puts on `window`, sorted.
    pub names: Vec<String>,
    /// The file's full new content.
    pub content: String,
}

/// Script files as the frontend names them; a data or style file is not a module to share from.
const SCRIPT_EXTENSIONS: &[&str] = &[".tsx", ".ts", ".jsx", ".js"];

/// Script files larger than this are left alone by the repair: no generated file comes near it,
/// and with [`ANALYSIS_STACK_BYTES`] it bounds the parser's recursion.
const MAX_FILE_BYTES: usize = 512 * 1024;

/// oxc's parser recurses once per link of an unbracketed chain (`a = b = …`, `a ? b : c ? …`,
/// `() => () => …`): a few thousand links overflow a 1 MiB stack, and on a native thread an
/// overflow aborts the whole host. The repair runs natively in the host, so it parses on a thread
/// with room for any chain a file under [`MAX_FILE_BYTES`] can hold (the stack is reserved, not
/// committed, until used).
#[cfg(not(target_family = "wasm"))]
const ANALYSIS_STACK_BYTES: usize = 256 * 1024 * 1024;

/// The mechanical repair of the commonest cross-file mistake: for every name declared at the top
/// level of a file (function, class, `const`/`let`/`var`) that another script file uses without
/// declaring it, and that no file puts on `window`, appends `window.Name = Name;` to the declaring
/// file, one line per name, sorted. Names a file takes from a library (`const { useState } =
/// React;`) are not shared: each file takes them from the library itself.
///
/// Returns only the files it changed, sorted by path. Files that do not parse are left alone, as
/// are non-script files and files over 512 KiB. Pure, deterministic and total.
pub fn share_through_window(files: &[ProjectFile]) -> Vec<Shared> {
    #[cfg(not(target_family = "wasm"))]
    {
        let on_a_large_stack = std::thread::scope(|scope| {
            let thread =
                std::thread::Builder::new().name("share-through-window".into()).stack_size(ANALYSIS_STACK_BYTES);
            thread.spawn_scoped(scope, || share(files)).ok().map(|handle| handle.join())
        });
        match on_a_large_stack {
            Some(Ok(shared)) => return shared,
            // The analysis does not panic; if it ever did, sharing nothing is the safe answer.
            Some(Err(_)) => return Vec::new(),
            // No thread to be had: the caller's stack is the only one left.
            None => {}
        }
    }
    share(files)
}

fn share(files: &[ProjectFile]) -> Vec<Shared> {
    // A later file with the same path replaces an earlier one, as it would on disk.
    let mut by_path: BTreeMap<String, &ProjectFile> = BTreeMap::new();
    for file in files {
        let path = validator::normalize_path(&file.path);
        if !path.is_empty() && SCRIPT_EXTENSIONS.iter().any(|ext| path.ends_with(ext)) {
            by_path.insert(path, file);
        }
    }
    let parsed: Vec<(&str, &ProjectFile, validator::Sharing)> = by_path
        .iter()
        .filter(|(_, file)| file.content.len() <= MAX_FILE_BYTES)
        .filter_map(|(path, file)| {
            validator::sharing_of(path, &file.content).map(|sharing| (path.as_str(), *file, sharing))
        })
        .collect();

    let exposed: BTreeSet<&str> =
        parsed.iter().flat_map(|(_, _, sharing)| sharing.window_sets.iter().map(|set| set.name.as_str())).collect();
    let mut declared_in: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (path, _, sharing) in &parsed {
        for value in sharing.values.iter().filter(|value| value.from_global.is_none()) {
            declared_in.entry(value.name.as_str()).or_default().push(path);
        }
    }

    let mut wanted: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (path, _, sharing) in &parsed {
        for name_use in &sharing.uses {
            let name = name_use.name.as_str();
            if exposed.contains(name) || is_browser_global(name) || is_library(name) {
                continue;
            }
            for declarer in declared_in.get(name).into_iter().flatten().filter(|declarer| *declarer != path) {
                wanted.entry(declarer).or_default().insert(name);
            }
        }
    }

    parsed
        .iter()
        .filter_map(|(path, file, _)| {
            let names = wanted.get(path)?;
            let mut content = file.content.clone();
            if !content.is_empty() && !content.ends_with('\n') {
                content.push('\n');
            }
            for name in names {
                content.push_str(&format!("window.{name} = {name};\n"));
            }
            Some(Shared { path: file.path.clone(), names: names.iter().map(ToString::to_string).collect(), content })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_like_chromium_with_app_last() {
        let paths = [
            "App.tsx",
            "data.ts",
            "DashboardCard.tsx",
            "Banana.tsx",
            "apple.ts",
            "Dashboard.tsx",
            "dashboard.tsx",
            "a10.tsx",
            "a2.tsx",
            "A1.tsx",
            "a_b.tsx",
            "a-b.tsx",
            "a.b.tsx",
            "components/card.tsx",
            "components.tsx",
            "componentsX.tsx",
            "Components/Z.tsx",
            "é.tsx",
            "e.tsx",
            "f.tsx",
        ];
        // Chromium 's `[...].sort((a, b) => a.localeCompare(b))` of the same names.
        assert_eq!(
            load_order(&paths),
            [
                "a_b.tsx",
                "a-b.tsx",
                "a.b.tsx",
                "A1.tsx",
                "a10.tsx",
                "a2.tsx",
                "apple.ts",
                "Banana.tsx",
                "components.tsx",
                "components/card.tsx",
                "Components/Z.tsx",
                "componentsX.tsx",
                "dashboard.tsx",
                "Dashboard.tsx",
                "DashboardCard.tsx",
                "data.ts",
                "e.tsx",
                "é.tsx",
                "f.tsx",
                "App.tsx",
            ]
        );
    }

    #[test]
    fn case_is_only_a_tiebreak() {
        assert_eq!(load_order(&["Banana.tsx", "apple.ts"]), ["apple.ts", "Banana.tsx"]);
        assert_eq!(load_order(&["DashboardCard.tsx", "Dashboard.tsx"]), ["Dashboard.tsx", "DashboardCard.tsx"]);
        assert_eq!(load_order(&["data.ts", "Dashboard.tsx"]), ["Dashboard.tsx", "data.ts"]);
        assert_eq!(load_order(&["Ab", "AB", "aB", "ab"]), ["ab", "aB", "Ab", "AB"]);
        assert_eq!(load_order(&["Card.tsx", "App.tsx", "card.tsx"]), ["card.tsx", "Card.tsx", "App.tsx"]);
        assert_eq!(load_order(&[]), Vec::<&str>::new());
    }

    #[test]
    fn the_tables_do_not_overlap() {
        for (name, why) in BROKEN_GLOBALS {
            assert!(!is_library(name), "{name}");
            assert!(!why.is_empty());
        }
        assert!(is_library("React") && is_library("dateFns") && broken("Recharts").is_some());
    }
}

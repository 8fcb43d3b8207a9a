//! The facts of the frontend's in-browser preview that code for the `browser` target must respect.
//!
//! The preview (the frontend's `CodePreview`) wraps every project file in its own
//! `<script type="text/babel" data-type="module">`, so each file is a separate ES module: a name
//! declared at the top level of one file is invisible to the others unless the file puts it on
//! `window`. Files run in the order of [`load_order`], and only the library globals in
//! [`LIBRARY_GLOBALS`] actually load. Measured in a page built like the frontend's, with its
//! pinned library versions; the validator, the prompts and the host's dev server share these facts.

use std::cmp::Ordering;

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

//! The `browser` target for the host: the mechanical repair of the commonest cross-file mistake,
//! and the preview's facts ([`crate::preview`]) the host needs, re-exported.

use std::collections::{BTreeMap, BTreeSet};

use crate::preview::{is_browser_global, is_library};
use crate::types::ProjectFile;
use crate::validator;

pub use crate::preview::{BROKEN_GLOBALS, LIBRARY_GLOBALS, load_order};

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
    use crate::preview::broken;

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

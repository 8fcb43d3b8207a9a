//! Rules for the `browser` target, the frontend's in-browser preview: every file is its own ES
//! module run in the frontend's order, names cross files only through `window`, only some library
//! globals load, Babel strips types with its Flow plugin, and App.tsx mounts the app.

use std::collections::{BTreeMap, BTreeSet};

use super::facts::ScriptFacts;
use super::paths;
use super::sharing::NameUse;
use super::{Project, Report};
use crate::preview::{self, load_order};
use crate::types::{DiagnosticKind, Severity};

/// Who declares and who puts on `window` each name, across the project.
struct Names<'p> {
    /// Position of each path in the preview's order.
    order: BTreeMap<&'p str, usize>,
    /// Name → files declaring it at the top level (not taken from a global).
    declared: BTreeMap<&'p str, Vec<&'p str>>,
    /// Name → (file, global) for top-level values taken from a library (`const { useState } = React`).
    from_global: BTreeMap<&'p str, Vec<(&'p str, &'p str)>>,
    /// Name → (file, line) of each top-level `window.Name = …`.
    exposed: BTreeMap<&'p str, Vec<(&'p str, u32)>>,
    /// Name → file, for files known only by path, trusted to expose the component they are named after.
    opaque: BTreeMap<&'p str, &'p str>,
}

impl<'p> Names<'p> {
    fn new(project: &'p Project<'p>) -> Self {
        let all_paths: Vec<&str> = project.files.keys().map(String::as_str).collect();
        let order = load_order(&all_paths).into_iter().enumerate().map(|(index, path)| (path, index)).collect();
        let mut names = Self {
            order,
            declared: BTreeMap::new(),
            from_global: BTreeMap::new(),
            exposed: BTreeMap::new(),
            opaque: BTreeMap::new(),
        };
        for (path, facts) in project.scripts {
            for value in &facts.sharing.values {
                match &value.from_global {
                    None => names.declared.entry(value.name.as_str()).or_default().push(path),
                    Some(root) => names.from_global.entry(value.name.as_str()).or_default().push((path, root)),
                }
            }
            for set in &facts.sharing.window_sets {
                names.exposed.entry(set.name.as_str()).or_default().push((path, set.line));
            }
        }
        for path in project.opaque_paths {
            let stem = paths::file_name(path).split('.').next().unwrap_or_default();
            names.opaque.entry(stem).or_insert(path);
        }
        names
    }

    fn position(&self, path: &str) -> usize {
        self.order.get(path).copied().unwrap_or(usize::MAX)
    }

    /// The file that first puts `name` on `window`, in the preview's order.
    fn first_exposer(&self, name: &str) -> Option<&'p str> {
        self.exposers(name).min_by_key(|path| self.position(path))
    }

    fn exposers(&self, name: &str) -> impl Iterator<Item = &'p str> {
        let exposers = self.exposed.get(name).into_iter().flatten().map(|(path, _)| *path);
        exposers.chain(self.opaque.get(name).copied())
    }

    /// The first file, in the preview's order, other than `user` that declares `name`.
    fn first_declarer(&self, name: &str, user: &str) -> Option<&'p str> {
        let declarers = self.declared.get(name).into_iter().flatten().copied();
        declarers.filter(|path| *path != user).min_by_key(|path| self.position(path))
    }

    fn first_from_global(&self, name: &str, user: &str) -> Option<(&'p str, &'p str)> {
        let sources = self.from_global.get(name).into_iter().flatten().copied();
        sources.filter(|(path, _)| *path != user).min_by_key(|(path, _)| self.position(path))
    }

    fn loads_after(&self, path: &str, other: &str) -> bool {
        self.position(path) > self.position(other)
    }
}

pub(super) fn check(project: &Project<'_>, report: &mut Report) {
    let names = Names::new(project);
    non_scripts(project, report);
    for (path, facts) in project.scripts {
        module_statements(path, facts, report);
        for syntax in &facts.ts_syntax {
            report.error(DiagnosticKind::Syntax, Severity::Critical, path, Some(syntax.line), syntax.message.clone());
        }
        jsx_outside_jsx_files(project, path, facts, report);
        uses(project, &names, path, facts, report);
        window_values(project, &names, path, facts, report);
        if paths::is_app_entry(path) && !facts.mounts_app {
            report.error(
                DiagnosticKind::Runtime,
                Severity::Critical,
                path,
                None,
                format!(
                    "{} never mounts the app; end it with \
                     `ReactDOM.createRoot(document.getElementById('root')).render(<App />);`.",
                    project.display(path)
                ),
            );
        }
    }
    duplicate_exposures(project, &names, report);
}

/// The preview's Babel reads JSX in any file, but the same project in the dev server (Vite) and
/// every TypeScript tool refuse JSX in a `.ts` file: the validator asks for the name that works in
/// both.
fn jsx_outside_jsx_files(project: &Project<'_>, path: &str, facts: &ScriptFacts, report: &mut Report) {
    let (Some(line), Some(stem)) = (facts.first_jsx_line, path.strip_suffix(".ts")) else { return };
    let shown = project.display(path);
    report.error(
        DiagnosticKind::Syntax,
        Severity::Critical,
        path,
        Some(line),
        format!(
            "{shown} holds JSX, which the dev server and TypeScript read only in .tsx files; rename it \
             to {}.tsx (other files use its names as before).",
            stem.rsplit('/').next().unwrap_or(stem)
        ),
    );
}

/// The preview wraps every file of the project in a script tag, whatever its extension, and one
/// file Babel cannot parse stops all of them.
fn non_scripts(project: &Project<'_>, report: &mut Report) {
    let sent = project.files.keys().filter(|path| !project.opaque_paths.contains(*path));
    for path in sent.filter(|path| !paths::is_script(path)) {
        let shown = project.display(path);
        let lower = path.to_ascii_lowercase();
        let instead = if [".css", ".scss", ".sass", ".less"].iter().any(|ext| lower.ends_with(ext)) {
            "style with Tailwind classes on the elements instead".to_string()
        } else if lower.ends_with(".json") {
            "put the data in a script file instead (e.g. data.ts holding `window.DATA = { … };`)".to_string()
        } else {
            "keep only .tsx, .ts, .jsx and .js files".to_string()
        };
        report.error(
            DiagnosticKind::Runtime,
            Severity::Critical,
            path,
            None,
            format!(
                "The preview runs every project file as a script, so {shown} stops the whole app; {instead}, \
                 and remove {shown} from the project."
            ),
        );
    }
}

fn module_statements(path: &str, facts: &ScriptFacts, report: &mut Report) {
    for statement in &facts.module_statements {
        let message = if statement.is_import {
            "import/export is not available in browser mode: the preview loads no modules by name, so an \
             `import` fails to load (and `import type` does nothing); delete this line and use the library \
             globals (`const { useState } = React;`) and the names other files put on `window`."
                .to_string()
        } else if statement.names.is_empty() {
            "import/export is not available in browser mode: no file can import what this exports; delete \
             `export` and share names by ending the file with `window.Name = Name;`."
                .to_string()
        } else {
            let lines: Vec<String> = statement.names.iter().map(|name| format!("window.{name} = {name};")).collect();
            format!(
                "import/export is not available in browser mode: no file can import what this exports; delete \
                 `export` (or the whole `export default …;` line) and, if another file uses it, end this file \
                 with `{}`.",
                lines.join(" ")
            )
        };
        report.error(DiagnosticKind::Import, Severity::Critical, path, Some(statement.line), message);
    }
}

/// Every name the file uses without binding it: a broken library, a name another file must put
/// on `window` (in time), or a component nobody defines.
fn uses(project: &Project<'_>, names: &Names<'_>, path: &str, facts: &ScriptFacts, report: &mut Report) {
    let shown = project.display(path);
    // One error per name and rule in a file: the fix is one line, wherever the name recurs.
    let mut reported: BTreeSet<(&str, &str)> = BTreeSet::new();
    // A broken library is reported on every line that uses it: each needs its own rewrite.
    let mut broken_lines: BTreeSet<(&str, u32)> = BTreeSet::new();
    for name_use in &facts.sharing.uses {
        let name = name_use.name.as_str();
        if let Some(why) = preview::broken(name) {
            if broken_lines.insert((name, name_use.line)) {
                report.error(
                    DiagnosticKind::Reference,
                    Severity::Critical,
                    path,
                    Some(name_use.line),
                    format!("`{name}` does not load in the preview ({why}); {}.", preview::instead_of_broken(name)),
                );
            }
            continue;
        }
        if preview::is_browser_global(name) || preview::is_library(name) {
            continue;
        }
        let written = written(name_use);
        if let Some(exposer) = names.first_exposer(name) {
            if name_use.at_load
                && exposer != path
                && names.loads_after(exposer, path)
                && reported.insert((name, "order"))
            {
                let exposer = project.display(exposer);
                report.error(
                    DiagnosticKind::Reference,
                    Severity::Critical,
                    path,
                    Some(name_use.line),
                    format!(
                        "{written} is read when {shown} loads, before {exposer} defines it (the preview runs \
                         {shown} first); read it inside the component, at render time, not at the top level of \
                         {shown}."
                    ),
                );
            }
            continue;
        }
        if let Some(declarer) = names.first_declarer(name, path) {
            if reported.insert((name, "window")) {
                let read_at_load = facts.sharing.uses.iter().any(|other| other.name == name && other.at_load);
                let later = if read_at_load && names.loads_after(declarer, path) {
                    format!(
                        "; and since the preview runs {shown} first, read it inside the component, not at the top \
                         level of {shown}"
                    )
                } else {
                    String::new()
                };
                let declarer = project.display(declarer);
                report.error(
                    DiagnosticKind::Reference,
                    Severity::Critical,
                    path,
                    Some(name_use.line),
                    format!(
                        "{written} is defined in {declarer} but each file is its own module: end {declarer} with \
                         `window.{name} = {name};`{later}."
                    ),
                );
            }
            continue;
        }
        if let Some((source, root)) = names.first_from_global(name, path) {
            if reported.insert((name, "library")) {
                let source = project.display(source);
                report.error(
                    DiagnosticKind::Reference,
                    Severity::Critical,
                    path,
                    Some(name_use.line),
                    format!(
                        "{written} comes from `{root}` in {source}, but each file is its own module: add \
                         `const {{ {name} }} = {root};` at the top of {shown}."
                    ),
                );
            }
            continue;
        }
        if !name_use.jsx || name_use.via_window || project.maybe_declared_in_unparsed(name) {
            continue;
        }
        if reported.insert((name, "undefined")) {
            let message = if preview::is_react_component(name) {
                format!(
                    "<{name}> is not a global in the preview: write `<React.{name}>` (or `<>…</>` for a \
                     fragment), or add `const {{ {name} }} = React;` at the top of {shown}."
                )
            } else {
                format!(
                    "<{name}> is not defined in any project file; define `function {name}()` in a file of its \
                     own and end that file with `window.{name} = {name};`, or stop using it."
                )
            };
            report.error(DiagnosticKind::Reference, Severity::Critical, path, Some(name_use.line), message);
        }
    }
}

/// How a message quotes a use: `<Dashboard>` for a component, `formatPrice` otherwise.
fn written(name_use: &NameUse) -> String {
    if name_use.jsx { format!("`<{}>`", name_use.name) } else { format!("`{}`", name_use.name) }
}

/// `window.Name = Value;` where the file defines no `Value` and nothing else does.
fn window_values(project: &Project<'_>, names: &Names<'_>, path: &str, facts: &ScriptFacts, report: &mut Report) {
    for set in &facts.sharing.window_sets {
        let Some(value) = set.value.as_deref() else { continue };
        let known = facts.sharing.bindings.contains(value)
            || preview::is_browser_global(value)
            || preview::is_library(value)
            || preview::broken(value).is_some()
            || names.exposers(value).any(|exposer| exposer != path)
            || names.declared.contains_key(value)
            || names.from_global.contains_key(value)
            || project.maybe_declared_in_unparsed(value);
        if !known {
            let shown = project.display(path);
            let name = &set.name;
            report.error(
                DiagnosticKind::Reference,
                Severity::Critical,
                path,
                Some(set.line),
                format!(
                    "`window.{name} = {value};` but {shown} defines no `{value}`: declare it in {shown} above this \
                     line (e.g. `function {value}() {{ … }}`) or fix the name."
                ),
            );
        }
    }
}

/// Two files putting the same name on `window`: the one the preview runs last silently wins.
fn duplicate_exposures(project: &Project<'_>, names: &Names<'_>, report: &mut Report) {
    for (name, sets) in &names.exposed {
        let mut files: Vec<(&str, u32)> = Vec::new();
        for (path, line) in sets {
            if !files.iter().any(|(seen, _)| seen == path) {
                files.push((path, *line));
            }
        }
        files.sort_by_key(|(path, _)| names.position(path));
        let Some((first, _)) = files.first().copied() else { continue };
        for (path, line) in files.iter().skip(1) {
            let first = project.display(first);
            let shown = project.display(path);
            report.push(
                false,
                DiagnosticKind::Reference,
                Severity::Major,
                path,
                Some(*line),
                format!(
                    "`window.{name}` is also set by {first}; the preview runs {shown} later, so its `{name}` \
                     replaces the other everywhere: give one of them another name."
                ),
            );
        }
    }
}

//! Rules for the `browser` target: every file is a classic script sharing one global scope, with
//! React and the template libraries preloaded as globals and App.tsx mounting the app.

use std::collections::BTreeSet;

use super::paths;
use super::{Project, Report};
use crate::types::{DiagnosticKind, Severity};

/// Component names the preview page defines before loading the project's scripts. Library
/// components are reached as members (`<Recharts.LineChart>`), which this check skips.
const KNOWN_GLOBALS: &[&str] = &["React", "ReactDOM", "Fragment"];

pub(super) fn check(project: &Project<'_>, report: &mut Report) {
    let globals: BTreeSet<&str> = project
        .scripts
        .values()
        .flat_map(|facts| facts.top_level.iter().map(String::as_str))
        .chain(KNOWN_GLOBALS.iter().copied())
        .collect();

    for (path, facts) in project.scripts {
        for statement in &facts.module_statements {
            let message = if statement.is_import {
                "import/export is not available in browser mode; remove this import and use the globals \
                 (React.useState, components defined in other files)."
            } else {
                "import/export is not available in browser mode; remove `export`, top-level declarations \
                 are already global."
            };
            report.error(DiagnosticKind::Import, Severity::Critical, path, Some(statement.line), message.to_string());
        }

        let mut reported = BTreeSet::new();
        for component in &facts.components {
            let name = component.name.as_str();
            // A component bound in the file itself (a parameter such as `{ icon: Icon }`, a local
            // declaration) is fine even when it is not global.
            if globals.contains(name)
                || facts.bindings.contains(name)
                || project.maybe_declared_in_unparsed(name)
                || !reported.insert(name)
            {
                continue;
            }
            report.error(
                DiagnosticKind::Reference,
                Severity::Critical,
                path,
                Some(component.line),
                format!(
                    "<{name}> is not defined in any project file; define `function {name}()` at the top \
                     level of a file or stop using it."
                ),
            );
        }

        if paths::is_app_entry(path) && !facts.mounts_app {
            report.error(
                DiagnosticKind::Runtime,
                Severity::Critical,
                path,
                None,
                format!(
                    "{path} never mounts the app; end it with \
                     `ReactDOM.createRoot(document.getElementById('root')).render(<App />);`."
                ),
            );
        }
    }
}

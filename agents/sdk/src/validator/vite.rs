//! Rules for the `vite` target: ES modules whose imports must resolve to project files, installed
//! packages and names the target module really exports.

use std::collections::BTreeSet;

use super::facts::{ModuleRequest, RequestedName, ScriptFacts};
use super::paths::{self, FileSet, Resolution};
use super::{Project, Report};
use crate::types::{DiagnosticKind, Severity, TEMPLATE_PACKAGES};

pub(super) fn check(project: &Project<'_>, dependencies: &[String], report: &mut Report) {
    let installed: BTreeSet<&str> = TEMPLATE_PACKAGES
        .iter()
        .copied()
        .chain(dependencies.iter().map(|dependency| paths::dependency_name(dependency)))
        .collect();
    let files = FileSet::new(project.files);

    for (path, facts) in project.scripts {
        for request in &facts.requests {
            check_request(project, &files, &installed, path, request, report);
        }
        check_components(path, facts, report);
        if paths::is_app_entry(path) && !facts.exports.has_default {
            report.error(
                DiagnosticKind::Runtime,
                Severity::Critical,
                path,
                None,
                format!(
                    "{path} has no default export; add `export default App` (src/main.tsx imports the App \
                     component from it)."
                ),
            );
        }
    }
}

fn check_request(
    project: &Project<'_>,
    files: &FileSet<'_>,
    installed: &BTreeSet<&str>,
    importer: &str,
    request: &ModuleRequest,
    report: &mut Report,
) {
    let specifier = request.specifier.as_str();
    let line = Some(request.line);
    if paths::is_url(specifier) {
        return;
    }
    if specifier.trim().is_empty() {
        report.error(
            DiagnosticKind::Import,
            Severity::Critical,
            importer,
            line,
            format!("Cannot resolve an empty module path from {importer}; name the file or package to import."),
        );
        return;
    }
    if paths::is_path_alias(specifier) {
        report.error(
            DiagnosticKind::Import,
            Severity::Critical,
            importer,
            line,
            format!(
                "Cannot resolve '{specifier}' from {importer}: no path alias is configured; use a relative \
                 import such as './components/Button'."
            ),
        );
        return;
    }
    if !paths::is_relative(specifier) {
        let package = paths::package_name(specifier);
        if !request.type_only && !installed.contains(package) {
            report.error(
                DiagnosticKind::Import,
                Severity::Major,
                importer,
                line,
                format!(
                    "Package '{package}' is not installed; add it to the plan's dependencies or use an \
                     installed package ({}).",
                    TEMPLATE_PACKAGES.join(", ")
                ),
            );
        }
        return;
    }
    match files.resolve(importer, specifier) {
        Resolution::Missing { case_mismatch } => {
            let hint = match case_mismatch {
                Some(actual) => format!("; the file is {actual} (paths are case-sensitive)"),
                None => "; create that file or fix the path".to_string(),
            };
            report.error(
                DiagnosticKind::Import,
                Severity::Critical,
                importer,
                line,
                format!("Cannot resolve '{specifier}' from {importer}{hint}."),
            );
        }
        Resolution::Found(target) => {
            // Modules that failed to parse already carry a syntax error; non-scripts (CSS, SVG,
            // JSON) get their exports from Vite's loaders.
            if let Some(target_facts) = project.scripts.get(&target) {
                check_names(importer, request, &target, target_facts, report);
            }
        }
    }
}

fn check_names(importer: &str, request: &ModuleRequest, target: &str, facts: &ScriptFacts, report: &mut Report) {
    let exports = &facts.exports;
    let specifier = &request.specifier;
    for name in &request.names {
        let message = match name {
            RequestedName::Default { local } if !exports.has_default => {
                let hint = if exports.names.contains(local) {
                    format!("it exports `{local}` by name: write `import {{ {local} }} from '{specifier}'`")
                } else {
                    format!("add `export default {local}` to {target} or import a name it exports")
                };
                format!("{target} has no default export (imported as `{local}` in {importer}); {hint}.")
            }
            RequestedName::Named(imported) if !exports.names.contains(imported) && !exports.has_star => {
                let hint = if exports.has_default {
                    format!("it has a default export: write `import {imported} from '{specifier}'`")
                } else {
                    format!("export it from {target} or fix the import")
                };
                format!("`{imported}` is not exported by {target} (imported in {importer}); {hint}.")
            }
            _ => continue,
        };
        report.error(DiagnosticKind::Reference, Severity::Critical, importer, Some(request.line), message);
    }
}

/// Modules see only what they import or declare, so a component used without either fails at
/// render time.
fn check_components(path: &str, facts: &ScriptFacts, report: &mut Report) {
    let mut reported = BTreeSet::new();
    for component in &facts.components {
        if facts.bindings.contains(&component.name) || !reported.insert(component.name.as_str()) {
            continue;
        }
        let name = &component.name;
        report.error(
            DiagnosticKind::Reference,
            Severity::Critical,
            path,
            Some(component.line),
            format!("<{name}> is used in {path} but never imported or defined; import {name} from its file."),
        );
    }
}

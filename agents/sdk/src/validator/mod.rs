//! The deterministic code validator: syntax, module wiring, runtime entry and security rules over a
//! generated project, for the runtime target it will run in.
//!
//! Pure and total: the same request always gives the same report, in the same order, and no input
//! (binary, empty, hostile) makes it panic. The built-in validator agent runs it first; a model
//! review, if any, only adds to it.

mod browser;
mod facts;
mod flow;
mod lines;
mod paths;
mod secrets;
mod sharing;
mod vite;

use std::collections::{BTreeMap, BTreeSet};

use crate::types::{
    Diagnostic, DiagnosticKind, ProjectFile, RuntimeTarget, Severity, ValidateRequest, ValidationReport,
};
use facts::{Dialect, ScriptFacts};
pub(crate) use sharing::Sharing;

/// Checks every file of `request` against the rules of its runtime target.
pub fn validate(request: &ValidateRequest) -> ValidationReport {
    let (files, sent_paths) = project_files(&request.files);
    let dialect = match request.target {
        RuntimeTarget::Vite => Dialect::Vite,
        RuntimeTarget::Browser => Dialect::Browser,
    };
    let mut report = Report::default();
    let mut scripts = BTreeMap::new();
    let mut unparsed = Vec::new();

    for (path, source) in &files {
        if paths::is_script(path) {
            match facts::analyse(path, source, dialect) {
                Ok(facts) => {
                    for finding in &facts.findings {
                        report.push(
                            finding.is_error,
                            DiagnosticKind::Security,
                            finding.severity,
                            path,
                            Some(finding.line),
                            finding.message.clone(),
                        );
                    }
                    scripts.insert(path.clone(), facts);
                }
                Err(errors) => {
                    for error in errors {
                        report.error(DiagnosticKind::Syntax, Severity::Critical, path, error.line, error.message);
                    }
                    unparsed.push(*source);
                }
            }
        } else if paths::is_strict_json(path)
            && let Err(error) = serde_json::from_str::<serde::de::IgnoredAny>(source)
        {
            let line = u32::try_from(error.line()).ok().filter(|line| *line > 0);
            report.error(DiagnosticKind::Syntax, Severity::Critical, path, line, format!("Invalid JSON: {error}."));
        }
    }

    // Files the project has but whose content was not sent: imports of them resolve, and their
    // exports are taken on trust. Only the validated files' own problems are reported.
    let mut all_files = files.clone();
    let mut opaque_names = BTreeSet::new();
    let mut opaque_paths = BTreeSet::new();
    for path in request.known_paths.iter().map(|p| paths::normalize(p)).filter(|p| !p.is_empty()) {
        let name = paths::file_name(&path).split('.').next().unwrap_or_default().to_string();
        if let std::collections::btree_map::Entry::Vacant(slot) = all_files.entry(path.clone()) {
            slot.insert("");
            opaque_names.insert(name);
            opaque_paths.insert(path);
        }
    }
    let project = Project {
        files: &all_files,
        scripts: &scripts,
        unparsed: &unparsed,
        opaque_names: &opaque_names,
        opaque_paths: &opaque_paths,
        sent_paths: &sent_paths,
    };
    match request.target {
        RuntimeTarget::Vite => vite::check(&project, &request.dependencies, &mut report),
        RuntimeTarget::Browser => browser::check(&project, &mut report),
    }
    if !all_files.keys().any(|path| paths::is_app_entry(path)) {
        report.error(
            DiagnosticKind::Runtime,
            Severity::Critical,
            "App.tsx",
            None,
            "The project has no App.tsx; create it with the App component, the entry of the app.".to_string(),
        );
    }
    report.finish(&sent_paths)
}

/// Files by normalised path, and the path each was sent as; a later file with the same path
/// replaces an earlier one, as it would on disk. Nameless entries cannot be loaded by either runtime,
/// so they are ignored.
fn project_files(files: &[ProjectFile]) -> (BTreeMap<String, &str>, BTreeMap<String, &str>) {
    let mut contents = BTreeMap::new();
    let mut sent_paths = BTreeMap::new();
    for file in files {
        let path = paths::normalize(&file.path);
        if !path.is_empty() {
            contents.insert(path.clone(), file.content.as_str());
            sent_paths.insert(path, file.path.as_str());
        }
    }
    (contents, sent_paths)
}

/// What the target-specific rules see of the project.
struct Project<'a> {
    files: &'a BTreeMap<String, &'a str>,
    /// Scripts that parsed, by normalised path.
    scripts: &'a BTreeMap<String, ScriptFacts>,
    /// Sources of scripts that did not parse: their declarations are unknown, not absent.
    unparsed: &'a [&'a str],
    /// Base names of files known only by path; in browser mode each such file is assumed to define
    /// the component it is named after and put it on `window`, as the frontend names them.
    opaque_names: &'a BTreeSet<String>,
    /// Paths of the files known only by path.
    opaque_paths: &'a BTreeSet<String>,
    /// The path each file was sent as, by normalised path.
    sent_paths: &'a BTreeMap<String, &'a str>,
}

impl Project<'_> {
    /// A file as messages name it: as the client sent it.
    fn display<'p>(&'p self, path: &'p str) -> &'p str {
        self.sent_paths.get(path).copied().unwrap_or(path)
    }

    /// A name that may be declared in a file we could not parse; blaming its users would only add
    /// noise to the syntax error that the fixer must repair first.
    fn maybe_declared_in_unparsed(&self, name: &str) -> bool {
        self.unparsed.iter().any(|source| source.contains(name)) || self.opaque_names.contains(name)
    }
}

/// A path as the validator keys it (`./src//App.tsx` → `src/App.tsx`).
pub(crate) fn normalize_path(path: &str) -> String {
    paths::normalize(path)
}

/// What a script shares with the others in the browser preview, or `None` if it does not parse.
pub(crate) fn sharing_of(path: &str, source: &str) -> Option<Sharing> {
    facts::analyse(path, source, Dialect::Browser).ok().map(|facts| facts.sharing)
}

#[derive(Default)]
struct Report {
    errors: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
}

impl Report {
    fn push(
        &mut self,
        is_error: bool,
        kind: DiagnosticKind,
        severity: Severity,
        file: &str,
        line: Option<u32>,
        message: String,
    ) {
        let diagnostic = Diagnostic { kind, file: file.to_string(), line, message, severity };
        if is_error {
            self.errors.push(diagnostic);
        } else {
            self.warnings.push(diagnostic);
        }
    }

    fn error(&mut self, kind: DiagnosticKind, severity: Severity, file: &str, line: Option<u32>, message: String) {
        self.push(true, kind, severity, file, line, message);
    }

    /// Diagnostics name files as the client sent them, so that it (and the fixer) can match them.
    fn finish(mut self, sent_paths: &BTreeMap<String, &str>) -> ValidationReport {
        for list in [&mut self.errors, &mut self.warnings] {
            for diagnostic in list.iter_mut() {
                if let Some(sent) = sent_paths.get(&diagnostic.file) {
                    diagnostic.file = (*sent).to_string();
                }
            }
            list.sort_by(|a, b| {
                (&a.file, a.line, &a.message, kind_rank(a.kind), a.severity).cmp(&(
                    &b.file,
                    b.line,
                    &b.message,
                    kind_rank(b.kind),
                    b.severity,
                ))
            });
            list.dedup();
        }
        let confidence_score = confidence(&self.errors, &self.warnings);
        ValidationReport { errors: self.errors, warnings: self.warnings, confidence_score }
    }
}

fn kind_rank(kind: DiagnosticKind) -> u8 {
    match kind {
        DiagnosticKind::Syntax => 0,
        DiagnosticKind::Import => 1,
        DiagnosticKind::Reference => 2,
        DiagnosticKind::Runtime => 3,
        DiagnosticKind::Security => 4,
    }
}

/// 100 minus a cost per finding, so that one critical error weighs as much as six risky warnings.
fn confidence(errors: &[Diagnostic], warnings: &[Diagnostic]) -> u8 {
    let error_cost = |severity| match severity {
        Severity::Critical => 30,
        Severity::Major => 15,
        Severity::Minor => 5,
    };
    let warning_cost = |severity| match severity {
        Severity::Critical | Severity::Major => 5,
        Severity::Minor => 2,
    };
    let cost: u64 = errors.iter().map(|d| error_cost(d.severity)).sum::<u64>()
        + warnings.iter().map(|d| warning_cost(d.severity)).sum::<u64>();
    u8::try_from(100u64.saturating_sub(cost)).unwrap_or(0)
}

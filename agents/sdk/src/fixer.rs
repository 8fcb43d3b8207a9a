//! The fixer: corrected versions of the files a validator rejected, and of no other file.

use std::collections::BTreeMap;

use crate::defaults;
use crate::files;
use crate::llm::{AgentError, Host};
use crate::prompts;
use crate::types::{ChatRole, Diagnostic, FixRequest, ProjectFile};

const DEFAULT_CONTEXT_CHARS: usize = defaults::fixer::CONTEXT_CHARS;

pub fn fix(host: &impl Host, request: &FixRequest) -> Result<Vec<ProjectFile>, AgentError> {
    let mut by_file: BTreeMap<&str, Vec<&Diagnostic>> = BTreeMap::new();
    for d in &request.diagnostics {
        by_file.entry(d.file.as_str()).or_default().push(d);
    }
    // Only files that exist can be corrected; a diagnostic about a missing file is reported on the
    // file that imports it.
    let broken: Vec<&ProjectFile> = request.files.iter().filter(|f| by_file.contains_key(f.path.as_str())).collect();
    if broken.is_empty() {
        return Ok(Vec::new());
    }
    let system = format!(
        "{}\n\n{}",
        prompts::configured(host, "system_prompt", prompts::FIXER),
        prompts::target_rules(request.target)
    );
    let mut task = String::new();
    if let Some(last) = request.messages.iter().rev().find(|m| m.role == ChatRole::User) {
        task.push_str(&format!("The user asked: {}\n\n", crate::planner::truncate(&last.content, 2_000)));
    }
    task.push_str("Problems to fix:\n");
    for (file, diags) in &by_file {
        for d in diags {
            let line = d.line.map(|l| format!(" line {l}")).unwrap_or_default();
            task.push_str(&format!("- {file}{line}: {}\n", d.message));
        }
    }
    task.push_str("\nFiles to correct:\n");
    for f in &broken {
        task.push_str(&format!("--- {}\n{}\n", f.path, f.content.trim_end()));
    }
    let others: Vec<ProjectFile> =
        request.files.iter().filter(|f| !by_file.contains_key(f.path.as_str())).cloned().collect();
    if !others.is_empty() {
        let budget = host.config_u32("context_chars").map(|n| n as usize).unwrap_or(DEFAULT_CONTEXT_CHARS);
        task.push_str("\nOther project files, for reference only (do not return them):\n");
        task.push_str(&files::render(&others, budget));
    }
    let paths: Vec<String> = broken.iter().map(|f| f.path.clone()).collect();
    let temperature = host.config_f32("temperature").unwrap_or(defaults::fixer::TEMPERATURE);
    let fixed = files::write_files(host, system, task, &paths, temperature)?;
    // A model that returns a file unchanged has not fixed it; dropping it keeps the host's
    // "no progress" check honest.
    Ok(fixed.into_iter().filter(|f| broken.iter().any(|b| b.path == f.path && b.content != f.content)).collect())
}

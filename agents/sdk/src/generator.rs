//! The generator: writes the complete files of some of a plan's steps.

use crate::defaults;
use crate::files;
use crate::llm::{AgentError, Host};
use crate::prompts;
use crate::types::{ChatRole, GenerateRequest, ProjectFile, StepAction};

const DEFAULT_CONTEXT_CHARS: usize = defaults::generator::CONTEXT_CHARS;

pub fn generate(host: &impl Host, request: &GenerateRequest) -> Result<Vec<ProjectFile>, AgentError> {
    let steps: Vec<_> = request.steps.iter().filter(|s| s.action != StepAction::Delete).collect();
    if steps.is_empty() {
        return Ok(Vec::new());
    }
    let paths: Vec<String> = steps.iter().map(|s| s.path.clone()).collect();
    let system = format!(
        "{}\n\n{}",
        prompts::configured(host, "system_prompt", prompts::GENERATOR),
        prompts::target_rules(request.target)
    );
    let mut task = String::new();
    if let Some(last) = request.messages.iter().rev().find(|m| m.role == ChatRole::User) {
        task.push_str(&format!("The user asked: {}\n\n", crate::planner::truncate(&last.content, 4_000)));
    }
    task.push_str(&format!("Plan ({}): every file being written in this change:\n", request.plan.intent));
    for s in &request.plan.steps {
        task.push_str(&format!("- {} {} ({}): {}\n", action_word(s.action), s.path, s.target, s.description));
    }
    task.push_str("\nYour part:\n");
    for s in &steps {
        task.push_str(&format!("- {} {}: {}\n", action_word(s.action), s.path, s.description));
    }
    if !request.plan.dependencies_needed.is_empty() {
        task.push_str(&format!("\nExtra packages available: {}\n", request.plan.dependencies_needed.join(", ")));
    }
    if !request.context_files.is_empty() {
        let budget = host.config_u32("context_chars").map(|n| n as usize).unwrap_or(DEFAULT_CONTEXT_CHARS);
        task.push_str("\nCurrent project files:\n");
        task.push_str(&files::render(&request.context_files, budget));
    } else if !request.project_context.trim().is_empty() {
        let budget = host.config_u32("context_chars").map(|n| n as usize).unwrap_or(DEFAULT_CONTEXT_CHARS);
        task.push_str("\nCurrent project code (all files concatenated):\n");
        task.push_str(crate::planner::truncate(&request.project_context, budget));
        task.push('\n');
    }
    let temperature = host.config_f32("temperature").unwrap_or(defaults::generator::TEMPERATURE);
    files::write_files(host, system, task, &paths, temperature)
}

fn action_word(action: StepAction) -> &'static str {
    match action {
        StepAction::Create => "create",
        StepAction::Modify => "modify",
        StepAction::Delete => "delete",
    }
}

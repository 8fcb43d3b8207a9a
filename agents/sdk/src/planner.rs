//! The planner: a conversation becomes a plan, a conversational reply or a clarification question.

use crate::defaults;
use crate::json;
use crate::llm::{AgentError, CompletionRequest, Host, LlmError, LogLevel, StreamChannel};
use crate::prompts;
use crate::types::{ChatMessage, ChatRole, Plan, PlanRequest, StepAction};

/// How much of the conversation and the project the planner shows the model, by default.
const DEFAULT_CONTEXT_CHARS: usize = defaults::planner::CONTEXT_CHARS;
const DEFAULT_HISTORY: usize = 10;

pub fn plan(host: &impl Host, request: &PlanRequest) -> Result<Plan, AgentError> {
    if !request.messages.iter().any(|m| m.role == ChatRole::User) {
        return Err(AgentError::InvalidRequest("the conversation has no user message".into()));
    }
    if host.config("thinking").as_deref() != Some("off") {
        think(host, request)?;
    }
    let system = format!(
        "{}\n\n{}",
        prompts::configured(host, "system_prompt", prompts::PLANNER),
        prompts::target_rules(request.target)
    );
    let messages = vec![ChatMessage::system(system), ChatMessage::user(describe(host, request))];
    let raw = host.complete(CompletionRequest {
        temperature: Some(host.config_f32("temperature").unwrap_or(defaults::planner::TEMPERATURE)),
        max_tokens: Some(host.config_u32("max_tokens").unwrap_or(defaults::planner::MAX_TOKENS)),
        json_mode: true,
        model: host.config("model"),
        ..CompletionRequest::new(messages.clone())
    })?;
    let plan = match json::extract::<Plan>(&raw.content) {
        Ok(plan) => plan,
        Err(first) => {
            host.log(LogLevel::Warn, &format!("plan was not valid JSON ({first}); asking for a repair"));
            let mut repair = messages;
            repair.push(ChatMessage::assistant(raw.content));
            repair.push(ChatMessage::user(format!("{} ({first})", prompts::JSON_REPAIR)));
            let again = host.complete(CompletionRequest {
                temperature: Some(0.0),
                max_tokens: Some(host.config_u32("max_tokens").unwrap_or(defaults::planner::MAX_TOKENS)),
                json_mode: true,
                model: host.config("model"),
                ..CompletionRequest::new(repair)
            })?;
            json::extract::<Plan>(&again.content).map_err(|e| {
                AgentError::BadModelOutput(format!("the plan is not valid JSON, even after a repair attempt: {e}"))
            })?
        }
    };
    Ok(normalize(plan))
}

/// Streams the conversational answer to the client and returns it whole.
pub fn answer(host: &impl Host, request: &PlanRequest) -> Result<String, AgentError> {
    let system = format!(
        "{}\n\nProject files:\n{}\n\nProject code (may be truncated):\n{}",
        prompts::configured(host, "answer_prompt", prompts::ANSWER),
        request.file_tree.join("\n"),
        truncate(&request.project_context, 4_000),
    );
    let mut messages = vec![ChatMessage::system(system)];
    messages.extend(recent(&request.messages, DEFAULT_HISTORY).iter().cloned());
    let reply = host.complete(CompletionRequest {
        temperature: Some(host.config_f32("answer_temperature").unwrap_or(defaults::planner::ANSWER_TEMPERATURE)),
        max_tokens: Some(host.config_u32("answer_max_tokens").unwrap_or(defaults::planner::ANSWER_MAX_TOKENS)),
        model: host.config("answer_model").or_else(|| host.config("model")),
        stream_to: Some(StreamChannel::Conversation),
        ..CompletionRequest::new(messages)
    })?;
    if reply.content.trim().is_empty() {
        return Err(AgentError::BadModelOutput("the model returned an empty answer".into()));
    }
    Ok(reply.content)
}

/// A short reasoning streamed to the client while the plan is made. It is decoration: a failure is
/// logged and planning goes on, except when the run must stop (no credits, no budget, cancelled).
fn think(host: &impl Host, request: &PlanRequest) -> Result<(), AgentError> {
    let last = request.messages.iter().rev().find(|m| m.role == ChatRole::User).map(|m| m.content.as_str());
    let messages = vec![
        ChatMessage::system(prompts::configured(host, "thinking_prompt", prompts::THINKING)),
        ChatMessage::user(format!(
            "Request: {}\nExisting files: {}",
            truncate(last.unwrap_or_default(), 600),
            truncate(&request.file_tree.join(", "), 400)
        )),
    ];
    match host.complete(CompletionRequest {
        temperature: Some(0.7),
        max_tokens: Some(host.config_u32("thinking_max_tokens").unwrap_or(defaults::planner::THINKING_MAX_TOKENS)),
        model: host.config("thinking_model"),
        stream_to: Some(StreamChannel::Thinking),
        ..CompletionRequest::new(messages)
    }) {
        Ok(_) => Ok(()),
        Err(e @ (LlmError::Cancelled | LlmError::InsufficientCredits(_) | LlmError::BudgetExceeded(_))) => {
            Err(e.into())
        }
        Err(e) => {
            host.log(LogLevel::Warn, &format!("thinking stream skipped: {e}"));
            Ok(())
        }
    }
}

fn describe(host: &impl Host, request: &PlanRequest) -> String {
    let budget = host.config_u32("context_chars").map(|n| n as usize).unwrap_or(DEFAULT_CONTEXT_CHARS);
    let mut out = String::from("Conversation (oldest first):\n");
    for m in recent(&request.messages, DEFAULT_HISTORY) {
        let role = match m.role {
            ChatRole::User => "user",
            ChatRole::Assistant => "assistant",
            ChatRole::System => "system",
        };
        out.push_str(&format!("[{role}]: {}\n", truncate(&m.content, 4_000)));
    }
    out.push_str("\nFile tree:\n");
    if request.file_tree.is_empty() {
        out.push_str("(empty project)\n");
    } else {
        out.push_str(&request.file_tree.join("\n"));
        out.push('\n');
    }
    if request.files.is_empty() {
        out.push_str("\nProject code:\n");
        out.push_str(truncate(&request.project_context, budget));
    } else {
        let mut left = budget;
        for f in &request.files {
            if left == 0 {
                out.push_str(&format!("\n--- {} (omitted)\n", f.path));
                continue;
            }
            let shown = truncate(&f.content, left);
            left -= shown.len();
            out.push_str(&format!("\n--- {}\n{}\n", f.path, shown));
        }
    }
    out
}

/// Makes a model's plan safe to execute: ids in order, paths clean, App.tsx never deleted, and a
/// plan with nothing to do turned into a conversational answer.
pub fn normalize(mut plan: Plan) -> Plan {
    if plan.intent.trim().is_empty() {
        plan.intent = "change".into();
    }
    if plan.clarification_needed {
        let question = plan.clarification_question.as_deref().map(str::trim).unwrap_or_default();
        if question.is_empty() {
            plan.clarification_needed = false;
            plan.clarification_question = None;
        }
    }
    plan.steps.retain_mut(|step| {
        step.path = clean_path(if step.path.trim().is_empty() { &step.target } else { &step.path });
        if !step.path.is_empty() && !step.path.contains('.') {
            step.path.push_str(".tsx");
        }
        if step.target.trim().is_empty() {
            step.target = stem(&step.path).to_string();
        }
        let deletes_app = step.action == StepAction::Delete && stem(&step.path) == "App";
        !step.path.is_empty() && !deletes_app
    });
    // One step per path: a model sometimes lists a file twice.
    let mut seen = std::collections::HashSet::new();
    plan.steps.retain(|s| seen.insert(s.path.clone()));
    for (i, step) in plan.steps.iter_mut().enumerate() {
        step.id = i as u32 + 1;
    }
    if plan.clarification_needed {
        plan.conversational = true;
    }
    if plan.conversational || plan.steps.is_empty() {
        plan.conversational = true;
        plan.steps.clear();
    }
    plan.dependencies_needed.retain(|d| !d.trim().is_empty());
    plan
}

fn clean_path(path: &str) -> String {
    let path = path.trim().replace('\\', "/");
    path.trim_start_matches("./").trim_start_matches('/').to_string()
}

fn stem(path: &str) -> &str {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.split('.').next().unwrap_or(name)
}

fn recent(messages: &[ChatMessage], n: usize) -> &[ChatMessage] {
    &messages[messages.len().saturating_sub(n)..]
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
pub fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

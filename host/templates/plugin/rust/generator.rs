//! {{name}}: a Blink generator. It asks the model for each file of its steps, one at a time, as a
//! fenced code block; change the prompt, the order or the checks to make it yours.

// `generate!` brings into scope: `Guest`, `export!`, and the world's `use`d types at the crate
// root (`GenerateRequest`, `ProjectFile`, `AgentError`); the rest are under `blink::agents::…`.
wit_bindgen::generate!({ path: "wit", world: "generator", generate_all });

use blink::agents::config;
use blink::agents::llm::{self, CompletionRequest};
use blink::agents::types::{ChatMessage, ChatRole, RuntimeTarget, StepAction};

const SYSTEM: &str = "You are an expert React engineer writing production-quality files for a web app. \
Write complete files, never fragments. Style with Tailwind CSS classes.";

struct Agent;

impl Guest for Agent {
    fn generate(request: GenerateRequest) -> Result<Vec<ProjectFile>, AgentError> {
        let system = format!("{SYSTEM}\n\n{}", target_rules(request.target));
        let mut plan = String::new();
        for step in &request.plan.steps {
            plan.push_str(&format!("- {} ({}): {}\n", step.path, step.target, step.description));
        }
        let mut files = Vec::new();
        for step in request.steps.iter().filter(|s| s.action != StepAction::Delete) {
            let action = if step.action == StepAction::Create { "create" } else { "modify" };
            let task = format!(
                "The user asked: {}\n\nPlan ({}): every file being written in this change:\n{plan}\nYour part:\n\
                 - {action} {}: {}\n\nAnswer with the complete content of {} in a single fenced code block and \
                 nothing else.",
                last_request(&request.messages),
                request.plan.intent,
                step.path,
                step.description,
                step.path,
            );
            let answer = ask(vec![message(ChatRole::System, system.clone()), message(ChatRole::User, task)], false)?;
            let content = code_block(&answer);
            if content.trim().is_empty() {
                return Err(AgentError::BadModelOutput(format!("the model wrote nothing for {}", step.path)));
            }
            files.push(ProjectFile { path: step.path.clone(), content });
        }
        Ok(files)
    }
}

export!(Agent);
{{common}}{{files}}

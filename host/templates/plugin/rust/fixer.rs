//! {{name}}: a Blink fixer. For each file a validator rejected, it shows the model the problems
//! and the file and takes back the corrected file; files it did not change are left out.

// `generate!` brings into scope: `Guest`, `export!`, and the world's `use`d types at the crate
// root (`FixRequest`, `ProjectFile`, `AgentError`); the rest are under `blink::agents::…`.
wit_bindgen::generate!({ path: "wit", world: "fixer", generate_all });

use blink::agents::config;
use blink::agents::llm::{self, CompletionRequest};
use blink::agents::types::{ChatMessage, ChatRole, RuntimeTarget};

const SYSTEM: &str = "You are an expert React engineer repairing files that a validator rejected. Fix every \
listed problem with the smallest change and return the complete file.";

struct Agent;

impl Guest for Agent {
    fn fix(request: FixRequest) -> Result<Vec<ProjectFile>, AgentError> {
        let system = format!("{SYSTEM}\n\n{}", target_rules(request.target));
        let mut fixed = Vec::new();
        for file in &request.files {
            let problems: Vec<String> = request
                .diagnostics
                .iter()
                .filter(|d| d.file == file.path)
                .map(|d| match d.line {
                    Some(line) => format!("- {} line {line}: {}", file.path, d.message),
                    None => format!("- {}: {}", file.path, d.message),
                })
                .collect();
            if problems.is_empty() {
                continue;
            }
            let task = format!(
                "The user asked: {}\n\nProblems to fix:\n{}\n\nFiles to correct:\n--- {}\n{}\n\nAnswer with the \
                 complete content of {} in a single fenced code block and nothing else.",
                last_request(&request.messages),
                problems.join("\n"),
                file.path,
                file.content.trim_end(),
                file.path,
            );
            let answer = ask(vec![message(ChatRole::System, system.clone()), message(ChatRole::User, task)], false)?;
            let content = code_block(&answer);
            if content != file.content && !content.trim().is_empty() {
                fixed.push(ProjectFile { path: file.path.clone(), content });
            }
        }
        Ok(fixed)
    }
}

export!(Agent);
{{common}}{{files}}

//! Asking a model for whole files and reading them back.
//!
//! One file comes back as a fenced code block, which models write most reliably; several files come
//! back as a JSON object, which keeps the paths unambiguous.

use serde::Deserialize;

use crate::json;
use crate::llm::{AgentError, CompletionRequest, Host, LogLevel};
use crate::prompts;
use crate::types::{ChatMessage, ProjectFile};

#[derive(Deserialize)]
struct FilesAnswer {
    #[serde(default)]
    files: Vec<ProjectFile>,
}

/// Asks for the complete contents of `paths` and returns exactly those files, in that order.
pub fn write_files(
    host: &impl Host,
    system: String,
    task: String,
    paths: &[String],
    temperature: f32,
) -> Result<Vec<ProjectFile>, AgentError> {
    let single = paths.len() == 1;
    let format = if single {
        format!("Answer with the complete content of {} in a single fenced code block and nothing else.", paths[0])
    } else {
        format!(
            "Answer with ONE JSON object and nothing else: {{\"files\": [{{\"path\": \"...\", \"content\": \"...\"}}]}} \
with exactly these paths: {}.",
            paths.join(", ")
        )
    };
    let mut messages = vec![ChatMessage::system(system), ChatMessage::user(format!("{task}\n\n{format}"))];
    let request = |messages: Vec<ChatMessage>| CompletionRequest {
        temperature: Some(temperature),
        max_tokens: Some(host.config_u32("max_tokens").unwrap_or(crate::defaults::FILES_MAX_TOKENS)),
        json_mode: !single,
        model: host.config("model"),
        ..CompletionRequest::new(messages)
    };
    let answer = host.complete(request(messages.clone()))?;
    if answer.truncated {
        return Err(AgentError::BadModelOutput(format!(
            "the model stopped at its token limit while writing {}; raise the agent's `max_tokens`",
            paths.join(", ")
        )));
    }
    if single {
        let content = json::code_block(&answer.content);
        if content.trim().is_empty() {
            return Err(AgentError::BadModelOutput(format!("the model returned no content for {}", paths[0])));
        }
        return Ok(vec![ProjectFile::new(paths[0].clone(), content)]);
    }
    let parsed = match json::extract::<FilesAnswer>(&answer.content) {
        Ok(parsed) => parsed,
        Err(first) => {
            host.log(LogLevel::Warn, &format!("files answer was not valid JSON ({first}); asking for a repair"));
            messages.push(ChatMessage::assistant(answer.content));
            messages.push(ChatMessage::user(format!("{} ({first})", prompts::JSON_REPAIR)));
            let again = host.complete(request(messages))?;
            json::extract::<FilesAnswer>(&again.content).map_err(|e| {
                AgentError::BadModelOutput(format!("the files are not valid JSON, even after a repair attempt: {e}"))
            })?
        }
    };
    let mut out = Vec::with_capacity(paths.len());
    for path in paths {
        let found = parsed.files.iter().find(|f| same_path(&f.path, path));
        match found {
            Some(f) if !f.content.trim().is_empty() => {
                out.push(ProjectFile::new(path.clone(), with_final_newline(&f.content)))
            }
            _ => return Err(AgentError::BadModelOutput(format!("the model did not return {path}"))),
        }
    }
    Ok(out)
}

fn same_path(a: &str, b: &str) -> bool {
    let clean = |p: &str| p.trim().trim_start_matches("./").trim_start_matches('/').to_string();
    clean(a) == clean(b)
}

fn with_final_newline(s: &str) -> String {
    let mut s = s.trim_end().to_string();
    s.push('\n');
    s
}

/// Renders files for a prompt, within a character budget; files beyond it are named but omitted.
pub fn render(files: &[ProjectFile], budget: usize) -> String {
    let mut out = String::new();
    let mut left = budget;
    for f in files {
        if f.content.len() > left {
            out.push_str(&format!("--- {} (omitted: too long)\n", f.path));
            continue;
        }
        left -= f.content.len();
        out.push_str(&format!("--- {}\n{}\n", f.path, f.content.trim_end()));
    }
    out
}


/// A message of the chat the model reads.
fn message(role: ChatRole, content: impl Into<String>) -> ChatMessage {
    ChatMessage { role, content: content.into() }
}

/// One completion, with the host's model unless the operator set `model` for this role.
fn ask(messages: Vec<ChatMessage>, json_mode: bool) -> Result<String, AgentError> {
    let request = CompletionRequest {
        messages,
        temperature: Some(0.2),
        max_tokens: Some(8_000),
        json_mode,
        model: config::get("model"),
        stream_to: None,
    };
    let completion = llm::complete(&request).map_err(AgentError::Llm)?;
    if completion.truncated {
        return Err(AgentError::BadModelOutput("the model stopped at its token limit".into()));
    }
    Ok(completion.content)
}

/// How files must be written for the target the run is for.
fn target_rules(target: RuntimeTarget) -> &'static str {
    match target {
        RuntimeTarget::Browser => {
            "Runtime: the browser preview. There is no bundler: never write `import` or `export`; share a \
             component by ending its file with `window.Name = Name;`, use React as the global `React`, write \
             plain JavaScript with JSX, and end App.tsx with \
             `ReactDOM.createRoot(document.getElementById('root')).render(<App />);`."
        }
        RuntimeTarget::Vite => {
            "Runtime: a Vite + React + TypeScript project. Import what you use, default-export each \
             component, and import project files by relative path without extension."
        }
    }
}

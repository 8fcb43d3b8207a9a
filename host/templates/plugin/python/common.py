

def message(role: ChatRole, content: str) -> ChatMessage:
    return ChatMessage(role=role, content=content)


def ask(messages: list[ChatMessage], json_mode: bool) -> str:
    """One completion, with the host's model unless the operator set `model` for this role."""
    request = llm.CompletionRequest(messages=messages, temperature=0.2, max_tokens=8000, json_mode=json_mode,
                                    model=config.get("model"), stream_to=None)
    try:
        completion = llm.complete(request)
    except Err as e:
        raise Err(AgentError_Llm(e.value))
    if completion.truncated:
        raise Err(AgentError_BadModelOutput("the model stopped at its token limit"))
    return completion.content


def code_block(answer: str) -> str:
    """The code inside the first fenced block of `answer`, or all of it without one."""
    start = answer.find("```")
    if start < 0:
        return answer.strip() + "\n"
    body = answer[start + 3:].split("\n", 1)
    body = body[1] if len(body) > 1 else ""
    end = body.find("```")
    return (body if end < 0 else body[:end]).rstrip() + "\n"


def target_rules(target: RuntimeTarget) -> str:
    """How files must be written for the target the run is for."""
    if target == RuntimeTarget.BROWSER:
        return ("Runtime: the browser preview. There is no bundler: never write `import` or `export`; share a "
                "component by ending its file with `window.Name = Name;`, use React as the global `React`, write "
                "plain JavaScript with JSX, and end App.tsx with "
                "`ReactDOM.createRoot(document.getElementById('root')).render(<App />);`.")
    return ("Runtime: a Vite + React + TypeScript project. Import what you use, default-export each component, "
            "and import project files by relative path without extension.")


def last_request(messages: list[ChatMessage]) -> str:
    """The user's last message."""
    for m in reversed(messages):
        if m.role == ChatRole.USER:
            return m.content
    return ""

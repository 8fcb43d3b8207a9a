
/// The code inside the first fenced block of `answer`, or all of it without one.
fn code_block(answer: &str) -> String {
    let Some(start) = answer.find("```") else { return answer.trim().to_string() + "\n" };
    let body = answer[start + 3..].split_once('\n').map_or("", |(_, rest)| rest);
    let end = body.find("```").unwrap_or(body.len());
    body[..end].trim_end().to_string() + "\n"
}

/// The user's last message.
fn last_request(messages: &[ChatMessage]) -> &str {
    messages.iter().rev().find(|m| m.role == ChatRole::User).map_or("", |m| m.content.as_str())
}

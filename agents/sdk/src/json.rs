//! Getting one JSON value out of what a model actually writes.
//!
//! Models wrap JSON in code fences, put prose around it, leave trailing commas, use typographic
//! quotes or stop before the last brace. `extract` finds the value and applies the repairs that are
//! safe to make without guessing; anything worse is left to one model repair round by the caller.

use serde::de::DeserializeOwned;

/// Parses the first JSON object in `text` into `T`, after local repairs.
pub fn extract<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    let candidate = candidate(text).ok_or_else(|| "no JSON object in the answer".to_string())?;
    match serde_json::from_str(candidate) {
        Ok(v) => Ok(v),
        Err(first) => {
            let repaired = repair(candidate);
            serde_json::from_str(&repaired).map_err(|_| format!("invalid JSON: {first}"))
        }
    }
}

/// The most likely JSON object in a model answer: the body of a ```json fence if there is one,
/// else the span from the first `{` to its matching `}` (or to the end when the model stopped early).
fn candidate(text: &str) -> Option<&str> {
    let text = fenced(text).unwrap_or(text);
    let start = text.find('{')?;
    let body = &text[start..];
    let end = matching_brace(body).map(|i| i + 1).unwrap_or(body.len());
    Some(&body[..end])
}

fn fenced(text: &str) -> Option<&str> {
    let open = text.find("```")?;
    let after = &text[open + 3..];
    // Skip the info string (`json`, `JSON`, nothing).
    let body_start = after.find('\n')? + 1;
    let body = &after[body_start..];
    let close = body.find("```").unwrap_or(body.len());
    let inner = &body[..close];
    inner.contains('{').then_some(inner)
}

/// Byte index of the brace closing the object that starts at `s[0]`, skipping strings.
fn matching_brace(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '{' | '[' => depth += 1,
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// Repairs that never change the meaning of valid JSON: typographic quotes outside strings,
/// trailing commas, raw newlines inside strings, and closing brackets a truncated answer lacks.
fn repair(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    let mut stack: Vec<char> = Vec::new();
    let mut in_string = false;
    let mut typographic = false;
    let mut escaped = false;
    for c in s.chars() {
        if in_string {
            match c {
                _ if escaped => {
                    escaped = false;
                    out.push(c);
                }
                '\\' => {
                    escaped = true;
                    out.push(c);
                }
                '"' => {
                    in_string = false;
                    out.push(c);
                }
                // A string opened with a typographic quote closes with one; a literal `"`
                // inside it must then be escaped.
                '\u{201d}' if typographic => {
                    in_string = false;
                    out.push('"');
                }
                '\n' => out.push_str("\\n"),
                '\r' => {}
                '\t' => out.push_str("\\t"),
                _ => out.push(c),
            }
            continue;
        }
        match c {
            '"' | '\u{201c}' | '\u{201d}' => {
                in_string = true;
                typographic = c != '"';
                out.push('"');
            }
            '{' => {
                stack.push('}');
                out.push(c);
            }
            '[' => {
                stack.push(']');
                out.push(c);
            }
            '}' | ']' => {
                trim_trailing_comma(&mut out);
                stack.pop();
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    if in_string {
        out.push('"');
    }
    trim_trailing_comma(&mut out);
    while let Some(close) = stack.pop() {
        out.push(close);
    }
    out
}

fn trim_trailing_comma(out: &mut String) {
    let trimmed = out.trim_end().len();
    if out[..trimmed].ends_with(',') {
        out.truncate(trimmed - 1);
    }
}

/// The body of the first fenced code block, or the whole text when there is none: how a model
/// usually returns a single file.
pub fn code_block(text: &str) -> String {
    let Some(open) = text.find("```") else {
        return text.trim().to_string() + "\n";
    };
    let after = &text[open + 3..];
    let Some(nl) = after.find('\n') else {
        return text.trim().to_string() + "\n";
    };
    let body = &after[nl + 1..];
    let close = body.rfind("```").unwrap_or(body.len());
    let mut code = body[..close].trim_end().to_string();
    code.push('\n');
    code
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn ok(text: &str) -> Value {
        extract::<Value>(text).unwrap_or_else(|e| panic!("{e}: {text}"))
    }

    #[test]
    fn plain_fenced_and_prose_wrapped() {
        assert_eq!(ok(r#"{"a":1}"#)["a"], 1);
        assert_eq!(ok("Here is the plan:\n```json\n{\"a\": [1, 2]}\n```\nHope it helps!")["a"][1], 2);
        assert_eq!(ok("Sure! {\"a\": \"}\"} and more {text}")["a"], "}");
    }

    #[test]
    fn repairs_trailing_commas_quotes_newlines_and_truncation() {
        assert_eq!(ok("{\"a\": [1, 2,], }")["a"][1], 2);
        assert_eq!(ok("{\u{201c}a\u{201d}: 3}")["a"], 3);
        assert_eq!(ok("{\"a\": \"line1\nline2\"}")["a"], "line1\nline2");
        assert_eq!(ok("{\"a\": {\"b\": [1, 2")["a"]["b"][1], 2);
    }

    #[test]
    fn rejects_what_cannot_be_repaired() {
        assert!(extract::<Value>("no json here").is_err());
        assert!(extract::<Value>("{a: 1 ++ }").is_err());
    }

    #[test]
    fn code_blocks() {
        assert_eq!(code_block("```tsx\nconst a = 1;\n```"), "const a = 1;\n");
        assert_eq!(code_block("Here:\n```\nx\n```\nDone."), "x\n");
        assert_eq!(code_block("const b = 2;"), "const b = 2;\n");
    }
}

//! Recognises hard-coded credentials in the values of string literals.
//!
//! Everything here works on bytes of ASCII patterns, so no index can fall inside a UTF-8 character.

/// How bad a credential found in client code is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exposure {
    /// A private credential: anyone who opens the page can use it.
    Leak,
    /// A token of unknown purpose; risky but possibly meant to be public.
    Token,
    /// A key designed to ship to browsers (Supabase `anon`), still better kept in configuration.
    PublicKey,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Credential {
    pub exposure: Exposure,
    /// Names the kind of credential in a message, never its value.
    pub label: &'static str,
}

const fn leak(label: &'static str) -> Credential {
    Credential { exposure: Exposure::Leak, label }
}

/// The credential whose shape `value` contains, if any.
pub fn classify(value: &str) -> Option<Credential> {
    let bytes = value.as_bytes();
    let key_char = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
    let alnum = |b: u8| b.is_ascii_alphanumeric();
    let upper_alnum = |b: u8| b.is_ascii_uppercase() || b.is_ascii_digit();

    if contains(bytes, b"-----BEGIN") && contains(bytes, b"PRIVATE KEY-----") {
        return Some(leak("a private key"));
    }
    for prefix in [&b"sk_live_"[..], b"rk_live_"] {
        if prefixed_run(bytes, prefix, alnum, 10, false) {
            return Some(leak("a Stripe live secret key"));
        }
    }
    // Requiring a digit keeps CSS class names like `sk-long-descriptive-class-name` out.
    if prefixed_run(bytes, b"sk-", key_char, 20, true) {
        return Some(leak("a secret API key (sk-…)"));
    }
    for prefix in [&b"AKIA"[..], b"ASIA"] {
        if prefixed_run(bytes, prefix, upper_alnum, 16, false) {
            return Some(leak("an AWS access key"));
        }
    }
    for prefix in [&b"ghp_"[..], b"gho_", b"ghu_", b"ghs_", b"ghr_"] {
        if prefixed_run(bytes, prefix, alnum, 20, false) {
            return Some(leak("a GitHub token"));
        }
    }
    if prefixed_run(bytes, b"github_pat_", |b| alnum(b) || b == b'_', 20, false) {
        return Some(leak("a GitHub token"));
    }
    for kind in [b'b', b'a', b'p', b'r', b's'] {
        let prefix = [b'x', b'o', b'x', kind, b'-'];
        if prefixed_run(bytes, &prefix, |b| alnum(b) || b == b'-', 10, false) {
            return Some(leak("a Slack token"));
        }
    }
    jwt(bytes)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|window| window == needle)
}

/// `prefix` at a word start, followed by at least `min_len` bytes accepted by `allowed`.
fn prefixed_run(bytes: &[u8], prefix: &[u8], allowed: impl Fn(u8) -> bool, min_len: usize, needs_digit: bool) -> bool {
    let mut start = 0;
    while let Some(offset) = find_from(bytes, prefix, start) {
        let at_word_start = offset == 0 || bytes.get(offset - 1).is_none_or(|b| !b.is_ascii_alphanumeric());
        let rest = bytes.get(offset + prefix.len()..).unwrap_or_default();
        let run: Vec<u8> = rest.iter().copied().take_while(|&b| allowed(b)).collect();
        if at_word_start && run.len() >= min_len && (!needs_digit || run.iter().any(u8::is_ascii_digit)) {
            return true;
        }
        start = offset + 1;
    }
    false
}

fn find_from(bytes: &[u8], needle: &[u8], start: usize) -> Option<usize> {
    let tail = bytes.get(start..)?;
    if needle.is_empty() || tail.len() < needle.len() {
        return None;
    }
    tail.windows(needle.len()).position(|window| window == needle).map(|index| index + start)
}

/// `eyJ…` in three base64url parts: a JSON Web Token. Supabase's `anon` key is public by design, a
/// `service_role` key bypasses every access rule.
fn jwt(bytes: &[u8]) -> Option<Credential> {
    let base64url = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'=';
    let mut start = 0;
    while let Some(offset) = find_from(bytes, b"eyJ", start) {
        let token: Vec<u8> = bytes
            .get(offset..)
            .unwrap_or_default()
            .iter()
            .copied()
            .take_while(|&b| base64url(b) || b == b'.')
            .collect();
        let parts: Vec<&[u8]> = token.split(|&b| b == b'.').collect();
        let well_formed = parts.len() == 3 && parts.iter().take(2).all(|part| !part.is_empty());
        if well_formed && token.len() > 40 {
            let payload = parts.get(1).and_then(|part| decode_base64url(part)).unwrap_or_default();
            return Some(if contains(&payload, b"service_role") {
                leak("a Supabase service_role key")
            } else if contains(&payload, b"\"anon\"") {
                Credential { exposure: Exposure::PublicKey, label: "a public anon key (JWT)" }
            } else {
                Credential { exposure: Exposure::Token, label: "a JSON Web Token" }
            });
        }
        start = offset + 1;
    }
    None
}

fn decode_base64url(input: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len() * 3 / 4);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &byte in input {
        let value = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            b'=' => break,
            _ => return None,
        };
        buffer = ((buffer << 6) | u32::from(value)) & 0x00ff_ffff;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((buffer >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

/// Identifiers and keys that usually hold a credential (`apiKey`, `API_KEY`, `clientSecret`,
/// `password`, `authToken`, `privateKey`), minus the ones that usually hold UI text or storage
/// names (`passwordLabel`, `TOKEN_STORAGE_KEY`). Matching whole words keeps `tokenizer` out.
pub fn is_secret_name(name: &str) -> bool {
    const SECRET_WORDS: &[&str] = &[
        "token",
        "tokens",
        "password",
        "passwd",
        "pwd",
        "secret",
        "secrets",
        "apikey",
        "privatekey",
        "accesskey",
        "authkey",
        "credential",
        "credentials",
    ];
    const SECRET_PAIRS: &[(&str, &str)] =
        &[("api", "key"), ("private", "key"), ("access", "key"), ("auth", "key"), ("service", "key")];
    const BENIGN_WORDS: &[&str] = &[
        "placeholder",
        "label",
        "hint",
        "message",
        "msg",
        "text",
        "title",
        "url",
        "uri",
        "endpoint",
        "storage",
        "header",
        "field",
        "name",
        "type",
        "length",
        "count",
        "expiry",
        "expires",
        "error",
        "prompt",
        "input",
        "visible",
        "show",
        "regex",
        "pattern",
        "route",
        "path",
        "confirm",
        "reset",
        "forgot",
        "limit",
    ];
    let words = words(name);
    let secret = words.iter().any(|word| SECRET_WORDS.contains(&word.as_str()))
        || words.windows(2).any(|pair| SECRET_PAIRS.iter().any(|(a, b)| pair[0] == *a && pair[1] == *b));
    secret && !words.iter().any(|word| BENIGN_WORDS.contains(&word.as_str()))
}

/// `apiKey`, `API_KEY`, `APIKey` and `api-key` all become `["api", "key"]`.
fn words(name: &str) -> Vec<String> {
    let mut words = Vec::new();
    for segment in name.split(|c: char| !c.is_ascii_alphanumeric()) {
        let chars: Vec<char> = segment.chars().collect();
        let mut word = String::new();
        for (index, &c) in chars.iter().enumerate() {
            let previous = index.checked_sub(1).and_then(|i| chars.get(i));
            let next = chars.get(index + 1);
            let starts_word = c.is_ascii_uppercase()
                && previous.is_some_and(|p| {
                    p.is_ascii_lowercase()
                        || p.is_ascii_digit()
                        || (p.is_ascii_uppercase() && next.is_some_and(char::is_ascii_lowercase))
                });
            if starts_word && !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            word.push(c.to_ascii_lowercase());
        }
        if !word.is_empty() {
            words.push(word);
        }
    }
    words
}

/// A value that could be a real credential: no spaces, letters and digits mixed, not a
/// placeholder the model left for the user to fill in.
pub fn looks_like_credential(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    const PLACEHOLDERS: &[&str] =
        &["your", "xxxx", "example", "placeholder", "changeme", "replace", "dummy", "<", "{", "..."];
    value.chars().count() >= 16
        && !value.chars().any(char::is_whitespace)
        && value.bytes().any(|b| b.is_ascii_alphabetic())
        && value.bytes().any(|b| b.is_ascii_digit())
        && !lower.starts_with("http://")
        && !lower.starts_with("https://")
        && !lower.starts_with('/')
        && !PLACEHOLDERS.iter().any(|word| lower.contains(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exposure(value: &str) -> Option<Exposure> {
        classify(value).map(|credential| credential.exposure)
    }

    #[test]
    fn finds_vendor_keys() {
        assert_eq!(exposure("sk-proj-A1b2C3d4E5f6G7h8I9j0K1l2"), Some(Exposure::Leak));
        assert_eq!(exposure("AKIAIOSFODNN7EXAMPLE"), Some(Exposure::Leak));
        assert_eq!(exposure("ghp_abcdefghijklmnopqrstuvwxyz0123456789"), Some(Exposure::Leak));
        assert_eq!(exposure("xoxb-1234567890-abcdef"), Some(Exposure::Leak));
        assert_eq!(exposure("-----BEGIN RSA PRIVATE KEY-----\nMIIE"), Some(Exposure::Leak));
        assert_eq!(exposure("task-list-item-container-wrapper-2"), None);
        assert_eq!(exposure("sk-long-descriptive-class-name-here"), None);
        assert_eq!(exposure("héllo wörld ✓ eyJ"), None);
    }

    #[test]
    fn grades_jwts_by_role() {
        // {"alg":"HS256","typ":"JWT"} . {"role":"anon"} / {"role":"service_role"}
        let header = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";
        let anon = format!("{header}.eyJyb2xlIjoiYW5vbiJ9.c2lnbmF0dXJlc2lnbmF0dXJl");
        let service = format!("{header}.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.c2lnbmF0dXJlc2lnbmF0dXJl");
        let other = format!("{header}.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJlc2lnbmF0dXJl");
        assert_eq!(exposure(&anon), Some(Exposure::PublicKey));
        assert_eq!(exposure(&service), Some(Exposure::Leak));
        assert_eq!(exposure(&other), Some(Exposure::Token));
    }

    #[test]
    fn judges_names_and_values() {
        assert!(is_secret_name("apiKey"));
        assert!(is_secret_name("STRIPE_SECRET_KEY"));
        assert!(is_secret_name("password"));
        assert!(!is_secret_name("passwordLabel"));
        assert!(!is_secret_name("TOKEN_STORAGE_KEY"));
        assert!(!is_secret_name("tokenizerModel"));
        assert!(is_secret_name("APIKey"));
        assert!(is_secret_name("githubToken"));
        assert_eq!(words("myAPIKey_v2"), vec!["my", "api", "key", "v2"]);
        assert!(looks_like_credential("Sup3rS3cretP4ssw0rd"));
        assert!(!looks_like_credential("Enter your password here"));
        assert!(!looks_like_credential("your-api-key-here-123"));
        assert!(!looks_like_credential("short1"));
    }
}

//! {{name}}: a Blink validator. It reports `debugger` statements as errors (the fixer then
//! removes them) and `alert(` calls as warnings; replace the checks with your own.

// `generate!` brings into scope: `Guest` (the trait to implement), `export!`, and the world's
// `use`d types at the crate root (`ValidateRequest`, `ValidationReport`, `AgentError`); the rest
// are under `blink::agents::…`. Importing one of the root names again fails with E0255.
wit_bindgen::generate!({ path: "wit", world: "validator", generate_all });

use blink::agents::types::{Diagnostic, DiagnosticKind, Severity};

struct Agent;

impl Guest for Agent {
    fn validate(request: ValidateRequest) -> Result<ValidationReport, AgentError> {
        let mut errors = Vec::new();
        let mut warnings = Vec::new();
        for file in &request.files {
            for (index, line) in file.content.lines().enumerate() {
                let at = |message: &str, severity| Diagnostic {
                    kind: DiagnosticKind::Runtime,
                    file: file.path.clone(),
                    line: Some(index as u32 + 1),
                    message: message.to_string(),
                    severity,
                };
                if line.trim_start().starts_with("debugger") {
                    errors.push(at("remove this `debugger` statement: it stops the page in DevTools", Severity::Major));
                }
                if line.contains("alert(") {
                    warnings.push(at("`alert(` blocks the page; show the message in the page instead", Severity::Minor));
                }
            }
        }
        let penalty = errors.len() * 20 + warnings.len() * 5;
        let confidence_score = 100u8.saturating_sub(penalty.min(100) as u8);
        Ok(ValidationReport { errors, warnings, confidence_score })
    }
}

export!(Agent);

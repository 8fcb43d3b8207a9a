//! A validator that misbehaves in the way its `mode` setting names, so tests can prove that the
//! host survives each kind of hostile plugin: `loop`, `memory`, `output`, `trap`, `sleep-in-host`
//! (many model calls), or a well-behaved answer for anything else.

// The canonical ABI lowers each record field to its own argument in wit-bindgen's generated code.
#![allow(clippy::too_many_arguments)]

wit_bindgen::generate!({
    path: "../../../wit/since_v0.1.0",
    world: "validator",
    generate_all,
});

use blink::agents::{config, types};

struct Hostile;

impl Guest for Hostile {
    fn validate(request: types::ValidateRequest) -> Result<types::ValidationReport, types::AgentError> {
        match config::get("mode").as_deref() {
            Some("loop") => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            Some("memory") => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            Some("output") => {
                let message = "x".repeat(1 << 20);
                let errors = (0..16)
                    .map(|i| types::Diagnostic {
                        kind: types::DiagnosticKind::Syntax,
                        file: format!("F{i}.tsx"),
                        line: None,
                        message: message.clone(),
                        severity: types::Severity::Minor,
                    })
                    .collect();
                Ok(types::ValidationReport { errors, warnings: Vec::new(), confidence_score: 0 })
            }
            Some("trap") => panic!("hostile validator panics on purpose"),
            _ => Ok(types::ValidationReport {
                errors: Vec::new(),
                warnings: Vec::new(),
                confidence_score: u8::try_from(request.files.len().min(100)).unwrap_or(100),
            }),
        }
    }
}

export!(Hostile);

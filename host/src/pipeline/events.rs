//! The events of an orchestration, serialised exactly as the frontend reads them
//! (`docs/protocol.md` describes each one and their order).

use blink_agent_sdk::{Diagnostic, Plan, ProjectFile, RiskLevel};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Phase {
    Planning,
    Generating,
    Validating,
    Fixing,
    Complete,
    Error,
}

/// One SSE `data:` line of a run; `type` says which.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum Event {
    Phase {
        phase: Phase,
        message: String,
    },
    ThinkingDelta {
        delta: String,
    },
    IntentClassified {
        intent: String,
        conversational: bool,
        #[schema(value_type = String)]
        risk_level: RiskLevel,
        steps_count: usize,
        reasoning: String,
    },
    Plan {
        #[schema(value_type = Object)]
        plan: Plan,
    },
    FileRead {
        path: String,
    },
    ConvStart,
    ConvDelta {
        delta: String,
    },
    FileGenerated {
        path: String,
        #[serde(rename = "linesCount")]
        lines_count: usize,
    },
    Validation {
        #[schema(value_type = Vec<Object>)]
        errors: Vec<Diagnostic>,
        #[schema(value_type = Vec<Object>)]
        warnings: Vec<Diagnostic>,
        confidence_score: u8,
        #[serde(rename = "fixerExhausted", skip_serializing_if = "std::ops::Not::not")]
        fixer_exhausted: bool,
    },
    /// Machine-readable failure, between the error phase and the error result.
    Error {
        code: ErrorCode,
        message: String,
    },
    Result {
        conversational: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        intent: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        reply: Option<String>,
        #[schema(value_type = Vec<Object>)]
        files: Vec<ProjectFile>,
        #[serde(rename = "deletedFiles")]
        deleted_files: Vec<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        #[schema(value_type = Option<Vec<Object>>)]
        warnings: Option<Vec<Diagnostic>>,
    },
}

/// Stable codes of in-stream failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ErrorCode {
    InsufficientCredits,
    LlmUnavailable,
    RateLimited,
    BudgetExceeded,
    AgentFailed,
    Cancelled,
    /// The host's database (credits) could not be reached.
    DatabaseUnavailable,
}

impl Event {
    pub(crate) fn phase(phase: Phase, message: impl Into<String>) -> Self {
        Self::Phase { phase, message: message.into() }
    }

    /// The failure sequence the frontend understands, plus the machine-readable event.
    pub(crate) fn failure(code: ErrorCode, message: &str) -> [Self; 3] {
        [
            Self::phase(Phase::Error, message),
            Self::Error { code, message: message.to_string() },
            Self::Result {
                conversational: true,
                intent: None,
                reply: Some(format!("⚠️ Erreur: {message}")),
                files: Vec::new(),
                deleted_files: Vec::new(),
                warnings: None,
            },
        ]
    }
}

/// The seed's exact phase texts.
pub(crate) const PLANNING: &str = "🧠 Analyse…";
pub(crate) const GENERATING: &str = "⚡ Génération…";
pub(crate) const VALIDATING: &str = "Validating generated code…";
pub(crate) const COMPLETE: &str = "✅ Code prêt !";

pub(crate) fn fixing(round: u32, rounds: u32, errors: usize) -> String {
    format!("Auto-fixing pass {round}/{rounds} — {errors} error(s)…")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_match_the_protocol() {
        let json = |e: &Event| serde_json::to_string(e).unwrap();
        assert_eq!(json(&Event::ConvStart), r#"{"type":"conv_start"}"#);
        assert_eq!(
            json(&Event::FileGenerated { path: "A.tsx".into(), lines_count: 3 }),
            r#"{"type":"file_generated","path":"A.tsx","linesCount":3}"#
        );
        assert_eq!(
            json(&Event::phase(Phase::Planning, PLANNING)),
            r#"{"type":"phase","phase":"planning","message":"🧠 Analyse…"}"#
        );
        let [phase, error, result] = Event::failure(ErrorCode::LlmUnavailable, "down");
        assert_eq!(json(&phase), r#"{"type":"phase","phase":"error","message":"down"}"#);
        assert_eq!(json(&error), r#"{"type":"error","code":"llm_unavailable","message":"down"}"#);
        assert_eq!(
            json(&result),
            r#"{"type":"result","conversational":true,"reply":"⚠️ Erreur: down","files":[],"deletedFiles":[]}"#
        );
    }
}

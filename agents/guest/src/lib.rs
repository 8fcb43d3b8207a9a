//! The guest side of the WIT contract, shared by the four built-in agents.
//!
//! Generates the host imports once (world `agent-host`), implements the SDK's [`Host`] over them,
//! and converts between the generated WIT types and the SDK's own, so each agent crate is only its
//! exports.

use blink_agent_sdk as sdk;
use sdk::Host;

wit_bindgen::generate!({
    path: "../../wit/since_v0.1.0",
    world: "agent-host",
    generate_all,
});

pub use blink::agents::{config, llm, log, types};

include!(concat!(env!("OUT_DIR"), "/agent_world.rs"));

/// The host as seen from inside a component.
pub struct ComponentHost;

impl Host for ComponentHost {
    fn complete(&self, request: sdk::CompletionRequest) -> Result<sdk::Completion, sdk::LlmError> {
        let request = llm::CompletionRequest {
            messages: request.messages.into_iter().map(Into::into).collect(),
            temperature: request.temperature,
            max_tokens: request.max_tokens,
            json_mode: request.json_mode,
            model: request.model,
            stream_to: request.stream_to.map(|c| match c {
                sdk::StreamChannel::Thinking => llm::StreamChannel::Thinking,
                sdk::StreamChannel::Conversation => llm::StreamChannel::Conversation,
            }),
        };
        llm::complete(&request)
            .map(|c| sdk::Completion {
                content: c.content,
                model: c.model,
                usage: sdk::Usage {
                    prompt_tokens: c.usage.prompt_tokens,
                    completion_tokens: c.usage.completion_tokens,
                },
                truncated: c.truncated,
            })
            .map_err(Into::into)
    }

    fn config(&self, key: &str) -> Option<String> {
        config::get(key)
    }

    fn log(&self, level: sdk::LogLevel, message: &str) {
        let level = match level {
            sdk::LogLevel::Debug => log::Level::Debug,
            sdk::LogLevel::Info => log::Level::Info,
            sdk::LogLevel::Warn => log::Level::Warn,
            sdk::LogLevel::Error => log::Level::Error,
        };
        log::log(level, message);
    }
}

impl From<types::ChatMessage> for sdk::ChatMessage {
    fn from(m: types::ChatMessage) -> Self {
        let role = match m.role {
            types::ChatRole::System => sdk::ChatRole::System,
            types::ChatRole::User => sdk::ChatRole::User,
            types::ChatRole::Assistant => sdk::ChatRole::Assistant,
        };
        Self { role, content: m.content }
    }
}

impl From<sdk::ChatMessage> for types::ChatMessage {
    fn from(m: sdk::ChatMessage) -> Self {
        let role = match m.role {
            sdk::ChatRole::System => types::ChatRole::System,
            sdk::ChatRole::User => types::ChatRole::User,
            sdk::ChatRole::Assistant => types::ChatRole::Assistant,
        };
        Self { role, content: m.content }
    }
}

impl From<types::LlmError> for sdk::LlmError {
    fn from(e: types::LlmError) -> Self {
        use types::LlmError as W;
        match e {
            W::Unavailable(m) => Self::Unavailable(m),
            W::RateLimited(m) => Self::RateLimited(m),
            W::InsufficientCredits(m) => Self::InsufficientCredits(m),
            W::BudgetExceeded(m) => Self::BudgetExceeded(m),
            W::Rejected(m) => Self::Rejected(m),
            W::Cancelled => Self::Cancelled,
        }
    }
}

impl From<sdk::LlmError> for types::LlmError {
    fn from(e: sdk::LlmError) -> Self {
        use sdk::LlmError as S;
        match e {
            S::Unavailable(m) => Self::Unavailable(m),
            S::RateLimited(m) => Self::RateLimited(m),
            S::InsufficientCredits(m) => Self::InsufficientCredits(m),
            S::BudgetExceeded(m) => Self::BudgetExceeded(m),
            S::Rejected(m) => Self::Rejected(m),
            S::Cancelled => Self::Cancelled,
        }
    }
}

impl From<sdk::AgentError> for types::AgentError {
    fn from(e: sdk::AgentError) -> Self {
        match e {
            sdk::AgentError::Llm(e) => Self::Llm(e.into()),
            sdk::AgentError::BadModelOutput(m) => Self::BadModelOutput(m),
            sdk::AgentError::InvalidRequest(m) => Self::InvalidRequest(m),
            sdk::AgentError::Internal(m) => Self::Internal(m),
        }
    }
}

impl From<types::ProjectFile> for sdk::ProjectFile {
    fn from(f: types::ProjectFile) -> Self {
        Self { path: f.path, content: f.content }
    }
}

impl From<sdk::ProjectFile> for types::ProjectFile {
    fn from(f: sdk::ProjectFile) -> Self {
        Self { path: f.path, content: f.content }
    }
}

pub fn target(t: types::RuntimeTarget) -> sdk::RuntimeTarget {
    match t {
        types::RuntimeTarget::Browser => sdk::RuntimeTarget::Browser,
        types::RuntimeTarget::Vite => sdk::RuntimeTarget::Vite,
    }
}

impl From<types::PlanStep> for sdk::PlanStep {
    fn from(s: types::PlanStep) -> Self {
        Self {
            id: s.id,
            action: match s.action {
                types::StepAction::Create => sdk::StepAction::Create,
                types::StepAction::Modify => sdk::StepAction::Modify,
                types::StepAction::Delete => sdk::StepAction::Delete,
            },
            target: s.target,
            path: s.path,
            description: s.description,
            priority: match s.priority {
                types::StepPriority::Critical => sdk::StepPriority::Critical,
                types::StepPriority::Normal => sdk::StepPriority::Normal,
                types::StepPriority::Optional => sdk::StepPriority::Optional,
            },
        }
    }
}

impl From<sdk::PlanStep> for types::PlanStep {
    fn from(s: sdk::PlanStep) -> Self {
        Self {
            id: s.id,
            action: match s.action {
                sdk::StepAction::Create => types::StepAction::Create,
                sdk::StepAction::Modify => types::StepAction::Modify,
                sdk::StepAction::Delete => types::StepAction::Delete,
            },
            target: s.target,
            path: s.path,
            description: s.description,
            priority: match s.priority {
                sdk::StepPriority::Critical => types::StepPriority::Critical,
                sdk::StepPriority::Normal => types::StepPriority::Normal,
                sdk::StepPriority::Optional => types::StepPriority::Optional,
            },
        }
    }
}

impl From<types::Plan> for sdk::Plan {
    fn from(p: types::Plan) -> Self {
        Self {
            intent: p.intent,
            risk_level: match p.risk_level {
                types::RiskLevel::Low => sdk::RiskLevel::Low,
                types::RiskLevel::Medium => sdk::RiskLevel::Medium,
                types::RiskLevel::High => sdk::RiskLevel::High,
            },
            conversational: p.conversational,
            clarification_needed: p.clarification_needed,
            clarification_question: p.clarification_question,
            reply: p.reply,
            dependencies_needed: p.dependencies_needed,
            reasoning: p.reasoning,
            steps: p.steps.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<sdk::Plan> for types::Plan {
    fn from(p: sdk::Plan) -> Self {
        Self {
            intent: p.intent,
            risk_level: match p.risk_level {
                sdk::RiskLevel::Low => types::RiskLevel::Low,
                sdk::RiskLevel::Medium => types::RiskLevel::Medium,
                sdk::RiskLevel::High => types::RiskLevel::High,
            },
            conversational: p.conversational,
            clarification_needed: p.clarification_needed,
            clarification_question: p.clarification_question,
            reply: p.reply,
            dependencies_needed: p.dependencies_needed,
            reasoning: p.reasoning,
            steps: p.steps.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<types::Diagnostic> for sdk::Diagnostic {
    fn from(d: types::Diagnostic) -> Self {
        Self {
            kind: match d.kind {
                types::DiagnosticKind::Syntax => sdk::DiagnosticKind::Syntax,
                types::DiagnosticKind::Runtime => sdk::DiagnosticKind::Runtime,
                types::DiagnosticKind::Security => sdk::DiagnosticKind::Security,
                types::DiagnosticKind::Import => sdk::DiagnosticKind::Import,
                types::DiagnosticKind::Reference => sdk::DiagnosticKind::Reference,
            },
            file: d.file,
            line: d.line,
            message: d.message,
            severity: match d.severity {
                types::Severity::Critical => sdk::Severity::Critical,
                types::Severity::Major => sdk::Severity::Major,
                types::Severity::Minor => sdk::Severity::Minor,
            },
        }
    }
}

impl From<sdk::Diagnostic> for types::Diagnostic {
    fn from(d: sdk::Diagnostic) -> Self {
        Self {
            kind: match d.kind {
                sdk::DiagnosticKind::Syntax => types::DiagnosticKind::Syntax,
                sdk::DiagnosticKind::Runtime => types::DiagnosticKind::Runtime,
                sdk::DiagnosticKind::Security => types::DiagnosticKind::Security,
                sdk::DiagnosticKind::Import => types::DiagnosticKind::Import,
                sdk::DiagnosticKind::Reference => types::DiagnosticKind::Reference,
            },
            file: d.file,
            line: d.line,
            message: d.message,
            severity: match d.severity {
                sdk::Severity::Critical => types::Severity::Critical,
                sdk::Severity::Major => types::Severity::Major,
                sdk::Severity::Minor => types::Severity::Minor,
            },
        }
    }
}

fn messages(m: Vec<types::ChatMessage>) -> Vec<sdk::ChatMessage> {
    m.into_iter().map(Into::into).collect()
}

fn files(f: Vec<types::ProjectFile>) -> Vec<sdk::ProjectFile> {
    f.into_iter().map(Into::into).collect()
}

impl From<types::PlanRequest> for sdk::PlanRequest {
    fn from(r: types::PlanRequest) -> Self {
        Self {
            messages: messages(r.messages),
            file_tree: r.file_tree,
            project_context: r.project_context,
            files: files(r.files),
            target: target(r.target),
        }
    }
}

impl From<types::GenerateRequest> for sdk::GenerateRequest {
    fn from(r: types::GenerateRequest) -> Self {
        Self {
            messages: messages(r.messages),
            plan: r.plan.into(),
            steps: r.steps.into_iter().map(Into::into).collect(),
            context_files: files(r.context_files),
            project_context: r.project_context,
            target: target(r.target),
        }
    }
}

impl From<types::ValidateRequest> for sdk::ValidateRequest {
    fn from(r: types::ValidateRequest) -> Self {
        Self {
            files: files(r.files),
            changed: r.changed,
            dependencies: r.dependencies,
            known_paths: r.known_paths,
            target: target(r.target),
        }
    }
}

impl From<types::FixRequest> for sdk::FixRequest {
    fn from(r: types::FixRequest) -> Self {
        Self {
            messages: messages(r.messages),
            files: files(r.files),
            diagnostics: r.diagnostics.into_iter().map(Into::into).collect(),
            target: target(r.target),
        }
    }
}

impl From<sdk::ValidationReport> for types::ValidationReport {
    fn from(r: sdk::ValidationReport) -> Self {
        Self {
            errors: r.errors.into_iter().map(Into::into).collect(),
            warnings: r.warnings.into_iter().map(Into::into).collect(),
            confidence_score: r.confidence_score,
        }
    }
}

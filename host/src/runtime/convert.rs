//! Conversions between the generated WIT types and the host's own (the SDK's protocol types), so
//! generated types never travel past the runtime.

use blink_agent_sdk as sdk;

use super::bindings::types as wit;

pub(crate) fn target(t: sdk::RuntimeTarget) -> wit::RuntimeTarget {
    match t {
        sdk::RuntimeTarget::Browser => wit::RuntimeTarget::Browser,
        sdk::RuntimeTarget::Vite => wit::RuntimeTarget::Vite,
    }
}

pub(crate) fn message(m: &sdk::ChatMessage) -> wit::ChatMessage {
    wit::ChatMessage {
        role: match m.role {
            sdk::ChatRole::System => wit::ChatRole::System,
            sdk::ChatRole::User => wit::ChatRole::User,
            sdk::ChatRole::Assistant => wit::ChatRole::Assistant,
        },
        content: m.content.clone(),
    }
}

pub(crate) fn message_from(m: wit::ChatMessage) -> sdk::ChatMessage {
    sdk::ChatMessage {
        role: match m.role {
            wit::ChatRole::System => sdk::ChatRole::System,
            wit::ChatRole::User => sdk::ChatRole::User,
            wit::ChatRole::Assistant => sdk::ChatRole::Assistant,
        },
        content: m.content,
    }
}

fn messages(m: &[sdk::ChatMessage]) -> Vec<wit::ChatMessage> {
    m.iter().map(message).collect()
}

pub(crate) fn file(f: &sdk::ProjectFile) -> wit::ProjectFile {
    wit::ProjectFile { path: f.path.clone(), content: f.content.clone() }
}

fn files(f: &[sdk::ProjectFile]) -> Vec<wit::ProjectFile> {
    f.iter().map(file).collect()
}

pub(crate) fn files_from(f: Vec<wit::ProjectFile>) -> Vec<sdk::ProjectFile> {
    f.into_iter().map(|f| sdk::ProjectFile { path: f.path, content: f.content }).collect()
}

pub(crate) fn step(s: &sdk::PlanStep) -> wit::PlanStep {
    wit::PlanStep {
        id: s.id,
        action: match s.action {
            sdk::StepAction::Create => wit::StepAction::Create,
            sdk::StepAction::Modify => wit::StepAction::Modify,
            sdk::StepAction::Delete => wit::StepAction::Delete,
        },
        target: s.target.clone(),
        path: s.path.clone(),
        description: s.description.clone(),
        priority: match s.priority {
            sdk::StepPriority::Critical => wit::StepPriority::Critical,
            sdk::StepPriority::Normal => wit::StepPriority::Normal,
            sdk::StepPriority::Optional => wit::StepPriority::Optional,
        },
    }
}

fn step_from(s: wit::PlanStep) -> sdk::PlanStep {
    sdk::PlanStep {
        id: s.id,
        action: match s.action {
            wit::StepAction::Create => sdk::StepAction::Create,
            wit::StepAction::Modify => sdk::StepAction::Modify,
            wit::StepAction::Delete => sdk::StepAction::Delete,
        },
        target: s.target,
        path: s.path,
        description: s.description,
        priority: match s.priority {
            wit::StepPriority::Critical => sdk::StepPriority::Critical,
            wit::StepPriority::Normal => sdk::StepPriority::Normal,
            wit::StepPriority::Optional => sdk::StepPriority::Optional,
        },
    }
}

pub(crate) fn plan(p: &sdk::Plan) -> wit::Plan {
    wit::Plan {
        intent: p.intent.clone(),
        risk_level: match p.risk_level {
            sdk::RiskLevel::Low => wit::RiskLevel::Low,
            sdk::RiskLevel::Medium => wit::RiskLevel::Medium,
            sdk::RiskLevel::High => wit::RiskLevel::High,
        },
        conversational: p.conversational,
        clarification_needed: p.clarification_needed,
        clarification_question: p.clarification_question.clone(),
        reply: p.reply.clone(),
        dependencies_needed: p.dependencies_needed.clone(),
        reasoning: p.reasoning.clone(),
        steps: p.steps.iter().map(step).collect(),
    }
}

pub(crate) fn plan_from(p: wit::Plan) -> sdk::Plan {
    sdk::Plan {
        intent: p.intent,
        risk_level: match p.risk_level {
            wit::RiskLevel::Low => sdk::RiskLevel::Low,
            wit::RiskLevel::Medium => sdk::RiskLevel::Medium,
            wit::RiskLevel::High => sdk::RiskLevel::High,
        },
        conversational: p.conversational,
        clarification_needed: p.clarification_needed,
        clarification_question: p.clarification_question,
        reply: p.reply,
        dependencies_needed: p.dependencies_needed,
        reasoning: p.reasoning,
        steps: p.steps.into_iter().map(step_from).collect(),
    }
}

pub(crate) fn diagnostic(d: &sdk::Diagnostic) -> wit::Diagnostic {
    wit::Diagnostic {
        kind: match d.kind {
            sdk::DiagnosticKind::Syntax => wit::DiagnosticKind::Syntax,
            sdk::DiagnosticKind::Runtime => wit::DiagnosticKind::Runtime,
            sdk::DiagnosticKind::Security => wit::DiagnosticKind::Security,
            sdk::DiagnosticKind::Import => wit::DiagnosticKind::Import,
            sdk::DiagnosticKind::Reference => wit::DiagnosticKind::Reference,
        },
        file: d.file.clone(),
        line: d.line,
        message: d.message.clone(),
        severity: match d.severity {
            sdk::Severity::Critical => wit::Severity::Critical,
            sdk::Severity::Major => wit::Severity::Major,
            sdk::Severity::Minor => wit::Severity::Minor,
        },
    }
}

fn diagnostic_from(d: wit::Diagnostic) -> sdk::Diagnostic {
    sdk::Diagnostic {
        kind: match d.kind {
            wit::DiagnosticKind::Syntax => sdk::DiagnosticKind::Syntax,
            wit::DiagnosticKind::Runtime => sdk::DiagnosticKind::Runtime,
            wit::DiagnosticKind::Security => sdk::DiagnosticKind::Security,
            wit::DiagnosticKind::Import => sdk::DiagnosticKind::Import,
            wit::DiagnosticKind::Reference => sdk::DiagnosticKind::Reference,
        },
        file: d.file,
        line: d.line,
        message: d.message,
        severity: match d.severity {
            wit::Severity::Critical => sdk::Severity::Critical,
            wit::Severity::Major => sdk::Severity::Major,
            wit::Severity::Minor => sdk::Severity::Minor,
        },
    }
}

pub(crate) fn report_from(r: wit::ValidationReport) -> sdk::ValidationReport {
    sdk::ValidationReport {
        errors: r.errors.into_iter().map(diagnostic_from).collect(),
        warnings: r.warnings.into_iter().map(diagnostic_from).collect(),
        confidence_score: r.confidence_score.min(100),
    }
}

pub(crate) fn plan_request(r: &sdk::PlanRequest) -> wit::PlanRequest {
    wit::PlanRequest {
        messages: messages(&r.messages),
        file_tree: r.file_tree.clone(),
        project_context: r.project_context.clone(),
        files: files(&r.files),
        target: target(r.target),
    }
}

pub(crate) fn generate_request(r: &sdk::GenerateRequest) -> wit::GenerateRequest {
    wit::GenerateRequest {
        messages: messages(&r.messages),
        plan: plan(&r.plan),
        steps: r.steps.iter().map(step).collect(),
        context_files: files(&r.context_files),
        project_context: r.project_context.clone(),
        target: target(r.target),
    }
}

pub(crate) fn validate_request(r: &sdk::ValidateRequest) -> wit::ValidateRequest {
    wit::ValidateRequest {
        files: files(&r.files),
        changed: r.changed.clone(),
        dependencies: r.dependencies.clone(),
        known_paths: r.known_paths.clone(),
        target: target(r.target),
    }
}

pub(crate) fn fix_request(r: &sdk::FixRequest) -> wit::FixRequest {
    wit::FixRequest {
        messages: messages(&r.messages),
        files: files(&r.files),
        diagnostics: r.diagnostics.iter().map(diagnostic).collect(),
        target: target(r.target),
    }
}

pub(crate) fn llm_error(e: sdk::LlmError) -> wit::LlmError {
    match e {
        sdk::LlmError::Unavailable(m) => wit::LlmError::Unavailable(m),
        sdk::LlmError::RateLimited(m) => wit::LlmError::RateLimited(m),
        sdk::LlmError::InsufficientCredits(m) => wit::LlmError::InsufficientCredits(m),
        sdk::LlmError::BudgetExceeded(m) => wit::LlmError::BudgetExceeded(m),
        sdk::LlmError::Rejected(m) => wit::LlmError::Rejected(m),
        sdk::LlmError::Cancelled => wit::LlmError::Cancelled,
    }
}

pub(crate) fn agent_error_from(e: wit::AgentError) -> sdk::AgentError {
    match e {
        wit::AgentError::Llm(e) => sdk::AgentError::Llm(match e {
            wit::LlmError::Unavailable(m) => sdk::LlmError::Unavailable(m),
            wit::LlmError::RateLimited(m) => sdk::LlmError::RateLimited(m),
            wit::LlmError::InsufficientCredits(m) => sdk::LlmError::InsufficientCredits(m),
            wit::LlmError::BudgetExceeded(m) => sdk::LlmError::BudgetExceeded(m),
            wit::LlmError::Rejected(m) => sdk::LlmError::Rejected(m),
            wit::LlmError::Cancelled => sdk::LlmError::Cancelled,
        }),
        wit::AgentError::BadModelOutput(m) => sdk::AgentError::BadModelOutput(m),
        wit::AgentError::InvalidRequest(m) => sdk::AgentError::InvalidRequest(m),
        wit::AgentError::Internal(m) => sdk::AgentError::Internal(m),
    }
}

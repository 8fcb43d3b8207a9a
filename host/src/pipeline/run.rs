//! One run's steps: plan, generate, share names, validate, repair, each through the agents fixed
//! at the run's start, each sending its events as it goes.

use std::collections::HashSet;
use std::sync::Arc;

use blink_agent_sdk::{
    self as sdk, Diagnostic, DiagnosticKind, FixRequest, GenerateRequest, LlmError, PlanRequest, PlanStep, ProjectFile,
    RuntimeTarget, Severity, StepAction, ValidateRequest, ValidationReport,
};
use futures::StreamExt;
use tokio::sync::mpsc::UnboundedSender;

use super::events::{self, ErrorCode, Event, Phase};
use super::{GenerationMode, Outcome, Pipeline, RunRequest, paths};
use crate::runtime::{Agent, AgentCallError, CallContext};

pub(super) struct Failure {
    pub(super) code: ErrorCode,
    pub(super) message: String,
}

impl From<AgentCallError> for Failure {
    fn from(e: AgentCallError) -> Self {
        let code = match e.llm_error() {
            Some(LlmError::Cancelled) => ErrorCode::Cancelled,
            Some(LlmError::InsufficientCredits(_)) => ErrorCode::InsufficientCredits,
            Some(LlmError::RateLimited(_)) => ErrorCode::RateLimited,
            Some(LlmError::BudgetExceeded(_)) => ErrorCode::BudgetExceeded,
            Some(LlmError::Unavailable(_) | LlmError::Rejected(_)) => ErrorCode::LlmUnavailable,
            None if matches!(e, AgentCallError::Cancelled) => ErrorCode::Cancelled,
            None => ErrorCode::AgentFailed,
        };
        // A model failure is best told in the model's words, without the agent's wrapping.
        let message = match e.llm_error() {
            Some(LlmError::Unavailable(m) | LlmError::Rejected(m)) => m.clone(),
            Some(other) => other.to_string(),
            None => e.to_string(),
        };
        Self { code, message }
    }
}

/// The components that serve one run, fixed at its start so a swap mid-run cannot mix versions.
pub(super) struct RunAgents {
    pub(super) planner: Arc<Agent>,
    pub(super) generator: Arc<Agent>,
    pub(super) validator: Arc<Agent>,
    pub(super) fixer: Arc<Agent>,
    pub(super) extra_validators: Vec<Arc<Agent>>,
}

pub(super) struct Run<'a> {
    pub(super) pipeline: &'a Pipeline,
    pub(super) agents: RunAgents,
    pub(super) events: UnboundedSender<Event>,
    pub(super) ctx: CallContext,
    pub(super) request: RunRequest,
}

impl Run<'_> {
    pub(super) fn send(&self, event: Event) {
        let _ = self.events.send(event);
    }

    pub(super) fn check_cancelled(&self) -> Result<(), Failure> {
        if self.ctx.cancel.is_cancelled() {
            return Err(Failure { code: ErrorCode::Cancelled, message: "The request was cancelled.".into() });
        }
        Ok(())
    }

    pub(super) async fn execute(self) -> Result<Outcome, Failure> {
        let runtime = &self.pipeline.runtime;
        self.send(Event::phase(Phase::Planning, events::PLANNING));
        let plan_request = PlanRequest {
            messages: self.request.messages.clone(),
            file_tree: self.request.file_tree.clone(),
            project_context: self.request.project_context.clone(),
            files: self.request.files.clone(),
            target: self.request.target,
        };
        let plan = sanitize_plan(runtime.plan(&self.agents.planner, &self.ctx, &plan_request).await?);
        self.check_cancelled()?;
        let reasoning = if !plan.reasoning.trim().is_empty() {
            plan.reasoning.clone()
        } else if plan.clarification_needed {
            format!("Clarification needed: {}", plan.clarification_question.as_deref().unwrap_or_default())
        } else if plan.conversational {
            "Classified as conversational — no code changes needed".to_string()
        } else {
            format!("Code generation required: {} step(s) planned", plan.steps.len())
        };
        self.send(Event::IntentClassified {
            intent: plan.intent.clone(),
            conversational: plan.conversational,
            risk_level: plan.risk_level,
            steps_count: plan.steps.len(),
            reasoning,
        });
        self.send(Event::Plan { plan: plan.clone() });
        for step in plan.steps.iter().filter(|s| s.action != StepAction::Create && self.exists(&s.path)) {
            self.send(Event::FileRead { path: step.path.clone() });
        }

        if plan.conversational {
            return self.converse(&plan, &plan_request).await;
        }

        self.send(Event::phase(Phase::Generating, events::GENERATING));
        let mut written = self.generate(&plan).await?;
        self.check_cancelled()?;

        self.send(Event::phase(Phase::Validating, events::VALIDATING));
        let deleted: Vec<String> =
            plan.steps.iter().filter(|s| s.action == StepAction::Delete).map(|s| s.path.clone()).collect();
        let mut shared = self.share_names(&mut written, &deleted);
        let mut report = self.validate(&written, &deleted, &plan).await?;
        report.warnings.extend(shared.iter().cloned());
        let rounds = self.pipeline.limits.max_fix_rounds;
        let mut round = 0;
        loop {
            if report.errors.is_empty() {
                self.send(validation(&report, false));
                break;
            }
            if round == rounds {
                self.send(validation(&report, true));
                break;
            }
            self.send(validation(&report, false));
            round += 1;
            self.send(Event::phase(Phase::Fixing, events::fixing(round, rounds, report.errors.len())));
            let fixed = match self.fix(&written, &deleted, &report).await {
                Ok(fixed) => fixed,
                // The user must hear that the run stopped for these; the rest is not worth
                // throwing the generated files away for: they are delivered with their errors shown.
                Err(stop @ Failure { code: ErrorCode::Cancelled | ErrorCode::InsufficientCredits, .. }) => {
                    return Err(stop);
                }
                Err(Failure { message, .. }) => {
                    tracing::warn!("fix round {round} failed: {message}");
                    Vec::new()
                }
            };
            self.check_cancelled()?;
            if fixed.is_empty() {
                self.send(validation(&report, true));
                break;
            }
            for file in fixed {
                upsert(&mut written, file);
            }
            for note in self.share_names(&mut written, &deleted) {
                if !shared.contains(&note) {
                    shared.push(note);
                }
            }
            let mut next = self.validate(&written, &deleted, &plan).await?;
            next.warnings.extend(shared.iter().cloned());
            let progress = next.errors.len() < report.errors.len();
            report = next;
            if !progress && !report.errors.is_empty() {
                self.send(validation(&report, true));
                break;
            }
        }

        self.send(Event::phase(Phase::Complete, events::COMPLETE));
        let outcome = Outcome::Files {
            count: written.len(),
            errors_left: report.errors.len(),
            fix_rounds: round,
            confidence: report.confidence_score,
        };
        self.send(Event::Result {
            conversational: false,
            intent: Some(plan.intent.clone()),
            reply: None,
            files: written,
            deleted_files: deleted,
            warnings: Some(report.warnings),
        });
        Ok(outcome)
    }

    pub(super) async fn converse(&self, plan: &sdk::Plan, request: &PlanRequest) -> Result<Outcome, Failure> {
        self.send(Event::ConvStart);
        let known = if plan.clarification_needed {
            Some(format!("🤔 {}", plan.clarification_question.as_deref().unwrap_or_default().trim()))
        } else {
            plan.reply.clone().filter(|r| !r.trim().is_empty())
        };
        let reply = match known {
            Some(reply) => {
                // Already written: streamed word by word so the client renders it the same way.
                for piece in reply.split_inclusive(' ') {
                    self.send(Event::ConvDelta { delta: piece.to_string() });
                }
                reply
            }
            None => self.pipeline.runtime.answer(&self.agents.planner, &self.ctx, request).await?,
        };
        self.send(Event::Result {
            conversational: true,
            intent: None,
            reply: Some(reply),
            files: Vec::new(),
            deleted_files: Vec::new(),
            warnings: None,
        });
        Ok(Outcome::Conversational)
    }

    /// Writes the plan's files, concurrently (one call per file, bounded) or in one call, and
    /// reports each file as soon as it exists. Returns them in plan order.
    pub(super) async fn generate(&self, plan: &sdk::Plan) -> Result<Vec<ProjectFile>, Failure> {
        let steps: Vec<&PlanStep> = plan.steps.iter().filter(|s| s.action != StepAction::Delete).collect();
        let batches: Vec<Vec<PlanStep>> = match self.pipeline.limits.generation_mode {
            GenerationMode::PerFile => steps.iter().map(|s| vec![(*s).clone()]).collect(),
            GenerationMode::Single if steps.is_empty() => Vec::new(),
            GenerationMode::Single => vec![steps.iter().map(|s| (*s).clone()).collect()],
        };
        let concurrency = self.pipeline.limits.generation_concurrency.max(1);
        let mut calls = futures::stream::iter(batches.into_iter().map(|batch| {
            let request = GenerateRequest {
                messages: self.request.messages.clone(),
                plan: plan.clone(),
                context_files: self.context_for(&batch),
                project_context: if self.request.files.is_empty() {
                    self.request.project_context.clone()
                } else {
                    String::new()
                },
                steps: batch,
                target: self.request.target,
            };
            async move { self.pipeline.runtime.generate(&self.agents.generator, &self.ctx, &request).await }
        }))
        .buffer_unordered(concurrency);
        let mut written: Vec<ProjectFile> = Vec::new();
        while let Some(result) = calls.next().await {
            for file in result? {
                let Some(path) = paths::project_path(&file.path) else {
                    tracing::warn!(path = %file.path, "the generator returned a path outside the project; dropped");
                    continue;
                };
                let file = ProjectFile { path, content: file.content };
                self.send(Event::FileGenerated {
                    path: file.path.clone(),
                    lines_count: file.content.split('\n').count(),
                });
                upsert(&mut written, file);
            }
        }
        let order: Vec<&str> = steps.iter().map(|s| s.path.as_str()).collect();
        written.sort_by_key(|f| order.iter().position(|p| *p == f.path).unwrap_or(usize::MAX));
        Ok(written)
    }

    /// The files a generator call should see: the current versions of its own files, the entry
    /// file, and files its steps mention by name.
    pub(super) fn context_for(&self, steps: &[PlanStep]) -> Vec<ProjectFile> {
        let wanted = |file: &ProjectFile| {
            let stem = file.path.rsplit('/').next().unwrap_or(&file.path).split('.').next().unwrap_or_default();
            stem == "App"
                || steps.iter().any(|s| s.path == file.path || (!stem.is_empty() && s.description.contains(stem)))
        };
        self.request.files.iter().filter(|f| wanted(f)).cloned().collect()
    }

    /// The project as it will be after this run: the known files, overwritten by what was written,
    /// without what was deleted.
    pub(super) fn project_after(&self, written: &[ProjectFile], deleted: &[String]) -> Vec<ProjectFile> {
        let mut files: Vec<ProjectFile> =
            self.request.files.iter().filter(|f| !deleted.contains(&f.path)).cloned().collect();
        for file in written {
            upsert(&mut files, file.clone());
        }
        files
    }

    /// For the `browser` target, where each file is its own module: puts on `window` what one
    /// file defines and another uses. The repair is mechanical, so the host makes it rather than
    /// spend a model round on it, and says so in a warning per file.
    pub(super) fn share_names(&self, written: &mut Vec<ProjectFile>, deleted: &[String]) -> Vec<Diagnostic> {
        if self.request.target != RuntimeTarget::Browser {
            return Vec::new();
        }
        let mut notes = Vec::new();
        for shared in sdk::browser::share_through_window(&self.project_after(written, deleted)) {
            let lines: Vec<String> = shared.names.iter().map(|name| format!("`window.{name} = {name};`")).collect();
            notes.push(Diagnostic {
                kind: DiagnosticKind::Reference,
                file: shared.path.clone(),
                line: None,
                message: format!(
                    "Other files use what {} defines, and each file is its own module: the host added {}.",
                    shared.path,
                    lines.join(" ")
                ),
                severity: Severity::Minor,
            });
            upsert(written, ProjectFile { path: shared.path, content: shared.content });
        }
        notes
    }

    pub(super) async fn validate(
        &self,
        written: &[ProjectFile],
        deleted: &[String],
        plan: &sdk::Plan,
    ) -> Result<ValidationReport, Failure> {
        let files = self.project_after(written, deleted);
        let known: HashSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
        let request = ValidateRequest {
            known_paths: self
                .request
                .file_tree
                .iter()
                .filter(|p| !known.contains(p.as_str()) && !deleted.contains(p))
                .cloned()
                .collect(),
            files,
            changed: written.iter().map(|f| f.path.clone()).collect(),
            dependencies: plan.dependencies_needed.clone(),
            target: self.request.target,
        };
        let runtime = &self.pipeline.runtime;
        let (main, extra) = futures::join!(
            runtime.validate(&self.agents.validator, &self.ctx, &request),
            futures::future::join_all(
                self.agents.extra_validators.iter().map(|agent| runtime.validate(agent, &self.ctx, &request))
            )
        );
        let mut report = main?;
        for (agent, result) in self.agents.extra_validators.iter().zip(extra) {
            match result {
                Ok(more) => merge_report(&mut report, more),
                // A chained validator is a second opinion: its failure must not cost the user the
                // run. The operator sees it in the log and in the version's stats.
                Err(AgentCallError::Cancelled) => return Err(AgentCallError::Cancelled.into()),
                Err(e) => tracing::warn!(version = %agent.version, "a chained validator failed: {e}"),
            }
        }
        Ok(report)
    }

    pub(super) async fn fix(
        &self,
        written: &[ProjectFile],
        deleted: &[String],
        report: &ValidationReport,
    ) -> Result<Vec<ProjectFile>, Failure> {
        let request = FixRequest {
            messages: self.request.messages.clone(),
            files: self.project_after(written, deleted),
            diagnostics: report.errors.clone(),
            target: self.request.target,
        };
        let fixed = self.pipeline.runtime.fix(&self.agents.fixer, &self.ctx, &request).await?;
        // The host, not the agent, keeps the fixer to the files that have errors.
        Ok(fixed.into_iter().filter(|f| report.errors.iter().any(|d| d.file == f.path)).collect())
    }

    /// Whether the project has `path` now, by content or by name.
    pub(super) fn exists(&self, path: &str) -> bool {
        self.request.files.iter().any(|f| f.path == path) || self.request.file_tree.iter().any(|p| p == path)
    }
}

/// Keeps a plan, whoever wrote it, to steps the host can carry out safely: paths inside the
/// project, the entry file never deleted.
pub(super) fn sanitize_plan(mut plan: sdk::Plan) -> sdk::Plan {
    plan.steps.retain_mut(|step| match paths::project_path(&step.path) {
        Some(path) if !(step.action == StepAction::Delete && paths::is_entry(&path)) => {
            step.path = path;
            true
        }
        _ => {
            tracing::warn!(path = %step.path, action = ?step.action, "plan step dropped: not a path this run may touch");
            false
        }
    });
    if !plan.conversational && plan.steps.is_empty() {
        plan.conversational = true;
    }
    plan
}

pub(super) fn validation(report: &ValidationReport, fixer_exhausted: bool) -> Event {
    Event::Validation {
        errors: report.errors.clone(),
        warnings: report.warnings.clone(),
        confidence_score: report.confidence_score,
        fixer_exhausted,
    }
}

/// Adds a chained validator's findings to the report, once each; the run is as confident as its
/// least confident validator.
pub(crate) fn merge_report(report: &mut ValidationReport, more: ValidationReport) {
    for error in more.errors {
        if !report.errors.contains(&error) {
            report.errors.push(error);
        }
    }
    for warning in more.warnings {
        if !report.warnings.contains(&warning) {
            report.warnings.push(warning);
        }
    }
    report.confidence_score = report.confidence_score.min(more.confidence_score);
}

pub(super) fn upsert(files: &mut Vec<ProjectFile>, file: ProjectFile) {
    match files.iter_mut().find(|f| f.path == file.path) {
        Some(existing) => *existing = file,
        None => files.push(file),
    }
}

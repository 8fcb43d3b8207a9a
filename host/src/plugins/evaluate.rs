//! Trying a validator on past traffic: each recorded run's final files are validated again, by
//! the version that served the run and by the candidate (instead of it, or chained after it), in
//! the host's runtime and with no model call, and the findings that differ are reported.

use std::collections::BTreeMap;
use std::sync::Arc;

use blink_agent_sdk::{self as sdk, Diagnostic, ProjectFile, RuntimeTarget, ValidateRequest, ValidationReport};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::{PluginError, PluginStore};
use crate::llm::LlmProvider;
use crate::pipeline::AgentConfig;
use crate::pipeline::store::{RunFilter, RunRecord};
use crate::runtime::llm::{LlmCapability, RunBudget};
use crate::runtime::{Agent, CallContext, Role};

/// How the candidate would serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Mode {
    /// Instead of the validator that served each run.
    #[default]
    Replace,
    /// After it, as a project's chained validator: its findings join the serving one's.
    Chain,
}

/// One finding, and whether it was an error (it would start a fix round) or a warning.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub(crate) struct Finding {
    /// `error` or `warning`.
    level: &'static str,
    #[serde(flatten)]
    #[schema(value_type = Object)]
    diagnostic: Diagnostic,
}

/// One run, validated again.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RunEvaluation {
    run_id: String,
    user_id: String,
    project_id: Option<String>,
    created_at: i64,
    /// The validator version that served the run.
    served_by: String,
    files: usize,
    /// What the candidate reports that the serving version did not.
    added: Vec<Finding>,
    /// What the serving version reported that the candidate does not.
    removed: Vec<Finding>,
    /// Confidence scores: the serving version's, then with the candidate.
    confidence_before: u8,
    confidence_after: u8,
    /// Why the run could not be validated again (the validator that served it is gone, the
    /// candidate failed on it); its counts are then zero.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// Chained validators of the run left out of both sides, each with why (gone, or failed):
    /// a run goes on without a chained validator that fails, and so does its replay.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    skipped: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Totals {
    /// Runs validated again.
    runs: usize,
    /// Runs that could not be (see each run's `error`).
    failed: usize,
    runs_with_added: usize,
    runs_with_removed: usize,
    added_errors: usize,
    added_warnings: usize,
    removed_errors: usize,
    removed_warnings: usize,
    /// The candidate's own mean time per run, in milliseconds.
    candidate_ms: f64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EvaluationReport {
    version: String,
    mode: Mode,
    totals: Totals,
    runs: Vec<RunEvaluation>,
}

/// Settings a validator reads, and the model-free capability it gets.
fn context(config: Arc<AgentConfig>) -> CallContext {
    let cancel = CancellationToken::new();
    // No model call: a budget of none answers any call with `budget-exceeded` before it leaves.
    let llm = LlmCapability::new(LlmProvider::test_model(), Arc::new(RunBudget::new(0, 0)), cancel.clone(), None);
    CallContext { llm, cancel, config }
}

impl PluginStore {
    /// Validates the final files of the runs `filter` selects (those that ended with files) with
    /// `version` as the candidate validator, against the versions that served them.
    pub(crate) async fn evaluate(
        &self,
        version: &str,
        mode: Mode,
        filter: &RunFilter,
        config: Arc<AgentConfig>,
    ) -> Result<EvaluationReport, PluginError> {
        let candidate = self.agent(Role::Validator, version).await?;
        let filter = RunFilter { outcome: Some("files".into()), ..filter.clone() };
        let runs = crate::pipeline::store::runs(&self.db, &filter).await?;
        let ctx = context(config);
        let mut totals = Totals::default();
        let mut evaluated = Vec::with_capacity(runs.len());
        let mut candidate_time = std::time::Duration::ZERO;
        for run in runs {
            let events: Vec<String> = match crate::pipeline::store::any_run(&self.db, &run.id).await? {
                Some((_, events)) => events,
                None => continue,
            };
            let outcome = self.evaluate_run(&run, &events, &candidate, mode, &ctx).await;
            let mut row = RunEvaluation {
                run_id: run.id.clone(),
                user_id: run.user_id.clone(),
                project_id: run.project_id.clone(),
                created_at: run.created_at,
                served_by: served_by(&run).unwrap_or_default(),
                files: 0,
                added: Vec::new(),
                removed: Vec::new(),
                confidence_before: 0,
                confidence_after: 0,
                error: None,
                skipped: Vec::new(),
            };
            match outcome {
                Ok(done) => {
                    candidate_time += done.candidate_time;
                    row.files = done.files;
                    row.confidence_before = done.before.confidence_score;
                    row.confidence_after = done.after.confidence_score;
                    row.added = difference(&done.after, &done.before);
                    row.removed = difference(&done.before, &done.after);
                    row.skipped = done.skipped;
                    totals.runs += 1;
                    totals.runs_with_added += usize::from(!row.added.is_empty());
                    totals.runs_with_removed += usize::from(!row.removed.is_empty());
                    totals.added_errors += row.added.iter().filter(|f| f.level == "error").count();
                    totals.added_warnings += row.added.iter().filter(|f| f.level == "warning").count();
                    totals.removed_errors += row.removed.iter().filter(|f| f.level == "error").count();
                    totals.removed_warnings += row.removed.iter().filter(|f| f.level == "warning").count();
                }
                Err(message) => {
                    totals.failed += 1;
                    row.error = Some(message);
                }
            }
            evaluated.push(row);
        }
        if totals.runs > 0 {
            totals.candidate_ms = candidate_time.as_secs_f64() * 1e3 / totals.runs as f64;
        }
        Ok(EvaluationReport { version: candidate.version.to_string(), mode, totals, runs: evaluated })
    }

    async fn evaluate_run(
        &self,
        run: &RunRecord,
        events: &[String],
        candidate: &Arc<Agent>,
        mode: Mode,
        ctx: &CallContext,
    ) -> Result<Done, String> {
        let request = replay_request(run, events)?;
        let runtime = &self.runtime;
        let mut versions = served_validators(run).into_iter();
        let main = versions.next().ok_or("the run's record names no validator")?;
        let main = self
            .agent(Role::Validator, &main)
            .await
            .map_err(|e| format!("the validator that served this run ({main}) cannot be loaded: {e}"))?;
        let main = runtime
            .validate(&main, ctx, &request)
            .await
            .map_err(|e| format!("the serving validator {} failed: {e}", main.version))?;
        // The project's chained validators stay on both sides: a swap of the main validator
        // leaves them in place. One that fails is left out of both, as a run goes on without it.
        let mut chain = ValidationReport { confidence_score: 100, ..Default::default() };
        let mut skipped = Vec::new();
        for version in versions {
            let report = match self.agent(Role::Validator, &version).await {
                Ok(agent) => runtime.validate(&agent, ctx, &request).await.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            match report {
                Ok(report) => crate::pipeline::merge_report(&mut chain, report),
                Err(e) => skipped.push(format!("{version}: {e}")),
            }
        }
        let started = std::time::Instant::now();
        let tried = runtime
            .validate(candidate, ctx, &request)
            .await
            .map_err(|e| format!("the candidate failed on this run: {e}"))?;
        let candidate_time = started.elapsed();
        let mut before = main;
        crate::pipeline::merge_report(&mut before, chain.clone());
        let after = match mode {
            Mode::Replace => {
                let mut after = tried;
                crate::pipeline::merge_report(&mut after, chain);
                after
            }
            Mode::Chain => {
                let mut after = before.clone();
                crate::pipeline::merge_report(&mut after, tried);
                after
            }
        };
        Ok(Done { files: request.files.len(), before, after, candidate_time, skipped })
    }
}

struct Done {
    files: usize,
    before: ValidationReport,
    after: ValidationReport,
    candidate_time: std::time::Duration,
    skipped: Vec<String>,
}

fn agents_of(run: &RunRecord) -> BTreeMap<String, String> {
    serde_json::from_str(&run.agents).unwrap_or_default()
}

fn served_by(run: &RunRecord) -> Option<String> {
    agents_of(run).remove("validator")
}

/// The main validator, then the chained ones (`validator+1`, …) in chain order.
fn served_validators(run: &RunRecord) -> Vec<String> {
    let agents = agents_of(run);
    let mut chain: Vec<(usize, String)> = agents
        .iter()
        .filter_map(|(role, version)| Some((role.strip_prefix("validator+")?.parse().ok()?, version.clone())))
        .collect();
    chain.sort();
    agents.get("validator").cloned().into_iter().chain(chain.into_iter().map(|(_, v)| v)).collect()
}

/// What the run's validator was asked last, as far as its record tells: the files of its result,
/// its plan's dependencies and its target. Files the project had before the run are not recorded,
/// so they are known by nothing; a rule about them is not exercised.
fn replay_request(run: &RunRecord, events: &[String]) -> Result<ValidateRequest, String> {
    let mut files: Vec<ProjectFile> = Vec::new();
    let mut dependencies = Vec::new();
    for event in events {
        let Ok(event) = serde_json::from_str::<Value>(event) else { continue };
        match event["type"].as_str() {
            Some("plan") => {
                if let Ok(plan) = serde_json::from_value::<sdk::Plan>(event["plan"].clone()) {
                    dependencies = plan.dependencies_needed;
                }
            }
            Some("result") => {
                files = serde_json::from_value(event["files"].clone()).map_err(|e| format!("its result: {e}"))?;
            }
            _ => {}
        }
    }
    if files.is_empty() {
        return Err("the run's record has no result files".into());
    }
    let request: Value = serde_json::from_str(&run.request).unwrap_or_default();
    let target = match request["target"].as_str() {
        Some("browser") => RuntimeTarget::Browser,
        _ => RuntimeTarget::Vite,
    };
    Ok(ValidateRequest {
        changed: files.iter().map(|f| f.path.clone()).collect(),
        files,
        dependencies,
        known_paths: Vec::new(),
        target,
    })
}

/// The findings of `a` that `b` does not have.
fn difference(a: &ValidationReport, b: &ValidationReport) -> Vec<Finding> {
    let errors = a.errors.iter().filter(|d| !b.errors.contains(d)).map(|d| ("error", d));
    let warnings = a.warnings.iter().filter(|d| !b.warnings.contains(d)).map(|d| ("warning", d));
    errors.chain(warnings).map(|(level, d)| Finding { level, diagnostic: d.clone() }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use blink_agent_sdk::{DiagnosticKind, Severity};

    fn diagnostic(message: &str) -> Diagnostic {
        Diagnostic {
            kind: DiagnosticKind::Syntax,
            file: "App.tsx".into(),
            line: Some(1),
            message: message.into(),
            severity: Severity::Major,
        }
    }

    #[test]
    fn the_difference_keeps_each_side_and_its_level() {
        let before = ValidationReport { errors: vec![diagnostic("a")], warnings: vec![], confidence_score: 80 };
        let after = ValidationReport {
            errors: vec![diagnostic("a"), diagnostic("b")],
            warnings: vec![diagnostic("c")],
            confidence_score: 60,
        };
        let added = difference(&after, &before);
        assert_eq!(
            added.iter().map(|f| (f.level, f.diagnostic.message.as_str())).collect::<Vec<_>>(),
            [("error", "b"), ("warning", "c")]
        );
        assert!(difference(&before, &after).is_empty());
    }

    #[test]
    fn chained_validators_are_replayed_in_chain_order() {
        let run = RunRecord {
            id: "r".into(),
            user_id: "u".into(),
            project_id: None,
            request: "{}".into(),
            agents: r#"{"validator":"main","validator+2":"second","validator+1":"first","planner":"p"}"#.into(),
            outcome: "{}".into(),
            model_calls: 0,
            prompt_tokens: 0,
            completion_tokens: 0,
            created_at: 0,
            finished_at: 0,
            request_id: None,
        };
        assert_eq!(served_validators(&run), ["main", "first", "second"]);
    }
}

//! One orchestration: planner → generator → validator → fixer rounds, as a stream of events.
//!
//! The host, not the agents, owns the budget: fix rounds, model calls and tokens per run are
//! limits here, and the fix loop stops as soon as a round does not reduce the errors.

pub(crate) mod events;
mod limits;
pub(crate) mod paths;
mod run;
pub(crate) mod store;

pub(crate) use self::limits::Limits;
pub(crate) use self::run::merge_report;

use std::collections::BTreeMap;
use std::sync::Arc;

use blink_agent_sdk::{ChatMessage, ProjectFile, RuntimeTarget, StreamChannel};
use clap::ValueEnum;
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

use self::events::{ErrorCode, Event};
use self::run::{Run, RunAgents};
use crate::credits::{CreditError, Credits};
use crate::llm::LlmProvider;
use crate::runtime::llm::{LlmCapability, Meter, RunBudget, StreamSink};
use crate::runtime::{Agent, AgentRuntime, CallContext, Role};

/// How a run's files are generated: `per-file`, one model call per file, concurrently; `single`,
/// one call for all files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum GenerationMode {
    PerFile,
    Single,
}

/// What the frontend asked for, validated and bounded by the API.
#[derive(Debug, Clone, Default)]
pub(crate) struct RunRequest {
    pub(crate) messages: Vec<ChatMessage>,
    pub(crate) file_tree: Vec<String>,
    pub(crate) project_context: String,
    /// The project's files, when known one by one.
    pub(crate) files: Vec<ProjectFile>,
    pub(crate) target: RuntimeTarget,
}

#[derive(Debug, Clone)]
pub(crate) struct PipelineLimits {
    pub(crate) max_fix_rounds: u32,
    pub(crate) max_model_calls: u32,
    pub(crate) max_tokens: u64,
    pub(crate) generation_concurrency: usize,
    pub(crate) generation_mode: GenerationMode,
}

/// Each role's settings, as the agents read them through `config`.
pub(crate) type AgentConfig = BTreeMap<Role, Arc<BTreeMap<String, String>>>;

/// What a project chose for its runs instead of the host's active agents.
#[derive(Clone, Default)]
pub(crate) struct AgentChoice {
    /// Versions the project pinned, by role; they also keep the project out of canaries.
    pub(crate) pinned: BTreeMap<Role, Arc<Agent>>,
    /// Validators that check every result after the main one; their findings join its report.
    pub(crate) extra_validators: Vec<Arc<Agent>>,
}

pub(crate) struct Pipeline {
    pub(crate) runtime: Arc<AgentRuntime>,
    pub(crate) provider: LlmProvider,
    pub(crate) limits: PipelineLimits,
    /// Swapped whole when an operator changes a setting; a run reads it once, at its start.
    pub(crate) agent_config: Arc<arc_swap::ArcSwap<AgentConfig>>,
    /// Who pays for model calls; `None` runs unmetered (benchmarks, tools).
    pub(crate) credits: Option<Credits>,
}

/// How a run ended, for logs and (later) the run record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    Conversational,
    Files { count: usize, errors_left: usize, fix_rounds: u32, confidence: u8 },
    Failed(ErrorCode),
}

impl Outcome {
    /// How the run ended, as stored with it.
    pub(crate) fn to_json(&self) -> serde_json::Value {
        match self {
            Self::Conversational => serde_json::json!({ "kind": "conversational" }),
            Self::Files { count, errors_left, fix_rounds, confidence } => serde_json::json!({
                "kind": "files", "files": count, "errorsLeft": errors_left,
                "fixRounds": fix_rounds, "confidence": confidence,
            }),
            Self::Failed(code) => serde_json::json!({ "kind": "failed", "code": code }),
        }
    }
}

/// What a run did, for its record.
#[derive(Debug, Clone)]
pub(crate) struct RunReport {
    pub(crate) outcome: Outcome,
    /// Role → content hash of the component that served it.
    pub(crate) agents: BTreeMap<String, String>,
    pub(crate) model_calls: u32,
    pub(crate) prompt_tokens: u64,
    pub(crate) completion_tokens: u64,
}

impl Pipeline {
    /// Runs one orchestration, sending its events as they happen. The caller closes the stream.
    /// `account` is the user who pays and the run's id, when credits are on.
    pub(crate) async fn run(
        &self,
        request: RunRequest,
        account: Option<(String, String)>,
        choice: AgentChoice,
        events: UnboundedSender<Event>,
        cancel: CancellationToken,
    ) -> RunReport {
        let budget = Arc::new(RunBudget::new(self.limits.max_model_calls, self.limits.max_tokens));
        let sink_events = events.clone();
        let sink: StreamSink = Arc::new(move |channel, delta: &str| {
            let event = match channel {
                StreamChannel::Thinking => Event::ThinkingDelta { delta: delta.to_string() },
                StreamChannel::Conversation => Event::ConvDelta { delta: delta.to_string() },
            };
            let _ = sink_events.send(event);
        });
        let mut llm = LlmCapability::new(self.provider.clone(), budget.clone(), cancel.clone(), Some(sink));
        let mut run_charge = None;
        if let (Some(credits), Some((user, run))) = (&self.credits, account) {
            // A flat price per run (the frontend's edge function charged 1 credit a run), held
            // from the start and charged only if the run ends with an answer.
            match credits.reserve_run(&user, &run).await {
                Ok(held) => run_charge = held.map(|held| (credits.clone(), user.clone(), run.clone(), held)),
                Err(e) => {
                    let (code, message) = match e {
                        CreditError::Insufficient { .. } => {
                            (ErrorCode::InsufficientCredits, "Credits exhausted.".into())
                        }
                        CreditError::Db(e) => (ErrorCode::DatabaseUnavailable, e.to_string()),
                    };
                    for event in Event::failure(code, &message) {
                        let _ = events.send(event);
                    }
                    return RunReport {
                        outcome: Outcome::Failed(code),
                        agents: BTreeMap::new(),
                        model_calls: 0,
                        prompt_tokens: 0,
                        completion_tokens: 0,
                    };
                }
            }
            llm = llm.metered(Meter { credits: credits.clone(), user, run });
        }
        let ctx = CallContext { llm, cancel: cancel.clone(), config: self.agent_config.load_full() };
        let pick = |role| choice.pinned.get(&role).cloned().unwrap_or_else(|| self.runtime.pick(role));
        let agents = RunAgents {
            planner: pick(Role::Planner),
            generator: pick(Role::Generator),
            validator: pick(Role::Validator),
            fixer: pick(Role::Fixer),
            extra_validators: choice.extra_validators,
        };
        tracing::info!(
            planner = %agents.planner.version, generator = %agents.generator.version,
            validator = %agents.validator.version, fixer = %agents.fixer.version, "run started"
        );
        let versions = [
            (Role::Planner, &agents.planner),
            (Role::Generator, &agents.generator),
            (Role::Validator, &agents.validator),
            (Role::Fixer, &agents.fixer),
        ]
        .into_iter()
        .map(|(role, agent)| (role.as_str().to_string(), agent.version.to_string()))
        // Chained validators are recorded as `validator+1`, `validator+2`, … in chain order.
        .chain(
            agents
                .extra_validators
                .iter()
                .enumerate()
                .map(|(i, a)| (format!("validator+{}", i + 1), a.version.to_string())),
        )
        .collect();
        let llm_handle = ctx.llm.clone();
        let run = Run { pipeline: self, agents, events: events.clone(), ctx, request };
        let outcome = match run.execute().await {
            Ok(outcome) => outcome,
            Err(failure) => {
                let code = if cancel.is_cancelled() {
                    ErrorCode::Cancelled
                } else if llm_handle.database_failed() {
                    ErrorCode::DatabaseUnavailable
                } else {
                    failure.code
                };
                for event in Event::failure(code, &failure.message) {
                    let _ = events.send(event);
                }
                Outcome::Failed(code)
            }
        };
        if let Some((credits, user, run, held)) = run_charge {
            let answered = !matches!(outcome, Outcome::Failed(_));
            if let Err(e) = credits.finish_run(&user, &run, held, answered).await {
                // The hold stays taken: the user is never undercharged by an outage.
                tracing::error!(%user, %run, "settling the run's price failed: {e}");
            }
        }
        let (prompt_tokens, completion_tokens) = budget.usage();
        tracing::info!(?outcome, model_calls = budget.calls(), prompt_tokens, completion_tokens, "run finished");
        RunReport { outcome, agents: versions, model_calls: budget.calls(), prompt_tokens, completion_tokens }
    }
}

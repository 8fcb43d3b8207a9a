//! `blink plugin test`: one component tried in the host's own runtime, with the host's limits,
//! offline (no server, no database): a validator on files from disk; a planner, generator or fixer
//! on a request, with the model answered by the built-in test model or a cassette. The host's
//! built-in agents make what the role needs first (a plan for a generator, files with a mistake
//! for a fixer), as a run would.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use blink_agent_sdk::{self as sdk, ChatMessage, RuntimeTarget};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::llm::LlmProvider;
use crate::runtime::llm::{LlmCapability, RunBudget};
use crate::runtime::{AgentRuntime, CallContext, CallLimits, Role};

/// What to try and on what.
pub(crate) struct Trial {
    pub(crate) file: PathBuf,
    pub(crate) role: Role,
    /// A validator's files: a directory, or a JSON object of path → content.
    pub(crate) files: Option<PathBuf>,
    /// The user's request, for the roles that take one.
    pub(crate) ask: Option<String>,
    pub(crate) target: RuntimeTarget,
    /// Answers from this cassette instead of the test model.
    pub(crate) cassette: Option<PathBuf>,
    /// Settings the tried agent reads with `config::get`.
    pub(crate) settings: BTreeMap<String, String>,
}

/// Runs the trial; the JSON to print, or why the agent failed.
pub(crate) async fn run(
    trial: Trial,
    agents: &crate::plugins::AgentLimits,
    run: &crate::pipeline::Limits,
) -> anyhow::Result<Value> {
    let bytes = std::fs::read(&trial.file).with_context(|| format!("reading {}", trial.file.display()))?;
    // Compiled components are kept by content hash: a second trial starts at once.
    let cache = std::env::temp_dir().join("blink-plugin-test-cache");
    let limits = CallLimits {
        memory_bytes: agents.agent_memory_mib.saturating_mul(1 << 20),
        cpu: Duration::from_millis(agents.agent_cpu_ms),
        wall: Duration::from_secs(agents.agent_wall_secs),
        output_bytes: agents.agent_output_bytes,
    };
    let runtime = AgentRuntime::new(&cache, limits, 4)?;
    let agent = runtime
        .load(trial.role, &bytes)
        .map_err(|e| anyhow::anyhow!("{} cannot serve the {} role: {e}", trial.file.display(), trial.role))?;
    let provider = match &trial.cassette {
        Some(path) => LlmProvider::replay(path)?,
        None => LlmProvider::test_model(),
    };
    let cancel = CancellationToken::new();
    let budget = Arc::new(RunBudget::new(run.run_max_model_calls, run.run_max_tokens));
    let ctx = CallContext {
        llm: LlmCapability::new(provider, budget, cancel.clone(), None),
        cancel,
        config: Arc::new(BTreeMap::from([(trial.role, Arc::new(trial.settings.clone()))])),
    };
    let builtin = |role| runtime.builtin(role).map_err(|e| anyhow::anyhow!("the built-in {role}: {e}"));
    let ask = trial.ask.clone().unwrap_or_else(|| match trial.role {
        Role::Fixer => "Build me a counter with a mistake".into(),
        _ => "Build me a todo list".into(),
    });
    let existing = match &trial.files {
        Some(path) => read_files(path)?,
        None => Vec::new(),
    };
    let plan_request = sdk::PlanRequest {
        messages: vec![ChatMessage::user(ask)],
        file_tree: existing.iter().map(|f| f.path.clone()).collect(),
        files: existing.clone(),
        target: trial.target,
        ..Default::default()
    };
    let failed = |e: crate::runtime::AgentCallError| anyhow::anyhow!("{e}");
    Ok(match trial.role {
        Role::Validator => {
            if trial.files.is_none() {
                bail!("a validator is tried on files: give --files DIR (or a JSON object of path → content)");
            }
            let report =
                runtime.validate(&agent, &ctx, &validate_request(&existing, trial.target)).await.map_err(failed)?;
            json!({ "report": report })
        }
        Role::Planner => {
            let plan = runtime.plan(&agent, &ctx, &plan_request).await.map_err(failed)?;
            let answer = if plan.conversational && plan.reply.is_none() {
                Some(runtime.answer(&agent, &ctx, &plan_request).await.map_err(failed)?)
            } else {
                None
            };
            json!({ "plan": plan, "answer": answer })
        }
        Role::Generator => {
            let plan = runtime.plan(&*builtin(Role::Planner)?, &ctx, &plan_request).await.map_err(failed)?;
            let request = generate_request(&plan_request, &plan);
            let files = runtime.generate(&agent, &ctx, &request).await.map_err(failed)?;
            let report = sdk::validator::validate(&validate_request(&files, trial.target));
            json!({ "plan": plan, "files": files, "builtinValidation": report })
        }
        Role::Fixer => {
            let plan = runtime.plan(&*builtin(Role::Planner)?, &ctx, &plan_request).await.map_err(failed)?;
            let request = generate_request(&plan_request, &plan);
            let files = runtime.generate(&*builtin(Role::Generator)?, &ctx, &request).await.map_err(failed)?;
            let before = sdk::validator::validate(&validate_request(&files, trial.target));
            if before.errors.is_empty() {
                bail!(
                    "the built-in agents wrote files without errors, so there is nothing to fix; ask for a mistake \
                     (--ask \"Build me a counter with a mistake\") or give a cassette that makes one"
                );
            }
            let fix = sdk::FixRequest {
                messages: plan_request.messages.clone(),
                files: files.clone(),
                diagnostics: before.errors.clone(),
                target: trial.target,
            };
            let fixed = runtime.fix(&agent, &ctx, &fix).await.map_err(failed)?;
            let mut after = files;
            for f in &fixed {
                match after.iter_mut().find(|a| a.path == f.path) {
                    Some(existing) => existing.content = f.content.clone(),
                    None => after.push(f.clone()),
                }
            }
            let report = sdk::validator::validate(&validate_request(&after, trial.target));
            json!({ "diagnostics": before.errors, "fixed": fixed, "builtinValidationAfter": report })
        }
    })
}

/// Every step of `plan`, for the request it was made from, as a run asks a generator.
fn generate_request(request: &sdk::PlanRequest, plan: &sdk::Plan) -> sdk::GenerateRequest {
    sdk::GenerateRequest {
        messages: request.messages.clone(),
        plan: plan.clone(),
        steps: plan.steps.clone(),
        context_files: request.files.clone(),
        target: request.target,
        ..Default::default()
    }
}

fn validate_request(files: &[sdk::ProjectFile], target: RuntimeTarget) -> sdk::ValidateRequest {
    sdk::ValidateRequest {
        files: files.to_vec(),
        changed: files.iter().map(|f| f.path.clone()).collect(),
        target,
        ..Default::default()
    }
}

/// Files from a directory (every text file under it, by relative path; hidden ones and
/// `node_modules` left out) or from a JSON object of path → content.
fn read_files(path: &Path) -> anyhow::Result<Vec<sdk::ProjectFile>> {
    if path.is_file() {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let map: BTreeMap<String, String> = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a JSON object of path → content", path.display()))?;
        return Ok(map.into_iter().map(|(p, c)| sdk::ProjectFile::new(p, c)).collect());
    }
    let mut files = Vec::new();
    let mut pending = vec![path.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
            let entry = entry?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') || name == "node_modules" {
                continue;
            }
            let kind = entry.file_type()?;
            if kind.is_dir() {
                pending.push(entry.path());
            } else if kind.is_file() {
                let Ok(content) = std::fs::read_to_string(entry.path()) else { continue };
                let relative = entry.path().strip_prefix(path)?.to_string_lossy().replace('\\', "/");
                files.push(sdk::ProjectFile::new(relative, content));
            }
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    if files.is_empty() {
        bail!("{} has no text files to validate", path.display());
    }
    Ok(files)
}

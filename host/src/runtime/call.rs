//! One call into an agent: a fresh store within the call's limits, an instance slot, the answer
//! read back or the failure named (memory, fuel, deadline, cancellation, the agent's own error).

use blink_agent_sdk as sdk;
use wasmtime::{Store, UpdateDeadline};

use crate::runtime::{
    Agent, AgentCallError, AgentRuntime, AgentState, CallContext, MemoryExceeded, Role, RolePre, bindings, convert,
    engine,
};

impl AgentRuntime {
    /// Waits for a free instance slot, or for the run to be cancelled.
    pub(super) async fn slot(&self, ctx: &CallContext) -> Result<tokio::sync::OwnedSemaphorePermit, AgentCallError> {
        tokio::select! {
            _ = ctx.cancel.cancelled() => Err(AgentCallError::Cancelled),
            permit = self.slots.clone().acquire_owned() => permit.map_err(|_| AgentCallError::Cancelled),
        }
    }

    pub(super) fn store(&self, agent: &Agent, ctx: &CallContext) -> Store<AgentState> {
        let memory = usize::try_from(self.limits.memory_bytes).unwrap_or(usize::MAX);
        let state = AgentState::new(
            agent.role,
            agent.version.clone(),
            ctx.llm.clone(),
            ctx.config_for(agent.role),
            memory,
            self.limits.output_bytes,
        );
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.memory);
        store.set_epoch_deadline(1);
        let cancel = ctx.cancel.clone();
        let max_ticks =
            u32::try_from(self.limits.cpu.as_nanos() / engine::EPOCH_TICK.as_nanos()).unwrap_or(u32::MAX).max(1);
        store.epoch_deadline_callback(move |mut store| {
            if cancel.is_cancelled() {
                return Err(Interrupted.into());
            }
            let state = store.data_mut();
            state.cpu_ticks += 1;
            if state.cpu_ticks > max_ticks {
                return Err(CpuExhausted.into());
            }
            // Yielding at every tick keeps a busy agent from holding a runtime thread.
            Ok(UpdateDeadline::Yield(1))
        });
        store
    }

    /// Turns how a call ended into the caller's result, naming the limit that stopped it, and
    /// counts it.
    pub(super) fn outcome<R>(
        &self,
        agent: &Agent,
        store: &Store<AgentState>,
        result: Result<wasmtime::Result<Result<R, bindings::types::AgentError>>, tokio::time::error::Elapsed>,
        size: impl FnOnce(&R) -> usize,
    ) -> Result<R, AgentCallError> {
        let took = store.data().started.elapsed();
        let outcome = self.classify(agent.role, store, result, size);
        let label = match &outcome {
            Ok(_) => "ok",
            Err(AgentCallError::Cancelled) => "cancelled",
            Err(AgentCallError::Agent { .. }) => "agent_error",
            Err(
                AgentCallError::Timeout { .. }
                | AgentCallError::CpuLimit { .. }
                | AgentCallError::MemoryLimit { .. }
                | AgentCallError::OutputLimit { .. },
            ) => "limit",
            Err(_) => "trap",
        };
        crate::telemetry::agent_call(agent.role.as_str(), &agent.version, label, took);
        outcome
    }

    fn classify<R>(
        &self,
        role: Role,
        store: &Store<AgentState>,
        result: Result<wasmtime::Result<Result<R, bindings::types::AgentError>>, tokio::time::error::Elapsed>,
        size: impl FnOnce(&R) -> usize,
    ) -> Result<R, AgentCallError> {
        let limits = &self.limits;
        let value = match result {
            Err(_) => return Err(AgentCallError::Timeout { role, limit: limits.wall }),
            Ok(Err(error)) => {
                if error.downcast_ref::<Interrupted>().is_some() {
                    return Err(AgentCallError::Cancelled);
                }
                if error.downcast_ref::<CpuExhausted>().is_some() {
                    return Err(AgentCallError::CpuLimit { role, limit: limits.cpu });
                }
                if let Some(InstantiateFailed(message)) = error.downcast_ref::<InstantiateFailed>() {
                    return Err(AgentCallError::Instantiate { role, message: message.clone() });
                }
                if let Some(m) = error.downcast_ref::<MemoryExceeded>() {
                    let source = MemoryExceeded { desired: m.desired, limit: m.limit };
                    return Err(AgentCallError::MemoryLimit { role, source });
                }
                let message = match error.downcast_ref::<wasmtime::Trap>() {
                    Some(trap) => format!("{trap}"),
                    None => format!("{error:#}"),
                };
                return Err(AgentCallError::Trap { role, message });
            }
            Ok(Ok(Err(error))) => {
                return Err(AgentCallError::Agent { role, error: convert::agent_error_from(error) });
            }
            Ok(Ok(Ok(value))) => value,
        };
        let size = size(&value) + store.data().log.logged_bytes;
        if size > limits.output_bytes {
            return Err(AgentCallError::OutputLimit { role, size, limit: limits.output_bytes });
        }
        Ok(value)
    }

    pub(crate) async fn answer(
        &self,
        agent: &Agent,
        ctx: &CallContext,
        request: &sdk::PlanRequest,
    ) -> Result<String, AgentCallError> {
        let RolePre::Planner(pre) = &agent.pre else {
            return Err(AgentCallError::WrongRole { expected: Role::Planner, actual: agent.role });
        };
        let _slot = self.slot(ctx).await?;
        let mut store = self.store(agent, ctx);
        let request = convert::plan_request(request);
        let result = tokio::time::timeout(self.limits.wall, async {
            let instance = pre.instantiate_async(&mut store).await.map_err(instantiating)?;
            instance.call_answer(&mut store, &request).await
        })
        .await;
        self.outcome(agent, &store, result, String::len)
    }

    pub async fn plan(
        &self,
        agent: &Agent,
        ctx: &CallContext,
        request: &sdk::PlanRequest,
    ) -> Result<sdk::Plan, AgentCallError> {
        let RolePre::Planner(pre) = &agent.pre else {
            return Err(AgentCallError::WrongRole { expected: Role::Planner, actual: agent.role });
        };
        let _slot = self.slot(ctx).await?;
        let mut store = self.store(agent, ctx);
        let request = convert::plan_request(request);
        let result = tokio::time::timeout(self.limits.wall, async {
            let instance = pre.instantiate_async(&mut store).await.map_err(instantiating)?;
            instance.call_plan(&mut store, &request).await
        })
        .await;
        let plan = self.outcome(agent, &store, result, plan_size)?;
        Ok(convert::plan_from(plan))
    }

    pub async fn generate(
        &self,
        agent: &Agent,
        ctx: &CallContext,
        request: &sdk::GenerateRequest,
    ) -> Result<Vec<sdk::ProjectFile>, AgentCallError> {
        let RolePre::Generator(pre) = &agent.pre else {
            return Err(AgentCallError::WrongRole { expected: Role::Generator, actual: agent.role });
        };
        let _slot = self.slot(ctx).await?;
        let mut store = self.store(agent, ctx);
        let request = convert::generate_request(request);
        let result = tokio::time::timeout(self.limits.wall, async {
            let instance = pre.instantiate_async(&mut store).await.map_err(instantiating)?;
            instance.call_generate(&mut store, &request).await
        })
        .await;
        let files = self.outcome(agent, &store, result, |f| files_size(f))?;
        Ok(convert::files_from(files))
    }

    pub async fn validate(
        &self,
        agent: &Agent,
        ctx: &CallContext,
        request: &sdk::ValidateRequest,
    ) -> Result<sdk::ValidationReport, AgentCallError> {
        let RolePre::Validator(pre) = &agent.pre else {
            return Err(AgentCallError::WrongRole { expected: Role::Validator, actual: agent.role });
        };
        let _slot = self.slot(ctx).await?;
        let mut store = self.store(agent, ctx);
        let request = convert::validate_request(request);
        let result = tokio::time::timeout(self.limits.wall, async {
            let instance = pre.instantiate_async(&mut store).await.map_err(instantiating)?;
            instance.call_validate(&mut store, &request).await
        })
        .await;
        let report = self.outcome(agent, &store, result, |r| {
            r.errors.iter().chain(&r.warnings).map(|d| d.file.len() + d.message.len() + 16).sum()
        })?;
        Ok(convert::report_from(report))
    }

    pub async fn fix(
        &self,
        agent: &Agent,
        ctx: &CallContext,
        request: &sdk::FixRequest,
    ) -> Result<Vec<sdk::ProjectFile>, AgentCallError> {
        let RolePre::Fixer(pre) = &agent.pre else {
            return Err(AgentCallError::WrongRole { expected: Role::Fixer, actual: agent.role });
        };
        let _slot = self.slot(ctx).await?;
        let mut store = self.store(agent, ctx);
        let request = convert::fix_request(request);
        let result = tokio::time::timeout(self.limits.wall, async {
            let instance = pre.instantiate_async(&mut store).await.map_err(instantiating)?;
            instance.call_fix(&mut store, &request).await
        })
        .await;
        let files = self.outcome(agent, &store, result, |f| files_size(f))?;
        Ok(convert::files_from(files))
    }
}

pub(super) fn files_size(files: &[bindings::types::ProjectFile]) -> usize {
    files.iter().map(|f| f.path.len() + f.content.len()).sum()
}

pub(super) fn plan_size(plan: &bindings::types::Plan) -> usize {
    let steps: usize = plan.steps.iter().map(|s| s.target.len() + s.path.len() + s.description.len() + 16).sum();
    plan.intent.len()
        + plan.reasoning.len()
        + plan.reply.as_ref().map_or(0, String::len)
        + plan.clarification_question.as_ref().map_or(0, String::len)
        + plan.dependencies_needed.iter().map(String::len).sum::<usize>()
        + steps
}

/// Marker for the interrupt the epoch callback raises when a call is cancelled.
#[derive(Debug, thiserror::Error)]
#[error("cancelled")]
pub(super) struct Interrupted;

/// Marker for a failure to create the instance (the pool is full, say), as opposed to a crash.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(super) struct InstantiateFailed(String);

pub(super) fn instantiating(e: wasmtime::Error) -> wasmtime::Error {
    InstantiateFailed(format!("{e:#}")).into()
}

/// Marker for the interrupt the epoch callback raises when the CPU budget is spent.
#[derive(Debug, thiserror::Error)]
#[error("cpu limit")]
pub(super) struct CpuExhausted;

//! The `llm` capability: the only way an agent reaches a model.
//!
//! Every call goes through the run's budget (model calls and tokens, enforced by the host whatever
//! the agent does), stops when the run is cancelled, and forwards streamed tokens to the client.
//! This is where credits are reserved and charged once accounts exist.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use blink_agent_sdk::{Completion, CompletionRequest, LlmError, StreamChannel, Usage};
use tokio_util::sync::CancellationToken;

use crate::credits::{CreditError, Credits, Reservation};
use crate::llm::{ChatRequest, LlmProvider};

/// What one run may spend on models, and what it has spent.
#[derive(Debug)]
pub struct RunBudget {
    max_calls: u32,
    max_tokens: u64,
    calls: AtomicU32,
    /// Tokens held by calls in flight.
    reserved: AtomicU64,
    prompt_tokens: AtomicU64,
    completion_tokens: AtomicU64,
}

impl RunBudget {
    pub fn new(max_calls: u32, max_tokens: u64) -> Self {
        Self {
            max_calls,
            max_tokens,
            calls: AtomicU32::new(0),
            reserved: AtomicU64::new(0),
            prompt_tokens: AtomicU64::new(0),
            completion_tokens: AtomicU64::new(0),
        }
    }

    pub(crate) fn calls(&self) -> u32 {
        self.calls.load(Ordering::SeqCst)
    }

    pub(crate) fn tokens(&self) -> u64 {
        self.prompt_tokens.load(Ordering::SeqCst) + self.completion_tokens.load(Ordering::SeqCst)
    }

    pub(crate) fn usage(&self) -> (u64, u64) {
        (self.prompt_tokens.load(Ordering::SeqCst), self.completion_tokens.load(Ordering::SeqCst))
    }

    /// Takes one call and `reserve` tokens from the budget, or says why not. Concurrent calls
    /// each hold their reservation, so together they cannot overspend.
    fn begin_call(&self, reserve: u64) -> Result<(), LlmError> {
        self.calls
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| (n < self.max_calls).then_some(n + 1))
            .map_err(|_| LlmError::BudgetExceeded(format!("this run made its {} model calls", self.max_calls)))?;
        let reserved = self.reserved.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |r| {
            (self.tokens() + r + reserve <= self.max_tokens).then_some(r + reserve)
        });
        if reserved.is_err() {
            self.calls.fetch_sub(1, Ordering::SeqCst);
            return Err(LlmError::BudgetExceeded(format!("this run used its {} model tokens", self.max_tokens)));
        }
        Ok(())
    }

    /// Tokens neither used nor reserved.
    fn available(&self) -> u64 {
        self.max_tokens.saturating_sub(self.tokens() + self.reserved.load(Ordering::SeqCst))
    }

    /// Releases a call's reservation and charges what it used.
    fn settle(&self, reserved: u64, usage: &Usage) {
        self.prompt_tokens.fetch_add(u64::from(usage.prompt_tokens), Ordering::SeqCst);
        self.completion_tokens.fetch_add(u64::from(usage.completion_tokens), Ordering::SeqCst);
        self.reserved.fetch_sub(reserved, Ordering::SeqCst);
    }
}

/// What a call cut short used: its prompt and the streamed text, at about four characters a token.
fn cut_short(prompt_tokens: u32, received: usize) -> Usage {
    Usage { prompt_tokens, completion_tokens: u32::try_from(received.div_ceil(4)).unwrap_or(u32::MAX) }
}

/// Tokens held for an answer whose length the agent did not cap.
const DEFAULT_ANSWER_RESERVE: u64 = 16_384;

/// Receives the tokens of streamed calls, as they arrive.
pub(crate) type StreamSink = Arc<dyn Fn(StreamChannel, &str) + Send + Sync>;

/// Whose credits pay for a run's model calls.
#[derive(Clone)]
pub(crate) struct Meter {
    pub(crate) credits: Credits,
    pub(crate) user: String,
    pub(crate) run: String,
}

/// One run's access to models, shared by every agent call of that run.
#[derive(Clone)]
pub struct LlmCapability {
    provider: LlmProvider,
    budget: Arc<RunBudget>,
    cancel: CancellationToken,
    sink: Option<StreamSink>,
    meter: Option<Meter>,
    /// Set when a call failed because the credit database could not be reached, so the run can
    /// report that rather than a model outage.
    database_failed: Arc<std::sync::atomic::AtomicBool>,
}

impl LlmCapability {
    pub fn new(
        provider: LlmProvider,
        budget: Arc<RunBudget>,
        cancel: CancellationToken,
        sink: Option<StreamSink>,
    ) -> Self {
        Self { provider, budget, cancel, sink, meter: None, database_failed: Arc::default() }
    }

    /// Charges every call to `meter`'s user: credits are reserved before the call and settled
    /// after it.
    pub(crate) fn metered(mut self, meter: Meter) -> Self {
        self.meter = Some(meter);
        self
    }

    /// Whether a call of this run failed on the credit database.
    pub(crate) fn database_failed(&self) -> bool {
        self.database_failed.load(Ordering::SeqCst)
    }

    pub(crate) async fn complete(&self, request: CompletionRequest) -> Result<Completion, LlmError> {
        if self.cancel.is_cancelled() {
            return Err(LlmError::Cancelled);
        }
        let Some(default_model) = self.provider.default_model() else {
            return Err(LlmError::Unavailable(crate::llm::UNCONFIGURED.into()));
        };
        let prompt_estimate = request.messages.iter().map(|m| m.content.len() as u64 + 4).sum::<u64>().div_ceil(4);
        // Without an explicit cap the model's own limit applies; the reservation then assumes a
        // long answer, and the request is capped only when the budget is nearly spent.
        let left = self.budget.available().saturating_sub(prompt_estimate);
        let mut answer_cap = match request.max_tokens {
            Some(n) => Some(u64::from(n).min(left)),
            None if left < DEFAULT_ANSWER_RESERVE => Some(left),
            None => None,
        };
        if answer_cap == Some(0) {
            return Err(LlmError::BudgetExceeded("this run has no model tokens left".into()));
        }
        let reserve = prompt_estimate + answer_cap.unwrap_or(DEFAULT_ANSWER_RESERVE);
        let model = request.model.filter(|m| !m.trim().is_empty()).unwrap_or_else(|| default_model.to_string());
        self.budget.begin_call(reserve)?;
        let credits = match &self.meter {
            None => None,
            Some(meter) => match reserve_call(meter, &model, prompt_estimate, &mut answer_cap).await {
                Ok(reservation) => Some((meter, reservation)),
                Err(e) => {
                    self.budget.settle(reserve, &Usage::default());
                    return Err(match e {
                        CreditError::Insufficient { .. } => LlmError::InsufficientCredits("Credits exhausted.".into()),
                        CreditError::Db(e) => {
                            self.database_failed.store(true, Ordering::SeqCst);
                            LlmError::Unavailable(format!("cannot check credits: {e}"))
                        }
                    });
                }
            },
        };
        let chat = ChatRequest {
            model: model.clone(),
            messages: request.messages,
            temperature: request.temperature.map(|t| t.clamp(0.0, 2.0)),
            max_tokens: answer_cap.map(|n| u32::try_from(n).unwrap_or(u32::MAX)),
            json_mode: request.json_mode,
        };
        // Every call streams from the vendor, whether or not the client sees it: a call cut short
        // (the client left, the run was cancelled, the stream broke) is billed by the vendor for
        // what it sent, and only a streamed call tells the host how much that was.
        let mut received = 0usize;
        let mut forward = |delta: &str| {
            received += delta.len();
            if let (Some(sink), Some(channel)) = (&self.sink, request.stream_to) {
                sink(channel, delta);
            }
        };
        let result = tokio::select! {
            _ = self.cancel.cancelled() => Err(LlmError::Cancelled),
            r = self.provider.complete(&chat, Some(&mut forward)) => r,
        };
        let prompt_tokens = u32::try_from(prompt_estimate).unwrap_or(u32::MAX);
        let used = match &result {
            Ok(completion) => completion.usage.clone(),
            // Cut short once the vendor had the prompt: the prompt and what was streamed, as
            // estimates, since the vendor's own count never arrived.
            Err(LlmError::Cancelled) => cut_short(prompt_tokens, received),
            Err(_) if received > 0 => cut_short(prompt_tokens, received),
            // Refused or unreachable before any answer: the vendor billed nothing, neither do we.
            Err(_) => Usage::default(),
        };
        // The run's own budget stays conservative: a failed call still counts its prompt, so a
        // plugin retrying a failing model cannot loop for free.
        let status = match &result {
            Ok(_) => "ok",
            Err(LlmError::Cancelled) => "cancelled",
            Err(_) => "error",
        };
        crate::telemetry::model_call(&model, status, used.prompt_tokens.into(), used.completion_tokens.into());
        let counted = if used == Usage::default() { cut_short(prompt_tokens, 0) } else { used.clone() };
        self.budget.settle(reserve, &counted);
        if let Some((meter, reservation)) = credits {
            let settled = if used == Usage::default() {
                meter.credits.release(&meter.user, &meter.run, &model, reservation).await
            } else {
                meter
                    .credits
                    .settle(
                        &meter.user,
                        &meter.run,
                        &model,
                        reservation,
                        used.prompt_tokens.into(),
                        used.completion_tokens.into(),
                    )
                    .await
                    .map(|cost| crate::telemetry::credits_charged(&model, cost))
            };
            if let Err(e) = settled {
                // The reservation stays taken: the user is never undercharged by an outage.
                tracing::error!(user = %meter.user, run = %meter.run, "settling credits failed: {e}");
            }
        }
        result
    }
}

/// Reserves the call's worst case. When the balance does not cover it, the answer is capped at
/// what the balance does cover, so a user's last credits stay spendable; below the configured
/// useful minimum the call is refused. The balance never goes below zero either way: the capped
/// call's reservation is taken only if the balance covers it.
async fn reserve_call(
    meter: &Meter,
    model: &str,
    prompt: u64,
    answer_cap: &mut Option<u64>,
) -> Result<Reservation, CreditError> {
    let pricing = meter.credits.pricing();
    let wanted = answer_cap.unwrap_or(DEFAULT_ANSWER_RESERVE);
    match meter.credits.reserve(&meter.user, &meter.run, model, pricing.cost(model, prompt, wanted)).await {
        Err(CreditError::Insufficient { needed }) => {
            let balance = meter.credits.balance(&meter.user).await?;
            let affordable = pricing.answer_tokens_within(model, prompt, balance).min(wanted);
            if affordable < meter.credits.min_answer_tokens() {
                return Err(CreditError::Insufficient { needed });
            }
            let reservation =
                meter.credits.reserve(&meter.user, &meter.run, model, pricing.cost(model, prompt, affordable)).await?;
            *answer_cap = Some(affordable);
            Ok(reservation)
        }
        other => other,
    }
}

/// The `llm` import of one agent call: the run's capability, and which agent calls it (for the log).
pub(crate) struct LlmImport {
    pub(crate) capability: LlmCapability,
    pub(crate) role: super::Role,
    pub(crate) version: Arc<str>,
}

impl super::bindings::llm::Host for LlmImport {
    async fn complete(
        &mut self,
        request: super::bindings::llm::CompletionRequest,
    ) -> Result<super::bindings::llm::Completion, super::bindings::types::LlmError> {
        use super::bindings::llm;
        let request = CompletionRequest {
            messages: request.messages.into_iter().map(super::convert::message_from).collect(),
            temperature: request.temperature,
            max_tokens: request.max_tokens,
            json_mode: request.json_mode,
            model: request.model,
            stream_to: request.stream_to.map(|c| match c {
                llm::StreamChannel::Thinking => StreamChannel::Thinking,
                llm::StreamChannel::Conversation => StreamChannel::Conversation,
            }),
        };
        match self.capability.complete(request).await {
            Ok(c) => Ok(llm::Completion {
                content: c.content,
                model: c.model,
                usage: llm::Usage {
                    prompt_tokens: c.usage.prompt_tokens,
                    completion_tokens: c.usage.completion_tokens,
                },
                truncated: c.truncated,
            }),
            Err(e) => {
                tracing::debug!(role = %self.role, version = %self.version, error = %e, "model call failed");
                Err(super::convert::llm_error(e))
            }
        }
    }
}

//! The host's metrics, as Prometheus scrapes them: every name in this one file, label values
//! bounded so no caller (a plugin choosing model names, say) can grow the series without end,
//! and the text rendered for `/metrics`. Domains report through the functions here.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Latency buckets, in seconds: a health check to a production build.
const SECONDS: &[f64] = &[0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 180.0];

/// Distinct values one label may take before further ones count as `other`.
const MAX_VALUES: usize = 64;

/// Starts recording. Once per process; a process that already has a recorder (none here, but
/// a library must not panic on it) keeps it and renders nothing of its own.
pub(crate) fn install() {
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new().set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS);
        match builder.and_then(|b| b.install_recorder()) {
            Ok(handle) => Some(handle),
            Err(e) => {
                tracing::warn!("metrics are not recorded: {e}");
                None
            }
        }
    });
}

/// The Prometheus text exposition of every metric.
pub(crate) fn render() -> String {
    match HANDLE.get() {
        Some(Some(handle)) => {
            handle.run_upkeep();
            handle.render()
        }
        _ => String::new(),
    }
}

/// `value`, or `other` once `label` has taken [`MAX_VALUES`] distinct values.
fn bounded(label: &'static str, value: &str) -> String {
    static SEEN: OnceLock<Mutex<HashMap<&'static str, HashSet<String>>>> = OnceLock::new();
    let mut seen = SEEN.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    let values = seen.entry(label).or_default();
    if values.contains(value) || (values.len() < MAX_VALUES && values.insert(value.to_string())) {
        value.to_string()
    } else {
        "other".to_string()
    }
}

/// An HTTP request: its route template (never the raw path), method and status.
pub(crate) fn http(method: &str, route: &str, status: u16, took: Duration) {
    let method = match method {
        "GET" | "POST" | "PUT" | "DELETE" | "OPTIONS" | "HEAD" | "PATCH" => method.to_string(),
        _ => "other".to_string(),
    };
    let route = route.to_string();
    counter!("blink_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status.to_string())
        .increment(1);
    histogram!("blink_http_request_duration_seconds", "method" => method, "route" => route).record(took);
}

/// A run that ended, by its outcome's kind (`complete`, `failed`, `cancelled`, …).
pub(crate) fn run(outcome: &str) {
    counter!("blink_runs_total", "outcome" => bounded("outcome", outcome)).increment(1);
}

/// A model call: how it ended and the tokens it used.
pub(crate) fn model_call(model: &str, status: &'static str, prompt_tokens: u64, completion_tokens: u64) {
    let model = bounded("model", model);
    counter!("blink_model_calls_total", "model" => model.clone(), "status" => status).increment(1);
    counter!("blink_model_tokens_total", "model" => model.clone(), "kind" => "prompt").increment(prompt_tokens);
    counter!("blink_model_tokens_total", "model" => model, "kind" => "completion").increment(completion_tokens);
}

/// Micro-credits a model call cost its user.
pub(crate) fn credits_charged(model: &str, micro: i64) {
    counter!("blink_credits_charged_micro_total", "model" => bounded("model", model))
        .increment(u64::try_from(micro).unwrap_or(0));
}

/// An agent call: role, component version, how it ended, how long it took.
pub(crate) fn agent_call(role: &str, version: &str, outcome: &'static str, took: Duration) {
    let version = bounded("version", version);
    counter!("blink_agent_calls_total", "role" => role.to_string(), "version" => version.clone(), "outcome" => outcome)
        .increment(1);
    histogram!("blink_agent_call_duration_seconds", "role" => role.to_string(), "version" => version).record(took);
}

/// A role's active agent changed (an upload, an activation, a rollback).
pub(crate) fn swap(role: &str) {
    counter!("blink_agent_swaps_total", "role" => role.to_string()).increment(1);
}

/// An operator's change the audit log could not record (the change itself was made).
pub(crate) fn audit_failed() {
    counter!("blink_audit_failures_total").increment(1);
}

/// The share of runs a role's canary serves (0 without one).
pub(crate) fn canary_share(role: &str, share: f64) {
    gauge!("blink_canary_share", "role" => role.to_string()).set(share);
}

/// A preview request: `start` when it started the project's sandbox, `update` when one served.
pub(crate) fn preview(kind: &'static str, took: Duration) {
    histogram!("blink_preview_duration_seconds", "kind" => kind).record(took);
}

/// Sandboxes running for projects, and warm ones waiting.
pub(crate) fn sandboxes(running: usize, warm: usize) {
    gauge!("blink_sandboxes", "state" => "running").set(running as f64);
    gauge!("blink_sandboxes", "state" => "warm").set(warm as f64);
}

/// A production build, deploy or git operation, by how it ended.
pub(crate) fn operation<T, E>(kind: &'static str, result: &Result<T, E>, took: Duration) {
    let outcome = if result.is_ok() { "ok" } else { "error" };
    counter!("blink_operations_total", "kind" => kind, "outcome" => outcome).increment(1);
    histogram!("blink_operation_duration_seconds", "kind" => kind).record(took);
}

/// The database pool: connections open and idle.
pub(crate) fn database_pool(open: u32, idle: usize) {
    gauge!("blink_db_connections", "state" => "idle").set(idle as f64);
    gauge!("blink_db_connections", "state" => "busy").set((f64::from(open) - idle as f64).max(0.0));
}

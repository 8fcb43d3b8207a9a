//! The host's benchmark report: `cargo bench -p blink-host --bench report` writes
//! `target/bench-report.md` (or `$BLINK_BENCH_REPORT`).
//!
//! Every figure is a ratio against a baseline measured in the same run on the same machine:
//! 1. each built-in agent called as a component (fresh store + instantiate + call + drop, pooling
//!    allocator) against the same Rust function called natively;
//! 2. the host's overhead per orchestration through the real binary, with a model that answers
//!    instantly (sequential latency, and throughput with concurrent clients);
//! 3. the credit check (reserve + settle) per model call on SQLite and PostgreSQL, against the
//!    host's overhead per model call;
//! 4. a six-file plan generated concurrently against sequentially, the model answering each call
//!    after 200 ms;
//! 5. one model call per file against one call for all files, with a model that also takes time
//!    per generated token, comparing wall time and tokens;
//! 6. plugins: upload to first run served by the new version (compile and activation), with the
//!    compile cache cold and warm, and the runtime's per-call overhead on a trivial agent against
//!    the same function called natively;
//! 7. sandboxes (real Docker engine and image): a cold preview through the host against a plain
//!    `docker run` of the same image and command, update to HMR message, `vite build` in the
//!    sandbox against the same build on the machine, and an idle sandbox's memory;
//! 8. git: commit + push of a 200-file project and pull of a 50-file change through the host,
//!    against the `git` command line doing the same on the same server;
//! 10. density: N previews (default 50) running at once on one host: start and HMR latency at N
//!     against N = 1, memory per preview and the host's own;
//! 11. today's frontend's Node-backend routes: `/dev/start` until Chromium shows the page and
//!     `/dev/sync` until the open page shows the change, against `/api/preview` doing the same;
//! 12. many hosts: runs/s, preview updates and page loads with 1, 2 and 3 hosts on one PostgreSQL,
//!     clients spread over them in turn, against one host.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use blink_agent_sdk::{self as sdk, ChatMessage, Completion, CompletionRequest, LlmError, LogLevel, Usage};
use blink_host::llm::{ChatRequest, InProcessModel, LlmProvider, estimate_usage};
use blink_host::runtime::llm::{LlmCapability, RunBudget};
use blink_host::runtime::{AgentRuntime, CallContext, CallLimits, Role};
use blink_test_support::fake_llm::{FakeLlm, Rule};
use blink_test_support::host::Blink;
use blink_test_support::{jwt, sse};
use futures::StreamExt;
use hdrhistogram::Histogram;
use serde_json::{Value, json};

mod agents;
mod cluster;
mod common;
mod credits;
mod density;
mod deploys;
mod generation;
mod git;
mod legacy;
mod orchestrations;
mod plugins;
mod sandboxes;

use agents::agent_overhead;
use cluster::cluster;
use common::*;
use credits::credit_overhead;
use density::density;
use deploys::deploys;
use generation::concurrent_generation;
use generation::generation_modes;
use git::git_ops;
use legacy::legacy_routes;
use orchestrations::orchestration_overhead;
use plugins::plugins;
use sandboxes::sandboxes;

const BIN: &str = env!("CARGO_BIN_EXE_blink");

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let mut report = String::from("# Blink host benchmark report\n\n");
    let _ = writeln!(
        report,
        "Machine: {} cores. Command: `cargo bench -p blink-host --bench report`.\n",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    // `BLINK_BENCH_ONLY=2,6` runs only those sections (section 3 needs 2's figure: it runs 2 too).
    let only: Option<Vec<u32>> =
        std::env::var("BLINK_BENCH_ONLY").ok().map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect());
    let wanted = |n: u32| only.as_ref().is_none_or(|o| o.contains(&n) || (n == 2 && o.contains(&3)));
    runtime.block_on(async {
        if wanted(1) {
            agent_overhead(&mut report).await;
        }
        if wanted(2) {
            let per_call_ms = orchestration_overhead(&mut report).await;
            if wanted(3) {
                credit_overhead(&mut report, per_call_ms).await;
            }
        }
        if wanted(4) {
            concurrent_generation(&mut report).await;
        }
        if wanted(5) {
            generation_modes(&mut report).await;
        }
        if wanted(6) {
            plugins(&mut report).await;
        }
        if wanted(7) {
            sandboxes(&mut report).await;
        }
        if wanted(8) {
            git_ops(&mut report).await;
        }
        if wanted(9) {
            deploys(&mut report).await;
        }
        if wanted(10) {
            density(&mut report).await;
        }
        if wanted(11) {
            legacy_routes(&mut report).await;
        }
        if wanted(12) {
            cluster(&mut report).await;
        }
    });
    let path = std::env::var("BLINK_BENCH_REPORT")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../target/bench-report.md").to_string());
    std::fs::write(&path, &report).unwrap();
    println!("{report}\nReport written to {path}");
}

pub(crate) fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).unwrap()
}

pub(crate) fn us(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64
}

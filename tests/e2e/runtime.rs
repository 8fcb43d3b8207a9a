//! The component runtime against hostile components (built from `tests/components`): a call that
//! loops, grabs memory, floods its output or traps fails alone, with an error naming the limit,
//! while a normal call running at the same time succeeds.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use blink_agent_sdk::{ProjectFile, RuntimeTarget, ValidateRequest};
use blink_host::llm::LlmProvider;
use blink_host::runtime::llm::{LlmCapability, RunBudget};
use blink_host::runtime::{Agent, AgentCallError, AgentRuntime, CallContext, CallLimits, Role};
use tokio_util::sync::CancellationToken;

fn runtime(instances: u32) -> (AgentRuntime, tempfile::TempDir) {
    let cache = tempfile::tempdir().unwrap();
    let limits = CallLimits {
        memory_bytes: 64 << 20,
        cpu: Duration::from_millis(500),
        wall: Duration::from_secs(20),
        output_bytes: 1 << 20,
    };
    (AgentRuntime::new(cache.path(), limits, instances).unwrap(), cache)
}

fn context(mode: Option<&str>) -> CallContext {
    let cancel = CancellationToken::new();
    let llm = LlmCapability::new(LlmProvider::Unconfigured, Arc::new(RunBudget::new(10, 10_000)), cancel.clone(), None);
    let mut config = BTreeMap::new();
    if let Some(mode) = mode {
        config.insert(Role::Validator, Arc::new(BTreeMap::from([("mode".to_string(), mode.to_string())])));
    }
    CallContext { llm, cancel, config: Arc::new(config) }
}

fn project() -> ValidateRequest {
    ValidateRequest {
        files: vec![ProjectFile::new(
            "App.tsx",
            "function App() {\n  return <h1>Hi</h1>;\n}\nReactDOM.createRoot(document.getElementById('root')).render(<App />);\n",
        )],
        target: RuntimeTarget::Browser,
        ..Default::default()
    }
}

fn hostile(runtime: &AgentRuntime) -> Arc<Agent> {
    let bytes = std::fs::read(blink_test_support::HOSTILE_VALIDATOR).unwrap();
    runtime.load(Role::Validator, &bytes).unwrap()
}

/// Runs the hostile `mode` and, concurrently, the built-in validator on a valid project.
async fn hostile_call_beside_a_normal_one(mode: &str) -> AgentCallError {
    let (runtime, _cache) = runtime(8);
    let bad = hostile(&runtime);
    let good = runtime.active(Role::Validator);
    let request = project();
    let (bad_ctx, good_ctx) = (context(Some(mode)), context(None));
    let (bad_result, good_result) =
        tokio::join!(runtime.validate(&bad, &bad_ctx, &request), runtime.validate(&good, &good_ctx, &request));
    let report = good_result.expect("the normal call beside a hostile one must succeed");
    assert!(report.errors.is_empty(), "{report:?}");
    assert_eq!(report.confidence_score, 100);
    // The host is untouched: the same hostile component behaves when asked to.
    let fine = runtime.validate(&bad, &context(Some("ok")), &request).await.unwrap();
    assert_eq!(fine.confidence_score, 1);
    bad_result.expect_err("the hostile call must fail")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_infinite_loop_hits_the_cpu_limit() {
    let error = hostile_call_beside_a_normal_one("loop").await;
    assert!(matches!(error, AgentCallError::CpuLimit { role: Role::Validator, .. }), "{error}");
    assert_eq!(error.to_string(), "the validator agent used more than its 500ms of CPU time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memory_bomb_hits_the_memory_limit() {
    let error = hostile_call_beside_a_normal_one("memory").await;
    match &error {
        AgentCallError::MemoryLimit { source, .. } => {
            assert_eq!(source.limit, 64 << 20);
            assert!(source.desired > source.limit);
        }
        other => panic!("expected a memory limit error, got {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_output_hits_the_output_limit() {
    let error = hostile_call_beside_a_normal_one("output").await;
    match error {
        AgentCallError::OutputLimit { size, limit, .. } => {
            assert_eq!(limit, 1 << 20);
            assert!(size >= 16 << 20);
        }
        other => panic!("expected an output limit error, got {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trap_fails_only_its_own_call() {
    let error = hostile_call_beside_a_normal_one("trap").await;
    assert!(matches!(error, AgentCallError::Trap { role: Role::Validator, .. }), "{error}");
    assert!(error.to_string().contains("crashed"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_run_interrupts_a_busy_agent() {
    let (runtime, _cache) = runtime(4);
    let bad = hostile(&runtime);
    let ctx = context(Some("loop"));
    let cancel = ctx.cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        cancel.cancel();
    });
    let error = runtime.validate(&bad, &ctx, &project()).await.unwrap_err();
    assert!(matches!(error, AgentCallError::Cancelled), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_wait_for_a_free_instance_slot_and_slots_come_back() {
    let (runtime, _cache) = runtime(2);
    let bad = hostile(&runtime);
    let request = project();
    // Two looping calls hold both slots until their CPU limit; a third call waits for one.
    let (one, two, three) = (context(Some("loop")), context(Some("loop")), context(Some("ok")));
    let timed = |ctx| {
        let (runtime, bad, request) = (&runtime, &bad, &request);
        async move {
            let result = runtime.validate(bad, ctx, request).await;
            (result, std::time::Instant::now())
        }
    };
    let third = async {
        tokio::time::sleep(Duration::from_millis(150)).await;
        timed(&three).await
    };
    let ((a, a_done), (b, b_done), (c, c_done)) = tokio::join!(timed(&one), timed(&two), third);
    assert!(matches!(a, Err(AgentCallError::CpuLimit { .. })));
    assert!(matches!(b, Err(AgentCallError::CpuLimit { .. })));
    c.expect("the waiting call runs once a slot is free");
    assert!(c_done >= a_done.min(b_done), "the third call ran before a slot was free");

    // A call waiting for a slot stops when its run is cancelled.
    let (hold, hold2, waiter) = (context(Some("loop")), context(Some("loop")), context(Some("ok")));
    let cancel = waiter.cancel.clone();
    let (_, _, waited) =
        tokio::join!(runtime.validate(&bad, &hold, &request), runtime.validate(&bad, &hold2, &request), async {
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(150)).await;
                cancel.cancel();
            });
            tokio::time::sleep(Duration::from_millis(50)).await;
            runtime.validate(&bad, &waiter, &request).await
        });
    assert!(matches!(waited, Err(AgentCallError::Cancelled)), "{waited:?}");

    // Slots are returned when calls end, however they ended.
    for _ in 0..20 {
        runtime.validate(&bad, &context(Some("ok")), &request).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_for_another_role_is_refused_at_load() {
    let (runtime, _cache) = runtime(2);
    let bytes = std::fs::read(blink_test_support::HOSTILE_VALIDATOR).unwrap();
    let error = runtime.load(Role::Planner, &bytes).err().expect("a validator is not a planner");
    assert!(format!("{error:#}").contains("planner world"), "{error:#}");
    let error = runtime.load(Role::Validator, b"not wasm").err().unwrap();
    assert!(format!("{error:#}").contains("compiling"), "{error:#}");
}

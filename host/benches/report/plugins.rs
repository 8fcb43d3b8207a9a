//! Section 6 of the benchmark report: Plugins: upload to first run, and the runtime's overhead on a trivial agent.

use super::agents::{APP, FOOTER, instant_model};
use super::orchestrations::{body, two_file_rules};
use super::*;

/// What the hostile test validator does when asked nothing special: count the files.
fn trivial_validate(request: &sdk::ValidateRequest) -> sdk::ValidationReport {
    sdk::ValidationReport {
        errors: Vec::new(),
        warnings: Vec::new(),
        confidence_score: u8::try_from(request.files.len().min(100)).unwrap_or(100),
    }
}

struct UploadRun {
    compile_ms: f64,
    activation_ms: f64,
    upload_ms: f64,
    first_run_ms: f64,
}

/// Uploads `component` as the validator to a fresh host whose compile cache is `cache`, then
/// times the first run, checking that the new version served it.
async fn upload_then_run(component: &[u8], cache: &std::path::Path) -> UploadRun {
    const ADMIN: &str = "bench-admin";
    let llm = FakeLlm::start(two_file_rules()).await;
    let env = [
        ("BLINK_LLM_BASE_URL", llm.base_url()),
        ("BLINK_ADMIN_TOKEN", ADMIN.to_string()),
        ("BLINK_CACHE_DIR", cache.display().to_string()),
        ("BLINK_LOG", "warn".to_string()),
    ];
    let blink = Blink::start(BIN, &env).await;
    let client = reqwest::Client::new();
    let started = Instant::now();
    let response = client
        .post(format!("{}/api/admin/plugins/validator", blink.url))
        .bearer_auth(ADMIN)
        .body(component.to_vec())
        .send()
        .await
        .unwrap();
    let upload_ms = started.elapsed().as_secs_f64() * 1e3;
    let uploaded: Value = response.json().await.unwrap();
    let version = uploaded["version"]["version"].as_str().unwrap().to_string();
    let token = jwt::user_token("bench");
    let started = Instant::now();
    let response =
        client.post(format!("{}/api/orchestrator", blink.url)).bearer_auth(&token).json(&body()).send().await.unwrap();
    let run_id = response.headers()["x-blink-run-id"].to_str().unwrap().to_string();
    let text = response.text().await.unwrap();
    let first_run_ms = started.elapsed().as_secs_f64() * 1e3;
    assert_eq!(sse::events(&text).last().unwrap()["conversational"], false, "{text}");
    let mut served = Value::Null;
    for _ in 0..100 {
        let record: Value = client
            .get(format!("{}/api/runs/{run_id}", blink.url))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap_or(Value::Null);
        served = record["agents"]["validator"].clone();
        if !served.is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(served, json!(version), "the first run after the upload was not served by the new version");
    UploadRun {
        compile_ms: uploaded["compileMs"].as_f64().unwrap(),
        activation_ms: uploaded["activationMs"].as_f64().unwrap(),
        upload_ms,
        first_run_ms,
    }
}

pub(crate) async fn plugins(report: &mut String) {
    const REPEATS: usize = 3;
    let _ = writeln!(
        report,
        "## 6. Plugins
"
    );
    let _ = writeln!(
        report,
        "Upload of a validator over the admin API to a freshly started host, then the first run (two files, instant model) served by it; mean of {REPEATS}. Cold: an empty compile cache. Warm: the cache the cold upload filled (a restart, or the same bytes on another host sharing it).\n"
    );
    let _ = writeln!(
        report,
        "| component | size KiB | cache | compile ms | activation ms | upload total ms | first run ms | upload → first run served ms |"
    );
    let _ = writeln!(report, "|---|---|---|---|---|---|---|---|");
    let components = [
        ("trivial (tests/components/hostile)", std::fs::read(blink_test_support::HOSTILE_VALIDATOR).unwrap()),
        ("a11y (plugins/a11y-validator, oxc)", std::fs::read(blink_test_support::A11Y_VALIDATOR).unwrap()),
    ];
    for (name, bytes) in &components {
        let mut by_cache: Vec<(&str, Vec<UploadRun>)> = vec![("cold", Vec::new()), ("warm", Vec::new())];
        for _ in 0..REPEATS {
            let cache = tempfile::tempdir().unwrap();
            by_cache[0].1.push(upload_then_run(bytes, cache.path()).await);
            by_cache[1].1.push(upload_then_run(bytes, cache.path()).await);
        }
        for (cache, runs) in &by_cache {
            let mean = |f: &dyn Fn(&UploadRun) -> f64| runs.iter().map(f).sum::<f64>() / runs.len() as f64;
            let _ = writeln!(
                report,
                "| {name} | {} | {cache} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |",
                bytes.len() / 1024,
                mean(&|r| r.compile_ms),
                mean(&|r| r.activation_ms),
                mean(&|r| r.upload_ms),
                mean(&|r| r.first_run_ms),
                mean(&|r| r.upload_ms + r.first_run_ms),
            );
        }
    }

    // The runtime's own cost: a trivial export through a component against the same function.
    const WARMUP: usize = 100;
    const CALLS: usize = 5000;
    let cache = tempfile::tempdir().unwrap();
    let limits = CallLimits {
        memory_bytes: 256 << 20,
        cpu: Duration::from_secs(10),
        wall: Duration::from_secs(60),
        output_bytes: 8 << 20,
    };
    let runtime = AgentRuntime::new(cache.path(), limits, 16).unwrap();
    let trivial = runtime.load(Role::Validator, &components[0].1).unwrap();
    let provider = LlmProvider::InProcess { model: "m".into(), answer: instant_model() };
    let cancel = tokio_util::sync::CancellationToken::new();
    let ctx = CallContext {
        llm: LlmCapability::new(provider, Arc::new(RunBudget::new(u32::MAX, u64::MAX)), cancel.clone(), None),
        cancel,
        config: Arc::new(Default::default()),
    };
    let request = sdk::ValidateRequest {
        files: vec![sdk::ProjectFile::new("App.tsx", APP), sdk::ProjectFile::new("Footer.tsx", FOOTER)],
        ..Default::default()
    };
    let (mut native, mut component) = (histogram(), histogram());
    for i in 0..WARMUP + CALLS {
        let t = Instant::now();
        std::hint::black_box(trivial_validate(std::hint::black_box(&request)));
        if i >= WARMUP {
            native.record(t.elapsed().as_nanos().max(1) as u64).unwrap();
        }
    }
    for i in 0..WARMUP + CALLS {
        let t = Instant::now();
        let report = runtime.validate(&trivial, &ctx, &request).await.unwrap();
        assert_eq!(report.confidence_score, 2);
        if i >= WARMUP {
            component.record(t.elapsed().as_nanos().max(1) as u64).unwrap();
        }
    }
    let _ = writeln!(
        report,
        "\nPer-call overhead of the runtime: instantiate + call + teardown of a trivial validator export (it counts the files of a two-file request), against the same function called natively; {CALLS} calls after {WARMUP} warm-up.\n"
    );
    let _ = writeln!(report, "| | p50 µs | p99 µs |");
    let _ = writeln!(report, "|---|---|---|");
    let row = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1e3;
    let _ = writeln!(report, "| native | {:.3} | {:.3} |", row(&native, 0.5), row(&native, 0.99));
    let _ = writeln!(report, "| component | {:.1} | {:.1} |", row(&component, 0.5), row(&component, 0.99));
    let _ = writeln!(
        report,
        "| overhead | {:.1} | {:.1} |\n",
        row(&component, 0.5) - row(&native, 0.5),
        row(&component, 0.99) - row(&native, 0.99)
    );
}

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
//!     against N = 1, memory per preview and the host's own.

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
    });
    let path = std::env::var("BLINK_BENCH_REPORT")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../target/bench-report.md").to_string());
    std::fs::write(&path, &report).unwrap();
    println!("{report}\nReport written to {path}");
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).unwrap()
}

fn us(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64
}

// ---------------------------------------------------------------------------------------------
// 1. Agents: component call against native call.

const PLAN: &str = r#"{"intent": "add a footer", "risk_level": "low", "steps": [{"id": 1, "action": "create", "target": "Footer", "path": "Footer.tsx", "description": "A footer with links", "priority": "normal"}, {"id": 2, "action": "modify", "target": "App", "path": "App.tsx", "description": "Render the footer", "priority": "normal"}]}"#;
const FOOTER: &str = "function Footer() {\n  const links = ['About', 'Blog', 'Contact'];\n  return (\n    <footer className=\"p-6 border-t\">\n      {links.map((l) => (<a key={l} className=\"mr-4\">{l}</a>))}\n    </footer>\n  );\n}\n";
const APP: &str = "function App() {\n  const [n, setN] = React.useState(0);\n  return (\n    <div>\n      <button onClick={() => setN(n + 1)}>{n}</button>\n      <Footer />\n    </div>\n  );\n}\nReactDOM.createRoot(document.getElementById('root')).render(<App />);\n";

fn instant_model() -> InProcessModel {
    Arc::new(|request: &ChatRequest| {
        let text: String = request.messages.iter().map(|m| m.content.as_str()).collect();
        Ok(if text.contains("You plan changes") { PLAN.to_string() } else { format!("```tsx\n{FOOTER}```") })
    })
}

struct NativeHost {
    model: InProcessModel,
}

impl sdk::Host for NativeHost {
    fn complete(&self, request: CompletionRequest) -> Result<Completion, LlmError> {
        let chat = ChatRequest {
            model: "m".into(),
            messages: request.messages,
            temperature: request.temperature,
            max_tokens: request.max_tokens,
            json_mode: request.json_mode,
        };
        let content = (self.model)(&chat)?;
        let usage: Usage = estimate_usage(&chat.messages, &content);
        Ok(Completion { content, model: "m".into(), usage, truncated: false })
    }
    fn config(&self, key: &str) -> Option<String> {
        (key == "thinking").then(|| "off".to_string())
    }
    fn log(&self, _: LogLevel, _: &str) {}
}

async fn agent_overhead(report: &mut String) {
    const WARMUP: usize = 50;
    const CALLS: usize = 1000;
    let cache = tempfile::tempdir().unwrap();
    let limits = CallLimits {
        memory_bytes: 256 << 20,
        cpu: Duration::from_secs(10),
        wall: Duration::from_secs(60),
        output_bytes: 8 << 20,
    };
    let runtime = AgentRuntime::new(cache.path(), limits, 16).unwrap();
    let model = instant_model();
    let provider = LlmProvider::InProcess { model: "m".into(), answer: model.clone() };
    let cancel = tokio_util::sync::CancellationToken::new();
    let config = std::collections::BTreeMap::from([(
        Role::Planner,
        Arc::new(std::collections::BTreeMap::from([("thinking".to_string(), "off".to_string())])),
    )]);
    let ctx = CallContext {
        llm: LlmCapability::new(provider, Arc::new(RunBudget::new(u32::MAX, u64::MAX)), cancel.clone(), None),
        cancel,
        config: Arc::new(config),
    };
    let native = NativeHost { model };

    let plan_request = sdk::PlanRequest {
        messages: vec![ChatMessage::user("Add a footer with links")],
        file_tree: vec!["App.tsx".into()],
        project_context: APP.into(),
        ..Default::default()
    };
    let plan = sdk::planner::normalize(sdk::json::extract(PLAN).unwrap());
    let generate_request = sdk::GenerateRequest {
        messages: plan_request.messages.clone(),
        plan: plan.clone(),
        steps: vec![plan.steps[0].clone()],
        ..Default::default()
    };
    let files = vec![
        sdk::ProjectFile::new("Footer.tsx", FOOTER),
        sdk::ProjectFile::new("App.tsx", APP),
        sdk::ProjectFile::new(
            "Card.tsx",
            "function Card({ title }) {\n  return <div className=\"card\">{title}</div>;\n}\n",
        ),
    ];
    let validate_request = sdk::ValidateRequest { files: files.clone(), ..Default::default() };
    let broken = sdk::ProjectFile::new("Footer.tsx", FOOTER.replace("</footer>", "</foot>"));
    let fix_request = sdk::FixRequest {
        files: vec![broken, sdk::ProjectFile::new("App.tsx", APP)],
        diagnostics: vec![sdk::Diagnostic {
            kind: sdk::DiagnosticKind::Syntax,
            file: "Footer.tsx".into(),
            line: Some(6),
            message: "Expected `</footer>`".into(),
            severity: sdk::Severity::Critical,
        }],
        ..Default::default()
    };

    let _ = writeln!(report, "## 1. Agent call overhead: component against native\n");
    let _ = writeln!(
        report,
        "{CALLS} calls each after {WARMUP} warm-up calls; the model answers in-process and instantly. A component call is a fresh store, instantiation from the pooling allocator, the call, and drop.\n"
    );
    let _ = writeln!(
        report,
        "| agent | native p50 µs | native p99 µs | component p50 µs | component p99 µs | overhead p50 µs | ratio p50 |"
    );
    let _ = writeln!(report, "|---|---|---|---|---|---|---|");

    macro_rules! measure {
        ($name:literal, $native:expr, $component:expr) => {{
            let mut n = histogram();
            let mut c = histogram();
            for i in 0..WARMUP + CALLS {
                let t = Instant::now();
                std::hint::black_box($native);
                if i >= WARMUP {
                    n.record(t.elapsed().as_micros().max(1) as u64).unwrap();
                }
            }
            for i in 0..WARMUP + CALLS {
                let t = Instant::now();
                std::hint::black_box($component.await.unwrap());
                if i >= WARMUP {
                    c.record(t.elapsed().as_micros().max(1) as u64).unwrap();
                }
            }
            let _ = writeln!(
                report,
                "| {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.2}× |",
                $name,
                us(&n, 0.5),
                us(&n, 0.99),
                us(&c, 0.5),
                us(&c, 0.99),
                us(&c, 0.5) - us(&n, 0.5),
                us(&c, 0.5) / us(&n, 0.5)
            );
        }};
    }
    let agents = |role| runtime.active(role);
    measure!(
        "planner",
        sdk::planner::plan(&native, &plan_request).unwrap(),
        runtime.plan(&agents(Role::Planner), &ctx, &plan_request)
    );
    measure!(
        "generator",
        sdk::generator::generate(&native, &generate_request).unwrap(),
        runtime.generate(&agents(Role::Generator), &ctx, &generate_request)
    );
    measure!(
        "validator",
        sdk::validator::validate(&validate_request),
        runtime.validate(&agents(Role::Validator), &ctx, &validate_request)
    );
    measure!(
        "fixer",
        sdk::fixer::fix(&native, &fix_request).unwrap(),
        runtime.fix(&agents(Role::Fixer), &ctx, &fix_request)
    );
    let _ = writeln!(report);
}

// ---------------------------------------------------------------------------------------------
// 2. Orchestrations through the real binary.

fn two_file_rules() -> Vec<Rule> {
    vec![
        Rule::text(&["thinking out loud"], "A footer component, rendered by App."),
        Rule::text(&["You plan changes"], PLAN),
        Rule::text(&["Your part:\n- create Footer.tsx"], format!("```tsx\n{FOOTER}```")),
        Rule::text(&["Your part:\n- modify App.tsx"], format!("```tsx\n{APP}```")),
    ]
}

fn body() -> Value {
    json!({ "messages": [{ "role": "user", "content": "Add a footer with links" }], "projectContext": APP, "fileTree": "App.tsx" })
}

async fn run_once(client: &reqwest::Client, blink: &Blink, token: &str, body: &Value) -> Vec<(Duration, Value)> {
    let start = Instant::now();
    let response =
        client.post(format!("{}/api/orchestrator", blink.url)).bearer_auth(token).json(body).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let mut stream = response.bytes_stream();
    let mut buffer = String::new();
    let mut events: Vec<(Duration, Value)> = Vec::new();
    let mut all = String::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        all.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(i) = buffer.find('\n') {
            let line: String = buffer.drain(..=i).collect();
            if let Some(data) = line.trim_end().strip_prefix("data: ")
                && data != "[DONE]"
            {
                events.push((start.elapsed(), serde_json::from_str(data).unwrap()));
            }
        }
    }
    sse::events(&all);
    let last = &events.last().unwrap().1;
    assert_eq!(last["type"], "result", "{last}");
    assert_eq!(last["conversational"], false, "{last}");
    events
}

/// Returns the host's overhead per model call (orchestration p50 / model calls per run), in ms.
async fn orchestration_overhead(report: &mut String) -> f64 {
    const SEQUENTIAL: usize = 100;
    const CLIENTS: usize = 4;
    const PER_CLIENT: usize = 50;
    let llm = FakeLlm::start(two_file_rules()).await;
    let blink = Blink::start(BIN, &[("BLINK_LLM_BASE_URL", llm.base_url()), ("BLINK_LOG", "warn".into())]).await;
    let token = jwt::user_token("bench");
    let client = reqwest::Client::new();
    for _ in 0..10 {
        run_once(&client, &blink, &token, &body()).await;
    }
    let mut latency = histogram();
    for _ in 0..SEQUENTIAL {
        let t = Instant::now();
        run_once(&client, &blink, &token, &body()).await;
        latency.record(t.elapsed().as_micros() as u64).unwrap();
    }
    let t = Instant::now();
    futures::future::join_all((0..CLIENTS).map(|_| {
        let (client, blink, token) = (&client, &blink, &token);
        async move {
            for _ in 0..PER_CLIENT {
                run_once(client, blink, token, &body()).await;
            }
        }
    }))
    .await;
    let throughput = (CLIENTS * PER_CLIENT) as f64 / t.elapsed().as_secs_f64();
    let calls_per_run = llm.received().len() / (10 + SEQUENTIAL + CLIENTS * PER_CLIENT);
    let _ = writeln!(report, "## 2. Host overhead per orchestration\n");
    let _ = writeln!(
        report,
        "The real `blink` binary over HTTP/SSE, a two-file change (thinking, plan, two files generated concurrently, validation with no errors: {calls_per_run} model calls a run) against a fake OpenAI-compatible server on loopback that answers instantly. Everything measured is the host's own work plus loopback HTTP.\n"
    );
    let _ = writeln!(report, "| measure | value |\n|---|---|");
    let _ = writeln!(report, "| sequential runs, p50 latency | {:.2} ms |", us(&latency, 0.5) / 1000.0);
    let _ = writeln!(report, "| sequential runs, p99 latency | {:.2} ms |", us(&latency, 0.99) / 1000.0);
    let _ = writeln!(report, "| throughput, {CLIENTS} concurrent clients | {throughput:.0} runs/s |\n");
    us(&latency, 0.5) / 1000.0 / calls_per_run.max(1) as f64
}

// ---------------------------------------------------------------------------------------------
// 3. Credits: reserve + settle per model call.

async fn credit_overhead(report: &mut String, per_call_ms: f64) {
    use blink_host::credits::{Credits, Price, Pricing};
    use blink_host::db::{Database, sqlite_url};
    const WARMUP: usize = 50;
    const CALLS: usize = 1000;
    let dir = tempfile::tempdir().unwrap();
    let mut databases = vec![("SQLite (embedded, WAL)", Some(sqlite_url(dir.path())))];
    let postgres = match std::env::var("BLINK_TEST_POSTGRES_URL") {
        Ok(_) => Some(blink_test_support::db::fresh_postgres().await),
        Err(_) => None,
    };
    databases.push(("PostgreSQL (loopback)", postgres));
    let _ = writeln!(report, "## 3. Credit check per model call\n");
    let _ = writeln!(
        report,
        "A reservation (one conditional update + a ledger line, in a transaction) and its settlement (the same), {CALLS} times after {WARMUP} warm-up calls, against the host's own overhead per model call measured in section 2 ({per_call_ms:.2} ms, which already includes one credit check per call).\n"
    );
    let _ = writeln!(
        report,
        "| database | reserve + settle p50 | p99 | share of the per-call host overhead |\n|---|---|---|---|"
    );
    for (name, url) in databases {
        let Some(url) = url else {
            let _ = writeln!(report, "| {name} | not measured: set BLINK_TEST_POSTGRES_URL | | |");
            continue;
        };
        let db = Database::connect(&url).await.unwrap();
        db.migrate().await.unwrap();
        db.ensure_user("bench", None, i64::MAX / 4).await.unwrap();
        let credits =
            Credits::new(db, Pricing { default: Price { prompt: 500, completion: 1500 }, models: Default::default() });
        let mut h = histogram();
        for i in 0..WARMUP + CALLS {
            let t = Instant::now();
            let reservation = credits.reserve("bench", "run", "m", 30_000).await.unwrap();
            credits.settle("bench", "run", "m", reservation, 1_000, 500).await.unwrap();
            if i >= WARMUP {
                h.record(t.elapsed().as_micros().max(1) as u64).unwrap();
            }
        }
        let p50_ms = us(&h, 0.5) / 1000.0;
        let _ = writeln!(
            report,
            "| {name} | {p50_ms:.3} ms | {:.3} ms | {:.0} % |",
            us(&h, 0.99) / 1000.0,
            100.0 * p50_ms / per_call_ms
        );
    }
    let _ = writeln!(report);
}

// ---------------------------------------------------------------------------------------------
// 4 and 5. Six-file plans.

fn component(name: &str) -> String {
    let mut code = format!(
        "function {name}({{ title }}) {{\n  const [open, setOpen] = React.useState(false);\n  return (\n    <section className=\"p-6 rounded-xl shadow bg-white\">\n"
    );
    for i in 0..20 {
        let _ =
            writeln!(code, "      <p className=\"text-slate-700 leading-relaxed\">{name} paragraph {i}: {{title}}</p>");
    }
    code.push_str(
        "      <button onClick={() => setOpen(!open)}>{open ? 'Close' : 'Open'}</button>\n    </section>\n  );\n}\n",
    );
    code
}

fn six_file_plan() -> (String, Vec<(String, String)>) {
    let mut steps = Vec::new();
    let mut files = Vec::new();
    for i in 1..=5 {
        let name = format!("Section{i}");
        steps.push(json!({ "id": i, "action": "create", "target": name, "path": format!("{name}.tsx"), "description": format!("Section number {i} of the landing page"), "priority": "normal" }));
        files.push((format!("{name}.tsx"), component(&name)));
    }
    steps.push(json!({ "id": 6, "action": "modify", "target": "App", "path": "App.tsx", "description": "Render the five sections", "priority": "normal" }));
    let app = "function App() {\n  return (\n    <main>\n      <Section1 title=\"a\" />\n      <Section2 title=\"b\" />\n      <Section3 title=\"c\" />\n      <Section4 title=\"d\" />\n      <Section5 title=\"e\" />\n    </main>\n  );\n}\nReactDOM.createRoot(document.getElementById('root')).render(<App />);\n";
    files.push(("App.tsx".into(), app.into()));
    let plan = json!({ "intent": "landing page", "risk_level": "high", "steps": steps }).to_string();
    (plan, files)
}

fn six_file_rules(delay: Duration, per_token: Duration) -> Vec<Rule> {
    let (plan, files) = six_file_plan();
    let batch = json!({ "files": files.iter().map(|(p, c)| json!({ "path": p, "content": c })).collect::<Vec<_>>() })
        .to_string();
    let mut rules = vec![
        Rule::text(&["thinking out loud"], "Five sections and an App that renders them.").delay(delay),
        Rule::text(&["You plan changes"], plan).delay(delay),
        // The single call names every file under "Your part:"; each per-file call names one.
        Rule::text(&["Your part:\n- create Section1.tsx:", "- modify App.tsx:"], batch)
            .delay(delay)
            .per_token(per_token),
    ];
    for (path, content) in files {
        let verb = if path == "App.tsx" { "modify" } else { "create" };
        rules.push(
            Rule::text(&[&format!("Your part:\n- {verb} {path}:")], format!("```tsx\n{content}```"))
                .delay(delay)
                .per_token(per_token),
        );
    }
    rules
}

struct SixFileRun {
    generation: Duration,
    total: Duration,
    prompt_tokens: usize,
    completion_tokens: usize,
    files: usize,
}

async fn six_file_runs(env: &[(&str, String)], rules: Vec<Rule>, runs: usize) -> Vec<SixFileRun> {
    let llm = FakeLlm::start(rules).await;
    let mut full_env = vec![("BLINK_LLM_BASE_URL", llm.base_url()), ("BLINK_LOG", "warn".into())];
    full_env.extend(env.iter().cloned());
    let blink = Blink::start(BIN, &full_env).await;
    let token = jwt::user_token("bench");
    let client = reqwest::Client::new();
    let body = json!({ "messages": [{ "role": "user", "content": "Build a landing page with five sections" }], "fileTree": "App.tsx", "projectContext": "function App() { return null; }" });
    let mut out = Vec::new();
    for _ in 0..runs {
        let seen = llm.received().len();
        let events = run_once(&client, &blink, &token, &body).await;
        let at = |phase: &str| events.iter().find(|(_, e)| e["phase"] == phase).map(|(t, _)| *t).unwrap();
        let generated =
            llm.received()[seen..].iter().filter(|r| r.text().contains("Your part:")).cloned().collect::<Vec<_>>();
        out.push(SixFileRun {
            generation: at("validating") - at("generating"),
            total: events.last().unwrap().0,
            prompt_tokens: generated.iter().map(|r| r.prompt_tokens).sum(),
            completion_tokens: generated.iter().map(|r| r.completion_tokens).sum(),
            files: events.iter().filter(|(_, e)| e["type"] == "file_generated").count(),
        });
    }
    out
}

fn mean(runs: &[SixFileRun], f: impl Fn(&SixFileRun) -> f64) -> f64 {
    runs.iter().map(f).sum::<f64>() / runs.len() as f64
}

async fn concurrent_generation(report: &mut String) {
    const RUNS: usize = 5;
    let rules = || six_file_rules(Duration::from_millis(200), Duration::ZERO);
    let sequential = six_file_runs(&[("BLINK_GENERATION_CONCURRENCY", "1".into())], rules(), RUNS).await;
    let concurrent = six_file_runs(&[("BLINK_GENERATION_CONCURRENCY", "6".into())], rules(), RUNS).await;
    assert!(sequential.iter().chain(&concurrent).all(|r| r.files == 6));
    let generation = |r: &SixFileRun| r.generation.as_secs_f64() * 1000.0;
    let total = |r: &SixFileRun| r.total.as_secs_f64() * 1000.0;
    let _ = writeln!(report, "## 4. Six-file plan: concurrent against sequential generation\n");
    let _ = writeln!(
        report,
        "The fake model answers every call after 200 ms. Mean of {RUNS} runs through the binary; the generation phase is the time from `phase:generating` to `phase:validating` as the client sees it.\n"
    );
    let _ = writeln!(report, "| generation | generation phase | whole run |\n|---|---|---|");
    let _ = writeln!(
        report,
        "| sequential (concurrency 1) | {:.0} ms | {:.0} ms |",
        mean(&sequential, generation),
        mean(&sequential, total)
    );
    let _ = writeln!(
        report,
        "| concurrent (concurrency 6) | {:.0} ms | {:.0} ms |",
        mean(&concurrent, generation),
        mean(&concurrent, total)
    );
    let _ = writeln!(
        report,
        "| speed-up | {:.2}× | {:.2}× |\n",
        mean(&sequential, generation) / mean(&concurrent, generation),
        mean(&sequential, total) / mean(&concurrent, total)
    );
}

async fn generation_modes(report: &mut String) {
    const RUNS: usize = 3;
    // A model that takes 200 ms to start and then writes 500 tokens a second.
    let rules = || six_file_rules(Duration::from_millis(200), Duration::from_millis(2));
    let per_file = six_file_runs(&[("BLINK_GENERATION_MODE", "per-file".into())], rules(), RUNS).await;
    let single = six_file_runs(&[("BLINK_GENERATION_MODE", "single".into())], rules(), RUNS).await;
    assert!(per_file.iter().chain(&single).all(|r| r.files == 6));
    let generation = |r: &SixFileRun| r.generation.as_secs_f64() * 1000.0;
    let _ = writeln!(report, "## 5. One call per file against one call for all files\n");
    let _ = writeln!(
        report,
        "Same six-file plan; the fake model answers after 200 ms plus 2 ms per completion token (500 tokens/s), as real models take longer to write more. Per-file runs 4 calls at a time (the default `BLINK_GENERATION_CONCURRENCY`). Tokens are the generator calls' usage as the model server reported it. Mean of {RUNS} runs.\n"
    );
    let _ = writeln!(report, "| mode | generation phase | prompt tokens | completion tokens |\n|---|---|---|---|");
    for (name, runs) in [("per-file (default)", &per_file), ("single call", &single)] {
        let _ = writeln!(
            report,
            "| {name} | {:.0} ms | {:.0} | {:.0} |",
            mean(runs, generation),
            mean(runs, |r| r.prompt_tokens as f64),
            mean(runs, |r| r.completion_tokens as f64)
        );
    }
    let _ = writeln!(
        report,
        "| per-file / single | {:.2}× | {:.2}× | {:.2}× |\n",
        mean(&per_file, generation) / mean(&single, generation),
        mean(&per_file, |r| r.prompt_tokens as f64) / mean(&single, |r| r.prompt_tokens as f64),
        mean(&per_file, |r| r.completion_tokens as f64) / mean(&single, |r| r.completion_tokens as f64),
    );
}

// ---------------------------------------------------------------------------------------------
// 6. Plugins: upload to first run, and the runtime's overhead on a trivial agent.

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

async fn plugins(report: &mut String) {
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

// ---------------------------------------------------------------------------------------------
// 7. Sandboxes.

fn docker(args: &[&str]) -> String {
    let out = std::process::Command::new("docker").args(args).output().expect("the docker CLI");
    assert!(out.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn sandbox_app(marker: &str) -> String {
    format!("export default function App() {{\n  return <h1>{marker}</h1>;\n}}\n")
}

/// Polls `url` until it answers 200 with `needle` in the body.
async fn until_served(client: &reqwest::Client, url: &str, needle: &str) {
    for _ in 0..2000 {
        if let Ok(r) = client.get(url).send().await
            && r.status() == 200
            && r.text().await.is_ok_and(|t| t.contains(needle))
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{url} never served {needle:?}");
}

type HmrSocket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Connects to the project's HMR WebSocket through the proxy, as a page's Vite client does.
async fn hmr_socket(client: &reqwest::Client, blink: &Blink, project: &str) -> HmrSocket {
    let vite_client =
        client.get(format!("{}/preview/{project}/@vite/client", blink.url)).send().await.unwrap().text().await.unwrap();
    let ws_token =
        vite_client.split("wsToken = \"").nth(1).and_then(|t| t.split('"').next()).unwrap_or_default().to_string();
    let ws = format!("{}/preview/{project}/?token={ws_token}", blink.url.replacen("http://", "ws://", 1));
    let mut request = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(ws).unwrap();
    request.headers_mut().insert("sec-websocket-protocol", "vite-hmr".parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let _connected = socket.next().await;
    socket
}

/// Median time from an update posted to the HMR message about it, over `rounds` updates after
/// one warm-up (the first update after a page connects builds Vite's module graph).
async fn hmr_latency(client: &reqwest::Client, blink: &Blink, token: &str, project: &str, rounds: usize) -> f64 {
    let mut socket = hmr_socket(client, blink, project).await;
    let mut samples = Vec::new();
    for round in 0..=rounds {
        let started = Instant::now();
        let body = json!({ "projectId": project, "files": { "App.tsx": sandbox_app(&format!("Update {round}")) } });
        let post = client.post(format!("{}/api/preview", blink.url)).bearer_auth(token).json(&body).send();
        let (response, visible) = tokio::join!(post, hmr_message(&mut socket, started));
        assert_eq!(response.unwrap().status(), 200);
        if round > 0 {
            samples.push(visible);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    median_ms(&samples)
}

/// Waits for Vite's HMR message about App.tsx; returns the time since `started`.
async fn hmr_message(socket: &mut HmrSocket, started: Instant) -> Duration {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next()).await.unwrap().unwrap().unwrap();
        if message.to_text().is_ok_and(|t| t.contains("App.tsx")) {
            return started.elapsed();
        }
    }
}

fn median_ms(samples: &[Duration]) -> f64 {
    let mut sorted: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

/// A table row comparing the host with its baseline: both figures and their ratio.
fn ratio_row(report: &mut String, label: &str, ours: f64, baseline: f64, decimals: usize) {
    let _ = writeln!(report, "| {label} | {ours:.decimals$} | {baseline:.decimals$} | {:.2}× |", ours / baseline);
}

fn mean_ms(samples: &[Duration]) -> f64 {
    samples.iter().map(|d| d.as_secs_f64() * 1e3).sum::<f64>() / samples.len() as f64
}

/// Starts the image by hand, as `docker run` would with the same command, on the default bridge,
/// and times it to the app's module being served.
async fn plain_docker_run(client: &reqwest::Client, template: &std::path::Path) -> Duration {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(template, dir.path());
    std::fs::write(dir.path().join("src/App.tsx"), sandbox_app("Plain run")).unwrap();
    std::process::Command::new("chown").args(["-R", "1000:1000"]).arg(dir.path()).status().unwrap();
    let mount = format!("{}:/app", dir.path().display());
    let started = Instant::now();
    let id = docker(&[
        "run",
        "-d",
        "--rm",
        "--user",
        "1000:1000",
        "--read-only",
        "--tmpfs",
        "/tmp",
        "-v",
        &mount,
        "-w",
        "/app",
        "--entrypoint",
        "node",
        "blink-sandbox:latest",
        "/node_modules/vite/bin/vite.js",
        "--host",
        "0.0.0.0",
        "--port",
        "5173",
        "--configLoader",
        "runner",
    ]);
    let ip = docker(&["inspect", "-f", "{{.NetworkSettings.IPAddress}}", &id]);
    until_served(client, &format!("http://{ip}:5173/src/main.tsx"), "App").await;
    let elapsed = started.elapsed();
    docker(&["rm", "-f", &id]);
    elapsed
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "node_modules" || name == "dist" {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to.join(&name));
        } else {
            std::fs::copy(entry.path(), to.join(&name)).unwrap();
        }
    }
}

/// What one sandbox runtime gives, measured through a host that runs its sandboxes under it.
struct RuntimeFigures {
    cold: Vec<Duration>,
    warm: Vec<Duration>,
    updates: Vec<Duration>,
    direct_updates: Vec<Duration>,
    memory_mib: Vec<f64>,
    builds: Vec<Duration>,
    /// Projects left to build and remove (their host is `blink`).
    projects: Vec<String>,
    blink: Blink,
}

/// Cold previews (each followed by updates through the API and straight into the project), warm
/// previews from a host with a pool of one, and `vite build`, with sandboxes under `runtime`
/// (`None`: the engine's default). `plain` runs between cold previews (the `docker run` baseline).
async fn runtime_figures(
    client: &reqwest::Client,
    runtime: Option<&str>,
    repeats: usize,
    mut between: impl AsyncFnMut(),
) -> RuntimeFigures {
    let host_env = |warm: &str| {
        let mut env = vec![
            ("BLINK_SANDBOXES", "true".to_string()),
            ("BLINK_SANDBOX_WARM", warm.to_string()),
            ("BLINK_SANDBOX_MAX_PER_USER", "20".to_string()),
            ("BLINK_PREVIEW_PATHS", "true".to_string()),
            ("BLINK_ADMIN_TOKEN", "bench-admin".to_string()),
            ("BLINK_LOG", "warn".to_string()),
        ];
        if let Some(runtime) = runtime {
            env.push(("BLINK_SANDBOX_RUNTIME", runtime.to_string()));
        }
        env
    };
    let tag = runtime.unwrap_or("default");
    let blink = Blink::start(BIN, &host_env("0")).await;
    let token = jwt::user_token("bench-sandbox");
    let mut figures = RuntimeFigures {
        cold: Vec::new(),
        warm: Vec::new(),
        updates: Vec::new(),
        direct_updates: Vec::new(),
        memory_mib: Vec::new(),
        builds: Vec::new(),
        projects: Vec::new(),
        blink,
    };
    let blink = &figures.blink;
    for i in 0..repeats {
        between().await;
        let project = format!("bench-{tag}-{}-{i}", std::process::id());
        figures.projects.push(project.clone());
        let started = Instant::now();
        let body = json!({ "projectId": project, "files": { "App.tsx": sandbox_app("Cold") } });
        let response =
            client.post(format!("{}/api/preview", blink.url)).bearer_auth(&token).json(&body).send().await.unwrap();
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
        until_served(client, &format!("{}/preview/{project}/src/main.tsx", blink.url), "App").await;
        figures.cold.push(started.elapsed());

        // Update to change visible: the HMR message a page's client receives through the proxy.
        let mut socket = hmr_socket(client, blink, &project).await;
        // The first update after a page connects is slower (Vite builds its module graph): one
        // warm-up, then updates through the API and written straight into the project (the
        // baseline: what a dev server without a host in front sees) in turn.
        for round in 0..7 {
            // Through the API: the page changes when the HMR message arrives, whenever the
            // POST's own answer comes.
            let started = Instant::now();
            let body =
                json!({ "projectId": project, "files": { "App.tsx": sandbox_app(&format!("Update {i}.{round}")) } });
            let post = client.post(format!("{}/api/preview", blink.url)).bearer_auth(&token).json(&body).send();
            let (response, visible) = tokio::join!(post, hmr_message(&mut socket, started));
            assert_eq!(response.unwrap().status(), 200);
            if round > 0 {
                figures.updates.push(visible);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            // gVisor passes no file event for a write made outside the sandbox: only the host's
            // sync reaches its dev server.
            if runtime.is_some_and(|r| r != "runc") {
                continue;
            }
            let file = blink.data_dir.path().join("projects").join(&project).join("app/src/App.tsx");
            let started = Instant::now();
            std::fs::write(&file, sandbox_app(&format!("Direct {i}.{round}"))).unwrap();
            let visible = hmr_message(&mut socket, started).await;
            if round > 0 {
                figures.direct_updates.push(visible);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let usage = docker(&["stats", "--no-stream", "--format", "{{.MemUsage}}", &format!("sandbox-{project}")]);
        figures.memory_mib.push(stats_mib(&usage));
    }

    // Warm pool: a host that keeps one sandbox started ahead; each first preview takes it.
    let warm_host = Blink::start(BIN, &host_env("1")).await;
    let mut warm_projects = Vec::new();
    for i in 0..repeats {
        // Wait until the pool is full again, as it is for a user arriving after the last one.
        for _ in 0..1200 {
            let status: Value = client
                .get(format!("{}/api/admin/sandboxes", warm_host.url))
                .bearer_auth("bench-admin")
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap_or(Value::Null);
            if status["warm"] == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let project = format!("bench-warm-{tag}-{}-{i}", std::process::id());
        warm_projects.push(project.clone());
        let started = Instant::now();
        let body = json!({ "projectId": project, "files": { "App.tsx": sandbox_app("Warm") } });
        let response =
            client.post(format!("{}/api/preview", warm_host.url)).bearer_auth(&token).json(&body).send().await.unwrap();
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
        until_served(client, &format!("{}/preview/{project}/src/main.tsx", warm_host.url), "App").await;
        figures.warm.push(started.elapsed());
    }
    let warm_data = warm_host.data_dir.path().display().to_string();
    for name in docker(&["ps", "-a", "--filter", "label=blink.sandbox=1", "--format", "{{.Names}}"]).lines() {
        let mounts = docker(&["inspect", "-f", "{{range .Mounts}}{{.Source}} {{end}}", name]);
        if mounts.contains(&warm_data) {
            let _ = std::process::Command::new("docker").args(["rm", "-f", name]).output();
        }
    }

    // vite build in the sandbox, through the API.
    for project in figures.projects.iter().take(3) {
        let started = Instant::now();
        let response = client
            .post(format!("{}/api/build", blink.url))
            .bearer_auth(&token)
            .json(&json!({ "projectId": project }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
        figures.builds.push(started.elapsed());
    }
    figures
}

/// Whether the engine has gVisor registered as `runsc`.
fn engine_has_runsc() -> bool {
    docker(&["info", "--format", "{{json .Runtimes}}"]).contains("\"runsc\"")
}

async fn sandboxes(report: &mut String) {
    const REPEATS: usize = 5;
    let template = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../sandbox/template"));
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut plain = Vec::new();
    let runc =
        runtime_figures(&client, None, REPEATS, async || plain.push(plain_docker_run(&client, template).await)).await;
    let gvisor = if engine_has_runsc() {
        Some(runtime_figures(&client, Some("runsc"), REPEATS, async || {}).await)
    } else {
        None
    };

    // The same build run directly on the machine with the image's node_modules.
    let modules = tempfile::tempdir().unwrap();
    let holder = docker(&["create", "blink-sandbox:latest"]);
    docker(&["cp", &format!("{holder}:/node_modules"), &modules.path().display().to_string()]);
    docker(&["rm", &holder]);
    let mut direct = Vec::new();
    for _ in 0..3 {
        let root = tempfile::tempdir().unwrap();
        let project = root.path().join("app");
        copy_dir(template, &project);
        std::fs::write(project.join("src/App.tsx"), sandbox_app("Cold")).unwrap();
        std::os::unix::fs::symlink(modules.path().join("node_modules"), project.join("node_modules")).unwrap();
        let started = Instant::now();
        let status = std::process::Command::new("node")
            .args(["node_modules/vite/bin/vite.js", "build", "--configLoader", "runner"])
            .current_dir(&project)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
        direct.push(started.elapsed());
    }
    for figures in std::iter::once(&runc).chain(gvisor.as_ref()) {
        for project in &figures.projects {
            let _ = std::process::Command::new("docker").args(["rm", "-f", &format!("sandbox-{project}")]).output();
        }
    }

    let _ = writeln!(report, "## 7. Sandboxes\n");
    let _ = writeln!(
        report,
        "Real Docker engine and sandbox image; {REPEATS} previews of each kind (builds: 3, means). Baselines run in the same process, same image, same command.\n"
    );
    let _ = writeln!(report, "| measure | Blink host ms | baseline ms | ratio |");
    let _ = writeln!(report, "|---|---|---|---|");
    ratio_row(
        report,
        &format!(
            "cold preview: request → app module served through the proxy, median of {REPEATS} (baseline: plain `docker run`, no limits, no proxy)"
        ),
        median_ms(&runc.cold),
        median_ms(&plain),
        0,
    );
    ratio_row(
        report,
        &format!(
            "warm-pool preview: request → app module served through the proxy, median of {REPEATS} (baseline: plain `docker run`)"
        ),
        median_ms(&runc.warm),
        median_ms(&plain),
        0,
    );
    ratio_row(
        report,
        "`vite build` (baseline: the same build run directly on the machine)",
        mean_ms(&runc.builds),
        mean_ms(&direct),
        0,
    );
    let label = format!(
        "update posted → HMR update message through the proxy, median of {} (baseline: the file written straight into the project)",
        runc.updates.len()
    );
    ratio_row(report, &label, median_ms(&runc.updates), median_ms(&runc.direct_updates), 1);
    let memory: Vec<String> = runc.memory_mib.iter().map(|m| format!("{m:.1} MiB")).collect();
    let _ = writeln!(report, "\nIdle sandbox memory (`docker stats`, 2 s after an update): {}.\n", memory.join(", "));

    let Some(gvisor) = gvisor else {
        let _ = writeln!(report, "gVisor: the engine has no `runsc` runtime; not measured.\n");
        return;
    };
    let _ = writeln!(
        report,
        "Under gVisor (`BLINK_SANDBOX_RUNTIME=runsc`, ptrace platform, `--network=host`) against the engine's default runc, in the same run; medians of {REPEATS} (builds: means of 3, memory: mean).\n"
    );
    let _ = writeln!(report, "| measure | gVisor | runc | ratio |");
    let _ = writeln!(report, "|---|---|---|---|");
    ratio_row(report, "cold preview, ms", median_ms(&gvisor.cold), median_ms(&runc.cold), 0);
    ratio_row(report, "warm-pool preview, ms", median_ms(&gvisor.warm), median_ms(&runc.warm), 0);
    ratio_row(report, "update posted → HMR message, ms", median_ms(&gvisor.updates), median_ms(&runc.updates), 1);
    ratio_row(report, "`vite build` through the API, ms", mean_ms(&gvisor.builds), mean_ms(&runc.builds), 0);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    ratio_row(report, "idle sandbox memory, MiB", mean(&gvisor.memory_mib), mean(&runc.memory_mib), 0);
    let _ = writeln!(report);
}

// ---------------------------------------------------------------------------------------------
// 10. Density.

/// Memory of a container as `docker stats` reports it, in MiB.
fn stats_mib(usage: &str) -> f64 {
    let used = usage.split('/').next().unwrap_or_default().trim();
    let (number, unit) = used.split_at(used.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(used.len()));
    let number: f64 = number.trim().parse().unwrap_or(0.0);
    match unit {
        "GiB" => number * 1024.0,
        "KiB" => number / 1024.0,
        "B" => number / (1024.0 * 1024.0),
        _ => number,
    }
}

/// The resident memory of the process serving from `data_dir`, in MiB.
fn host_rss_mib(data_dir: &std::path::Path) -> f64 {
    let wanted = format!("BLINK_DATA_DIR={}", data_dir.display());
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let environ = std::fs::read(entry.path().join("environ")).unwrap_or_default();
        if environ.split(|b| *b == 0).any(|v| v == wanted.as_bytes()) {
            let status = std::fs::read_to_string(entry.path().join("status")).unwrap_or_default();
            let kib = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).unwrap_or("0 kB");
            return kib.trim().trim_end_matches("kB").trim().parse::<f64>().unwrap_or(0.0) / 1024.0;
        }
    }
    0.0
}

/// N previews on one host (`BLINK_BENCH_DENSITY_N`, default 50), started one after the other and
/// all kept running: how the start latency and HMR latency change with N, and what memory each
/// preview and the host take.
async fn density(report: &mut String) {
    let n: usize = std::env::var("BLINK_BENCH_DENSITY_N").ok().and_then(|v| v.parse().ok()).unwrap_or(50);
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let cap = (n + 5).to_string();
    let blink = Blink::start(
        BIN,
        &[
            ("BLINK_SANDBOXES", "true".into()),
            ("BLINK_SANDBOX_WARM", "0".into()),
            ("BLINK_PREVIEW_PATHS", "true".into()),
            ("BLINK_SANDBOX_MAX", cap.clone()),
            ("BLINK_SANDBOX_MAX_PER_USER", cap),
            // Nothing is reaped while the bench holds them all.
            ("BLINK_SANDBOX_IDLE_SECS", "3600".into()),
            ("BLINK_LOG", "warn".into()),
        ],
    )
    .await;
    let token = jwt::user_token("bench-density");
    let projects: Vec<String> = (0..n).map(|i| format!("bench-density-{}-{i}", std::process::id())).collect();
    let mut starts = Vec::new();
    let mut hmr_at_one = 0.0;
    let rss_before = host_rss_mib(blink.data_dir.path());
    for (i, project) in projects.iter().enumerate() {
        let started = Instant::now();
        let body = json!({ "projectId": project, "files": { "App.tsx": sandbox_app("Dense") } });
        let response =
            client.post(format!("{}/api/preview", blink.url)).bearer_auth(&token).json(&body).send().await.unwrap();
        assert_eq!(response.status(), 200, "preview {i}: {}", response.text().await.unwrap());
        until_served(&client, &format!("{}/preview/{project}/src/main.tsx", blink.url), "App").await;
        starts.push(started.elapsed());
        if i == 0 {
            hmr_at_one = hmr_latency(&client, &blink, &token, project, 5).await;
        }
    }
    // Every preview touched once more, as users come back to them, then left to settle.
    for project in &projects {
        until_served(&client, &format!("{}/preview/{project}/src/App.tsx", blink.url), "function App").await;
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    let names: Vec<String> = projects.iter().map(|p| format!("sandbox-{p}")).collect();
    let mut args = vec!["stats", "--no-stream", "--format", "{{.MemUsage}}"];
    args.extend(names.iter().map(String::as_str));
    let memory: Vec<f64> = docker(&args).lines().map(stats_mib).collect();
    let rss_after = host_rss_mib(blink.data_dir.path());
    let hmr_at_n = hmr_latency(&client, &blink, &token, &projects[n - 1], 5).await;
    for name in &names {
        let _ = std::process::Command::new("docker").args(["rm", "-f", name]).output();
    }

    let per_sandbox = memory.iter().sum::<f64>() / memory.len() as f64;
    let max = memory.iter().copied().fold(0.0, f64::max);
    let host_per_preview = (rss_after - rss_before).max(0.0) / n as f64;
    let band = |from: usize, to: usize| mean_ms(&starts[from.min(n - 1)..to.min(n)]);
    let _ = writeln!(
        report,
        "## 10. Density
"
    );
    let _ = writeln!(
        report,
        "{n} previews started one after the other on one host and kept running (Vite dev server each, runc, 512 MiB and 1 CPU limits), each touched again, then measured. Ratios against the same measure with one preview running, in the same run.
"
    );
    let _ = writeln!(report, "| measure | at N = {n} | at N = 1 | ratio |");
    let _ = writeln!(report, "|---|---|---|---|");
    let last_band = band(n.saturating_sub(10), n);
    ratio_row(report, "preview start ms (mean of the last 10 started, against the first)", last_band, band(0, 1), 0);
    ratio_row(report, "update posted → HMR message ms (median of 5)", hmr_at_n, hmr_at_one, 1);
    let _ = writeln!(report);
    let _ = writeln!(
        report,
        "Start latency as N grows (mean ms): 1–10: {:.0}, 11–25: {:.0}, 26–{n}: {:.0}.
",
        band(0, 10),
        band(10, 25),
        band(25, n)
    );
    let _ = writeln!(
        report,
        "Memory: {per_sandbox:.0} MiB per preview on average (largest {max:.0} MiB, `docker stats`), and the host's own resident memory grew by {host_per_preview:.2} MiB per preview ({rss_before:.0} → {rss_after:.0} MiB). That is **{:.1} previews per GiB** of sandbox memory.
",
        1024.0 / per_sandbox
    );
}

// ---------------------------------------------------------------------------------------------
// 8. Git.

fn write_files(dir: &std::path::Path, count: usize, version: &str) {
    std::fs::create_dir_all(dir.join("src/gen")).unwrap();
    for i in 0..count {
        let body = format!("export const Item{i} = () => <p>{version} {}</p>;\n", "x".repeat(900));
        std::fs::write(dir.join(format!("src/gen/Item{i}.tsx")), body).unwrap();
    }
}

async fn git_ops(report: &mut String) {
    use blink_test_support::git_server::{GitServer, clone_with_token, git, url_with_token};
    const REPEATS: usize = 3;
    const TOKEN: &str = "bench-token";
    let server = GitServer::start(TOKEN).await;
    let blink = Blink::start(BIN, &[("BLINK_LOG", "warn".into())]).await;
    let client = reqwest::Client::new();
    let user = jwt::user_token("bench-git");
    let scratch = tempfile::tempdir().unwrap();
    let (mut host_push, mut cli_push, mut host_pull, mut cli_pull) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in 0..REPEATS {
        // Commit + push of 200 files (plus the template), through the host and with git.
        let project = format!("bench-git-{i}");
        let url = server.create_repo(&format!("host-{i}"));
        client
            .post(format!("{}/api/projects", blink.url))
            .bearer_auth(&user)
            .json(&json!({ "id": project }))
            .send()
            .await
            .unwrap();
        let remote = json!({ "remoteUrl": url, "token": TOKEN });
        client
            .put(format!("{}/api/projects/{project}/git", blink.url))
            .bearer_auth(&user)
            .json(&remote)
            .send()
            .await
            .unwrap();
        let app = blink.data_dir.path().join("projects").join(&project).join("app");
        write_files(&app, 200, "v1");
        let started = Instant::now();
        let response = client
            .post(format!("{}/api/git/commit", blink.url))
            .bearer_auth(&user)
            .json(&json!({ "projectId": project, "message": "200 files" }))
            .send()
            .await
            .unwrap();
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["pushed"], true, "{body}");
        host_push.push(started.elapsed());

        let cli_url = server.create_repo(&format!("cli-{i}"));
        let cli = scratch.path().join(format!("cli-{i}"));
        std::fs::create_dir_all(&cli).unwrap();
        copy_dir(std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../sandbox/template")), &cli);
        write_files(&cli, 200, "v1");
        let started = Instant::now();
        git(&cli, &["init", "--quiet"]);
        git(&cli, &["add", "-A"]);
        git(&cli, &["commit", "--quiet", "-m", "200 files"]);
        git(&cli, &["push", "--quiet", &url_with_token(&cli_url, TOKEN), "HEAD:main"]);
        cli_push.push(started.elapsed());

        // A 50-file change pushed from elsewhere; pulled by the host and by a git clone.
        let baseline = scratch.path().join(format!("baseline-{i}"));
        clone_with_token(&url, TOKEN, &baseline);
        let elsewhere = scratch.path().join(format!("elsewhere-{i}"));
        clone_with_token(&url, TOKEN, &elsewhere);
        write_files(&elsewhere, 50, "v2");
        git(&elsewhere, &["commit", "--quiet", "-am", "50 files"]);
        git(&elsewhere, &["push", "--quiet", "origin", "main"]);
        let started = Instant::now();
        let response = client
            .post(format!("{}/api/git/pull", blink.url))
            .bearer_auth(&user)
            .json(&json!({ "projectId": project }))
            .send()
            .await
            .unwrap();
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["updated"], true, "{body}");
        host_pull.push(started.elapsed());
        let started = Instant::now();
        git(&baseline, &["pull", "--quiet", "--no-rebase", "origin", "main"]);
        cli_pull.push(started.elapsed());
    }
    let _ = writeln!(report, "## 8. Git\n");
    let _ = writeln!(
        report,
        "A real smart-HTTP server (`git http-backend`, token required) on loopback; means of {REPEATS}. The baseline is the `git` command line on the same server.\n"
    );
    let _ = writeln!(report, "| operation | Blink host ms | git CLI ms | ratio |");
    let _ = writeln!(report, "|---|---|---|---|");
    ratio_row(
        report,
        "commit + push, 200 files and the template (CLI: init + add + commit + push)",
        mean_ms(&host_push),
        mean_ms(&cli_push),
        0,
    );
    ratio_row(report, "pull of a 50-file change (CLI: `git pull`)", mean_ms(&host_pull), mean_ms(&cli_pull), 0);
    let _ = writeln!(report);
}

/// A `dist/` of `count` files totalling about `total` bytes: `index.html` and hashed-looking
/// assets of incompressible bytes.
fn write_dist(dir: &std::path::Path, count: usize, total: usize) {
    std::fs::create_dir_all(dir.join("assets")).unwrap();
    std::fs::write(dir.join("index.html"), "<!doctype html><div id=\"root\"></div>").unwrap();
    let size = total / count;
    let mut x: u64 = 0x9e3779b97f4a7c15;
    for n in 1..count {
        let bytes: Vec<u8> = (0..size)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        std::fs::write(dir.join(format!("assets/chunk{n:03}.js")), bytes).unwrap();
    }
}

fn aws_sync(s3: &blink_test_support::s3::S3Server, dir: &std::path::Path, prefix: &str) -> Duration {
    use blink_test_support::s3::{ACCESS_KEY, SECRET_KEY};
    let started = Instant::now();
    let output = std::process::Command::new("aws")
        .args(["--endpoint-url", &s3.endpoint, "s3", "sync", "--only-show-errors"])
        .arg(dir)
        .arg(format!("s3://{}/{prefix}", s3.bucket))
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .output()
        .expect("the AWS CLI (scripts/test.sh installs it)");
    assert!(output.status.success(), "aws s3 sync: {}", String::from_utf8_lossy(&output.stderr));
    started.elapsed()
}

/// Section 9: publishing a 300-file, 20 MB build to an S3-compatible server (s3s-fs on
/// loopback) through the host, against `aws s3 sync` of the same folder to the same server;
/// then again after 5 files changed.
async fn deploys(report: &mut String) {
    const REPEATS: usize = 3;
    const FILES: usize = 300;
    const BYTES: usize = 20 * 1024 * 1024;
    let s3 = blink_test_support::s3::S3Server::start("bench");
    let mut env = s3.host_env();
    // The AWS CLI's default concurrency, for a like-for-like comparison.
    env.extend([
        ("BLINK_LOG", "warn".to_string()),
        ("BLINK_S3_PARALLEL", "10".into()),
        ("BLINK_DEPLOY_KEEP", "100".into()),
    ]);
    let blink = Blink::start(BIN, &env).await;
    let client = reqwest::Client::new();
    let user = jwt::user_token("bench-deploy");
    let scratch = tempfile::tempdir().unwrap();
    let (mut host_full, mut cli_full, mut host_redeploy, mut cli_redeploy) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let deploy = |project: String| {
        let (client, url, user) = (client.clone(), blink.url.clone(), user.clone());
        async move {
            let started = Instant::now();
            let response = client
                .post(format!("{url}/api/deploy"))
                .bearer_auth(&user)
                .json(&json!({ "projectId": project }))
                .send()
                .await
                .unwrap();
            let elapsed = started.elapsed();
            let body: Value = response.json().await.unwrap();
            assert!(body["deployId"].is_string(), "{body}");
            (elapsed, body["uploaded"].as_u64().unwrap_or(0))
        }
    };
    let mut uploaded = 0;
    for i in 0..REPEATS {
        let project = uuid::Uuid::new_v4().to_string();
        let dist = blink.data_dir.path().join("builds").join(&project).join("dist");
        write_dist(&dist, FILES, BYTES);
        let cli_dir = scratch.path().join(format!("dist-{i}"));
        copy_dir(&dist, &cli_dir);
        host_full.push(deploy(project.clone()).await.0);
        cli_full.push(aws_sync(&s3, &cli_dir, &format!("cli-{i}/")));
        for n in 1..=5 {
            let changed = format!("changed {i} {n}");
            std::fs::write(dist.join(format!("assets/chunk{n:03}.js")), &changed).unwrap();
            std::fs::write(cli_dir.join(format!("assets/chunk{n:03}.js")), &changed).unwrap();
        }
        let (elapsed, stored) = deploy(project).await;
        host_redeploy.push(elapsed);
        uploaded = stored;
        cli_redeploy.push(aws_sync(&s3, &cli_dir, &format!("cli-{i}/")));
    }
    let started = Instant::now();
    let version = std::process::Command::new("aws").arg("--version").output().unwrap();
    assert!(version.status.success());
    let cli_start = started.elapsed().as_secs_f64() * 1e3;
    let _ = writeln!(report, "## 9. Deploys to an S3-compatible store\n");
    let _ = writeln!(
        report,
        "{FILES} files, {} MiB, to s3s-fs on loopback; 10 uploads in flight for both; medians of {REPEATS}. \
         The host's time is the whole `POST /api/deploy` (hashing, upload, manifest, switch); the CLI's \
         includes its start-up ({cli_start:.0} ms for `aws --version`). On redeploy the host stored \
         {uploaded} files.\n",
        BYTES / 1024 / 1024
    );
    let _ = writeln!(report, "| operation | Blink host ms | aws s3 sync ms | ratio |\n|---|---|---|---|");
    ratio_row(report, "first deploy", median_ms(&host_full), median_ms(&cli_full), 0);
    ratio_row(report, "redeploy, 5 files changed", median_ms(&host_redeploy), median_ms(&cli_redeploy), 0);
    let _ = writeln!(report);
}

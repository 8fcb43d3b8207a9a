//! Sections 4 and 5: six-file plans, generated concurrently and in one call.

use super::orchestrations::run_once;
use super::*;

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

pub(crate) async fn concurrent_generation(report: &mut String) {
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

pub(crate) async fn generation_modes(report: &mut String) {
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

//! Section 1 of the benchmark report: Agents: component call against native call.

use super::*;

pub(crate) const PLAN: &str = r#"{"intent": "add a footer", "risk_level": "low", "steps": [{"id": 1, "action": "create", "target": "Footer", "path": "Footer.tsx", "description": "A footer with links", "priority": "normal"}, {"id": 2, "action": "modify", "target": "App", "path": "App.tsx", "description": "Render the footer", "priority": "normal"}]}"#;
pub(crate) const FOOTER: &str = "function Footer() {\n  const links = ['About', 'Blog', 'Contact'];\n  return (\n    <footer className=\"p-6 border-t\">\n      {links.map((l) => (<a key={l} className=\"mr-4\">{l}</a>))}\n    </footer>\n  );\n}\n";
pub(crate) const APP: &str = "function App() {\n  const [n, setN] = React.useState(0);\n  return (\n    <div>\n      <button onClick={() => setN(n + 1)}>{n}</button>\n      <Footer />\n    </div>\n  );\n}\nReactDOM.createRoot(document.getElementById('root')).render(<App />);\n";

pub(crate) fn instant_model() -> InProcessModel {
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

pub(crate) async fn agent_overhead(report: &mut String) {
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

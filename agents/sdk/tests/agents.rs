//! The planner, generator and fixer against realistic, messy model answers, with a scripted host.

use std::cell::RefCell;
use std::collections::VecDeque;

use blink_agent_sdk::*;

/// A host whose model answers from a script, in order, and records what it was asked.
struct Scripted {
    answers: RefCell<VecDeque<Result<String, LlmError>>>,
    asked: RefCell<Vec<CompletionRequest>>,
    config: Vec<(&'static str, &'static str)>,
}

impl Scripted {
    fn new(answers: &[&str]) -> Self {
        Self {
            answers: RefCell::new(answers.iter().map(|a| Ok(a.to_string())).collect()),
            asked: RefCell::new(Vec::new()),
            config: vec![("thinking", "off")],
        }
    }
}

impl Host for Scripted {
    fn complete(&self, request: CompletionRequest) -> Result<Completion, LlmError> {
        self.asked.borrow_mut().push(request);
        let answer = self.answers.borrow_mut().pop_front().expect("the agent made an unscripted model call")?;
        Ok(Completion { content: answer, model: "scripted".into(), usage: Usage::default(), truncated: false })
    }
    fn config(&self, key: &str) -> Option<String> {
        self.config.iter().find(|(k, _)| *k == key).map(|(_, v)| v.to_string())
    }
    fn log(&self, _: LogLevel, _: &str) {}
}

fn ask(text: &str) -> PlanRequest {
    PlanRequest { messages: vec![ChatMessage::user(text)], file_tree: vec!["App.tsx".into()], ..Default::default() }
}

const MESSY_PLANS: &[&str] = &[
    // Prose and a fence around it.
    "Sure! Here's my plan:\n\n```json\n{\"intent\": \"add a footer\", \"risk_level\": \"low\", \"steps\": [{\"id\": 1, \"action\": \"create\", \"target\": \"Footer\", \"path\": \"Footer.tsx\", \"description\": \"A footer\", \"priority\": \"normal\"}]}\n```\n\nI hope this helps.",
    // Trailing commas, capitalised enums and a synonym.
    "{\"intent\": \"add a footer\", \"risk_level\": \"LOW\", \"steps\": [{\"id\": 1, \"action\": \"Add\", \"target\": \"Footer\", \"path\": \"Footer.tsx\", \"description\": \"A footer\", \"priority\": \"High\",},],}",
    // Truncated by the token limit.
    "{\"intent\": \"add a footer\", \"risk_level\": \"low\", \"steps\": [{\"id\": 1, \"action\": \"create\", \"target\": \"Footer\", \"path\": \"Footer.tsx\", \"description\": \"A footer",
    // Nulls where lists belong, a missing path.
    "{\"intent\": \"add a footer\", \"risk_level\": null, \"dependencies_needed\": null, \"steps\": [{\"action\": \"create\", \"target\": \"Footer\", \"description\": \"A footer\"}]}",
];

#[test]
fn plans_survive_messy_model_output() {
    for raw in MESSY_PLANS {
        let host = Scripted::new(&[raw]);
        let plan = planner::plan(&host, &ask("add a footer")).unwrap_or_else(|e| panic!("{e}: {raw}"));
        assert_eq!(plan.intent, "add a footer", "{raw}");
        assert!(!plan.conversational);
        assert_eq!(plan.steps.len(), 1, "{raw}");
        assert_eq!(plan.steps[0].path, "Footer.tsx", "{raw}");
        assert_eq!(plan.steps[0].id, 1);
        assert_eq!(plan.steps[0].action, StepAction::Create);
        assert_eq!(host.asked.borrow().len(), 1, "no repair round was needed for {raw}");
        assert!(host.asked.borrow()[0].json_mode);
    }
}

#[test]
fn unparseable_plans_get_one_repair_round_then_a_clear_error() {
    let fixed =
        "{\"intent\": \"add a footer\", \"steps\": [{\"path\": \"Footer.tsx\", \"description\": \"A footer\"}]}";
    let host = Scripted::new(&["I think you should add a footer component.", fixed]);
    let plan = planner::plan(&host, &ask("add a footer")).unwrap();
    assert_eq!(plan.steps[0].path, "Footer.tsx");
    let asked = host.asked.borrow();
    assert_eq!(asked.len(), 2);
    let repair = asked[1].messages.last().unwrap();
    assert!(repair.content.contains("could not be parsed"), "{}", repair.content);
    drop(asked);

    let host = Scripted::new(&["no JSON here", "still no JSON"]);
    match planner::plan(&host, &ask("add a footer")) {
        Err(AgentError::BadModelOutput(m)) => assert!(m.contains("even after a repair attempt"), "{m}"),
        other => panic!("expected BadModelOutput, got {other:?}"),
    }
}

#[test]
fn plans_are_made_safe_to_run() {
    let raw = r#"{"intent": "cleanup", "steps": [
        {"action": "delete", "path": "App.tsx"},
        {"action": "modify", "path": "./components/Card.tsx"},
        {"action": "create", "path": "components/Card.tsx"},
        {"action": "create", "target": "Hero"}
    ]}"#;
    let plan = planner::plan(&Scripted::new(&[raw]), &ask("clean up")).unwrap();
    let paths: Vec<_> = plan.steps.iter().map(|s| (s.id, s.path.as_str(), s.action)).collect();
    assert_eq!(paths, [(1, "components/Card.tsx", StepAction::Modify), (2, "Hero.tsx", StepAction::Create)]);

    let empty = planner::plan(&Scripted::new(&[r#"{"intent": "hello", "steps": []}"#]), &ask("hi")).unwrap();
    assert!(empty.conversational, "a plan with nothing to do is answered, not executed");
    let vague = r#"{"intent": "?", "clarification_needed": true, "clarification_question": "Which page?", "steps": [{"path": "A.tsx"}]}"#;
    let plan = planner::plan(&Scripted::new(&[vague]), &ask("do it")).unwrap();
    assert!(plan.conversational && plan.clarification_needed && plan.steps.is_empty());
}

#[test]
fn the_thinking_stream_is_optional_but_stops_the_run_when_credits_do() {
    let mut host = Scripted::new(&["Thinking.", r#"{"intent": "x", "steps": [{"path": "A.tsx"}]}"#]);
    host.config.clear();
    planner::plan(&host, &ask("add A")).unwrap();
    assert_eq!(host.asked.borrow()[0].stream_to, Some(StreamChannel::Thinking));

    let mut host = Scripted::new(&[r#"{"intent": "x", "steps": [{"path": "A.tsx"}]}"#]);
    host.config.clear();
    host.answers.borrow_mut().push_front(Err(LlmError::Unavailable("small model down".into())));
    assert_eq!(planner::plan(&host, &ask("add A")).unwrap().steps.len(), 1, "a failed thinking stream is skipped");

    let mut host = Scripted::new(&[]);
    host.config.clear();
    host.answers.borrow_mut().push_front(Err(LlmError::InsufficientCredits("0 left".into())));
    assert!(matches!(planner::plan(&host, &ask("add A")), Err(AgentError::Llm(LlmError::InsufficientCredits(_)))));
}

fn step(path: &str) -> PlanStep {
    PlanStep {
        id: 1,
        action: StepAction::Create,
        target: path.split('.').next().unwrap().into(),
        path: path.into(),
        description: "d".into(),
        priority: StepPriority::Normal,
    }
}

#[test]
fn the_generator_reads_fenced_files_and_json_batches() {
    let host = Scripted::new(&[
        "Here's the component:\n```tsx\nexport default function Footer() {\n  return <footer />;\n}\n```\nEnjoy!",
    ]);
    let request =
        GenerateRequest { steps: vec![step("Footer.tsx")], target: RuntimeTarget::Vite, ..Default::default() };
    let files = generator::generate(&host, &request).unwrap();
    assert_eq!(
        files,
        [ProjectFile::new("Footer.tsx", "export default function Footer() {\n  return <footer />;\n}\n")]
    );
    assert!(!host.asked.borrow()[0].json_mode);
    assert!(host.asked.borrow()[0].messages[0].content.contains("ES modules"), "the vite rules are in the prompt");

    let batch = r#"```json
{"files": [{"path": "./A.tsx", "content": "function A() { return <a/>; }"}, {"path": "B.tsx", "content": "function B() {\n  return <b/>;\n}\n"},]}
```"#;
    let host = Scripted::new(&[batch]);
    let request = GenerateRequest { steps: vec![step("A.tsx"), step("B.tsx")], ..Default::default() };
    let files = generator::generate(&host, &request).unwrap();
    assert_eq!(files.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(), ["A.tsx", "B.tsx"]);
    assert!(host.asked.borrow()[0].json_mode);
    assert!(
        host.asked.borrow()[0].messages[0].content.contains("never write `import`"),
        "the browser rules are in the prompt"
    );

    let host = Scripted::new(&[r#"{"files": [{"path": "A.tsx", "content": "x"}]}"#]);
    match generator::generate(&host, &request) {
        Err(AgentError::BadModelOutput(m)) => assert!(m.contains("B.tsx"), "{m}"),
        other => panic!("a missing file must be an error, got {other:?}"),
    }
}

#[test]
fn the_fixer_touches_only_files_with_errors() {
    let diagnostic = Diagnostic {
        kind: DiagnosticKind::Syntax,
        file: "B.tsx".into(),
        line: Some(2),
        message: "Unexpected token".into(),
        severity: Severity::Critical,
    };
    let request = FixRequest {
        files: vec![ProjectFile::new("A.tsx", "function A() {}\n"), ProjectFile::new("B.tsx", "function B( {\n}\n")],
        diagnostics: vec![diagnostic],
        ..Default::default()
    };
    let host = Scripted::new(&["```tsx\nfunction B() {\n}\n```"]);
    let fixed = fixer::fix(&host, &request).unwrap();
    assert_eq!(fixed, [ProjectFile::new("B.tsx", "function B() {\n}\n")]);
    let prompt = &host.asked.borrow()[0].messages[1].content;
    assert!(prompt.contains("B.tsx line 2: Unexpected token"), "{prompt}");
    assert!(prompt.contains("--- A.tsx"), "other files are shown for reference");

    // A model that returns the file unchanged has fixed nothing.
    let host = Scripted::new(&["```tsx\nfunction B( {\n}\n```"]);
    assert!(fixer::fix(&host, &request).unwrap().is_empty());
}

#[test]
fn the_browser_rules_come_from_the_measured_facts() {
    use blink_agent_sdk::browser::{BROKEN_GLOBALS, LIBRARY_GLOBALS};
    let rules = prompts::target_rules(RuntimeTarget::Browser);
    for needed in [
        "never write `import` or `export`",
        "its own module",
        "`window.Dashboard = Dashboard;`",
        "`<Dashboard />`",
        "Never read another file's names at the top level",
        "`const { useState, useEffect } = React;`",
        "`const { motion, AnimatePresence } = window.motion;`",
        "inline `<svg>`",
        "no TypeScript at all",
        "keep their .tsx or .ts names",
        "a .css, .json or .md",
        "Tailwind",
        "ReactDOM.createRoot(document.getElementById('root')).render(<App />);",
    ] {
        assert!(rules.contains(needed), "{needed:?} missing from:\n{rules}");
    }
    for (name, _) in LIBRARY_GLOBALS.iter().chain(BROKEN_GLOBALS) {
        assert!(rules.contains(name), "{name} missing");
    }
    assert!(!rules.contains("classic script"), "the old, wrong model of the preview");
    let vite = prompts::target_rules(RuntimeTarget::Vite);
    assert!(vite.contains("ES modules") && !vite.contains("window."), "{vite}");
}

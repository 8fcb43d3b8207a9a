//! The built-in test model (`BLINK_LLM_PROVIDER=test`): canned, deterministic answers in the
//! built-in agents' formats, for trying the host and testing agents with no vendor key and no
//! network. It writes a small, real app for a few common requests (a counter, a todo list, a
//! dashboard, a contact form) for either runtime target, and when the request asks for "a
//! mistake" it breaks one file so that the validator rejects it and the fixer's round happens.
//! Its answers are canned: it understands nothing.

use blink_agent_sdk::{ChatRole, LlmError};
use serde_json::json;

use super::ChatRequest;

/// The name runs record for it.
pub(crate) const MODEL: &str = "blink-test-model";

/// The apps it knows how to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum App {
    Counter,
    Todo,
    Dashboard,
    Form,
}

impl App {
    /// The app a request names, by its words; a counter when it names none of them.
    fn of(request: &str) -> Self {
        let text = request.to_lowercase();
        let any = |words: &[&str]| words.iter().any(|w| text.contains(w));
        if any(&["todo", "to-do", "task"]) {
            Self::Todo
        } else if any(&["dashboard", "stats", "metrics", "analytics"]) {
            Self::Dashboard
        } else if any(&["form", "contact", "sign up", "signup"]) {
            Self::Form
        } else {
            Self::Counter
        }
    }

    fn title(self) -> &'static str {
        match self {
            Self::Counter => "Counter",
            Self::Todo => "Todo list",
            Self::Dashboard => "Dashboard",
            Self::Form => "Contact form",
        }
    }

    /// Its components, each in its own file, those used by others first.
    fn components(self) -> &'static [&'static str] {
        match self {
            Self::Counter => &["Counter"],
            Self::Todo => &["TodoList"],
            Self::Dashboard => &["StatCard", "Dashboard"],
            Self::Form => &["ContactForm"],
        }
    }
}

/// How the files must be written, read from the rules the agents put in their prompts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// The frontend's in-browser preview: no modules, names shared on `window`, no TypeScript.
    Browser,
    Vite,
}

/// What a request is, by the shape the built-in agents give it.
enum Ask {
    Thinking,
    Plan,
    Answer,
    /// `(path, broken on purpose)` for each file to write.
    Files(Vec<(String, bool)>),
    Fix(Vec<String>),
    /// Anything else: another agent's own prompt.
    Other,
}

/// The answer to one chat completion.
pub(crate) fn answer(request: &ChatRequest) -> Result<String, LlmError> {
    let system = request.messages.iter().find(|m| m.role == ChatRole::System).map_or("", |m| m.content.as_str());
    let user = request.messages.iter().rev().find(|m| m.role == ChatRole::User).map_or("", |m| m.content.as_str());
    let target = if system.contains("There is no bundler") { Target::Browser } else { Target::Vite };
    let wanted = user_request(user);
    let app = App::of(wanted);
    let mistake = wanted.to_lowercase().contains("mistake");
    Ok(match classify(system, user, mistake) {
        Ask::Thinking => format!(
            "The user wants a {}. I would keep it to {} small component file{} and App.tsx, styled with Tailwind.",
            app.title().to_lowercase(),
            app.components().len(),
            if app.components().len() == 1 { "" } else { "s" }
        ),
        Ask::Plan => plan(wanted, app, user),
        Ask::Answer => "This is Blink's built-in test model: its answers are canned, not written by a language \
                        model. Ask it for a counter, a todo list, a dashboard or a contact form to see a whole run; \
                        add \"with a mistake\" to see the fixer at work."
            .to_string(),
        Ask::Files(paths) => files(app, target, &paths),
        Ask::Fix(paths) => files(app, target, &paths.into_iter().map(|p| (p, false)).collect::<Vec<_>>()),
        Ask::Other if request.json_mode => "{}".to_string(),
        Ask::Other => "The built-in test model answers the built-in agents' requests only.".to_string(),
    })
}

fn classify(system: &str, user: &str, mistake: bool) -> Ask {
    if user.contains("\nYour part:\n") {
        let section = user.split("\nYour part:\n").nth(1).unwrap_or_default();
        let paths: Vec<String> = section
            .lines()
            .take_while(|l| l.starts_with("- "))
            .filter_map(|l| l[2..].split_once(' ').map(|(_, rest)| rest))
            .filter_map(|rest| rest.split_once(':').map(|(path, _)| path.trim().to_string()))
            .collect();
        // The first component of the app is the one broken on purpose: App.tsx stays whole.
        let broken = paths.iter().position(|p| p != "App.tsx" && mistake);
        return Ask::Files(paths.into_iter().enumerate().map(|(i, p)| (p, Some(i) == broken)).collect());
    }
    if user.contains("Files to correct:\n") {
        let section = user.split("Files to correct:\n").nth(1).unwrap_or_default();
        let section = section.split("\nOther project files").next().unwrap_or_default();
        let paths = section.lines().filter_map(|l| l.strip_prefix("--- ")).map(|p| p.trim().to_string()).collect();
        return Ask::Fix(paths);
    }
    if user.starts_with("Conversation (oldest first):") {
        return Ask::Plan;
    }
    if user.starts_with("Request: ") && user.contains("\nExisting files:") {
        return Ask::Thinking;
    }
    if system.contains("Project files:\n") {
        return Ask::Answer;
    }
    Ask::Other
}

/// The user's words inside a built-in agent's request.
fn user_request(user: &str) -> &str {
    if let Some(rest) = user.split("The user asked: ").nth(1) {
        return rest.split("\n\n").next().unwrap_or(rest);
    }
    if let Some(conversation) = user.strip_prefix("Conversation (oldest first):\n") {
        let conversation = conversation.split("\nFile tree:").next().unwrap_or(conversation);
        return conversation.lines().rev().find_map(|l| l.strip_prefix("[user]: ")).unwrap_or_default();
    }
    if let Some(rest) = user.strip_prefix("Request: ") {
        return rest.split("\nExisting files:").next().unwrap_or(rest);
    }
    user
}

fn greeting(text: &str) -> bool {
    let words: Vec<String> =
        text.to_lowercase().split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(String::from).collect();
    words.len() <= 4 && words.iter().any(|w| ["hello", "hi", "hey", "bonjour", "salut"].contains(&w.as_str()))
}

fn plan(wanted: &str, app: App, planner_request: &str) -> String {
    if greeting(wanted) {
        let reply = "Hello! I am Blink's built-in test model (canned answers). Ask me for a counter, a todo list, \
                     a dashboard or a contact form.";
        return json!({
            "intent": "greeting", "risk_level": "low", "conversational": true, "clarification_needed": false,
            "clarification_question": null, "reply": reply, "dependencies_needed": [], "reasoning": "A greeting.",
            "steps": [],
        })
        .to_string();
    }
    if wanted.trim_end().ends_with('?') {
        return json!({
            "intent": "question", "risk_level": "low", "conversational": true, "clarification_needed": false,
            "clarification_question": null, "reply": null, "dependencies_needed": [], "reasoning": "A question.",
            "steps": [],
        })
        .to_string();
    }
    let tree = planner_request.split("\nFile tree:\n").nth(1).unwrap_or_default();
    let exists = |path: &str| tree.lines().any(|l| l.trim() == path);
    let mut steps: Vec<serde_json::Value> = app
        .components()
        .iter()
        .map(|name| {
            let path = format!("{name}.tsx");
            let action = if exists(&path) { "modify" } else { "create" };
            json!({ "action": action, "target": name, "path": path,
                    "description": format!("The {name} component of the {}", app.title().to_lowercase()),
                    "priority": "critical" })
        })
        .collect();
    let action = if exists("App.tsx") { "modify" } else { "create" };
    steps.push(json!({ "action": action, "target": "App", "path": "App.tsx",
                       "description": format!("Render the {}", app.title().to_lowercase()), "priority": "critical" }));
    for (i, step) in steps.iter_mut().enumerate() {
        step["id"] = json!(i + 1);
    }
    let risk = if steps.len() <= 2 { "low" } else { "medium" };
    json!({
        "intent": format!("build a {}", app.title().to_lowercase()),
        "risk_level": risk, "conversational": false, "clarification_needed": false, "clarification_question": null,
        "reply": null, "dependencies_needed": [], "reasoning": "The test model's canned plan for this app.",
        "steps": steps,
    })
    .to_string()
}

/// The files asked for: one in a fenced block, several as the JSON object the agents ask for.
fn files(app: App, target: Target, paths: &[(String, bool)]) -> String {
    let written: Vec<(String, String)> = paths
        .iter()
        .map(|(path, broken)| {
            let name = path.rsplit('/').next().unwrap_or(path).trim_end_matches(".tsx").trim_end_matches(".ts");
            let mut content = if name == "App" { app_file(app, target) } else { component(name, target) };
            if *broken {
                // An unclosed function body: a syntax error the validator reports on this file.
                content = content.replacen("\n}\n", "\n\n", 1);
            }
            (path.clone(), content)
        })
        .collect();
    match written.as_slice() {
        [(_, content)] => format!("```tsx\n{content}```"),
        _ => {
            let files: Vec<_> =
                written.iter().map(|(path, content)| json!({ "path": path, "content": content })).collect();
            json!({ "files": files }).to_string()
        }
    }
}

/// A component's source, written once: `$state` is React's `useState` as the target reaches it,
/// and `«…»` holds TypeScript that only the Vite target keeps.
fn component(name: &str, target: Target) -> String {
    let (body, hooks): (String, bool) = match name {
        "Counter" => (COUNTER.into(), true),
        "TodoList" => (TODO.into(), true),
        "StatCard" => (STAT_CARD.into(), false),
        "Dashboard" => (DASHBOARD.into(), false),
        "ContactForm" => (CONTACT_FORM.into(), true),
        other => (generic(other), false),
    };
    let body = match target {
        Target::Vite => body.replace("$state", "useState").replace(['«', '»'], ""),
        Target::Browser => strip_typescript(&body.replace("$state", "React.useState")),
    };
    match target {
        Target::Vite => {
            let imports = match name {
                "Dashboard" => "import StatCard from './StatCard';\n\n",
                _ if hooks => "import { useState } from 'react';\n\n",
                _ => "",
            };
            format!("{imports}export default {body}")
        }
        Target::Browser => format!("{body}\nwindow.{name} = {name};\n"),
    }
}

/// Drops every `«…»`.
fn strip_typescript(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut typed = false;
    for c in source.chars() {
        match c {
            '«' => typed = true,
            '»' => typed = false,
            _ if !typed => out.push(c),
            _ => {}
        }
    }
    out
}

fn generic(name: &str) -> String {
    format!(
        "function {name}() {{\n  return (\n    <section className=\"rounded-xl bg-white p-6 shadow\">\n      \
         <h2 className=\"text-lg font-semibold text-slate-800\">{name}</h2>\n    </section>\n  );\n}}\n"
    )
}

fn app_file(app: App, target: Target) -> String {
    let main = app.components().last().copied().unwrap_or("Counter");
    let body = format!(
        "function App() {{\n  return (\n    <main className=\"min-h-screen bg-slate-50 flex flex-col items-center \
         gap-6 p-10\">\n      <h1 className=\"text-3xl font-bold text-slate-900\">{title}</h1>\n      <{main} />\n    \
         </main>\n  );\n}}\n",
        title = app.title()
    );
    match target {
        Target::Vite => format!("import {main} from './{main}';\n\nexport default {body}"),
        Target::Browser => format!("{body}\nReactDOM.createRoot(document.getElementById('root')).render(<App />);\n"),
    }
}

const COUNTER: &str = r#"function Counter() {
  const [count, setCount] = $state(0);
  return (
    <div className="flex flex-col items-center gap-4 rounded-xl bg-white p-8 shadow">
      <p className="text-5xl font-bold text-slate-800" data-testid="count">{count}</p>
      <div className="flex gap-2">
        <button className="rounded bg-slate-200 px-4 py-2" onClick={() => setCount(count - 1)}>-</button>
        <button className="rounded bg-indigo-600 px-4 py-2 text-white" onClick={() => setCount(count + 1)}>+</button>
      </div>
    </div>
  );
}
"#;

const TODO: &str = r#"function TodoList() {
  const [items, setItems] = $state«<{ id: number; text: string; done: boolean }[]>»([]);
  const [text, setText] = $state("");
  const add = () => {
    if (!text.trim()) return;
    setItems([...items, { id: Date.now(), text: text.trim(), done: false }]);
    setText("");
  };
  return (
    <div className="w-full max-w-md rounded-xl bg-white p-6 shadow">
      <form className="flex gap-2" onSubmit={(e) => { e.preventDefault(); add(); }}>
        <input className="flex-1 rounded border px-3 py-2" value={text} placeholder="What needs doing?"
          onChange={(e) => setText(e.target.value)} />
        <button className="rounded bg-indigo-600 px-4 py-2 text-white" type="submit">Add</button>
      </form>
      <ul className="mt-4 space-y-2">
        {items.map((item) => (
          <li key={item.id} className="flex items-center gap-2">
            <input type="checkbox" checked={item.done}
              onChange={() => setItems(items.map((i) => (i.id === item.id ? { ...i, done: !i.done } : i)))} />
            <span className={item.done ? "line-through text-slate-400" : "text-slate-800"}>{item.text}</span>
          </li>
        ))}
      </ul>
      <p className="mt-4 text-sm text-slate-500">{items.filter((i) => !i.done).length} left</p>
    </div>
  );
}
"#;

const STAT_CARD: &str = r#"function StatCard({ label, value, change }«: { label: string; value: string; change: number }») {
  return (
    <div className="rounded-xl bg-white p-5 shadow">
      <p className="text-sm text-slate-500">{label}</p>
      <p className="mt-1 text-2xl font-semibold text-slate-900">{value}</p>
      <p className={change >= 0 ? "text-sm text-emerald-600" : "text-sm text-rose-600"}>
        {change >= 0 ? "+" : ""}{change}%
      </p>
    </div>
  );
}
"#;

const DASHBOARD: &str = r#"function Dashboard() {
  const stats = [
    { label: "Visitors", value: "12,480", change: 8.2 },
    { label: "Sign-ups", value: "1,032", change: 3.1 },
    { label: "Revenue", value: "$9,214", change: -1.4 },
  ];
  const week = [40, 65, 52, 80, 74, 92, 60];
  return (
    <div className="w-full max-w-3xl space-y-6">
      <div className="grid grid-cols-1 gap-4 sm:grid-cols-3">
        {stats.map((s) => <StatCard key={s.label} label={s.label} value={s.value} change={s.change} />)}
      </div>
      <div className="flex h-40 items-end gap-2 rounded-xl bg-white p-5 shadow">
        {week.map((v, i) => <div key={i} className="flex-1 rounded-t bg-indigo-500" style={{ height: v + "%" }} />)}
      </div>
    </div>
  );
}
"#;

const CONTACT_FORM: &str = r#"function ContactForm() {
  const [form, setForm] = $state({ name: "", email: "", message: "" });
  const [sent, setSent] = $state(false);
  const valid = form.name.trim() !== "" && form.email.includes("@") && form.message.trim() !== "";
  if (sent) {
    return <p className="rounded-xl bg-white p-6 shadow text-emerald-700">Thanks, {form.name}! We will write back soon.</p>;
  }
  return (
    <form className="w-full max-w-md space-y-3 rounded-xl bg-white p-6 shadow"
      onSubmit={(e) => { e.preventDefault(); if (valid) setSent(true); }}>
      <input className="w-full rounded border px-3 py-2" placeholder="Name" value={form.name}
        onChange={(e) => setForm({ ...form, name: e.target.value })} />
      <input className="w-full rounded border px-3 py-2" placeholder="Email" type="email" value={form.email}
        onChange={(e) => setForm({ ...form, email: e.target.value })} />
      <textarea className="w-full rounded border px-3 py-2" placeholder="Message" rows={4} value={form.message}
        onChange={(e) => setForm({ ...form, message: e.target.value })} />
      <button className="w-full rounded bg-indigo-600 px-4 py-2 text-white disabled:opacity-50" type="submit"
        disabled={!valid}>Send</button>
    </form>
  );
}
"#;

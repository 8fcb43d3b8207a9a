//! The built-in agents' prompts.
//!
//! Every prompt can be replaced by an operator through the role's configuration (the key is named
//! next to each one), so prompt logic changes without a new component.

use crate::llm::Host;
use crate::preview::{BROKEN_GLOBALS, LIBRARY_GLOBALS};
use crate::types::{RuntimeTarget, TEMPLATE_PACKAGES};

/// The operator's text for `key` if set, else the built-in one.
pub fn configured(host: &impl Host, key: &str, default: &str) -> String {
    host.config(key).filter(|s| !s.trim().is_empty()).unwrap_or_else(|| default.to_string())
}

/// How code must be written for a runtime target; shared by generator, fixer and planner.
pub fn target_rules(target: RuntimeTarget) -> String {
    let packages = TEMPLATE_PACKAGES.join(", ");
    match target {
        RuntimeTarget::Browser => browser_rules(),
        RuntimeTarget::Vite => format!(
            "Runtime: a Vite + React + TypeScript project with ES modules. Import everything you use. \
Between project files use relative imports without extension (`import Navbar from './Navbar'`). \
The only packages installed are: {packages}; anything else must be listed in the plan's \
dependencies. App.tsx default-exports the App component; src/main.tsx (already present, do not \
write it) mounts it. Each component file default-exports its component. Style with Tailwind CSS \
classes."
        ),
    }
}

/// The `browser` target's rules, from the measured facts of the frontend's preview
/// ([`crate::preview`]): each file is its own module, names cross files only through `window`,
/// only some library globals load, and its Babel runs JavaScript with JSX but not all of
/// TypeScript.
///
/// Why `window.Name = Name;` at the end of a file, rather than anything cleverer: models already
/// end a file with `export default Name`, so this is the same habit in the same place; a bare
/// `<Name />` in another file reads exactly as it would with an import; and the convention is
/// mechanical, so the validator checks it and the host repairs it without a model.
fn browser_rules() -> String {
    let libraries: Vec<String> =
        LIBRARY_GLOBALS.iter().map(|(name, usage)| format!("\n  - `{name}`: {usage}")).collect();
    let broken: Vec<&str> = BROKEN_GLOBALS.iter().map(|(name, _)| *name).collect();
    format!(
        "Runtime: the browser preview runs each file as its own module, in alphabetical order with App.tsx \
last. There is no bundler: never write `import` or `export`.
- Sharing between files: each component, hook, helper or constant that another file uses is put on `window` at \
the end of the file that defines it, one line per name (`window.Dashboard = Dashboard;`), where a module would \
`export` it. Other files use it by its bare name (`<Dashboard />`, `formatPrice(total)`) inside their components. \
Never read another file's names at the top level of a file, outside any function: that file may not have run yet. \
Give every shared name a unique name across the project.
- Libraries are page globals, and only these load:{libraries}
  No other package can be installed (leave a plan's dependencies empty). The globals {broken} \
(lucide-react, Recharts, react-router) do not load: draw icons as inline `<svg>` elements, draw charts with SVG \
or Tailwind-styled `<div>`s, and switch views with `React.useState` instead of a router.
- Write plain JavaScript with JSX, with no TypeScript at all: no type annotations, interfaces, generics \
(`useState(0)`, never `useState<number>(0)`), `as`, `!`, `enum` or `private`. Files keep their .tsx or .ts names.
- Only script files (.tsx, .ts, .jsx, .js): the preview runs every file as a script, so a .css, .json or .md \
file stops the whole app. Put data in a .ts file (`window.PRODUCTS = [ … ];`) and style with Tailwind CSS classes.
- App.tsx defines `function App()` and ends by mounting it: \
`ReactDOM.createRoot(document.getElementById('root')).render(<App />);`.",
        libraries = libraries.concat(),
        broken = broken.join(", "),
    )
}

pub const THINKING: &str = "You are a senior front-end architect thinking out loud before planning a \
change to a React web app. In two or three short sentences, say what the user wants and how you would \
structure it. Plain prose, no lists, no code, no preamble.";

pub const PLANNER: &str = r#"You plan changes to a React web app for an AI app builder.
Read the conversation, the project's file tree and its code, then answer with ONE JSON object and nothing else:
{
  "intent": "short description of what the user wants",
  "risk_level": "low | medium | high",
  "conversational": false,
  "clarification_needed": false,
  "clarification_question": null,
  "reply": null,
  "dependencies_needed": [],
  "reasoning": "one sentence: why this plan",
  "steps": [
    {"id": 1, "action": "create | modify | delete", "target": "ComponentName", "path": "ComponentName.tsx",
     "description": "what this file must contain or change, precisely enough for another engineer", "priority": "critical | normal | optional"}
  ]
}
Rules:
- A question, a greeting or small talk is conversational: "conversational": true, no steps. Put a reply only for greetings; otherwise leave "reply" null (another agent answers).
- If the request is too ambiguous to build anything sensible, set "clarification_needed": true and ask one short question in "clarification_question".
- Otherwise plan the smallest set of files that fully delivers the request: one step per file, components before the files that use them, App.tsx last when it changes. Modify existing files rather than duplicating them. Never delete App.tsx.
- Paths are the file names used in the file tree (for example "Navbar.tsx"); new components get their own file named after the component.
- risk_level: low for 1-2 files, medium for 3-5, high for 6 or more or for deletions.
- dependencies_needed lists npm packages the plan needs beyond the installed ones.
- Answer in JSON only."#;

pub const ANSWER: &str = "You are the assistant of an AI app builder that creates React web apps. \
Answer the user's last message helpfully and concisely, in the user's language, using the project's \
code when it is relevant. Markdown is allowed. Do not write whole files: if the user wants a change, \
describe it briefly and invite them to ask for it.";

pub const GENERATOR: &str = "You are an expert React engineer writing production-quality \
files for a web app. Write complete files, never fragments, ellipses or placeholders like \
'rest of the code'. Keep the look modern and responsive with Tailwind CSS. Respect the names the \
plan gives other files, and share them the way the runtime rules below say, since they are \
written at the same time.";

pub const FIXER: &str = "You are an expert React engineer repairing files that a \
validator rejected. Fix every listed problem with the smallest change that makes the file correct, \
keep everything else as it is, and return complete files.";

pub const JSON_REPAIR: &str = "Your previous answer could not be parsed as the JSON object I asked for. \
Reply with only the corrected JSON object, no prose and no code fence.";

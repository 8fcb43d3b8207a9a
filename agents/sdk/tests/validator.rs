//! The deterministic validator against realistic generated projects, for both runtime targets.
//!
//! Over 500 lines: one test file per surface (the validator), so a failure names the surface.

use blink_agent_sdk::validator::validate;
use blink_agent_sdk::{
    Diagnostic, DiagnosticKind, ProjectFile, RuntimeTarget, Severity, ValidateRequest, ValidationReport,
};

fn request(target: RuntimeTarget, files: &[(&str, &str)], dependencies: &[&str]) -> ValidateRequest {
    ValidateRequest {
        files: files.iter().map(|(path, content)| ProjectFile::new(*path, *content)).collect(),
        changed: files.iter().map(|(path, _)| path.to_string()).collect(),
        dependencies: dependencies.iter().map(|d| d.to_string()).collect(),
        target,
        ..ValidateRequest::default()
    }
}

fn vite(files: &[(&str, &str)]) -> ValidationReport {
    validate(&request(RuntimeTarget::Vite, files, &[]))
}

fn browser(files: &[(&str, &str)]) -> ValidationReport {
    validate(&request(RuntimeTarget::Browser, files, &[]))
}

/// The 1-based line of the first occurrence of `needle`, so tests do not count lines by hand.
fn line_of(source: &str, needle: &str) -> u32 {
    let offset = source.find(needle).unwrap_or_else(|| panic!("{needle:?} not in the source"));
    1 + source[..offset].matches('\n').count() as u32
}

fn only(diagnostics: &[Diagnostic]) -> &Diagnostic {
    assert_eq!(diagnostics.len(), 1, "expected exactly one diagnostic, got {diagnostics:#?}");
    &diagnostics[0]
}

fn assert_diag(d: &Diagnostic, kind: DiagnosticKind, severity: Severity, file: &str, line: Option<u32>) {
    assert_eq!((d.kind, d.severity, d.file.as_str(), d.line), (kind, severity, file, line), "{d:#?}");
}

fn assert_clean(report: &ValidationReport) {
    assert!(report.errors.is_empty(), "unexpected errors: {:#?}", report.errors);
    assert!(report.warnings.is_empty(), "unexpected warnings: {:#?}", report.warnings);
    assert_eq!(report.confidence_score, 100);
}

const VITE_APP: &str = r#"import { useEffect, useMemo, useState } from 'react';
import type { Feature } from './types';
import Navbar from './components/Navbar';
import { Hero, heroCopy } from './components/Hero';
import { Sparkles, Zap } from 'lucide-react';
import { motion } from 'framer-motion';
import { format } from 'date-fns';
import './index.css';

const FEATURES: Feature[] = [
  { id: 1, title: 'Fast', description: 'Ships in seconds', icon: 'zap' },
  { id: 2, title: 'Delightful', description: 'Polished by default', icon: 'sparkles' },
];

export default function App() {
  const [query, setQuery] = useState('');
  const [now, setNow] = useState(() => new Date());

  useEffect(() => {
    const timer = setInterval(() => setNow(new Date()), 1000);
    return () => clearInterval(timer);
  }, []);

  const visible = useMemo(
    () => FEATURES.filter((f) => f.title.toLowerCase().includes(query.toLowerCase())),
    [query],
  );

  return (
    <div className="min-h-screen bg-slate-950 text-white">
      <Navbar title="Blink" links={['Home', 'Pricing']} />
      <Hero headline={heroCopy.headline} />
      <input
        className="mx-auto mt-8 block rounded border px-3 py-2 text-black"
        value={query}
        onChange={(e) => setQuery(e.target.value)}
        placeholder="Search features"
      />
      <ul className="mt-6 grid gap-4 md:grid-cols-2">
        {visible.map((feature) => (
          <motion.li key={feature.id} layout className="rounded-xl bg-slate-900 p-4">
            {feature.icon === 'zap' ? <Zap className="h-5 w-5" /> : <Sparkles className="h-5 w-5" />}
            <h3 className="font-semibold">{feature.title}</h3>
            <p className="text-slate-400">{feature.description}</p>
          </motion.li>
        ))}
      </ul>
      <footer className="py-8 text-center text-xs">{format(now, 'PPpp')}</footer>
    </div>
  );
}
"#;

const VITE_NAVBAR: &str = r#"import { useState } from 'react';
import { Menu, X } from 'lucide-react';
import clsx from 'clsx';

interface NavbarProps {
  title: string;
  links: string[];
}

export default function Navbar({ title, links }: NavbarProps) {
  const [open, setOpen] = useState(false);
  const Icon = open ? X : Menu;
  return (
    <nav className="flex items-center justify-between px-6 py-4">
      <span className="text-lg font-bold">{title}</span>
      <button aria-label="Toggle menu" onClick={() => setOpen((o) => !o)}>
        <Icon className="h-6 w-6" />
      </button>
      <ul className={clsx('gap-4', open ? 'flex' : 'hidden md:flex')}>
        {links.map((link) => (
          <li key={link}>
            <a href={`#${link.toLowerCase()}`}>{link}</a>
          </li>
        ))}
      </ul>
    </nav>
  );
}
"#;

const VITE_HERO: &str = r#"export const heroCopy = {
  headline: 'Build apps at the speed of thought',
};

type HeroProps = { headline: string };

export function Hero({ headline }: HeroProps) {
  return (
    <section className="px-6 py-24 text-center">
      <h1 className="text-5xl font-extrabold tracking-tight">{headline}</h1>
    </section>
  );
}
"#;

const VITE_TYPES: &str = r#"export interface Feature {
  id: number;
  title: string;
  description: string;
  icon: 'zap' | 'sparkles';
}
"#;

const INDEX_CSS: &str = "@tailwind base;\n@tailwind components;\n@tailwind utilities;\n";

fn vite_project() -> Vec<(&'static str, &'static str)> {
    vec![
        ("App.tsx", VITE_APP),
        ("components/Navbar.tsx", VITE_NAVBAR),
        ("components/Hero.tsx", VITE_HERO),
        ("types.ts", VITE_TYPES),
        ("index.css", INDEX_CSS),
    ]
}

#[test]
fn a_valid_vite_project_is_clean() {
    assert_clean(&vite(&vite_project()));
}

#[test]
fn flat_names_and_src_paths_are_one_directory() {
    // The frontend sends flat names; files under `src/` and `./`-prefixed paths are the same place.
    let report = vite(&[
        ("./App.tsx", VITE_APP),
        ("src/components/Navbar.tsx", VITE_NAVBAR),
        ("/src/components/Hero.tsx", VITE_HERO),
        ("src/types.ts", VITE_TYPES),
        ("src/index.css", INDEX_CSS),
    ]);
    assert_clean(&report);

    // Diagnostics name a file as it was sent, so the client can match them.
    let broken =
        vite(&[("./App.tsx", VITE_APP), ("/src/components/Hero.tsx", VITE_HERO), ("src/types.ts", VITE_TYPES)]);
    let files: Vec<&str> = broken.errors.iter().map(|e| e.file.as_str()).collect();
    assert_eq!(files, vec!["./App.tsx", "./App.tsx"], "{:#?}", broken.errors);
    assert!(broken.errors[0].message.contains("Cannot resolve './components/Navbar' from App.tsx"));
}

const BROWSER_NAVBAR: &str = r#"function Navbar({ links, onSelect }: { links: string[]; onSelect: (l: string) => void }) {
  const [open, setOpen] = React.useState(false);
  return (
    <nav className="flex items-center justify-between bg-white px-6 py-4 shadow">
      <button onClick={() => setOpen(!open)} className="md:hidden">
        <svg viewBox="0 0 24 24" className="h-6 w-6" fill="none" stroke="currentColor" strokeWidth={2}>
          <path d={open ? 'M6 6l12 12M6 18L18 6' : 'M4 6h16M4 12h16M4 18h16'} />
        </svg>
      </button>
      <ul className="hidden gap-6 md:flex">
        {links.map((link) => (
          <li key={link}>
            <button onClick={() => onSelect(link)}>{link}</button>
          </li>
        ))}
      </ul>
    </nav>
  );
}

window.Navbar = Navbar;
"#;

const BROWSER_CARD: &str = r#"const StatCard = ({ label, value, icon: Icon }) => (
  <div className="rounded-xl bg-white p-4 shadow">
    <Icon className="h-5 w-5 text-indigo-500" />
    <p className="text-sm text-gray-500">{label}</p>
    <p className="text-2xl font-semibold">{value}</p>
  </div>
);

window.StatCard = StatCard;
"#;

const BROWSER_APP: &str = r#"const { useState, useMemo, Fragment } = React;

const Dot = ({ className }) => (
  <svg viewBox="0 0 24 24" className={className} fill="currentColor"><circle cx="12" cy="12" r="6" /></svg>
);

function App() {
  const [page, setPage] = useState('Home');
  const stats = useMemo(() => [
    { label: 'Users', value: 1204, icon: Dot },
    { label: 'Revenue', value: '$8.2k', icon: Dot },
  ], []);

  return (
    <Fragment>
      <Navbar links={['Home', 'Stats']} onSelect={setPage} />
      <main className="mx-auto max-w-4xl p-6">
        <h1 className="text-3xl font-bold">{page}</h1>
        <div className="mt-6 grid grid-cols-2 gap-4">
          {stats.map((s) => <StatCard key={s.label} {...s} />)}
        </div>
        <div className="mt-6 flex h-40 items-end gap-2">
          {[3, 5, 2, 8].map((v, i) => <div key={i} className="w-6 bg-indigo-500" style={{ height: `${v * 10}%` }} />)}
        </div>
      </main>
    </Fragment>
  );
}

ReactDOM.createRoot(document.getElementById('root')).render(<App />);
"#;

#[test]
fn a_valid_browser_project_is_clean() {
    let report = browser(&[("Navbar.tsx", BROWSER_NAVBAR), ("StatCard.tsx", BROWSER_CARD), ("App.tsx", BROWSER_APP)]);
    assert_clean(&report);
}

#[test]
fn browser_mount_through_a_root_variable_counts() {
    let app = BROWSER_APP.replace(
        "ReactDOM.createRoot(document.getElementById('root')).render(<App />);",
        "const root = ReactDOM.createRoot(document.getElementById('root'));\nroot.render(<App />);",
    );
    let report = browser(&[("Navbar.tsx", BROWSER_NAVBAR), ("StatCard.tsx", BROWSER_CARD), ("App.tsx", &app)]);
    assert_clean(&report);
}

#[test]
fn browser_app_that_never_mounts_is_a_runtime_error() {
    let app = BROWSER_APP.replace("ReactDOM.createRoot(document.getElementById('root')).render(<App />);", "");
    let report = browser(&[("Navbar.tsx", BROWSER_NAVBAR), ("StatCard.tsx", BROWSER_CARD), ("App.tsx", &app)]);
    let error = only(&report.errors);
    assert_diag(error, DiagnosticKind::Runtime, Severity::Critical, "App.tsx", None);
    assert!(error.message.contains("createRoot"), "{}", error.message);
    assert_eq!(report.confidence_score, 70);
}

#[test]
fn a_syntax_error_is_reported_on_its_line() {
    let navbar = r#"import { useState } from 'react';

export default function Navbar() {
  const [open, setOpen] = useState(false);
  return (
    <nav className="flex">
      <button onClick={() => setOpen(!open)}>Menu</button>
    </nav>
  ;
}
"#;
    let report = vite(&[
        ("App.tsx", VITE_APP),
        ("components/Navbar.tsx", navbar),
        ("components/Hero.tsx", VITE_HERO),
        ("types.ts", VITE_TYPES),
        ("index.css", INDEX_CSS),
    ]);
    let error = only(&report.errors);
    assert_diag(
        error,
        DiagnosticKind::Syntax,
        Severity::Critical,
        "components/Navbar.tsx",
        Some(line_of(navbar, "  ;")),
    );
    assert!(!error.message.is_empty());
    assert_eq!(report.confidence_score, 70);
}

#[test]
fn a_file_that_does_not_parse_gets_no_other_checks() {
    let app = "export default function App() {\n  eval('1');\n  return <div>\n}\n";
    let report = vite(&[("App.tsx", app)]);
    assert!(report.errors.iter().all(|e| e.kind == DiagnosticKind::Syntax), "{:#?}", report.errors);
    assert!(!report.errors.is_empty());
}

#[test]
fn invalid_json_is_a_syntax_error() {
    let package = "{\n  \"name\": \"demo\",\n  \"dependencies\": {\n    \"axios\": \"^1.6.0\",\n  }\n}\n";
    let mut files = vite_project();
    files.push(("package.json", package));
    files.push(("tsconfig.json", "{ // comments are fine here\n \"compilerOptions\": {} }"));
    let report = vite(&files);
    let error = only(&report.errors);
    assert_diag(error, DiagnosticKind::Syntax, Severity::Critical, "package.json", Some(5));
}

#[test]
fn a_missing_import_target_is_critical() {
    let app =
        VITE_APP.replace("import './index.css';", "import './index.css';\nimport Footer from './components/Footer';");
    let mut files = vite_project();
    files[0] = ("App.tsx", &app);
    let report = vite(&files);
    let error = only(&report.errors);
    assert_diag(error, DiagnosticKind::Import, Severity::Critical, "App.tsx", Some(line_of(&app, "import Footer")));
    assert!(error.message.contains("Cannot resolve './components/Footer' from App.tsx"), "{}", error.message);
}

#[test]
fn a_missing_stylesheet_and_a_wrong_case_are_reported() {
    let app = VITE_APP
        .replace("import './index.css';", "import './styles/app.css';")
        .replace("'./components/Navbar'", "'./components/navbar'");
    let mut files = vite_project();
    files[0] = ("App.tsx", &app);
    let report = vite(&files);
    assert_eq!(report.errors.len(), 2, "{:#?}", report.errors);
    let case = &report.errors[0];
    assert_diag(case, DiagnosticKind::Import, Severity::Critical, "App.tsx", Some(line_of(&app, "navbar")));
    assert!(case.message.contains("components/Navbar.tsx"), "{}", case.message);
    let css = &report.errors[1];
    assert_diag(css, DiagnosticKind::Import, Severity::Critical, "App.tsx", Some(line_of(&app, "app.css")));
    assert!(css.message.contains("'./styles/app.css'"));
}

#[test]
fn a_missing_dynamic_import_target_is_critical() {
    let app = VITE_APP.replace(
        "  const [query, setQuery] = useState('');",
        "  const [query, setQuery] = useState('');\n  const load = () => import('./pages/Settings');",
    );
    let mut files = vite_project();
    files[0] = ("App.tsx", &app);
    let error_lines: Vec<_> = vite(&files).errors.iter().map(|e| (e.kind, e.line)).collect();
    assert_eq!(error_lines, vec![(DiagnosticKind::Import, Some(line_of(&app, "import('./pages")))]);
}

#[test]
fn an_unknown_package_is_major_until_declared() {
    let api = r#"import axios from 'axios';
import { useQuery } from '@tanstack/react-query';
import { createRoot } from 'react-dom/client';
import { jsx } from 'react/jsx-runtime';
import type { AxiosResponse } from 'axios-types';

export async function fetchUsers(): Promise<string[]> {
  const response = await axios.get('/api/users');
  return response.data;
}

export const tools = { useQuery, createRoot, jsx };
"#;
    let mut files = vite_project();
    files.push(("api.ts", api));

    let report = validate(&request(RuntimeTarget::Vite, &files, &[]));
    assert_eq!(report.errors.len(), 2, "{:#?}", report.errors);
    let axios = &report.errors[0];
    assert_diag(axios, DiagnosticKind::Import, Severity::Major, "api.ts", Some(1));
    assert!(axios.message.contains("'axios'") && axios.message.contains("not installed"), "{}", axios.message);
    let query = &report.errors[1];
    assert_diag(query, DiagnosticKind::Import, Severity::Major, "api.ts", Some(2));
    assert!(query.message.contains("'@tanstack/react-query'"), "{}", query.message);
    assert_eq!(report.confidence_score, 70);

    let declared = validate(&request(RuntimeTarget::Vite, &files, &["axios@^1.6.0", "@tanstack/react-query"]));
    assert_clean(&declared);
}

#[test]
fn named_and_default_imports_must_be_exported() {
    let app = VITE_APP
        .replace(
            "import { Hero, heroCopy } from './components/Hero';",
            "import { Hero, heroCopy, HeroBanner } from './components/Hero';",
        )
        .replace(
            "import Navbar from './components/Navbar';",
            "import Navbar from './components/Navbar';\nimport Hero2 from './components/Hero';",
        );
    let mut files = vite_project();
    files[0] = ("App.tsx", &app);
    let report = vite(&files);
    assert_eq!(report.errors.len(), 2, "{:#?}", report.errors);

    let named = report.errors.iter().find(|e| e.message.contains("HeroBanner")).expect("named export error");
    assert_diag(named, DiagnosticKind::Reference, Severity::Critical, "App.tsx", Some(line_of(&app, "HeroBanner")));
    assert!(named.message.contains("components/Hero.tsx"), "{}", named.message);

    let default = report.errors.iter().find(|e| e.message.contains("no default export")).expect("default error");
    assert_diag(default, DiagnosticKind::Reference, Severity::Critical, "App.tsx", Some(line_of(&app, "import Hero2")));
}

#[test]
fn re_exports_aliases_and_types_satisfy_imports() {
    let index = r#"export * from './Hero';
export { default as Navbar } from './Navbar';
"#;
    let utils = r#"function cn(...parts: string[]) {
  return parts.filter(Boolean).join(' ');
}
const VERSION = '1.0.0';
export type Theme = 'light' | 'dark';
export { cn as classNames, VERSION as default };
"#;
    let app = r#"import { Hero, heroCopy, Navbar } from './components';
import version, { classNames, type Theme } from './utils';

const theme: Theme = 'dark';

export default function App() {
  return (
    <div className={classNames('app', theme)} data-version={version}>
      <Navbar title="x" links={[]} />
      <Hero headline={heroCopy.headline} />
    </div>
  );
}
"#;
    let report = vite(&[
        ("App.tsx", app),
        ("components/index.ts", index),
        ("components/Navbar.tsx", VITE_NAVBAR),
        ("components/Hero.tsx", VITE_HERO),
        ("utils.ts", utils),
    ]);
    assert_clean(&report);
}

#[test]
fn vite_app_without_default_export_is_a_runtime_error() {
    let app = VITE_APP.replace("export default function App()", "export function App()");
    let mut files = vite_project();
    files[0] = ("App.tsx", &app);
    let report = vite(&files);
    let error = only(&report.errors);
    assert_diag(error, DiagnosticKind::Runtime, Severity::Critical, "App.tsx", None);
    assert!(error.message.contains("export default"), "{}", error.message);
}

#[test]
fn vite_component_used_without_import_is_a_reference_error() {
    let app = VITE_APP.replace(
        "      <Hero headline={heroCopy.headline} />",
        "      <Hero headline={heroCopy.headline} />\n      <Footer year={2025} />",
    );
    let mut files = vite_project();
    files[0] = ("App.tsx", &app);
    let report = vite(&files);
    let error = only(&report.errors);
    assert_diag(error, DiagnosticKind::Reference, Severity::Critical, "App.tsx", Some(line_of(&app, "<Footer")));
    assert!(error.message.contains("<Footer>"), "{}", error.message);
}

#[test]
fn a_project_without_app_is_a_runtime_error() {
    let report = vite(&[("components/Hero.tsx", VITE_HERO)]);
    let error = only(&report.errors);
    assert_diag(error, DiagnosticKind::Runtime, Severity::Critical, "App.tsx", None);
}

#[test]
fn import_and_export_in_browser_mode_are_critical() {
    let navbar = format!("import React, {{ useState }} from 'react';\n\n{}\nexport default Navbar;\n", BROWSER_NAVBAR);
    let report = browser(&[("Navbar.tsx", &navbar), ("StatCard.tsx", BROWSER_CARD), ("App.tsx", BROWSER_APP)]);
    assert_eq!(report.errors.len(), 2, "{:#?}", report.errors);
    assert_diag(&report.errors[0], DiagnosticKind::Import, Severity::Critical, "Navbar.tsx", Some(1));
    assert!(report.errors[0].message.starts_with("import/export is not available in browser mode"));
    assert_diag(
        &report.errors[1],
        DiagnosticKind::Import,
        Severity::Critical,
        "Navbar.tsx",
        Some(line_of(&navbar, "export default")),
    );
    assert!(report.errors[1].message.contains("`window.Navbar = Navbar;`"), "{}", report.errors[1].message);
}

#[test]
fn an_undefined_component_in_browser_mode_is_critical() {
    let app = BROWSER_APP
        .replace("      </main>", "      </main>\n      <Footer year={2025} />\n      <Footer year={2026} />");
    let report = browser(&[("Navbar.tsx", BROWSER_NAVBAR), ("StatCard.tsx", BROWSER_CARD), ("App.tsx", &app)]);
    let error = only(&report.errors);
    assert_diag(error, DiagnosticKind::Reference, Severity::Critical, "App.tsx", Some(line_of(&app, "<Footer")));
    assert!(error.message.contains("<Footer>"), "{}", error.message);

    // Each file is its own module: defining it in another file is not enough ...
    let footer = "function Footer({ year }) {\n  return <footer className=\"py-6\">© {year}</footer>;\n}\n";
    let files =
        [("Navbar.tsx", BROWSER_NAVBAR), ("StatCard.tsx", BROWSER_CARD), ("App.tsx", &app), ("Footer.tsx", footer)];
    let error = only(&browser(&files).errors).clone();
    assert_diag(&error, DiagnosticKind::Reference, Severity::Critical, "App.tsx", Some(line_of(&app, "<Footer")));
    assert_eq!(
        error.message,
        "`<Footer>` is defined in Footer.tsx but each file is its own module: end Footer.tsx with \
         `window.Footer = Footer;`."
    );

    // ... the file must put it on `window`, and then the file's place in the load order does not
    // matter for a name read at render time.
    let footer = format!("{footer}window.Footer = Footer;\n");
    let fixed = browser(&[
        ("Navbar.tsx", BROWSER_NAVBAR),
        ("StatCard.tsx", BROWSER_CARD),
        ("App.tsx", &app),
        ("Footer.tsx", &footer),
    ]);
    assert_clean(&fixed);
}

const RISKY: &str = r#"import { useEffect, useState } from 'react';

export default function Widget({ html, formula }: { html: string; formula: string }) {
  const [value, setValue] = useState(0);
  useEffect(() => {
    setValue(eval(formula));
    const square = new Function('x', 'return x * x');
    document.write('<p>legacy</p>');
    console.log(square(2));
  }, [formula]);
  return <div className="prose" dangerouslySetInnerHTML={{ __html: html }} data-value={value} />;
}
"#;

#[test]
fn each_security_finding_has_its_kind_severity_and_line() {
    let mut files = vite_project();
    files.push(("Widget.tsx", RISKY));
    let report = vite(&files);

    assert_eq!(report.errors.len(), 2, "{:#?}", report.errors);
    assert_diag(
        &report.errors[0],
        DiagnosticKind::Security,
        Severity::Major,
        "Widget.tsx",
        Some(line_of(RISKY, "eval(")),
    );
    assert!(report.errors[0].message.contains("eval"));
    assert_diag(
        &report.errors[1],
        DiagnosticKind::Security,
        Severity::Major,
        "Widget.tsx",
        Some(line_of(RISKY, "new Function")),
    );
    assert!(report.errors[1].message.contains("Function"));

    assert_eq!(report.warnings.len(), 2, "{:#?}", report.warnings);
    assert_diag(
        &report.warnings[0],
        DiagnosticKind::Security,
        Severity::Minor,
        "Widget.tsx",
        Some(line_of(RISKY, "document.write")),
    );
    assert_diag(
        &report.warnings[1],
        DiagnosticKind::Security,
        Severity::Major,
        "Widget.tsx",
        Some(line_of(RISKY, "dangerouslySetInnerHTML")),
    );
    // 100 − 2 × 15 (major errors) − 2 (minor warning) − 5 (major warning)
    assert_eq!(report.confidence_score, 63);
}

#[test]
fn security_rules_apply_in_browser_mode_too() {
    let app = BROWSER_APP
        .replace("const [page, setPage] = useState('Home');", "const [page, setPage] = useState(eval('\"Home\"'));");
    let report = browser(&[("Navbar.tsx", BROWSER_NAVBAR), ("StatCard.tsx", BROWSER_CARD), ("App.tsx", &app)]);
    let error = only(&report.errors);
    assert_diag(error, DiagnosticKind::Security, Severity::Major, "App.tsx", Some(line_of(&app, "eval(")));
}

const ANON_JWT: &str =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZSIsInJvbGUiOiJhbm9uIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ";
const SERVICE_JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZSIsInJvbGUiOiJzZXJ2aWNlX3JvbGUifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ";
const USER_JWT: &str =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ";

#[test]
fn hard_coded_secrets_are_found_without_being_repeated() {
    let config = format!(
        r#"export const OPENAI = "sk-proj-4fT9xQ2mLr8ZkV1bN7cW3yHs";
export const AWS_ID = 'AKIAIOSFODNN7QWERTY12';
export const GH = `ghp_1234567890abcdefghijklmnopqrstuvwxyz`;
export const SLACK = "xoxb-2048-4096-abcdefABCDEF";
export const PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----";
export const STRIPE = 'sk_live_51HxYzAbCdEf0123456789';
export const settings = {{
  apiKey: 'a1b2c3d4e5f6g7h8i9j0',
  theme: 'dark-mode-with-contrast-2024',
}};
export let password: string;
password = 'Tr0ub4dor&3xyzzyPlugh';
export class Client {{
  privateKey = "mK93hd82Hd72jsK29sL";
}}
export const SUPABASE_ANON_KEY = "{ANON_JWT}";
export const SERVICE_KEY = "{SERVICE_JWT}";
export const SESSION = "{USER_JWT}";
"#
    );
    let benign = r#"export const apiKey = import.meta.env.VITE_API_KEY;
export const passwordPlaceholder = 'Enter your password here';
export const TOKEN_STORAGE_KEY = 'blink-auth-token-v2';
export const api_key = 'your-api-key-here-1234';
export const secret = 'short1';
export const taskClass = 'task-list-item-container-wrapper-2';
"#;
    let mut files = vite_project();
    files.push(("config.ts", &config));
    files.push(("benign.ts", benign));
    let report = vite(&files);

    let errors: Vec<(u32, Severity)> = report
        .errors
        .iter()
        .inspect(|e| {
            assert_eq!((e.kind, e.file.as_str()), (DiagnosticKind::Security, "config.ts"), "{e:#?}");
            assert!(!e.message.contains("4fT9xQ2m") && !e.message.contains("a1b2c3d4"), "{}", e.message);
        })
        .map(|e| (e.line.unwrap_or(0), e.severity))
        .collect();
    let critical = |needle: &str| (line_of(&config, needle), Severity::Critical);
    assert_eq!(
        errors,
        vec![
            critical("OPENAI"),
            critical("AWS_ID"),
            critical("GH ="),
            critical("SLACK"),
            critical("PEM"),
            critical("STRIPE"),
            critical("apiKey:"),
            critical("password = "),
            critical("privateKey ="),
            critical("SERVICE_KEY"),
        ]
    );

    let warnings: Vec<(DiagnosticKind, &str, Option<u32>, Severity)> =
        report.warnings.iter().map(|w| (w.kind, w.file.as_str(), w.line, w.severity)).collect();
    assert_eq!(
        warnings,
        vec![
            (DiagnosticKind::Security, "config.ts", Some(line_of(&config, "SUPABASE_ANON_KEY")), Severity::Minor),
            (DiagnosticKind::Security, "config.ts", Some(line_of(&config, "SESSION")), Severity::Major),
        ]
    );
    assert_eq!(report.confidence_score, 0);
}

#[test]
fn a_secret_passed_as_a_jsx_prop_is_found() {
    let map = r#"export default function StoreMap() {
  return <GoogleMap apiKey="AIzaSyD3x4mpl3K3y9876543210" zoom={12} />;
}

function GoogleMap({ apiKey, zoom }: { apiKey: string; zoom: number }) {
  return <iframe title="map" src={`https://maps.example.com/embed?key=${apiKey}&z=${zoom}`} />;
}
"#;
    let mut files = vite_project();
    files.push(("StoreMap.tsx", map));
    let report = vite(&files);
    let error = only(&report.errors);
    assert_diag(error, DiagnosticKind::Security, Severity::Critical, "StoreMap.tsx", Some(2));
    assert!(error.message.contains("apiKey"));
}

#[test]
fn diagnostics_are_sorted_and_the_report_is_deterministic() {
    let broken_a = "export default function A() { return <div>; }\n";
    let broken_b = "const x = ;\n";
    let app = "import B from './B';\nimport Missing from './Missing';\nexport default function App() {\n  eval('1');\n  return <B />;\n}\n";
    let files = [("Z.tsx", broken_a), ("App.tsx", app), ("B.tsx", broken_b)];
    let first = vite(&files);
    let mut reversed = files;
    reversed.reverse();
    let second = vite(&reversed);
    assert_eq!(first, second);
    let keys: Vec<(String, Option<u32>)> = first.errors.iter().map(|e| (e.file.clone(), e.line)).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    assert_eq!(first.errors.first().map(|e| e.file.as_str()), Some("App.tsx"));
}

#[test]
fn garbage_never_panics() {
    let binary: String = (0u8..=255).cycle().take(4096).map(char::from).collect();
    let lossy =
        String::from_utf8_lossy(&[0xff, 0xfe, 0x00, 0x41, 0xc3, 0x28, 0xe2, 0x82, 0xf0, 0x9f, 0x98]).into_owned();
    let deep_brackets = format!("const a = {}1{};", "([{".repeat(4000), "}])".repeat(4000));
    let deep_jsx = format!("export default () => {}{};", "<div>".repeat(100), "</div>".repeat(100));
    let long_chain = format!("export const a = {}1;", "a + ".repeat(20_000));
    let inputs: Vec<String> = vec![
        String::new(),
        "\u{0}\u{0}\u{0}".into(),
        binary,
        lossy,
        "😀🎉 ünïcödé ✓ \u{202e}reversed\u{202c} 中文 \u{feff}".into(),
        "const s = 'unterminated".into(),
        "const t = `${`${".into(),
        "<div><span></div>".into(),
        "import { from '".into(),
        "export * from".into(),
        "import x from '../../../../../../etc/passwd';\nimport y from '@/';\nimport z from '';\nimport w from '@';\nexport default 1;".into(),
        "const é = 'ü'; const 中 = <Ünicode />; export default é;".into(),
        "eval(\nnew Function(\n'sk-".into(),
        "\r\n\r\n\r\nconst x = ;\r\n".into(),
        "}".repeat(10_000),
        "(".repeat(100_000),
        deep_brackets,
        deep_jsx,
        long_chain,
        "x".repeat(200_000),
        "\"eyJ.eyJ.\" + 'AKIA' + 'sk-' + 'ghp_' + 'xoxb-' + '-----BEGIN PRIVATE KEY-----'".into(),
    ];
    let paths = [
        "App.tsx",
        "",
        "/",
        ".",
        "..",
        "../../x.tsx",
        "😀.tsx",
        "a\u{0}.tsx",
        "src/",
        "dir/.tsx",
        "x.json",
        "package.json",
        "weird.name.d.ts",
        "CON.js",
        "App.jsx",
        "style.css",
        "index.mjs",
        "a\\b\\App.ts",
    ];
    for target in [RuntimeTarget::Vite, RuntimeTarget::Browser] {
        for input in &inputs {
            for path in paths {
                let req = ValidateRequest {
                    files: vec![ProjectFile::new(path, input.clone()), ProjectFile::new("App.tsx", input.clone())],
                    changed: vec![path.to_string()],
                    dependencies: vec![String::new(), "@".into(), "@@@".into(), "😀@1".into()],
                    target,
                    ..ValidateRequest::default()
                };
                let report = validate(&req);
                assert!(report.confidence_score <= 100);
                assert_eq!(report, validate(&req), "validation must be deterministic");
            }
        }
        let empty = validate(&ValidateRequest { target, ..ValidateRequest::default() });
        assert_eq!(empty.errors.len(), 1, "an empty project only lacks its App: {:#?}", empty.errors);
    }
}

/// Today's frontend sends the file tree and a concatenation of the code, not the files one by
/// one: files known only by path must satisfy imports and component references without being
/// checked themselves, while a path that is not in the tree is still an error.
#[test]
fn files_known_only_by_path_resolve_but_unknown_ones_do_not() {
    let app_vite = "import Navbar from './Navbar';\nimport Footer from './Footer';\n\nexport default function App() {\n  return (<div><Navbar /><Footer /></div>);\n}\n";
    let mut req = request(RuntimeTarget::Vite, &[("App.tsx", app_vite)], &[]);
    req.known_paths = vec!["Navbar.tsx".into()];
    let report = validate(&req);
    assert_eq!(report.errors.len(), 1, "{:#?}", report.errors);
    assert_eq!(report.errors[0].kind, DiagnosticKind::Import);
    assert!(report.errors[0].message.contains("./Footer"), "{}", report.errors[0].message);

    let app_browser = "function App() {\n  return (<div><Navbar /><Footer /></div>);\n}\nReactDOM.createRoot(document.getElementById('root')).render(<App />);\n";
    let mut req = request(RuntimeTarget::Browser, &[("App.tsx", app_browser)], &[]);
    req.known_paths = vec!["Navbar.tsx".into(), "App.tsx".into()];
    let report = validate(&req);
    assert_eq!(report.errors.len(), 1, "{:#?}", report.errors);
    assert!(report.errors[0].message.contains("<Footer>"), "{}", report.errors[0].message);
}

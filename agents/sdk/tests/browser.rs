//! The `browser` target against the measured facts of the frontend's preview: each file its own
//! module, names shared through `window` in the frontend's load order, the library globals that
//! load, the TypeScript its Babel reads, and the mechanical repair.
//!
//! Over 500 lines: one test file per surface (the `browser` target), so a failure names the
//! surface.

use blink_agent_sdk::browser::{BROKEN_GLOBALS, LIBRARY_GLOBALS, Shared, load_order, share_through_window};
use blink_agent_sdk::validator::validate;
use blink_agent_sdk::{
    Diagnostic, DiagnosticKind, ProjectFile, RuntimeTarget, Severity, ValidateRequest, ValidationReport,
};

fn request(files: &[(&str, &str)]) -> ValidateRequest {
    ValidateRequest {
        files: files.iter().map(|(path, content)| ProjectFile::new(*path, *content)).collect(),
        changed: files.iter().map(|(path, _)| path.to_string()).collect(),
        target: RuntimeTarget::Browser,
        ..ValidateRequest::default()
    }
}

fn browser(files: &[(&str, &str)]) -> ValidationReport {
    validate(&request(files))
}

fn line_of(source: &str, needle: &str) -> u32 {
    let offset = source.find(needle).unwrap_or_else(|| panic!("{needle:?} not in the source"));
    1 + source[..offset].matches('\n').count() as u32
}

fn only(diagnostics: &[Diagnostic]) -> &Diagnostic {
    assert_eq!(diagnostics.len(), 1, "expected exactly one diagnostic, got {diagnostics:#?}");
    &diagnostics[0]
}

fn assert_clean(report: &ValidationReport) {
    assert!(report.errors.is_empty(), "unexpected errors: {:#?}", report.errors);
    assert!(report.warnings.is_empty(), "unexpected warnings: {:#?}", report.warnings);
}

fn project_files(files: &[(&str, &str)]) -> Vec<ProjectFile> {
    files.iter().map(|(path, content)| ProjectFile::new(*path, *content)).collect()
}

const MOUNT: &str = "ReactDOM.createRoot(document.getElementById('root')).render(<App />);\n";

/// An app written the way the preview runs it: plain JavaScript with JSX, every shared name put
/// on `window`, the libraries taken from their globals.
const UTILS: &str = r#"const CURRENCY = 'EUR';

function formatPrice(amount) {
  return new Intl.NumberFormat('fr-FR', { style: 'currency', currency: CURRENCY }).format(amount);
}

const PRODUCTS = [
  { id: 1, name: 'Lamp', price: 39 },
  { id: 2, name: 'Chair', price: 129 },
];

window.formatPrice = formatPrice;
window.PRODUCTS = PRODUCTS;
"#;

const CARD: &str = r#"const { motion } = window.motion;

function ProductCard({ product, onAdd }) {
  return (
    <motion.div layout className="rounded-xl bg-white p-4 shadow">
      <h3 className="font-semibold">{product.name}</h3>
      <p className="text-gray-500">{formatPrice(product.price)}</p>
      <button className="mt-2 rounded bg-indigo-600 px-3 py-1 text-white" onClick={() => onAdd(product)}>
        <svg viewBox="0 0 24 24" className="h-4 w-4" fill="none" stroke="currentColor" strokeWidth={2}>
          <path d="M12 5v14M5 12h14" />
        </svg>
      </button>
    </motion.div>
  );
}

window.ProductCard = ProductCard;
"#;

const DASHBOARD: &str = r#"const { useState } = React;
const { format } = dateFns;

function Dashboard() {
  const [cart, setCart] = useState([]);
  const total = cart.reduce((sum, p) => sum + p.price, 0);
  return (
    <section className="grid gap-4 p-6 md:grid-cols-2">
      <p className="col-span-full text-sm">{format(new Date(2024, 0, 2), 'PP')} · {formatPrice(total)}</p>
      {PRODUCTS.map((p) => (
        <ProductCard key={p.id} product={p} onAdd={(item) => setCart([...cart, item])} />
      ))}
    </section>
  );
}

window.Dashboard = Dashboard;
"#;

const APP: &str = r#"function App() {
  return (
    <div className="min-h-screen bg-slate-100">
      <Dashboard />
    </div>
  );
}

ReactDOM.createRoot(document.getElementById('root')).render(<App />);
"#;

const APP_USING_CARD: &str =
    "function App() {\n  return <Card />;\n}\nReactDOM.createRoot(document.getElementById('root')).render(<App />);\n";

fn shop() -> Vec<(&'static str, &'static str)> {
    vec![("utils.ts", UTILS), ("ProductCard.tsx", CARD), ("Dashboard.tsx", DASHBOARD), ("App.tsx", APP)]
}

#[test]
fn an_app_that_shares_through_window_is_clean() {
    assert_clean(&browser(&shop()));
}

#[test]
fn the_public_tables_name_the_measured_globals() {
    let working: Vec<&str> = LIBRARY_GLOBALS.iter().map(|(name, _)| *name).collect();
    assert_eq!(working, ["React", "ReactDOM", "motion", "Motion", "dateFns"]);
    let broken: Vec<&str> = BROKEN_GLOBALS.iter().map(|(name, _)| *name).collect();
    assert_eq!(broken, ["lucide", "LucideReact", "Recharts", "ReactRouter", "ReactRouterDOM"]);
    assert_eq!(load_order(&["App.tsx", "utils.ts", "Dashboard.tsx"]), ["Dashboard.tsx", "utils.ts", "App.tsx"]);
}

#[test]
fn a_name_another_file_does_not_put_on_window_is_a_reference_error() {
    let dashboard = DASHBOARD.replace("window.Dashboard = Dashboard;\n", "");
    let utils = UTILS.replace("window.formatPrice = formatPrice;\n", "");
    let files =
        [("utils.ts", utils.as_str()), ("ProductCard.tsx", CARD), ("Dashboard.tsx", &dashboard), ("App.tsx", APP)];
    let report = browser(&files);
    let errors: Vec<(&str, Option<u32>, &str)> =
        report.errors.iter().map(|e| (e.file.as_str(), e.line, e.message.as_str())).collect();
    assert_eq!(
        errors,
        [
            (
                "App.tsx",
                Some(line_of(APP, "<Dashboard")),
                "`<Dashboard>` is defined in Dashboard.tsx but each file is its own module: end Dashboard.tsx \
                 with `window.Dashboard = Dashboard;`."
            ),
            (
                "Dashboard.tsx",
                Some(line_of(&dashboard, "formatPrice(total)")),
                "`formatPrice` is defined in utils.ts but each file is its own module: end utils.ts with \
                 `window.formatPrice = formatPrice;`."
            ),
            (
                "ProductCard.tsx",
                Some(line_of(CARD, "formatPrice(")),
                "`formatPrice` is defined in utils.ts but each file is its own module: end utils.ts with \
                 `window.formatPrice = formatPrice;`."
            ),
        ]
    );
    assert!(report.errors.iter().all(|e| (e.kind, e.severity) == (DiagnosticKind::Reference, Severity::Critical)));
}

#[test]
fn the_repair_puts_shared_names_on_window_and_the_result_validates() {
    let dashboard = DASHBOARD.replace("window.Dashboard = Dashboard;\n", "");
    let utils = UTILS.replace("window.formatPrice = formatPrice;\nwindow.PRODUCTS = PRODUCTS;\n", "");
    let card = CARD.replace("\nwindow.ProductCard = ProductCard;\n", "");
    let files =
        [("utils.ts", utils.as_str()), ("ProductCard.tsx", &card), ("./Dashboard.tsx", &dashboard), ("App.tsx", APP)];
    let shared = share_through_window(&project_files(&files));
    assert_eq!(
        shared,
        [
            Shared {
                path: "./Dashboard.tsx".into(),
                names: vec!["Dashboard".into()],
                content: format!("{dashboard}window.Dashboard = Dashboard;\n"),
            },
            Shared {
                path: "ProductCard.tsx".into(),
                names: vec!["ProductCard".into()],
                content: format!("{card}window.ProductCard = ProductCard;\n"),
            },
            Shared {
                path: "utils.ts".into(),
                names: vec!["PRODUCTS".into(), "formatPrice".into()],
                content: format!("{utils}window.PRODUCTS = PRODUCTS;\nwindow.formatPrice = formatPrice;\n"),
            },
        ]
    );
    // A file that does not end with a newline gets one before the new lines.
    let unterminated = [("Card.tsx", "function Card() { return <i />; }"), ("App.tsx", APP_USING_CARD)];
    let appended = share_through_window(&project_files(&unterminated));
    assert_eq!(appended[0].content, "function Card() { return <i />; }\nwindow.Card = Card;\n");

    let mut repaired = project_files(&files);
    for change in &shared {
        let file = repaired.iter_mut().find(|f| f.path == change.path).expect("a changed file exists");
        file.content = change.content.clone();
    }
    assert_clean(&validate(&ValidateRequest { files: repaired.clone(), ..request(&files) }));
    assert!(share_through_window(&repaired).is_empty(), "the repair is idempotent");
}

#[test]
fn the_repair_leaves_alone_what_it_must_not_touch() {
    let files = [
        // Does not parse: left as it is, and its uses are unknown.
        ("Broken.tsx", "function Broken() { return <div>; }\nconst x = <Helper />;\n"),
        ("Helper.tsx", "function Helper() { return <i />; }\n"),
        // Not a script.
        ("notes.md", "Header is great\n"),
        // A library alias is not shared: each file takes it from React.
        ("App.tsx", "const { useState } = React;\nfunction App() { return <b>{String(useState)}</b>; }\n"),
        ("Other.tsx", "function Other() { const [a] = useState(0); return <i>{a}</i>; }\nwindow.Other = Other;\n"),
        // A name the browser defines is the browser's, not another file's.
        ("Nav.tsx", "const history = [];\nfunction Nav() { return <i>{history.length}</i>; }\nwindow.Nav = Nav;\n"),
        ("Back.tsx", "function Back() { return <button onClick={() => history.back()} />; }\nwindow.Back = Back;\n"),
        // Used only in a type: erased before the code runs.
        ("types.ts", "const Size = 3;\ninterface Size2 { n: number }\n"),
        ("Box.tsx", "function Box(p: { s: typeof Size }) { return <i />; }\nwindow.Box = Box;\n"),
    ];
    assert_eq!(share_through_window(&project_files(&files)), []);
    assert_eq!(share_through_window(&[]), []);
}

#[test]
fn window_reads_and_object_assign_count() {
    let card = "function Card() { return <i>card</i>; }\nfunction Badge() { return <u>b</u>; }\n\
                Object.assign(window, { Card, Badge });\n";
    let app = format!("function App() {{\n  return <b><Card /><window.Badge /></b>;\n}}\n{MOUNT}");
    assert_clean(&browser(&[("Card.tsx", card), ("App.tsx", &app)]));

    // `window.Card` read where nobody shares it: the declaring file must.
    let card = "function Card() { return <i>card</i>; }\n";
    let app = format!("const {{ Card }} = window;\nfunction App() {{\n  return <Card />;\n}}\n{MOUNT}");
    let report = browser(&[("Card.tsx", card), ("App.tsx", &app)]);
    let error = only(&report.errors);
    assert_eq!((error.file.as_str(), error.line), ("App.tsx", Some(1)));
    assert!(error.message.contains("end Card.tsx with `window.Card = Card;`"), "{}", error.message);
    let shared = share_through_window(&project_files(&[("Card.tsx", card), ("App.tsx", &app)]));
    assert_eq!(shared.iter().map(|s| s.names.clone()).collect::<Vec<_>>(), [vec!["Card".to_string()]]);
}

#[test]
fn a_name_read_at_load_from_a_file_loaded_later_is_an_error() {
    let zeta = "function Zeta() { return <u>z</u>; }\nwindow.Zeta = Zeta;\n";
    let app = format!("function App() {{\n  return <Alpha />;\n}}\n{MOUNT}");
    for (case, alpha) in [
        (
            "top-level JSX",
            "const badge = <Zeta />;\nfunction Alpha() { return <i>{badge}</i>; }\nwindow.Alpha = Alpha;\n",
        ),
        ("memo", "const Memo = React.memo(Zeta);\nfunction Alpha() { return <Memo />; }\nwindow.Alpha = Alpha;\n"),
        (
            "window destructuring",
            "const { Zeta: Z } = window;\nfunction Alpha() { return <Z />; }\nwindow.Alpha = Alpha;\n",
        ),
        ("run on the spot", "const z = (() => Zeta)();\nfunction Alpha() { return <i />; }\nwindow.Alpha = Alpha;\n"),
        (
            "static field",
            "class Alpha extends React.Component {\n  static Inner = Zeta;\n  render() { return <i />; }\n}\nwindow.Alpha = Alpha;\n",
        ),
    ] {
        let report = browser(&[("Alpha.tsx", alpha), ("Zeta.tsx", zeta), ("App.tsx", &app)]);
        let error = only(&report.errors);
        assert_eq!((error.file.as_str(), error.kind), ("Alpha.tsx", DiagnosticKind::Reference), "{case}");
        assert_eq!(error.line, Some(line_of(alpha, "Zeta")), "{case}");
        assert!(
            error.message.contains("is read when Alpha.tsx loads, before Zeta.tsx defines it")
                && error.message.contains("read it inside the component"),
            "{case}: {}",
            error.message
        );
    }

    // Inside a component (render time), or from a file loaded earlier, it is fine.
    let inside = "function Alpha() { return <Zeta />; }\nconst later = () => Zeta;\nwindow.Alpha = Alpha;\n";
    assert_clean(&browser(&[("Alpha.tsx", inside), ("Zeta.tsx", zeta), ("App.tsx", &app)]));
    let alpha = "function Alpha() { return <u>a</u>; }\nwindow.Alpha = Alpha;\n";
    let early = "const badge = <Alpha />;\nfunction Zeta() { return <i>{badge}</i>; }\nwindow.Zeta = Zeta;\n";
    let app = format!("function App() {{\n  return <Zeta />;\n}}\n{MOUNT}");
    assert_clean(&browser(&[("Alpha.tsx", alpha), ("Zeta.tsx", early), ("App.tsx", &app)]));

    // Not shared and loaded later: one error says both.
    let zeta = "function Zeta() { return <u>z</u>; }\n";
    let alpha = "const badge = <Zeta />;\nfunction Alpha() { return <i>{badge}</i>; }\nwindow.Alpha = Alpha;\n";
    let app = format!("function App() {{\n  return <Alpha />;\n}}\n{MOUNT}");
    // The error is on the first use, and says both even when that use is at render time.
    let render_first = "function Alpha() { return <Zeta />; }\nconst badge = <Zeta />;\nwindow.Alpha = Alpha;\n";
    for alpha in [alpha, render_first] {
        let error = only(&browser(&[("Alpha.tsx", alpha), ("Zeta.tsx", zeta), ("App.tsx", &app)]).errors).clone();
        assert_eq!(error.line, Some(1));
        assert!(
            error.message.contains("end Zeta.tsx with `window.Zeta = Zeta;`")
                && error.message.contains("read it inside the component"),
            "{}",
            error.message
        );
    }
}

#[test]
fn window_assignments_are_checked() {
    let app = format!("function App() {{\n  return <Header />;\n}}\n{MOUNT}");
    // Two files set the same name: a warning on the one the preview runs last.
    let a = "function Header() { return <h1>a</h1>; }\nwindow.Header = Header;\n";
    let b = "function Header() { return <h1>b</h1>; }\n\nwindow.Header = Header;\n";
    let report = browser(&[("b/Header.tsx", b), ("a/Header.tsx", a), ("App.tsx", &app)]);
    assert!(report.errors.is_empty(), "{:#?}", report.errors);
    let warning = only(&report.warnings);
    assert_eq!(
        (warning.file.as_str(), warning.line, warning.kind, warning.severity),
        ("b/Header.tsx", Some(3), DiagnosticKind::Reference, Severity::Major)
    );
    assert!(warning.message.contains("also set by a/Header.tsx"), "{}", warning.message);

    // `window.N = N` where the file defines no N.
    let typo = "function HeaderBar() { return <h1 />; }\nwindow.Header = Header;\n";
    let error = only(&browser(&[("Header.tsx", typo), ("App.tsx", &app)]).errors).clone();
    assert_eq!((error.file.as_str(), error.line, error.kind), ("Header.tsx", Some(2), DiagnosticKind::Reference));
    assert_eq!(
        error.message,
        "`window.Header = Header;` but Header.tsx defines no `Header`: declare it in Header.tsx above this line \
         (e.g. `function Header() { … }`) or fix the name."
    );

    // Only a top-level assignment shares a name: one inside a function runs only if it is called.
    let late = "function Header() { return <h1 />; }\nfunction init() { window.Header = Header; }\n";
    let error = only(&browser(&[("Header.tsx", late), ("App.tsx", &app)]).errors).clone();
    assert!(error.message.contains("end Header.tsx with `window.Header = Header;`"), "{}", error.message);

    // `window.Card = function Card() {}` and `export default` plus window both share.
    let inline = "window.Header = function Header() { return <h1 />; };\n";
    assert_clean(&browser(&[("Header.tsx", inline), ("App.tsx", &app)]));
}

#[test]
fn broken_library_globals_are_errors_with_a_replacement() {
    let app = r#"const { LineChart, Line } = Recharts;
const Router = window.ReactRouterDOM;

function App() {
  return (
    <div>
      <LucideReact.Menu className="h-5 w-5" />
      <lucide.X />
      <LineChart data={[]}><Line dataKey="y" /></LineChart>
    </div>
  );
}

ReactDOM.createRoot(document.getElementById('root')).render(<App />);
"#;
    let report = browser(&[("App.tsx", app)]);
    let errors: Vec<(Option<u32>, &str)> = report
        .errors
        .iter()
        .inspect(|e| assert_eq!((e.kind, e.severity), (DiagnosticKind::Reference, Severity::Critical)))
        .map(|e| (e.line, e.message.split(' ').next().unwrap_or_default()))
        .collect();
    assert_eq!(
        errors,
        [
            (Some(1), "`Recharts`"),
            (Some(2), "`ReactRouterDOM`"),
            (Some(line_of(app, "LucideReact")), "`LucideReact`"),
            (Some(line_of(app, "lucide.X")), "`lucide`"),
        ]
    );
    assert!(
        report.errors[0].message.contains("does not load in the preview") && report.errors[0].message.contains("SVG")
    );
    assert!(report.errors[1].message.contains("React.useState('home')"), "{}", report.errors[1].message);
    assert!(report.errors[2].message.contains("inline SVG"), "{}", report.errors[2].message);
}

#[test]
fn components_nobody_defines_and_react_members_are_errors() {
    let app = format!("function App() {{\n  return <Fragment><Footer /><Suspense /></Fragment>;\n}}\n{MOUNT}");
    let report = browser(&[("App.tsx", &app)]);
    let messages: Vec<&str> = report.errors.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(messages.len(), 3, "{messages:#?}");
    assert!(messages.contains(
        &"<Footer> is not defined in any project file; define `function Footer()` in a file of its own and end that \
          file with `window.Footer = Footer;`, or stop using it."
    ));
    assert!(
        messages.iter().any(|m| m.starts_with("<Fragment> is not a global in the preview: write `<React.Fragment>`"))
    );
    assert!(messages.iter().any(|m| m.starts_with("<Suspense> is not a global")));
}

#[test]
fn a_library_alias_is_taken_in_each_file() {
    let card = "function Card() {\n  const [n] = useState(1);\n  return <i>{n}</i>;\n}\nwindow.Card = Card;\n";
    let app = format!("const {{ useState }} = React;\nfunction App() {{\n  return <Card />;\n}}\n{MOUNT}");
    let error = only(&browser(&[("Card.tsx", card), ("App.tsx", &app)]).errors).clone();
    assert_eq!((error.file.as_str(), error.line), ("Card.tsx", Some(2)));
    assert_eq!(
        error.message,
        "`useState` comes from `React` in App.tsx, but each file is its own module: add `const { useState } = React;` \
         at the top of Card.tsx."
    );
    // Each file taking it from React itself is how it works (measured).
    let card = format!("const {{ useState }} = React;\n{card}");
    assert_clean(&browser(&[("Card.tsx", &card), ("App.tsx", &app)]));
}

#[test]
fn every_file_must_be_a_script() {
    let app = format!("function App() {{\n  return <b />;\n}}\n{MOUNT}");
    let report = browser(&[
        ("App.tsx", &app),
        ("styles.css", "body { margin: 0; }\n"),
        ("data.json", "{\"a\": 1}\n"),
        ("README.md", "# Shop\n"),
    ]);
    let errors: Vec<(&str, DiagnosticKind, Option<u32>)> =
        report.errors.iter().map(|e| (e.file.as_str(), e.kind, e.line)).collect();
    assert_eq!(
        errors,
        [
            ("README.md", DiagnosticKind::Runtime, None),
            ("data.json", DiagnosticKind::Runtime, None),
            ("styles.css", DiagnosticKind::Runtime, None),
        ]
    );
    assert!(report.errors[1].message.contains("`window.DATA = { … };`"), "{}", report.errors[1].message);
    assert!(report.errors[2].message.starts_with(
        "The preview runs every project file as a script, so styles.css stops the whole app; style with Tailwind"
    ));

    // Files known only by path are trusted, as before.
    let mut req = request(&[("App.tsx", &app)]);
    req.known_paths = vec!["styles.css".into(), "Navbar.tsx".into()];
    assert_clean(&validate(&req));
}

#[test]
fn a_js_file_may_hold_types() {
    let icons = "const Plus = () => <svg viewBox=\"0 0 24 24\"><path d=\"M12 5v14\" /></svg>;\nwindow.Plus = Plus;\n";
    let helpers = "function twice(x: number): number { return x * 2; }\nwindow.twice = twice;\n";
    let app = format!("function App() {{\n  return <b><Plus />{{twice(2)}}</b>;\n}}\n{MOUNT}");
    assert_clean(&browser(&[("icons.tsx", icons), ("helpers.js", helpers), ("App.tsx", &app)]));
}

/// Each construct measured to fail in the preview's Babel, with a piece of the message that says
/// what to write instead.
const FAILING: &[(&str, &str, &str)] = &[
    ("function first<T extends object>(xs: T[]): T { return xs[0]; }", "T extends object", "delete the `<…>`"),
    ("interface Box<T extends string> { v: T }", "T extends string", "constraints"),
    ("class Box<T extends object> { v = 1; }", "T extends object", "constraints"),
    ("const f = <T extends object,>(x: T) => x;", "T extends object", "constraints"),
    ("function f<const T>(x: T) { return x; }", "<const T>", "modifiers"),
    ("interface I<in T> { f: (x: T) => void }", "<in T>", "modifiers"),
    ("const [n] = React.useState<number>(0);", "`React.useState<number>(0)`", "write `React.useState(0)`"),
    ("const [xs] = useState<string[]>([]);", "`useState<string[]>([])`", "write `useState([])`"),
    ("const m = new Map<string, number>();", "`new Map<string, number>()`", "write `new Map()`"),
    ("const t = tag<string>`x`;", "tag<string>", "write `tag`…``"),
    ("const idNum = id<number>;", "`id<number>`", "write `id`"),
    ("const el = <List<number> items={[]} />;", "<List<number> …>", "write `<List …>`"),
    ("const mode = 'a' as const;", "`as const`", "delete `as const`."),
    ("const xs = [] as string[];", "`as string[]`", "no casts"),
    ("const y = (1 as unknown) as string;", "`as", "delete `as"),
    ("const c = { a: 1 } satisfies Record<string, number>;", "satisfies Record<string, number>", "delete"),
    ("const n = el!.value;", "`el!`", "delete the `!`"),
    ("let x!: number;", "`x!:`", "write `let x;`"),
    ("enum Mode { Light, Dark }", "`enum Mode`", "`const Mode = { Light: 0, Dark: 1 };`"),
    ("enum Color { Red = 'red', Blue = 'blue' }", "`enum Color`", "`const Color = { Red: 'red', Blue: 'blue' };`"),
    ("const enum E { A }", "`enum E`", "plain object"),
    ("namespace Util { export const x = 1; }", "`namespace Util`", "top level"),
    ("module Util { }", "`module Util`", "top level"),
    ("declare const X: number;", "`declare const`", "delete the line"),
    ("declare let Y: number;", "`declare let`", "delete the line"),
    ("declare global { interface Window { a: number } }", "`declare global", "delete it"),
    ("declare module 'x' { export function f(): void; }", "`declare module 'x'", "delete it"),
    ("import R = React;", "`import R = React`", "`const R = React;`"),
    ("type K = keyof typeof COLORS;", "keyof typeof COLORS", "`keyof`"),
    ("const t: readonly string[] = [];", "readonly string[]", "`readonly`"),
    ("const s: unique symbol = Symbol();", "unique symbol", "`unique`"),
    ("interface P { readonly a: string }", "`readonly a`", "delete `readonly`"),
    ("type P = { readonly [k: string]: number };", "readonly [key", "delete `readonly`"),
    ("class S { private n = 1; }", "`private` on a class field", "delete `private`"),
    ("class S { public n = 1; }", "`public`", "member modifiers"),
    ("class S { static readonly n = 1; }", "`readonly` on a class field", "delete `readonly`"),
    ("class S { protected m() { return 1; } }", "`protected` on a class method", "delete `protected`"),
    ("class S { private constructor() {} }", "`private` on a class constructor", "delete"),
    ("class B extends A { override f() { return 2; } }", "`override`", "delete `override`"),
    ("class S { declare x: number; }", "`declare` on a class field", "delete `declare`"),
    ("class S { x?: number; }", "`x?:` in a class", "write `x;`"),
    ("class S { x!: number; }", "`x!:` in a class", "delete the `!`"),
    ("class S { m?() {} }", "`m?()` in a class", "delete the `?`"),
    ("class S { [k: string]: any; }", "index signature in a class", "delete the line"),
    ("class S { constructor(private n: number) {} }", "`constructor(private n)`", "`constructor(n) { this.n = n; }`"),
    ("class S { constructor(readonly n: number) {} }", "`constructor(readonly n)`", "parameter properties"),
    ("class S { accessor x = 1; }", "`accessor x`", "delete `accessor`"),
    ("abstract class Shape { }", "`abstract class`", "delete `abstract`"),
    ("@sealed class S {}", "`@sealed`", "decorators"),
    (
        "function isStr(x: unknown): x is string { return typeof x === 'string'; }",
        "`x is string`",
        "delete the return type",
    ),
    ("function check(x: unknown): asserts x { }", "`asserts x`", "type predicates"),
    ("type U<T> = T extends Promise<infer V> ? V : T;", "conditional type", "delete this type"),
    ("type M = { [K in 'a' | 'b']: number };", "mapped type", "delete this type"),
    ("type Ev = `on${string}`;", "template literal type", "write `string`"),
    ("interface I { f?(): void }", "`f?(…)`", "write `f?: (…) => …`"),
    ("interface I { set x(v: number) }", "`set x(…)`", "write `x: …`"),
    ("type C = new () => object;", "`new () => object`", "constructor types"),
    ("type T = [name: string, age: number];", "`[name: …]`", "delete `name:`"),
    ("type T = [string, number?];", "optional tuple member", "`T[]`"),
    ("type T = [string, ...number[]];", "rest tuple member", "`T[]`"),
    ("type T = import('./x').Foo;", "import('./x').Foo", "delete this type"),
    (
        "function f(x: string): string;\nfunction f(x: any) { return x; }",
        "`function f(…): …;` without a body",
        "keep only",
    ),
    ("class S { m(x: string): string;\n  m(x: any) { return x; } }", "`m(…);` without a body", "keep only"),
    ("try { go(); } catch (e: unknown) { }", "`catch (e: …)`", "write `catch (e)`"),
];

#[test]
fn typescript_the_preview_cannot_run_is_a_syntax_error_with_the_fix() {
    for (code, quoted, fix) in FAILING {
        let source = format!("function App() {{\n  return <b />;\n}}\n{code}\n{MOUNT}");
        let report = browser(&[("App.tsx", &source)]);
        let syntax: Vec<&Diagnostic> = report.errors.iter().filter(|e| e.kind == DiagnosticKind::Syntax).collect();
        assert_eq!(syntax.len(), 1, "{code}: {:#?}", report.errors);
        let error = syntax[0];
        assert_eq!(
            (error.file.as_str(), error.line, error.severity),
            ("App.tsx", Some(4), Severity::Critical),
            "{code}"
        );
        assert!(error.message.contains(quoted) && error.message.contains(fix), "{code}: {}", error.message);
    }
}

/// Each construct measured to run in the preview: none may be flagged.
const RUNNING: &[&str] = &[
    "interface P { title: string; n?: number; [key: string]: unknown }",
    "type Status = 'idle' | 'busy';",
    "function id<T>(x: T): T { return x; }",
    "const idArrow = <T,>(x: T): T => x;",
    "const asyncId = async <T,>(x: T) => x;",
    "function opt(x?: number, y: number = 1) { return x; }",
    "const Card: React.FC<{ t: string }> = ({ t }) => <b>{t}</b>;",
    "const rec: Record<string, number> = {};",
    "const tup: [number, string] = [1, 'a'];",
    "class Store { n: number = 1; label: string; get(): number { return this.n; } }",
    "class Hello extends React.Component<{ t: string }, {}> { render() { return <b>{this.props.t}</b>; } }",
    "const u: unknown = 1; function fail(m: string): never { throw new Error(m); } const o: object = {};",
    "const handler: (e: string) => void = () => {};",
    "type A = P['title'];",
    "const part: Partial<P> = {};",
    "interface I2 { f(x: number): string; g<T>(x: T): T } class Impl implements I2 { f(x: number) { return ''; } g<T>(x: T) { return x; } }",
    "const arr = ['a']; type Item = typeof arr[number]; type R = ReturnType<typeof id>;",
    "type WithDefault<T = string> = { v: T }; interface Def<T = string> { v: T }",
    "type Both = { a: 1 } & { b: 2 };",
    "async function load(): Promise<number> { return 1; }",
    "function onChange(e: React.ChangeEvent<HTMLInputElement>) { return e.target.value; }",
    "const rec2 = { a: 1 }; const maybe = rec2?.a ?? 0;",
    "const frag = <><b /></>;",
    "function withThis(this: Window, x: number) { return x; }",
    "interface G { get x(): number }",
    "const row = (x: number): JSX.Element => <li>{x}</li>;",
    "const objRet = (): { a: number } => ({ a: 1 });",
    "declare function ext(x: number): void; declare class K { m(): void; } declare var process: any; declare module 'y' {}",
    "interface Call { (x: number): string; new (x: number): object }",
    "let fs: (() => void)[] = []; let us: (string | number)[] = []; let b: bigint; let s: symbol;",
    "class Priv { #x: number = 1; static n: number = 1; m(): this { return this; } }",
    "const { useState: useS } = React;",
];

#[test]
fn typescript_the_preview_runs_is_left_alone() {
    for code in RUNNING {
        let source = format!("function App() {{\n  return <b />;\n}}\n{code}\n{MOUNT}");
        let report = browser(&[("App.tsx", &source)]);
        assert_clean(&report);
    }
}

#[test]
fn one_error_per_construct_and_line() {
    let source =
        format!("function App() {{\n  return <b />;\n}}\nconst a = x! + y! + (z as any) + (w as any);\n{MOUNT}");
    let report = browser(&[("App.tsx", &source)]);
    let lines: Vec<(Option<u32>, bool)> = report.errors.iter().map(|e| (e.line, e.message.contains("`as"))).collect();
    assert_eq!(lines, [(Some(4), true), (Some(4), false)], "{:#?}", report.errors);
}

#[test]
fn the_order_decides_which_file_is_late() {
    // `data.ts` sorts after `Dashboard.tsx` (case is only a tiebreak), so reading DATA at the top of
    // Dashboard.tsx is too early, while `apple.ts` loads before `Banana.tsx`.
    let data = "const DATA = [1, 2];\nwindow.DATA = DATA;\n";
    let dashboard =
        "const first = DATA[0];\nfunction Dashboard() { return <b>{first}</b>; }\nwindow.Dashboard = Dashboard;\n";
    let app = format!("function App() {{\n  return <Dashboard />;\n}}\n{MOUNT}");
    let report = browser(&[("data.ts", data), ("Dashboard.tsx", dashboard), ("App.tsx", &app)]);
    let error = only(&report.errors);
    assert_eq!((error.file.as_str(), error.line), ("Dashboard.tsx", Some(1)));
    assert!(error.message.contains("before data.ts defines it"), "{}", error.message);

    let apple = "const APPLES = 3;\nwindow.APPLES = APPLES;\n";
    let banana = "const twice = APPLES * 2;\nfunction Banana() { return <b>{twice}</b>; }\nwindow.Banana = Banana;\n";
    let app = format!("function App() {{\n  return <Banana />;\n}}\n{MOUNT}");
    assert_clean(&browser(&[("Banana.tsx", banana), ("apple.ts", apple), ("App.tsx", &app)]));
}

/// Nesting that brackets do not bound must not overflow the visitors' stack (1 MiB in a
/// WebAssembly component); both targets and the repair walk the same trees.
#[test]
fn deep_chains_stay_within_the_stack() {
    const N: usize = 20_000;
    // Wide lists are not deep, but must not be quadratic either.
    const WIDE: usize = 5_000;
    let inputs = [
        format!("const x = <a{} />;", ".b".repeat(N)),
        format!("const x = a{};", "!".repeat(N)),
        format!("const x = window{};", ".b".repeat(N)),
        format!("type T = A{};", "[]".repeat(N)),
        format!("const {{ {} }} = window;", (0..WIDE).map(|i| format!("n{i}")).collect::<Vec<_>>().join(", ")),
        format!("Object.assign(window, {{ {} }});", (0..WIDE).map(|i| format!("n{i}")).collect::<Vec<_>>().join(", ")),
    ];
    for input in &inputs {
        let files = [("App.tsx", input.as_str()), ("B.tsx", input.as_str())];
        let report = browser(&files);
        assert_eq!(report, browser(&files));
        let _ = validate(&ValidateRequest { target: RuntimeTarget::Vite, ..request(&files) });
        let _ = share_through_window(&project_files(&files));
    }
}

/// The repair runs natively in the host, where a stack overflow would abort the process: chains
/// that overflow the parser on an ordinary thread's stack must not.
#[test]
fn the_repair_survives_chains_that_overflow_an_ordinary_stack() {
    let chains = [
        format!("x = {}1;", "y = ".repeat(20_000)),
        format!("const x = a ? {}1 : 2;", "b ? ".repeat(20_000)),
        format!("const x = {}1;", "() => ".repeat(20_000)),
    ];
    for chain in &chains {
        let files = [("Chain.tsx", chain.as_str()), ("App.tsx", APP_USING_CARD)];
        assert_eq!(share_through_window(&project_files(&files)), []);
    }
    // Too large to be a generated file: left alone, whatever it holds.
    let huge = format!("function Card() {{ return <i />; }}\n// {}\n", "x".repeat(600 * 1024));
    assert_eq!(share_through_window(&project_files(&[("Card.tsx", &huge), ("App.tsx", APP_USING_CARD)])), []);
}

#[test]
fn jsx_in_a_ts_file_is_refused_for_the_dev_server_and_a_tsx_file_is_not() {
    let card = "function Card() {\n  return <b>card</b>;\n}\nwindow.Card = Card;\n";
    let app = format!("function App() {{\n  return <Card />;\n}}\n{MOUNT}");
    let report = browser(&[("components/Card.ts", card), ("App.tsx", &app)]);
    let error = only(&report.errors);
    assert_eq!((error.kind, error.file.as_str(), error.line), (DiagnosticKind::Syntax, "components/Card.ts", Some(2)));
    assert!(error.message.contains("rename it to Card.tsx"), "{}", error.message);
    assert_clean(&browser(&[("components/Card.tsx", card), ("App.tsx", &app)]));
    // A .ts file without JSX is a plain module, as it should be.
    assert_clean(&browser(&[
        ("items.ts", "const ITEMS = [1];\nwindow.ITEMS = ITEMS;\n"),
        ("App.tsx", &format!("function App() {{\n  return <b>{{ITEMS.length}}</b>;\n}}\n{MOUNT}")),
    ]));
}

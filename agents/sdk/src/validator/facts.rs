//! Parses one script file with oxc and reduces it to owned facts for the project-wide rules.
//!
//! The arena holding the syntax tree lives only inside [`analyse`]; the rules work on plain data, so
//! no lifetime of oxc leaks out and each file is parsed exactly once.
//!
//! Over 500 lines: one walk over oxc's syntax tree, whose visitor methods share the facts being
//! gathered; splitting it would split the visitor.

use std::collections::{BTreeMap, BTreeSet};

use oxc::allocator::Allocator;
use oxc::ast::ast::{
    AssignmentExpression, BindingIdentifier, CallExpression, Declaration, ExportDefaultDeclarationKind, Expression,
    ImportDeclarationSpecifier, ImportExpression, JSXAttribute, JSXAttributeName, JSXAttributeValue, JSXElement,
    JSXElementName, JSXFragment, JSXMemberExpression, JSXOpeningElement, NewExpression, ObjectProperty, Program,
    PropertyDefinition, Statement, StringLiteral, TSType, TemplateLiteral, VariableDeclarator,
};
use oxc::ast_visit::{Visit, walk};
use oxc::parser::Parser;
use oxc::span::SourceType;
use oxc::syntax::module_record::ModuleRecord;

use super::flow::{self, TsSyntax};
use super::lines::LineIndex;
use super::lines::MAX_VISIT_DEPTH;
use super::secrets::{self, Exposure};
use super::sharing::{self, Sharing};
use crate::types::Severity;

/// Beyond this, real code does not go; garbage this deep would overflow the parser's stack (1 MiB
/// in a WebAssembly component) instead of failing cleanly.
const MAX_BRACKET_DEPTH: usize = 128;

const EVAL_MESSAGE: &str =
    "eval() runs arbitrary strings as code; parse data with JSON.parse or call the function directly.";
const FUNCTION_MESSAGE: &str = "new Function() compiles strings into code like eval(); write the function directly.";
const INNER_HTML_MESSAGE: &str = "dangerouslySetInnerHTML injects raw HTML and opens the page to XSS; \
render the content as JSX or sanitise it first.";

pub struct SyntaxError {
    pub line: Option<u32>,
    pub message: String,
}

/// A name one module asks another for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestedName {
    /// `import X from` or `export { default } from`; `local` is the name the importer chose.
    Default {
        local: String,
    },
    Named(String),
}

/// One `import … from`, `export … from` or `import('…')`.
pub struct ModuleRequest {
    pub specifier: String,
    pub line: u32,
    /// Erased by the compiler, so it never loads the package at runtime.
    pub type_only: bool,
    pub names: Vec<RequestedName>,
}

pub struct ModuleStatement {
    pub line: u32,
    pub is_import: bool,
    /// The local names an `export` statement exports (`Card` for `export default function Card`).
    pub names: Vec<String>,
}

#[derive(Default)]
pub struct Exports {
    pub names: BTreeSet<String>,
    pub has_default: bool,
    /// `export * from`: names we cannot see without following the chain.
    pub has_star: bool,
}

pub struct ComponentUse {
    pub name: String,
    pub line: u32,
}

/// A security problem found in one file; always of kind `security`.
pub struct Finding {
    pub line: u32,
    pub is_error: bool,
    pub severity: Severity,
    pub message: String,
}

pub struct ScriptFacts {
    pub requests: Vec<ModuleRequest>,
    pub module_statements: Vec<ModuleStatement>,
    pub exports: Exports,
    /// Every name bound anywhere in the file (declarations, parameters, imports).
    pub bindings: BTreeSet<String>,
    pub components: Vec<ComponentUse>,
    /// `createRoot(…).render(…)`, `root.render(…)` after `createRoot`, or `ReactDOM.render(…)`.
    pub mounts_app: bool,
    pub findings: Vec<Finding>,
    /// What the file shares with the others as a module of the browser preview (browser only).
    pub sharing: Sharing,
    /// TypeScript syntax the browser preview cannot run (browser only).
    pub ts_syntax: Vec<TsSyntax>,
    /// The line of the file's first JSX element or fragment.
    pub first_jsx_line: Option<u32>,
}

/// How a file will be compiled, which decides how it parses and what is collected.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// By extension, as Vite compiles it.
    Vite,
    /// Everything as TSX, as the browser preview's Babel reads every file with JSX and types.
    Browser,
}

/// Parses `source` as the script `path` names; the facts, or every syntax error.
pub fn analyse(path: &str, source: &str, dialect: Dialect) -> Result<ScriptFacts, Vec<SyntaxError>> {
    let lines = LineIndex::new(source);
    if let Some(offset) = too_deep_at(source) {
        return Err(vec![SyntaxError {
            line: Some(lines.line(u32::try_from(offset).unwrap_or(u32::MAX))),
            message: format!("Brackets nest deeper than {MAX_BRACKET_DEPTH} levels; split this code up."),
        }]);
    }
    let source_type = match dialect {
        Dialect::Vite => SourceType::from_path(path).unwrap_or_else(|_| SourceType::tsx()),
        Dialect::Browser => SourceType::tsx(),
    };
    let allocator = Allocator::default();
    let parsed = Parser::new(&allocator, source, source_type).parse();

    let mut errors: Vec<SyntaxError> = parsed
        .diagnostics
        .errors()
        .map(|error| SyntaxError {
            line: error
                .labels
                .iter()
                .find(|label| label.primary())
                .or_else(|| error.labels.first())
                .map(|label| lines.line(label.offset())),
            message: error.message.to_string(),
        })
        .collect();
    if parsed.panicked && errors.is_empty() {
        errors.push(SyntaxError { line: None, message: "The parser could not read this file.".into() });
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut facts = collect(&parsed.program, &parsed.module_record, &lines);
    if dialect == Dialect::Browser {
        facts.sharing = sharing::collect(&parsed.program, &lines);
        facts.ts_syntax = flow::scan(&parsed.program, source, &lines);
    }
    Ok(facts)
}

/// Finds where bracket nesting first exceeds the limit. Brackets inside strings and comments
/// count too: an over-estimate that only matters for absurd code.
fn too_deep_at(source: &str) -> Option<usize> {
    let mut depth: usize = 0;
    for (offset, byte) in source.bytes().enumerate() {
        match byte {
            b'(' | b'[' | b'{' => {
                depth += 1;
                if depth > MAX_BRACKET_DEPTH {
                    return Some(offset);
                }
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

fn collect(program: &Program<'_>, record: &ModuleRecord<'_>, lines: &LineIndex) -> ScriptFacts {
    let mut requests = Vec::new();
    let mut module_statements = Vec::new();
    for statement in &program.body {
        if let Some(request) = static_request(statement, lines) {
            requests.push(request);
        }
        if statement.as_module_declaration().is_some() {
            let line = lines.line(span_start(statement));
            let is_import = matches!(statement, Statement::ImportDeclaration(_));
            let mut names = BTreeSet::new();
            if !is_import {
                top_level_names(statement, &mut names);
                if let Statement::ExportNamedDeclaration(export) = statement {
                    names.extend(export.specifiers.iter().map(|s| s.local.name().to_string()));
                }
                if let Statement::ExportDefaultDeclaration(export) = statement
                    && let Some(Expression::Identifier(id)) = export.declaration.as_expression()
                {
                    names.insert(id.name.to_string());
                }
            }
            module_statements.push(ModuleStatement { line, is_import, names: names.into_iter().collect() });
        }
    }

    let mut visitor = FactVisitor::new(lines);
    visitor.visit_program(program);
    requests.append(&mut visitor.dynamic_imports);

    let findings = visitor.findings();
    ScriptFacts {
        requests,
        module_statements,
        exports: exports(record),
        bindings: visitor.bindings,
        components: visitor.components,
        mounts_app: visitor.direct_mount || (visitor.create_root && visitor.render_call),
        findings,
        sharing: Sharing::default(),
        ts_syntax: Vec::new(),
        first_jsx_line: visitor.first_jsx_line,
    }
}

fn span_start(statement: &Statement<'_>) -> u32 {
    use oxc::span::GetSpan;
    statement.span().start
}

fn exports(record: &ModuleRecord<'_>) -> Exports {
    let names: BTreeSet<String> = record.exported_bindings.keys().map(ToString::to_string).collect();
    let has_default = names.contains("default")
        || record
            .local_export_entries
            .iter()
            .chain(record.indirect_export_entries.iter())
            .any(|entry| entry.export_name.default_export_span().is_some());
    Exports { names, has_default, has_star: !record.star_export_entries.is_empty() }
}

fn top_level_names(statement: &Statement<'_>, out: &mut BTreeSet<String>) {
    let declaration = match statement {
        Statement::ExportDeclaration(export) => Some(&export.declaration),
        Statement::ExportDefaultDeclaration(export) => {
            let id = match &export.declaration {
                ExportDefaultDeclarationKind::FunctionDeclaration(function) => function.id.as_ref(),
                ExportDefaultDeclarationKind::ClassDeclaration(class) => class.id.as_ref(),
                _ => None,
            };
            out.extend(id.map(|id| id.name.to_string()));
            None
        }
        other => other.as_declaration(),
    };
    match declaration {
        Some(Declaration::VariableDeclaration(variables)) => {
            for declarator in &variables.declarations {
                out.extend(declarator.id.get_binding_identifiers().iter().map(|id| id.name.to_string()));
            }
        }
        Some(other) => out.extend(other.id().map(|id| id.name.to_string())),
        None => {}
    }
}

fn static_request(statement: &Statement<'_>, lines: &LineIndex) -> Option<ModuleRequest> {
    match statement {
        Statement::ImportDeclaration(import) => {
            let specifiers: Vec<&ImportDeclarationSpecifier<'_>> = import.specifiers.iter().flatten().collect();
            let all_types = !specifiers.is_empty()
                && specifiers.iter().all(|specifier| {
                    matches!(specifier, ImportDeclarationSpecifier::ImportSpecifier(s) if s.import_kind.is_type())
                });
            let names = specifiers
                .iter()
                .filter_map(|specifier| match specifier {
                    ImportDeclarationSpecifier::ImportSpecifier(s) => {
                        Some(requested(s.imported.name().as_str(), s.local.name.as_str()))
                    }
                    ImportDeclarationSpecifier::ImportDefaultSpecifier(s) => {
                        Some(RequestedName::Default { local: s.local.name.to_string() })
                    }
                    ImportDeclarationSpecifier::ImportNamespaceSpecifier(_) => None,
                })
                .collect();
            Some(ModuleRequest {
                specifier: import.source.value.to_string(),
                line: lines.line(import.span.start),
                type_only: import.import_kind.is_type() || all_types,
                names,
            })
        }
        Statement::ExportFromDeclaration(export) => Some(ModuleRequest {
            specifier: export.source.value.to_string(),
            line: lines.line(export.span.start),
            type_only: export.export_kind.is_type(),
            names: export
                .specifiers
                .iter()
                .map(|s| requested(s.local.name().as_str(), s.exported.name().as_str()))
                .collect(),
        }),
        Statement::ExportAllDeclaration(export) => Some(ModuleRequest {
            specifier: export.source.value.to_string(),
            line: lines.line(export.span.start),
            type_only: export.export_kind.is_type(),
            names: Vec::new(),
        }),
        _ => None,
    }
}

fn requested(imported: &str, local: &str) -> RequestedName {
    if imported == "default" {
        RequestedName::Default { local: local.to_string() }
    } else {
        RequestedName::Named(imported.to_string())
    }
}

/// A literal that might be a credential, waiting to learn which name it is assigned to.
struct CandidateLiteral {
    start: u32,
    line: u32,
}

struct FactVisitor<'l> {
    lines: &'l LineIndex,
    depth: u32,
    bindings: BTreeSet<String>,
    components: Vec<ComponentUse>,
    dynamic_imports: Vec<ModuleRequest>,
    create_root: bool,
    render_call: bool,
    direct_mount: bool,
    findings: Vec<Finding>,
    candidates: Vec<CandidateLiteral>,
    /// Start offset of a literal → the variable, property or attribute it is assigned to.
    secret_names: BTreeMap<u32, String>,
    first_jsx_line: Option<u32>,
}

impl<'l> FactVisitor<'l> {
    fn new(lines: &'l LineIndex) -> Self {
        Self {
            lines,
            depth: 0,
            bindings: BTreeSet::new(),
            components: Vec::new(),
            dynamic_imports: Vec::new(),
            create_root: false,
            render_call: false,
            direct_mount: false,
            findings: Vec::new(),
            candidates: Vec::new(),
            secret_names: BTreeMap::new(),
            first_jsx_line: None,
        }
    }

    fn guarded(&mut self, walk: impl FnOnce(&mut Self)) {
        if self.depth < MAX_VISIT_DEPTH {
            self.depth += 1;
            walk(self);
            self.depth -= 1;
        }
    }

    fn finding(&mut self, offset: u32, is_error: bool, severity: Severity, message: String) {
        let line = self.lines.line(offset);
        self.findings.push(Finding { line, is_error, severity, message });
    }

    fn note_assignment(&mut self, name: &str, value: &Expression<'_>) {
        if !secrets::is_secret_name(name) {
            return;
        }
        let start = match value.get_inner_expression() {
            Expression::StringLiteral(literal) => literal.span.start,
            Expression::TemplateLiteral(template) if template.expressions.is_empty() => template.span.start,
            _ => return,
        };
        self.secret_names.insert(start, name.to_string());
    }

    fn literal(&mut self, start: u32, value: &str) {
        match secrets::classify(value) {
            Some(credential) => {
                let (is_error, severity, message) = match credential.exposure {
                    Exposure::Leak => (
                        true,
                        Severity::Critical,
                        format!(
                            "A string literal contains {}; anyone can read it in the browser. Move it to a \
                             server-side secret and revoke it.",
                            credential.label
                        ),
                    ),
                    Exposure::Token => (
                        false,
                        Severity::Major,
                        "A JSON Web Token is hard-coded in a string literal; if it grants access, keep it out \
                         of client code."
                            .to_string(),
                    ),
                    Exposure::PublicKey => (
                        false,
                        Severity::Minor,
                        "A public anon key (JWT) is hard-coded; it may ship to browsers but belongs in \
                         configuration (import.meta.env)."
                            .to_string(),
                    ),
                };
                self.finding(start, is_error, severity, message);
            }
            None if secrets::looks_like_credential(value) => {
                let line = self.lines.line(start);
                self.candidates.push(CandidateLiteral { start, line });
            }
            None => {}
        }
    }

    /// Security findings, once every name a literal is assigned to is known.
    fn findings(&mut self) -> Vec<Finding> {
        let mut findings = std::mem::take(&mut self.findings);
        for candidate in &self.candidates {
            if let Some(name) = self.secret_names.get(&candidate.start) {
                findings.push(Finding {
                    line: candidate.line,
                    is_error: true,
                    severity: Severity::Critical,
                    message: format!(
                        "`{name}` holds a hard-coded credential; anyone can read it in the browser. Load it \
                         from a server-side secret or an environment variable."
                    ),
                });
            }
        }
        findings
    }
}

fn callee_name<'e>(callee: &'e Expression<'_>) -> Option<&'e str> {
    match callee.get_inner_expression() {
        Expression::Identifier(id) => Some(id.name.as_str()),
        _ => None,
    }
}

/// `object.property` as two names, when both are plain.
fn member_names<'e>(callee: &'e Expression<'_>) -> Option<(Option<&'e str>, &'e str)> {
    let member = callee.get_inner_expression().get_member_expr()?;
    let property = member.static_property_name()?;
    Some((callee_name(member.object()), property))
}

fn is_create_root(callee: &Expression<'_>) -> bool {
    callee_name(callee) == Some("createRoot")
        || member_names(callee).is_some_and(|(_, property)| property == "createRoot")
}

impl<'a> Visit<'a> for FactVisitor<'_> {
    fn visit_expression(&mut self, it: &Expression<'a>) {
        self.guarded(|v| walk::walk_expression(v, it));
    }

    fn visit_statement(&mut self, it: &Statement<'a>) {
        self.guarded(|v| walk::walk_statement(v, it));
    }

    fn visit_jsx_element(&mut self, it: &JSXElement<'a>) {
        self.first_jsx_line.get_or_insert_with(|| self.lines.line(it.span.start));
        self.guarded(|v| walk::walk_jsx_element(v, it));
    }

    fn visit_jsx_fragment(&mut self, it: &JSXFragment<'a>) {
        self.first_jsx_line.get_or_insert_with(|| self.lines.line(it.span.start));
        walk::walk_jsx_fragment(self, it);
    }

    fn visit_jsx_member_expression(&mut self, it: &JSXMemberExpression<'a>) {
        self.guarded(|v| walk::walk_jsx_member_expression(v, it));
    }

    fn visit_ts_type(&mut self, it: &TSType<'a>) {
        self.guarded(|v| walk::walk_ts_type(v, it));
    }

    fn visit_binding_identifier(&mut self, it: &BindingIdentifier<'a>) {
        self.bindings.insert(it.name.to_string());
    }

    fn visit_jsx_opening_element(&mut self, it: &JSXOpeningElement<'a>) {
        if let JSXElementName::IdentifierReference(id) = &it.name
            && id.name.chars().next().is_some_and(char::is_uppercase)
        {
            let line = self.lines.line(id.span.start);
            self.components.push(ComponentUse { name: id.name.to_string(), line });
        }
        walk::walk_jsx_opening_element(self, it);
    }

    fn visit_jsx_attribute(&mut self, it: &JSXAttribute<'a>) {
        if let JSXAttributeName::Identifier(name) = &it.name {
            if name.name == "dangerouslySetInnerHTML" {
                self.finding(it.span.start, false, Severity::Major, INNER_HTML_MESSAGE.to_string());
            }
            if let Some(JSXAttributeValue::StringLiteral(literal)) = &it.value
                && secrets::is_secret_name(name.name.as_str())
            {
                self.secret_names.insert(literal.span.start, name.name.to_string());
            }
        }
        walk::walk_jsx_attribute(self, it);
    }

    fn visit_object_property(&mut self, it: &ObjectProperty<'a>) {
        if let Some(key) = it.key.static_name() {
            if key == "dangerouslySetInnerHTML" {
                self.finding(it.span.start, false, Severity::Major, INNER_HTML_MESSAGE.to_string());
            }
            self.note_assignment(&key, &it.value);
        }
        walk::walk_object_property(self, it);
    }

    fn visit_variable_declarator(&mut self, it: &VariableDeclarator<'a>) {
        if let (Some(name), Some(init)) = (it.id.get_identifier_name(), &it.init) {
            self.note_assignment(name.as_str(), init);
        }
        walk::walk_variable_declarator(self, it);
    }

    fn visit_assignment_expression(&mut self, it: &AssignmentExpression<'a>) {
        if let Some(name) = it.left.get_identifier_name() {
            self.note_assignment(name, &it.right);
        }
        walk::walk_assignment_expression(self, it);
    }

    fn visit_property_definition(&mut self, it: &PropertyDefinition<'a>) {
        if let (Some(key), Some(value)) = (it.key.static_name(), &it.value) {
            self.note_assignment(&key, value);
        }
        walk::walk_property_definition(self, it);
    }

    fn visit_string_literal(&mut self, it: &StringLiteral<'a>) {
        self.literal(it.span.start, it.value.as_str());
    }

    fn visit_template_literal(&mut self, it: &TemplateLiteral<'a>) {
        if it.expressions.is_empty() {
            if let Some(quasi) = it.quasis.first() {
                let value = quasi.value.cooked.unwrap_or(quasi.value.raw);
                self.literal(it.span.start, value.as_str());
            }
        } else {
            for quasi in &it.quasis {
                let value = quasi.value.cooked.unwrap_or(quasi.value.raw);
                self.literal(quasi.span.start, value.as_str());
            }
        }
        walk::walk_template_literal(self, it);
    }

    fn visit_call_expression(&mut self, it: &CallExpression<'a>) {
        let start = it.span.start;
        match callee_name(&it.callee) {
            Some("eval") => self.finding(start, true, Severity::Major, EVAL_MESSAGE.to_string()),
            Some("Function") => self.finding(start, true, Severity::Major, FUNCTION_MESSAGE.to_string()),
            Some("createRoot") => self.create_root = true,
            _ => {}
        }
        if let Some((object, property)) = member_names(&it.callee) {
            match (object, property) {
                (Some("window" | "globalThis" | "self"), "eval") => {
                    self.finding(start, true, Severity::Major, EVAL_MESSAGE.to_string())
                }
                (Some("document"), "write" | "writeln") => self.finding(
                    start,
                    false,
                    Severity::Minor,
                    "document.write() can wipe the page and inject unescaped HTML; update the DOM through \
                     React instead."
                        .to_string(),
                ),
                (_, "createRoot") => self.create_root = true,
                (Some("ReactDOM"), "render") => self.direct_mount = true,
                (_, "render") => {
                    self.render_call = true;
                    let on_new_root = it
                        .callee
                        .get_inner_expression()
                        .get_member_expr()
                        .map(|member| member.object().get_inner_expression())
                        .is_some_and(
                            |object| matches!(object, Expression::CallExpression(call) if is_create_root(&call.callee)),
                        );
                    self.direct_mount |= on_new_root;
                }
                _ => {}
            }
        }
        walk::walk_call_expression(self, it);
    }

    fn visit_new_expression(&mut self, it: &NewExpression<'a>) {
        if callee_name(&it.callee) == Some("Function") {
            self.finding(it.span.start, true, Severity::Major, FUNCTION_MESSAGE.to_string());
        }
        walk::walk_new_expression(self, it);
    }

    fn visit_import_expression(&mut self, it: &ImportExpression<'a>) {
        let specifier = match it.source.get_inner_expression() {
            Expression::StringLiteral(literal) => Some(literal.value.to_string()),
            Expression::TemplateLiteral(template) if template.expressions.is_empty() => {
                template.quasis.first().map(|quasi| quasi.value.cooked.unwrap_or(quasi.value.raw).to_string())
            }
            _ => None,
        };
        if let Some(specifier) = specifier {
            let line = self.lines.line(it.span.start);
            self.dynamic_imports.push(ModuleRequest { specifier, line, type_only: false, names: Vec::new() });
        }
        walk::walk_import_expression(self, it);
    }
}

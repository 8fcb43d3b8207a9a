//! What one script shares with the others under the `browser` target, where each file is its own
//! module: the names it declares at the top level, the names it uses without binding them, and the
//! names it puts on `window`.
//!
//! Scopes are approximated by the file: a name bound anywhere in the file (a parameter, a local) is
//! taken as bound wherever the file uses it. That can only hide a cross-file use, never invent one.

use std::collections::BTreeSet;

use oxc::ast::ast::{
    Argument, ArrowFunctionExpression, AssignmentExpression, AssignmentOperator, AssignmentTarget, BindingIdentifier,
    BindingPattern, CallExpression, Declaration, ExportDefaultDeclarationKind, Expression, Function,
    IdentifierReference, JSXClosingElement, JSXElement, JSXElementName, JSXMemberExpression, JSXMemberExpressionObject,
    MemberExpression, ObjectPropertyKind, Program, PropertyDefinition, Statement, TSClassImplements,
    TSExternalModuleDeclaration, TSGlobalDeclaration, TSInterfaceDeclaration, TSType, TSTypeAliasDeclaration,
    TSTypeAnnotation, TSTypeParameterDeclaration, TSTypeParameterInstantiation, VariableDeclarator,
};
use oxc::ast_visit::{Visit, walk};
use oxc::span::GetSpan;
use oxc::syntax::scope::ScopeFlags;

use super::lines::{LineIndex, MAX_VISIT_DEPTH};
use crate::preview;

/// A runtime name declared at the top level of a file (types are erased and do not count).
pub(crate) struct TopLevel {
    pub name: String,
    /// `const { useState } = React;`: the global the value was taken from. Another file should
    /// take it from there too, not from this file.
    pub from_global: Option<String>,
}

/// A name the file reads without binding it, or reads from `window` explicitly.
pub(crate) struct NameUse {
    pub name: String,
    pub line: u32,
    /// `<Name …>`, as opposed to an identifier in an expression.
    pub jsx: bool,
    /// Read while the file itself runs, not inside a function body: the name must exist by the
    /// time the file loads.
    pub at_load: bool,
    /// `window.Name` or `const { Name } = window`: global whatever the file binds.
    pub via_window: bool,
}

/// `window.Name = value;` at the top level of a file.
pub(crate) struct WindowSet {
    pub name: String,
    pub line: u32,
    /// The identifier assigned, when the value is one (`window.Card = Card`).
    pub value: Option<String>,
}

#[derive(Default)]
pub(crate) struct Sharing {
    pub values: Vec<TopLevel>,
    pub uses: Vec<NameUse>,
    pub window_sets: Vec<WindowSet>,
    /// Every runtime name bound anywhere in the file.
    pub bindings: BTreeSet<String>,
}

/// The global object itself, through which files share names.
fn is_window(name: &str) -> bool {
    matches!(name, "window" | "globalThis")
}

pub(crate) fn collect(program: &Program<'_>, lines: &LineIndex) -> Sharing {
    let mut values = Vec::new();
    let mut window_sets = Vec::new();
    for statement in &program.body {
        match statement {
            Statement::ExpressionStatement(statement) => {
                window_sets_in(&statement.expression, lines, 0, &mut window_sets);
            }
            Statement::ExportDeclaration(export) => declared(&export.declaration, &mut values),
            Statement::ExportDefaultDeclaration(export) => {
                let id = match &export.declaration {
                    ExportDefaultDeclarationKind::FunctionDeclaration(function) => function.id.as_ref(),
                    ExportDefaultDeclarationKind::ClassDeclaration(class) => class.id.as_ref(),
                    _ => None,
                };
                if let Some(id) = id {
                    values.push(top_level(id, None));
                }
            }
            other => {
                if let Some(declaration) = other.as_declaration() {
                    declared(declaration, &mut values);
                }
            }
        }
    }

    let mut visitor = SharingVisitor {
        lines,
        depth: 0,
        type_depth: 0,
        deferred: 0,
        called_on_the_spot: false,
        uses: Vec::new(),
        bindings: BTreeSet::new(),
    };
    visitor.visit_program(program);
    let SharingVisitor { mut uses, bindings, .. } = visitor;
    uses.retain(|name_use| name_use.via_window || !bindings.contains(&name_use.name));
    Sharing { values, uses, window_sets, bindings }
}

fn top_level(id: &BindingIdentifier<'_>, from_global: Option<String>) -> TopLevel {
    TopLevel { name: id.name.to_string(), from_global }
}

fn declared(declaration: &Declaration<'_>, out: &mut Vec<TopLevel>) {
    match declaration {
        // `declare …` only describes something defined elsewhere.
        Declaration::VariableDeclaration(variables) if !variables.declare => {
            for declarator in &variables.declarations {
                let from_global = declarator.init.as_ref().and_then(global_root);
                for id in declarator.id.get_binding_identifiers() {
                    out.push(top_level(id, from_global.clone()));
                }
            }
        }
        Declaration::FunctionDeclaration(function) if !function.declare => {
            // Overload signatures repeat the name; one entry is enough.
            if let Some(id) = &function.id
                && !out.iter().any(|value| value.name == id.name.as_str())
            {
                out.push(top_level(id, None));
            }
        }
        Declaration::ClassDeclaration(class) if !class.declare => {
            if let Some(id) = &class.id {
                out.push(top_level(id, None));
            }
        }
        _ => {}
    }
}

/// `React`, `React.useState`, `window.motion` or `window`: the global a value is read from, if
/// it is a library or the window itself rather than anything the project defines.
fn global_root(init: &Expression<'_>) -> Option<String> {
    let mut expression = init.get_inner_expression();
    let mut first_property = None;
    while let Some(member) = expression.get_member_expr() {
        first_property = member.static_property_name();
        expression = member.object().get_inner_expression();
    }
    let Expression::Identifier(root) = expression else { return None };
    let root = root.name.as_str();
    if is_window(root) {
        return Some(match first_property {
            Some(property) if preview::is_library(property) => format!("window.{property}"),
            _ => root.to_string(),
        });
    }
    preview::is_library(root).then(|| root.to_string())
}

/// `window.X = …`, `window.A = window.B = …`, `a, b` sequences and `Object.assign(window, { … })`.
fn window_sets_in(expression: &Expression<'_>, lines: &LineIndex, depth: u32, out: &mut Vec<WindowSet>) {
    if depth > MAX_VISIT_DEPTH {
        return;
    }
    match expression.get_inner_expression() {
        Expression::AssignmentExpression(assignment) if assignment.operator == AssignmentOperator::Assign => {
            if let Some(name) = window_target(&assignment.left) {
                let value = assigned_identifier(&assignment.right);
                out.push(WindowSet { name, line: lines.line(assignment.span.start), value });
            }
            window_sets_in(&assignment.right, lines, depth + 1, out);
        }
        Expression::SequenceExpression(sequence) => {
            for expression in &sequence.expressions {
                window_sets_in(expression, lines, depth + 1, out);
            }
        }
        Expression::CallExpression(call) if is_object_assign_to_window(call) => {
            for argument in call.arguments.iter().skip(1) {
                let Argument::ObjectExpression(object) = argument else { continue };
                for property in &object.properties {
                    let ObjectPropertyKind::ObjectProperty(property) = property else { continue };
                    let Some(name) = property.key.static_name() else { continue };
                    let value = assigned_identifier(&property.value);
                    out.push(WindowSet { name: name.to_string(), line: lines.line(property.span.start), value });
                }
            }
        }
        _ => {}
    }
}

fn is_object_assign_to_window(call: &CallExpression<'_>) -> bool {
    let Some(member) = call.callee.get_inner_expression().get_member_expr() else { return false };
    let is_object = matches!(member.object().get_inner_expression(), Expression::Identifier(id) if id.name == "Object");
    is_object
        && member.static_property_name() == Some("assign")
        && call.arguments.first().and_then(Argument::as_expression).is_some_and(
            |target| matches!(target.get_inner_expression(), Expression::Identifier(id) if is_window(&id.name)),
        )
}

/// The identifier finally assigned through a chain `a = b = X`.
fn assigned_identifier(value: &Expression<'_>) -> Option<String> {
    let mut value = value.get_inner_expression();
    while let Expression::AssignmentExpression(assignment) = value {
        value = assignment.right.get_inner_expression();
    }
    match value {
        Expression::Identifier(id) => Some(id.name.to_string()),
        _ => None,
    }
}

fn window_member_name(member: &MemberExpression<'_>) -> Option<String> {
    let is_on_window =
        matches!(member.object().get_inner_expression(), Expression::Identifier(id) if is_window(&id.name));
    if is_on_window { member.static_property_name().map(ToString::to_string) } else { None }
}

fn window_target(left: &AssignmentTarget<'_>) -> Option<String> {
    window_member_name(left.as_member_expression()?)
}

struct SharingVisitor<'l> {
    lines: &'l LineIndex,
    depth: u32,
    /// Inside a type, where names are erased before the code runs.
    type_depth: u32,
    /// Inside a function body (or an instance field's initialiser): runs later, not at load.
    deferred: u32,
    /// The next function visited is the callee of a call, run on the spot (`(() => …)()`).
    called_on_the_spot: bool,
    uses: Vec<NameUse>,
    bindings: BTreeSet<String>,
}

impl SharingVisitor<'_> {
    fn guarded(&mut self, walk: impl FnOnce(&mut Self)) {
        if self.depth < MAX_VISIT_DEPTH {
            self.depth += 1;
            walk(self);
            self.depth -= 1;
        }
    }

    fn in_type(&mut self, walk: impl FnOnce(&mut Self)) {
        self.type_depth += 1;
        self.guarded(walk);
        self.type_depth -= 1;
    }

    fn later(&mut self, walk: impl FnOnce(&mut Self)) {
        if std::mem::take(&mut self.called_on_the_spot) {
            walk(self);
        } else {
            self.deferred += 1;
            walk(self);
            self.deferred -= 1;
        }
    }

    fn use_name(&mut self, name: &str, offset: u32, jsx: bool, via_window: bool) {
        if self.type_depth == 0 {
            let line = self.lines.line(offset);
            let at_load = self.deferred == 0;
            self.uses.push(NameUse { name: name.to_string(), line, jsx, at_load, via_window });
        }
    }

    /// `<window.Card>` reads `Card` from the window; `<motion.div>` reads `motion`.
    fn jsx_member(&mut self, member: &JSXMemberExpression<'_>) {
        if let JSXMemberExpressionObject::IdentifierReference(object) = &member.object
            && is_window(&object.name)
        {
            self.use_name(member.property.name.as_str(), member.span.start, true, true);
        } else {
            walk::walk_jsx_member_expression(self, member);
        }
    }
}

impl<'a> Visit<'a> for SharingVisitor<'_> {
    fn visit_expression(&mut self, it: &Expression<'a>) {
        self.guarded(|v| walk::walk_expression(v, it));
    }

    fn visit_statement(&mut self, it: &Statement<'a>) {
        self.guarded(|v| walk::walk_statement(v, it));
    }

    fn visit_jsx_element(&mut self, it: &JSXElement<'a>) {
        self.guarded(|v| walk::walk_jsx_element(v, it));
    }

    fn visit_jsx_member_expression(&mut self, it: &JSXMemberExpression<'a>) {
        self.guarded(|v| walk::walk_jsx_member_expression(v, it));
    }

    fn visit_ts_type(&mut self, it: &TSType<'a>) {
        self.in_type(|v| walk::walk_ts_type(v, it));
    }

    fn visit_ts_type_annotation(&mut self, it: &TSTypeAnnotation<'a>) {
        self.in_type(|v| walk::walk_ts_type_annotation(v, it));
    }

    fn visit_ts_type_parameter_declaration(&mut self, it: &TSTypeParameterDeclaration<'a>) {
        self.in_type(|v| walk::walk_ts_type_parameter_declaration(v, it));
    }

    fn visit_ts_type_parameter_instantiation(&mut self, it: &TSTypeParameterInstantiation<'a>) {
        self.in_type(|v| walk::walk_ts_type_parameter_instantiation(v, it));
    }

    fn visit_ts_interface_declaration(&mut self, it: &TSInterfaceDeclaration<'a>) {
        self.in_type(|v| walk::walk_ts_interface_declaration(v, it));
    }

    fn visit_ts_type_alias_declaration(&mut self, it: &TSTypeAliasDeclaration<'a>) {
        self.in_type(|v| walk::walk_ts_type_alias_declaration(v, it));
    }

    fn visit_ts_class_implements(&mut self, it: &TSClassImplements<'a>) {
        self.in_type(|v| walk::walk_ts_class_implements(v, it));
    }

    fn visit_ts_external_module_declaration(&mut self, it: &TSExternalModuleDeclaration<'a>) {
        self.in_type(|v| walk::walk_ts_external_module_declaration(v, it));
    }

    fn visit_ts_global_declaration(&mut self, it: &TSGlobalDeclaration<'a>) {
        self.in_type(|v| walk::walk_ts_global_declaration(v, it));
    }

    fn visit_binding_identifier(&mut self, it: &BindingIdentifier<'a>) {
        if self.type_depth == 0 {
            self.bindings.insert(it.name.to_string());
        }
    }

    fn visit_identifier_reference(&mut self, it: &IdentifierReference<'a>) {
        self.use_name(it.name.as_str(), it.span.start, false, false);
    }

    fn visit_jsx_element_name(&mut self, it: &JSXElementName<'a>) {
        match it {
            JSXElementName::IdentifierReference(id) => self.use_name(id.name.as_str(), id.span.start, true, false),
            JSXElementName::MemberExpression(member) => self.jsx_member(member),
            _ => walk::walk_jsx_element_name(self, it),
        }
    }

    /// The opening tag already counted the name.
    fn visit_jsx_closing_element(&mut self, _it: &JSXClosingElement<'a>) {}

    fn visit_function(&mut self, it: &Function<'a>, flags: ScopeFlags) {
        self.later(|v| walk::walk_function(v, it, flags));
    }

    fn visit_arrow_function_expression(&mut self, it: &ArrowFunctionExpression<'a>) {
        self.later(|v| walk::walk_arrow_function_expression(v, it));
    }

    fn visit_property_definition(&mut self, it: &PropertyDefinition<'a>) {
        // An instance field's initialiser runs with the constructor; a static one at load.
        if it.r#static {
            walk::walk_property_definition(self, it);
        } else {
            self.deferred += 1;
            walk::walk_property_definition(self, it);
            self.deferred -= 1;
        }
    }

    fn visit_call_expression(&mut self, it: &CallExpression<'a>) {
        self.called_on_the_spot = matches!(
            it.callee.get_inner_expression(),
            Expression::FunctionExpression(_) | Expression::ArrowFunctionExpression(_)
        );
        walk::walk_call_expression(self, it);
        self.called_on_the_spot = false;
    }

    fn visit_assignment_expression(&mut self, it: &AssignmentExpression<'a>) {
        // `window.X = …` defines X; it does not read it.
        if window_target(&it.left).is_some() {
            self.visit_expression(&it.right);
        } else {
            walk::walk_assignment_expression(self, it);
        }
    }

    fn visit_member_expression(&mut self, it: &MemberExpression<'a>) {
        match window_member_name(it) {
            Some(name) => self.use_name(&name, it.span().start, false, true),
            None => walk::walk_member_expression(self, it),
        }
    }

    fn visit_variable_declarator(&mut self, it: &VariableDeclarator<'a>) {
        // `const { Card } = window;` reads Card from the window right now.
        if let (BindingPattern::ObjectPattern(pattern), Some(init)) = (&it.id, &it.init)
            && matches!(init.get_inner_expression(), Expression::Identifier(id) if is_window(&id.name))
        {
            for property in &pattern.properties {
                if let Some(name) = property.key.static_name() {
                    self.use_name(&name, property.span.start, false, true);
                }
            }
        }
        walk::walk_variable_declarator(self, it);
    }
}

//! The TypeScript syntax that the `browser` preview cannot run: its Babel strips types with the
//! Flow plugin, which reads part of TypeScript's syntax and rejects or miscompiles the rest.
//!
//! Every construct flagged here was measured in the preview (a page like the frontend's, with its
//! pinned Babel) to fail; the ones it runs (interfaces, type aliases, annotations, generic
//! functions without constraints, `implements`, class components with type arguments, …) are left
//! alone, since a model told to remove them would only churn.
//!
//! Over 500 lines: one walk over the syntax tree, one rule per measured construct; each rule is a
//! few lines beside its measurement.

use std::collections::BTreeSet;

use oxc::ast::ast::{
    AccessorProperty, CallExpression, CatchParameter, Class, ClassElement, Decorator, Expression, FormalParameter,
    Function, FunctionType, JSXElement, JSXMemberExpression, JSXOpeningElement, MethodDefinition, MethodDefinitionKind,
    MethodDefinitionType, NewExpression, Program, PropertyDefinition, PropertyDefinitionType, Statement,
    TSAsExpression, TSConditionalType, TSConstructorType, TSEnumDeclaration, TSEnumMemberName,
    TSExternalModuleDeclaration, TSGlobalDeclaration, TSImportEqualsDeclaration, TSImportType, TSIndexSignature,
    TSInstantiationExpression, TSMappedType, TSMethodSignature, TSMethodSignatureKind, TSNamedTupleMember,
    TSNamespaceDeclaration, TSNamespaceDeclarationBody, TSNamespaceDeclarationKind, TSNonNullExpression,
    TSOptionalType, TSPropertySignature, TSRestType, TSSatisfiesExpression, TSTemplateLiteralType, TSType,
    TSTypeAssertion, TSTypeOperator, TSTypeParameter, TSTypePredicate, TaggedTemplateExpression, VariableDeclaration,
    VariableDeclarationKind, VariableDeclarator,
};
use oxc::ast_visit::{Visit, walk};
use oxc::span::{GetSpan, Span};
use oxc::syntax::scope::ScopeFlags;

use super::lines::{LineIndex, MAX_VISIT_DEPTH};

/// Snippets quoted in messages stop here, so a message stays one readable line.
const MAX_SNIPPET_CHARS: usize = 40;

/// One construct the preview cannot run, with what to write instead.
pub(crate) struct TsSyntax {
    pub line: u32,
    pub message: String,
}

pub(crate) fn scan(program: &Program<'_>, source: &str, lines: &LineIndex) -> Vec<TsSyntax> {
    let mut visitor =
        FlowVisitor { source, lines, depth: 0, declared_class: 0, seen: BTreeSet::new(), found: Vec::new() };
    visitor.visit_program(program);
    visitor.found
}

/// The source of `span` on one line, shortened.
fn snippet(source: &str, span: Span) -> String {
    let text = usize::try_from(span.start)
        .ok()
        .zip(usize::try_from(span.end).ok())
        .and_then(|(start, end)| source.get(start..end))
        .unwrap_or_default();
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.chars().count() <= MAX_SNIPPET_CHARS {
        collapsed
    } else {
        let mut short: String = collapsed.chars().take(MAX_SNIPPET_CHARS - 1).collect();
        short.push('…');
        short
    }
}

struct FlowVisitor<'s> {
    source: &'s str,
    lines: &'s LineIndex,
    depth: u32,
    /// Inside `declare class`, whose methods have no bodies by design.
    declared_class: u32,
    /// (line, construct): one error per construct and line, however often it repeats there.
    seen: BTreeSet<(u32, &'static str)>,
    found: Vec<TsSyntax>,
}

impl FlowVisitor<'_> {
    fn guarded(&mut self, walk: impl FnOnce(&mut Self)) {
        if self.depth < MAX_VISIT_DEPTH {
            self.depth += 1;
            walk(self);
            self.depth -= 1;
        }
    }

    fn report(&mut self, offset: u32, construct: &'static str, message: String) {
        let line = self.lines.line(offset);
        if self.seen.insert((line, construct)) {
            self.found.push(TsSyntax { line, message });
        }
    }

    fn text(&self, span: Span) -> String {
        snippet(self.source, span)
    }

    /// `private`, `readonly`, `override`, `abstract`, `declare` on a class member, in source order.
    fn member_modifiers(&mut self, span: Span, modifiers: &[(bool, &str)], what: &str) {
        let present: Vec<&str> = modifiers.iter().filter(|(on, _)| *on).map(|(_, word)| *word).collect();
        if present.is_empty() {
            return;
        }
        let words = present.join(" ");
        self.report(
            span.start,
            "member modifiers",
            format!(
                "`{words}` on a class {what}: the preview cannot read TypeScript's member modifiers; delete \
                 `{words}` (plain JavaScript classes have none)."
            ),
        );
    }

    fn type_arguments(&mut self, offset: u32, construct: &'static str, written: String, plain: String) {
        self.report(
            offset,
            construct,
            format!(
                "`{written}`: the preview reads type arguments as comparisons; write `{plain}` with no `<…>` \
                 (plain JavaScript)."
            ),
        );
    }
}

impl<'a> Visit<'a> for FlowVisitor<'_> {
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
        self.guarded(|v| walk::walk_ts_type(v, it));
    }

    fn visit_ts_type_parameter(&mut self, it: &TSTypeParameter<'a>) {
        let name = it.name.name.as_str();
        if let Some(constraint) = &it.constraint {
            let constraint = self.text(constraint.span());
            self.report(
                it.span.start,
                "type parameter constraint",
                format!(
                    "`<{name} extends {constraint}>`: the preview cannot read constraints on type parameters; \
                     delete the `<…>` type parameters and the types that use them (plain JavaScript)."
                ),
            );
        }
        for (present, word) in [(it.r#const, "const"), (it.r#in, "in"), (it.out, "out")] {
            if present {
                self.report(
                    it.span.start,
                    "type parameter modifier",
                    format!(
                        "`<{word} {name}>`: the preview cannot read modifiers on type parameters; delete the \
                         `<…>` type parameters (plain JavaScript)."
                    ),
                );
            }
        }
        walk::walk_ts_type_parameter(self, it);
    }

    fn visit_call_expression(&mut self, it: &CallExpression<'a>) {
        if let Some(arguments) = &it.type_arguments {
            let callee = self.text(it.callee.span());
            let types = self.text(arguments.span);
            let call = self.text(Span::new(arguments.span.end, it.span.end));
            let example = if callee.ends_with("useState") && call == "()" { " (e.g. `useState(0)`)" } else { "" };
            self.type_arguments(
                arguments.span.start,
                "call type arguments",
                format!("{callee}{types}{call}"),
                format!("{callee}{call}{example}"),
            );
        }
        walk::walk_call_expression(self, it);
    }

    fn visit_new_expression(&mut self, it: &NewExpression<'a>) {
        if let Some(arguments) = &it.type_arguments {
            let callee = self.text(it.callee.span());
            let types = self.text(arguments.span);
            let call = self.text(Span::new(arguments.span.end, it.span.end));
            self.type_arguments(
                arguments.span.start,
                "new type arguments",
                format!("new {callee}{types}{call}"),
                format!("new {callee}{call}"),
            );
        }
        walk::walk_new_expression(self, it);
    }

    fn visit_tagged_template_expression(&mut self, it: &TaggedTemplateExpression<'a>) {
        if let Some(arguments) = &it.type_arguments {
            let tag = self.text(it.tag.span());
            let types = self.text(arguments.span);
            self.type_arguments(
                arguments.span.start,
                "tag type arguments",
                format!("{tag}{types}`…`"),
                format!("{tag}`…`"),
            );
        }
        walk::walk_tagged_template_expression(self, it);
    }

    fn visit_ts_instantiation_expression(&mut self, it: &TSInstantiationExpression<'a>) {
        let expression = self.text(it.expression.span());
        let types = self.text(it.type_arguments.span);
        self.type_arguments(it.type_arguments.span.start, "instantiation", format!("{expression}{types}"), expression);
        walk::walk_ts_instantiation_expression(self, it);
    }

    fn visit_jsx_opening_element(&mut self, it: &JSXOpeningElement<'a>) {
        if let Some(arguments) = &it.type_arguments {
            let name = self.text(it.name.span());
            let types = self.text(arguments.span);
            self.type_arguments(
                arguments.span.start,
                "JSX type arguments",
                format!("<{name}{types} …>"),
                format!("<{name} …>"),
            );
        }
        walk::walk_jsx_opening_element(self, it);
    }

    fn visit_ts_as_expression(&mut self, it: &TSAsExpression<'a>) {
        let target = self.text(it.type_annotation.span());
        let hint = if target == "const" { "" } else { " (plain JavaScript has no casts)" };
        self.report(
            it.span.start,
            "as",
            format!("`as {target}`: the preview cannot read `as`; delete `as {target}`{hint}."),
        );
        walk::walk_ts_as_expression(self, it);
    }

    fn visit_ts_satisfies_expression(&mut self, it: &TSSatisfiesExpression<'a>) {
        let target = self.text(it.type_annotation.span());
        self.report(
            it.span.start,
            "satisfies",
            format!("`satisfies {target}`: the preview cannot read `satisfies`; delete `satisfies {target}`."),
        );
        walk::walk_ts_satisfies_expression(self, it);
    }

    fn visit_ts_non_null_expression(&mut self, it: &TSNonNullExpression<'a>) {
        let expression = self.text(it.expression.span());
        self.report(
            it.span.start,
            "non-null",
            format!(
                "`{expression}!`: the preview cannot read the non-null `!`; delete the `!` (check for a missing \
                 value with `?.` or an `if` when it can be missing)."
            ),
        );
        walk::walk_ts_non_null_expression(self, it);
    }

    fn visit_ts_type_assertion(&mut self, it: &TSTypeAssertion<'a>) {
        let target = self.text(it.type_annotation.span());
        self.report(
            it.span.start,
            "type assertion",
            format!("`<{target}>` before a value: the preview reads it as JSX; delete `<{target}>`."),
        );
        walk::walk_ts_type_assertion(self, it);
    }

    fn visit_variable_declaration(&mut self, it: &VariableDeclaration<'a>) {
        // `declare var` runs (Flow has it); `declare let` and `declare const` do not.
        if it.declare && it.kind != VariableDeclarationKind::Var {
            let kind = it.kind.as_str();
            self.report(
                it.span.start,
                "declare",
                format!("`declare {kind}`: the preview cannot read it; delete the line (it only describes a type)."),
            );
        }
        walk::walk_variable_declaration(self, it);
    }

    fn visit_variable_declarator(&mut self, it: &VariableDeclarator<'a>) {
        if it.definite {
            let name = self.text(it.id.span());
            self.report(
                it.span.start,
                "definite",
                format!("`{name}!:`: the preview cannot read the definite-assignment `!`; write `let {name};`."),
            );
        }
        walk::walk_variable_declarator(self, it);
    }

    fn visit_ts_enum_declaration(&mut self, it: &TSEnumDeclaration<'a>) {
        let name = it.id.name.as_str();
        let mut members = Vec::new();
        for (index, member) in it.body.members.iter().enumerate().take(3) {
            let key = match &member.id {
                TSEnumMemberName::Identifier(id) => id.name.to_string(),
                other => self.text(other.span()),
            };
            let value = match &member.initializer {
                Some(value) => self.text(value.span()),
                None => index.to_string(),
            };
            members.push(format!("{key}: {value}"));
        }
        if it.body.members.len() > 3 {
            members.push("…".to_string());
        }
        let object = if members.is_empty() { "{}".to_string() } else { format!("{{ {} }}", members.join(", ")) };
        self.report(
            it.span.start,
            "enum",
            format!(
                "`enum {name}`: the preview does not compile enums, so `{name}` is never defined; write a plain \
                 object: `const {name} = {object};`."
            ),
        );
        walk::walk_ts_enum_declaration(self, it);
    }

    fn visit_ts_namespace_declaration(&mut self, it: &TSNamespaceDeclaration<'a>) {
        let body_is_empty =
            matches!(&it.body, TSNamespaceDeclarationBody::TSModuleBlock(block) if block.body.is_empty());
        // An empty `declare module Name {}` runs (Flow has it); every other namespace does not.
        let runs = it.declare && it.kind == TSNamespaceDeclarationKind::Module && body_is_empty;
        if !runs {
            let keyword = if it.kind == TSNamespaceDeclarationKind::Module { "module" } else { "namespace" };
            let name = it.id.name.as_str();
            self.report(
                it.span.start,
                "namespace",
                format!(
                    "`{keyword} {name}`: the preview cannot read TypeScript namespaces; declare what it holds at \
                     the top level of the file instead (e.g. `const {name} = {{ … }};`)."
                ),
            );
        }
        // What an ambient namespace holds is ambient too (bodiless functions are fine there).
        if !it.declare {
            walk::walk_ts_namespace_declaration(self, it);
        }
    }

    fn visit_ts_external_module_declaration(&mut self, it: &TSExternalModuleDeclaration<'a>) {
        if it.body.as_ref().is_some_and(|body| !body.body.is_empty()) {
            let name = self.text(it.id.span);
            self.report(
                it.span.start,
                "namespace",
                format!(
                    "`declare module {name} {{ … }}`: the preview cannot read TypeScript's module declarations; \
                     delete it (it only describes types)."
                ),
            );
        }
        // Ambient: the advice is to delete it all, so what it holds is not reported on its own.
    }

    fn visit_ts_global_declaration(&mut self, it: &TSGlobalDeclaration<'a>) {
        self.report(
            it.span.start,
            "namespace",
            "`declare global { … }`: the preview cannot read it; delete it (it only describes types).".to_string(),
        );
    }

    fn visit_ts_import_equals_declaration(&mut self, it: &TSImportEqualsDeclaration<'a>) {
        let name = it.id.name.as_str();
        let target = self.text(it.module_reference.span());
        self.report(
            it.span.start,
            "import equals",
            format!("`import {name} = {target}`: the preview cannot read it; write `const {name} = {target};`."),
        );
        walk::walk_ts_import_equals_declaration(self, it);
    }

    fn visit_ts_type_operator(&mut self, it: &TSTypeOperator<'a>) {
        let operator = it.operator.to_str();
        let written = self.text(it.span);
        self.report(
            it.span.start,
            operator,
            format!(
                "`{written}`: the preview cannot read `{operator}` in a type; delete the type or write it \
                 without `{operator}` (plain JavaScript needs no types)."
            ),
        );
        walk::walk_ts_type_operator(self, it);
    }

    fn visit_ts_property_signature(&mut self, it: &TSPropertySignature<'a>) {
        if it.readonly {
            let key = self.text(it.key.span());
            self.report(
                it.span.start,
                "readonly member",
                format!("`readonly {key}`: the preview cannot read `readonly` on members; delete `readonly`."),
            );
        }
        walk::walk_ts_property_signature(self, it);
    }

    fn visit_ts_index_signature(&mut self, it: &TSIndexSignature<'a>) {
        if it.readonly {
            self.report(
                it.span.start,
                "readonly member",
                "`readonly [key: …]`: the preview cannot read `readonly` on members; delete `readonly`.".to_string(),
            );
        }
        walk::walk_ts_index_signature(self, it);
    }

    fn visit_ts_method_signature(&mut self, it: &TSMethodSignature<'a>) {
        let key = self.text(it.key.span());
        if it.optional {
            self.report(
                it.span.start,
                "optional method signature",
                format!(
                    "`{key}?(…)`: the preview cannot read optional method signatures; write `{key}?: (…) => …` \
                     or drop the type."
                ),
            );
        }
        if it.kind == TSMethodSignatureKind::Set {
            self.report(
                it.span.start,
                "setter signature",
                format!("`set {key}(…)` in a type: the preview cannot read setter signatures; write `{key}: …`."),
            );
        }
        walk::walk_ts_method_signature(self, it);
    }

    fn visit_ts_type_predicate(&mut self, it: &TSTypePredicate<'a>) {
        let written = self.text(it.span);
        self.report(
            it.span.start,
            "type predicate",
            format!(
                "`{written}`: the preview cannot read type predicates; delete the return type (the function \
                 stays as it is)."
            ),
        );
        walk::walk_ts_type_predicate(self, it);
    }

    fn visit_ts_conditional_type(&mut self, it: &TSConditionalType<'a>) {
        self.report(
            it.span.start,
            "conditional type",
            "A conditional type (`A extends B ? C : D`): the preview cannot read it; delete this type (plain \
             JavaScript needs none)."
                .to_string(),
        );
        walk::walk_ts_conditional_type(self, it);
    }

    fn visit_ts_mapped_type(&mut self, it: &TSMappedType<'a>) {
        self.report(
            it.span.start,
            "mapped type",
            "A mapped type (`{ [K in …]: … }`): the preview cannot read it; delete this type (plain JavaScript \
             needs none)."
                .to_string(),
        );
        walk::walk_ts_mapped_type(self, it);
    }

    fn visit_ts_template_literal_type(&mut self, it: &TSTemplateLiteralType<'a>) {
        self.report(
            it.span.start,
            "template literal type",
            "A template literal type (`` `…${…}` `` in a type): the preview cannot read it; delete this type or \
             write `string`."
                .to_string(),
        );
        walk::walk_ts_template_literal_type(self, it);
    }

    fn visit_ts_constructor_type(&mut self, it: &TSConstructorType<'a>) {
        let written = self.text(it.span);
        self.report(
            it.span.start,
            "constructor type",
            format!("`{written}`: the preview cannot read constructor types; delete this type (or write `Function`)."),
        );
        walk::walk_ts_constructor_type(self, it);
    }

    fn visit_ts_named_tuple_member(&mut self, it: &TSNamedTupleMember<'a>) {
        let label = it.label.name.as_str();
        self.report(
            it.span.start,
            "tuple label",
            format!("`[{label}: …]`: the preview cannot read labelled tuple members; delete `{label}:`."),
        );
        walk::walk_ts_named_tuple_member(self, it);
    }

    fn visit_ts_optional_type(&mut self, it: &TSOptionalType<'a>) {
        self.report(
            it.span.start,
            "optional tuple member",
            "An optional tuple member (`[a, b?]`): the preview cannot read it; write the type as an array \
             (`T[]`) or delete it."
                .to_string(),
        );
        walk::walk_ts_optional_type(self, it);
    }

    fn visit_ts_rest_type(&mut self, it: &TSRestType<'a>) {
        self.report(
            it.span.start,
            "rest tuple member",
            "A rest tuple member (`[a, ...b[]]`): the preview cannot read it; write the type as an array (`T[]`) \
             or delete it."
                .to_string(),
        );
        walk::walk_ts_rest_type(self, it);
    }

    fn visit_ts_import_type(&mut self, it: &TSImportType<'a>) {
        let written = self.text(it.span);
        self.report(
            it.span.start,
            "import type",
            format!("`{written}`: the preview cannot read `import(…)` types; delete this type."),
        );
        walk::walk_ts_import_type(self, it);
    }

    fn visit_class(&mut self, it: &Class<'a>) {
        if it.r#abstract {
            self.report(
                it.span.start,
                "abstract",
                "`abstract class`: the preview cannot read `abstract`; delete `abstract` (here and on the \
                 class's members)."
                    .to_string(),
            );
        }
        for element in &it.body.body {
            if let ClassElement::TSIndexSignature(signature) = element {
                self.report(
                    signature.span.start,
                    "class index signature",
                    "An index signature in a class (`[key: string]: …`): the preview cannot read it; delete the \
                     line."
                        .to_string(),
                );
            }
        }
        if it.declare {
            self.declared_class += 1;
            walk::walk_class(self, it);
            self.declared_class -= 1;
        } else {
            walk::walk_class(self, it);
        }
    }

    fn visit_property_definition(&mut self, it: &PropertyDefinition<'a>) {
        let accessibility = it.accessibility.map(|a| a.as_str()).unwrap_or_default();
        let is_abstract = it.r#type == PropertyDefinitionType::TSAbstractPropertyDefinition;
        self.member_modifiers(
            it.span,
            &[
                (it.declare, "declare"),
                (!accessibility.is_empty(), accessibility),
                (is_abstract, "abstract"),
                (it.r#override, "override"),
                (it.readonly, "readonly"),
            ],
            "field",
        );
        let key = self.text(it.key.span());
        if it.optional {
            self.report(
                it.span.start,
                "optional field",
                format!(
                    "`{key}?:` in a class: the preview cannot read optional fields; write `{key};` (or drop the field)."
                ),
            );
        }
        if it.definite {
            self.report(
                it.span.start,
                "definite",
                format!("`{key}!:` in a class: the preview cannot read the definite-assignment `!`; delete the `!`."),
            );
        }
        walk::walk_property_definition(self, it);
    }

    fn visit_method_definition(&mut self, it: &MethodDefinition<'a>) {
        let accessibility = it.accessibility.map(|a| a.as_str()).unwrap_or_default();
        let is_abstract = it.r#type == MethodDefinitionType::TSAbstractMethodDefinition;
        let what = if it.kind == MethodDefinitionKind::Constructor { "constructor" } else { "method" };
        self.member_modifiers(
            it.span,
            &[(!accessibility.is_empty(), accessibility), (is_abstract, "abstract"), (it.r#override, "override")],
            what,
        );
        let key = self.text(it.key.span());
        if it.optional {
            self.report(
                it.span.start,
                "optional method",
                format!("`{key}?()` in a class: the preview cannot read optional methods; delete the `?`."),
            );
        }
        if it.value.body.is_none() && !is_abstract && self.declared_class == 0 {
            self.report(
                it.span.start,
                "overload",
                format!(
                    "`{key}(…);` without a body: the preview cannot read overload signatures; keep only the \
                     method with a body."
                ),
            );
        }
        walk::walk_method_definition(self, it);
    }

    fn visit_accessor_property(&mut self, it: &AccessorProperty<'a>) {
        let key = self.text(it.key.span());
        self.report(
            it.span.start,
            "accessor",
            format!("`accessor {key}`: the preview cannot read auto-accessors; delete `accessor`."),
        );
        walk::walk_accessor_property(self, it);
    }

    fn visit_formal_parameter(&mut self, it: &FormalParameter<'a>) {
        let accessibility = it.accessibility.map(|a| a.as_str()).unwrap_or_default();
        let words: Vec<&str> =
            [(!accessibility.is_empty(), accessibility), (it.r#override, "override"), (it.readonly, "readonly")]
                .into_iter()
                .filter(|(on, _)| *on)
                .map(|(_, word)| word)
                .collect();
        if !words.is_empty() {
            let words = words.join(" ");
            let name = self.text(it.pattern.span());
            self.report(
                it.span.start,
                "parameter property",
                format!(
                    "`constructor({words} {name})`: the preview cannot read parameter properties; write \
                     `constructor({name}) {{ this.{name} = {name}; }}`."
                ),
            );
        }
        walk::walk_formal_parameter(self, it);
    }

    fn visit_decorator(&mut self, it: &Decorator<'a>) {
        let expression = self.text(it.expression.span());
        self.report(
            it.span.start,
            "decorator",
            format!("`@{expression}`: the preview cannot read decorators; delete it and call `{expression}` directly."),
        );
        walk::walk_decorator(self, it);
    }

    fn visit_function(&mut self, it: &Function<'a>, flags: ScopeFlags) {
        // `declare function` runs (Flow has it); a signature without a body otherwise is an overload.
        if it.r#type == FunctionType::TSDeclareFunction && !it.declare {
            let name = it.id.as_ref().map(|id| id.name.as_str()).unwrap_or("f");
            self.report(
                it.span.start,
                "overload",
                format!(
                    "`function {name}(…): …;` without a body: the preview cannot read overload signatures; keep \
                     only the function with a body."
                ),
            );
        }
        walk::walk_function(self, it, flags);
    }

    fn visit_catch_parameter(&mut self, it: &CatchParameter<'a>) {
        if it.type_annotation.is_some() {
            let name = self.text(it.pattern.span());
            self.report(
                it.span.start,
                "catch annotation",
                format!(
                    "`catch ({name}: …)`: the preview cannot read a type on the catch parameter; write \
                     `catch ({name})`."
                ),
            );
        }
        walk::walk_catch_parameter(self, it);
    }
}

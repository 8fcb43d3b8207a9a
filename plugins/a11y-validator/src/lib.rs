//! An accessibility validator for Blink, as a plugin author would write one: it parses each
//! TSX/JSX file with oxc and reports elements a screen reader or a keyboard user cannot use.

// The canonical ABI lowers each record field to its own argument in wit-bindgen's generated code.
#![allow(clippy::too_many_arguments)]

use oxc::allocator::Allocator;
use oxc::ast::ast::{JSXAttributeItem, JSXAttributeName, JSXChild, JSXElement, JSXElementName};
use oxc::ast_visit::{Visit, walk};
use oxc::parser::Parser;
use oxc::span::SourceType;

wit_bindgen::generate!({
    path: "../../wit/since_v0.1.0",
    world: "validator",
    generate_all,
});

use blink::agents::types::{Diagnostic, DiagnosticKind, Severity};

struct A11y;

impl Guest for A11y {
    fn validate(request: ValidateRequest) -> Result<ValidationReport, blink::agents::types::AgentError> {
        let mut warnings = Vec::new();
        for file in &request.files {
            let Ok(source_type) = SourceType::from_path(&file.path) else { continue };
            if !source_type.is_jsx() {
                continue;
            }
            let allocator = Allocator::default();
            let parsed = Parser::new(&allocator, &file.content, source_type).parse();
            // Syntax errors are the built-in validator's to report.
            if parsed.panicked || parsed.diagnostics.errors().next().is_some() {
                continue;
            }
            let mut checker = Checker { source: &file.content, file: &file.path, found: &mut warnings };
            checker.visit_program(&parsed.program);
        }
        let score = 100u8.saturating_sub(u8::try_from(warnings.len() * 5).unwrap_or(100));
        Ok(ValidationReport { errors: Vec::new(), warnings, confidence_score: score })
    }
}

struct Checker<'a> {
    source: &'a str,
    file: &'a str,
    found: &'a mut Vec<Diagnostic>,
}

impl Checker<'_> {
    fn report(&mut self, offset: u32, message: String) {
        let line = self.source.get(..offset as usize).map_or(1, |s| s.matches('\n').count() as u32 + 1);
        self.found.push(Diagnostic {
            kind: DiagnosticKind::Reference,
            file: self.file.to_string(),
            line: Some(line),
            message,
            severity: Severity::Minor,
        });
    }
}

fn has_attribute(element: &JSXElement, names: &[&str]) -> bool {
    element.opening_element.attributes.iter().any(|item| match item {
        JSXAttributeItem::Attribute(a) => match &a.name {
            JSXAttributeName::Identifier(id) => names.contains(&id.name.as_str()),
            JSXAttributeName::NamespacedName(_) => false,
        },
        // `{...props}` may carry any attribute.
        JSXAttributeItem::SpreadAttribute(_) => true,
    })
}

fn has_content(element: &JSXElement) -> bool {
    element.children.iter().any(|child| match child {
        JSXChild::Text(t) => !t.value.trim().is_empty(),
        _ => true,
    })
}

impl<'a> Visit<'a> for Checker<'_> {
    fn visit_jsx_element(&mut self, element: &JSXElement<'a>) {
        let name = match &element.opening_element.name {
            JSXElementName::Identifier(id) => Some(id.name.as_str()),
            _ => None,
        };
        let at = element.span.start;
        match name {
            Some("img") if !has_attribute(element, &["alt"]) => self
                .report(at, "<img> has no alt text; describe the image, or use alt=\"\" if it is decorative.".into()),
            Some("button")
                if !has_content(element) && !has_attribute(element, &["aria-label", "aria-labelledby", "title"]) =>
            {
                self.report(at, "<button> has no accessible name; give it text or an aria-label.".into())
            }
            Some("a") if !has_attribute(element, &["href"]) => {
                self.report(at, "<a> without href is not focusable; use a <button> for actions.".into())
            }
            Some("div" | "span")
                if has_attribute(element, &["onClick"]) && !has_attribute(element, &["role", "tabIndex"]) =>
            {
                self.report(at, "a clickable <div>/<span> cannot be reached by keyboard; use a <button>.".into())
            }
            _ => {}
        }
        walk::walk_jsx_element(self, element);
    }
}

export!(A11y);

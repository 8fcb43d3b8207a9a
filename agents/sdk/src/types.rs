//! The agents' data, in the JSON shapes of the host's HTTP protocol (`docs/protocol.md`; the WIT
//! records they mirror are in `docs/wit.md`).
//!
//! These types serialise exactly as the frontend reads them (`risk_level`, `type` on a diagnostic),
//! and deserialise leniently from model output: a missing field takes its default, an unknown enum
//! value falls back to the safest one.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChatRole {
    System,
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: ChatRole,
    pub content: String,
}

impl ChatMessage {
    pub fn system(content: impl Into<String>) -> Self {
        Self { role: ChatRole::System, content: content.into() }
    }
    pub fn user(content: impl Into<String>) -> Self {
        Self { role: ChatRole::User, content: content.into() }
    }
    pub fn assistant(content: impl Into<String>) -> Self {
        Self { role: ChatRole::Assistant, content: content.into() }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectFile {
    pub path: String,
    pub content: String,
}

impl ProjectFile {
    pub fn new(path: impl Into<String>, content: impl Into<String>) -> Self {
        Self { path: path.into(), content: content.into() }
    }
}

/// Where generated code runs; see the WIT `runtime-target`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuntimeTarget {
    #[default]
    Browser,
    Vite,
}

impl RuntimeTarget {
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "browser" => Some(Self::Browser),
            "vite" => Some(Self::Vite),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Browser => "browser",
            Self::Vite => "vite",
        }
    }
}

// Model output names these in any case and with synonyms; reading them from a string keeps one
// odd word from failing a whole plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", from = "String")]
pub enum RiskLevel {
    Low,
    #[default]
    Medium,
    High,
}

impl From<String> for RiskLevel {
    fn from(s: String) -> Self {
        match s.trim().to_ascii_lowercase().as_str() {
            "low" => Self::Low,
            "high" | "critical" => Self::High,
            _ => Self::Medium,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", from = "String")]
pub enum StepAction {
    #[default]
    Create,
    Modify,
    Delete,
}

impl From<String> for StepAction {
    fn from(s: String) -> Self {
        match s.trim().to_ascii_lowercase().as_str() {
            "modify" | "update" | "edit" | "change" => Self::Modify,
            "delete" | "remove" => Self::Delete,
            _ => Self::Create,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", from = "String")]
pub enum StepPriority {
    Critical,
    #[default]
    Normal,
    Optional,
}

impl From<String> for StepPriority {
    fn from(s: String) -> Self {
        match s.trim().to_ascii_lowercase().as_str() {
            "critical" | "high" => Self::Critical,
            "optional" | "low" => Self::Optional,
            _ => Self::Normal,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PlanStep {
    #[serde(deserialize_with = "null_as_default")]
    pub id: u32,
    #[serde(deserialize_with = "null_as_default")]
    pub action: StepAction,
    #[serde(deserialize_with = "null_as_default")]
    pub target: String,
    #[serde(deserialize_with = "null_as_default")]
    pub path: String,
    #[serde(deserialize_with = "null_as_default")]
    pub description: String,
    #[serde(deserialize_with = "null_as_default")]
    pub priority: StepPriority,
}

/// The plan the planner returns and the frontend reads, field for field.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Plan {
    #[serde(deserialize_with = "null_as_default")]
    pub intent: String,
    #[serde(deserialize_with = "null_as_default")]
    pub risk_level: RiskLevel,
    #[serde(deserialize_with = "null_as_default")]
    pub conversational: bool,
    #[serde(deserialize_with = "null_as_default")]
    pub clarification_needed: bool,
    pub clarification_question: Option<String>,
    pub reply: Option<String>,
    #[serde(deserialize_with = "null_as_default")]
    pub dependencies_needed: Vec<String>,
    /// Not part of the frontend's plan object; it travels in `intent_classified`.
    #[serde(skip_serializing)]
    #[serde(deserialize_with = "null_as_default")]
    pub reasoning: String,
    #[serde(deserialize_with = "null_as_default")]
    pub steps: Vec<PlanStep>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DiagnosticKind {
    Syntax,
    Runtime,
    Security,
    Import,
    Reference,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Critical,
    Major,
    Minor,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    #[serde(rename = "type")]
    pub kind: DiagnosticKind,
    pub file: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub line: Option<u32>,
    pub message: String,
    pub severity: Severity,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ValidationReport {
    pub errors: Vec<Diagnostic>,
    pub warnings: Vec<Diagnostic>,
    pub confidence_score: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PlanRequest {
    pub messages: Vec<ChatMessage>,
    pub file_tree: Vec<String>,
    pub project_context: String,
    pub files: Vec<ProjectFile>,
    pub target: RuntimeTarget,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GenerateRequest {
    pub messages: Vec<ChatMessage>,
    pub plan: Plan,
    pub steps: Vec<PlanStep>,
    pub context_files: Vec<ProjectFile>,
    pub project_context: String,
    pub target: RuntimeTarget,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ValidateRequest {
    pub files: Vec<ProjectFile>,
    pub changed: Vec<String>,
    pub dependencies: Vec<String>,
    /// Files known by path only; see the WIT `validate-request`.
    pub known_paths: Vec<String>,
    pub target: RuntimeTarget,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FixRequest {
    pub messages: Vec<ChatMessage>,
    pub files: Vec<ProjectFile>,
    pub diagnostics: Vec<Diagnostic>,
    pub target: RuntimeTarget,
}

/// Reads `null` (which models write for "nothing") as the field's default.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Packages the generated code may use without declaring them (the frontend's preview provides them).
pub const TEMPLATE_PACKAGES: &[&str] = &[
    "react",
    "react-dom",
    "react-router-dom",
    "lucide-react",
    "recharts",
    "framer-motion",
    "date-fns",
    "clsx",
    "tailwind-merge",
];

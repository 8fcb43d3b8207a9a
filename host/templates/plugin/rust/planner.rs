//! {{name}}: a Blink planner. It asks the model for a plan as JSON and reads it back leniently,
//! and answers questions by streaming the model's reply to the user.

// `generate!` brings into scope: `Guest`, `export!`, and the world's `use`d types at the crate
// root (`PlanRequest`, `Plan`, `AgentError`); the rest are under `blink::agents::…`.
wit_bindgen::generate!({ path: "wit", world: "planner", generate_all });

use blink::agents::config;
use blink::agents::llm::{self, CompletionRequest, StreamChannel};
use blink::agents::types::{ChatMessage, ChatRole, PlanStep, RiskLevel, RuntimeTarget, StepAction, StepPriority};
use serde_json::Value;

const SYSTEM: &str = r#"You plan changes to a React web app. Answer with ONE JSON object and nothing else:
{"intent": "…", "conversational": false, "reply": null, "reasoning": "…",
 "steps": [{"action": "create | modify | delete", "target": "ComponentName", "path": "ComponentName.tsx", "description": "…"}]}
A greeting or a question is conversational: no steps. Plan one step per file, App.tsx last."#;

struct Agent;

impl Guest for Agent {
    fn plan(request: PlanRequest) -> Result<Plan, AgentError> {
        let mut task = String::from("Conversation (oldest first):\n");
        for m in &request.messages {
            let role = match m.role {
                ChatRole::User => "user",
                ChatRole::Assistant => "assistant",
                ChatRole::System => "system",
            };
            task.push_str(&format!("[{role}]: {}\n", m.content));
        }
        task.push_str("\nFile tree:\n");
        task.push_str(if request.file_tree.is_empty() { "(empty project)" } else { "" });
        task.push_str(&request.file_tree.join("\n"));
        task.push('\n');
        let system = format!("{SYSTEM}\n\n{}", target_rules(request.target));
        let answer = ask(vec![message(ChatRole::System, system), message(ChatRole::User, task)], true)?;
        let json = answer.find('{').zip(answer.rfind('}')).map_or("", |(start, end)| &answer[start..=end]);
        let plan: Value = serde_json::from_str(json)
            .map_err(|e| AgentError::BadModelOutput(format!("the plan is not a JSON object: {e}")))?;
        Ok(read_plan(&plan))
    }

    fn answer(request: PlanRequest) -> Result<String, AgentError> {
        let system = format!(
            "You are the assistant of an AI app builder. Answer the user's last message briefly.\n\nProject files:\n{}",
            request.file_tree.join("\n")
        );
        let mut messages = vec![message(ChatRole::System, system)];
        messages.extend(request.messages.iter().cloned());
        let completion = llm::complete(&CompletionRequest {
            messages,
            temperature: Some(0.7),
            max_tokens: Some(1_024),
            json_mode: false,
            model: config::get("model"),
            stream_to: Some(StreamChannel::Conversation),
        })
        .map_err(AgentError::Llm)?;
        Ok(completion.content)
    }
}

/// The plan the model wrote, with defaults for whatever it left out.
fn read_plan(plan: &Value) -> Plan {
    let text = |v: &Value, key: &str| v[key].as_str().unwrap_or_default().to_string();
    let steps: Vec<PlanStep> = plan["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, s)| PlanStep {
            id: i as u32 + 1,
            action: match s["action"].as_str() {
                Some("modify") => StepAction::Modify,
                Some("delete") => StepAction::Delete,
                _ => StepAction::Create,
            },
            target: text(s, "target"),
            path: text(s, "path"),
            description: text(s, "description"),
            priority: StepPriority::Normal,
        })
        .filter(|s| !s.path.is_empty())
        .collect();
    let risk_level = match steps.len() {
        0..=2 => RiskLevel::Low,
        3..=5 => RiskLevel::Medium,
        _ => RiskLevel::High,
    };
    Plan {
        intent: text(plan, "intent"),
        risk_level,
        conversational: plan["conversational"].as_bool().unwrap_or(steps.is_empty()),
        clarification_needed: false,
        clarification_question: None,
        reply: plan["reply"].as_str().map(str::to_string),
        dependencies_needed: Vec::new(),
        reasoning: text(plan, "reasoning"),
        steps,
    }
}

export!(Agent);
{{common}}

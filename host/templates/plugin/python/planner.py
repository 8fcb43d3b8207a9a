"""{{name}}: a Blink planner in Python. It asks the model for a plan as JSON and reads it back
leniently, and answers questions by streaming the model's reply to the user.

componentize-py generates `wit_world` from ./wit when build.sh runs."""

import json

from componentize_py_types import Err
import wit_world
from wit_world.imports import config, llm
from wit_world.imports.types import (
    AgentError_BadModelOutput,
    AgentError_Llm,
    ChatMessage,
    ChatRole,
    Plan,
    PlanRequest,
    PlanStep,
    RiskLevel,
    RuntimeTarget,
    StepAction,
    StepPriority,
)

SYSTEM = """You plan changes to a React web app. Answer with ONE JSON object and nothing else:
{"intent": "…", "conversational": false, "reply": null, "reasoning": "…",
 "steps": [{"action": "create | modify | delete", "target": "ComponentName", "path": "ComponentName.tsx", "description": "…"}]}
A greeting or a question is conversational: no steps. Plan one step per file, App.tsx last."""

ROLES = {ChatRole.USER: "user", ChatRole.ASSISTANT: "assistant", ChatRole.SYSTEM: "system"}
ACTIONS = {"modify": StepAction.MODIFY, "delete": StepAction.DELETE}


class WitWorld(wit_world.WitWorld):
    def plan(self, request: PlanRequest) -> Plan:
        task = "Conversation (oldest first):\n"
        task += "".join(f"[{ROLES[m.role]}]: {m.content}\n" for m in request.messages)
        task += "\nFile tree:\n" + ("\n".join(request.file_tree) or "(empty project)") + "\n"
        answer = ask([message(ChatRole.SYSTEM, SYSTEM + "\n\n" + target_rules(request.target)),
                      message(ChatRole.USER, task)], True)
        try:
            plan = json.loads(answer[answer.index("{"):answer.rindex("}") + 1])
        except ValueError as e:
            raise Err(AgentError_BadModelOutput(f"the plan is not a JSON object: {e}"))
        steps = [PlanStep(id=i + 1, action=ACTIONS.get(s.get("action"), StepAction.CREATE),
                          target=str(s.get("target") or ""), path=str(s["path"]),
                          description=str(s.get("description") or ""), priority=StepPriority.NORMAL)
                 for i, s in enumerate(plan.get("steps") or []) if s.get("path")]
        risk = RiskLevel.LOW if len(steps) <= 2 else RiskLevel.MEDIUM if len(steps) <= 5 else RiskLevel.HIGH
        conversational = plan.get("conversational")
        return Plan(intent=str(plan.get("intent") or ""), risk_level=risk,
                    conversational=bool(conversational) if conversational is not None else not steps,
                    clarification_needed=False, clarification_question=None, reply=plan.get("reply"),
                    dependencies_needed=[], reasoning=str(plan.get("reasoning") or ""), steps=steps)

    def answer(self, request: PlanRequest) -> str:
        system = ("You are the assistant of an AI app builder. Answer the user's last message briefly.\n\n"
                  "Project files:\n" + "\n".join(request.file_tree))
        completion_request = llm.CompletionRequest(
            messages=[message(ChatRole.SYSTEM, system)] + list(request.messages), temperature=0.7, max_tokens=1024,
            json_mode=False, model=config.get("model"), stream_to=llm.StreamChannel.CONVERSATION)
        try:
            return llm.complete(completion_request).content
        except Err as e:
            raise Err(AgentError_Llm(e.value))
{{common}}

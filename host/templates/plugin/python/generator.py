"""{{name}}: a Blink generator in Python. It asks the model for each file of its steps, one at a
time, as a fenced code block; change the prompt, the order or the checks to make it yours.

componentize-py generates `wit_world` from ./wit when build.sh runs."""

from componentize_py_types import Err
import wit_world
from wit_world.imports import config, llm
from wit_world.imports.types import (
    AgentError_BadModelOutput,
    AgentError_Llm,
    ChatMessage,
    ChatRole,
    GenerateRequest,
    ProjectFile,
    RuntimeTarget,
    StepAction,
)

SYSTEM = ("You are an expert React engineer writing production-quality files for a web app. "
          "Write complete files, never fragments. Style with Tailwind CSS classes.")


class WitWorld(wit_world.WitWorld):
    def generate(self, request: GenerateRequest) -> list[ProjectFile]:
        system = SYSTEM + "\n\n" + target_rules(request.target)
        plan = "".join(f"- {s.path} ({s.target}): {s.description}\n" for s in request.plan.steps)
        files = []
        for step in request.steps:
            if step.action == StepAction.DELETE:
                continue
            action = "create" if step.action == StepAction.CREATE else "modify"
            task = (f"The user asked: {last_request(request.messages)}\n\n"
                    f"Plan ({request.plan.intent}): every file being written in this change:\n{plan}\n"
                    f"Your part:\n- {action} {step.path}: {step.description}\n\n"
                    f"Answer with the complete content of {step.path} in a single fenced code block and nothing else.")
            content = code_block(ask([message(ChatRole.SYSTEM, system), message(ChatRole.USER, task)], False))
            if not content.strip():
                raise Err(AgentError_BadModelOutput(f"the model wrote nothing for {step.path}"))
            files.append(ProjectFile(path=step.path, content=content))
        return files
{{common}}

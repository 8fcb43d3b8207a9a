"""{{name}}: a Blink fixer in Python. For each file a validator rejected, it shows the model the
problems and the file and takes back the corrected file; files it did not change are left out.

componentize-py generates `wit_world` from ./wit when build.sh runs."""

from componentize_py_types import Err
import wit_world
from wit_world.imports import config, llm
from wit_world.imports.types import (
    AgentError_BadModelOutput,
    AgentError_Llm,
    ChatMessage,
    ChatRole,
    FixRequest,
    ProjectFile,
    RuntimeTarget,
)

SYSTEM = ("You are an expert React engineer repairing files that a validator rejected. Fix every listed "
          "problem with the smallest change and return the complete file.")


class WitWorld(wit_world.WitWorld):
    def fix(self, request: FixRequest) -> list[ProjectFile]:
        system = SYSTEM + "\n\n" + target_rules(request.target)
        fixed = []
        for file in request.files:
            problems = [f"- {file.path}" + (f" line {d.line}" if d.line is not None else "") + f": {d.message}"
                        for d in request.diagnostics if d.file == file.path]
            if not problems:
                continue
            task = (f"The user asked: {last_request(request.messages)}\n\n"
                    "Problems to fix:\n" + "\n".join(problems) + "\n\n"
                    f"Files to correct:\n--- {file.path}\n{file.content.rstrip()}\n\n"
                    f"Answer with the complete content of {file.path} in a single fenced code block and nothing else.")
            content = code_block(ask([message(ChatRole.SYSTEM, system), message(ChatRole.USER, task)], False))
            if content.strip() and content != file.content:
                fixed.append(ProjectFile(path=file.path, content=content))
        return fixed
{{common}}

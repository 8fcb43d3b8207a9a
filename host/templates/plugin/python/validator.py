"""{{name}}: a Blink validator in Python. It reports `debugger` statements as errors (the fixer
then removes them) and `alert(` calls as warnings; replace the checks with your own.

componentize-py generates `wit_world` from ./wit when build.sh runs."""

import traceback

from componentize_py_types import Err
import wit_world
from wit_world.imports.types import (
    AgentError_Internal,
    Diagnostic,
    DiagnosticKind,
    Severity,
    ValidateRequest,
    ValidationReport,
)


def check(path: str, content: str) -> tuple[list[Diagnostic], list[Diagnostic]]:
    errors, warnings = [], []
    for number, line in enumerate(content.splitlines(), start=1):
        if line.lstrip().startswith("debugger"):
            errors.append(Diagnostic(kind=DiagnosticKind.RUNTIME, file=path, line=number,
                                     message="remove this `debugger` statement: it stops the page in DevTools",
                                     severity=Severity.MAJOR))
        if "alert(" in line:
            warnings.append(Diagnostic(kind=DiagnosticKind.RUNTIME, file=path, line=number,
                                       message="`alert(` blocks the page; show the message in the page instead",
                                       severity=Severity.MINOR))
    return errors, warnings


# componentize-py looks for a class named after the world module's protocol.
class WitWorld(wit_world.WitWorld):
    def validate(self, request: ValidateRequest) -> ValidationReport:
        try:
            errors, warnings = [], []
            for file in request.files:
                found_errors, found_warnings = check(file.path, file.content)
                errors += found_errors
                warnings += found_warnings
        except Exception:
            # An uncaught exception traps the component; an agent error tells the host why.
            raise Err(AgentError_Internal(traceback.format_exc(limit=3)))
        score = max(0, 100 - 20 * len(errors) - 5 * len(warnings))
        return ValidationReport(errors=errors, warnings=warnings, confidence_score=score)

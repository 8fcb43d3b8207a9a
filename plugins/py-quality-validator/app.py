"""A Blink validator in Python: code-quality findings the built-in validator does not report.

This module is only the glue between the WIT contract (`blink:agents/validator`) and the checks
in `quality.py`; componentize-py generates `wit_world` from the repository's wit/ at build time."""

import traceback

import quality
from componentize_py_types import Err
import wit_world
from wit_world.imports import config, log
from wit_world.imports.types import (
    AgentError_Internal,
    Diagnostic,
    DiagnosticKind,
    Severity,
    ValidateRequest,
    ValidationReport,
)


def max_lines() -> int:
    raw = config.get("max-lines")
    parsed = quality.parse_max_lines(raw)
    if parsed is None:
        if raw is not None:
            # An operator typo should not stop validation, but they need to see it.
            log.log(log.Level.WARN, f"max-lines={raw!r} is not a positive integer; using {quality.DEFAULT_MAX_LINES}")
        return quality.DEFAULT_MAX_LINES
    return parsed


def to_diagnostic(finding: quality.Finding) -> Diagnostic:
    # The contract has no "style" kind; `runtime` is the closest: the code runs, but not as shipped code should.
    return Diagnostic(
        kind=DiagnosticKind.RUNTIME,
        file=finding.file,
        line=finding.line,
        message=finding.message,
        severity=Severity.MAJOR if finding.error else Severity.MINOR,
    )


# componentize-py looks for a class named after the world module's protocol.
class WitWorld(wit_world.WitWorld):
    def validate(self, request: ValidateRequest) -> ValidationReport:
        try:
            findings = quality.check_files([(f.path, f.content) for f in request.files], max_lines())
        except Exception:
            # An uncaught Python exception traps the component; an agent error tells the host why.
            raise Err(AgentError_Internal(traceback.format_exc(limit=3)))
        errors = [to_diagnostic(f) for f in findings if f.error]
        warnings = [to_diagnostic(f) for f in findings if not f.error]
        return ValidationReport(
            errors=errors,
            warnings=warnings,
            confidence_score=quality.confidence(len(errors), len(warnings)),
        )

"""The checks of the py-quality validator, in plain Python with no WIT types, so that they can be
tested with CPython alone (`python3 -m unittest`). `app.py` turns findings into WIT diagnostics."""

import re
from typing import List, NamedTuple, Sequence, Tuple

DEFAULT_MAX_LINES = 300

# Only script files: a long JSON or CSS file is data, not a component to split.
SCRIPT_EXTENSIONS = (".js", ".jsx", ".ts", ".tsx", ".mjs", ".cjs")

CONSOLE_LOG = re.compile(r"\bconsole\s*\.\s*log\b")
# `debugger` as a statement: at the start of a statement and ending one, so that neither
# `x.debugger` nor `debuggerEnabled` nor JSX text such as `<p>Open the debugger</p>` counts.
DEBUGGER = re.compile(r"(?:^|[;{}]|\))\s*debugger\s*(?:;|}|$)")
# Upper case only, so a comment about "the todo list" of a todo app is not a finding.
MARKER = re.compile(r"\b(TODO|FIXME)\b")


class Finding(NamedTuple):
    file: str
    line: int  # 1-based
    message: str
    error: bool  # an error the fixer should act on; a warning otherwise


def is_script(path: str) -> bool:
    return path.lower().endswith(SCRIPT_EXTENSIONS)


def split_code_and_comments(content: str) -> List[Tuple[str, str]]:
    """Each line as (code, comments): string and template literal contents are blanked out of the
    code and comment text is moved to the second part, so that `"debugger"` in a string or
    `console.log` in a comment is no finding and `TODO` counts only in comments.

    A small scanner, not a parser: regex literals and JSX text are read as code. Quoted strings
    end at the end of their line (JavaScript allows no raw newline in them), so an apostrophe in
    JSX text (`<p>Don't</p>`) hides at most the rest of its own line."""
    lines: List[Tuple[str, str]] = []
    code: List[str] = []
    comment: List[str] = []
    state = "code"  # code | line-comment | block-comment | ' | " | `
    template_depth: List[int] = []  # brace depth at each open `${`, to find where it closes
    braces = 0
    i, n = 0, len(content)
    while i < n:
        c = content[i]
        nxt = content[i + 1] if i + 1 < n else ""
        if c == "\n":
            lines.append(("".join(code), "".join(comment)))
            code, comment = [], []
            if state in ("line-comment", "'", '"'):
                state = "code"
            i += 1
            continue
        if state == "code":
            if c == "/" and nxt == "/":
                state = "line-comment"
                i += 2
                continue
            if c == "/" and nxt == "*":
                state = "block-comment"
                i += 2
                continue
            if c in "'\"`":
                state = c
                code.append(c)
            elif c == "{":
                braces += 1
                code.append(c)
            elif c == "}":
                if template_depth and template_depth[-1] == braces:
                    # The end of a `${...}`: back inside its template literal.
                    template_depth.pop()
                    state = "`"
                else:
                    braces -= 1
                code.append(c)
            else:
                code.append(c)
        elif state == "line-comment":
            comment.append(c)
        elif state == "block-comment":
            if c == "*" and nxt == "/":
                state = "code"
                i += 2
                continue
            comment.append(c)
        else:  # inside a string or template literal
            if c == "\\":
                code.append("  " if nxt and nxt != "\n" else " ")
                i += 2 if nxt and nxt != "\n" else 1
                continue
            if c == state:
                state = "code"
                code.append(c)
            elif state == "`" and c == "$" and nxt == "{":
                # `${...}` is code again, up to its closing brace.
                template_depth.append(braces)
                state = "code"
                code.append("${")
                i += 2
                continue
            else:
                code.append(" ")
        i += 1
    # A file that ends with a newline has no further line.
    if code or comment or not content.endswith("\n"):
        lines.append(("".join(code), "".join(comment)))
    return lines


def count_lines(content: str) -> int:
    if not content:
        return 0
    return content.count("\n") + (0 if content.endswith("\n") else 1)


def check_file(path: str, content: str, max_lines: int = DEFAULT_MAX_LINES) -> List[Finding]:
    """The findings for one file, by line; at most one finding of each check per line."""
    if not is_script(path):
        return []
    findings: List[Finding] = []
    for number, (code, comment) in enumerate(split_code_and_comments(content), start=1):
        if DEBUGGER.search(code):
            findings.append(Finding(path, number,
                "`debugger` statement: it pauses the app whenever developer tools are open; remove it.",
                True))
        if CONSOLE_LOG.search(code):
            findings.append(Finding(path, number,
                "`console.log` left in the code; remove it or report through the UI.", False))
        marker = MARKER.search(comment)
        if marker:
            findings.append(Finding(path, number,
                f"{marker.group(1)} comment: unfinished work left in the code.", False))
    total = count_lines(content)
    if total > max_lines:
        # The first line past the limit, so an editor jumps to where the file became too long.
        findings.append(Finding(path, max_lines + 1,
            f"file has {total} lines, over the limit of {max_lines}; split it into smaller modules.",
            False))
    return findings


def check_files(files: Sequence[Tuple[str, str]], max_lines: int = DEFAULT_MAX_LINES) -> List[Finding]:
    """Findings for (path, content) pairs, in the order the files are given."""
    findings: List[Finding] = []
    for path, content in files:
        findings.extend(check_file(path, content, max_lines))
    return findings


def parse_max_lines(value):
    """The `max-lines` setting as a positive int, or None when unset or unusable."""
    if value is None:
        return None
    try:
        parsed = int(value.strip())
    except ValueError:
        return None
    return parsed if parsed > 0 else None


def confidence(errors: int, warnings: int) -> int:
    # The built-in validator's costs for a major error and a minor warning, so that scores read
    # the same whichever validator produced them.
    return max(0, 100 - 15 * errors - 2 * warnings)

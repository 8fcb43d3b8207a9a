"""Run with `python3 -m unittest` in this directory. The checks need only CPython; the glue tests
need the bindings that build.sh writes to target/bindings and are skipped without them."""

import os
import sys
import unittest

import quality
from quality import Finding, check_file, check_files, count_lines, parse_max_lines

SAMPLE = """\
import { useState } from 'react';

// TODO: load todos from the server
export default function App() {
  const [todos, setTodos] = useState<string[]>([]);
  console.log('render', todos);
  const label = "debugger console.log TODO";
  if (todos.length > 99) debugger;
  /* FIXME: the
     TODO list is not sorted */
  return (
    <div>
      <h1>My todo list: TODO items</h1>
      <p>Open the debugger to see why</p>
      {/* console.log(todos) stays commented out */}
      <p>{`${todos.length} left`}</p>
    </div>
  );
}
"""

SAMPLE_FINDINGS = [
    Finding("src/App.tsx", 3, "TODO comment: unfinished work left in the code.", False),
    Finding("src/App.tsx", 6, "`console.log` left in the code; remove it or report through the UI.", False),
    Finding("src/App.tsx", 8,
            "`debugger` statement: it pauses the app whenever developer tools are open; remove it.", True),
    Finding("src/App.tsx", 9, "FIXME comment: unfinished work left in the code.", False),
    Finding("src/App.tsx", 10, "TODO comment: unfinished work left in the code.", False),
]


class ChecksTest(unittest.TestCase):
    def test_sample(self):
        self.assertEqual(check_file("src/App.tsx", SAMPLE), SAMPLE_FINDINGS)

    def test_strings_comments_and_jsx_text_are_no_findings(self):
        clean = (
            "const s = 'console.log(1); debugger;';\n"
            "const t = `a ${'b'} debugger; console.log`;\n"
            "// console.log('commented out')\n"
            "const todo = 'TODO';\n"
            "const o = { debugger: 1 }; o.debugger; const debuggerEnabled = true;\n"
            "const el = <p>Don't log: console.error is fine</p>;\n"
        )
        self.assertEqual(check_file("a.jsx", clean), [])

    def test_code_inside_template_substitution_is_checked(self):
        found = check_file("a.ts", "const s = `x ${console.log('y')} z`;\n")
        self.assertEqual([(f.line, f.error) for f in found], [(1, False)])

    def test_multiline_template_keeps_line_numbers(self):
        content = "const s = `\nconsole.log\n`;\nconsole.log(s);\n"
        self.assertEqual([f.line for f in check_file("a.js", content)], [4])

    def test_one_finding_per_check_per_line(self):
        found = check_file("a.js", "console.log(1); console.log(2); // TODO FIXME\n")
        self.assertEqual([f.message.split()[0] for f in found], ["`console.log`", "TODO"])

    def test_long_file_reported_at_first_line_over_limit(self):
        content = "const a = 1;\n" * 5
        self.assertEqual(check_file("a.ts", content, max_lines=5), [])
        found = check_file("a.ts", content + "const b = 2;", max_lines=5)
        self.assertEqual(found, [Finding("a.ts", 6,
            "file has 6 lines, over the limit of 5; split it into smaller modules.", False)])

    def test_default_limit_is_300(self):
        self.assertEqual(check_file("a.ts", "x;\n" * 300), [])
        self.assertEqual([f.line for f in check_file("a.ts", "x;\n" * 301)], [301])

    def test_only_script_files(self):
        self.assertEqual(check_file("notes.md", "TODO: debugger;\nconsole.log(1)\n"), [])
        self.assertEqual(check_file("data.json", "[\n" + "1,\n" * 500 + "1]\n"), [])
        self.assertEqual(len(check_file("Page.TSX", "debugger;\n")), 1)

    def test_files_in_given_order(self):
        found = check_files([("b.ts", "debugger;\n"), ("a.ts", "debugger;\n")])
        self.assertEqual([f.file for f in found], ["b.ts", "a.ts"])

    def test_count_lines(self):
        self.assertEqual([count_lines(s) for s in ["", "a", "a\n", "a\nb", "a\nb\n", "\n"]], [0, 1, 1, 2, 2, 1])

    def test_parse_max_lines(self):
        self.assertEqual([parse_max_lines(v) for v in [None, "120", " 80 ", "0", "-3", "many"]],
                         [None, 120, 80, None, None, None])

    def test_confidence(self):
        self.assertEqual(quality.confidence(0, 0), 100)
        self.assertEqual(quality.confidence(1, 4), 77)
        self.assertEqual(quality.confidence(10, 0), 0)


BINDINGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "target", "bindings")


@unittest.skipUnless(os.path.isdir(BINDINGS), "no target/bindings: run build.sh first")
class GlueTest(unittest.TestCase):
    """The WIT glue in CPython, with the host's imports replaced by fakes."""

    def setUp(self):
        if BINDINGS not in sys.path:
            sys.path.insert(0, BINDINGS)
        import app
        from wit_world.imports import config, log, types
        self.app, self.types = app, types
        self.settings, self.logged = {}, []
        self.patch(config, "get", self.settings.get)
        self.patch(log, "log", lambda level, message: self.logged.append((level, message)))

    def patch(self, module, name, value):
        original = getattr(module, name)
        setattr(module, name, value)
        self.addCleanup(setattr, module, name, original)

    def validate(self, files):
        t = self.types
        request = t.ValidateRequest(
            files=[t.ProjectFile(path=p, content=c) for p, c in files],
            changed=[], dependencies=[], known_paths=[], target=t.RuntimeTarget.VITE)
        return self.app.WitWorld().validate(request)

    def test_report(self):
        t = self.types
        report = self.validate([("src/App.tsx", SAMPLE)])
        self.assertEqual(report.errors, [t.Diagnostic(
            kind=t.DiagnosticKind.RUNTIME, file="src/App.tsx", line=8,
            message=SAMPLE_FINDINGS[2].message, severity=t.Severity.MAJOR)])
        self.assertEqual([(d.line, d.severity) for d in report.warnings],
                         [(3, t.Severity.MINOR), (6, t.Severity.MINOR), (9, t.Severity.MINOR), (10, t.Severity.MINOR)])
        self.assertEqual(report.confidence_score, 77)

    def test_max_lines_from_config(self):
        self.settings["max-lines"] = "2"
        report = self.validate([("a.ts", "a;\nb;\nc;\n")])
        self.assertEqual([(d.line, d.message) for d in report.warnings],
                         [(3, "file has 3 lines, over the limit of 2; split it into smaller modules.")])

    def test_bad_max_lines_is_logged_and_ignored(self):
        self.settings["max-lines"] = "lots"
        report = self.validate([("a.ts", "a;\n" * 301)])
        self.assertEqual([d.line for d in report.warnings], [301])
        self.assertEqual(len(self.logged), 1)
        self.assertIn("max-lines='lots'", self.logged[0][1])

    def test_unexpected_failure_is_an_agent_error(self):
        from componentize_py_types import Err
        self.patch(self.app.quality, "check_files", lambda *a: 1 / 0)
        with self.assertRaises(Err) as caught:
            self.validate([])
        self.assertIsInstance(caught.exception.value, self.types.AgentError_Internal)
        self.assertIn("ZeroDivisionError", caught.exception.value.value)


if __name__ == "__main__":
    unittest.main()

// {{name}}: a Blink validator in JavaScript. It reports `debugger` statements as errors (the
// fixer then removes them) and `alert(` calls as warnings; replace the checks with your own.
// Records are objects with camelCase fields, enums are strings; componentize-js builds it.

export function validate(request) {
  const errors = [];
  const warnings = [];
  for (const file of request.files) {
    file.content.split('\n').forEach((line, index) => {
      const at = (message, severity) => ({ kind: 'runtime', file: file.path, line: index + 1, message, severity });
      if (line.trimStart().startsWith('debugger')) errors.push(at('remove this `debugger` statement: it stops the page in DevTools', 'major'));
      if (line.includes('alert(')) warnings.push(at('`alert(` blocks the page; show the message in the page instead', 'minor'));
    });
  }
  const confidenceScore = Math.max(0, 100 - 20 * errors.length - 5 * warnings.length);
  return { errors, warnings, confidenceScore };
}

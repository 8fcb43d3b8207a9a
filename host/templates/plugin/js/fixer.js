// {{name}}: a Blink fixer in JavaScript. For each file a validator rejected, it shows the model the
// problems and the file and takes back the corrected file; files it did not change are left out.
// Records are objects with camelCase fields, enums are strings.

import { complete } from 'blink:agents/llm@0.1.0';
import { get } from 'blink:agents/config@0.1.0';

const SYSTEM = 'You are an expert React engineer repairing files that a validator rejected. Fix every listed ' +
  'problem with the smallest change and return the complete file.';

export function fix(request) {
  const system = SYSTEM + '\n\n' + targetRules(request.target);
  const fixed = [];
  for (const file of request.files) {
    const problems = request.diagnostics
      .filter((d) => d.file === file.path)
      .map((d) => `- ${file.path}${d.line === undefined ? '' : ` line ${d.line}`}: ${d.message}`);
    if (problems.length === 0) continue;
    const task = `The user asked: ${lastRequest(request.messages)}\n\nProblems to fix:\n${problems.join('\n')}\n\n` +
      `Files to correct:\n--- ${file.path}\n${file.content.trimEnd()}\n\n` +
      `Answer with the complete content of ${file.path} in a single fenced code block and nothing else.`;
    const content = codeBlock(ask([message('system', system), message('user', task)], false));
    if (content.trim() && content !== file.content) fixed.push({ path: file.path, content });
  }
  return fixed;
}
{{common}}

// {{name}}: a Blink generator in JavaScript. It asks the model for each file of its steps, one at
// a time, as a fenced code block; change the prompt, the order or the checks to make it yours.
// Records are objects with camelCase fields, enums are strings; an error is thrown as a variant,
// `{ tag: 'bad-model-output', val: '…' }`.

import { complete } from 'blink:agents/llm@0.1.0';
import { get } from 'blink:agents/config@0.1.0';

const SYSTEM = 'You are an expert React engineer writing production-quality files for a web app. ' +
  'Write complete files, never fragments. Style with Tailwind CSS classes.';

export function generate(request) {
  const system = SYSTEM + '\n\n' + targetRules(request.target);
  const plan = request.plan.steps.map((s) => `- ${s.path} (${s.target}): ${s.description}\n`).join('');
  const files = [];
  for (const step of request.steps) {
    if (step.action === 'delete') continue;
    const task = `The user asked: ${lastRequest(request.messages)}\n\n` +
      `Plan (${request.plan.intent}): every file being written in this change:\n${plan}\n` +
      `Your part:\n- ${step.action} ${step.path}: ${step.description}\n\n` +
      `Answer with the complete content of ${step.path} in a single fenced code block and nothing else.`;
    const content = codeBlock(ask([message('system', system), message('user', task)], false));
    if (!content.trim()) throw { tag: 'bad-model-output', val: `the model wrote nothing for ${step.path}` };
    files.push({ path: step.path, content });
  }
  return files;
}
{{common}}

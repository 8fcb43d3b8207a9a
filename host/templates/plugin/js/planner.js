// {{name}}: a Blink planner in JavaScript. It asks the model for a plan as JSON and reads it back
// leniently, and answers questions by streaming the model's reply to the user.
// Records are objects with camelCase fields, enums are strings.

import { complete } from 'blink:agents/llm@0.1.0';
import { get } from 'blink:agents/config@0.1.0';

const SYSTEM = `You plan changes to a React web app. Answer with ONE JSON object and nothing else:
{"intent": "…", "conversational": false, "reply": null, "reasoning": "…",
 "steps": [{"action": "create | modify | delete", "target": "ComponentName", "path": "ComponentName.tsx", "description": "…"}]}
A greeting or a question is conversational: no steps. Plan one step per file, App.tsx last.`;

export function plan(request) {
  let task = 'Conversation (oldest first):\n';
  for (const m of request.messages) task += `[${m.role}]: ${m.content}\n`;
  task += '\nFile tree:\n' + (request.fileTree.join('\n') || '(empty project)') + '\n';
  const answer = ask([message('system', SYSTEM + '\n\n' + targetRules(request.target)), message('user', task)], true);
  let plan;
  try {
    plan = JSON.parse(answer.slice(answer.indexOf('{'), answer.lastIndexOf('}') + 1));
  } catch (e) {
    throw { tag: 'bad-model-output', val: `the plan is not a JSON object: ${e}` };
  }
  const steps = (plan.steps ?? []).filter((s) => s.path).map((s, i) => ({
    id: i + 1,
    action: ['modify', 'delete'].includes(s.action) ? s.action : 'create',
    target: String(s.target ?? ''),
    path: String(s.path),
    description: String(s.description ?? ''),
    priority: 'normal',
  }));
  return {
    intent: String(plan.intent ?? ''),
    riskLevel: steps.length <= 2 ? 'low' : steps.length <= 5 ? 'medium' : 'high',
    conversational: typeof plan.conversational === 'boolean' ? plan.conversational : steps.length === 0,
    clarificationNeeded: false,
    clarificationQuestion: undefined,
    reply: typeof plan.reply === 'string' ? plan.reply : undefined,
    dependenciesNeeded: [],
    reasoning: String(plan.reasoning ?? ''),
    steps,
  };
}

export function answer(request) {
  const system = 'You are the assistant of an AI app builder. Answer the user\'s last message briefly.\n\n' +
    'Project files:\n' + request.fileTree.join('\n');
  try {
    return complete({
      messages: [message('system', system), ...request.messages],
      temperature: 0.7, maxTokens: 1024, jsonMode: false, model: get('model'), streamTo: 'conversation',
    }).content;
  } catch (e) {
    throw { tag: 'llm', val: e.payload ?? { tag: 'unavailable', val: String(e) } };
  }
}
{{common}}

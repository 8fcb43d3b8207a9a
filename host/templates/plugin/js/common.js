
const message = (role, content) => ({ role, content });

/** One completion, with the host's model unless the operator set `model` for this role. */
function ask(messages, jsonMode) {
  let completion;
  try {
    completion = complete({ messages, temperature: 0.2, maxTokens: 8000, jsonMode, model: get('model'), streamTo: undefined });
  } catch (e) {
    // A failed import call throws its error variant as `payload`.
    throw { tag: 'llm', val: e.payload ?? { tag: 'unavailable', val: String(e) } };
  }
  if (completion.truncated) throw { tag: 'bad-model-output', val: 'the model stopped at its token limit' };
  return completion.content;
}

/** The code inside the first fenced block of `answer`, or all of it without one. */
function codeBlock(answer) {
  const start = answer.indexOf('```');
  if (start < 0) return answer.trim() + '\n';
  const newline = answer.indexOf('\n', start);
  const body = newline < 0 ? '' : answer.slice(newline + 1);
  const end = body.indexOf('```');
  return (end < 0 ? body : body.slice(0, end)).trimEnd() + '\n';
}

/** How files must be written for the target the run is for. */
function targetRules(target) {
  if (target === 'browser') {
    return 'Runtime: the browser preview. There is no bundler: never write `import` or `export`; share a component ' +
      'by ending its file with `window.Name = Name;`, use React as the global `React`, write plain JavaScript with ' +
      "JSX, and end App.tsx with `ReactDOM.createRoot(document.getElementById('root')).render(<App />);`.";
  }
  return 'Runtime: a Vite + React + TypeScript project. Import what you use, default-export each component, and ' +
    'import project files by relative path without extension.';
}

/** The user's last message. */
function lastRequest(messages) {
  for (let i = messages.length - 1; i >= 0; i--) if (messages[i].role === 'user') return messages[i].content;
  return '';
}

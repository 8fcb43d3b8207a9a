// The parent page of the conformance test: it builds today's frontend's preview document for the
// project in `<script id="project">` and loads it as the frontend does, in a sandboxed iframe's
// `srcdoc`, collecting the `runtime_error` messages the document posts to its parent.
//
// The document has the structure of the frontend's `buildIframeHtml` / `buildMultiScriptTags`
// (CodePreview.tsx, bleue740/huggy-code-haven), described in /tmp/m13/FACTS.md and rebuilt here:
// the same scripts in the same order, but the CDN URLs are `/libs/…` URLs of the same npm
// packages at the same versions, and the Tailwind play CDN (not on npm) is a stub defining
// `window.tailwind = {}`, which only changes styling. Left out as the frontend leaves them out
// for these projects: the Supabase and Firecrawl scripts (off without their settings) and the
// esm.sh loader (only for imports of packages other than the preloaded ones; none here).
(function () {
  'use strict';

  var state = { errors: [], console: [], loaded: false };
  // Read by the test through the DevTools protocol.
  window.__preview = state;

  // The frontend's parent feeds `runtime_error` to its auto-correction; console output and the
  // console script's own `error` messages only go to its console panel, so they are kept apart.
  window.addEventListener('message', function (event) {
    var data = event.data;
    if (!data || typeof data !== 'object') return;
    if (data.type === 'runtime_error') {
      state.errors.push(String(data.error));
    } else if (data.type === 'error') {
      state.console.push('error: ' + String(data.message));
    } else if (data.type === 'console' && data.level === 'error') {
      state.console.push('console.error: ' + (data.args || []).map(String).join(' ').slice(0, 300));
    }
  });

  var LIBRARIES = {
    tailwind: '/stubs/tailwind.js',
    react: '/libs/react/umd/react.production.min.js',
    reactDom: '/libs/react-dom/umd/react-dom.production.min.js',
    recharts: '/libs/recharts/umd/Recharts.js',
    lucide: '/libs/lucide-react/dist/umd/lucide-react.js',
    motion: '/libs/framer-motion/dist/framer-motion.js',
    dateFns: '/libs/date-fns/cdn.min.js',
    router: '/libs/react-router-dom/dist/umd/react-router-dom.production.min.js',
    babel: '/libs/@babel/standalone/babel.min.js'
  };

  function external(src) {
    return '<script src="' + src + '"></script>';
  }

  function inline(code) {
    return '<script>\n' + code + '\n</script>';
  }

  // What the frontend's console capture does: every console call and every error is also posted
  // to the parent, as `console` and `error` messages.
  var CONSOLE_CAPTURE = [
    '(function () {',
    '  function post(message) { try { window.parent.postMessage(message, "*"); } catch (e) {} }',
    '  function plain(value) {',
    '    if (value instanceof Error) return { message: value.message, stack: value.stack };',
    '    if (value && typeof value === "object") { try { return JSON.parse(JSON.stringify(value)); } catch (e) { return String(value); } }',
    '    return value;',
    '  }',
    '  ["log", "warn", "error", "info"].forEach(function (level) {',
    '    var original = console[level];',
    '    console[level] = function () {',
    '      var args = Array.prototype.slice.call(arguments);',
    '      post({ type: "console", level: level, args: args.map(plain), stack: level === "error" ? new Error().stack : undefined });',
    '      return original.apply(console, args);',
    '    };',
    '  });',
    '  window.addEventListener("error", function (event) {',
    '    post({ type: "error", message: event.message || "Unknown error", stack: event.error && event.error.stack });',
    '  });',
    '  window.addEventListener("unhandledrejection", function (event) {',
    '    var reason = event.reason;',
    '    post({ type: "error", message: "Unhandled Promise Rejection: " + ((reason && reason.message) || String(reason)) });',
    '  });',
    '})();'
  ].join('\n');

  // The frontend's last script: an error replaces the page with its message and is posted to the
  // parent as `runtime_error`; an unhandled rejection is only posted.
  var ERROR_REPORTER = [
    'window.addEventListener("error", function (event) {',
    '  var message = (event.message || "Unknown error") + (event.filename ? "\\nFichier: " + event.filename + ":" + event.lineno : "");',
    '  var root = document.getElementById("root");',
    '  if (root) root.innerHTML = "<div class=\\"error-container\\"><strong>Erreur de rendu:</strong>\\n\\n" + message + "</div>";',
    '  try { window.parent.postMessage({ type: "runtime_error", error: message }, "*"); } catch (e) {}',
    '});',
    'window.addEventListener("unhandledrejection", function (event) {',
    '  var reason = event.reason;',
    '  var message = reason && reason.message ? reason.message : String(reason || "Unhandled promise rejection");',
    '  try { window.parent.postMessage({ type: "runtime_error", error: message }, "*"); } catch (e) {}',
    '});'
  ].join('\n');

  // One Babel script per file: App.tsx alone when there is at most one file; otherwise every other
  // file in the order of the browser's own `localeCompare` (not byte order: `alpha` < `Beta`),
  // then App.tsx. Every file is a script, whatever its extension. The code goes in raw, as the
  // frontend puts it.
  function projectScripts(files) {
    var names = Object.keys(files);
    var tag = function (code) {
      return '<script type="text/babel" data-type="module">\n    ' + code + '\n  </script>';
    };
    if (names.length <= 1) return tag(files['App.tsx'] || '');
    var ordered = names
      .filter(function (name) { return name !== 'App.tsx'; })
      .sort(function (a, b) { return a.localeCompare(b); });
    if (Object.prototype.hasOwnProperty.call(files, 'App.tsx')) ordered.push('App.tsx');
    return ordered
      .map(function (name) { return '<!-- ' + name + ' -->\n  ' + tag(files[name]); })
      .join('\n  ');
  }

  function previewDocument(files) {
    return [
      '<!DOCTYPE html>',
      '<html lang="en" class="dark">',
      '<head>',
      '<meta charset="UTF-8" />',
      '<meta name="viewport" content="width=device-width, initial-scale=1.0" />',
      external(LIBRARIES.tailwind),
      inline('tailwind.config = { darkMode: "class", theme: { extend: { colors: { background: "#050505", foreground: "#f5f5f5" } } } };'),
      external(LIBRARIES.react),
      external(LIBRARIES.reactDom),
      external(LIBRARIES.recharts),
      external(LIBRARIES.lucide),
      inline('if (window.LucideReact) window.lucide = window.LucideReact;'),
      external(LIBRARIES.motion),
      external(LIBRARIES.dateFns),
      external(LIBRARIES.router),
      inline('if (window.Motion) window.motion = window.Motion;\nif (window.ReactRouterDOM) window.ReactRouter = window.ReactRouterDOM;'),
      external(LIBRARIES.babel),
      inline(CONSOLE_CAPTURE),
      '<style>',
      '  body { margin: 0; background: #050505; color: #f5f5f5; font-family: system-ui, sans-serif; }',
      '  .error-container { padding: 2rem; color: #ef4444; font-family: monospace; white-space: pre-wrap; }',
      '</style>',
      '</head>',
      '<body>',
      '  <div id="root"><div class="loading-container">Chargement…</div></div>',
      '  ' + projectScripts(files),
      inline(ERROR_REPORTER),
      '</body>',
      '</html>'
    ].join('\n');
  }

  var files = JSON.parse(document.getElementById('project').textContent);
  var frame = document.createElement('iframe');
  frame.id = 'preview';
  frame.setAttribute('sandbox', 'allow-scripts allow-same-origin');
  frame.setAttribute('title', 'Code Preview');
  frame.style.width = '1024px';
  frame.style.height = '768px';
  frame.addEventListener('load', function () { state.loaded = true; });
  frame.srcdoc = previewDocument(files);
  document.body.appendChild(frame);

  // What the test reads each time it polls: the preview's #root text and what arrived so far.
  window.__previewState = function () {
    var root = frame.contentDocument && frame.contentDocument.getElementById('root');
    return {
      // Which case this is, so that a poll that still reaches the page before is told apart.
      page: location.pathname,
      loaded: state.loaded,
      text: root ? root.innerText : '',
      errors: state.errors.slice(),
      console: state.console.slice()
    };
  };
})();

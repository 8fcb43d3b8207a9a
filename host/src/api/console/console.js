// Blink console: every screen is built from the admin API, with the operator's token sent in a
// header (never a URL or a cookie). No framework: the page is a handful of tables and forms.
"use strict";

const TOKEN_KEY = "blink-console-token";
const ROLES = ["planner", "generator", "validator", "fixer"];
let token = sessionStorage.getItem(TOKEN_KEY) || "";

// ---- small helpers -------------------------------------------------------------------------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "text") el.textContent = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

const $ = (id) => document.getElementById(id);

function say(message, bad) {
  const status = $("status");
  status.textContent = message;
  status.className = "status " + (bad ? "error" : "ok");
}

class ApiFailure extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function api(method, path, body, contentType) {
  const headers = { Authorization: "Bearer " + token };
  let payload;
  if (body instanceof ArrayBuffer) {
    headers["Content-Type"] = contentType || "application/wasm";
    payload = body;
  } else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const response = await fetch(path, { method, headers, body: payload, credentials: "omit", cache: "no-store" });
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = null; }
  if (!response.ok) {
    const code = (data && data.error) || String(response.status);
    const message = (data && data.message) || text || response.statusText;
    if (response.status === 401) signOut("Your token was refused: " + message);
    throw new ApiFailure(response.status, code, message);
  }
  return data;
}

// Numbers as people read them.
function size(bytes) {
  if (bytes < 1024) return bytes + " B";
  const units = ["KB", "MB", "GB"];
  let n = bytes / 1024, i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return n.toFixed(n < 10 ? 1 : 0) + " " + units[i];
}
function duration(ms) {
  if (ms < 10) return ms.toFixed(1) + " ms";
  if (ms < 1000) return Math.round(ms) + " ms";
  const s = ms / 1000;
  if (s < 60) return s.toFixed(s < 10 ? 1 : 0) + " s";
  const m = Math.floor(s / 60);
  if (m < 60) return m + " min " + Math.round(s % 60) + " s";
  return Math.floor(m / 60) + " h " + (m % 60) + " min";
}
function credits(micro) {
  if (micro === null || micro === undefined) return "—";
  const c = micro / 1e6;
  return c.toLocaleString("en-US", { maximumFractionDigits: Math.abs(c) < 1 ? 4 : 2 }) + " credits";
}
function count(n) { return Number(n || 0).toLocaleString("en-US"); }
function when(ms) {
  if (!ms) return "—";
  const d = new Date(ms);
  const pad = (x) => String(x).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}
const short = (version) => (version || "").slice(0, 10);

function table(id, headers, rows, caption) {
  return h("div", { class: "scroll" }, h("table", { id },
    caption ? h("caption", { class: "muted", text: caption }) : null,
    h("thead", {}, h("tr", {}, headers.map((head) =>
      h("th", { scope: "col", class: head.endsWith("#") ? "num" : null, text: head.replace(/#$/, "") })))),
    h("tbody", {}, rows)));
}

function field(id, label, input) {
  return h("div", { class: "field" }, h("label", { for: id, text: label }), input);
}

async function guarded(work) {
  try { await work(); } catch (e) {
    if (e instanceof ApiFailure) say(`${e.message} (${e.code})`, true);
    else say(String(e), true);
  }
}

// ---- sign in -------------------------------------------------------------------------------

function signOut(message) {
  token = "";
  sessionStorage.removeItem(TOKEN_KEY);
  $("app").hidden = true;
  // Nothing an operator saw stays in the page for the next person at this screen.
  for (const panel of document.querySelectorAll("[role=tabpanel]")) panel.replaceChildren();
  $("status").textContent = "";
  $("sign-out").hidden = true;
  $("who").hidden = true;
  $("sign-in").hidden = false;
  $("sign-in-error").textContent = message || "";
}

async function signIn(candidate) {
  token = candidate;
  try {
    await api("GET", "/api/admin/plugins");
  } catch (e) {
    token = "";
    $("sign-in-error").textContent =
      e.status === 403 ? "This token is valid but not an administrator's." : "Sign-in failed: " + e.message;
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  $("sign-in").hidden = true;
  $("app").hidden = false;
  $("sign-out").hidden = false;
  $("who").hidden = false;
  $("who").textContent = "Signed in as an operator";
  show("agents");
  $("tab-agents").focus();
}

// ---- tabs ----------------------------------------------------------------------------------

const SCREENS = {};

function show(name) {
  for (const tab of document.querySelectorAll("[role=tab]")) {
    const selected = tab.getAttribute("aria-controls") === name;
    tab.setAttribute("aria-selected", String(selected));
    tab.tabIndex = selected ? 0 : -1;
    $(tab.getAttribute("aria-controls")).hidden = !selected;
  }
  say("");
  guarded(() => SCREENS[name]($(name)));
}

// Draws a section again after a change, keeping the message that says what changed and the
// keyboard focus on the same control (by id or accessible name), else on the section's heading.
function refresh(name) {
  const active = document.activeElement;
  const key = !active || active === document.body ? null
    : active.id ? "#" + CSS.escape(active.id)
    : active.getAttribute("aria-label") ? `[aria-label="${CSS.escape(active.getAttribute("aria-label"))}"]`
    : null;
  guarded(async () => {
    await SCREENS[name]($(name));
    const again = key && $(name).querySelector(key);
    if (again) again.focus();
    else if (key) focusHeading($(name));
  });
}

// Moves the keyboard to a section's (or a result's) heading, where reading it starts.
function focusHeading(within) {
  const heading = within.querySelector("h2");
  if (!heading) return;
  heading.tabIndex = -1;
  heading.focus();
}

function tabKeys(event) {
  const tabs = [...document.querySelectorAll("[role=tab]")];
  const at = tabs.indexOf(document.activeElement);
  if (at < 0) return;
  let next = null;
  if (event.key === "ArrowRight") next = tabs[(at + 1) % tabs.length];
  if (event.key === "ArrowLeft") next = tabs[(at - 1 + tabs.length) % tabs.length];
  if (event.key === "Home") next = tabs[0];
  if (event.key === "End") next = tabs[tabs.length - 1];
  if (next) {
    event.preventDefault();
    next.focus();
    show(next.getAttribute("aria-controls"));
  }
}

// ---- agents --------------------------------------------------------------------------------

function versionLabel(version, stored) {
  const meta = stored.find((v) => v.version === version);
  return meta ? `${short(version)} · ${meta.author}${meta.notes ? " · " + meta.notes : ""}` : `${short(version)} · built-in`;
}

SCREENS.agents = async (panel) => {
  const all = await api("GET", "/api/admin/plugins");
  const cards = [];
  for (const role of ROLES) cards.push(await roleCard(role, all[role]));
  panel.replaceChildren(uploadCard(), ...cards);
};

async function roleCard(role, info) {
  const stored = info.versions;
  const listed = [info.builtin, ...stored.map((v) => v.version).filter((v) => v !== info.builtin)];
  const stats = {};
  await Promise.all(listed.map(async (version) => {
    stats[version] = (await api("GET", `/api/admin/plugins/${role}/${version}/stats`)).stats;
  }));
  const canary = info.canary;
  const rows = listed.map((version) => {
    const meta = stored.find((v) => v.version === version);
    const s = stats[version];
    const badges = [
      version === info.active ? h("span", { class: "badge active", text: "active" }) : null,
      canary && canary.version === version ? h("span", { class: "badge canary", text: `canary ${Math.round(canary.share * 100)} %` }) : null,
    ];
    const actions = h("div", { class: "row" },
      version !== info.active ? h("button", { type: "button", class: "quiet", "data-action": "activate",
        "aria-label": `Activate ${role} ${short(version)}`,
        onclick: () => guarded(async () => {
          await api("POST", `/api/admin/plugins/${role}/${version === info.builtin ? "builtin" : version}/activate`);
          say(`${role}: ${short(version)} now serves new runs`);
          refresh("agents");
        }) }, "Activate") : null,
      meta && version !== info.active ? h("button", { type: "button", class: "danger", "data-action": "delete",
        "aria-label": `Delete ${role} ${short(version)}`,
        onclick: () => guarded(async () => {
          if (!confirm(`Delete ${role} version ${short(version)}?`)) return;
          await api("DELETE", `/api/admin/plugins/${role}/${version}`);
          say(`${role}: ${short(version)} deleted`);
          refresh("agents");
        }) }, "Delete") : null);
    return h("tr", { "data-version": version },
      h("td", {}, h("code", { title: version, text: short(version) }), " ", badges),
      h("td", { text: meta ? meta.author : "built-in" }),
      h("td", { text: meta ? meta.notes : "" }),
      h("td", { class: "num", text: meta ? size(meta.size) : "—" }),
      h("td", { text: meta ? when(meta.createdAt) : "—" }),
      h("td", { text: meta ? meta.contract : "" }),
      h("td", { class: "num", "data-stat": "runs", text: count(s.runs) }),
      h("td", { class: "num", "data-stat": "failed", text: count(s.failed) }),
      h("td", { class: "num", text: count(s.fixRounds) }),
      h("td", { class: "num", text: count(s.errorsLeft) }),
      h("td", { class: "num", text: s.meanConfidence === null ? "—" : s.meanConfidence.toFixed(0) }),
      h("td", { class: "num", text: count(s.promptTokens + s.completionTokens) }),
      h("td", {}, actions));
  });
  const share = h("input", { id: `canary-share-${role}`, type: "range", min: "0", max: "100", step: "5",
    value: String(canary ? Math.round(canary.share * 100) : 10) });
  const shareText = h("output", { for: `canary-share-${role}`, text: share.value + " %" });
  share.addEventListener("input", () => { shareText.textContent = share.value + " %"; });
  const candidates = stored.filter((v) => v.version !== info.active);
  const pick = h("select", { id: `canary-version-${role}` },
    candidates.map((v) => h("option", { value: v.version, selected: canary && canary.version === v.version },
      versionLabel(v.version, stored))));
  const canaryRow = candidates.length === 0
    ? h("p", { class: "muted", text: "Upload another version to run a canary." })
    : h("div", { class: "row" },
      field(`canary-version-${role}`, "Canary version", pick),
      field(`canary-share-${role}`, "Share of new runs", h("div", { class: "row" }, share, shareText)),
      h("button", { type: "button", id: `canary-apply-${role}`, "aria-label": `Set the ${role} canary`, onclick: () => guarded(async () => {
        const body = { version: pick.value, share: Number(share.value) / 100 };
        await api("PUT", `/api/admin/plugins/${role}/canary`, body);
        say(`${role}: ${short(pick.value)} serves ${share.value} % of new runs`);
        refresh("agents");
      }) }, "Set canary"),
      canary ? h("button", { type: "button", class: "quiet", id: `canary-end-${role}`, "aria-label": `End the ${role} canary`, onclick: () => guarded(async () => {
        await api("PUT", `/api/admin/plugins/${role}/canary`, { version: canary.version, share: 0 });
        say(`${role}: canary ended`);
        refresh("agents");
      }) }, "End canary") : null);
  return h("section", { class: "card", id: `role-${role}`, "aria-labelledby": `role-${role}-title` },
    h("div", { class: "row" },
      h("h2", { id: `role-${role}-title`, text: role[0].toUpperCase() + role.slice(1) }),
      h("span", { class: "muted" }, "serving: ", h("code", { title: info.active, text: versionLabel(info.active, stored) })),
      h("button", { type: "button", class: "quiet", id: `rollback-${role}`, "aria-label": `Roll back the ${role}`, onclick: () => guarded(async () => {
        const back = await api("POST", `/api/admin/plugins/${role}/rollback`);
        say(`${role}: rolled back; ${short(back.active)} serves new runs`);
        refresh("agents");
      }) }, "Roll back")),
    table(`versions-${role}`, ["Version", "Author", "Notes", "Size#", "Uploaded", "Contract", "Runs#", "Failed#",
      "Fix rounds#", "Errors left#", "Confidence#", "Tokens#", "Actions"], rows, `${role} versions and how their runs went`),
    h("h3", { text: "Canary" }), canaryRow);
}

function uploadCard() {
  const file = h("input", { id: "upload-file", type: "file", accept: ".wasm,application/wasm" });
  const role = h("select", { id: "upload-role" }, ROLES.map((r) => h("option", { value: r, selected: r === "validator" }, r)));
  const author = h("input", { id: "upload-author", type: "text", value: "operator", maxlength: "200" });
  const notes = h("input", { id: "upload-notes", type: "text", maxlength: "500" });
  const verdict = h("div", { id: "upload-verdict", role: "status" });
  let dropped = null;
  const drop = h("div", { class: "drop", id: "upload-drop" },
    "Drop a .wasm component here, or choose one: ", h("label", { for: "upload-file", class: "muted", text: "Component file" }), file);
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    dropped = e.dataTransfer.files[0] || null;
    if (dropped) say(`${dropped.name} (${size(dropped.size)}) ready to check`);
  });
  file.addEventListener("change", () => { dropped = file.files[0] || null; });
  const check = h("button", { type: "button", id: "upload-check", onclick: () => guarded(async () => {
    if (!dropped) { say("Choose or drop a .wasm file first", true); return; }
    const bytes = await dropped.arrayBuffer();
    const query = new URLSearchParams({ author: author.value, notes: notes.value, activate: "false" });
    verdict.replaceChildren(h("p", { text: "Checking…" }));
    try {
      const result = await api("POST", `/api/admin/plugins/${role.value}?${query}`, bytes);
      const v = result.version;
      verdict.replaceChildren(
        h("p", { class: "ok", text: `Passed: ${short(v.version)} serves the ${v.role} role (${v.contract}), ${size(v.size)}, compiled in ${duration(result.compileMs)}. Nothing serves it yet.` }),
        h("button", { type: "button", id: "upload-activate", onclick: () => guarded(async () => {
          await api("POST", `/api/admin/plugins/${v.role}/${v.version}/activate`);
          say(`${v.role}: ${short(v.version)} now serves new runs`);
          refresh("agents");
        }) }, `Activate ${short(v.version)} now`));
    } catch (e) {
      verdict.replaceChildren(h("p", { class: "error", text: `Refused (${e.code}): ${e.message}` }));
    }
  }) }, "Check");
  return h("section", { class: "card", "aria-labelledby": "upload-title" },
    h("h2", { id: "upload-title", text: "Upload a component" }),
    h("p", { class: "muted", text: "The host compiles and checks it against the role's contract first; it serves nothing until you activate it or set it as a canary." }),
    drop,
    h("div", { class: "row" }, field("upload-role", "Role", role), field("upload-author", "Author", author),
      field("upload-notes", "Notes", notes), check),
    verdict);
}

// ---- prompts and settings ------------------------------------------------------------------

let settingsRole = "planner";

// A line diff (longest common subsequence) of two texts, for a review before saving.
function lineDiff(before, after) {
  const a = before.split("\n"), b = after.split("\n");
  const n = a.length, m = b.length;
  const lcs = Array.from({ length: n + 1 }, () => new Array(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--)
    lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
  const out = [];
  let i = 0, j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) { out.push([" ", a[i]]); i++; j++; }
    else if (j < m && (i === n || lcs[i][j + 1] >= lcs[i + 1][j])) { out.push(["+", b[j]]); j++; }
    else { out.push(["-", a[i]]); i++; }
  }
  return out;
}

SCREENS.settings = async (panel) => {
  const all = await api("GET", "/api/admin/agents/settings");
  const info = all[settingsRole];
  const pick = h("select", { id: "settings-role" },
    ROLES.map((r) => h("option", { value: r, selected: r === settingsRole }, r)));
  const showRole = h("button", { type: "button", id: "settings-show", class: "quiet",
    onclick: () => { settingsRole = pick.value; refresh("settings"); } }, "Show");
  const keys = [...new Set([...Object.keys(info.builtin), ...Object.keys(info.file), ...Object.keys(info.overrides)])];
  const editors = {};
  const rows = keys.map((key) => {
    const effective = key in info.settings ? info.settings[key] : info.builtin[key];
    const editor = h("textarea", { id: `setting-${key}`, rows: effective && effective.length > 80 ? "8" : "1" });
    editor.value = effective || "";
    editors[key] = { editor, before: effective || "" };
    const source = info.sources[key] || "builtin";
    return h("tr", {},
      h("th", { scope: "row" }, h("label", { for: `setting-${key}`, text: key })),
      h("td", {}, editor),
      h("td", {}, h("span", { class: "badge", "data-source": key, text: source === "api" ? "set over the API" : source === "file" ? "operator's file" : "built-in" })),
      h("td", {}, source === "api" ? h("button", { type: "button", class: "quiet", "data-revert": key,
        "aria-label": `Revert ${key} to the ${key in info.file ? "file's" : "built-in"} value`,
        onclick: () => guarded(async () => {
          const next = { ...info.overrides };
          delete next[key];
          await api("PUT", `/api/admin/agents/${settingsRole}/settings`, next);
          say(`${settingsRole}: ${key} reverted`);
          refresh("settings");
        }) }, "Revert") : null));
  });
  const diff = h("div", { id: "settings-diff" });
  const review = h("button", { type: "button", id: "settings-review", onclick: () => {
    const changed = keys.filter((k) => editors[k].editor.value !== editors[k].before);
    if (changed.length === 0) { diff.replaceChildren(h("p", { class: "muted", text: "Nothing changed." })); return; }
    const blocks = changed.map((key) => h("div", {},
      h("h3", { text: key }),
      h("div", { class: "diff", "aria-label": `Changes to ${key}` },
        lineDiff(editors[key].before, editors[key].editor.value).map(([mark, line]) =>
          h("span", { class: mark === "+" ? "add" : mark === "-" ? "del" : null }, `${mark} ${line}\n`)))));
    const save = h("button", { type: "button", id: "settings-save", onclick: () => guarded(async () => {
      const next = { ...info.overrides };
      for (const key of changed) next[key] = editors[key].editor.value;
      await api("PUT", `/api/admin/agents/${settingsRole}/settings`, next);
      say(`${settingsRole}: ${changed.join(", ")} saved; new runs read them now`);
      refresh("settings");
    }) }, `Save ${changed.length} change${changed.length > 1 ? "s" : ""}`);
    diff.replaceChildren(...blocks, h("div", { class: "row" }, save));
  } }, "Review changes");
  panel.replaceChildren(h("section", { class: "card", "aria-labelledby": "settings-title" },
    h("div", { class: "row" }, h("h2", { id: "settings-title", text: "Prompts and settings" }), field("settings-role", "Role", pick), showRole),
    h("p", { class: "muted", text: "Runs read these when they start; runs in flight keep theirs. A stored agent of its own reads what it was written to read." }),
    table("settings-table", ["Setting", "Value new runs see", "From", ""], rows),
    h("div", { class: "row" }, review), diff));
};

// ---- runs ----------------------------------------------------------------------------------

const runFilter = { user: "", project: "", outcome: "", version: "", since: "", until: "" };

function outcomeText(outcome) {
  if (!outcome) return "—";
  if (outcome.kind === "files") return `${outcome.files} file(s), ${outcome.errorsLeft} error(s) left, ${outcome.fixRounds} fix round(s)`;
  if (outcome.kind === "failed") return `failed: ${outcome.code}`;
  return outcome.kind;
}

SCREENS.runs = async (panel) => {
  const inputs = {
    user: h("input", { id: "runs-user", type: "text", value: runFilter.user }),
    project: h("input", { id: "runs-project", type: "text", value: runFilter.project }),
    outcome: h("select", { id: "runs-outcome" }, ["", "files", "conversational", "failed", "interrupted", "running"].map((o) =>
      h("option", { value: o, selected: o === runFilter.outcome }, o || "any"))),
    version: h("input", { id: "runs-version", type: "text", value: runFilter.version, placeholder: "64-hex version" }),
    since: h("input", { id: "runs-since", type: "date", value: runFilter.since }),
    until: h("input", { id: "runs-until", type: "date", value: runFilter.until }),
  };
  const query = new URLSearchParams({ limit: "100" });
  for (const key of ["user", "project", "outcome", "version"]) if (runFilter[key]) query.set(key, runFilter[key]);
  if (runFilter.since) query.set("since", String(new Date(runFilter.since + "T00:00").getTime()));
  if (runFilter.until) query.set("until", String(new Date(runFilter.until + "T00:00").getTime() + 86400000));
  const { runs } = await api("GET", "/api/admin/runs?" + query);
  const detail = h("div", { id: "run-detail" });
  const rows = runs.map((run) => h("tr", {},
    h("td", {}, h("button", { type: "button", class: "quiet", "data-run": run.id, onclick: () => guarded(() => openRun(run.id, detail)) },
      h("span", { class: "mono", text: run.id.slice(0, 8) }))),
    h("td", { text: when(run.createdAt) }),
    h("td", { text: run.userId }),
    h("td", { text: run.projectId || "—" }),
    h("td", { text: (run.request && run.request.lastMessage) || "" }),
    h("td", { text: outcomeText(run.outcome) }),
    h("td", { class: "num", text: count(run.modelCalls) }),
    h("td", { class: "num", text: count(run.promptTokens + run.completionTokens) }),
    h("td", { class: "num", text: run.finishedAt ? duration(run.finishedAt - run.createdAt) : "running" })));
  const apply = h("button", { type: "submit", id: "runs-apply" }, "Filter");
  const form = h("form", { class: "row", id: "runs-filter" },
    field("runs-user", "User", inputs.user), field("runs-project", "Project", inputs.project),
    field("runs-outcome", "Outcome", inputs.outcome), field("runs-version", "Agent version", inputs.version),
    field("runs-since", "From", inputs.since), field("runs-until", "To", inputs.until), apply);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    for (const key of Object.keys(runFilter)) runFilter[key] = inputs[key].value.trim();
    refresh("runs");
  });
  panel.replaceChildren(h("section", { class: "card", "aria-labelledby": "runs-title" },
    h("h2", { id: "runs-title", text: "Runs" }), form,
    table("runs-table", ["Run", "Started", "User", "Project", "Asked", "Outcome", "Model calls#", "Tokens#", "Took#"], rows,
      `${runs.length} run(s), newest first`)), detail);
};

// Consecutive deltas of one stream are one line of the timeline, as the user read them.
function timeline(events) {
  const items = [];
  for (const event of events) {
    const last = items[items.length - 1];
    if ((event.type === "thinking_delta" || event.type === "conv_delta") && last && last.type === event.type) {
      last.text += event.delta;
      last.count += 1;
      continue;
    }
    let text = "";
    switch (event.type) {
      case "phase": text = `${event.phase}: ${event.message}`; break;
      case "thinking_delta": case "conv_delta": text = event.delta; break;
      case "intent_classified": text = `${event.intent} (${event.risk_level} risk, ${event.steps_count} step(s))`; break;
      case "plan": text = (event.plan.steps || []).map((s) => `${s.action} ${s.path}`).join(", ") || "no steps"; break;
      case "file_read": text = event.path; break;
      case "file_generated": text = `${event.path} (${event.linesCount} lines)`; break;
      case "validation": text = `${event.errors.length} error(s), ${event.warnings.length} warning(s), confidence ${event.confidence_score}` +
        event.errors.map((d) => `\n  ✗ ${d.file}${d.line ? ":" + d.line : ""} ${d.message}`).join(""); break;
      case "error": text = `${event.code}: ${event.message}`; break;
      case "result": text = event.conversational ? (event.reply || "") : `${event.files.length} file(s): ${event.files.map((f) => f.path).join(", ")}`; break;
      default: text = JSON.stringify(event);
    }
    items.push({ type: event.type, text, count: 1 });
  }
  return items;
}

async function openRun(id, detail) {
  const { run, userId, creditsSpent } = await api("GET", `/api/admin/runs/${encodeURIComponent(id)}`);
  const agents = Object.entries(run.agents || {}).map(([role, version]) =>
    h("li", {}, `${role}: `, h("code", { title: version, text: short(version) })));
  const items = timeline(run.events).map((item) => h("li", {},
    h("strong", { text: item.type + (item.count > 1 ? ` ×${item.count}` : "") }), " ",
    h("span", { class: "value", text: item.text })));
  detail.replaceChildren(h("section", { class: "card", "aria-labelledby": "run-title" },
    h("h2", { id: "run-title" }, "Run ", h("code", { text: run.id })),
    h("div", { class: "row" },
      h("span", {}, "User: ", userId), h("span", {}, "Project: ", run.projectId || "—"),
      h("span", {}, "Outcome: ", outcomeText(run.outcome)),
      h("span", {}, "Model calls: ", count(run.usage.modelCalls)),
      h("span", {}, "Tokens: ", `${count(run.usage.promptTokens)} in, ${count(run.usage.completionTokens)} out`),
      h("span", {}, "Credits: ", credits(creditsSpent)),
      h("span", {}, "Took: ", run.finishedAt ? duration(run.finishedAt - run.createdAt) : "running")),
    h("h3", { text: "Served by" }), h("ul", {}, agents),
    h("h3", { text: `Timeline (${run.events.length} events as the client received them)` }),
    h("ol", { class: "timeline", id: "run-timeline" }, items)));
  focusHeading(detail);
  say(`Run ${run.id.slice(0, 8)} opened`);
}

// ---- evaluations ---------------------------------------------------------------------------

SCREENS.evaluate = async (panel) => {
  const all = await api("GET", "/api/admin/plugins");
  const info = all.validator;
  const version = h("select", { id: "eval-version" },
    info.versions.map((v) => h("option", { value: v.version }, versionLabel(v.version, info.versions))),
    h("option", { value: "builtin" }, `${short(info.builtin)} · built-in`));
  const replace = h("input", { type: "radio", name: "eval-mode", id: "eval-mode-replace", value: "replace", checked: true });
  const chain = h("input", { type: "radio", name: "eval-mode", id: "eval-mode-chain", value: "chain" });
  const last = h("input", { id: "eval-last", type: "number", min: "1", value: "20" });
  const user = h("input", { id: "eval-user", type: "text" });
  const project = h("input", { id: "eval-project", type: "text" });
  const results = h("div", { id: "eval-results" });
  const go = h("button", { type: "button", id: "eval-run", onclick: () => guarded(async () => {
    const body = { version: version.value, mode: chain.checked ? "chain" : "replace", last: Number(last.value) };
    if (user.value.trim()) body.user = user.value.trim();
    if (project.value.trim()) body.project = project.value.trim();
    results.replaceChildren(h("p", { text: "Validating recorded runs again…" }));
    const report = await api("POST", "/api/admin/evaluations", body);
    renderEvaluation(report, results);
    focusHeading(results);
    say(`Evaluated ${report.totals.runs} run(s)`);
  }) }, "Try it");
  panel.replaceChildren(h("section", { class: "card", "aria-labelledby": "eval-title" },
    h("h2", { id: "eval-title", text: "Try a validator on past runs" }),
    h("p", { class: "muted", text: "Each run's final files are validated again by the version that served it and by this one, in the host's runtime, with no model call." }),
    h("div", { class: "row" }, field("eval-version", "Candidate validator", version),
      h("fieldset", {}, h("legend", { text: "As" }),
        h("label", { for: "eval-mode-replace" }, replace, " a replacement"),
        h("label", { for: "eval-mode-chain" }, chain, " a chained validator")),
      field("eval-last", "Latest runs", last), field("eval-user", "User (optional)", user),
      field("eval-project", "Project (optional)", project), go)),
    results);
};

function findingText(f) {
  return `${f.level}: ${f.file}${f.line ? ":" + f.line : ""} ${f.message}`;
}

function renderEvaluation(report, into) {
  const t = report.totals;
  const totals = h("p", { id: "eval-totals" },
    `${t.runs} run(s) validated again${t.failed ? `, ${t.failed} could not be` : ""}. `,
    `The candidate finds more in ${t.runsWithAdded} run(s) (${t.addedErrors} error(s), ${t.addedWarnings} warning(s)) `,
    `and less in ${t.runsWithRemoved} (${t.removedErrors} error(s), ${t.removedWarnings} warning(s)); `,
    `it takes ${duration(t.candidateMs)} a run.`);
  const rows = report.runs.map((run) => h("tr", {},
    h("td", {}, h("code", { text: run.runId.slice(0, 8) })),
    h("td", { text: when(run.createdAt) }),
    h("td", {}, h("code", { text: short(run.servedBy) })),
    h("td", { class: "num", text: count(run.files) }),
    h("td", {}, run.error ? h("span", { class: "error", text: run.error }) :
      h("ul", {}, run.added.map((f) => h("li", { text: findingText(f) }))),
      (run.skipped || []).length ? h("p", { class: "muted", text: `Chained validators left out: ${run.skipped.join("; ")}` }) : null),
    h("td", {}, h("ul", {}, run.removed.map((f) => h("li", { text: findingText(f) })))),
    h("td", { class: "num", text: `${run.confidenceBefore} → ${run.confidenceAfter}` })));
  into.replaceChildren(h("section", { class: "card", "aria-labelledby": "eval-report-title" },
    h("h2", { id: "eval-report-title" }, `Candidate ${short(report.version)} (${report.mode})`), totals,
    table("eval-table", ["Run", "Started", "Served by", "Files#", "Only the candidate reports", "Only the serving version reports", "Confidence#"], rows)));
}

// ---- sandboxes -----------------------------------------------------------------------------

SCREENS.sandboxes = async (panel) => {
  let status;
  try {
    status = await api("GET", "/api/admin/sandboxes");
  } catch (e) {
    if (e.code !== "sandbox_unavailable") throw e;
    panel.replaceChildren(h("section", { class: "card" }, h("h2", { text: "Sandboxes" }), h("p", { text: e.message })));
    return;
  }
  const rows = status.sandboxes.map((s) => h("tr", {},
    h("td", { text: s.projectId }), h("td", { class: "mono", text: s.address }),
    h("td", { class: "num", text: duration(s.idleMs) }), h("td", { class: "num", text: size(status.memoryMib * 1048576) }),
    h("td", {}, h("button", { type: "button", class: "danger", "aria-label": `Stop the sandbox of ${s.projectId}`,
      onclick: () => guarded(async () => {
        await api("DELETE", `/api/admin/sandboxes/${encodeURIComponent(s.projectId)}`);
        say(`Sandbox of ${s.projectId} stopped`);
        refresh("sandboxes");
      }) }, "Stop"))));
  panel.replaceChildren(h("section", { class: "card", "aria-labelledby": "sandboxes-title" },
    h("h2", { id: "sandboxes-title", text: "Sandboxes on this host" }),
    h("p", {}, `${status.sandboxes.length} running of at most ${status.max}, ${status.warm} warm and waiting; each may use ${size(status.memoryMib * 1048576)}.`),
    table("sandboxes-table", ["Project", "Address", "Idle#", "Memory limit#", ""], rows)));
};

// ---- accounts and projects -----------------------------------------------------------------

SCREENS.accounts = async (panel) => {
  const { users } = await api("GET", "/api/admin/users");
  const rows = users.map((u) => h("tr", {},
    h("td", { class: "mono", text: u.id }), h("td", { text: u.email || "—" }),
    h("td", { class: "num", text: credits(u.balance) }), h("td", { text: when(u.createdAt) })));
  const grantUser = h("input", { id: "grant-user", type: "text", required: true });
  const grantAmount = h("input", { id: "grant-amount", type: "number", step: "any", required: true });
  const grantReason = h("input", { id: "grant-reason", type: "text", required: true, maxlength: "200" });
  const grant = h("form", { class: "row", id: "grant-form" },
    field("grant-user", "User id", grantUser), field("grant-amount", "Credits (negative takes)", grantAmount),
    field("grant-reason", "Reason", grantReason), h("button", { type: "submit", id: "grant-submit" }, "Grant"));
  grant.addEventListener("submit", (e) => {
    e.preventDefault();
    guarded(async () => {
      const amount = Math.round(Number(grantAmount.value) * 1e6);
      const done = await api("POST", "/api/admin/credits", { userId: grantUser.value.trim(), amount, reason: grantReason.value });
      say(`${done.userId} now has ${credits(done.balance)}`);
      refresh("accounts");
    });
  });
  const projectId = h("input", { id: "project-id", type: "text" });
  const projectDetail = h("div", { id: "project-detail" });
  const lookup = h("form", { class: "row", id: "project-form" }, field("project-id", "Project id", projectId),
    h("button", { type: "submit", id: "project-lookup" }, "Show deploys and domains"));
  lookup.addEventListener("submit", (e) => {
    e.preventDefault();
    guarded(async () => {
      const p = await api("GET", `/api/admin/projects/${encodeURIComponent(projectId.value.trim())}`);
      projectDetail.replaceChildren(
        h("p", {}, `${p.project.name} (${p.project.id}), owned by `, h("code", { text: p.ownerId }), `, created ${when(p.project.createdAt)}`),
        table("deploys-table", ["Deploy", "Live", "Files#", "Size#", "Created"], p.deploys.map((d) => h("tr", {},
          h("td", { class: "mono", text: d.id }), h("td", { text: d.live ? "live" : "" }),
          h("td", { class: "num", text: count(d.files) }), h("td", { class: "num", text: size(d.bytes || 0) }),
          h("td", { text: when(d.createdAt) })))),
        table("domains-table", ["Domain", "Status", "SSL"], p.domains.map((d) => h("tr", {},
          h("td", { text: d.hostname }), h("td", { text: d.status }), h("td", { text: d.sslStatus || "—" })))));
    });
  });
  panel.replaceChildren(
    h("section", { class: "card", "aria-labelledby": "users-title" }, h("h2", { id: "users-title", text: "Users" }),
      table("users-table", ["User", "E-mail", "Balance#", "First seen"], rows), h("h3", { text: "Grant or take credits" }), grant),
    h("section", { class: "card", "aria-labelledby": "project-title" }, h("h2", { id: "project-title", text: "A project's deploys and domains" }),
      lookup, projectDetail));
};

// ---- audit ---------------------------------------------------------------------------------

SCREENS.audit = async (panel) => {
  const { entries } = await api("GET", "/api/admin/audit?limit=200");
  const rows = entries.map((e) => h("tr", {},
    h("td", { text: when(e.at) }), h("td", { text: e.actor }), h("td", { class: "mono", text: `${e.method} ${e.path}` }),
    h("td", { class: "num", text: e.status }), h("td", { text: e.detail })));
  panel.replaceChildren(h("section", { class: "card", "aria-labelledby": "audit-title" },
    h("h2", { id: "audit-title", text: "Who changed what" }),
    table("audit-table", ["When", "Who", "Change", "Answer#", "Detail"], rows, `${entries.length} latest change(s)`)));
};

// ---- start ---------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  $("sign-in-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const value = $("token").value.trim();
    $("token").value = "";
    signIn(value);
  });
  $("sign-out").addEventListener("click", () => signOut("Signed out."));
  for (const tab of document.querySelectorAll("[role=tab]")) {
    tab.addEventListener("click", () => show(tab.getAttribute("aria-controls")));
  }
  $("tabs").addEventListener("keydown", tabKeys);
  if (token) signIn(token);
});

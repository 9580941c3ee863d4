// The mock server's dashboard: plain ES module, no framework, no build step, nothing fetched but
// this server's own admin API (Authorization: Bearer <admin token>; the token never goes in a URL).
const ADMIN = "/__admin";
const TOKEN_KEY = "mockserver.adminToken";
const POLL_MS = 1000;
const $ = (selector) => document.querySelector(selector);

let token = null;
let journal = [];
let users = [];
let timer = null;

// -- the token: from the URL fragment (then removed from the address bar) or typed once ----------

function takeTokenFromFragment() {
  const params = new URLSearchParams(location.hash.slice(1));
  const fromUrl = params.get("token");
  if (fromUrl) {
    sessionStorage.setItem(TOKEN_KEY, fromUrl);
    history.replaceState(null, "", location.pathname + location.search);
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

function showLogin(text = "") {
  token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  clearInterval(timer);
  $("#app").hidden = true;
  $("#login").hidden = false;
  $("#login-error").textContent = text;
  $("#server-status").textContent = "Not signed in.";
  $("#token").focus();
}

class Problem extends Error {
  constructor(status, detail) { super(detail); this.status = status; }
}

async function admin(method, path, { body, json, session = currentSession() } = {}) {
  const headers = { Authorization: `Bearer ${token}` };
  if (session) headers["X-Mock-Session"] = session;
  if (json !== undefined) { headers["Content-Type"] = "application/json"; body = JSON.stringify(json); }
  else if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(ADMIN + path, { method, headers, body, cache: "no-store" });
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (response.status === 401) { showLogin("That is not the admin token."); throw new Problem(401, "signed out"); }
  if (!response.ok) throw new Problem(response.status, (data && data.detail) || `HTTP ${response.status}`);
  return data;
}

function currentSession() { return $("#session").value.trim() || null; }

function say(text, isProblem = false) {
  const box = $("#message");
  box.textContent = text;
  box.className = isProblem ? "problem" : "";
}

async function act(what, action) {
  try {
    const result = await action();
    say(what);
    return result;
  } catch (error) {
    if (error.status !== 401) say(`Failed: ${error.message}`, true);
    return undefined;
  }
}

// -- small DOM helpers ---------------------------------------------------------------------------

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "—" : String(text);
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function button(label, onClick, accessibleName) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  if (accessibleName) b.setAttribute("aria-label", accessibleName);
  b.addEventListener("click", onClick);
  return b;
}

function fill(tbody, items, render, empty) {
  tbody.replaceChildren();
  if (!items.length) {
    const row = tbody.insertRow();
    const td = cell(row, empty);
    td.colSpan = tbody.parentElement.tHead.rows[0].cells.length;
    return;
  }
  for (const item of items) render(tbody.insertRow(), item);
}

// -- requests ------------------------------------------------------------------------------------

async function pollJournal() {
  try {
    const data = await admin("GET", "/journal?limit=500&bodies=false", { session: null });
    const seen = journal.length ? `${journal.length}:${journal[journal.length - 1].id}` : "";
    journal = data.entries;
    // Re-rendered only when something arrived, so an expanded request stays put (and its text selectable).
    if (`${journal.length}:${journal.length ? journal[journal.length - 1].id : ""}` !== seen || !journal.length) renderJournal();
    const status = await admin("GET", "/status", { session: null });
    $("#server-status").textContent =
      `Signed in. ${status.state.customers} customers, ${status.state.users} users; ` +
      `${status.sessions.count} sessions; journal ${status.journal.entries}/${status.journal.capacity}; ` +
      `chaos ${status.chaos.length ? "ON" : "off"}.`;
    renderChaos(status.chaos);
  } catch (error) {
    if (error.status !== 401) $("#server-status").textContent = `The server did not answer: ${error.message}`;
  }
}

function forcedNotes(entry) {
  return entry.notes.join("; ");
}

// -- one request's details: both bodies, the problem detail, a curl line (fetched when a row is expanded) --

const expanded = new Map();  // entry id -> the whole entry (null while it loads)

function bodyText(body) {
  if (!body || body.text === null) return "(no body)";
  let text = body.text;
  if (body.encoding === "base64") text = `(not UTF-8; base64) ${text}`;
  else if ((body.contentType || "").includes("json") && !body.truncated) {
    try { text = JSON.stringify(JSON.parse(text), null, 2); } catch (error) { /* shown as sent */ }
  }
  return body.truncated ? `${text}\n… truncated: ${body.size} bytes, the first 65536 kept` : text;
}

function detailsBlock(entry) {
  const box = document.createElement("div");
  box.className = "entry-details";
  const parts = [];
  if (entry.detail) parts.push(["Problem detail", entry.detail, "detail"]);
  if (entry.forcedBy) parts.push(["Forced by", entry.forcedBy, "forced"]);
  parts.push(["Request body", bodyText(entry.request.body), "request-body"]);
  parts.push([`Answer body (${entry.status})`, bodyText(entry.response.body), "response-body"]);
  parts.push(["Replay with curl (set TOKEN to the token first: the journal keeps only its first characters)",
              entry.curl, "curl"]);
  for (const [title, text, name] of parts) {
    const heading = document.createElement("h3");
    heading.textContent = title;
    const pre = document.createElement("pre");
    pre.tabIndex = 0;
    pre.dataset.part = name;
    pre.textContent = text;
    box.append(heading, pre);
  }
  return box;
}

async function toggleDetails(id) {
  if (expanded.has(id)) { expanded.delete(id); renderJournal(); return; }
  expanded.set(id, null);
  renderJournal();
  try {
    expanded.set(id, await admin("GET", `/journal/${id}`, { session: null }));
  } catch (error) {
    if (error.status !== 401) expanded.set(id, { failed: error.message });
  }
  renderJournal();
}

function renderJournal() {
  const words = $("#filter").value.trim().toLowerCase().split(/\s+/).filter(Boolean);
  const shown = journal.slice().reverse().filter((entry) => {
    const text = [entry.method, entry.path, entry.query, entry.status, entry.session || "", entry.detail || "",
                  entry.operationId || "", ...entry.notes]
      .join(" ").toLowerCase();
    return words.every((word) => text.includes(word));
  });
  $("#requests-count").textContent = `${shown.length} of ${journal.length} shown.`;
  fill($("#requests tbody"), shown.slice(0, 300), (row, entry) => {
    row.dataset.id = entry.id;
    if (entry.status >= 400) row.classList.add("error");
    if (entry.notes.length) row.classList.add("forced");
    cell(row, entry.timestamp.replace("T", " ").replace("Z", ""));
    cell(row, entry.method);
    cell(row, entry.path + (entry.query ? "?" + entry.query : ""), "path");
    cell(row, entry.status >= 400 ? `${entry.status} (error)` : entry.status, "status num");
    cell(row, `${entry.durationMs} ms`, "num");
    cell(row, entry.session);
    cell(row, forcedNotes(entry) || "—", "notes");
    cell(row, entry.detail, "detail");
    const open = expanded.has(entry.id);
    const toggle = button(open ? "Hide" : "Show", () => toggleDetails(entry.id),
                          `${open ? "Hide" : "Show"} the bodies of request ${entry.id}`);
    toggle.setAttribute("aria-expanded", String(open));
    row.insertCell().appendChild(toggle);
    if (open) {
      const details = row.parentElement.insertRow();
      details.className = "details";
      details.dataset.id = entry.id;
      const td = details.insertCell();
      td.colSpan = row.cells.length;
      const full = expanded.get(entry.id);
      if (full === null) td.textContent = "Loading…";
      else if (full.failed) td.textContent = `Not available: ${full.failed}`;
      else td.appendChild(detailsBlock(full));
    }
  }, "No requests yet (requests to the Users API appear here as they arrive).");
}

function startPolling() {
  clearInterval(timer);
  if ($("#live").checked) timer = setInterval(pollJournal, POLL_MS);
}

// -- customers and users -------------------------------------------------------------------------

async function loadData() {
  const state = await act("Loaded the customers and users.", () => admin("GET", "/fixtures"));
  if (!state) return;
  const customers = state.customers || [];
  users = customers.flatMap((c) => (c.users || []).map((u) => ({ user: u, customer: c._id || c.id })));
  fill($("#customers tbody"), customers, (row, c) => {
    cell(row, c._id || c.id);
    cell(row, c.fullName || c.name);
    cell(row, (c.users || []).length, "num");
  }, "No customers.");
  renderUsers();
}

function userName(u) {
  return [u.firstName, u.lastName].filter(Boolean).join(" ") || u.displayName || u.nickname || "";
}

function renderUsers() {
  const words = $("#user-search").value.trim().toLowerCase().split(/\s+/).filter(Boolean);
  const shown = users.filter(({ user, customer }) => {
    const text = [user._id, userName(user), user.email, customer].join(" ").toLowerCase();
    return words.every((w) => text.includes(w));
  });
  $("#users-count").textContent = `(${shown.length} of ${users.length}${shown.length > 200 ? ", first 200 shown" : ""})`;
  fill($("#users tbody"), shown.slice(0, 200), (row, { user, customer }) => {
    cell(row, user._id);
    cell(row, userName(user));
    cell(row, user.email);
    cell(row, customer);
    row.insertCell().appendChild(button("Show", () => {
      $("#user-json").textContent = JSON.stringify(user, null, 2);
      $("#user-json").focus();
    }, `Show the JSON of user ${user._id}`));
  }, "No users match.");
}

// -- coverage (an admin endpoint that may not exist on this server) -------------------------------

async function loadCoverage() {
  const box = $("#coverage");
  try {
    const data = await admin("GET", "/coverage", { session: null });
    box.replaceChildren(coverageTable(data));
  } catch (error) {
    if (error.status === 401) return;
    box.innerHTML = "<p><strong>Coverage is not available on this server</strong> " +
      "(GET /__admin/coverage did not answer 200).</p>";
  }
}

function coverageTable(data) {
  // One row per operation, one column per documented status: how many answers of it were seen.
  const statuses = [...new Set(data.operations.flatMap((op) => Object.keys(op.statuses)))].sort();
  const wrap = document.createElement("div");
  const summary = document.createElement("p");
  summary.textContent = `${data.covered} of ${data.total} documented answers seen (${data.percent}%). ` +
    "A dash is a status the operation does not document; a 0 can be forced with the Prefer header shown.";
  const table = document.createElement("table");
  table.id = "coverage-table";
  table.createCaption().textContent = "Answers seen, by operation and status";
  const head = table.createTHead().insertRow();
  for (const title of ["Operation", "Method", "Path", ...statuses]) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = title;
    head.appendChild(th);
  }
  const body = table.createTBody();
  for (const op of data.operations) {
    const row = body.insertRow();
    const name = document.createElement("th");
    name.scope = "row";
    name.textContent = op.operationId;
    row.appendChild(name);
    cell(row, op.method);
    cell(row, op.path, "path");
    for (const status of statuses) {
      const seen = op.statuses[status];
      const td = cell(row, seen === undefined ? "—" : seen, "num");
      if (seen === 0) { td.classList.add("unseen"); td.title = `Prefer: code=${status}`; }
    }
  }
  wrap.append(summary, table);
  if (data.undocumented && data.undocumented.length) {
    const extra = document.createElement("p");
    extra.textContent = "Undocumented answers: " +
      data.undocumented.map((u) => `${u.operationId || u.path || "?"} ${u.status} ×${u.count}`).join(", ");
    wrap.appendChild(extra);
  }
  return wrap;
}

// -- sessions ------------------------------------------------------------------------------------

async function loadSessions() {
  const data = await act("Loaded the sessions.", () => admin("GET", "/sessions", { session: null }));
  if (!data) return;
  $("#sessions-caption").textContent = `Live sessions (at most ${data.max}, idle expiry ${data.ttlSeconds} s)`;
  fill($("#sessions tbody"), data.sessions, (row, s) => {
    cell(row, s.name);
    cell(row, s.createdAt);
    cell(row, s.lastUsedAt);
    cell(row, `${s.expiresInSeconds} s`, "num");
    cell(row, s.changedRecords, "num");
    row.insertCell().appendChild(button("Forget", async () => {
      await act(`Forgot session ${s.name}.`, () => admin("DELETE", `/sessions/${encodeURIComponent(s.name)}`, { session: null }));
      loadSessions();
    }, `Forget session ${s.name}`));
  }, "No live sessions.");
}

// -- control: state, fixtures, rules, chaos ------------------------------------------------------

let operations = {};  // operationId -> documented statuses, from the Users API's own spec

async function loadOperations() {
  const response = await fetch("/openapi.json", { cache: "no-store" });
  if (!response.ok) return;
  const spec = await response.json();
  operations = {};
  for (const item of Object.values(spec.paths || {})) {
    for (const op of Object.values(item)) {
      if (op && op.operationId) {
        const codes = Object.keys(op.responses || {}).filter((c) => /^\d{3}$/.test(c)).map(Number);
        operations[op.operationId] = [...new Set([...(operations[op.operationId] || []), ...codes])].sort();
      }
    }
  }
  const select = $("#rule-operation");
  select.replaceChildren(...Object.keys(operations).sort().map((id) => new Option(id, id)));
  fillStatuses();
}

function fillStatuses() {
  const codes = operations[$("#rule-operation").value] || [];
  const select = $("#rule-status");
  const previous = select.value;
  select.replaceChildren(...codes.map((code) => new Option(String(code), String(code))));
  if (codes.map(String).includes(previous)) select.value = previous;
  else if (codes.includes(503)) select.value = "503";
}

async function loadRules() {
  const data = await act("Loaded the rules.", () => admin("GET", "/scenarios"));
  if (!data) return;
  fill($("#rules tbody"), data.rules, (row, r) => {
    cell(row, r.id, "num");
    cell(row, r.operationId);
    cell(row, r.status, "num");
    cell(row, r.remaining === null ? "until cleared" : r.remaining, "num");
    cell(row, r.used, "num");
    cell(row, r.userId || "any");
    cell(row, r.delayMs ? `${r.delayMs} ms` : "none");
    row.insertCell().appendChild(button("Clear", async () => {
      await act(`Cleared rule ${r.id}.`, () => admin("DELETE", `/scenarios/${r.id}`));
      loadRules();
    }, `Clear rule ${r.id}`));
  }, "No pending rules.");
}

function renderChaos(lines) {
  const list = $("#chaos");
  const items = lines.length ? lines : ["Chaos is off."];
  if (list.dataset.shown === JSON.stringify(items)) return;
  list.dataset.shown = JSON.stringify(items);
  list.replaceChildren(...items.map((line) => { const li = document.createElement("li"); li.textContent = line; return li; }));
}

function download(name, text, type) {
  const blob = new Blob([text], { type });
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = name;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
}

async function exportHar() {
  // The journal as HAR 1.2 (credentials masked): for a browser's Network panel or Playwright's routeFromHAR.
  const har = await act("", () => admin("GET", "/journal.har", { session: null }));
  if (!har) return;
  download("mockserver-journal.har", JSON.stringify(har, null, 2), "application/json");
  say(`Downloaded ${har.log.entries.length} request(s) as mockserver-journal.har.`);
}

async function exportState() {
  const data = await act("Exported the state.", () => admin("GET", "/fixtures"));
  if (!data) return;
  download(`mockserver-${currentSession() || "default"}-state.json`, JSON.stringify(data, null, 2), "application/json");
}

// -- tabs ----------------------------------------------------------------------------------------

const LOADERS = { "view-data": loadData, "view-coverage": loadCoverage, "view-sessions": loadSessions,
                  "view-control": loadRules };

function selectTab(tab) {
  for (const other of document.querySelectorAll("[role=tab]")) {
    const selected = other === tab;
    other.setAttribute("aria-selected", String(selected));
    other.tabIndex = selected ? 0 : -1;
    document.getElementById(other.getAttribute("aria-controls")).hidden = !selected;
  }
  const loader = LOADERS[tab.getAttribute("aria-controls")];
  if (loader) loader();
}

function wire() {
  const tabs = [...document.querySelectorAll("[role=tab]")];
  tabs.forEach((tab, index) => {
    tab.tabIndex = tab.getAttribute("aria-selected") === "true" ? 0 : -1;  // one tab stop; arrows move within
    tab.addEventListener("click", () => selectTab(tab));
    tab.addEventListener("keydown", (event) => {  // arrow keys move between tabs, as ARIA tabs do
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (!step) return;
      const next = tabs[(index + step + tabs.length) % tabs.length];
      next.focus();
      selectTab(next);
    });
  });
  $("#login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("#token").value.trim());
    $("#token").value = "";
    start();
  });
  $("#sign-out").addEventListener("click", () => showLogin());
  $("#filter").addEventListener("input", renderJournal);
  $("#live").addEventListener("change", startPolling);
  $("#export-har").addEventListener("click", exportHar);
  $("#clear-journal").addEventListener("click", async () => {
    await act("Cleared the journal.", () => admin("DELETE", "/journal", { session: null }));
    pollJournal();
  });
  $("#user-search").addEventListener("input", renderUsers);
  $("#load-data").addEventListener("click", loadData);
  $("#load-coverage").addEventListener("click", loadCoverage);
  $("#load-sessions").addEventListener("click", loadSessions);
  $("#clear-sessions").addEventListener("click", async () => {
    await act("Forgot every session.", () => admin("DELETE", "/sessions", { session: null }));
    loadSessions();
  });
  $("#session").addEventListener("change", () => { if (!$("#view-control").hidden) loadRules(); });
  $("#reset").addEventListener("click", () => {
    const which = currentSession() ? `session ${currentSession()}` : "the default state";
    act(`Reset ${which} to the seed.`, () => admin("POST", "/reset"));
  });
  $("#export").addEventListener("click", exportState);
  $("#fixture-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = $("#fixture-file").files[0];
    if (!file) return;
    const method = $("#fixture-mode").value;
    const summary = await act("Loaded the fixture file.", async () =>
      admin(method, "/fixtures", { body: await file.text(), session: null }));
    if (summary) say(`Loaded ${file.name}: ${summary.customers} customers, ${summary.users} users, ${summary.tokens} tokens.`);
  });
  $("#rule-operation").addEventListener("change", fillStatuses);
  $("#rule-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const rule = { operationId: $("#rule-operation").value, status: Number($("#rule-status").value) };
    if ($("#rule-times").value) rule.times = Number($("#rule-times").value);
    if ($("#rule-user").value.trim()) rule.userId = $("#rule-user").value.trim();
    if ($("#rule-delay").value) rule.delayMs = Number($("#rule-delay").value);
    const added = await act("", () => admin("POST", "/scenarios", { json: rule }));
    if (added) say(`Added rule ${added.id}: ${added.operationId} answers ${added.status}` +
                   (added.remaining === null ? " until cleared." : ` ${added.remaining} time(s).`));
    loadRules();
  });
  $("#chaos-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const settings = {};
    const latency = $("#chaos-latency").value.trim();
    if (latency) {
      const [low, high = low] = latency.split("-").map(Number);
      settings.latencyMs = [low, high];
    }
    const rate = Number($("#chaos-rate").value || 0);
    if (rate > 0) {
      settings.errorRate = rate;
      settings.errorCodes = $("#chaos-codes").value.split(",").map((c) => c.trim()).filter(Boolean).map(Number);
    }
    if ($("#chaos-seed").value) settings.seed = Number($("#chaos-seed").value);
    const applied = await act("", () => admin("PUT", "/chaos", { json: settings, session: null }));
    if (applied) {
      renderChaos(applied.lines);
      say(applied.lines.length ? `Chaos is on: ${applied.lines[0]}` : "Chaos is off.");
    }
  });
  $("#chaos-off").addEventListener("click", async () => {
    await act("Chaos is off.", () => admin("DELETE", "/chaos", { session: null }));
    renderChaos([]);
  });
  $("#clear-rules").addEventListener("click", async () => {
    await act("Cleared every rule of the selected state.", () => admin("DELETE", "/scenarios"));
    loadRules();
  });
}

async function start() {
  token = takeTokenFromFragment();
  if (!token) { showLogin(); return; }
  try {
    await admin("GET", "/status", { session: null });
  } catch (error) {
    if (error.status !== 401) showLogin(`The server did not answer: ${error.message}`);
    return;
  }
  $("#login").hidden = true;
  $("#app").hidden = false;
  document.body.dataset.ready = "true";
  loadOperations();
  await pollJournal();
  startPolling();
}

wire();
start();

// The live dashboard (mockapi.dashboard): renders the feed's snapshots and drives the
// /service/ routes. Values from the world only ever reach the page through textContent.
"use strict";

(() => {
  const config = JSON.parse(document.getElementById("dashboard-config").textContent);
  const $ = (id) => document.getElementById(id);
  const TOKEN_KEY = "mockapi.serviceToken";
  const TOKEN_REFUSED = 4403;

  const state = {
    view: { ...config.view },
    token: sessionStorage.getItem(TOKEN_KEY) || "",
    socket: null,
    retries: 0,
    retryTimer: null,
    clock: null,
    clockTimer: null,
    users: { total: 0, offset: 0, limit: config.view.limit },
    wanted: {},
    tasksShown: false,
  };
  state.needToken = config.token_required && !state.token;

  // -- small DOM helpers -------------------------------------------------------------------
  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (key === "dataset") Object.assign(node.dataset, value);
      else if (key === "className") node.className = value;
      else if (key === "text") node.textContent = value;
      else node.setAttribute(key, value);
    }
    for (const child of children) {
      if (child !== null && child !== undefined) {
        node.append(child instanceof Node ? child : String(child));
      }
    }
    return node;
  }

  function setText(node, text) {
    const value = text === null || text === undefined ? "" : String(text);
    if (node.textContent !== value) node.textContent = value;
  }

  const number = new Intl.NumberFormat("en");

  // Put ``rows`` into ``tbody`` in order, moving only rows that are out of place, so a
  // control a person is using in an unchanged row is left alone.
  function placeRows(tbody, rows) {
    const keep = new Set(rows);
    for (const child of [...tbody.children]) {
      if (!keep.has(child)) child.remove();
    }
    let cursor = tbody.firstElementChild;
    for (const row of rows) {
      if (row === cursor) cursor = cursor.nextElementSibling;
      else tbody.insertBefore(row, cursor);
    }
  }

  function notice(text, isError = false) {
    const node = $("notice");
    node.textContent = text;
    node.classList.toggle("error", isError);
  }

  function setFeedState(key, text) {
    const node = $("feed-state");
    node.dataset.state = key;
    node.textContent = text;
  }

  // -- the feed ----------------------------------------------------------------------------
  function connect() {
    clearTimeout(state.retryTimer);
    if (state.needToken) {
      askForToken("");
      return;
    }
    const url = new URL(config.feed, window.location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(url);
    state.socket = socket;
    setFeedState("connecting", "connecting…");
    socket.addEventListener("open", () => sendView());
    socket.addEventListener("message", (event) => {
      const message = JSON.parse(event.data);
      if (message.type === "snapshot") {
        state.retries = 0;
        setFeedState("live", "live");
        render(message);
      }
    });
    socket.addEventListener("close", (event) => {
      if (state.socket !== socket) return;
      state.socket = null;
      if (event.code === TOKEN_REFUSED) {
        state.needToken = true;
        askForToken(state.token ? "The service token was refused." : "");
        return;
      }
      // Reconnect with a growing pause; nothing runs while connected and idle.
      const delay = Math.min(10000, 500 * 2 ** state.retries);
      state.retries += 1;
      setFeedState("disconnected", `disconnected, retrying in ${Math.round(delay / 1000)} s`);
      state.retryTimer = setTimeout(connect, delay);
    });
  }

  function sendView() {
    const socket = state.socket;
    if (!socket || socket.readyState !== WebSocket.OPEN) return;
    const message = { type: "view", view: state.view };
    if (config.token_required) message.token = state.token;
    socket.send(JSON.stringify(message));
  }

  function askForToken(problem) {
    setFeedState("token", "service token needed");
    $("token-form").hidden = false;
    $("token-problem").textContent = problem;
    $("token").focus();
  }

  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    state.token = $("token").value;
    sessionStorage.setItem(TOKEN_KEY, state.token);
    state.needToken = false;
    $("token-problem").textContent = "";
    if (state.socket) {
      const old = state.socket;
      state.socket = null;
      old.close();
    }
    connect();
  });

  // -- rendering ---------------------------------------------------------------------------
  function render(snapshot) {
    renderSummary(snapshot);
    renderClock(snapshot.clock);
    renderUsers(snapshot.users);
    renderTasks(snapshot.tasks);
    renderMachines(snapshot.machines);
    renderCoverage(snapshot.coverage);
    if (snapshot.diagrams) {
      for (const [name, text] of Object.entries(snapshot.diagrams)) showDiagram(name, text);
    }
    if (snapshot.notice) notice(snapshot.notice, true);
  }

  function renderSummary(snapshot) {
    const values = { ...snapshot.world, viewers: snapshot.viewers ?? "–" };
    for (const node of $("summary").querySelectorAll("dd[data-key]")) {
      const value = values[node.dataset.key];
      const plain = node.dataset.key === "seed";
      setText(node, typeof value === "number" && !plain ? number.format(value) : value);
    }
  }

  function renderClock(clock) {
    state.clock = { ...clock, at: performance.now() };
    setText($("clock-mode"), clock.mode);
    setText($("clock-scale"), `× ${clock.time_scale}`);
    const select = $("clock-mode-select");
    if (document.activeElement !== select) select.value = clock.mode;
    const scale = $("clock-scale-input");
    if (document.activeElement !== scale) scale.value = clock.time_scale;
    clearInterval(state.clockTimer);
    state.clockTimer = null;
    if (clock.mode === "real") {
      // Real time flows between snapshots: the page moves its own clock, once a second.
      state.clockTimer = setInterval(tickClock, 1000);
    }
    tickClock();
  }

  function tickClock() {
    const clock = state.clock;
    if (!clock) return;
    if (clock.mode !== "real") {
      setText($("clock-now"), clock.now);
      return;
    }
    const elapsed = ((performance.now() - clock.at) / 1000) * clock.time_scale;
    const now = new Date((clock.epoch + elapsed) * 1000);
    setText($("clock-now"), `${now.toISOString().slice(0, 19)}Z`);
  }

  const userRows = new Map();

  function renderUsers(users) {
    state.users = users;
    const first = users.total ? users.offset + 1 : 0;
    const last = Math.min(users.offset + users.items.length, users.total);
    setText($("users-count"), `${number.format(users.total)} ${state.view.q ? "match" : "in all"}`);
    setText($("users-range"), `${number.format(first)}–${number.format(last)}`);
    $("users-prev").disabled = users.offset <= 0;
    $("users-next").disabled = users.offset + users.limit >= users.total;
    const rows = [];
    const seen = new Set();
    for (const user of users.items) {
      seen.add(user.id);
      let row = userRows.get(user.id);
      const signature = JSON.stringify(user);
      if (!row || row.dataset.signature !== signature) {
        const fresh = userRow(user);
        fresh.dataset.signature = signature;
        if (row) row.replaceWith(fresh);
        row = fresh;
        userRows.set(user.id, row);
      }
      rows.push(row);
    }
    for (const id of [...userRows.keys()]) if (!seen.has(id)) userRows.delete(id);
    placeRows($("users").tBodies[0], rows);
  }

  function userRow(user) {
    const who = el("td", {},
      el("span", { className: "name", text: user.username }),
      ...user.roles.filter((role) => role === "admin").map((role) => el("span", { className: "badge", text: role })),
      user.disabled ? el("span", { className: "badge off", text: "disabled" }) : null,
      ...user.mfa.map((kind) => el("span", { className: "badge", text: kind })),
      el("div", { className: "full", text: user.full_name }));
    const chips = el("div", { className: "chips" },
      ...user.connections.map((conn) => el("span", {
        className: "chip", dataset: { state: conn.state, pool: conn.pool }, text: `${conn.pool}: ${conn.state}`,
      })),
      user.more_pools ? el("span", { className: "chip", text: `+${user.more_pools} more` }) : null);
    const login = user.last_login
      ? el("td", {}, el("span", { text: user.last_login.outcome }), el("div", { className: "full mono", text: user.last_login.at }))
      : el("td", { className: "zero", text: "–" });
    return el("tr", { dataset: { userId: user.id, username: user.username } },
      who,
      el("td", { className: `num sockets${user.sockets ? "" : " zero"}`, text: user.sockets }),
      el("td", { className: `num${user.machines ? "" : " zero"}`, text: user.machines }),
      el("td", {}, chips),
      login);
  }

  const taskRows = new Map();

  function renderTasks(tasks) {
    setText($("tasks-count"), tasks.total > tasks.items.length
      ? `newest ${number.format(tasks.items.length)} of ${number.format(tasks.total)}`
      : `${number.format(tasks.total)}`);
    const rows = [];
    const seen = new Set();
    for (const task of tasks.items) {
      seen.add(task.id);
      let row = taskRows.get(task.id);
      if (!row) {
        row = taskRow(task);
        if (state.tasksShown) row.classList.add("fresh");
        taskRows.set(task.id, row);
      }
      updateTaskRow(row, task);
      rows.push(row);
    }
    for (const id of [...taskRows.keys()]) if (!seen.has(id)) taskRows.delete(id);
    placeRows($("tasks").tBodies[0], rows);
    state.tasksShown = true;
  }

  const TASK_CELLS = ["created", "kind", "status", "user", "pool", "started", "finished", "reason"];

  function taskRow(task) {
    const row = el("tr", { dataset: { taskId: task.id } });
    for (const key of TASK_CELLS) {
      const mono = ["created", "started", "finished"].includes(key) ? " mono" : "";
      row.append(el("td", { className: `${key}${mono}` }));
    }
    row.append(el("td", { className: "force" }));
    return row;
  }

  function updateTaskRow(row, task) {
    for (const key of TASK_CELLS) setText(row.querySelector(`td.${key}`), task[key] ?? "–");
    row.querySelector("td.status").dataset.status = task.status;
    if (row.dataset.status === task.status) return;
    row.dataset.status = task.status;
    // The force controls depend only on the status: rebuilt when it changes, never otherwise.
    const cell = row.querySelector("td.force");
    cell.replaceChildren();
    const targets = config.force_targets[task.status] || [];
    if (!targets.length) return;
    const select = el("select", { "aria-label": `New status of task ${task.id}` },
      ...targets.map((target) => el("option", { value: target, text: target })));
    const button = el("button", { type: "button", className: "small force-button", text: "Force" });
    button.addEventListener("click", () => forceTask(task.id, select.value));
    cell.append(select, " ", button);
  }

  function renderMachines(machines) {
    for (const [name, machine] of Object.entries(machines)) {
      const article = $(`machine-${name}`);
      if (!article) continue;
      const marked = new Set(machine.marked);
      for (const row of article.querySelectorAll("table.states tbody tr")) {
        const count = machine.counts[row.dataset.state] ?? 0;
        setText(row.querySelector("td.n"), count ? number.format(count) : "–");
        row.classList.toggle("marked", marked.has(row.dataset.state));
      }
    }
  }

  function renderCoverage(coverage) {
    for (const node of document.querySelectorAll("[data-covered]")) {
      const machine = coverage && coverage[node.dataset.covered];
      setText(node, machine ? `${machine.covered}/${machine.total} transitions covered` : "");
    }
  }

  // -- diagrams ----------------------------------------------------------------------------
  const mermaidApi = window.mermaid;
  if (mermaidApi) {
    // Drawn at their natural size, the same scale for every machine: with useMaxWidth each
    // diagram was stretched or squeezed to the column, so a small machine came out huge and
    // the wide one tiny. CSS only shrinks one that would overflow. Nodes of one rank sit close
    // (nodeSpacing): login's fans stack sixteen outcomes in one column.
    mermaidApi.initialize({
      startOnLoad: false,
      securityLevel: "strict",
      theme: "default",
      state: { useMaxWidth: false, rankSpacing: 90, nodeSpacing: 20 },
      flowchart: { useMaxWidth: false, rankSpacing: 140, nodeSpacing: 20 },
    });
  }
  let drawing = Promise.resolve();
  let drawSeq = 0;
  const pendingDraw = {};

  function showDiagram(name, text) {
    const article = $(`machine-${name}`);
    if (!article) return;
    setText(article.querySelector("pre.mermaid-text"), text);
    if (!mermaidApi || state.wanted[name] === text) return;
    state.wanted[name] = text;
    pendingDraw[name] = text;
    // One drawing at a time; a newer text replaces one still waiting.
    drawing = drawing.then(async () => {
      const latest = pendingDraw[name];
      if (latest === undefined) return;
      delete pendingDraw[name];
      drawSeq += 1;
      const target = article.querySelector(".diagram");
      try {
        const { svg } = await mermaidApi.render(`diagram-${name}-${drawSeq}`, latest);
        target.innerHTML = svg; // Mermaid's own output, sanitised by it (securityLevel strict)
        article.classList.add("drawn");
        article.querySelector("details").open = false;
      } catch (error) {
        target.textContent = "";
        article.querySelector("details").open = true;
        article.dataset.drawError = String(error && error.message ? error.message : error);
      }
    });
  }

  // -- controls ----------------------------------------------------------------------------
  function describeError(status, text) {
    try {
      const body = JSON.parse(text);
      if (Array.isArray(body.detail)) return body.detail.map((item) => item.msg).join("; ");
      if (body.detail) return String(body.detail);
    } catch (_) {
      // not JSON: show the status only
    }
    return `HTTP ${status}`;
  }

  async function callService(url, body, what) {
    const headers = { "Content-Type": "application/json" };
    if (config.token_required) headers[config.token_header] = state.token;
    try {
      const response = await fetch(url, { method: "POST", headers, body: JSON.stringify(body) });
      const text = await response.text();
      if (!response.ok) {
        notice(`${what}: ${response.status} ${describeError(response.status, text)}`, true);
        if (response.status === 403 && config.token_required) askForToken("The service token was refused.");
        return null;
      }
      notice(`${what}: done`);
      return text ? JSON.parse(text) : null;
    } catch (error) {
      notice(`${what}: ${error.message}`, true);
      return null;
    }
  }

  $("advance-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const seconds = Number($("advance-seconds").value);
    callService(config.clock, { advance_s: seconds }, `advance ${seconds} s`);
  });

  $("clock-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const mode = $("clock-mode-select").value;
    const scale = Number($("clock-scale-input").value);
    callService(config.clock, { mode, time_scale: scale }, `clock ${mode} × ${scale}`);
  });

  $("reset").addEventListener("click", () => {
    if (window.confirm("Reset the world to the scenario's start? Tasks, machines and the clock start over.")) {
      callService(config.reset, {}, "reset");
    }
  });

  function forceTask(id, status) {
    callService(config.force.replace("TASK_ID", encodeURIComponent(id)), { status }, `task ${id.slice(0, 8)} → ${status}`);
  }

  // -- coverage and conformance ------------------------------------------------------------
  for (const input of document.querySelectorAll('#paint input[name="paint"]')) {
    input.addEventListener("change", () => {
      if (!input.checked) return;
      state.view = { ...state.view, paint: input.value };
      for (const hint of document.querySelectorAll("#diagrams-panel [data-paint]")) {
        hint.hidden = hint.dataset.paint !== input.value;
      }
      sendView();
    });
  }

  async function checkConformance() {
    const headers = {};
    if (config.token_required) headers[config.token_header] = state.token;
    try {
      const response = await fetch(config.conformance, { headers });
      const text = await response.text();
      if (!response.ok) {
        notice(`conformance: ${response.status} ${describeError(response.status, text)}`, true);
        return;
      }
      const rows = JSON.parse(text).rules.map((rule) =>
        el("tr", { dataset: { rule: rule.id } },
          el("td", { className: "mono", text: rule.id }),
          el("td", { className: "verdict", dataset: { verdict: rule.status }, text: rule.status.replace("_", " ") }),
          el("td", { className: "mono", text: rule.evidence.map((seq) => `#${seq}`).join(" ") || "–" }),
          el("td", { text: rule.detail })));
      placeRows($("conformance").querySelector("tbody"), rows);
    } catch (error) {
      notice(`conformance: ${error.message}`, true);
    }
  }
  $("conformance-check").addEventListener("click", checkConformance);

  // -- the view: filter and pages ----------------------------------------------------------
  let filterTimer = null;
  $("user-filter").addEventListener("input", (event) => {
    clearTimeout(filterTimer);
    const q = event.target.value;
    filterTimer = setTimeout(() => {
      state.view = { ...state.view, q, offset: 0 };
      sendView();
    }, 250);
  });
  $("users-prev").addEventListener("click", () => {
    state.view = { ...state.view, offset: Math.max(0, state.users.offset - state.users.limit) };
    sendView();
  });
  $("users-next").addEventListener("click", () => {
    state.view = { ...state.view, offset: state.users.offset + state.users.limit };
    sendView();
  });

  // -- start ---------------------------------------------------------------------------------
  for (const article of document.querySelectorAll("article.machine")) {
    showDiagram(article.dataset.machine, article.querySelector("pre.mermaid-text").textContent);
  }
  if (config.initial) render(config.initial);
  connect();
})();

// xgate operator dashboard: fills the server-rendered pages from the /v1 API with the
// operator's own key (kept in this tab's sessionStorage, sent only to this origin in the
// Authorization header; operator changes signed with WebCrypto Ed25519 as docs/api.md §2 says).
// Text only ever goes into the page as text (textContent), never as HTML.
"use strict";
(() => {
  const TOKEN = "xgate.token";
  const SIGNING = "xgate.signing";
  const REFRESH_MS = 4000;
  const $ = (id) => document.getElementById(id);
  const page = document.body.dataset.page;
  const timers = [];
  let streamAbort = null;
  let generation = 0; // start() again (another key) ends the previous loaders

  // --- small helpers --------------------------------------------------------------------------

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value !== null && value !== undefined) node.setAttribute(name, String(value));
    }
    for (const child of children) {
      node.append(child instanceof Node ? child : text(child));
    }
    return node;
  }
  function text(value) {
    if (value === null || value === undefined) return "–";
    if (typeof value === "boolean") return value ? "yes" : "no";
    return String(value);
  }
  function short(hex) {
    return typeof hex === "string" && hex.length > 14 ? hex.slice(0, 10) + "…" + hex.slice(-4) : text(hex);
  }
  function fill(tableId, rows, empty) {
    const table = $(tableId);
    if (!table) return;
    const body = table.tBodies[0] || table.createTBody();
    const width = table.tHead ? table.tHead.rows[0].cells.length : 2;
    body.replaceChildren(
      ...(rows.length ? rows : [el("tr", { class: "empty" }, el("td", { colspan: width }, empty || "nothing"))])
    );
  }
  function tr(cells, attrs) {
    return el("tr", attrs, ...cells.map((c) => el("td", {}, c)));
  }
  function notice(message, kind) {
    const box = $("notice");
    box.hidden = !message;
    box.textContent = message || "";
    box.dataset.kind = kind || "info";
  }
  function hexOf(bytes) {
    return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
  }
  function bytesOf(hex) {
    return new Uint8Array(hex.match(/../g).map((h) => parseInt(h, 16)));
  }
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const utf8 = new TextEncoder();

  // --- the key ---------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, message, problem) {
      super(message);
      this.status = status;
      this.problem = problem;
    }
  }

  function showKeyState() {
    const token = sessionStorage.getItem(TOKEN);
    const state = $("key-state");
    if (!token) {
      state.textContent = "no API key";
      state.dataset.state = "none";
      return;
    }
    const id = (token.match(/^xg_([0-9a-f]+)_/) || [])[1] || "?";
    state.textContent = `key ${id}` + (sessionStorage.getItem(SIGNING) ? " (signs changes)" : "");
    state.dataset.state = "set";
  }

  async function signatureHeaders(method, target, body) {
    const seed = sessionStorage.getItem(SIGNING);
    if (!seed) return {};
    // PKCS#8 wrapping of a 32-byte Ed25519 seed (RFC 8410).
    const der = bytesOf("302e020100300506032b657004220420" + seed);
    const key = await crypto.subtle.importKey("pkcs8", der, { name: "Ed25519" }, false, ["sign"]);
    const digest = hexOf(await crypto.subtle.digest("SHA-256", utf8.encode(body)));
    const timestamp = String(Math.floor(Date.now() / 1000));
    const random = crypto.getRandomValues(new Uint8Array(24));
    const nonce = btoa(String.fromCharCode(...random)).replace(/\+/g, "-").replace(/\//g, "_");
    const canonical = `${method}\n${target}\n${timestamp}\n${nonce}\n${digest}`;
    const signature = await crypto.subtle.sign({ name: "Ed25519" }, key, utf8.encode(canonical));
    return {
      "X-Xgate-Timestamp": timestamp,
      "X-Xgate-Nonce": nonce,
      "X-Xgate-Signature": btoa(String.fromCharCode(...new Uint8Array(signature))),
    };
  }

  async function api(method, target, body) {
    const token = sessionStorage.getItem(TOKEN);
    if (!token) throw new ApiError(0, "paste an API key above to read the gateway");
    const headers = { Authorization: `Bearer ${token}`, Accept: "application/json" };
    const data = body === undefined ? "" : JSON.stringify(body);
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (method !== "GET") Object.assign(headers, await signatureHeaders(method, target, data));
    const response = await fetch(target, {
      method,
      headers,
      body: body === undefined ? undefined : data,
      cache: "no-store",
      credentials: "omit",
    });
    const raw = await response.text();
    let json = null;
    try {
      json = raw ? JSON.parse(raw) : null;
    } catch (_) {
      json = null;
    }
    if (!response.ok) {
      const detail = json && json.title ? `${json.title}: ${json.detail || ""}` : response.statusText;
      throw new ApiError(response.status, `${method} ${target}: ${response.status} ${detail}`, json);
    }
    return json;
  }

  // --- polling and the event stream ------------------------------------------------------------

  function every(ms, load) {
    let stopped = false;
    const mine = generation;
    const run = async () => {
      if (stopped || mine !== generation) return;
      try {
        await load();
      } catch (error) {
        notice(error.message, "error");
        if (error.status === 401 || error.status === 403) stopped = true; // until the key changes
      }
      if (!stopped && mine === generation) timers.push(setTimeout(run, ms));
    };
    run();
  }

  // The stream of GET /v1/events read with fetch (EventSource cannot send the key).
  async function follow(query, onEvent, onOpen) {
    const state = $("stream-state");
    const mark = (s) => {
      if (state) {
        state.dataset.state = s;
        state.textContent = `live: ${s}`;
      }
    };
    const abort = new AbortController();
    streamAbort = abort;
    let last = null;
    while (!abort.signal.aborted) {
      const token = sessionStorage.getItem(TOKEN);
      if (!token) return;
      const headers = { Authorization: `Bearer ${token}`, Accept: "text/event-stream" };
      if (last !== null) headers["Last-Event-ID"] = last;
      try {
        const response = await fetch("/v1/events" + query, {
          headers,
          signal: abort.signal,
          cache: "no-store",
          credentials: "omit",
        });
        if (response.status === 410) {
          last = null; // pruned past our position: read the state again and follow from now
          if (onOpen) await onOpen();
          continue;
        }
        if (!response.ok) {
          mark("refused");
          notice(`GET /v1/events: ${response.status}`, "error");
          return;
        }
        mark("open");
        if (onOpen && last === null) await onOpen();
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value.replace(/\r\n?/g, "\n");
          let end;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            const frame = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            let id = null;
            const data = [];
            for (const line of frame.split("\n")) {
              if (line.startsWith("id:")) id = line.slice(3).trim();
              else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
            }
            if (id !== null) last = id;
            if (data.length) onEvent(JSON.parse(data.join("\n")));
          }
        }
      } catch (error) {
        if (abort.signal.aborted) return;
      }
      mark("reconnecting");
      await sleep(2000);
    }
  }

  // --- pages -----------------------------------------------------------------------------------

  const chainNames = new Map();
  async function loadChainNames() {
    const chains = await api("GET", "/v1/chains");
    for (const c of chains.items) chainNames.set(c.chain_id, c.name);
    return chains.items;
  }
  const chainName = (id) => (chainNames.has(id) ? `${chainNames.get(id)} (${id})` : text(id));
  // A flag that is bad when set (paused, frozen ...) and one that is good when set (ready).
  const yes = (value) => el("span", { class: value ? "flag on" : "flag" }, text(value));
  const good = (value) => el("span", { class: value ? "flag ok" : "flag on" }, text(value));

  async function loadChains() {
    const chains = await loadChainNames();
    const statuses = await Promise.all(chains.map((c) => api("GET", `/v1/chains/${c.chain_id}/status`)));
    fill(
      "chains",
      statuses.map((s) =>
        tr([s.name, s.chain_id, s.kind, s.head_height, s.finalized_height, yes(s.endpoint_paused),
          s.paused_routes.map(chainName).join(", ") || "none"], { "data-chain": s.chain_id })
      )
    );
    const clients = [];
    for (const s of statuses) {
      for (const c of s.counterparts) {
        clients.push(tr([s.name, c.name, c.oracle, c.known_height, c.lag_blocks, yes(c.frozen),
          yes(c.route_paused), c.detail], { "data-chain": s.chain_id, "data-counterpart": c.chain_id }));
      }
    }
    fill("light-clients", clients);
  }

  async function loadServices() {
    let report;
    try {
      report = await api("GET", "/v1/operator/services");
    } catch (error) {
      if (error.status === 403) {
        fill("services", [], "the services' health needs an operator key");
      }
      throw error;
    }
    fill("services", report.services.map((s) =>
      tr([s.name, el("span", { class: `state ${s.state}` }, s.state), s.roles.join(", "), s.error],
        { "data-service": s.name })));
    const workers = [];
    for (const s of report.services) {
      for (const w of s.workers) {
        workers.push(tr([s.name, w.role, w.name, good(w.ready), w.steps, w.consecutive_failures,
          w.last_error, w.stopped]));
      }
    }
    fill("workers", workers);
    fill("queue", report.queue.map((q) => tr([chainName(q.src_chain_id), chainName(q.dst_chain_id), q.status, q.count])), "no messages");
    fill("checkpoints", report.checkpoints.map((c) => tr([c.chain || c.chain_id, c.stream, c.height, c.updated_at])));
    fill("locks", [
      ...report.signer_locks.map((l) => tr([l.name, l.owner, l.lease_until, yes(l.expired)])),
      ...report.relayer_leases.map((l) => tr([`${l.messages} messages`, l.owner, l.lease_until, yes(l.expired)])),
    ]);
  }

  async function overview() {
    every(REFRESH_MS, loadChains);
    every(REFRESH_MS, loadServices);
  }

  // The operator's changes: the API answers the unsigned transactions for the governance wallets.
  async function governance(action, route, messageId) {
    const sender = $("gov-sender").value.trim();
    const executor = $("gov-executor").value.trim();
    const body = { sender };
    if (action === "resume" && executor) body.executor = executor;
    const base = `/v1/operator/routes/${route.chain_id}/${route.remote_chain_id}`;
    const target = action === "cancel" ? `${base}/held/${messageId}/cancel` : `${base}/${action}`;
    const out = $("action-result");
    out.dataset.state = "pending";
    try {
      const answer = await api("POST", target, body);
      out.textContent = JSON.stringify(answer, null, 2);
      out.dataset.state = "ok";
      out.dataset.action = answer.action;
      notice(`${answer.action} on ${route.chain} (from ${route.remote_chain}): ${answer.txs.length} transaction(s) for the governance wallet below`, "info");
    } catch (error) {
      out.textContent = error.message;
      out.dataset.state = "refused";
      notice(error.message, "error");
    }
  }

  async function loadRoutes() {
    const list = await api("GET", "/v1/operator/routes");
    const routes = [];
    const limits = [];
    const held = [];
    for (const r of list.items) {
      const pause = el("button", { type: "button", class: "pause" }, "Pause");
      pause.addEventListener("click", () => governance("pause", r));
      const resume = el("button", { type: "button", class: "resume" }, "Resume");
      resume.addEventListener("click", () => governance("resume", r));
      const key = `${r.chain_id}-${r.remote_chain_id}`;
      routes.push(tr([r.chain, r.remote_chain || r.remote_chain_id, r.available ? "yes" : `no: ${r.error}`,
        el("span", { class: r.paused ? "flag on" : "flag", "data-paused": r.paused }, r.paused ? "paused" : "open"),
        yes(r.endpoint_paused), r.timelock_delay_s, (r.held || []).length, el("span", {}, pause, resume)],
        { "data-route": key }));
      for (const l of r.limits || []) {
        limits.push(tr([r.chain, r.remote_chain, l.app, l.token_name, l.direction, good(l.enabled), l.capacity,
          l.used, l.available, l.rate, l.delay_above], { "data-route": key }));
      }
      for (const h of r.held || []) {
        const cancel = el("button", { type: "button", class: "cancel" }, "Cancel");
        cancel.addEventListener("click", () => governance("cancel", r, h.message_id));
        held.push(tr([r.chain, r.remote_chain, h.app, el("a", { href: `/dashboard/transfers/${h.message_id}` }, short(h.message_id)),
          h.ready_at, good(h.ready), short(h.tx_hash), cancel], { "data-route": key, "data-message": h.message_id }));
      }
    }
    fill("routes", routes);
    fill("limits", limits, "no value limits");
    fill("held", held, "no delayed transfers");
  }

  // Transfers: the newest page, then every status change live.
  const transfers = new Map();
  function matches(t) {
    const status = $("filter-status").value;
    const src = $("filter-src").value.trim();
    const dst = $("filter-dst").value.trim();
    const needle = $("filter-text").value.trim().toLowerCase();
    if (status && t.status !== status) return false;
    if (src && String(t.src_chain_id) !== src) return false;
    if (dst && String(t.dst_chain_id) !== dst) return false;
    if (needle) {
      const hay = [t.id, t.tracking_id, t.sender, t.receiver].join(" ").toLowerCase();
      if (!hay.includes(needle)) return false;
    }
    return true;
  }
  function renderTransfers() {
    const rows = [...transfers.values()]
      .filter(matches)
      .sort((a, b) => (a.updated_at < b.updated_at ? 1 : -1))
      .slice(0, 200)
      .map((t) =>
        tr([el("a", { href: `/dashboard/transfers/${t.id}`, class: "transfer-link" }, short(t.id)),
          el("span", { class: `status ${t.status}` }, t.status), chainName(t.src_chain_id), chainName(t.dst_chain_id),
          t.tracking_id, t.history.join(" → "), t.updated_at], { "data-id": t.id, "data-status": t.status })
      );
    fill("transfers", rows, "no transfers");
  }
  async function loadTransfers() {
    const page = await api("GET", "/v1/transfers?limit=100");
    for (const t of page.items) {
      const known = transfers.get(t.id);
      if (!known || known.updated_at <= t.updated_at) {
        transfers.set(t.id, { ...t, history: known ? known.history : [t.status] });
      }
    }
    renderTransfers();
  }
  function onMessageEvent(event) {
    const d = event.data;
    const known = transfers.get(event.ref);
    const history = known ? known.history : d.old_status ? [d.old_status] : [];
    if (history[history.length - 1] !== d.status) history.push(d.status);
    transfers.set(event.ref, {
      ...(known || { id: event.ref, tracking_id: d.tracking_id, src_chain_id: d.src_chain_id, dst_chain_id: d.dst_chain_id }),
      status: d.status,
      history,
      updated_at: event.created_at,
    });
    renderTransfers();
  }
  async function transfersPage() {
    await loadChainNames();
    for (const id of ["filter-status", "filter-src", "filter-dst", "filter-text"]) {
      $(id).addEventListener("input", renderTransfers);
    }
    follow("?kinds=message", onMessageEvent, loadTransfers);
  }

  async function transferPage() {
    const ref = $("transfer").dataset.ref;
    await loadChainNames();
    const load = async () => {
      const t = await api("GET", `/v1/transfers/${encodeURIComponent(ref)}`);
      const fields = ["id", "status", "reason", "tracking_id", "src_chain_id", "dst_chain_id", "sender", "receiver",
        "nonce", "src_tx_hash", "src_block_number", "attempts", "delivery_tx_hash", "delivery_block_number",
        "created_at", "updated_at"];
      fill("transfer-fields", fields.map((f) => tr([f, f.endsWith("chain_id") ? chainName(t[f]) : t[f]], { "data-field": f })));
      fill("transfer-history", t.history.map((h) => tr([h.at, h.from, h.to, h.tx_hash, h.detail])));
      return t;
    };
    $("manual-load").addEventListener("click", async () => {
      try {
        const data = await api("GET", `/v1/transfers/${encodeURIComponent(ref)}/manual-execution`);
        $("manual-execution").textContent = JSON.stringify(data, null, 2);
      } catch (error) {
        $("manual-execution").textContent = error.message;
      }
    });
    try {
      const t = await load();
      follow("?kinds=message", (event) => {
        if (event.ref === t.id) load().catch((error) => notice(error.message, "error"));
      });
    } catch (error) {
      notice(error.message, "error");
    }
  }

  async function swapsPage() {
    await loadChainNames();
    const swaps = new Map();
    fill("swaps", [], "no swaps yet");
    follow("?after=0&kinds=swap", (event) => {
      const d = event.data;
      swaps.set(event.ref, { id: event.ref, ...d, at: event.created_at });
      fill("swaps", [...swaps.values()].reverse().map((s) =>
        tr([short(s.id), el("span", { class: `state ${s.state}` }, s.state), chainName(s.initiator_chain_id),
          chainName(s.participant_chain_id), Object.keys(s.txs || {}).join(", "), s.detail, s.at], { "data-swap": s.id })));
    });
  }

  async function creditPage() {
    await loadChainNames();
    const events = [];
    fill("credit", [], "no credit events yet");
    follow("?after=0&kinds=credit", (event) => {
      const d = event.data;
      events.unshift(tr([event.id, d.action, d.subject, short(d.attestation_id), d.issuer, d.version,
        d.chain_id === null ? "–" : chainName(d.chain_id), short(d.tx_hash), event.created_at], { "data-action": d.action }));
      fill("credit", events.slice(0, 500), "no credit attestations");
    });
  }

  // Charts: from the newest delivered transfers (their record's creation to their delivery).
  const charts = {};
  function quantile(sorted, q) {
    return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : null;
  }
  async function loadCharts() {
    const page = await api("GET", "/v1/transfers?status=delivered&limit=200");
    const items = page.items.slice().sort((a, b) => (a.updated_at < b.updated_at ? -1 : 1));
    const latency = items.map((t) => (Date.parse(t.updated_at) - Date.parse(t.created_at)) / 1000);
    const perMinute = new Map();
    for (const t of items) {
      const minute = t.updated_at.slice(0, 16);
      perMinute.set(minute, (perMinute.get(minute) || 0) + 1);
    }
    const sorted = latency.slice().sort((a, b) => a - b);
    fill("latency-summary", [tr([items.length, quantile(sorted, 0.5), quantile(sorted, 0.9), sorted[sorted.length - 1]])]);
    if (typeof Chart === "undefined") {
      notice("the chart library is not installed on this gateway (npm ci)", "error");
      return;
    }
    const data = {
      latency: { labels: items.map((t) => t.updated_at.slice(11, 19)), values: latency },
      throughput: { labels: [...perMinute.keys()].map((m) => m.slice(11)), values: [...perMinute.values()] },
    };
    for (const [name, type] of [["latency", "line"], ["throughput", "bar"]]) {
      if (!charts[name]) {
        charts[name] = new Chart($(`${name}-chart`), {
          type,
          data: { labels: [], datasets: [{ label: name, data: [], borderColor: "#2a6fb0", backgroundColor: "#7fb2e0" }] },
          options: { animation: false, responsive: false, plugins: { legend: { display: false } } },
        });
      }
      charts[name].data.labels = data[name].labels;
      charts[name].data.datasets[0].data = data[name].values;
      charts[name].update();
    }
    document.body.dataset.charted = String(items.length);
  }

  // --- start -----------------------------------------------------------------------------------

  function start() {
    generation += 1;
    while (timers.length) clearTimeout(timers.pop());
    if (streamAbort) streamAbort.abort();
    notice("");
    showKeyState();
    if (!sessionStorage.getItem(TOKEN)) {
      notice("Paste an API key above (a read key shows the chains and transfers; operator pages and changes need an operator key).", "info");
      return;
    }
    const pages = {
      overview,
      routes: () => every(REFRESH_MS, loadRoutes),
      transfers: transfersPage,
      transfer: transferPage,
      swaps: swapsPage,
      credit: creditPage,
      charts: () => every(10000, loadCharts),
    };
    Promise.resolve(pages[page]()).catch((error) => notice(error.message, "error"));
  }

  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = $("key-token").value.trim();
    const signing = $("key-signing").value.trim().replace(/^0x/, "").toLowerCase();
    $("key-token").value = "";
    $("key-signing").value = "";
    if (!/^xg_[0-9a-f]+_[A-Za-z0-9_-]+$/.test(token)) {
      notice("an API token looks like xg_<id>_<secret>", "error");
      return;
    }
    if (signing && !/^[0-9a-f]{64}$/.test(signing)) {
      notice("an Ed25519 signing key is 32 bytes of hex", "error");
      return;
    }
    sessionStorage.setItem(TOKEN, token);
    if (signing) sessionStorage.setItem(SIGNING, signing);
    else sessionStorage.removeItem(SIGNING);
    start();
  });
  $("key-forget").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN);
    sessionStorage.removeItem(SIGNING);
    start();
  });
  start();
})();

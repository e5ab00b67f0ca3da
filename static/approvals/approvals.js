// Approvals (SPEC 8): keeps the server-rendered queue and request pages live over /ws/inbox/.
// Events are only a nudge: on approval.requested / approval.decided, and on every snapshot (a
// reconnect re-syncs), the page re-fetches its server-rendered fragments and swaps them in, so
// the markup comes from one template and the database is the truth. When the socket refuses
// this person (4403: an approver only through a group), the page polls instead.
(() => {
  "use strict";

  const queueConfig = document.getElementById("approvals-config");
  const detailConfig = document.getElementById("approval-config");
  const cfg = JSON.parse((queueConfig || detailConfig).textContent);
  const root = document.getElementById(queueConfig ? "approvals" : "approval");
  const announcer = document.getElementById("announcer");

  // --- small helpers ------------------------------------------------------------------------

  function announce(text) {
    announcer.textContent = "";
    setTimeout(() => { announcer.textContent = text; }, 30);
  }

  function compact(ms) {
    const minutes = Math.floor(ms / 60000);
    if (minutes < 1) return "under a minute";
    if (minutes < 60) return `${minutes} min`;
    const hours = Math.floor(minutes / 60);
    if (hours < 24) return minutes % 60 ? `${hours} h ${minutes % 60} min` : `${hours} h`;
    const days = Math.floor(hours / 24);
    return hours % 24 ? `${days} d ${hours % 24} h` : `${days} d`;
  }

  function tick() {
    const now = Date.now();
    for (const node of root.querySelectorAll("[data-since]")) {
      const age = now - Date.parse(node.dataset.since);
      node.textContent = age < 60000 ? "just now" : `${compact(age)} ago`;
    }
    for (const node of root.querySelectorAll("[data-expires]")) {
      const left = Date.parse(node.dataset.expires) - now;
      node.textContent = left <= 0 ? "expiring now" : `expires in ${compact(left)}`;
      const level = left < 15 * 60000 ? "urgent" : left < 60 * 60000 ? "soon" : "";
      const holder = node.closest(".request") || node;
      holder.classList.toggle("urgent", level === "urgent");
      holder.classList.toggle("soon", level === "soon");
    }
  }

  async function fetchHTML(url) {
    const response = await fetch(url, {
      credentials: "same-origin",
      headers: { Accept: "text/html", "X-Requested-With": "fetch" },
    });
    if (response.redirected && new URL(response.url).pathname.startsWith("/accounts/login")) {
      location.assign(`/accounts/login/?next=${encodeURIComponent(location.pathname)}`);
      throw new Error("signed out");
    }
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const template = document.createElement("template");
    template.innerHTML = await response.text(); // our own server-rendered, escaped fragment
    return template.content;
  }

  // --- the socket: reconnect with backoff, re-sync on every snapshot -------------------------

  let socket = null;
  let attempts = 0;
  let retryTimer = null;
  let pollTimer = null;
  let beat = null;
  let opened = false; // has the socket ever opened on this page?

  function setConnection(kind, text) {
    root.dataset.connection = kind;
    root.querySelector("#connection .label").textContent = text;
  }

  function connect() {
    clearTimeout(retryTimer);
    if (socket && socket.readyState <= 1) return;
    setConnection("connecting", attempts ? "Reconnecting…" : "Connecting…");
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}${cfg.socketPath}`);
    socket = ws;
    ws.addEventListener("open", () => {
      attempts = 0;
      opened = true;
      setConnection("open", "Live");
      clearInterval(beat);
      beat = setInterval(() => send({ type: "heartbeat" }), 25000);
    });
    ws.addEventListener("message", (event) => {
      let data;
      try { data = JSON.parse(event.data); } catch (_) { return; }
      handle(data);
    });
    ws.addEventListener("close", (event) => {
      if (socket !== ws) return;
      socket = null;
      clearInterval(beat);
      delete root.dataset.synced;
      if (event.code === 4401) {
        setConnection("closed", "Signed out");
        location.assign(`/accounts/login/?next=${encodeURIComponent(location.pathname)}`);
        return;
      }
      // Refused (4403), or refused at the handshake, which a browser reports as 1006: a person
      // who approves only through a group may not have the inbox socket. Poll instead.
      if (event.code === 4403 || (!opened && attempts >= 2)) { startPolling(); return; }
      scheduleReconnect();
    });
  }

  function scheduleReconnect() {
    const delay = Math.round(Math.min(15000, 500 * 2 ** attempts) * (0.8 + Math.random() * 0.4));
    attempts += 1;
    setConnection("reconnecting", `Offline · retrying in ${Math.max(1, Math.round(delay / 1000))} s`);
    retryTimer = setTimeout(connect, delay);
  }

  function send(message) {
    if (!socket || socket.readyState !== WebSocket.OPEN) return false;
    socket.send(JSON.stringify(message));
    return true;
  }

  function startPolling() {
    setConnection("polling", `Updating every ${cfg.pollSeconds} s`);
    clearInterval(pollTimer);
    pollTimer = setInterval(() => refresh({ pending: true, history: true }), cfg.pollSeconds * 1000);
    refresh({ pending: true, history: true, synced: true });
  }

  window.addEventListener("online", () => { if (!socket && !pollTimer) { attempts = 0; connect(); } });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && !socket && !pollTimer) { attempts = 0; connect(); }
  });

  function handle(event) {
    switch (event.type) {
      case "inbox.snapshot": refresh({ pending: true, history: true, synced: true }); break;
      case "approval.requested": if (queueConfig) refresh({ pending: true }); break;
      case "approval.decided":
        if (!detailConfig || event.approvalId === cfg.approvalId) refresh({ pending: true, history: true });
        break;
      default: break;
    }
  }

  // --- fetching and swapping, one at a time ---------------------------------------------------

  let wanted = {};
  let running = false;
  let debounce = null;

  function refresh(what) {
    for (const [key, value] of Object.entries(what)) if (value) wanted[key] = true;
    clearTimeout(debounce);
    debounce = setTimeout(run, 120);
  }

  async function run() {
    if (running) { debounce = setTimeout(run, 120); return; }
    const what = wanted;
    wanted = {};
    running = true;
    try {
      if (queueConfig) {
        if (what.pending) await swapPending();
        if (what.history) await swapHistory();
      } else if (what.pending || what.history) {
        await swapDetail();
      }
      if (what.synced) root.dataset.synced = "true";
    } catch (error) {
      if (error.message !== "signed out") setTimeout(() => refresh(what), 3000);
    } finally {
      running = false;
    }
  }

  // --- the queue ------------------------------------------------------------------------------

  const pendingRegion = document.getElementById("pending-region");
  const historyRegion = document.getElementById("history-region");
  let known = new Set(queueConfig ? ids(pendingRegion) : []);

  function ids(node) {
    return [...node.querySelectorAll("#pending-list [data-approval]")].map((n) => n.dataset.approval);
  }

  function focusedApproval(region) {
    const active = document.activeElement;
    if (!active || !region.contains(active)) return null;
    const holder = active.closest("[data-approval]");
    return { id: holder ? holder.dataset.approval : null, index: cardLinks().indexOf(active) };
  }

  function cardLinks() {
    return [...root.querySelectorAll("#pending-list .request-link")];
  }

  async function swapPending() {
    const fresh = await fetchHTML(cfg.pendingUrl);
    const focus = focusedApproval(pendingRegion);
    const next = ids(fresh);
    const added = next.filter((id) => !known.has(id));
    const removed = [...known].filter((id) => !next.includes(id));
    const open = pendingRegion.querySelector("details.waiting[open]");
    pendingRegion.replaceChildren(fresh);
    if (open) { const details = pendingRegion.querySelector("details.waiting"); if (details) details.open = true; }
    for (const id of added) {
      const card = pendingRegion.querySelector(`.request[data-approval="${id}"]`);
      if (!card) continue;
      card.classList.add("is-new");
      setTimeout(() => card.classList.remove("is-new"), 6000);
    }
    if (added.length === 1) {
      const card = pendingRegion.querySelector(`.request[data-approval="${added[0]}"]`);
      announce(`New approval request: ${card ? card.dataset.summary : ""}`);
    } else if (added.length > 1) {
      announce(`${added.length} new approval requests.`);
    } else if (removed.length) {
      announce(removed.length === 1 ? "A request was decided and left your queue." : `${removed.length} requests left your queue.`);
    }
    known = new Set(next);
    if (focus) {
      const same = focus.id && pendingRegion.querySelector(`.request[data-approval="${focus.id}"] .request-link`);
      const links = cardLinks();
      const target = same || links[Math.min(Math.max(focus.index, 0), links.length - 1)] || document.getElementById("pending-title");
      if (target) {
        if (target.id === "pending-title") target.setAttribute("tabindex", "-1");
        target.focus();
      }
    }
    const count = next.length;
    document.title = document.title.replace(/^\(\d+\) /, "");
    if (count) document.title = `(${count}) ${document.title}`;
    tick();
  }

  async function swapHistory() {
    const fresh = await fetchHTML(cfg.historyUrl + location.search);
    const active = document.activeElement;
    const hadFocus = active && historyRegion.contains(active);
    historyRegion.replaceChildren(fresh);
    if (hadFocus) historyRegion.querySelector("a, [tabindex]")?.focus();
  }

  // j / k (or the arrow keys in the list) move between requests; Enter opens one.
  document.addEventListener("keydown", (event) => {
    if (!queueConfig || event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target && (target.tagName === "INPUT" || target.tagName === "SELECT" || target.tagName === "TEXTAREA")) return;
    const inList = target && target.closest && target.closest("#pending-list");
    let step = 0;
    if (event.key === "j" || (inList && event.key === "ArrowDown")) step = 1;
    else if (event.key === "k" || (inList && event.key === "ArrowUp")) step = -1;
    if (!step) return;
    const links = cardLinks();
    if (!links.length) return;
    const index = links.indexOf(document.activeElement);
    const next = index === -1 ? (step > 0 ? 0 : links.length - 1) : Math.min(links.length - 1, Math.max(0, index + step));
    links[next].focus();
    event.preventDefault();
  });

  // --- one request ----------------------------------------------------------------------------

  const body = document.getElementById("approval-body");

  function versionOf(node) {
    const detail = node.querySelector(".detail");
    return detail ? detail.dataset.version : "";
  }

  async function swapDetail() {
    const fresh = await fetchHTML(cfg.bodyUrl);
    if (versionOf(fresh) === versionOf(body)) return; // nothing changed: keep what is typed
    const box = body.querySelector("#reason");
    const typed = box ? box.value : "";
    const hadFocus = box && document.activeElement === box;
    const before = body.querySelector(".detail")?.dataset.status;
    body.replaceChildren(fresh);
    const after = body.querySelector(".detail")?.dataset.status;
    const newBox = body.querySelector("#reason");
    if (newBox && typed) newBox.value = typed;
    if (newBox && hadFocus) newBox.focus();
    bindForm();
    tick();
    if (before !== after) {
      const label = body.querySelector(".status-block .status")?.textContent || after;
      announce(`This request is now ${label.toLowerCase()}.`);
    } else {
      announce("This request was updated.");
    }
  }

  function bindForm() {
    const form = body && body.querySelector("form.decide");
    if (!form) return;
    let sent = false;
    form.addEventListener("submit", (event) => {
      const box = form.querySelector("#reason");
      const submitter = event.submitter;
      if (sent) { event.preventDefault(); return; }
      if (submitter && submitter.value === "deny" && !box.value.trim()) {
        event.preventDefault();
        let error = form.querySelector("#reason-error");
        if (!error) {
          error = document.createElement("p");
          error.className = "field-error";
          error.id = "reason-error";
          box.insertAdjacentElement("afterend", error);
          box.setAttribute("aria-describedby", "reason-hint reason-error");
        }
        error.textContent = "Give a reason to deny.";
        box.setAttribute("aria-invalid", "true");
        box.focus();
        return;
      }
      sent = true;
      form.setAttribute("aria-busy", "true");
      setTimeout(() => { for (const button of form.querySelectorAll("button")) button.disabled = true; }, 0);
    });
    form.querySelector("#reason").addEventListener("input", (event) => {
      if (event.target.value.trim()) event.target.removeAttribute("aria-invalid");
    });
  }

  // --- start ----------------------------------------------------------------------------------

  if (queueConfig) {
    const count = known.size;
    if (count) document.title = `(${count}) ${document.title}`;
  } else {
    bindForm();
  }
  tick();
  setInterval(tick, 20000);
  connect();
})();

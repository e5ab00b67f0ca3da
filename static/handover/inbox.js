// The live inbox of human agents (SPEC 8): keeps the server-rendered page in step with
// /ws/inbox/. The socket's snapshot on (re)connect is the truth and re-renders everything;
// events are small and the page re-reads what it shows. Text is only ever set with
// textContent, never innerHTML.
(() => {
  "use strict";

  const cfg = JSON.parse(document.getElementById("inbox-config").textContent);
  const root = document.getElementById("inbox");
  const lists = {
    offers: document.getElementById("list-offers"),
    mine: document.getElementById("list-mine"),
    snoozed: document.getElementById("list-snoozed"),
    queue: document.getElementById("list-queue"),
  };
  const pane = document.getElementById("conversation");
  const details = document.getElementById("details");
  const announcer = document.getElementById("announcer");
  const toasts = document.getElementById("toasts");
  const LEAVE_MS = 4000;

  const state = {
    handoffs: new Map(), // handoff id -> handoff (as handoff_json) + receivedAt, changedAt
    leaving: new Map(), // handoff id -> who claimed it (shown for a moment, then removed)
    gone: new Set(), // handoff ids that must not come back from a late fetch
    previews: new Map(), // handoff id -> pack preview of a hot offer
    unread: new Map(), // conversation id -> count
    lastText: new Map(), // conversation id -> last message preview
    typing: new Set(), // conversation ids where an AI agent is writing a reply
    online: [],
    approvals: 0,
    selected: null, // conversation id of the open conversation
    current: null, // handoff id of the item that has the roving focus
    detail: null, // {conversation, handoff, messages}
    notice: null, // banner of the open conversation
    pendingSends: [],
  };

  // --- small helpers ------------------------------------------------------------------------

  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  const urlFor = (template, id) => template.replace(/0{8}-0{4}-0{4}-0{4}-0{12}|\/0\//, (m) =>
    m.startsWith("/") ? `/${id}/` : id);

  // Times in the person's locale, as on every page (static/js/local-time.js).
  function timeOf(iso) {
    if (!iso) return "";
    return window.localTime ? window.localTime.format(iso, "time") : new Date(iso).toLocaleTimeString();
  }

  function fullTimeOf(iso) {
    if (!iso) return "";
    return window.localTime ? window.localTime.format(iso, "full") : new Date(iso).toLocaleString();
  }

  function timeNode(iso, attrs = {}) {
    return h("time", { datetime: iso, title: fullTimeOf(iso), "data-localized": "time", ...attrs }, timeOf(iso));
  }

  function minutesText(total) {
    if (total < 1) return "just now";
    if (total < 60) return `${total} min`;
    const hours = Math.floor(total / 60);
    const rest = total % 60;
    return rest ? `${hours} h ${rest} min` : `${hours} h`;
  }

  function waitingNow(handoff) {
    return handoff.waitingMinutes + Math.floor((Date.now() - handoff.receivedAt) / 60000);
  }

  // Past a response target of its priority (first response, resolution): static/handover/targets.js
  // counts down in the ".target-clock" that targetClock() leaves in the card and the header.
  function breached(handoff) {
    const now = Date.now();
    if (handoff.firstResponseDueAt && !handoff.firstRespondedAt && now > Date.parse(handoff.firstResponseDueAt)) return true;
    if (handoff.resolutionDueAt && now > Date.parse(handoff.resolutionDueAt)) return true;
    return Boolean(handoff.breached);
  }

  function targetClock(handoff) {
    if (!handoff || !handoff.firstResponseDueAt) return null;
    return h("span", {
      class: "target-clock",
      "data-first-response-due": handoff.firstResponseDueAt,
      "data-resolution-due": handoff.resolutionDueAt,
      "data-responded": handoff.firstRespondedAt ? "true" : null,
      "data-band": handoff.priorityBand,
      // a snooze pauses the resolution target (handover/targets.py): the due time above
      // already counts it
      "data-paused-until": isSnoozed(handoff) ? handoff.snoozedUntil : null,
    });
  }

  // An open handoff's priority, set by hand (handover/priority.py): the queue re-sorts and the
  // targets follow; every inbox hears handoff.prioritized.
  function prioritySelect(handoff, level) {
    const select = h("select", { class: `prio-select prio-${level}`, "aria-label": "Priority", id: "priority-select" },
      ["urgent", "high", "medium", "low"].map((band) =>
        h("option", { value: band, selected: band === level ? "" : null }, band[0].toUpperCase() + band.slice(1))));
    select.addEventListener("change", async () => {
      try {
        await postJSON(urlFor(cfg.priorityUrl, handoff.id), { priority: select.value });
        toast(`Priority set to ${select.value}.`, "success");
      } catch (error) {
        toast(error.message || "The priority was not changed.", "error");
        select.value = level;
      }
    });
    return select;
  }

  // A handoff's priority changed (by anyone): one in this inbox's lists is read again, with its
  // new targets, so the lists re-sort and the card's clock and the open pack follow.
  function prioritized(event) {
    if (state.handoffs.has(event.handoffId)) refreshHandoff(event);
  }

  function priorityOf(p) {
    if (p >= 40) return ["urgent", "Urgent"];
    if (p >= 20) return ["high", "High"];
    if (p >= 10) return ["medium", "Medium"];
    return ["low", "Low"];
  }

  function agentName(slug) {
    return (cfg.agents && cfg.agents[slug]) || slug || "AI";
  }

  function announce(text) {
    announcer.textContent = "";
    // A fresh text node after a tick makes screen readers read repeated announcements.
    setTimeout(() => { announcer.textContent = text; }, 30);
  }

  function toast(text, kind = "info") {
    const node = h("div", { class: `toast toast-${kind}`, role: kind === "error" ? "alert" : "status" }, text);
    toasts.append(node);
    setTimeout(() => node.classList.add("out"), 4200);
    setTimeout(() => node.remove(), 4700);
  }

  async function getJSON(url) {
    const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (response.status === 401 || response.status === 403) throw new Error("not allowed");
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    return response.json();
  }

  // a POST of the page's own doors, with `data` as JSON when given; a refusal throws an Error
  // with the server's words, its code and the fields it names
  async function postJSON(url, data) {
    const headers = { "X-CSRFToken": cfg.csrfToken, Accept: "application/json" };
    if (data !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers,
      body: data === undefined ? undefined : JSON.stringify(data),
    });
    let body = {};
    try { body = await response.json(); } catch (_) { /* empty */ }
    if (!response.ok) {
      const error = new Error((body.error && body.error.message) || `HTTP ${response.status}`);
      error.code = body.error && body.error.code;
      error.fields = (body.error && body.error.fields) || {};
      throw error;
    }
    return body;
  }

  // --- the socket: reconnect with backoff, heartbeat, snapshot on open -----------------------

  let socket = null;
  let attempts = 0;
  let beat = null;
  let retryTimer = null;
  let resyncTimer = null;

  function setConnection(kind, text) {
    root.dataset.connection = kind;
    document.querySelector("#connection .label").textContent = text;
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
      setConnection("open", "Live");
      clearInterval(beat);
      beat = setInterval(() => send({ type: "heartbeat" }), cfg.heartbeatSeconds * 1000);
      watch(); // a new socket hears the open conversation's typing again
    });
    ws.addEventListener("message", (event) => {
      let data;
      try { data = JSON.parse(event.data); } catch (_) { return; }
      handle(data);
    });
    ws.addEventListener("close", (event) => {
      if (socket !== ws) return;
      clearInterval(beat);
      socket = null;
      delete root.dataset.synced;
      if (event.code === 4401) {
        setConnection("closed", "Signed out");
        location.assign(`/accounts/login/?next=${encodeURIComponent(location.pathname)}`);
        return;
      }
      if (event.code === 4403) {
        setConnection("closed", "Not allowed");
        return;
      }
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

  function resyncSoon() {
    clearTimeout(resyncTimer);
    resyncTimer = setTimeout(() => send({ type: "resync" }), 250);
  }

  window.addEventListener("online", () => { if (!socket) { attempts = 0; connect(); } });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && !socket) { attempts = 0; connect(); }
  });

  // --- events ---------------------------------------------------------------------------------

  function handle(event) {
    document.dispatchEvent(new CustomEvent("inbox:event", { detail: event })); // inbox_tools.js
    switch (event.type) {
      case "inbox.snapshot": applySnapshot(event); break;
      case "handoff.offered":
      case "handoff.queued":
      case "handoff.expired": refreshHandoff(event); break;
      case "handoff.claimed": claimedByAnyone(event); break;
      case "handoff.assigned": assigned(event); break;
      case "handoff.claim.result": claimResult(event); break;
      case "message.created": if (event.message) messageCreated(event.message); break;
      case "message.send.result": sendResult(event); break;
      case "message.updated": if (event.message) messageUpdated(event.message); break;
      case "conversation.updated": conversationUpdated(event); break;
      case "conversation.erased": conversationsErased(event.conversationIds || []); break;
      case "handoff.snoozed": snoozed(event); break;
      case "handoff.prioritized": prioritized(event); break;
      case "agent.typing": agentTyping(event); break;
      case "conversation.watch.result":
        if (event.ok) agentTyping({ conversationId: event.conversationId, typing: event.agentTyping });
        break;
      case "presence": setOnline(event.online || []); break;
      case "limit.changed": showLimit(event.myLimit); renderLists(); break;
      case "approval.requested":
      case "approval.decided": resyncSoon(); activityChanged(event); break;
      default: break;
    }
  }

  // What the AI did changed (an approval asked for or decided, an action carried out): the open
  // conversation re-reads its transcript and brief.
  function activityChanged(event) {
    if (state.selected && state.selected === event.conversationId) {
      loadConversation(state.selected, { quiet: true });
    }
  }

  function store(handoff) {
    const copy = { ...handoff, receivedAt: Date.now(), changedAt: Date.now() };
    if (!copy.pack && state.previews.has(copy.id)) copy.pack = state.previews.get(copy.id);
    state.handoffs.set(copy.id, copy);
    return copy;
  }

  function applySnapshot(snapshot) {
    root.dataset.synced = "true";
    const seen = new Set();
    state.handoffs.clear();
    for (const handoff of snapshot.handoffs || []) {
      if (handoff.status === "claimed" && handoff.claimedBy !== cfg.me) continue;
      store(handoff);
      seen.add(handoff.id);
      state.gone.delete(handoff.id);
    }
    for (const id of [...state.leaving.keys()]) if (seen.has(id)) state.leaving.delete(id);
    const conversations = new Set([...state.handoffs.values()].map((x) => x.conversationId));
    for (const id of [...state.unread.keys()]) if (!conversations.has(id)) state.unread.delete(id);
    state.approvals = (snapshot.approvals || []).length;
    setOnline(snapshot.online || []);
    showLimit(snapshot.myLimit);
    renderLists();
    for (const handoff of state.handoffs.values()) if (!handoff.pack) loadPreview(handoff);
    if (state.selected) loadConversation(state.selected, { quiet: true });
  }

  async function loadPreview(handoff) {
    try {
      const data = await getJSON(urlFor(cfg.conversationUrl, handoff.conversationId));
      if (data.handoff && data.handoff.pack) {
        state.previews.set(handoff.id, data.handoff.pack);
        const known = state.handoffs.get(handoff.id);
        if (known) { known.pack = data.handoff.pack; renderLists(); }
      }
    } catch (_) { /* the list still shows the reason */ }
  }

  async function refreshHandoff(event) {
    const asked = Date.now();
    let data;
    try {
      data = await getJSON(urlFor(cfg.conversationUrl, event.conversationId));
    } catch (_) {
      resyncSoon();
      return;
    }
    const handoff = data.handoff;
    if (!handoff || handoff.id !== event.handoffId || state.gone.has(handoff.id)) return;
    // a newer word on it came while this read was on its way (the person's own claim went
    // through): this read may be older than that, and must not undo it
    const known = state.handoffs.get(handoff.id);
    if (known && known.changedAt > asked) return;
    const open = ["offered", "queued"].includes(handoff.status) ||
      (handoff.status === "claimed" && handoff.claimedBy === cfg.me);
    if (!open) return;
    const isNew = !state.handoffs.has(handoff.id);
    if (handoff.pack && handoff.pack.preview) state.previews.set(handoff.id, handoff.pack);
    store(handoff);
    renderLists();
    if (state.selected === handoff.conversationId) renderDetail(data);
    if (event.type === "handoff.offered" && isNew) {
      announce(`New live offer from ${handoff.customer}. ${handoff.pack ? handoff.pack.summary : handoff.reason}`);
      alertHotOffer(handoff);
    } else if (event.type === "handoff.expired") {
      announce(`The offer from ${handoff.customer} was not claimed in time and moved to the queue.`);
    } else if (event.type === "handoff.queued" && isNew) {
      announce(`New handoff in the queue from ${handoff.customer}.`);
    }
  }

  function claimedByAnyone(event) {
    const handoff = state.handoffs.get(event.handoffId);
    if (event.by === cfg.me) {
      if (handoff) {
        handoff.status = "claimed";
        handoff.claimedBy = cfg.me;
        handoff.claimedAt = handoff.claimedAt || new Date().toISOString();
        handoff.changedAt = Date.now();
        renderLists();
      }
      return;
    }
    state.gone.add(event.handoffId);
    if (handoff) {
      state.leaving.set(event.handoffId, event.by);
      renderLists();
      announce(`The offer from ${handoff.customer} was claimed by ${event.by}.`);
      setTimeout(() => dropHandoff(event.handoffId), LEAVE_MS);
    }
    if (state.selected === event.conversationId) {
      state.notice = { kind: "warn", text: `${event.by} claimed this conversation.`, forState: "with_human" };
      loadConversation(event.conversationId, { quiet: true });
    }
  }

  // The tenant gives its queue out (handover/assignment.py): a queued conversation was given to
  // this person, as if they had claimed it.
  function assigned(event) {
    const words = event.by ? `${event.by} gave you ${event.customer}.` : `${event.customer} was given to you from the queue.`;
    toast(words, "info");
    announce(words);
    if (preference(SOUND_KEY)) beep();
    const handoff = state.handoffs.get(event.handoffId);
    if (!handoff || handoff.claimedBy !== cfg.me) send({ type: "resync" });
  }

  function dropHandoff(id) {
    // a snapshot meanwhile gave it back to this person (a colleague passed it on to them)
    if (!state.leaving.has(id)) return;
    const handoff = state.handoffs.get(id);
    state.handoffs.delete(id);
    state.leaving.delete(id);
    if (handoff) state.unread.delete(handoff.conversationId);
    renderLists();
  }

  const claiming = new Set();

  function claim(handoffId) {
    const handoff = state.handoffs.get(handoffId);
    if (!handoff || claiming.has(handoffId) || state.leaving.has(handoffId)) return;
    if (handoff.status === "claimed") { openConversation(handoff.conversationId); return; }
    claiming.add(handoffId);
    renderLists();
    if (!send({ type: "handoff.claim", handoffId })) {
      claimOverHttp(handoffId);
      return;
    }
    // A socket that drops right after the claim left loses the answer: ask over HTTP then.
    setTimeout(() => { if (claiming.has(handoffId)) claimOverHttp(handoffId); }, 4000);
  }

  function claimOverHttp(handoffId) {
    postJSON(urlFor(cfg.claimUrl, handoffId))
      .then((body) => claimResult({ handoffId, ok: true, conversationId: body.conversationId }))
      .catch((error) => claimResult({ handoffId, ok: false, code: error.code, error: error.message }));
  }

  async function claimResult(result) {
    if (!claiming.has(result.handoffId)) return; // answered already (socket or HTTP)
    claiming.delete(result.handoffId);
    const handoff = state.handoffs.get(result.handoffId);
    if (result.ok) {
      if (handoff) {
        handoff.status = "claimed";
        handoff.claimedBy = cfg.me;
        handoff.claimedAt = handoff.claimedAt || new Date().toISOString();
        handoff.changedAt = Date.now();
      }
      renderLists();
      announce(`You claimed the conversation${handoff ? ` with ${handoff.customer}` : ""}.`);
      await openConversation(result.conversationId, { focusComposer: true });
      return;
    }
    if (result.code === "at_capacity") {
      // the offer is still open: it stays in the list, to claim once a conversation is done
      renderLists();
      toast(result.error, "error");
      announce(`Not claimed: ${result.error}`);
      return;
    }
    let by = null;
    if (handoff) {
      try {
        const data = await getJSON(urlFor(cfg.conversationUrl, handoff.conversationId));
        by = data.handoff && data.handoff.claimedBy;
      } catch (_) { /* unknown */ }
    }
    if (by === cfg.me) {
      await claimResultMine(result.handoffId, handoff);
      return;
    }
    const who = by || "someone else";
    toast(`Too late: this conversation was claimed by ${who}.`, "error");
    announce(`Claim failed: claimed by ${who}.`);
    if (handoff && by !== cfg.me) {
      state.gone.add(result.handoffId);
      state.leaving.set(result.handoffId, who);
      renderLists();
      setTimeout(() => dropHandoff(result.handoffId), LEAVE_MS);
    }
  }

  async function claimResultMine(handoffId, handoff) {
    claiming.add(handoffId);
    await claimResult({ handoffId, ok: true, conversationId: handoff.conversationId });
  }

  function messageCreated(message) {
    const cid = message.conversationId;
    // the card's last line: what someone said; a note the system wrote (a priority changed, a
    // transfer, a mail's files) stays in the thread, not on the card
    if (!(message.role === "note" && message.author === "system")) state.lastText.set(cid, message);
    if (message.role === "human") {  // the first response stops its target's clock
      for (const ho of state.handoffs.values()) {
        if (ho.conversationId === cid && !ho.firstRespondedAt) ho.firstRespondedAt = message.createdAt;
      }
      // the open conversation's header counts to the resolution from now on, as its card does
      if (state.selected === cid) {
        for (const clock of pane.querySelectorAll(".conv-head .target-clock")) clock.dataset.responded = "true";
      }
    }
    if (state.detail && state.selected === cid) {
      if (!state.detail.messages.some((m) => m.id === message.id)) {
        state.detail.messages.push(message);
        appendMessage(message);
        // a system message tells of an approval or an action (agents get no approval events):
        // the transcript and the brief re-read what the AI did
        if (message.role === "system") activityChanged({ conversationId: cid });
      }
      renderLists();
      return;
    }
    const known = [...state.handoffs.values()].find((x) => x.conversationId === cid);
    if (!known) return;
    if (message.role === "customer" || (message.role === "human" && known.claimedBy !== cfg.me)) {
      state.unread.set(cid, (state.unread.get(cid) || 0) + 1);
      if (known.claimedBy === cfg.me) announce(`New message from ${known.customer}.`);
    }
    renderLists();
  }

  const CANNED_DONE = { resolve: "and resolved", snooze: "and snoozed until the customer writes", hand_back: "and handed back to the AI" };

  function sendResult(result) {
    const { text, canned } = state.pendingSends.shift() || {};
    if (result.ok) {
      if (canned) toast(`Sent${CANNED_DONE[result.then] ? `, ${CANNED_DONE[result.then]}` : ""}.`, "success");
      return;
    }
    toast(`Not sent: ${result.error || "unknown error"}`, "error");
    const box = pane.querySelector("textarea");
    if (box && text && !box.value) {
      box.value = text;
      if (canned) box.dispatchEvent(new CustomEvent("canned:set", { detail: canned }));
    }
  }

  // an AI agent writing a reply in a conversation (its reply then comes as message.created)
  function agentTyping(event) {
    if (event.typing) state.typing.add(event.conversationId);
    else state.typing.delete(event.conversationId);
    if (state.detail && state.selected === event.conversationId) renderDetail(state.detail);
  }

  function conversationUpdated(event) {
    if (event.state === "resolved") {
      for (const handoff of [...state.handoffs.values()]) {
        if (handoff.conversationId === event.conversationId) {
          state.handoffs.delete(handoff.id);
          state.gone.add(handoff.id);
        }
      }
      state.unread.delete(event.conversationId);
      renderLists();
    }
    if (state.detail && state.selected === event.conversationId) {
      state.detail.conversation.state = event.state;
      renderDetail(state.detail);
    }
  }

  // A customer's conversations were erased at their request (orchestration/erasure.py): their
  // cards go, and the one open here is no more.
  function conversationsErased(ids) {
    for (const id of ids) conversationUpdated({ conversationId: id, state: "resolved" });
    if (!ids.includes(state.selected)) return;
    state.selected = null;
    state.detail = null;
    pane.replaceChildren(h("div", { class: "placeholder" },
      h("h2", {}, "This conversation was erased"),
      h("p", {}, "Its customer's data was erased at their request: nothing of it is kept.")));
    details.replaceChildren();
    toast("A conversation you had open was erased at the customer's request.", "info");
  }

  function setOnline(names) {
    state.online = names;
    const list = document.querySelector("#online .online-list");
    list.replaceChildren(
      ...names.map((name) => h("li", { class: name === cfg.me ? "me" : null, title: name },
        h("span", { class: "avatar small", "aria-hidden": "true" }, name.slice(0, 1).toUpperCase()),
        h("span", { class: "name" }, name === cfg.me ? `${name} (you)` : name))),
    );
    if (!names.length) list.append(h("li", { class: "nobody" }, "nobody"));
    const link = document.getElementById("approvals-link");
    if (cfg.approvalsUrl && state.approvals) {
      link.hidden = false;
      link.href = cfg.approvalsUrl;
      link.textContent = `${state.approvals} approval${state.approvals === 1 ? "" : "s"} waiting`;
    } else {
      link.hidden = true;
    }
  }

  // --- the left pane ------------------------------------------------------------------------

  function groupOf(handoff) {
    if (handoff.status === "offered") return "offers";
    if (handoff.status === "claimed") return isSnoozed(handoff) ? "snoozed" : "mine";
    return "queue";
  }

  // Put aside by its holder until then, or until the customer writes (handover/snooze.py).
  function isSnoozed(handoff) {
    return Boolean(handoff.snoozedUntil) && Date.parse(handoff.snoozedUntil) > Date.now();
  }

  function snoozeText(iso) {
    const when = new Date(iso);
    const sameDay = when.toDateString() === new Date().toDateString();
    const time = when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    return sameDay ? time : `${when.toLocaleDateString([], { weekday: "short", day: "numeric", month: "short" })} ${time}`;
  }

  // A snooze ends by itself when its time comes: the lists are drawn again then (and told).
  let wakeTimer = null;
  function scheduleWake() {
    clearTimeout(wakeTimer);
    const next = Math.min(...[...state.handoffs.values()].filter(isSnoozed).map((x) => Date.parse(x.snoozedUntil)));
    if (!Number.isFinite(next)) return;
    wakeTimer = setTimeout(() => {
      for (const handoff of state.handoffs.values()) {
        if (handoff.snoozedUntil && !isSnoozed(handoff)) {
          handoff.snoozedUntil = null;
          toast(`${handoff.customer} is back from snooze.`, "info");
        }
      }
      renderLists();
    }, Math.min(Math.max(next - Date.now() + 50, 50), 2 ** 31 - 1));
  }

  function snoozed(event) {
    for (const handoff of state.handoffs.values()) {
      if (handoff.id !== event.handoffId && handoff.conversationId !== event.conversationId) continue;
      handoff.snoozedUntil = event.snoozedUntil;
      if (event.woke === "customer") toast(`${handoff.customer} wrote: back from snooze.`, "info");
      // the resolution target moved with the snooze: read its new due time
      refreshHandoff({ type: event.type, handoffId: handoff.id, conversationId: handoff.conversationId });
    }
    renderLists();
    if (state.selected === event.conversationId) loadConversation(state.selected, { quiet: true });
  }

  function sorted(handoffs) {
    return handoffs.sort((a, b) => (b.priority - a.priority) ||
      (new Date(a.createdAt) - new Date(b.createdAt)) || (a.id - b.id));
  }

  function itemFor(handoff) {
    const [level, label] = priorityOf(handoff.priority);
    const leavingBy = state.leaving.get(handoff.id);
    const unread = state.unread.get(handoff.conversationId) || 0;
    const last = state.lastText.get(handoff.conversationId);
    const isBreached = breached(handoff);
    const waited = waitingNow(handoff);
    let preview = handoff.pack ? handoff.pack.summary : (handoff.reason || "Handed over");
    if (handoff.status === "claimed" && last) {
      preview = last.role === "system" // a notice to the customer: its words, not "system: …"
        ? last.text
        : `${last.role === "customer" ? handoff.customer : last.author}: ${window.messageFiles.summary(last)}`;
    }
    const classes = ["item"];
    if (isBreached) classes.push("breached");
    if (leavingBy) classes.push("leaving");
    if (state.selected === handoff.conversationId) classes.push("selected");
    if (unread) classes.push("has-unread");
    const claimable = !leavingBy && handoff.status !== "claimed";
    const waitingLabel = isSnoozed(handoff) ? `snoozed until ${snoozeText(handoff.snoozedUntil)} or a reply`
      : handoff.status === "claimed" ? claimedLabel(handoff) : `waiting ${minutesText(waited)}`;
    const node = h("li", {
      class: classes.join(" "),
      tabindex: "-1",
      "data-handoff": handoff.id,
      "data-conversation": handoff.conversationId,
      "data-status": leavingBy ? "gone" : handoff.status,
      "aria-current": state.selected === handoff.conversationId ? "true" : null,
      "aria-label": `${handoff.customer}, ${label} priority, ${handoff.status === "offered" ? "live offer" : handoff.status}, ${waitingLabel}${unread ? `, ${unread} unread` : ""}${isBreached ? ", over the response target" : ""}`,
    },
      h("div", { class: "item-top" },
        h("span", { class: "avatar", "aria-hidden": "true" }, (handoff.customer || "?").slice(0, 1).toUpperCase()),
        h("span", { class: "customer" }, handoff.customer || "Customer"),
        handoff.mode === "hot" && handoff.status === "offered" ? h("span", { class: "badge live" }, "Live") : null,
        h("span", { class: `badge prio prio-${level}` }, label),
        unread ? h("span", { class: "unread", title: `${unread} unread` }, String(unread)) : null,
      ),
      h("p", { class: "preview" }, preview.length > 150 ? `${preview.slice(0, 147)}…` : preview),
      (handoff.tags || []).length ? h("p", { class: "item-tags" }, ...handoff.tags.map((name) => h("span", { class: "tag-chip" }, name))) : null,
      h("div", { class: "item-meta" },
        h("span", { class: "channel" }, handoff.channel),
        handoff.group ? groupChip(handoff) : null,
        window.inboxViewers ? window.inboxViewers.chip(handoff.conversationId) : null,
        h("span", { class: "wait", title: `Handed over at ${timeOf(handoff.createdAt)}` }, waitingLabel),
        targetClock(handoff),
        isBreached ? h("span", { class: "breach", title: `Response target: ${handoff.responseTargetMinutes} min` }, "over target") : null,
        handoff.status === "offered" && handoff.offerExpiresAt && !leavingBy
          ? h("span", {
            class: `expires${expiresSoon(handoff.offerExpiresAt) ? " soon" : ""}`,
            "data-expires": handoff.offerExpiresAt,
            role: "timer",
            "aria-label": "Time left to claim",
          }, expiresText(handoff.offerExpiresAt))
          : null,
        leavingBy ? h("span", { class: "claimed-by" }, `Claimed by ${leavingBy}`) : null,
        claimable ? h("button", {
          type: "button",
          class: "claim",
          tabindex: "-1",
          disabled: claiming.has(handoff.id),
          onclick: (event) => { event.stopPropagation(); claim(handoff.id); },
        }, claiming.has(handoff.id) ? "Claiming…" : "Claim") : null,
      ),
    );
    node.addEventListener("click", () => { setCurrent(handoff.id, false); openConversation(handoff.conversationId); });
    node.addEventListener("focus", () => setCurrent(handoff.id, false));
    return node;
  }

  // The group a handoff went to; once nobody of it took it in time, open to everyone
  // (handover/overflow.py): "Front → everyone"
  function groupChip(handoff) {
    if (!handoff.overflowedAt) return h("span", { class: "group", title: `For the group ${handoff.group}` }, handoff.group);
    return h("span", {
      class: "group overflowed",
      title: `Nobody of ${handoff.group} took it in time: open to everyone since ${timeOf(handoff.overflowedAt)}`,
    }, `${handoff.group} → everyone`);
  }

  // Minutes since the claim itself (not since the handoff was made): "claimed just now".
  function claimedLabel(handoff) {
    const since = handoff.claimedAt ? Math.max(0, Math.floor((Date.now() - Date.parse(handoff.claimedAt)) / 60000)) : 0;
    return since < 1 ? "claimed just now" : `claimed ${minutesText(since)} ago`;
  }

  // The countdown to the claim timeout of a live offer: "claim within 1:45".
  function expiresText(iso) {
    const seconds = Math.round((new Date(iso) - Date.now()) / 1000);
    if (seconds <= 0) return "moving to the queue";
    const rest = String(seconds % 60).padStart(2, "0");
    return `claim within ${Math.floor(seconds / 60)}:${rest}`;
  }

  function expiresSoon(iso) {
    return new Date(iso) - Date.now() < 30000;
  }

  // The person's limit of conversations: "1 of 3" beside "My conversations", and the line
  // above the live offers while they hold all of it. A manager may change it meanwhile.
  function showLimit(limit) {
    if (typeof limit === "number") cfg.myLimit = limit;
    const label = document.querySelector("#group-mine .limit");
    label.hidden = !(cfg.myLimit > 0);
    label.textContent = `of ${cfg.myLimit}`;
    document.getElementById("at-limit").textContent =
      `You hold your limit of ${cfg.myLimit} conversation${cfg.myLimit === 1 ? "" : "s"}: ` +
      "new live offers reach you once you resolve, hand back or transfer one.";
  }

  const QUEUE_FILTER_KEY = "inbox.queue.my-groups";
  const queueFilter = document.getElementById("queue-my-groups");
  if (queueFilter) {
    queueFilter.checked = preference(QUEUE_FILTER_KEY);
    queueFilter.addEventListener("change", () => { setPreference(QUEUE_FILTER_KEY, queueFilter.checked); renderLists(); });
  }

  function renderLists() {
    const focused = document.activeElement && document.activeElement.closest && document.activeElement.closest(".item");
    const focusedId = focused ? Number(focused.dataset.handoff) : null;
    const groups = { offers: [], mine: [], snoozed: [], queue: [] };
    for (const handoff of state.handoffs.values()) groups[groupOf(handoff)].push(handoff);
    // "Only my groups": the queue's handoffs of other groups of people are left out (a
    // handoff of no group stays, and one opened to everyone); how many, said beside the box
    const myGroupsOnly = queueFilter && queueFilter.checked;
    const forMe = (h) => !h.group || Boolean(h.overflowedAt) || cfg.myGroups.includes(h.group);
    const othersCount = myGroupsOnly ? groups.queue.filter((h) => !forMe(h)).length : 0;
    if (myGroupsOnly) groups.queue = groups.queue.filter(forMe);
    if (queueFilter) {
      const others = queueFilter.closest(".queue-filter").querySelector(".others");
      others.hidden = !othersCount;
      others.textContent = `${othersCount} more for other groups`;
    }
    for (const [name, list] of Object.entries(lists)) {
      const items = sorted(groups[name]).map(itemFor);
      list.replaceChildren(...items);
      const section = list.closest(".group");
      section.querySelector(".count").textContent = String(items.length);
      section.querySelector(".empty").hidden = items.length > 0;
      if (name === "snoozed") section.hidden = items.length === 0;
    }
    scheduleWake();
    // at the limit (snoozed conversations count: they are still held), no new live offer
    // reaches this person (and a claim is refused): say so
    const held = groups.mine.length + groups.snoozed.length;
    if (cfg.myLimit > 0) {
      document.querySelector("#group-mine .limit").textContent = groups.snoozed.length
        ? `+ ${groups.snoozed.length} snoozed, of ${cfg.myLimit}` : `of ${cfg.myLimit}`;
    }
    document.getElementById("at-limit").hidden = !(cfg.myLimit > 0 && held >= cfg.myLimit);
    const all = allItems();
    if (!all.some((node) => Number(node.dataset.handoff) === state.current)) {
      const selectedItem = all.find((node) => node.dataset.conversation === state.selected);
      state.current = selectedItem ? Number(selectedItem.dataset.handoff) : (all[0] ? Number(all[0].dataset.handoff) : null);
    }
    applyRovingFocus();
    if (focusedId !== null) {
      const again = itemById(focusedId) || itemById(state.current);
      if (again) again.focus({ preventScroll: true });
    }
    document.title = `${unreadTotal() ? `(${unreadTotal()}) ` : ""}Inbox · ${groups.offers.length} live`;
  }

  function unreadTotal() {
    let total = 0;
    for (const n of state.unread.values()) total += n;
    return total;
  }

  function allItems() {
    return [...document.querySelectorAll(".queue-pane .item")];
  }

  function itemById(id) {
    return document.querySelector(`.queue-pane .item[data-handoff="${Number(id)}"]`);
  }

  function applyRovingFocus() {
    for (const node of allItems()) {
      const isCurrent = Number(node.dataset.handoff) === state.current;
      node.tabIndex = isCurrent ? 0 : -1;
      const button = node.querySelector("button.claim");
      if (button) button.tabIndex = isCurrent ? 0 : -1;
    }
  }

  function setCurrent(id, focus = true) {
    state.current = id;
    applyRovingFocus();
    if (focus) {
      const node = itemById(id);
      if (node) { node.focus(); node.scrollIntoView({ block: "nearest" }); }
    }
  }

  function move(step) {
    const all = allItems();
    if (!all.length) return;
    let index = all.findIndex((node) => Number(node.dataset.handoff) === state.current);
    const inList = document.activeElement && document.activeElement.closest && document.activeElement.closest(".queue-pane .item");
    if (index < 0) index = 0;
    else if (inList) index = Math.max(0, Math.min(all.length - 1, index + step));
    setCurrent(Number(all[index].dataset.handoff));
  }

  // --- the conversation and its pack --------------------------------------------------------

  // On a narrow screen one pane shows at a time: the list, or the open conversation.
  function showPane(view) {
    root.dataset.view = view;
  }

  // Under 1100 px the pack pane is not beside the conversation: a button opens it over it.
  function packButton() {
    return h("button", {
      type: "button",
      class: "ghost pack-toggle",
      "aria-controls": "details",
      "aria-expanded": String(root.dataset.pack === "open"),
      onclick: (event) => {
        const open = root.dataset.pack !== "open";
        root.dataset.pack = open ? "open" : "closed";
        event.currentTarget.setAttribute("aria-expanded", String(open));
        if (open) details.focus();
      },
    }, "Brief");
  }

  function closePack() {
    root.dataset.pack = "closed";
    const toggle = pane.querySelector(".pack-toggle");
    if (toggle) { toggle.setAttribute("aria-expanded", "false"); toggle.focus(); }
  }

  function backButton() {
    return h("button", { type: "button", class: "ghost back", "aria-label": "Back to the list", onclick: () => {
      showPane("list");
      if (state.current !== null) setCurrent(state.current);
    } }, "\u2190 List");
  }

  // who is typing reaches only the sockets that watch the conversation (the one open here)
  function watch() {
    if (state.selected) send({ type: "conversation.watch", conversationId: state.selected });
  }

  async function openConversation(conversationId, options = {}) {
    showPane("conversation");
    root.dataset.pack = "closed";
    if (state.selected !== conversationId) state.notice = null;
    const changed = state.selected !== conversationId;
    state.selected = conversationId;
    if (changed) watch();
    state.unread.delete(conversationId);
    renderLists();
    await loadConversation(conversationId, options);
  }

  async function loadConversation(conversationId, options = {}) {
    let data;
    try {
      data = await getJSON(urlFor(cfg.conversationUrl, conversationId));
    } catch (error) {
      if (!options.quiet) toast(`Could not open the conversation (${error.message}).`, "error");
      return;
    }
    if (state.selected !== conversationId) return;
    renderDetail(data);
    if (options.focusComposer) {
      const box = pane.querySelector("textarea");
      if (box) box.focus();
    }
  }

  // A web page's address as a person reads it: its host and path ("shop.example/boots").
  function pageLabel(address) {
    try {
      const url = new URL(address);
      return `${url.host}${url.pathname === "/" ? "" : url.pathname}`;
    } catch (_) { return address; }
  }

  function roleLabel(message, customer) {
    if (message.role === "customer") return customer;
    if (message.role === "agent") return agentName(message.author);
    if (message.role === "human" || message.role === "note") return message.author;
    return "System";
  }

  function messageNode(message, customer) {
    if (message.role === "system") {
      return h("li", { class: "msg msg-system", "data-id": message.id },
        h("span", { class: "notice" }, message.text),
        timeNode(message.createdAt));
    }
    const note = message.role === "note";
    const mine = note && message.authorId != null && message.authorId === cfg.meId;
    return h("li", { class: `msg msg-${message.role}`, "data-id": message.id },
      h("div", { class: "msg-meta" },
        h("span", { class: "who" }, roleLabel(message, customer)),
        message.role === "agent" ? h("span", { class: "tag" }, "AI") : null,
        note ? h("span", { class: "tag tag-note" }, "Private note") : null,
        timeNode(message.createdAt),
        note && message.editedAt ? h("span", { class: "edited", title: `Edited ${new Date(message.editedAt).toLocaleString()}` }, "(edited)") : null,
        mine ? h("button", { type: "button", class: "link note-edit", "data-note": message.id, "aria-label": "Edit this note" }, "Edit") : null),
      window.messageFiles.node(message),
      window.messageFiles.onlyFiles(message) ? null : h("div", { class: "bubble" }, note ? noteText(message.text) : message.text));
  }

  // A note's text with the colleagues it names (@username, handover/mentions.py) marked; the
  // person reading is marked apart.
  const PEOPLE = new Set((cfg.people || []).map((p) => p.username.toLowerCase()));
  function noteText(text) {
    if (!PEOPLE.size || !text.includes("@")) return text;
    const parts = [];
    let last = 0;
    for (const found of text.matchAll(/(^|[^\w@])@([\w.@+-]+)/g)) {
      let name = found[2];
      while (name && !PEOPLE.has(name.toLowerCase())) name = name.slice(0, -1);
      if (!name || /[\w@-]/.test(text.charAt(found.index + found[1].length + 1 + name.length))) continue;
      const at = found.index + found[1].length;
      parts.push(text.slice(last, at),
        h("span", { class: `mention${name.toLowerCase() === cfg.me.toLowerCase() ? " mention-me" : ""}` }, `@${name}`));
      last = at + 1 + name.length;
    }
    parts.push(text.slice(last));
    return parts;
  }

  // A private note its author edited (inbox_tools.js sends the edit): the thread shows the new
  // text, marked "(edited)".
  function messageUpdated(message) {
    if (!state.detail || state.detail.conversation.id !== message.conversationId) return;
    state.detail.messages = state.detail.messages.map((m) => (m.id === message.id ? message : m));
    const node = pane.querySelector(`.transcript li[data-id="${message.id}"]`);
    if (node) node.replaceWith(messageNode(message, state.detail.conversation.customer));
  }

  // The messages and what the AI did (actions, approvals, executions, guardrails), in time
  // order; at the same instant a message comes first.
  function timeline(messages, activity) {
    const items = [
      ...messages.map((m, i) => ({ at: Date.parse(m.createdAt), order: 0, i, item: m })),
      ...activity.map((a, i) => ({ at: Date.parse(a.at), order: 1, i, item: a })),
    ];
    items.sort((a, b) => (a.at - b.at) || (a.order - b.order) || (a.i - b.i));
    return items.map((x) => x.item);
  }

  const STEP_LABELS = {
    requested: "Approval requested", approved: "Approved", denied: "Denied", expired: "Expired",
    executed: "Done", failed: "Failed", running: "In progress", rejected: "Rejected",
    blocked: "Guardrail", redacted: "Guardrail", email: "E-mail not sent",
  };

  function activityNode(step) {
    return h("li", {
      class: `msg msg-activity kind-${step.kind} step-${step.step}`,
      "data-step": step.step,
      "data-approval": step.approvalId,
      "data-execution": step.executionId,
    },
      h("div", { class: "activity-line" },
        h("span", { class: "activity-badge" }, (step.kind === "email" ? STEP_LABELS.email : STEP_LABELS[step.step]) || step.step),
        h("span", { class: "activity-text" }, step.text),
        timeNode(step.at)));
  }

  function appendMessage(message) {
    const list = pane.querySelector(".transcript");
    if (!list || !state.detail) return;
    list.append(messageNode(message, state.detail.conversation.customer));
    const scroller = pane.querySelector(".transcript-scroll");
    scroller.scrollTop = scroller.scrollHeight;
  }

  function stateChip(conversation, handoff) {
    const labels = {
      triaged: "New", active: "With the AI", stalled: "Stalled", at_risk: "At risk",
      handing_off: "Waiting for a person", with_human: "With a person", resolved: "Resolved",
    };
    let text = labels[conversation.state] || conversation.state;
    if (conversation.state === "with_human" && conversation.assignee) {
      text = conversation.assignee === cfg.me ? "With you" : `With ${conversation.assignee}`;
    }
    return h("span", { class: `chip state-${conversation.state}` }, text);
  }

  function renderDetail(data) {
    const reply = pane.querySelector("form.composer textarea");
    const previousDraft = reply ? reply.value : "";
    const hadFocus = Boolean(reply) && document.activeElement === reply;
    const caret = reply ? [reply.selectionStart, reply.selectionEnd] : null;
    // a canned reply that acts, inserted and not sent yet (inbox_tools.js): kept with the draft
    // when the same conversation is read again, or its tags and its "then" would be lost
    const sameConversation = Boolean(state.detail) && state.detail.conversation.id === data.conversation.id;
    const previousCanned = sameConversation && reply && reply.dataset.cannedReplyId ? Number(reply.dataset.cannedReplyId) : null;
    const editors = openEditors(data.conversation.id);
    state.detail = { ...data, messages: [...data.messages] };
    const { conversation, handoff } = data;
    dropStaleNotice(conversation, handoff);
    const mine = conversation.state === "with_human" && conversation.assignee === cfg.me;
    const claimable = handoff && ["offered", "queued"].includes(handoff.status) && !state.leaving.has(handoff.id);

    const actions = h("div", { class: "actions" });
    if (claimable) {
      actions.append(h("button", { type: "button", class: "primary", onclick: () => claim(handoff.id) }, "Claim"));
    }
    if (mine) {
      actions.append(
        h("button", { type: "button", class: "secondary", onclick: () => act("handBack") }, "Hand back to AI"),
        h("button", { type: "button", class: "success", onclick: () => act("resolve") }, "Resolve"),
      );
    }

    let banner = null;
    if (state.notice) banner = h("div", { class: `banner banner-${state.notice.kind}`, role: "status" }, state.notice.text);
    else if (conversation.state === "resolved") banner = h("div", { class: "banner banner-done", role: "status" }, "This conversation is resolved.");
    else if (conversation.state === "with_human" && !mine) banner = h("div", { class: "banner banner-warn" }, `${conversation.assignee || "Someone"} is handling this conversation.`);
    else if (claimable) banner = h("div", { class: "banner banner-info" }, handoff.status === "offered"
      ? "The customer is waiting live. Claim to take over the conversation."
      : "Queued for follow-up. Claim it to reply to the customer.");
    else if (!["with_human", "handing_off"].includes(conversation.state)) banner = h("div", { class: "banner banner-info" },
      state.typing.has(conversation.id) ? "The AI is handling this conversation: typing…" : "The AI is handling this conversation.");

    const transcript = h("ol", { class: "transcript", role: "log", "aria-label": `Messages with ${conversation.customer}` },
      timeline(data.messages, data.activity || []).map((item) =>
        item.kind ? activityNode(item) : messageNode(item, conversation.customer)));

    let composer = null;
    if (mine) {
      const box = h("textarea", {
        rows: "2",
        "aria-label": `Reply to ${conversation.customer}`,
        placeholder: conversation.channel === "email"
          ? `Reply to ${conversation.customer} (sent by e-mail)… (Enter to send, Shift+Enter for a new line)`
          : `Reply to ${conversation.customer}… (Enter to send, Shift+Enter for a new line)`,
        maxlength: "10000",
      });
      box.value = previousDraft;
      box.addEventListener("keydown", (event) => {
        if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
          event.preventDefault();
          submitReply(box);
        }
      });
      composer = h("form", { class: "composer", onsubmit: (event) => { event.preventDefault(); submitReply(box); } },
        box, h("button", { type: "submit", class: "primary" }, "Send"));
    }

    pane.replaceChildren(...[
      h("header", { class: "conv-head" },
        backButton(),
        h("div", { class: "conv-title" },
          h("span", { class: "avatar large", "aria-hidden": "true" }, (conversation.customer || "?").slice(0, 1).toUpperCase()),
          h("div", {},
            h("h2", {}, conversation.customer),
            h("p", { class: "sub" },
              stateChip(conversation, handoff),
              conversation.customerVerified ? h("span", {
                class: "verified", id: "customer-verified",
                title: "Signed in on your website, which signed who they are: their id, name and e-mail address",
              }, `✓ Signed in as ${conversation.customerId}`) : null,
              h("span", {}, `${conversation.channel} · started ${timeOf(conversation.createdAt)} · ${conversation.turns} customer message${conversation.turns === 1 ? "" : "s"}`),
              handoff && ["offered", "queued", "claimed"].includes(handoff.status) ? targetClock(state.handoffs.get(handoff.id) || handoff) : null))),
        h("div", { class: "head-buttons" }, packButton(), actions)),
      banner,
      h("div", { class: "transcript-scroll" }, transcript),
      composer,
    ].filter(Boolean));
    const scroller = pane.querySelector(".transcript-scroll");
    scroller.scrollTop = scroller.scrollHeight;
    if (hadFocus && composer) {
      const box = composer.querySelector("textarea");
      box.focus();
      if (caret) box.setSelectionRange(caret[0], caret[1]);
    }
    renderPack(data);
    document.dispatchEvent(new CustomEvent("inbox:detail", { detail: state.detail }));
    if (composer && previousCanned && previousDraft.trim()) {
      composer.querySelector("textarea").dispatchEvent(new CustomEvent("canned:set", { detail: previousCanned }));
    }
    putBack(editors);
  }

  // What a person is writing beside the conversation (the customer's details, what is known of
  // them, a note being edited) stays when the conversation is read again (a colleague's note,
  // the customer's details changed elsewhere, a reconnect): such a form carries
  // `data-keep-for` (the conversation's id) and `keep()`, which puts it back in the new page
  // and answers whether its place is still there. The focus stays where it was.
  function openEditors(conversationId) {
    return {
      forms: [...document.querySelectorAll("[data-keep-for]")].filter((form) => form.dataset.keepFor === String(conversationId)),
      active: document.activeElement,
    };
  }

  function putBack({ forms, active }) {
    for (const form of forms) if (!form.isConnected) form.keep();
    if (active && active !== document.activeElement && active.isConnected) active.focus();
  }

  // A banner tells the truth of a moment ("Handed back to the AI"): once the conversation has
  // moved on (a new offer, someone claimed it), it goes.
  function dropStaleNotice(conversation, handoff) {
    const notice = state.notice;
    if (!notice) return;
    const moved = notice.forState && conversation.state !== notice.forState;
    const newOffer = handoff && ["offered", "queued"].includes(handoff.status) && notice.kind === "done";
    if (moved || newOffer) state.notice = null;
  }

  function submitReply(box) {
    const text = box.value.trim();
    if (!text || !state.detail) return;
    // a canned reply with actions inserted (inbox_tools.js): they are done with the reply
    const canned = box.dataset.cannedReplyId ? Number(box.dataset.cannedReplyId) : null;
    const frame = { type: "message.send", conversationId: state.detail.conversation.id, text };
    if (canned) frame.cannedReplyId = canned;
    if (!send(frame)) {
      toast("You are offline; the message was not sent. It will stay here until you reconnect.", "error");
      return;
    }
    state.pendingSends.push({ text, canned });
    box.value = "";
    box.dispatchEvent(new CustomEvent("canned:set", { detail: null }));
  }

  async function act(kind) {
    if (!state.detail) return;
    const conversation = state.detail.conversation;
    const url = urlFor(kind === "resolve" ? cfg.resolveUrl : cfg.handBackUrl, conversation.id);
    try {
      const body = await postJSON(url);
      for (const handoff of [...state.handoffs.values()]) {
        if (handoff.conversationId === conversation.id) {
          state.handoffs.delete(handoff.id);
          state.gone.add(handoff.id);
        }
      }
      state.notice = kind === "resolve"
        ? { kind: "done", text: "Resolved. Nice work.", forState: body.state }
        : { kind: "done", text: "Handed back to the AI assistant.", forState: body.state };
      toast(kind === "resolve" ? `Resolved the conversation with ${conversation.customer}.` : `Handed ${conversation.customer} back to the AI.`, "success");
      announce(state.notice.text);
      renderLists();
      await loadConversation(body.conversationId, { quiet: true });
      const next = allItems()[0];
      if (next) setCurrent(Number(next.dataset.handoff));
    } catch (error) {
      toast(`Could not ${kind === "resolve" ? "resolve" : "hand back"}: ${error.message}`, "error");
    }
  }

  function chips(values) {
    return h("ul", { class: "chips" }, values.map((v) => h("li", {}, v)));
  }

  function renderPack(data) {
    const { handoff, conversation } = data;
    if (!handoff) {
      details.replaceChildren(h("div", { class: "placeholder small" }, h("p", {}, "No handoff for this conversation.")));
      return;
    }
    const pack = handoff.pack || {};
    const keys = pack.keyDetails || {};
    const keyRows = [
      ["Order ids", keys.orderIds], ["Amounts", keys.amounts], ["E-mails", keys.emails], ["Dates", keys.dates],
    ].filter(([, values]) => values && values.length);
    const [level, label] = priorityOf(handoff.priority);
    const sentiment = pack.sentiment || {};
    const values = sentiment.values || [];
    const waited = waitingNow({ ...handoff, receivedAt: Date.now() });

    // At a glance first: the brief and the next steps; then the facts and the details.
    details.replaceChildren(
      h("button", { type: "button", class: "ghost pack-close", onclick: closePack }, "Close"),
      briefSection(pack),
      h("section", { class: "pack-section" },
        h("h2", {}, "Suggested next steps"),
        (pack.suggestions || []).length
          ? h("ol", { class: "suggestions" }, pack.suggestions.map((s) => h("li", {}, s)))
          : h("p", { class: "muted" }, "No suggestions.")),
      h("section", { class: "pack-section" },
        h("h2", {}, "Handoff"),
        h("dl", { class: "facts" },
          h("dt", {}, "Mode"), h("dd", {}, h("span", { class: `badge mode-${handoff.mode}` }, handoff.mode === "hot" ? "Hot · live" : "Cold · queued")),
          h("dt", {}, "Priority"), h("dd", {}, ["offered", "queued", "claimed"].includes(handoff.status)
            ? prioritySelect(handoff, level)
            : [h("span", { class: `badge prio prio-${level}` }, label), ` ${handoff.priority}`]),
          pack.brief && pack.brief.why ? null : [h("dt", {}, "Reason"), h("dd", {}, handoff.reason || "—")],
          h("dt", {}, "Waiting"), h("dd", { class: handoff.breached ? "breach" : null },
            handoff.status === "claimed" ? `claimed by ${handoff.claimedBy}` : minutesText(waited)),
          h("dt", {}, "Target"), h("dd", {}, handoff.responseTargetMinutes !== undefined
            ? `${handoff.responseTargetMinutes} min${handoff.breached ? " · breached" : ""}` : "—"),
          h("dt", {}, "AI agent"), h("dd", {}, conversation.currentAgent),
          conversation.customerEmail ? [h("dt", {}, "E-mail"), h("dd", {}, conversation.customerEmail)] : null,
          conversation.startedOn ? [h("dt", {}, "Started on"), h("dd", { class: "started-on" },
            h("a", { href: conversation.startedOn, target: "_blank", rel: "noopener noreferrer", title: conversation.startedOn },
              pageLabel(conversation.startedOn)))] : null,
        )),
      customerSection(conversation),
      h("section", { class: "pack-section" },
        h("h2", {}, "Key details"),
        keyRows.length
          ? h("dl", { class: "keys" }, keyRows.map(([name, list]) => [h("dt", {}, name), h("dd", {}, chips(list))]))
          : h("p", { class: "muted" }, "No order ids, amounts, e-mails or dates mentioned.")),
      h("section", { class: "pack-section" },
        h("h2", {}, "Sentiment ", h("span", { class: `trend trend-${sentiment.trend || "unknown"}` }, sentiment.trend || "unknown"),
          typeof sentiment.last === "number" ? h("span", { class: "muted small" }, ` · last ${sentiment.last.toFixed(2)}`) : null),
        values.length
          ? h("div", { class: "spark", role: "img", "aria-label": `Sentiment per customer message: ${values.join(", ")}` },
            values.map((v) => h("span", {
              class: v < -0.05 ? "neg" : v > 0.05 ? "pos" : "neu",
              style: `height:${Math.max(8, Math.round(Math.abs(v) * 100))}%`,
              title: String(v),
            })))
          : h("p", { class: "muted" }, "No sentiment yet.")),
    );
  }

  // What is known of the customer (their plan, their orders: conversations/attributes.py, from
  // the integration or a person), by name; inbox_tools.js lets the person change it.
  function customerSection(conversation) {
    const attributes = conversation.attributes || [];
    return h("section", { class: "pack-section customer-attributes", id: "customer-attributes" },
      h("h2", {}, "About the customer"),
      attributes.length
        ? h("dl", { class: "facts" }, attributes.map((a) => [
          h("dt", {}, a.name), h("dd", { "data-attribute": a.name, title: a.value }, a.value)]))
        : h("p", { class: "muted" }, "Nothing known of them yet."));
  }

  // The brief: why a person, what the customer wants, what was already done.
  function briefSection(pack) {
    const brief = pack.brief;
    const heading = h("h2", {}, "Brief", pack.preview ? h("span", { class: "muted small" }, " · live preview") : null);
    if (!brief || !brief.why) {
      return h("section", { class: "pack-section" }, heading,
        h("p", { class: "summary" }, pack.summary || "The pack is being prepared…"));
    }
    const done = brief.done || [];
    return h("section", { class: "pack-section brief" }, heading,
      h("dl", { class: "brief-list" },
        h("dt", {}, "Why a person"),
        h("dd", { class: "brief-why" }, brief.why,
          brief.trigger ? h("blockquote", { class: "trigger" }, brief.trigger.text) : null),
        h("dt", {}, "The customer wants"),
        h("dd", { class: "brief-wants" }, brief.wants),
        h("dt", {}, "Already done"),
        h("dd", { class: "brief-done" }, done.length
          ? h("ul", { class: "done" }, done.map((text) => h("li", {}, text)))
          : "Nothing yet.")));
  }

  // --- alerts for a hot offer: a desktop notification (asked for on a click) and a sound ------

  const ALERTS_KEY = "inbox:alerts";
  const SOUND_KEY = "inbox:sound";
  const alertsButton = document.getElementById("alerts-toggle");
  const soundBox = document.getElementById("sound-toggle");
  let audio = null;

  function preference(key) {
    try { return localStorage.getItem(key) === "on"; } catch (_) { return false; }
  }

  function setPreference(key, on) {
    try { localStorage.setItem(key, on ? "on" : "off"); } catch (_) { /* private mode */ }
  }

  function alertsOn() {
    return "Notification" in window && Notification.permission === "granted" && preference(ALERTS_KEY);
  }

  function showAlertsState() {
    const supported = "Notification" in window;
    const denied = supported && Notification.permission === "denied";
    const on = alertsOn();
    alertsButton.setAttribute("aria-pressed", String(on));
    alertsButton.disabled = !supported || denied;
    alertsButton.textContent = !supported ? "Desktop alerts unavailable"
      : denied ? "Desktop alerts blocked" : on ? "Desktop alerts on" : "Desktop alerts off";
    if (denied) alertsButton.title = "Notifications are blocked for this site in the browser's settings.";
    soundBox.checked = preference(SOUND_KEY);
  }

  async function toggleAlerts() {
    if (!("Notification" in window)) return;
    if (alertsOn()) { setPreference(ALERTS_KEY, false); showAlertsState(); return; }
    let permission = Notification.permission;
    if (permission === "default") permission = await Notification.requestPermission();
    setPreference(ALERTS_KEY, permission === "granted");
    showAlertsState();
    if (permission === "granted") toast("Desktop alerts are on for new live offers.", "success");
  }

  function beep() {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      const tone = audio.createOscillator();
      const gain = audio.createGain();
      tone.frequency.value = 880;
      gain.gain.setValueAtTime(0.12, audio.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.0001, audio.currentTime + 0.35);
      tone.connect(gain).connect(audio.destination);
      tone.start();
      tone.stop(audio.currentTime + 0.35);
      root.dataset.lastSound = String(Date.now());
    } catch (_) { /* no audio output */ }
  }

  function alertHotOffer(handoff) {
    if (preference(SOUND_KEY)) beep();
    if (!alertsOn()) return;
    const summary = handoff.pack ? handoff.pack.summary : (handoff.reason || "Handed over");
    const note = new Notification(`Live offer from ${handoff.customer}`, {
      body: `${summary}\nClaim within ${expiresText(handoff.offerExpiresAt).replace("claim within ", "")}.`,
      tag: `handoff-${handoff.id}`,
    });
    note.onclick = () => {
      window.focus();
      setCurrent(handoff.id, false);
      openConversation(handoff.conversationId);
      note.close();
    };
  }

  alertsButton.addEventListener("click", toggleAlerts);
  soundBox.addEventListener("change", () => {
    setPreference(SOUND_KEY, soundBox.checked);
    if (soundBox.checked) beep(); // the click lets the page play sound; it is also a sample
  });
  showAlertsState();

  // --- keyboard -------------------------------------------------------------------------------

  function typing(target) {
    return target && (target.tagName === "TEXTAREA" || target.tagName === "INPUT" ||
      target.tagName === "SELECT" || target.isContentEditable);
  }

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "Escape") {
      if (event.defaultPrevented) return; // a form's own Esc (it closes, and gives the focus back)
      const help = document.getElementById("shortcuts");
      if (!help.hidden) { toggleHelp(false); return; }
      if (root.dataset.pack === "open") { closePack(); return; }
      showPane("list");
      if (state.current !== null) setCurrent(state.current);
      return;
    }
    if (typing(event.target)) return;
    const inList = event.target.closest && event.target.closest(".queue-pane");
    switch (event.key) {
      case "j": move(1); break;
      case "k": move(-1); break;
      case "ArrowDown": if (!inList) return; move(1); break;
      case "ArrowUp": if (!inList) return; move(-1); break;
      case "Home": if (!inList) return; move(-1e6); break;
      case "End": if (!inList) return; move(1e6); break;
      case "Enter": {
        const item = event.target.closest && event.target.closest(".item");
        if (!item || event.target.tagName === "BUTTON") return;
        openConversation(item.dataset.conversation);
        break;
      }
      case "c": if (state.current !== null) claim(state.current); break;
      case "r": {
        const box = pane.querySelector("textarea");
        if (!box) return;
        box.focus();
        break;
      }
      case "z": { // snooze the open conversation (inbox_tools.js draws its menu)
        const snooze = pane.querySelector("#snooze-toggle");
        if (!snooze) return;
        snooze.click();
        break;
      }
      case "@": document.getElementById("mentions-toggle").click(); break;
      case "?": toggleHelp(); break;
      default: return;
    }
    event.preventDefault();
  });

  function toggleHelp(show) {
    const help = document.getElementById("shortcuts");
    const button = document.getElementById("shortcuts-toggle");
    const visible = show === undefined ? help.hidden : show;
    help.hidden = !visible;
    button.setAttribute("aria-expanded", String(visible));
  }
  document.getElementById("shortcuts-toggle").addEventListener("click", () => toggleHelp());

  // --- clocks ---------------------------------------------------------------------------------

  setInterval(() => {
    for (const node of document.querySelectorAll("[data-expires]")) {
      node.textContent = expiresText(node.dataset.expires);
      node.classList.toggle("soon", expiresSoon(node.dataset.expires));
    }
  }, 1000);
  setInterval(() => { if (!document.activeElement || !document.activeElement.closest(".queue-pane button")) renderLists(); }, 30000);

  // For inbox_tools.js (notes, canned replies, transfer, typing, status).
  // A conversation's tags changed (inbox_tools.js tells): its cards show the new ones.
  function tagsChanged(conversationId, tags) {
    let shown = false;
    for (const handoff of state.handoffs.values()) {
      if (handoff.conversationId === conversationId) { handoff.tags = tags; shown = true; }
    }
    if (shown) renderLists();
  }

  // A customer's name or e-mail changed (customer.updated, inbox_tools.js tells): their cards
  // show the new name, and the open conversation is read again.
  function customerChanged(event) {
    const ids = new Set(event.conversationIds || []);
    let shown = false;
    for (const handoff of state.handoffs.values()) {
      if (ids.has(handoff.conversationId)) { handoff.customer = event.customer; shown = true; }
    }
    if (shown) renderLists();
    if (state.selected && ids.has(state.selected)) loadConversation(state.selected, { quiet: true });
  }

  window.inboxApp = {
    h,
    send,
    postJSON,
    tagsChanged,
    customerChanged,
    open: (conversationId) => openConversation(conversationId),
    snoozeText,
    alertsOn,
    soundOn: () => preference(SOUND_KEY),
    beep,
    reload: (conversationId) => loadConversation(conversationId, { quiet: true }),
    renderLists: () => renderLists(),
    toast,
    announce,
  };

  // Start from what the server rendered; the socket's snapshot then replaces it.
  for (const handoff of cfg.handoffs || []) store(handoff);
  renderLists();
  for (const handoff of state.handoffs.values()) if (!handoff.pack) loadPreview(handoff);
  connect();
})();

// The customer's web chat (SPEC 8). Starting a conversation posts the first message to the
// page's own CSRF-protected view (no API key); the conversation id and the customer token are
// kept in localStorage (every tab of the visitor, across reloads) and in the visitor's server
// session (the page is given it back as ``resume``); the socket /ws/conversations/<id>/?token=
// carries the rest. The AI speaks as the tenant's one assistant; the page knows no agent.
// Every text is set with textContent, never innerHTML.
(() => {
  "use strict";

  const cfg = JSON.parse(document.getElementById("chat-config").textContent);
  const root = document.getElementById("chat");
  const storageKey = `chat:${cfg.tenant}`;
  const $ = (id) => document.getElementById(id);
  const list = $("messages");
  const scroll = $("scroll");
  const typing = $("typing");
  const composer = $("composer");
  const box = $("composer-text");
  const statusText = document.querySelector("#chat-status .status-text");

  let session = null;
  let socket = null;
  let attempts = 0;
  let retryTimer = null;
  let typingTimer = null;
  let conversationState = "new";
  let waitingFor = null; // waiting for a person: "live" (an offer rings) or "queued"
  let lastHuman = null;
  let lastSent = null; // the last message sent, given back if the server refuses it for speed
  const shown = new Set();
  const TRANSFER = /^I'm transferring you to /i;

  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined) continue;
      if (key === "class") node.className = value;
      else node.setAttribute(key, String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  // The visitor's conversation: this browser's storage (shared by its tabs), else the one the
  // server kept in the visitor's session. Framed on the tenant's website (embed.js), this page
  // is a third party there: browsers may give it neither cookies nor lasting storage, so the
  // website keeps the conversation in its own storage: it hands it over in the address's
  // fragment (#resume=..., read once and removed) and is told of every change by a message to
  // its origin (cfg.parentOrigin: set by the server only for a website the tenant lists).
  //
  // A signed-in visitor of the website: the fragment's identity=... is the token the website
  // signed (handover/identity.py); the start carries it, and the server checks it. Its `sub`,
  // read here unchecked, only keeps conversations apart: a conversation is shown again only to
  // the visitor it was started by (the same signed-in customer, or an anonymous visitor), so
  // whoever signs in next on a shared computer does not find the last one's.
  const fragment = new URLSearchParams(location.hash.slice(1));
  if (location.hash) history.replaceState(null, "", location.pathname + location.search);
  const identity = fragment.get("identity") || null;
  const claims = claimsOf(identity);
  const who = typeof claims.sub === "string" && claims.sub.trim() ? claims.sub.trim() : null;

  function claimsOf(token) {
    try {
      const body = atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/"));
      const read = JSON.parse(new TextDecoder().decode(Uint8Array.from(body, (c) => c.charCodeAt(0))));
      return read && typeof read === "object" ? read : {};
    } catch (_) { return {}; }
  }

  // only signed-in visitors may chat (the tenant's setting): anyone else is asked to sign in
  if (cfg.signedInOnly && !who) {
    $("start-form").hidden = true;
    $("start-sign-in").hidden = false;
  }

  // signed in with an e-mail address: the start asks for none (the website's is taken)
  if (who && typeof claims.email === "string" && claims.email.trim() && $("start-email-field")) {
    $("start-email-field").remove();
  }

  // signed in with a name: the start asks for none
  if (who && typeof claims.name === "string" && claims.name.trim()) {
    $("start-name").value = claims.name.trim();
    $("start-name-field").hidden = true;
    const signedIn = $("start-signed-in");
    signedIn.textContent = `Signed in as ${claims.name.trim()}`;
    signedIn.hidden = false;
  }

  function fromFragment() {
    if (!cfg.parentOrigin || !fragment.get("resume")) return null;
    let handed = null;
    try { handed = JSON.parse(fragment.get("resume")); } catch (_) { handed = null; }
    const valid = handed && typeof handed.conversationId === "string" && typeof handed.token === "string";
    return valid ? { conversationId: handed.conversationId, token: handed.token, who } : null;
  }
  const handedOver = fromFragment();

  // the visitor's own: started by the same signed-in customer, or by an anonymous visitor
  const theirs = (kept) => Boolean(kept && kept.conversationId && kept.token && (kept.who || null) === who);

  function load() {
    let stored = null;
    try { stored = JSON.parse(localStorage.getItem(storageKey) || "null"); } catch (_) { stored = null; }
    return [stored, handedOver, cfg.resume].find(theirs) || null;
  }
  window.chatSession = load; // the conversation this page holds, for csat.js and chat_copy.js

  function save(value) {
    try {
      if (value) localStorage.setItem(storageKey, JSON.stringify(value));
      else localStorage.removeItem(storageKey);
    } catch (_) { /* storage full or blocked: the server session still has it */ }
    if (!value) cfg.resume = null;
    tellWebsite("support-chat:session", { session: value ? { conversationId: value.conversationId, token: value.token } : null });
  }

  // Framed on the tenant's website: tell it (its origin only) of the conversation, and of each
  // new message from the assistant or the team (its button shows them while the chat is shut).
  function tellWebsite(type, detail) {
    if (!cfg.parentOrigin || window.parent === window) return;
    window.parent.postMessage({ type, tenant: cfg.tenant, ...(detail || {}) }, cfg.parentOrigin);
  }

  // Another tab of the same visitor started or ended a conversation: follow it.
  function followOtherTab(event) {
    if (event.key !== storageKey) return;
    const next = load();
    const same = next && session && next.conversationId === session.conversationId;
    if (same) return;
    if (socket) { const old = socket; socket = null; old.close(); }
    list.replaceChildren();
    shown.clear();
    session = next;
    if (session) { showThread(); connect(); } else { showStart(null); }
  }
  window.addEventListener("storage", followOtherTab);

  function timeOf(iso) {
    if (window.localTime) return window.localTime.format(iso, "time");
    return new Date(iso).toLocaleTimeString([], { hour: "numeric", minute: "2-digit" });
  }

  // --- views --------------------------------------------------------------------------------

  function showStart(message) {
    root.dataset.view = "start";
    $("start").hidden = false;
    $("thread").hidden = true;
    const error = $("start-error");
    error.hidden = !message;
    error.textContent = message || "";
    setStatus("new");
    $("start-text").focus();
    if (who) listPast();
  }

  function showThread() {
    root.dataset.view = "thread";
    $("start").hidden = true;
    $("thread").hidden = false;
    $("to-past").hidden = !who;
    box.focus();
  }

  // --- a signed-in visitor's conversations ("Your conversations", handover/chat_history.py) --
  // Listed under the start form, the latest first: the last message they were shown, whether
  // it is open, and "New reply" when the team or the assistant wrote after the last one their
  // chat had on screen. One opens here (a resolved one to read, rate or copy).

  let listing = 0; // the latest listing asked for: an older answer arriving late is dropped

  async function listPast() {
    const asked = ++listing;
    const section = $("past");
    const error = $("past-error");
    try {
      const { response, body } = await postJson(cfg.conversationsUrl, { identity });
      if (asked !== listing || root.dataset.view !== "start") return;
      if (!response.ok) throw new Error(String(response.status));
      const items = body.conversations || [];
      $("past-list").replaceChildren(...items.map(pastItem));
      section.hidden = items.length === 0;
      error.hidden = true;
    } catch (_) {
      if (asked !== listing) return;
      section.hidden = false;
      error.textContent = "Your conversations could not be loaded. Reload the page to try again.";
      error.hidden = false;
    }
  }

  function pastItem(item) {
    const last = item.last || { from: "notice", text: "" };
    const by = { you: "You", assistant: cfg.assistantName, team: last.author || cfg.tenantName, notice: "" }[last.from] || "";
    const when = window.localTime ? window.localTime.format(item.lastActivityAt, "day") : item.lastActivityAt;
    const button = h("button", { type: "button", class: "past-item", "data-id": item.conversationId, "data-open": String(item.open) },
      h("span", { class: "past-head" },
        h("span", { class: `past-state ${item.open ? "is-open" : "is-resolved"}` }, item.open ? "Open" : "Resolved"),
        item.unread ? h("span", { class: "past-unread" }, "New reply") : null,
        h("time", { datetime: item.lastActivityAt, class: "past-when" }, when)),
      h("span", { class: "past-text" }, by ? `${by}: ${last.text}` : last.text));
    button.addEventListener("click", () => openPast(item.conversationId, button));
    return h("li", null, button);
  }

  async function openPast(conversationId, button) {
    button.disabled = true;
    const error = $("past-error");
    try {
      const { response, body } = await postJson(cfg.resumeUrl, { identity, conversationId });
      if (!response.ok || !body.conversationId) throw new Error(String(response.status));
      if (socket) { const old = socket; socket = null; old.close(); }
      session = { conversationId: body.conversationId, token: body.token, name: body.name, who: body.who || null, rating: body.rating || null };
      save(session);
      list.replaceChildren();
      shown.clear();
      error.hidden = true;
      showThread();
      connect();
    } catch (_) {
      error.textContent = "That conversation could not be opened. Please try again.";
      error.hidden = false;
    } finally {
      button.disabled = false;
    }
  }

  // back to the list: the page holds no conversation (the list opens it again)
  $("to-past").addEventListener("click", leave);

  function setStatus(state) {
    conversationState = state;
    root.dataset.state = state;
    const texts = {
      new: cfg.teamBack ? `Our team is back ${cfg.teamBack}; our assistant answers now` : cfg.replyTime,
      triaged: "Our AI assistant is here to help",
      active: "Our AI assistant is here to help",
      stalled: "Our AI assistant is here to help",
      at_risk: "Our AI assistant is here to help",
      // a live offer rings in the team's inboxes now; a queued request waits for someone to
      // follow up (out of hours: when the team is back)
      handing_off: waitingFor === "queued"
        ? (cfg.teamBack ? `Our team is back ${cfg.teamBack} and will answer here` : "Someone from our team will answer here soon")
        : "Waiting for a person from our team…",
      with_human: lastHuman ? `You're chatting with ${lastHuman}` : "You're chatting with our team",
      resolved: "This conversation is resolved",
    };
    statusText.textContent = texts[state] || texts.active;
    const closed = state === "resolved";
    $("closed").hidden = !closed;
    composer.hidden = closed;
    if (closed) { hideTyping(); keepLastMessageInView(); }
    showFollowUp();
  }

  // While a person is awaited or writing, the customer may leave their e-mail address: a
  // person's replies then reach them by e-mail whenever they are not in the chat.
  function showFollowUp() {
    const waiting = conversationState === "handing_off" || conversationState === "with_human";
    const saved = session && session.email;
    $("follow-up").hidden = !waiting || Boolean(saved);
    $("follow-up-done").hidden = !waiting || !saved;
    if (saved) $("follow-up-done").textContent = `We'll e-mail ${saved} if you're not here when we answer.`;
  }

  // A POST of JSON to one of the chat's own views (CSRF token from the page; from a frame on
  // the tenant's website the server checks the request's Origin instead). Answers the response
  // and its JSON body ({} when it has none).
  async function post(url, body, headers) {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { ...headers, "X-CSRFToken": document.querySelector("[name=csrfmiddlewaretoken]").value },
      body,
    });
    return { response, body: await response.json().catch(() => ({})) };
  }

  function postJson(url, payload) {
    return post(url, JSON.stringify(payload), { "Content-Type": "application/json" });
  }

  // --- files: a photo or a PDF, picked, pasted or dropped; sent at once as a message ----------

  async function sendFile(file) {
    if (!session || !file) return;
    const name = file.name || "pasted image";
    if (file.size > cfg.maxFileBytes) {
      sendError(`${name} is ${window.messageFiles.sizeText(file.size)}: files can be at most ${window.messageFiles.sizeText(cfg.maxFileBytes)}.`);
      return;
    }
    const pending = h("li", { class: "msg from-customer sending", "aria-hidden": "true" },
      h("div", { class: "bubble" }, `Sending ${name}…`));
    list.append(pending);
    scroll.scrollTop = scroll.scrollHeight;
    const form = new FormData();
    form.append("conversationId", session.conversationId);
    form.append("token", session.token);
    form.append("file", file, name);
    try {
      const { response, body } = await post(cfg.filesUrl, form, {});
      if (!response.ok) {
        const fields = (body.error && body.error.fields) || {};
        sendError((fields.file && `${name}: ${fields.file[0]}.`) ||
          (body.error && body.error.message) || "The file could not be sent. Please try again.");
        return;
      }
      sendError(null);
      showTyping();
    } catch (_) {
      sendError("We could not reach the chat. Check your connection and try again.");
    } finally {
      pending.remove();
    }
  }


  async function saveFollowUp(event) {
    event.preventDefault();
    const input = $("follow-up-email");
    const error = $("follow-up-error");
    const email = input.value.trim();
    if (!session || !email) return;
    const button = $("follow-up-save");
    button.disabled = true;
    try {
      const { response, body } = await postJson(
        cfg.emailUrl, { conversationId: session.conversationId, token: session.token, email });
      if (!response.ok) {
        const fields = (body.error && body.error.fields) || {};
        error.textContent = (fields.email && `E-mail: ${fields.email[0]}`) || (body.error && body.error.message) || "Your address could not be saved. Please try again.";
        error.hidden = false;
        return;
      }
      error.hidden = true;
      session = { ...session, email: body.email };
      save(session);
      showFollowUp();
    } catch (_) {
      error.textContent = "Your address could not be saved. Check your connection and try again.";
      error.hidden = false;
    } finally {
      button.disabled = false;
    }
  }

  // The "resolved" card takes room below the messages: the last one stays in view above it.
  function keepLastMessageInView() {
    requestAnimationFrame(() => { scroll.scrollTop = scroll.scrollHeight; });
  }

  function isNotice(message) {
    return message.role === "system" || (message.role === "agent" && TRANSFER.test(message.text));
  }

  function messageNode(message) {
    if (isNotice(message)) {
      return h("li", { class: "msg notice", "data-id": message.id, "data-role": message.role },
        h("span", { class: "notice-text" }, message.text));
    }
    let who = null;
    if (message.role === "agent") who = cfg.assistantName;
    if (message.role === "human") who = `${message.author} · ${cfg.tenantName} team`;
    const onlyFiles = window.messageFiles.onlyFiles(message);
    return h("li", { class: `msg from-${message.role}`, "data-id": message.id, "data-role": message.role },
      who ? h("span", { class: "who" }, who) : null,
      window.messageFiles.node(message),
      onlyFiles ? null : h("div", { class: "bubble" }, message.text),
      h("time", { datetime: message.createdAt, class: "when" }, timeOf(message.createdAt)));
  }

  // --- what the customer has seen ------------------------------------------------------------
  // The chat is looked at while its page is shown and, framed on the tenant's website, while
  // the website's chat is open (embed.js tells). The server hears of both: a hidden chat does
  // not count as the customer being here (a person's reply then follows them by e-mail, when
  // they asked for that), and the inbox shows "Seen" up to the last message of ours they had on
  // their screen.
  let openOnWebsite = true;
  let seenTold = 0;
  let visibleTold = null;

  function lookedAt() {
    return document.visibilityState === "visible" && openOnWebsite;
  }

  function tellServer(frame) {
    if (socket && socket.readyState === WebSocket.OPEN) { socket.send(JSON.stringify(frame)); return true; }
    return false;
  }

  function tellLooking() {
    const looking = lookedAt();
    if (looking !== visibleTold && tellServer({ type: "visibility", visible: looking })) visibleTold = looking;
    if (!looking) return;
    let latest = 0;
    for (const item of list.querySelectorAll("li[data-id]")) {
      if (item.dataset.role !== "customer") latest = Math.max(latest, Number(item.dataset.id));
    }
    if (latest > seenTold && tellServer({ type: "seen", messageId: latest })) seenTold = latest;
  }

  document.addEventListener("visibilitychange", tellLooking);
  window.addEventListener("message", (event) => {
    // the website's button opened or shut the chat (its origin only, as the tenant lists it)
    if (!cfg.parentOrigin || event.origin !== cfg.parentOrigin || event.source !== window.parent) return;
    if (!event.data || event.data.type !== "support-chat:shown") return;
    openOnWebsite = Boolean(event.data.shown);
    tellLooking();
  });

  function addMessage(message, { quiet = false } = {}) {
    if (shown.has(message.id)) return;
    shown.add(message.id);
    if (message.role === "human") lastHuman = message.author;
    list.append(messageNode(message));
    if (message.role !== "customer") hideTyping();
    if (message.role === "human" && conversationState === "with_human") setStatus("with_human");
    scroll.scrollTop = scroll.scrollHeight;
    if (message.role !== "customer" && !quiet) tellLooking();
  }

  // the server says when an agent starts and stops writing (agent.typing); the timer only
  // covers a "stop" that never arrives (a dropped socket)
  function showTyping(seconds = 10) {
    if (!["triaged", "active", "stalled", "at_risk"].includes(conversationState)) return;
    typingLabel("typing…");
    typing.dataset.who = "";
    typing.hidden = false;
    scroll.scrollTop = scroll.scrollHeight;
    clearTimeout(typingTimer);
    typingTimer = setTimeout(hideTyping, seconds * 1000);
  }

  function typingLabel(text) {
    let label = typing.querySelector(".typing-label");
    if (!label) {
      label = h("em", { class: "typing-label" });
      typing.append(label);
    }
    label.textContent = text;
  }

  // Someone from the team is typing (their socket tells at most one in 2 s): shown for 5 s.
  function humanTyping(name) {
    typingLabel(`${name || "Someone"} is typing…`);
    typing.dataset.who = name || "";
    typing.hidden = false;
    scroll.scrollTop = scroll.scrollHeight;
    clearTimeout(typingTimer);
    typingTimer = setTimeout(hideTyping, 5000);
  }

  function hideTyping() {
    clearTimeout(typingTimer);
    typing.hidden = true;
    typing.dataset.who = "";
  }

  function sendError(text) {
    const node = $("send-error");
    node.hidden = !text;
    node.textContent = text || "";
  }

  // --- the socket ---------------------------------------------------------------------------

  function connect() {
    clearTimeout(retryTimer);
    if (!session || (socket && socket.readyState <= 1)) return;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const url = `${scheme}://${location.host}${cfg.socketPath}${encodeURIComponent(session.conversationId)}/?token=${encodeURIComponent(session.token)}`;
    const ws = new WebSocket(url);
    socket = ws;
    root.dataset.connection = "connecting";
    ws.addEventListener("open", () => {
      attempts = 0;
      root.dataset.connection = "open";
      sendError(null);
      visibleTold = true; // a socket counts the customer in when it opens
      seenTold = 0;
      tellLooking();
    });
    ws.addEventListener("message", (event) => {
      let data;
      try { data = JSON.parse(event.data); } catch (_) { return; }
      handle(data);
    });
    ws.addEventListener("close", (event) => {
      if (socket !== ws) return;
      socket = null;
      root.dataset.connection = "closed";
      if (event.code === 4401 || event.code === 4404) {
        save(null);
        session = null;
        showStart("Your previous conversation has ended. Start a new one below.");
        return;
      }
      const delay = Math.round(Math.min(15000, 500 * 2 ** attempts) * (0.8 + Math.random() * 0.4));
      attempts += 1;
      statusText.textContent = "Reconnecting…";
      retryTimer = setTimeout(connect, delay);
    });
  }

  function handle(event) {
    switch (event.type) {
      case "conversation.snapshot":
        if (session && (event.followUpEmail || null) !== (session.email || null)) {
          session = { ...session, email: event.followUpEmail || undefined };  // as the server has it
        }
        list.replaceChildren();
        shown.clear();
        lastHuman = null;
        for (const message of event.messages || []) addMessage(message, { quiet: true });
        waitingFor = event.waiting || null;
        setStatus(event.state);
        tellLooking();
        if (event.agentTyping) showTyping(90);
        else hideTyping();
        break;
      case "message.created":
        if (!event.message) break;
        if (!shown.has(event.message.id) && event.message.role !== "customer") tellWebsite("support-chat:message");
        addMessage(event.message);
        break;
      case "conversation.updated":
        if (event.state) setStatus(event.state);
        break;
      case "conversation.waiting": // a live offer, or (nobody took it, or out of hours) the queue
        waitingFor = event.waiting || null;
        setStatus(conversationState);
        break;
      case "agent.typing":
        if (event.typing) showTyping(90);
        else hideTyping();
        break;
      case "typing": // the person from the team is typing (issue 19, point 4)
        humanTyping(event.name);
        break;
      case "error":
        hideTyping();
        sendError(event.error || "Something went wrong.");
        if (event.code === "rate_limited" && lastSent && !box.value) {
          box.value = lastSent; // not taken: give it back to send again
          autosize();
        }
        break;
      default:
        break;
    }
  }

  window.addEventListener("online", () => { if (!socket && session) { attempts = 0; connect(); } });

  // --- starting and talking -----------------------------------------------------------------

  $("start-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = $("start-name").value.trim();
    const text = $("start-text").value.trim();
    const emailInput = $("start-email");
    const email = emailInput ? emailInput.value.trim() : "";
    if (emailInput && emailInput.required && !email) { showStart("Please give your e-mail address."); emailInput.focus(); return; }
    if (!text) { showStart("Please write your message first."); return; }
    const button = $("start-button");
    button.disabled = true;
    button.textContent = "Starting…";
    try {
      const { response, body } = await postJson(
        cfg.startUrl, { name, text, ...(email ? { email } : {}), ...(cfg.page ? { page: cfg.page } : {}), ...(identity ? { identity } : {}) });
      if (!response.ok) {
        const fields = (body.error && body.error.fields) || {};
        const identityField = Object.keys(fields).find((field) => field.startsWith("identity"));
        const message = (fields.text && fields.text[0]) || (fields.name && `Name: ${fields.name[0]}`) ||
          (fields.email && `E-mail address: ${fields.email[0]}`) ||
          (identityField && "This website could not tell us who you are. Please reload the page and try again.") ||
          (body.error && body.error.message) || "We could not start the chat. Please try again.";
        showStart(message);
        return;
      }
      session = { conversationId: body.conversationId, token: body.token, name: body.name, who: body.who || null };
      save(session);
      list.replaceChildren();
      shown.clear();
      $("start-text").value = "";
      showThread();
      setStatus("active");
      showTyping();
      connect();
    } catch (_) {
      showStart("We could not reach the chat. Check your connection and try again.");
    } finally {
      button.disabled = false;
      button.textContent = "Start the conversation";
    }
  });

  function submit() {
    const text = box.value.trim();
    if (!text) return;
    if (text.length > cfg.maxText) { sendError(`Please keep messages under ${cfg.maxText} characters.`); return; }
    if (!socket || socket.readyState !== WebSocket.OPEN) {
      sendError("You're offline. We'll reconnect; your message is still here.");
      return;
    }
    socket.send(JSON.stringify({ type: "message.send", text }));
    lastSent = text;
    box.value = "";
    autosize();
    sendError(null);
    showTyping();
  }

  function autosize() {
    box.style.height = "auto";
    box.style.height = `${Math.min(box.scrollHeight, 140)}px`;
  }

  composer.addEventListener("submit", (event) => { event.preventDefault(); submit(); });
  const attachInput = $("attach-input");
  attachInput.addEventListener("change", () => {
    const [file] = attachInput.files;
    attachInput.value = "";
    sendFile(file);
  });
  box.addEventListener("paste", (event) => { // a screenshot pasted into the box is sent
    const file = [...((event.clipboardData && event.clipboardData.files) || [])][0];
    if (!file) return;
    event.preventDefault();
    sendFile(file);
  });
  const thread = $("thread");
  thread.addEventListener("dragover", (event) => {
    if (!session || composer.hidden || !event.dataTransfer.types.includes("Files")) return;
    event.preventDefault();
    thread.classList.add("dropping");
  });
  thread.addEventListener("dragleave", () => thread.classList.remove("dropping"));
  thread.addEventListener("drop", (event) => {
    thread.classList.remove("dropping");
    if (!session || composer.hidden) return;
    event.preventDefault();
    sendFile(event.dataTransfer.files[0]);
  });
  $("follow-up").addEventListener("submit", saveFollowUp);
  box.addEventListener("input", autosize);
  let typingSentAt = 0; // the team sees the customer typing; the server coalesces too
  box.addEventListener("input", () => {
    if (!box.value.trim() || Date.now() - typingSentAt < 2000) return;
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify({ type: "typing" }));
      typingSentAt = Date.now();
    }
  });
  box.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submit();
    }
  });
  $("start-text").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      $("start-form").requestSubmit();
    }
  });
  // "Start a new conversation", or back to a signed-in visitor's list: the page holds none
  function leave() {
    if (socket) { const old = socket; socket = null; old.close(); }
    save(null);
    session = null;
    list.replaceChildren();
    shown.clear();
    showStart(null);
  }
  $("restart").addEventListener("click", leave);

  // A signed-in visitor with no conversation kept here (another device, or signed in again):
  // their open one, from the server, once it has checked their website's signature.
  async function resumeSignedIn() {
    try {
      const { response, body } = await postJson(cfg.resumeUrl, { identity });
      if (!response.ok || !body.conversationId || session) return;
      session = { conversationId: body.conversationId, token: body.token, name: body.name, who: body.who || null };
      save(session);
      showThread();
      connect();
    } catch (_) { /* the start form stays */ }
  }

  // A signed-in visitor's conversation held here: this page's token may say something new of
  // them (a new name, address or plan); the server takes it onto the open conversation.
  async function refreshSignedIn(held) {
    try {
      await postJson(cfg.resumeUrl, { identity, conversationId: held.conversationId });
    } catch (_) { /* nothing new told this time; the chat goes on */ }
  }

  session = load();
  if (session && session.conversationId && session.token) {
    showThread();
    connect();
    if (who) refreshSignedIn(session);
  } else {
    session = null;
    showStart(null);
    if (who) resumeSignedIn();
  }
})();

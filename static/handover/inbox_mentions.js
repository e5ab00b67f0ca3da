// @mentions in private notes (handover/mentions.py), beside inbox.js and inbox_tools.js:
// typing "@" in a private note opens a picker of the colleagues it may name (↑ ↓ move, Enter
// or Tab inserts, Esc closes); "@ Mentions" in the inbox bar lists the notes that named you,
// the unread counted, live over the socket (mention.created, mention.read); opening one opens
// its conversation and marks it read. Text is only ever set with textContent.
(() => {
  "use strict";

  const cfg = JSON.parse(document.getElementById("inbox-config").textContent);
  const pane = document.getElementById("conversation");
  const toggle = document.getElementById("mentions-toggle");
  const panel = document.getElementById("mentions-panel");
  const list = document.getElementById("mention-list");
  const empty = document.getElementById("mentions-empty");
  const count = document.getElementById("mention-count");
  const people = (cfg.people || []).filter((p) => p.username !== cfg.me);

  const state = { mentions: [], unread: 0, openId: null };

  function app() { return window.inboxApp; }

  const { h } = window.inboxApp; // one way to build nodes, inbox.js's

  // --- the list of mentions ----------------------------------------------------------------

  function render() {
    count.hidden = !state.unread;
    count.textContent = String(state.unread);
    toggle.setAttribute("aria-label", state.unread ? `Mentions, ${state.unread} unread` : "Mentions");
    empty.hidden = state.mentions.length > 0;
    document.getElementById("mentions-all-read").hidden = !state.unread;
    list.replaceChildren(...state.mentions.map((m) => h("li", {},
      h("button", {
        type: "button", class: `mention-item${m.readAt ? "" : " unread"}`, "data-mention": m.id,
        onclick: () => openMention(m),
      },
      h("span", { class: "mention-line" },
        h("strong", {}, m.by), ` named you · ${m.customer} · `,
        h("time", { datetime: m.createdAt }, new Date(m.createdAt).toLocaleString([], { dateStyle: "short", timeStyle: "short" }))),
      h("span", { class: "mention-excerpt" }, m.excerpt)))));
  }

  function openMention(mention) {
    close();
    if (!mention.readAt) app().send({ type: "mention.read", mentionIds: [mention.id] });
    app().open(mention.conversationId);
  }

  function open() {
    panel.hidden = false;
    toggle.setAttribute("aria-expanded", "true");
    const first = list.querySelector("button");
    if (first) first.focus();
  }

  function close() {
    panel.hidden = true;
    toggle.setAttribute("aria-expanded", "false");
  }

  toggle.addEventListener("click", () => (panel.hidden ? open() : close()));
  document.getElementById("mentions-all-read").addEventListener("click", () => {
    if (!app().send({ type: "mention.read" })) app().toast("You are offline; nothing was marked.", "error");
  });
  panel.addEventListener("keydown", (event) => {
    if (event.key === "Escape") { event.stopPropagation(); close(); toggle.focus(); }
  });
  document.addEventListener("click", (event) => {
    if (!panel.hidden && !panel.contains(event.target) && !toggle.contains(event.target)) close();
  });

  function snapshot(summary) {
    if (!summary) return;
    state.mentions = summary.recent || [];
    state.unread = summary.unread || 0;
    render();
  }

  function created(mention) {
    if (state.mentions.some((m) => m.id === mention.id)) return;
    state.mentions.unshift(mention);
    state.unread += 1;
    render();
    const here = state.openId === mention.conversationId && document.hasFocus()
      && pane.querySelector(".transcript");
    if (here) { // they are reading that conversation: it is read
      app().send({ type: "mention.read", mentionIds: [mention.id] });
      return;
    }
    app().toast(`${mention.by} named you in a note on ${mention.customer}.`, "info");
    if (app().soundOn()) app().beep();
    if (app().alertsOn()) {
      const note = new Notification(`${mention.by} named you in a note`, {
        body: `${mention.customer}: ${mention.excerpt}`,
        tag: `mention-${mention.id}`,
      });
      note.onclick = () => { window.focus(); openMention(mention); note.close(); };
    }
  }

  function read(ids) {
    const gone = new Set(ids || []);
    const now = new Date().toISOString();
    for (const m of state.mentions) {
      if (gone.has(m.id) && !m.readAt) { m.readAt = now; state.unread = Math.max(0, state.unread - 1); }
    }
    render();
  }

  // Opening a conversation reads the mentions in it.
  document.addEventListener("inbox:detail", (event) => {
    const id = event.detail.conversation.id;
    state.openId = id;
    if (state.mentions.some((m) => m.conversationId === id && !m.readAt)) {
      app().send({ type: "mention.read", conversationId: id });
    }
  });

  document.addEventListener("inbox:event", (event) => {
    const data = event.detail;
    switch (data.type) {
      case "inbox.snapshot": snapshot(data.mentions); break;
      case "mention.created": created(data.mention); break;
      case "mention.read": read(data.mentionIds); break;
      case "mention.read.result":
        if (data.ok) read(data.mentionIds);
        else app().toast(`Not marked read: ${data.error}`, "error");
        break;
      default: break;
    }
  });

  // --- the picker: "@" in a private note -----------------------------------------------------

  const picker = h("ul", { class: "mention-picker", role: "listbox", id: "mention-picker", "aria-label": "Colleagues to name", hidden: true });
  let box = null;
  let matches = [];
  let active = 0;

  // a private note's box: the composer in note mode, the note form, or a note being edited
  function isNoteBox(node) {
    if (!node || node.tagName !== "TEXTAREA") return false;
    const form = node.closest("form");
    return Boolean(form && (form.classList.contains("mode-note") || form.classList.contains("note-edit-form")));
  }

  function atQuery() {
    const upto = box.value.slice(0, box.selectionStart);
    const found = /(^|[^\w@])@([\w.+-]*)$/.exec(upto);
    return found ? { query: found[2].toLowerCase(), start: upto.length - found[2].length - 1 } : null;
  }

  function closePicker() {
    picker.hidden = true;
    matches = [];
    if (box) box.removeAttribute("aria-activedescendant");
  }

  function showPicker() {
    const at = box && atQuery();
    if (!at || !people.length) { closePicker(); return; }
    matches = people.filter((p) => p.username.toLowerCase().startsWith(at.query)
      || (p.name || "").toLowerCase().split(/\s+/).some((word) => word.startsWith(at.query))).slice(0, 8);
    if (!matches.length) { closePicker(); return; }
    active = Math.min(active, matches.length - 1);
    picker.replaceChildren(...matches.map((person, i) => h("li", {
      role: "option", id: `mention-option-${i}`, class: "mention-option", "aria-selected": String(i === active),
      "data-username": person.username,
      onmousedown: (event) => { event.preventDefault(); insert(person); },
    }, h("span", { class: "mention-name" }, person.name || person.username), " ",
    h("span", { class: "mention-username" }, `@${person.username}`))));
    const form = box.closest("form");
    if (picker.parentNode !== form) form.append(picker);
    picker.hidden = false;
    box.setAttribute("aria-controls", "mention-picker");
    box.setAttribute("aria-activedescendant", `mention-option-${active}`);
  }

  function insert(person) {
    const at = atQuery();
    if (!at) return;
    const after = box.value.slice(box.selectionStart);
    const text = `@${person.username} `;
    box.value = box.value.slice(0, at.start) + text + after.replace(/^\s+/, "");
    const caret = at.start + text.length;
    box.setSelectionRange(caret, caret);
    closePicker();
    box.focus();
  }

  pane.addEventListener("input", (event) => {
    if (!isNoteBox(event.target)) { closePicker(); return; }
    box = event.target;
    active = 0;
    showPicker();
  });
  pane.addEventListener("focusout", (event) => { if (event.target === box) setTimeout(closePicker, 100); });
  // capture, on the pane: before the composer's own keys (Enter sends the note)
  pane.addEventListener("keydown", (event) => {
    if (event.target !== box || picker.hidden || !matches.length || event.isComposing) return;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault(); event.stopPropagation();
      active = (active + (event.key === "ArrowDown" ? 1 : -1) + matches.length) % matches.length;
      showPicker();
    } else if (event.key === "Enter" || event.key === "Tab") {
      event.preventDefault(); event.stopPropagation();
      insert(matches[active]);
    } else if (event.key === "Escape") {
      event.preventDefault(); event.stopPropagation();
      closePicker();
    }
  }, true);

  render();
})();

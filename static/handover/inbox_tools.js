// The tools of the inbox (issue 19, point 4), beside inbox.js: the agent's status, private
// notes, canned replies inserted with "/" (a keyboard-usable picker), transfer to a colleague
// or back to the queue, and typing indicators both ways. inbox.js tells of every socket event
// ("inbox:event") and of every render of the open conversation ("inbox:detail"), and lends its
// socket (window.inboxApp). Text is only ever set with textContent.
(() => {
  "use strict";

  const cfg = JSON.parse(document.getElementById("inbox-config").textContent);
  const pane = document.getElementById("conversation");
  const statusSelect = document.getElementById("agent-status");
  const TYPING_EVERY_MS = 2000;
  const SHOW_TYPING_MS = 4000;

  const tools = {
    online: [],
    statuses: {},
    detail: null,
    typingSentAt: {},
    customerTypingTimer: null,
  };

  function app() { return window.inboxApp; }

  const { h } = window.inboxApp; // one way to build nodes, inbox.js's

  function urlFor(template, id) {
    return template.replace("00000000-0000-0000-0000-000000000000", id);
  }

  const postJSON = (url, body) => app().postJSON(url, body || {});

  // --- status --------------------------------------------------------------------------------

  if (statusSelect) {
    statusSelect.value = cfg.myStatus || "online";
    statusSelect.addEventListener("change", () => {
      if (!app().send({ type: "status.set", status: statusSelect.value })) {
        app().toast("You are offline; your status was not changed.", "error");
        statusSelect.value = cfg.myStatus;
      }
    });
  }

  function statusResult(event) {
    if (!event.ok) {
      app().toast(`Status not changed: ${event.error}`, "error");
      statusSelect.value = cfg.myStatus;
      return;
    }
    cfg.myStatus = event.status;
    document.getElementById("inbox").dataset.status = event.status;
    app().announce(event.status === "online" ? "You are online: live offers reach you." : `You are ${event.status}: no live offers reach you.`);
    app().send({ type: "resync" }); // the offers this status shows
  }

  function presence(event) {
    tools.online = event.online || [];
    tools.statuses = event.statuses || {};
    setTimeout(() => { // after inbox.js rendered the list
      for (const item of document.querySelectorAll("#online .online-list li")) {
        const name = item.getAttribute("title") || "";
        item.dataset.status = tools.statuses[name] || "online";
      }
    }, 0);
  }

  // --- the open conversation -------------------------------------------------------------------

  function detailRendered(detail) {
    tools.detail = detail;
    const { conversation } = detail;
    const mine = conversation.state === "with_human" && conversation.assignee === cfg.me;
    const composer = pane.querySelector("form.composer");
    if (composer) enhanceComposer(composer, conversation);
    else if (conversation.state !== "resolved") pane.append(noteComposer(conversation));
    if (mine) addTransfer(conversation);
    if (mine && detail.handoff && detail.handoff.status === "claimed") addSnooze(detail.handoff);
    addCustomerPanel(detail);
    addMergedBanner(conversation);
    addCustomerEdit(conversation);
    addAttributesEdit(conversation);
    addTags(conversation);
    markSeen();
    const scroller = pane.querySelector(".transcript-scroll");
    if (scroller && !pane.querySelector(".customer-typing")) {
      scroller.after(h("p", { class: "customer-typing", hidden: true, role: "status" }));
    }
  }

  // The customer's other conversations, linked to their read-only page (issue 19, point 3).
  function addCustomerPanel(detail) {
    const head = pane.querySelector(".conv-head");
    if (!head || !detail.viewUrl) return;
    const past = detail.customerHistory || [];
    const count = detail.customerHistoryCount || past.length;
    // opened, it stays open when the conversation is read again (a merge, a new message)
    const open = tools.historyOpen === detail.conversation.id;
    const panel = h("details", { class: "customer-history", id: "customer-history", open: open ? "" : null },
      h("summary", {}, count ? `${count} other conversation${count === 1 ? "" : "s"} with this customer` : "No other conversation with this customer"),
      h("ul", {}, past.map((c) => {
        const item = h("li", {},
          h("a", { href: c.url }, `${new Date(c.createdAt).toLocaleDateString()} · ${c.channel === "email" ? "e-mail" : "chat"} · ${c.state.replace("_", " ")}${c.assignee ? ` · ${c.assignee}` : ""}`));
        if (c.state !== "resolved" && detail.conversation.state !== "resolved") item.append(" ", mergeButton(detail.conversation, c, item));
        return item;
      }), detail.customerHistoryUrl ? h("li", { class: "more" },
        `The latest ${past.length} are listed. `, h("a", { href: detail.customerHistoryUrl }, "Find them all in the history")) : null),
      h("a", { href: detail.viewUrl, class: "view-link" }, "Read-only page of this conversation"),
      detail.customerUrl ? h("a", { href: detail.customerUrl, class: "view-link", id: "customer-page-link" }, "Everything about this customer") : null);
    panel.addEventListener("toggle", () => { tools.historyOpen = panel.open ? detail.conversation.id : null; });
    head.after(panel);
  }

  // Merge the customer's other open conversation into this one (handover/merge.py): it is
  // resolved, its customer told that it goes on here, and this one gets a note of what was
  // said there and its tags. Asked once more before it is done.
  function mergeButton(conversation, other, item) {
    const button = h("button", { type: "button", class: "ghost merge-button" }, "Merge into this…");
    button.addEventListener("click", () => {
      const when = new Date(other.createdAt).toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
      const yes = h("button", { type: "button", class: "primary" }, "Merge");
      const no = h("button", { type: "button", class: "ghost" }, "Cancel");
      const ask = h("div", { class: "merge-confirm", role: "group", "aria-label": "Merge" },
        h("p", {}, `Merge the conversation of ${when} into this one? It is resolved, ${conversation.customer} is told that it goes on here, and a note here says what was said there.`),
        yes, " ", no);
      button.replaceWith(ask);
      yes.focus();
      no.addEventListener("click", () => ask.replaceWith(button));
      yes.addEventListener("click", async () => {
        yes.disabled = true;
        try {
          await postJSON(urlFor(cfg.mergeUrl, other.id), { into: conversation.id });
          app().toast(`Merged: the conversation of ${when} goes on here.`, "success");
          app().reload(conversation.id);
        } catch (error) {
          const fields = error.fields || {};
          app().toast(`Not merged: ${fields.into ? fields.into[0] : error.message}`, "error");
          ask.replaceWith(button);
        }
      });
    });
    return button;
  }

  // A conversation was merged into another (by anyone): the one open here, either of the two,
  // is read again (the merged one then says where it goes on).
  function merged(event) {
    const open = tools.detail && tools.detail.conversation.id;
    if (open && (open === event.into || open === event.conversationId)) app().reload(open);
  }

  function addMergedBanner(conversation) {
    if (!conversation.mergedInto) return;
    const go = h("button", { type: "button", class: "secondary" }, "Open it");
    go.addEventListener("click", () => app().open(conversation.mergedInto));
    const banner = h("p", { class: "merged-banner", role: "status" },
      "This conversation was merged into another of this customer's: it goes on there. ", go);
    const head = pane.querySelector(".conv-head");
    if (head) head.after(banner); else pane.prepend(banner);
  }

  // The note box of a conversation that is not one's own: the same one, and what is written in
  // it, when the conversation is read again.
  function noteComposer(conversation) {
    const known = tools.noteComposer;
    if (known && known.dataset.conversation === String(conversation.id)) return known;
    tools.noteComposer = noteForm(conversation);
    tools.noteComposer.dataset.conversation = String(conversation.id);
    return tools.noteComposer;
  }

  function noteForm(conversation) {
    const box = h("textarea", { rows: "1", class: "note-box", "aria-label": "Private note for colleagues", placeholder: "Private note, never seen by the customer (@ names a colleague)", maxlength: "10000" });
    const form = h("form", { class: "note-composer mode-note" },
      box, h("button", { type: "submit", class: "secondary" }, "Add note"));
    addAttach(form, box, conversation);
    form.addEventListener("submit", (event) => { event.preventDefault(); sendNote(conversation, box); });
    box.addEventListener("input", () => { if (box.value.trim()) typingNow(conversation, true); });
    box.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) { event.preventDefault(); sendNote(conversation, box); }
    });
    return form;
  }

  function sendNote(conversation, box) {
    const text = box.value.trim();
    if (!text) return;
    if (!app().send({ type: "note.send", conversationId: conversation.id, text })) {
      app().toast("You are offline; the note was not saved.", "error");
      return;
    }
    box.value = "";
  }

  // The reply box's hint: where the reply goes besides the customer's chat.
  function replyHint(conversation) {
    let where = "";
    if (conversation.channel === "email") where = " (sent by e-mail)";
    else if (conversation.emailFollowUp) where = ` (e-mailed to ${conversation.customerEmail} if they have left the chat)`;
    return `Reply to ${conversation.customer}${where}… (/ for canned replies)`;
  }

  // A file for the customer (a return label, a screenshot): picked, pasted or dropped, sent
  // at once as a reply (by e-mail too, attached, where replies are e-mailed); in note mode it
  // goes with a private note instead, for colleagues only.
  function addAttach(form, box, conversation) {
    const input = h("input", { type: "file", class: "attach-input", accept: "image/png,image/jpeg,image/gif,image/webp,application/pdf,.pdf,.txt,.log,.csv" });
    const label = h("label", { class: "attach" },
      input, window.messageFiles.icon(window.messageFiles.PAPERCLIP), h("span", { class: "visually-hidden" }));
    box.before(label);
    labelAttach(form);
    input.addEventListener("change", () => {
      const [file] = input.files;
      input.value = "";
      sendFile(conversation, file, form);
    });
    box.addEventListener("paste", (event) => {
      const file = [...((event.clipboardData && event.clipboardData.files) || [])][0];
      if (!file) return;
      event.preventDefault();
      sendFile(conversation, file, form);
    });
    form.addEventListener("dragover", (event) => {
      if (event.dataTransfer.types.includes("Files")) { event.preventDefault(); form.classList.add("dropping"); }
    });
    form.addEventListener("dragleave", () => form.classList.remove("dropping"));
    form.addEventListener("drop", (event) => {
      form.classList.remove("dropping");
      if (!event.dataTransfer.files.length) return;
      event.preventDefault();
      sendFile(conversation, event.dataTransfer.files[0], form);
    });
  }

  function labelAttach(form) {
    const label = form.querySelector("label.attach");
    if (!label) return;
    const words = form.classList.contains("mode-note") ? "Attach a file to a private note" : "Send a file to the customer";
    label.title = words;
    label.querySelector(".visually-hidden").textContent = words;
  }

  async function sendFile(conversation, file, form) {
    if (!file) return;
    const name = file.name || "pasted image";
    const sizeText = window.messageFiles.sizeText;
    if (file.size > cfg.maxFileBytes) {
      app().toast(`${name} is ${sizeText(file.size)}: files can be at most ${sizeText(cfg.maxFileBytes)}.`, "error");
      return;
    }
    const body = new FormData();
    body.append("file", file, name);
    // in note mode the file goes with a private note, for colleagues only (its words as its text)
    const note = form.classList.contains("mode-note");
    if (note) {
      body.append("note", "1");
      const box = form.querySelector("textarea");
      if (box && box.value.trim()) { body.append("text", box.value.trim()); box.value = ""; }
    }
    form.classList.add("sending");
    try {
      const response = await fetch(urlFor(cfg.filesUrl, conversation.id), {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRFToken": cfg.csrfToken, Accept: "application/json" },
        body,
      });
      if (!response.ok) {
        let data = {};
        try { data = await response.json(); } catch (_) { /* empty */ }
        const fields = (data.error && data.error.fields) || {};
        app().toast((fields.file && `${name}: ${fields.file[0]}.`) || (data.error && data.error.message) || `The file was not sent (HTTP ${response.status}).`, "error");
      }
    } catch (_) {
      app().toast("You are offline; the file was not sent.", "error");
    } finally {
      form.classList.remove("sending");
    }
  }

  function enhanceComposer(form, conversation) {
    const box = form.querySelector("textarea");
    form.classList.add("mode-reply");
    const modes = h("div", { class: "composer-modes", role: "group", "aria-label": "Write a" });
    const replyButton = h("button", { type: "button", class: "mode", "aria-pressed": "true", "data-mode": "reply" }, "Reply");
    const noteButton = h("button", { type: "button", class: "mode", "aria-pressed": "false", "data-mode": "note" }, "Private note");
    // the mode stays when the conversation is read again: a private note being written must not
    // become a reply to the customer
    const setMode = (mode, focus = true) => {
      tools.composerMode = { id: conversation.id, mode };
      form.classList.toggle("mode-note", mode === "note");
      form.classList.toggle("mode-reply", mode !== "note");
      replyButton.setAttribute("aria-pressed", String(mode !== "note"));
      noteButton.setAttribute("aria-pressed", String(mode === "note"));
      box.placeholder = mode === "note"
        ? "Private note, never seen by the customer (@ names a colleague)"
        : replyHint(conversation);
      labelAttach(form);
      if (focus) box.focus();
    };
    replyButton.addEventListener("click", () => setMode("reply"));
    noteButton.addEventListener("click", () => setMode("note"));
    modes.append(replyButton, noteButton);
    form.prepend(modes);
    addAttach(form, box, conversation);
    const was = tools.composerMode;
    setMode(was && was.id === conversation.id ? was.mode : "reply", false);

    const picker = h("ul", { class: "canned-picker", role: "listbox", id: "canned-picker", "aria-label": "Canned replies", hidden: true });
    form.append(picker);
    box.setAttribute("aria-controls", "canned-picker");
    box.setAttribute("aria-autocomplete", "list");
    let matches = [];
    let active = 0;

    const slashQuery = () => {
      const upto = box.value.slice(0, box.selectionStart);
      const found = /(^|\s)\/([a-z0-9-]*)$/.exec(upto);
      return found ? { query: found[2], start: upto.length - found[2].length - 1 } : null;
    };
    const close = () => { picker.hidden = true; matches = []; box.removeAttribute("aria-activedescendant"); };
    const show = () => {
      const slash = slashQuery();
      if (!slash || !(cfg.cannedReplies || []).length) { close(); return; }
      matches = cfg.cannedReplies.filter((r) => r.shortcut.startsWith(slash.query) || (r.title || "").toLowerCase().includes(slash.query));
      if (!matches.length) { close(); return; }
      active = Math.min(active, matches.length - 1);
      picker.replaceChildren(...matches.map((reply, i) => h("li", {
        role: "option", id: `canned-${i}`, class: "canned-option", "aria-selected": String(i === active),
        "data-shortcut": reply.shortcut,
        onmousedown: (event) => { event.preventDefault(); insert(reply); },
      }, h("span", { class: "shortcut" }, `/${reply.shortcut}`), " ", h("span", { class: "canned-text" }, reply.title || reply.text))));
      picker.hidden = false;
      box.setAttribute("aria-activedescendant", `canned-${active}`);
    };
    // a canned reply's placeholders, filled for this conversation (the admin's help lists them)
    const filled = (text) => {
      const name = (conversation.customerName || "").trim();
      const values = {
        first_name: name ? name.split(/\s+/)[0] : "there",
        agent: cfg.myFirstName || cfg.myName || cfg.me,
        company: cfg.tenantName || "",
      };
      return text.replace(/\{(first_name|agent|company)\}/g, (_, key) => values[key]);
    };
    const insert = (reply) => {
      const slash = slashQuery();
      if (!slash) return;
      const after = box.value.slice(box.selectionStart);
      const text = filled(reply.text);
      box.value = box.value.slice(0, slash.start) + text + after;
      const caret = slash.start + text.length;
      box.setSelectionRange(caret, caret);
      close();
      box.focus();
      if ((reply.tags || []).length || reply.then) setCanned(reply.id);
    };

    // A canned reply that also acts (its tags, then resolve, snooze or hand back): said under
    // the composer until it is sent (inbox.js sends its id with the reply) or taken off (×).
    const cannedLine = h("p", { class: "canned-actions", hidden: true, role: "status" });
    form.append(cannedLine);
    const THEN = { resolve: "then resolve", snooze: "then snooze until the customer writes", hand_back: "then hand back to the AI" };
    function setCanned(id) {
      const reply = id && (cfg.cannedReplies || []).find((r) => r.id === id);
      if (!reply) {
        delete box.dataset.cannedReplyId;
        cannedLine.hidden = true;
        cannedLine.replaceChildren();
        return;
      }
      box.dataset.cannedReplyId = String(reply.id);
      const off = h("button", { type: "button", class: "ghost", "aria-label": `Do not do what /${reply.shortcut} does` }, "×");
      off.addEventListener("click", () => { setCanned(null); box.focus(); });
      const what = [
        ...(reply.tags || []).length ? [`tag ${reply.tags.join(", ")}`] : [],
        ...reply.then ? [THEN[reply.then]] : [],
      ].join(", ");
      cannedLine.replaceChildren(`Sent as a reply, /${reply.shortcut} will also ${what}. `, off);
      cannedLine.hidden = false;
    }
    box.addEventListener("canned:set", (event) => setCanned(event.detail));

    box.addEventListener("input", () => {
      active = 0;
      show();
      if (!box.value.trim() && box.dataset.cannedReplyId) setCanned(null); // the reply cleared
      if (box.value.trim() && !slashQuery()) typingNow(conversation, form.classList.contains("mode-note"));
    });
    // the picker closes when the focus leaves the box, unless it came back meanwhile (the ×
    // of a canned reply's line gives it back: the next "/" typed at once keeps its picker)
    box.addEventListener("blur", () => setTimeout(() => { if (document.activeElement !== box) close(); }, 100));
    // capture: before inbox.js's own Enter (send) on the textarea
    form.addEventListener("keydown", (event) => {
      if (event.target !== box || event.isComposing) return;
      if (!picker.hidden && matches.length) {
        if (event.key === "ArrowDown" || event.key === "ArrowUp") {
          event.preventDefault();
          active = (active + (event.key === "ArrowDown" ? 1 : -1) + matches.length) % matches.length;
          show();
          return;
        }
        if (event.key === "Enter" || event.key === "Tab") {
          event.preventDefault(); event.stopPropagation();
          insert(matches[active]);
          return;
        }
        if (event.key === "Escape") { event.preventDefault(); event.stopPropagation(); close(); return; }
      }
      if (form.classList.contains("mode-note") && event.key === "Enter" && !event.shiftKey) {
        event.preventDefault(); event.stopPropagation();
        sendNote(conversation, box);
      }
    }, true);
    form.addEventListener("submit", (event) => {
      if (!form.classList.contains("mode-note")) return;
      event.preventDefault(); event.stopImmediatePropagation();
      sendNote(conversation, box);
    }, true);
  }

  // the customer hears a reply being written (its holder's); colleagues with the conversation
  // open hear a reply or a private note (handover/viewing.py)
  function typingNow(conversation, note) {
    const kind = note ? "note" : "reply";
    if (Date.now() - (tools.typingSentAt[kind] || 0) < TYPING_EVERY_MS) return;
    if (app().send({ type: "typing", conversationId: conversation.id, note: Boolean(note) })) tools.typingSentAt[kind] = Date.now();
  }

  function addTransfer(conversation) {
    const actions = pane.querySelector(".conv-head .actions");
    if (!actions) return;
    const menu = h("div", { class: "transfer-menu", hidden: true, role: "dialog", "aria-label": "Transfer the conversation" });
    const button = h("button", { type: "button", class: "secondary", id: "transfer-toggle", "aria-expanded": "false" }, "Transfer");
    button.addEventListener("click", () => {
      const open = menu.hidden;
      menu.hidden = !open;
      button.setAttribute("aria-expanded", String(open));
      if (open) fillTransfer(menu, conversation);
    });
    actions.prepend(button);
    actions.append(menu);
  }

  // Snooze: put the conversation aside until a time, or until the customer writes (it stays
  // yours); the times are the person's own (their browser's clock and zone).
  function snoozeChoices() {
    const now = new Date();
    const at9 = (days) => { const d = new Date(now); d.setDate(d.getDate() + days); d.setHours(9, 0, 0, 0); return d; };
    const monday = (8 - now.getDay()) % 7 || 7;
    return [
      ["For 1 hour", new Date(now.getTime() + 3600e3)],
      ["For 4 hours", new Date(now.getTime() + 4 * 3600e3)],
      ["Tomorrow at 9:00", at9(1)],
      ["Monday at 9:00", at9(monday)],
      ["Until the customer writes", new Date(now.getTime() + 30 * 86400e3 - 60e3)],
    ];
  }

  function addSnooze(handoff) {
    const actions = pane.querySelector(".conv-head .actions");
    if (!actions) return;
    const asleep = handoff.snoozedUntil && Date.parse(handoff.snoozedUntil) > Date.now();
    if (asleep) {
      actions.prepend(h("button", {
        type: "button", class: "secondary", id: "snooze-wake",
        title: `Snoozed until ${app().snoozeText(handoff.snoozedUntil)} or the customer's next message`,
        onclick: () => snooze(handoff, null),
      }, "Wake now"));
      return;
    }
    const menu = h("div", { class: "transfer-menu snooze-menu", hidden: true, role: "menu", "aria-label": "Snooze until" },
      snoozeChoices().map(([label, until]) => h("button", {
        type: "button", class: "ghost", role: "menuitem",
        onclick: () => { menu.hidden = true; button.setAttribute("aria-expanded", "false"); snooze(handoff, until); },
      }, label)));
    const button = h("button", {
      type: "button", class: "secondary", id: "snooze-toggle", "aria-expanded": "false", "aria-haspopup": "menu",
      title: "Put it aside until a time or the customer's next message; it stays yours",
    }, "Snooze");
    button.addEventListener("click", () => {
      menu.hidden = !menu.hidden;
      button.setAttribute("aria-expanded", String(!menu.hidden));
      if (!menu.hidden) menu.querySelector("button").focus();
    });
    menu.addEventListener("keydown", (event) => {
      if (event.key === "Escape") { menu.hidden = true; button.setAttribute("aria-expanded", "false"); button.focus(); }
    });
    actions.prepend(button);
    actions.append(menu);
  }

  function snooze(handoff, until) {
    const sent = app().send({ type: "handoff.snooze", handoffId: handoff.id, until: until ? until.toISOString() : null });
    if (!sent) app().toast("You are offline; nothing was snoozed.", "error");
  }

  function snoozeResult(event) {
    if (!event.ok) { app().toast(`Not snoozed: ${event.error}`, "error"); return; }
    app().toast(event.snoozedUntil ? `Snoozed until ${app().snoozeText(event.snoozedUntil)}, or until the customer writes.` : "Back in your conversations.", "success");
  }

  function fillTransfer(menu, conversation) {
    const colleagues = tools.online.filter((name) => name !== cfg.me);
    const select = h("select", { id: "transfer-to", "aria-label": "Colleague" },
      colleagues.map((name) => h("option", { value: name, disabled: (tools.statuses[name] || "online") !== "online" },
        `${name}${(tools.statuses[name] || "online") !== "online" ? ` (${tools.statuses[name]})` : ""}`)));
    const go = h("button", { type: "button", class: "primary", id: "transfer-go", disabled: !colleagues.length }, "Transfer");
    go.addEventListener("click", async () => {
      try {
        await postJSON(urlFor(cfg.transferUrl, conversation.id), { to: select.value });
        app().toast(`Passed ${conversation.customer} to ${select.value}.`, "success");
        app().send({ type: "resync" });
        app().reload(conversation.id);
      } catch (error) {
        app().toast(`Not transferred: ${error.message}`, "error");
      }
    });
    const back = h("button", { type: "button", class: "ghost", id: "requeue" }, "Back to the queue");
    // for which group of people (handover/groups.py): the one it had, by default
    const groups = cfg.groups || [];
    const had = tools.detail && tools.detail.handoff ? tools.detail.handoff.group : null;
    const forWhom = groups.length ? h("select", { id: "requeue-group", "aria-label": "Back to the queue for" },
      h("option", { value: "" }, "everyone"),
      ...groups.map((g) => h("option", { value: String(g.id), selected: g.name === had ? "" : null }, g.name))) : null;
    back.addEventListener("click", async () => {
      const chosen = forWhom && forWhom.value ? groups.find((g) => String(g.id) === forWhom.value) : null;
      try {
        await postJSON(urlFor(cfg.requeueUrl, conversation.id), forWhom ? { group: chosen ? chosen.id : null } : undefined);
        app().toast(`${conversation.customer} is back in the queue${chosen ? ` for ${chosen.name}` : ""}.`, "success");
        app().send({ type: "resync" });
        app().reload(conversation.id);
      } catch (error) {
        app().toast(`Not put back: ${error.message}`, "error");
      }
    });
    menu.replaceChildren(
      colleagues.length ? h("label", {}, "To ", select) : h("p", {}, "No colleague is online."),
      go, back, ...(forWhom ? [h("label", {}, "for ", forWhom)] : []));
  }

  function customerTyping(event) {
    if (!tools.detail || tools.detail.conversation.id !== event.conversationId) return;
    const line = pane.querySelector(".customer-typing");
    if (!line) return;
    line.textContent = `${tools.detail.conversation.customer} is typing…`;
    line.hidden = false;
    clearTimeout(tools.customerTypingTimer);
    tools.customerTypingTimer = setTimeout(() => { line.hidden = true; }, SHOW_TYPING_MS);
  }

  // --- the customer's name and e-mail, as they told them --------------------------------------

  function addCustomerEdit(conversation) {
    const title = pane.querySelector(".conv-head h2");
    if (!title) return;
    const button = h("button", {
      type: "button", class: "link customer-edit", id: "customer-edit", "aria-expanded": "false",
      "aria-label": `Edit ${conversation.customer}'s name and e-mail address`,
    }, "Edit");
    const block = h("button", {
      type: "button", class: "link customer-block", id: "customer-block", "aria-expanded": "false",
      "aria-label": `Block ${conversation.customer}`,
    }, "Block");
    const copy = h("button", {
      type: "button", class: "link customer-edit transcript-send", id: "transcript-send", "aria-expanded": "false",
      "aria-label": `E-mail a copy of this conversation`, title: "E-mail a copy of this conversation",
    }, "Send copy");
    const row = h("div", { class: "conv-name" }); // the heading stays the customer's name alone
    title.replaceWith(row);
    row.append(title, button, copy, block);
    toggles(block, ".block-form", () => blockForm(conversation, block), "#block-reason");
    toggles(copy, ".transcript-form", () => transcriptForm(conversation, copy), "#transcript-to");
    if (conversation.customerEmail && conversation.customerEmail !== conversation.customer) {
      row.after(h("p", { class: "customer-email" }, conversation.customerEmail));
    }
    toggles(button, ".customer-form", () => customerForm(conversation, button), "#customer-name");
  }

  // `button` opens (under the conversation's header) or closes the form `make()` builds; an
  // open form stays when the conversation is read again
  function toggles(button, selector, make, focus) {
    button.addEventListener("click", () => {
      const open = pane.querySelector(selector);
      if (open) { open.remove(); button.setAttribute("aria-expanded", "false"); return; }
      const place = (form) => {
        const head = pane.querySelector(".conv-head");
        if (!head) return false;
        head.after(form);
        opener(button).setAttribute("aria-expanded", "true");
        return true;
      };
      place(kept(make(), place));
      pane.querySelector(focus).focus();
    });
  }

  // A form a person writes in stays through the conversation being read again (inbox.js's
  // putBack): `place(form)` puts it back in the new page and answers whether it could.
  function kept(form, place) {
    form.dataset.keepFor = String(tools.detail.conversation.id);
    form.keep = () => place(form);
    return form;
  }

  // the button as it is on the page now: the conversation may have been read again since
  const opener = (button) => document.getElementById(button.id) || button;

  // A small form under the header (Edit, Block): its fields, `submit` and Cancel, and a line
  // for a refusal; Esc or Cancel closes it and gives the focus back to `button`.
  function headerForm(button, attrs, fields, submit) {
    const problem = h("p", { class: "form-error", role: "alert", hidden: true });
    const form = h("form", attrs, ...fields,
      h("div", { class: "customer-form-buttons" }, submit,
        h("button", { type: "button", class: "ghost", onclick: () => close() }, "Cancel")),
      problem);
    const close = () => {
      form.remove();
      const now = opener(button);
      now.setAttribute("aria-expanded", "false");
      now.focus();
    };
    form.addEventListener("keydown", (event) => { if (event.key === "Escape") { event.preventDefault(); close(); } });
    return { form, problem, close };
  }

  function customerForm(conversation, button) {
    const byEmail = conversation.channel === "email";
    const name = h("input", { id: "customer-name", type: "text", maxlength: "200", autocomplete: "off" });
    const email = h("input", {
      id: "customer-email", type: "email", maxlength: "254", autocomplete: "off", disabled: byEmail,
      title: byEmail ? "Replies to this e-mail conversation go to this address" : null,
    });
    name.value = conversation.customerName || "";
    email.value = conversation.customerEmail || "";
    const { form, problem, close } = headerForm(button,
      { class: "customer-form", "aria-label": "The customer's details", novalidate: true },
      [h("label", { for: "customer-name" }, "Name"), name, h("label", { for: "customer-email" }, "E-mail"), email],
      h("button", { type: "submit", class: "primary" }, "Save"));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const change = { name: name.value };
      if (!byEmail) change.email = email.value;
      try {
        const saved = await postJSON(urlFor(cfg.customerUrl, conversation.id), change);
        close();
        app().toast(`Saved: ${saved.customer}.`, "success");
        app().reload(conversation.id);
      } catch (error) {
        const fields = error.fields || {};
        const [field] = Object.keys(fields);
        problem.textContent = field ? `${field === "email" ? "E-mail" : "Name"}: ${fields[field][0]}.` : error.message;
        problem.hidden = false;
        (field === "email" ? email : name).focus();
      }
    });
    return form;
  }

  // What is known of the customer ("About the customer", conversations/attributes.py): the
  // person changes a value, takes one off or adds one; a value keeps its kind (a number stays
  // a number), and the colleagues read what changed in a note.
  function addAttributesEdit(conversation) {
    const section = document.getElementById("customer-attributes");
    if (!section) return;
    const button = h("button", {
      type: "button", class: "link attributes-edit", id: "attributes-edit", "aria-expanded": "false",
      "aria-label": `Edit what we know of ${conversation.customer}`,
    }, (conversation.attributes || []).length ? "Edit" : "Add");
    section.querySelector("h2").after(button); // beside the heading, not in its name
    button.addEventListener("click", () => {
      if (section.querySelector(".attributes-form")) { closeAttributes(); return; }
      placeAttributes(kept(attributesForm(conversation), placeAttributes));
      const first = section.querySelector(".attributes-form input:not([readonly])");
      if (first) first.focus();
    });
  }

  // the form in the section in place of what it shows (the section as it is on the page now)
  function placeAttributes(form) {
    const section = document.getElementById("customer-attributes");
    if (!section) return false;
    for (const shown of section.querySelectorAll(":scope > dl, :scope > p")) shown.hidden = true;
    section.append(form);
    document.getElementById("attributes-edit").setAttribute("aria-expanded", "true");
    return true;
  }

  // the form goes; `saved`, what it showed stays hidden until the conversation is read again
  function closeAttributes(saved) {
    const section = document.getElementById("customer-attributes");
    const button = document.getElementById("attributes-edit");
    section.querySelector(".attributes-form").remove();
    if (!saved) for (const shown of section.querySelectorAll(":scope > dl, :scope > p")) shown.hidden = false;
    button.setAttribute("aria-expanded", "false");
    button.focus();
  }

  function attributesForm(conversation) {
    return window.attributesForm({
      customer: conversation.customer,
      attributes: conversation.attributes,
      save: (change) => postJSON(urlFor(cfg.customerUrl, conversation.id), change),
      close: (saved) => {
        closeAttributes(saved);
        if (!saved) return;
        app().toast("Saved what we know of the customer.", "success");
        app().reload(conversation.id);
      },
    });
  }

  // E-mail a copy of the conversation (handover/transcripts.py): what the customer saw, never a
  // note; to the customer's address unless the person gives another.
  function transcriptForm(conversation, button) {
    const to = h("input", {
      id: "transcript-to", type: "email", maxlength: "254", autocomplete: "off",
      placeholder: "kim@example.com",
    });
    to.value = conversation.customerEmail || "";
    const { form, problem, close } = headerForm(button,
      { class: "customer-form transcript-form", "aria-label": "E-mail a copy of this conversation", novalidate: true },
      [h("label", { for: "transcript-to" }, "Send to"), to,
        h("p", { class: "form-hint" }, "What the customer saw, with the files' names; never a private note.")],
      h("button", { type: "submit", class: "primary" }, "Send"));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        const sent = await postJSON(urlFor(cfg.transcriptUrl, conversation.id), { to: to.value });
        close();
        app().toast(`A copy of the conversation is on its way to ${sent.to}.`, "success");
      } catch (error) {
        const fields = error.fields || {};
        problem.textContent = fields.to ? `Send to: ${fields.to[0]}.` : error.message;
        problem.hidden = false;
        to.focus();
      }
    });
    return form;
  }

  // Block the customer (spam, abuse; handover/blocking.py): no new conversation starts for
  // them, and this one is resolved. A manager unblocks in the admin.
  function blockForm(conversation, button) {
    const reason = h("input", { id: "block-reason", type: "text", maxlength: "500", autocomplete: "off", placeholder: "Spam, abuse…" });
    const { form, problem, close } = headerForm(button,
      { class: "block-form", "aria-label": `Block ${conversation.customer}` },
      [h("p", {}, `Block ${conversation.customer}? No new conversation starts for them (by their e-mail address, their customer id or, on the web chat, their network address${cfg.addressBlockDays ? ` for ${cfg.addressBlockDays} days` : ""}), and this one is resolved. A manager can unblock them in the admin.`),
        h("label", { for: "block-reason" }, "Why (for your colleagues)"), reason],
      h("button", { type: "submit", class: "danger" }, "Block"));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        await postJSON(urlFor(cfg.blockUrl, conversation.id), { reason: reason.value });
        close();
        app().toast(`${conversation.customer} is blocked, and the conversation resolved.`, "success");
        app().reload(conversation.id);
      } catch (error) {
        const fields = error.fields || {};
        problem.textContent = fields.reason ? `Why: ${fields.reason[0]}.` : error.message;
        problem.hidden = false;
        reason.focus();
      }
    });
    return form;
  }

  // --- tags: words to find and count such conversations later ---------------------------------

  const tagNames = h("datalist", { id: "inbox-tag-names" });
  document.body.append(tagNames);
  function suggest(names) {
    const known = new Set(cfg.tagNames || []);
    for (const name of names) known.add(name);
    cfg.tagNames = [...known];
    tagNames.replaceChildren(...cfg.tagNames.map((name) => h("option", { value: name })));
  }
  suggest([]);

  function addTags(conversation) {
    const head = pane.querySelector(".conv-head");
    if (!head) return;
    // the same bar (and a tag half typed in it) when the conversation is read again
    const known = tools.renderTags;
    if (known && known.id === conversation.id) {
      known.conversation.tags = conversation.tags || [];
      known.render(known.conversation.tags);
      head.after(known.bar);
      return;
    }
    const list = h("ul", { class: "tag-list" });
    const input = h("input", {
      type: "text", class: "tag-input", placeholder: "Add a tag", maxlength: "40",
      list: "inbox-tag-names", autocomplete: "off", "aria-label": `Add a tag to the conversation with ${conversation.customer}`,
    });
    const render = (tags) => {
      conversation.tags = tags;
      list.replaceChildren(...tags.map((name) => h("li", { class: "tag-chip" }, name,
        h("button", {
          type: "button", class: "tag-remove", "aria-label": `Remove the tag ${name}`,
          onclick: () => changeTags(conversation, { remove: name }, render),
        }, "×"))));
    };
    render(conversation.tags || []);
    input.addEventListener("keydown", async (event) => {
      if (event.key !== "Enter" || event.isComposing) return;
      event.preventDefault();
      const name = input.value.trim();
      if (!name) return;
      input.value = ""; // ready for the next one at once; given back if it is refused
      if (!await changeTags(conversation, { add: name }, render) && !input.value) input.value = name;
    });
    const bar = h("div", { class: "tag-bar", role: "group", "aria-label": "Tags" }, list, input);
    tools.renderTags = { id: conversation.id, conversation, render, bar };
    head.after(bar);
  }

  async function changeTags(conversation, change, render) {
    try {
      const data = await postJSON(urlFor(cfg.tagsUrl, conversation.id), change);
      render(data.tags);
      suggest(data.tags);
      app().tagsChanged(conversation.id, data.tags);
      return true;
    } catch (error) {
      const why = error.fields && error.fields.tag ? `a tag ${error.fields.tag[0]}` : error.message;
      app().toast(`Tag not changed: ${why}.`, "error");
      return false;
    }
  }

  function tagged(event) {
    suggest(event.tags || []);
    app().tagsChanged(event.conversationId, event.tags || []);
    const shown = tools.renderTags;
    if (shown && shown.id === event.conversationId) shown.render(event.tags || []);
  }

  // "Seen": the last message of ours (a person's or the AI's) that the web chat's customer had
  // on their screen; their chat tells while its page is shown.
  function markSeen() {
    for (const old of pane.querySelectorAll(".seen-mark")) old.remove();
    const seen = tools.detail && tools.detail.conversation.customerSeenMessageId;
    if (!seen) return;
    const ours = [...pane.querySelectorAll(".transcript li.msg-human[data-id], .transcript li.msg-agent[data-id]")]
      .filter((item) => Number(item.dataset.id) <= seen);
    const last = ours[ours.length - 1];
    if (!last) return;
    (last.querySelector(".msg-meta") || last).append(
      h("span", { class: "seen-mark", title: "The customer had it on their screen" }, "Seen"));
  }

  function customerSeen(event) {
    if (!tools.detail || tools.detail.conversation.id !== event.conversationId) return;
    tools.detail.conversation.customerSeenMessageId = event.messageId;
    markSeen();
  }

  function transferred(event) {
    if (event.to === cfg.me || event.from === cfg.me) app().send({ type: "resync" });
    if (event.to === cfg.me) app().toast(`${event.from} passed you a conversation.`, "info");
    if (tools.detail && tools.detail.conversation.id === event.conversationId) app().reload(event.conversationId);
  }

  // --- editing one's own private note ----------------------------------------------------------

  function editNote(button) {
    const item = button.closest("li.msg-note");
    const bubble = item && item.querySelector(".bubble");
    if (!bubble || item.querySelector(".note-edit-form")) return;
    const id = button.dataset.note;
    const box = h("textarea", { rows: "2", class: "note-box", "aria-label": "Edit the private note", maxlength: "10000" });
    box.value = bubble.textContent;
    // the note's bubble and Edit button as they are on the page now (it may have been read again)
    const done = (focus) => {
      const now = form.closest("li.msg-note");
      form.remove();
      if (!now) return;
      now.querySelector(".bubble").hidden = false;
      if (focus) now.querySelector(".note-edit").focus();
    };
    const form = h("form", { class: "note-edit-form" }, box,
      h("div", { class: "note-edit-buttons" },
        h("button", { type: "submit", class: "secondary" }, "Save"),
        h("button", { type: "button", class: "link", onclick: () => done(true) }, "Cancel")));
    const save = () => {
      const text = box.value.trim();
      if (!text) { app().toast("A note cannot be empty.", "error"); return; }
      if (!app().send({ type: "note.edit", messageId: Number(id), text })) {
        app().toast("You are offline; the note was not changed.", "error");
        return;
      }
      done(false);
    };
    form.addEventListener("submit", (event) => { event.preventDefault(); save(); });
    box.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) { event.preventDefault(); save(); }
      if (event.key === "Escape") done(true);
    });
    const place = (form) => {
      const shown = pane.querySelector(`li.msg-note[data-id="${CSS.escape(id)}"] .bubble`);
      if (!shown) return false;
      shown.hidden = true;
      shown.after(form);
      return true;
    };
    place(kept(form, place));
    box.focus();
  }

  pane.addEventListener("click", (event) => {
    const button = event.target.closest && event.target.closest(".note-edit");
    if (button) editNote(button);
  });

  document.addEventListener("inbox:detail", (event) => detailRendered(event.detail));
  document.addEventListener("inbox:event", (event) => {
    const data = event.detail;
    switch (data.type) {
      case "inbox.snapshot": presence({ online: data.online, statuses: data.statuses }); break;
      case "presence": presence(data); break;
      case "status.set.result": statusResult(data); break;
      case "handoff.snooze.result": snoozeResult(data); break;
      case "note.send.result": if (!data.ok) app().toast(`Note not saved: ${data.error}`, "error"); break;
      case "note.edit.result": if (!data.ok) app().toast(`Note not changed: ${data.error}`, "error"); break;
      case "customer.typing": customerTyping(data); break;
      case "customer.seen": customerSeen(data); break;
      case "conversation.tagged": tagged(data); break;
      case "conversation.merged": merged(data); break;
      case "customer.updated": app().customerChanged(data); break;
      case "handoff.transferred": transferred(data); break;
      case "message.created":
        if (data.message && data.message.role === "customer") {
          const line = pane.querySelector(".customer-typing");
          if (line) line.hidden = true;
        }
        break;
      default: break;
    }
  });
})();

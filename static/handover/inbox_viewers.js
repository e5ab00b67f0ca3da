// Who else has a conversation open, and who is writing in it (handover/viewing.py): the
// queue's cards name the colleagues on each conversation, the open conversation says "Also
// here: …" under its header, and "Kim is writing a private note…" under its transcript. The
// lists come with the socket's snapshot and with every change (conversation.viewers); typing
// only for the conversation open here (colleague.typing). Text is only set with textContent.
(() => {
  "use strict";

  const cfg = JSON.parse(document.getElementById("inbox-config").textContent);
  const pane = document.getElementById("conversation");
  const { h } = window.inboxApp;
  const SHOW_TYPING_MS = 4000;

  const viewers = new Map(); // conversation id -> [{id, username, name}], the others (not me)
  const typing = new Map(); // user id -> { name, note, timer }, in the open conversation
  let open = null; // the conversation open here

  function app() { return window.inboxApp; }

  // the list without me (my other tabs are not a colleague); true when it changed
  function set(conversationId, list) {
    const before = JSON.stringify(viewers.get(conversationId) || []);
    const now = (list || []).filter((person) => person.id !== cfg.meId);
    if (now.length) viewers.set(conversationId, now);
    else viewers.delete(conversationId);
    for (const id of [...typing.keys()]) { // who left stops typing here
      if (conversationId === open && !now.some((person) => person.id === id)) stopTyping(id);
    }
    return before !== JSON.stringify(now);
  }

  const firstName = (person) => person.name.split(" ")[0];

  function listed(people) {
    if (people.length <= 2) return people.join(" and ");
    return `${people.slice(0, -1).join(", ")} and ${people[people.length - 1]}`;
  }

  // the card's "Kim viewing" (inbox.js asks for it as it draws a card)
  function chip(conversationId) {
    const people = viewers.get(conversationId);
    if (!people) return null;
    const short = people.length > 2 ? `${firstName(people[0])} +${people.length - 1}` : people.map(firstName).join(", ");
    return h("span", {
      class: "viewers",
      title: `${listed(people.map((person) => person.name))} ${people.length === 1 ? "has" : "have"} it open`,
    }, `${short} viewing`);
  }

  function showHere() {
    const line = pane.querySelector(".viewers-here");
    if (!line) return;
    const people = viewers.get(open) || [];
    line.hidden = !people.length;
    line.textContent = people.length ? `Also here: ${listed(people.map((person) => person.name))}` : "";
  }

  function showTyping() {
    const line = pane.querySelector(".colleague-typing");
    if (!line) return;
    const writers = [...typing.values()];
    line.hidden = !writers.length;
    if (!writers.length) { line.textContent = ""; return; }
    const notes = writers.every((w) => w.note);
    const replies = writers.every((w) => !w.note);
    const what = notes ? "a private note" : replies ? "a reply" : "";
    line.textContent = `${listed(writers.map((w) => w.name))} ${writers.length === 1 ? "is" : "are"} writing${what ? ` ${what}` : ""}…`;
  }

  function stopTyping(id) {
    const writer = typing.get(id);
    if (!writer) return;
    clearTimeout(writer.timer);
    typing.delete(id);
    showTyping();
  }

  function colleagueTyping(event) {
    if (event.conversationId !== open || event.id === cfg.meId) return;
    const writer = typing.get(event.id);
    if (writer) clearTimeout(writer.timer);
    typing.set(event.id, {
      name: event.name,
      note: event.note,
      timer: setTimeout(() => stopTyping(event.id), SHOW_TYPING_MS),
    });
    showTyping();
  }

  // the open conversation was drawn (again): its lines go under the header and the transcript
  function rendered(detail) {
    const id = detail.conversation.id;
    if (id !== open) {
      for (const writer of [...typing.keys()]) stopTyping(writer);
      open = id;
    }
    const head = pane.querySelector(".conv-head");
    if (head && !pane.querySelector(".viewers-here")) {
      head.after(h("p", { class: "viewers-here", role: "status", hidden: true }));
    }
    const scroller = pane.querySelector(".transcript-scroll");
    if (scroller && !pane.querySelector(".colleague-typing")) {
      scroller.after(h("p", { class: "colleague-typing", role: "status", hidden: true }));
    }
    showHere();
    showTyping();
  }

  function changed(conversationId, list) {
    if (!set(conversationId, list)) return;
    app().renderLists();
    if (conversationId === open) showHere();
  }

  document.addEventListener("inbox:detail", (event) => rendered(event.detail));
  document.addEventListener("inbox:event", (event) => {
    const data = event.detail;
    switch (data.type) {
      case "inbox.snapshot":
        viewers.clear();
        for (const [conversationId, list] of Object.entries(data.viewers || {})) set(conversationId, list);
        app().renderLists();
        showHere();
        break;
      case "conversation.viewers": changed(data.conversationId, data.viewers); break;
      case "conversation.watch.result":
        if (data.ok && data.conversationId) changed(data.conversationId, data.viewers);
        break;
      case "colleague.typing": colleagueTyping(data); break;
      case "message.created": // what they were writing arrived
        if (data.message && data.message.authorId) stopTyping(data.message.authorId);
        break;
      default: break;
    }
  });

  window.inboxViewers = { chip };
})();

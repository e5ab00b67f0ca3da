// A copy of the conversation by e-mail (handover/transcripts.py): when the conversation is
// resolved (chat.js shows the "#closed" card), "E-mail me a copy of this conversation" takes the
// customer's address (the one they left for follow-ups, if any) and asks the page's own
// CSRF-protected view, with the customer token, to send what was said. No library.
(function () {
  "use strict";
  const cfg = JSON.parse(document.getElementById("chat-config").textContent);
  const closed = document.getElementById("closed");
  const form = document.getElementById("copy");
  if (!closed || !form || !cfg.transcriptUrl) return;
  const input = document.getElementById("copy-email");
  const error = document.getElementById("copy-error");
  const sent = document.getElementById("copy-sent");

  const conversation = () => window.chatSession(); // chat.js reads it

  function sentKey(session) { return `copy:${session.conversationId}`; }

  // shown with the card; after a copy, which address it went to instead
  function show() {
    if (closed.hidden) return;
    const session = conversation();
    if (!session) { form.hidden = true; return; }
    let to = null;
    try { to = localStorage.getItem(sentKey(session)); } catch (_) { to = null; }
    form.hidden = Boolean(to);
    sent.hidden = !to;
    if (to) sent.textContent = `A copy is on its way to ${to}.`;
    else if (!input.value && session.email) input.value = session.email;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const session = conversation();
    if (!session) return;
    error.hidden = true;
    const email = input.value.trim();
    if (!email) { input.focus(); return; }
    const button = document.getElementById("copy-send");
    button.disabled = true;
    try {
      const response = await fetch(cfg.transcriptUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: {
          "Content-Type": "application/json",
          "X-CSRFToken": document.querySelector("[name=csrfmiddlewaretoken]").value,
        },
        body: JSON.stringify({ conversationId: session.conversationId, token: session.token, email }),
      });
      let body = {};
      try { body = await response.json(); } catch (_) { body = {}; }
      if (!response.ok) {
        const fields = (body.error && body.error.fields) || {};
        error.textContent = (fields.email && `E-mail: ${fields.email[0]}.`) || (body.error && body.error.message) || "The copy could not be sent. Please try again.";
        error.hidden = false;
        input.focus();
        return;
      }
      try { localStorage.setItem(sentKey(session), body.email); } catch (_) { /* private mode */ }
      show();
    } catch (_) {
      error.textContent = "The copy could not be sent. Check your connection and try again.";
      error.hidden = false;
    } finally {
      button.disabled = false;
    }
  });

  new MutationObserver(show).observe(closed, { attributes: true, attributeFilter: ["hidden"] });
  show();
})();

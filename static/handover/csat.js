// The customer's rating (CSAT, issue 19, point 5): when the conversation is resolved (chat.js
// shows the "#closed" card), ask "How did we do?" with five buttons; the rating goes to the
// page's own CSRF-protected view with the customer token, once per conversation (a second is
// refused by the server: 409). Once rated, "Anything you'd like to add?" takes a few words,
// once (handover/csat.py). No library.
(function () {
  "use strict";
  const cfg = JSON.parse(document.getElementById("chat-config").textContent);
  const closed = document.getElementById("closed");
  const form = document.getElementById("csat");
  if (!closed || !form || !cfg.rateUrl) return;
  const thanks = document.getElementById("csat-thanks");
  const error = document.getElementById("csat-error");
  const buttons = [...form.querySelectorAll("button[data-score]")];

  const conversation = () => window.chatSession(); // chat.js reads it

  function ratedKey(session) { return `csat:${session.conversationId}`; }
  function commentedKey(session) { return `csat-comment:${session.conversationId}`; }

  const commentForm = document.getElementById("csat-comment");
  const commentText = document.getElementById("csat-comment-text");
  const commentError = document.getElementById("csat-comment-error");
  const commentThanks = document.getElementById("csat-comment-thanks");

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        "X-CSRFToken": document.querySelector("[name=csrfmiddlewaretoken]").value,
      },
      body: JSON.stringify(body),
    });
  }

  function offerComment(session) {
    let commented = null;
    try { commented = localStorage.getItem(commentedKey(session)); } catch (_) { commented = null; }
    if (!commented && session.rating && session.rating.commented) commented = "1"; // another device's
    commentForm.hidden = Boolean(commented) || !cfg.rateCommentUrl;
    commentThanks.hidden = !commented;
  }

  async function sendComment(event) {
    event.preventDefault();
    const session = conversation();
    if (!session) return;
    commentError.hidden = true;
    const text = commentText.value.trim();
    if (!text) { commentText.focus(); return; }
    const button = commentForm.querySelector("button");
    button.disabled = true;
    try {
      const response = await post(cfg.rateCommentUrl, { conversationId: session.conversationId, token: session.token, comment: text });
      const body = await response.json().catch(() => ({}));
      if (response.ok || response.status === 409) {
        try { localStorage.setItem(commentedKey(session), "1"); } catch (_) { /* no storage */ }
        commentForm.hidden = true;
        commentThanks.hidden = false;
        if (response.status === 409) commentThanks.textContent = (body.error && body.error.message) || "Thank you!";
        return;
      }
      const fields = (body.error && body.error.fields) || {};
      commentError.textContent = (fields.comment && fields.comment[0]) ? `Your comment ${fields.comment[0]}.` : "Your comment could not be sent. Please try again.";
      commentError.hidden = false;
    } catch (_) {
      commentError.textContent = "Your comment could not be sent. Please try again.";
      commentError.hidden = false;
    } finally {
      button.disabled = false;
    }
  }

  function done(score) {
    for (const button of buttons) {
      button.disabled = true;
      button.setAttribute("aria-pressed", String(Number(button.dataset.score) === score));
    }
    thanks.hidden = false;
    const session = conversation();
    if (session) offerComment(session);
  }

  function show() {
    const session = conversation();
    if (closed.hidden || !session) { form.hidden = true; return; }
    form.hidden = false;
    thanks.hidden = true;
    error.hidden = true;
    commentForm.hidden = true;
    commentThanks.hidden = true;
    let rated = null;
    try { rated = localStorage.getItem(ratedKey(session)); } catch (_) { rated = null; }
    // rated on another device: a signed-in visitor's conversation tells (chat.js's resume)
    if (!rated && session.rating && session.rating.score) rated = String(session.rating.score);
    if (rated) done(Number(rated));
    else for (const button of buttons) { button.disabled = false; button.setAttribute("aria-pressed", "false"); }
  }

  async function rate(score) {
    const session = conversation();
    if (!session) return;
    for (const button of buttons) button.disabled = true;
    error.hidden = true;
    try {
      const response = await post(cfg.rateUrl, { conversationId: session.conversationId, token: session.token, score });
      if (response.status === 201 || response.status === 409) {
        try { localStorage.setItem(ratedKey(session), String(score)); } catch (_) { /* no storage */ }
        done(score);
        if (response.status === 409) thanks.textContent = "You have rated this conversation already. Thank you!";
        return;
      }
      throw new Error(String(response.status));
    } catch (_) {
      error.hidden = false;
      for (const button of buttons) button.disabled = false;
    }
  }

  for (const button of buttons) button.addEventListener("click", () => rate(Number(button.dataset.score)));
  commentForm.addEventListener("submit", sendComment);
  new MutationObserver(show).observe(closed, { attributes: true, attributeFilter: ["hidden"] });
  show();
})();

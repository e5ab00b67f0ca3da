// The read-only conversation page (/inbox/conversations/<id>/view), for whoever reads it there
// (a manager who is no agent has no inbox): set the customer's name or e-mail address, e-mail a
// copy of the conversation, block the customer, and set an open handoff's priority, through the inbox's own doors. The page
// reloads after a change, so what it shows is the server's. Text is only set with textContent.
(() => {
  "use strict";

  const panel = document.getElementById("customer-panel");
  if (!panel) return;
  const csrf = (document.querySelector("input[name=csrfmiddlewaretoken]") || {}).value || "";

  async function post(url, data) {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrf, Accept: "application/json", "Content-Type": "application/json" },
      body: JSON.stringify(data),
    });
    let body = {};
    try { body = await response.json(); } catch (_) { /* empty */ }
    if (!response.ok) {
      const error = body.error || {};
      const fields = error.fields || {};
      const [field] = Object.keys(fields);
      const problem = new Error(field ? `${field}: ${fields[field][0]}` : error.message || `HTTP ${response.status}`);
      problem.fields = fields;
      throw problem;
    }
    return body;
  }

  // a form shown by its button, hidden by Cancel or Esc; `send` posts it, then the page reloads
  function wire(button, form, first, send) {
    const problem = form.querySelector(".form-error");
    const close = () => { form.hidden = true; button.setAttribute("aria-expanded", "false"); button.focus(); };
    button.setAttribute("aria-expanded", "false");
    button.addEventListener("click", () => {
      const opening = form.hidden;
      for (const other of panel.querySelectorAll(".view-form")) other.hidden = true;
      form.hidden = !opening;
      button.setAttribute("aria-expanded", String(opening));
      if (opening) first.focus();
    });
    form.querySelector("[data-cancel]").addEventListener("click", close);
    form.addEventListener("keydown", (event) => { if (event.key === "Escape") { event.preventDefault(); close(); } });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        await send();
        window.location.reload();
      } catch (error) {
        problem.textContent = error.message;
        problem.hidden = false;
      }
    });
  }

  const name = document.getElementById("view-name");
  const email = document.getElementById("view-email");
  name.value = panel.dataset.name || "";
  email.value = panel.dataset.email || "";
  const byEmail = panel.dataset.channel === "email";
  email.disabled = byEmail; // an e-mail conversation's replies go to this address
  wire(document.getElementById("view-edit"), document.getElementById("view-edit-form"), name, () =>
    post(panel.dataset.customerUrl, byEmail ? { name: name.value } : { name: name.value, email: email.value }));
  // what is known of the customer (attributes_form.js builds the form)
  const known = document.getElementById("view-attributes");
  const knownButton = document.getElementById("view-attributes-edit");
  knownButton.setAttribute("aria-expanded", "false");
  knownButton.addEventListener("click", () => {
    const opening = known.hidden;
    for (const other of panel.querySelectorAll(".view-form")) other.hidden = true;
    known.replaceChildren();
    known.hidden = !opening;
    knownButton.setAttribute("aria-expanded", String(opening));
    if (!opening) return;
    known.append(window.attributesForm({
      customer: document.querySelector("h1").textContent,
      attributes: JSON.parse(document.getElementById("view-attributes-data").textContent),
      save: (change) => post(panel.dataset.customerUrl, change),
      close: (saved) => {
        if (saved) { window.location.reload(); return; }
        known.hidden = true;
        knownButton.setAttribute("aria-expanded", "false");
        knownButton.focus();
      },
    }));
    const first = known.querySelector("input");
    if (first) first.focus();
  });
  const copyTo = document.getElementById("view-transcript-to");
  copyTo.value = panel.dataset.email || "";
  wire(document.getElementById("view-send-copy"), document.getElementById("view-transcript-form"), copyTo, () =>
    post(panel.dataset.transcriptUrl, { to: copyTo.value }));
  const reason = document.getElementById("view-block-reason");
  wire(document.getElementById("view-block"), document.getElementById("view-block-form"), reason, () =>
    post(panel.dataset.blockUrl, { reason: reason.value }));
  document.getElementById("view-actions").hidden = false;

  const priority = document.getElementById("view-priority");
  if (priority && panel.dataset.priorityUrl) {
    priority.disabled = false;
    priority.addEventListener("change", async () => {
      try {
        await post(panel.dataset.priorityUrl, { priority: priority.value });
        window.location.reload();
      } catch (error) {
        priority.value = panel.dataset.band;
        window.alert(error.message);
      }
    });
  }
})();

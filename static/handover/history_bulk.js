// Many conversations at once from the history (handover/bulk.py): a manager ticks the
// conversations found, then resolves them (asked once more), tags them or takes a tag off, or
// gives the ones waiting for a person to a human agent. The door answers what was done and what
// was left alone with why; the page is read again and says so.
(() => {
  "use strict";

  const bar = document.getElementById("bulk");
  if (!bar) return;
  const result = document.getElementById("bulk-result");
  const all = document.getElementById("pick-all");
  const count = bar.querySelector(".count");
  const resolveStep = bar.querySelector(".resolve-step");
  const resolveButton = document.getElementById("bulk-resolve");
  const tagInput = document.getElementById("bulk-tag");
  const tagButton = document.getElementById("bulk-tag-go");
  const untagButton = document.getElementById("bulk-untag-go");
  const toSelect = document.getElementById("bulk-to");
  const giveButton = document.getElementById("bulk-give-go");
  const DONE_KEY = "history:bulk-done";

  const picks = () => [...document.querySelectorAll("input.pick")];
  const picked = () => picks().filter((box) => box.checked).map((box) => box.value);
  const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;

  function update() {
    const n = picked().length;
    count.textContent = `${n} picked`;
    resolveButton.disabled = !n;
    tagButton.disabled = !n || !tagInput.value.trim();
    untagButton.disabled = tagButton.disabled;
    giveButton.disabled = !n || !toSelect.value;
    if (all) {
      all.checked = n > 0 && n === picks().length;
      all.indeterminate = n > 0 && n < picks().length;
    }
  }

  function say(text, problem) {
    result.textContent = text;
    result.classList.toggle("problem", Boolean(problem));
  }

  // "Resolved 3 conversations. 1 left alone: resolved already."
  function summary(answer, action, value) {
    const done = plural(answer.done.length, "conversation", "conversations");
    const said = {
      resolve: `Resolved ${done}.`,
      tag: `Tagged ${done} ${value}.`,
      untag: `Took ${value} off ${done}.`,
      assign: `Gave ${done} to ${value}.`,
    }[action];
    const reasons = {};
    for (const why of Object.values(answer.left || {})) reasons[why] = (reasons[why] || 0) + 1;
    const left = Object.entries(reasons).map(([why, n]) => (n > 1 ? `${why} (${n})` : why));
    return left.length ? `${said} ${Object.keys(answer.left).length} left alone: ${left.join(", ")}.` : said;
  }

  async function act(action, value) {
    const body = { ids: picked(), action };
    if (action === "tag" || action === "untag") body.tag = value;
    if (action === "assign") body.to = value;
    let response;
    let answer = {};
    try {
      response = await fetch(bar.dataset.url, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": bar.dataset.csrf },
        body: JSON.stringify(body),
      });
      answer = await response.json().catch(() => ({}));
    } catch (_) {
      say("Nothing done: the server could not be reached.", true);
      return;
    }
    if (!response.ok) {
      const error = answer.error || {};
      const fields = error.fields || {};
      const first = Object.values(fields)[0];
      say(`Nothing done: ${Array.isArray(first) ? first[0] : first || error.message || response.status}.`, true);
      return;
    }
    sessionStorage.setItem(DONE_KEY, summary(answer, action, value));
    location.reload();
  }

  // resolving is asked once more: "Resolve 3 conversations? Yes, resolve · Cancel"
  resolveButton.addEventListener("click", () => {
    const n = picked().length;
    const yes = document.createElement("button");
    yes.type = "button";
    yes.className = "primary";
    yes.id = "bulk-resolve-yes";
    yes.textContent = "Yes, resolve";
    const no = document.createElement("button");
    no.type = "button";
    no.className = "ghost";
    no.textContent = "Cancel";
    const ask = document.createElement("span");
    ask.className = "confirm";
    ask.append(`Resolve ${plural(n, "conversation", "conversations")}? Any handoff of theirs closes too. `, yes, no);
    resolveStep.replaceChildren(ask);
    yes.focus();
    no.addEventListener("click", () => { resolveStep.replaceChildren(resolveButton); resolveButton.focus(); });
    yes.addEventListener("click", () => { yes.disabled = true; act("resolve"); });
  });
  tagButton.addEventListener("click", () => act("tag", tagInput.value.trim()));
  untagButton.addEventListener("click", () => act("untag", tagInput.value.trim()));
  giveButton.addEventListener("click", () => act("assign", toSelect.value));
  toSelect.addEventListener("change", update);
  tagInput.addEventListener("input", update);
  tagInput.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !tagButton.disabled) { event.preventDefault(); tagButton.click(); }
  });
  if (all) all.addEventListener("change", () => { for (const box of picks()) box.checked = all.checked; update(); });
  document.addEventListener("change", (event) => {
    if (event.target.classList && event.target.classList.contains("pick")) update();
  });

  const done = sessionStorage.getItem(DONE_KEY);
  if (done) {
    sessionStorage.removeItem(DONE_KEY);
    say(done, false);
  }
  update();
})();

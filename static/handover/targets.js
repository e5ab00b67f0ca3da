// Response targets in the inbox (issue 19, point 5): every ".target-clock" that inbox.js puts
// on a card or a conversation's header counts down to the handoff's next target, the first
// response until a person has written, then the resolution; past it, it says by how much and
// turns red. Filled as soon as the node appears (a MutationObserver: no empty flash), then
// every second. No library.
(function () {
  "use strict";

  function span(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    if (s < 60) return `${s} s`;
    if (s < 3600) return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
    const hours = Math.floor(s / 3600);
    const minutes = Math.floor((s % 3600) / 60);
    return minutes ? `${hours} h ${minutes} min` : `${hours} h`;
  }

  function update(node) {
    const responded = node.dataset.responded === "true";
    const due = Date.parse(responded ? node.dataset.resolutionDue : node.dataset.firstResponseDue);
    if (Number.isNaN(due)) return;
    const left = (due - Date.now()) / 1000;
    const what = responded ? "resolve" : "first reply";
    // a snooze holds the resolution target (not the first reply's): the clock stands still
    // until the snooze ends, and the due time already counts the pause
    const pausedUntil = Date.parse(node.dataset.pausedUntil || "");
    const paused = responded && pausedUntil > Date.now();
    const after = (due - pausedUntil) / 1000; // what is left when the snooze ends
    const text = !paused
      ? left >= 0 ? `${what} in ${span(left)}` : `${what} ${span(-left)} overdue`
      : after >= 0 ? `resolve: paused, ${span(after)} left` : `resolve: paused, ${span(-after)} overdue`;
    if (node.textContent !== text) node.textContent = text;
    node.classList.toggle("paused", paused);
    node.classList.toggle("breached", !paused && left < 0);
    node.classList.toggle("soon", !paused && left >= 0 && left < 120);
    node.setAttribute("role", "timer");
    node.setAttribute(
      "aria-label",
      `${node.dataset.band || ""} priority: ${left >= 0 ? "" : "past the target, "}${text}`.trim()
    );
  }

  function updateAll(root) {
    for (const node of (root || document).querySelectorAll(".target-clock")) update(node);
  }

  new MutationObserver((changes) => {
    for (const change of changes) {
      for (const added of change.addedNodes) {
        if (added.nodeType !== 1) continue;
        if (added.classList.contains("target-clock")) update(added);
        else updateAll(added);
      }
    }
  }).observe(document.documentElement, { childList: true, subtree: true });

  updateAll();
  setInterval(updateAll, 1000);
})();

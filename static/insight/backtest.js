// A running backtest: poll its progress (a small JSON view) and reload the page with the
// results when the run ends. No library; stops polling once finished.
(function () {
  "use strict";
  const box = document.getElementById("progress");
  if (!box || box.dataset.finished === "true") return;
  const bar = box.querySelector("progress");
  const text = box.querySelector(".progress-text");
  let delay = 1000;

  async function poll() {
    try {
      const response = await fetch(box.dataset.url, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      if (response.ok) {
        const state = await response.json();
        bar.max = state.total || 1;
        bar.value = state.progress;
        text.textContent = `${state.status}: ${state.progress} / ${state.total} conversations`;
        box.dataset.status = state.status;
        if (state.finished) {
          window.location.reload();
          return;
        }
        delay = 1000;
      } else {
        delay = Math.min(delay * 2, 10000);
      }
    } catch (error) {
      delay = Math.min(delay * 2, 10000);
    }
    window.setTimeout(poll, delay);
  }

  window.setTimeout(poll, delay);
})();

// The team view (who holds what) kept live: /ws/team/ nudges ("team.changed", no data) when a
// handoff, a claim, a transfer, a resolution or someone's presence or status changes; the page
// then re-reads its table through its own door (?fragment=1), at most every 400 ms.
(() => {
  "use strict";

  const view = document.querySelector(".team-view");
  const live = document.getElementById("team-live");
  const label = document.getElementById("team-connection");
  if (!view || !live) return;
  let attempts = 0;
  let timer = null;
  let loading = false;
  let again = false;

  function setConnection(state, text) {
    view.dataset.connection = state;
    if (label) label.textContent = text;
  }

  async function refresh() {
    if (loading) { again = true; return; }
    loading = true;
    try {
      const url = new URL(location.href);
      url.searchParams.set("fragment", "1");
      const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } });
      if (response.ok) {
        live.innerHTML = await response.text(); // rendered (and escaped) by the server
        view.dataset.refreshed = String(Date.now());
      } else if (response.status === 403 || response.status === 401) {
        setConnection("closed", "Signed out: reload");
      }
    } catch (error) {
      // the next nudge or the reconnect reads it again
    } finally {
      loading = false;
      if (again) { again = false; soon(); }
    }
  }

  function soon() {
    clearTimeout(timer);
    timer = setTimeout(refresh, 400);
  }

  function connect() {
    setConnection("connecting", attempts ? "Reconnecting…" : "Connecting…");
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/ws/team/`);
    ws.addEventListener("message", (message) => {
      let data;
      try { data = JSON.parse(message.data); } catch (error) { return; }
      if (data.type === "team.ready") {
        setConnection("open", "Live");
        if (attempts) refresh(); // what changed while the socket was away
        attempts = 0;
      } else if (data.type === "team.changed") {
        soon();
      }
    });
    ws.addEventListener("close", (event) => {
      if (event.code === 4401 || event.code === 4403) {
        setConnection("closed", "Not live: reload the page");
        return;
      }
      attempts += 1;
      setConnection("connecting", "Reconnecting…");
      setTimeout(connect, Math.min(30000, 1000 * 2 ** Math.min(attempts, 5)));
    });
  }

  connect();
})();

// Times in the person's locale and time zone, the same on every page (issue 19, point 7):
// every <time datetime="..."> a server rendered is rewritten with Intl in the browser's first
// language, keeping the detail the server chose (a time; a day and a time; a full date; with
// seconds). Pages that draw their own times (the inbox, the chat) call localTime.format.
(() => {
  "use strict";

  const locale = (navigator.languages && navigator.languages[0]) || navigator.language || undefined;
  const FORMATS = {
    time: { hour: "numeric", minute: "2-digit" },
    seconds: { hour: "numeric", minute: "2-digit", second: "2-digit" },
    day: { day: "numeric", month: "short", hour: "numeric", minute: "2-digit" },
    daySeconds: { day: "numeric", month: "short", hour: "numeric", minute: "2-digit", second: "2-digit" },
    full: { day: "numeric", month: "short", year: "numeric", hour: "numeric", minute: "2-digit" },
  };
  const formatters = {};

  function format(iso, kind = "time") {
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return "";
    if (!formatters[kind]) formatters[kind] = new Intl.DateTimeFormat(locale, FORMATS[kind] || FORMATS.time);
    return formatters[kind].format(date);
  }

  // The detail a server-rendered time shows: "14:05" a time, "3 Dec, 14:05" a day, "3 Dec 2026,
  // 14:05" a full date, any of them with seconds.
  function kindOf(text) {
    const seconds = /\d:\d\d:\d\d/.test(text);
    if (/\b\d{4}\b/.test(text)) return "full";
    if (/[A-Za-z]{3}/.test(text)) return seconds ? "daySeconds" : "day";
    return seconds ? "seconds" : "time";
  }

  function localize(root) {
    const nodes = root.matches && root.matches("time[datetime]") ? [root] : [];
    if (root.querySelectorAll) nodes.push(...root.querySelectorAll("time[datetime]"));
    for (const node of nodes) {
      if (node.dataset.localized) continue;
      const kind = node.dataset.format || kindOf(node.textContent);
      const text = format(node.getAttribute("datetime"), kind);
      if (!text) continue;
      node.dataset.localized = kind;
      node.textContent = text;
      if (!node.title) node.title = format(node.getAttribute("datetime"), "full");
    }
  }

  window.localTime = { format, localize, locale };

  function start() {
    localize(document.body);
    new MutationObserver((changes) => {
      for (const change of changes) for (const node of change.addedNodes) if (node.nodeType === 1) localize(node);
    }).observe(document.body, { childList: true, subtree: true });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();

// The web chat on the tenant's own website: a launcher button in the corner that opens the
// chat (/chat/<tenant>/) in a frame above the page. The site adds one tag:
//
//   <script src="https://support.example.com/static/handover/embed.js" data-tenant="demo" async></script>
//
// and the tenant lists the site's origin under "websites that show the chat" in the admin (no
// other site may frame the chat). Optional: data-label (the button's words for screen readers,
// default "Chat with us"), data-color (the button's colour until the chat's own arrives; the
// admin's tag carries it). The button wears the chat's colour, the one the manager chose in
// the admin: the script asks for it (/chat/<tenant>/look, readable by the tenant's websites
// only) and keeps it in the site's localStorage, so a colour changed in the admin reaches a
// tag pasted long before, and the next page shows it at once (our own pages, the admin's
// preview, render the tag with the colour of now: there the tag's is taken). The frame is made
// on the first open, so a visitor who never opens the chat costs the site nothing.
//
// The visitor's conversation survives the site's page changes: browsers give a third-party
// frame no cookies and may give it no lasting storage, so this script keeps the conversation
// (its id and customer token) in the site's own localStorage. The chat tells it of a start or
// an end by a message (accepted from the chat's origin and frame only), and is handed it back
// in the frame's address fragment (never sent to a server).
//
// Signed-in visitors: the site's server signs who its visitor is (a JSON Web Token with the
// tenant's identity secret, handover/identity.py) and the page hands it over, on the tag
// (data-identity="<token>") or once the visitor signs in (SupportChat.identify(token); the
// script tells "support-chat:ready" on document when SupportChat is there). The chat then
// starts as that customer. SupportChat.logout() forgets the conversation when they sign out: a
// conversation is shown again only to the visitor who started it (the token's sub, or an
// anonymous visitor), so the next person on a shared computer does not find it.
(() => {
  "use strict";

  const script = document.currentScript;
  if (!script || window.__supportChatEmbedded) return;
  window.__supportChatEmbedded = true;

  const tenant = (script.dataset.tenant || "").trim();
  if (!/^[-a-zA-Z0-9_]+$/.test(tenant)) {
    console.error("support chat: data-tenant must be your chat's slug, e.g. data-tenant=\"demo\"");
    return;
  }
  const chatUrl = new URL(`/chat/${tenant}/`, script.src);
  chatUrl.searchParams.set("embed", window.location.origin);
  const storageKey = `support-chat:${tenant}`;
  let identity = (script.dataset.identity || "").trim() || null;

  // who the token says the visitor is (its sub, read unchecked: the server checks the token;
  // this only keeps one visitor's conversation from the next one's)
  function whoIs(token) {
    try {
      const body = atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/"));
      const claims = JSON.parse(new TextDecoder().decode(Uint8Array.from(body, (c) => c.charCodeAt(0))));
      return typeof claims.sub === "string" && claims.sub.trim() ? claims.sub.trim() : null;
    } catch (_) { return null; }
  }

  function kept() {
    try {
      const value = JSON.parse(window.localStorage.getItem(storageKey) || "null");
      const valid = value && typeof value.conversationId === "string" && typeof value.token === "string";
      return valid && (value.who || null) === whoIs(identity) ? value : null;
    } catch (_) { return null; }
  }

  function keep(session) {
    try {
      if (session) window.localStorage.setItem(storageKey, JSON.stringify({ ...session, who: whoIs(identity) }));
      else window.localStorage.removeItem(storageKey);
    } catch (_) { /* storage blocked: the conversation lasts as long as the page */ }
  }
  const label = script.dataset.label || "Chat with us";
  const COLOR = /^#[0-9a-fA-F]{6}$/;
  const lookKey = `support-chat-look:${tenant}`;
  // the icon on it: white, or dark on a light colour (WCAG's contrast, as the chat's own text)
  function inkOn(hexColor) {
    const hex = /^#([0-9a-fA-F]{6})$/.exec(hexColor);
    if (!hex) return "#fff";
    const lum = [0, 2, 4].map((at) => parseInt(hex[1].slice(at, at + 2), 16) / 255)
      .map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4))
      .reduce((sum, c, i) => sum + c * [0.2126, 0.7152, 0.0722][i], 0);
    return 1.05 / (lum + 0.05) >= (lum + 0.05) / 0.0668 ? "#fff" : "#1d2330"; // #1d2330: 0.0168
  }
  // our own pages (the admin's preview) render the tag with the colour of now: it is current
  const ownPage = new URL(script.src).origin === window.location.origin;
  // the colour: the chat's as this site last heard it, else the tag's, else the default
  let color = (() => {
    if (ownPage && COLOR.test(script.dataset.color || "")) return script.dataset.color;
    try {
      const look = JSON.parse(window.localStorage.getItem(lookKey) || "null");
      if (look && COLOR.test(look.color)) return look.color;
    } catch (_) { /* storage blocked */ }
    return /^#[0-9a-fA-F]{3,8}$/.test(script.dataset.color || "") ? script.dataset.color : "#2f5bea";
  })();
  let iconInk = inkOn(color);
  const SVG = "http://www.w3.org/2000/svg";

  function icon(paths) {
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("width", "26");
    svg.setAttribute("height", "26");
    svg.setAttribute("aria-hidden", "true");
    for (const d of paths) {
      const path = document.createElementNS(SVG, "path");
      path.setAttribute("d", d);
      path.setAttribute("fill", "none");
      path.setAttribute("stroke", iconInk);
      path.setAttribute("stroke-width", "2");
      path.setAttribute("stroke-linecap", "round");
      path.setAttribute("stroke-linejoin", "round");
      svg.append(path);
    }
    return svg;
  }
  const bubble = icon(["M4 5h16v11H9l-5 4z"]);
  const cross = icon(["M6 6l12 12", "M18 6L6 18"]);

  function style(node, rules) {
    for (const [name, value] of Object.entries(rules)) node.style.setProperty(name, value, "important");
  }

  const button = document.createElement("button");
  button.type = "button";
  button.id = "support-chat-launcher";
  button.setAttribute("aria-label", label);
  button.setAttribute("aria-expanded", "false");
  button.setAttribute("aria-controls", "support-chat-panel");
  button.append(bubble);
  style(button, {
    all: "initial", position: "fixed", right: "20px", bottom: "20px", width: "56px", height: "56px",
    "border-radius": "50%", background: color, cursor: "pointer", display: "flex",
    "align-items": "center", "justify-content": "center", "z-index": "2147483000",
    "box-shadow": "0 4px 14px rgba(0,0,0,.25)",
  });

  const panel = document.createElement("div");
  panel.id = "support-chat-panel";
  panel.hidden = true;
  let frame = null;

  const phone = window.matchMedia("(max-width: 480px)");
  function place() {
    const common = {
      position: "fixed", "z-index": "2147483000", background: "#fff", overflow: "hidden",
      display: panel.hidden ? "none" : "block",
    };
    const fullScreen = phone.matches && !panel.hidden;
    // on a phone the open chat takes the whole screen and its close button sits in the chat's
    // header (top right), clear of the composer
    style(button, fullScreen
      ? { top: "16px", bottom: "auto", right: "12px", width: "44px", height: "44px", background: "rgba(0,0,0,.18)", "box-shadow": "none" }
      : { top: "auto", bottom: "20px", right: "20px", width: "56px", height: "56px", background: color, "box-shadow": "0 4px 14px rgba(0,0,0,.25)" });
    if (phone.matches) {
      style(panel, { ...common, inset: "0", width: "100%", height: "100%", "border-radius": "0", "box-shadow": "none" });
    } else {
      style(panel, {
        ...common, right: "20px", bottom: "88px", width: "380px", height: "min(640px, calc(100vh - 108px))",
        "border-radius": "14px", "box-shadow": "0 8px 32px rgba(0,0,0,.25)",
      });
    }
  }
  phone.addEventListener("change", place);

  function open() {
    if (!frame) {
      frame = document.createElement("iframe");
      const session = kept();
      const src = new URL(chatUrl);
      // the page the visitor opened the chat on: the team sees it beside the conversation
      src.searchParams.set("page", window.location.href.split("#")[0].slice(0, 500));
      const fragment = new URLSearchParams();
      if (session) fragment.set("resume", JSON.stringify({ conversationId: session.conversationId, token: session.token }));
      if (identity) fragment.set("identity", identity);
      src.hash = fragment.toString();
      frame.src = src.href;
      frame.title = label;
      style(frame, { border: "0", width: "100%", height: "100%", display: "block" });
      panel.append(frame);
    }
    panel.hidden = false;
    place();
    unread = 0;
    button.replaceChildren(cross, badge);
    showUnread();
    button.setAttribute("aria-expanded", "true");
    button.setAttribute("aria-label", "Close the chat");
    frame.focus();
    tellChat(true);
  }

  // The chat hears whether it is open: shut, it is not being read (the team's inbox shows what
  // the visitor has seen, and a person's reply may follow them by e-mail).
  function tellChat(shown) {
    if (frame && frame.contentWindow) {
      frame.contentWindow.postMessage({ type: "support-chat:shown", shown }, new URL(chatUrl).origin);
    }
  }

  function close() {
    panel.hidden = true;
    tellChat(false);
    place();
    button.replaceChildren(bubble, badge);
    button.setAttribute("aria-expanded", "false");
    button.setAttribute("aria-label", label);
  }

  // New messages while the chat is shut: a count on the button, cleared when it opens.
  const badge = document.createElement("span");
  badge.id = "support-chat-unread";
  badge.setAttribute("aria-hidden", "true");
  style(badge, {
    all: "initial", position: "absolute", top: "-4px", right: "-4px", "min-width": "20px", height: "20px",
    padding: "0 6px", "box-sizing": "border-box", "border-radius": "10px", background: "#dc2626",
    color: "#fff", font: "600 12px/20px system-ui, sans-serif", "text-align": "center", display: "none",
  });
  let unread = 0;
  function showUnread() {
    badge.textContent = String(unread);
    style(badge, { display: unread ? "block" : "none" });
    button.setAttribute("aria-label", unread ? `${label} (${unread} new)` : panel.hidden ? label : "Close the chat");
  }

  window.addEventListener("message", (event) => {
    const data = event.data;
    if (!frame || event.source !== frame.contentWindow || event.origin !== chatUrl.origin) return;
    if (!data || data.tenant !== tenant) return;
    if (data.type === "support-chat:session") {
      const session = data.session;
      const valid = session && typeof session.conversationId === "string" && typeof session.token === "string";
      keep(valid ? { conversationId: session.conversationId, token: session.token } : null);
    } else if (data.type === "support-chat:message" && panel.hidden) {
      unread += 1;
      showUnread();
    }
  });

  button.addEventListener("click", () => (panel.hidden ? open() : close()));
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !panel.hidden) { close(); button.focus(); }
  });

  // Another visitor now (signed in, out, or as someone else): the chat starts afresh for them.
  function changeVisitor(token) {
    const before = whoIs(identity);
    identity = token;
    if (whoIs(identity) === before && frame) return; // the same visitor: a fresh token is kept for the next frame
    if (frame) { frame.remove(); frame = null; }
    if (!panel.hidden) open();
  }

  window.SupportChat = {
    identify(token) {
      if (typeof token !== "string" || !token.trim()) throw new TypeError("SupportChat.identify: give the identity token your server signed");
      changeVisitor(token.trim());
    },
    logout() {
      keep(null);
      changeVisitor(null);
    },
  };

  // The chat's colour as the admin has it now: kept for the next page, and worn at once.
  function wear(look) {
    if (!look || !COLOR.test(look.color || "")) return;
    try { window.localStorage.setItem(lookKey, JSON.stringify({ color: look.color })); } catch (_) { /* blocked */ }
    if (look.color === color) return;
    color = look.color;
    iconInk = COLOR.test(look.onColor || "") ? look.onColor : inkOn(color);
    for (const path of [...bubble.children, ...cross.children]) path.setAttribute("stroke", iconInk);
    place();
  }

  function mount() {
    place();
    document.body.append(panel, button);
    document.dispatchEvent(new Event("support-chat:ready"));
    if (ownPage) return;
    fetch(new URL(`/chat/${tenant}/look`, script.src), { credentials: "omit" })
      .then((response) => (response.ok ? response.json() : null))
      .then(wear)
      .catch(() => { /* offline, or a site the tenant does not list: the colour it has */ });
  }
  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);
})();

// The files of a message (conversations/attachments.py), as the customer's chat and the inbox
// show them: a photo in the thread (a click opens it), any other file as a chip to download,
// and a file listed only by its name (a mail's file of a kind that is not kept) as its name.
// A message that is only files says so in its text for the transcript the AI and e-mail read
// ("[1 attachment sent without text: heel.png]"): the pages show the files alone.
// Text is only ever set with textContent.
(() => {
  "use strict";

  const WITHOUT_TEXT = /^\[\d+ attachments? sent without text: .*\]$/;

  const SVG = "http://www.w3.org/2000/svg";

  // a small line icon (a document, a paperclip), drawn, not a glyph a font may lack
  function icon(path) {
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("width", "16");
    svg.setAttribute("height", "16");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("class", "file-icon");
    const line = document.createElementNS(SVG, "path");
    line.setAttribute("d", path);
    line.setAttribute("fill", "none");
    line.setAttribute("stroke", "currentColor");
    line.setAttribute("stroke-width", "1.8");
    line.setAttribute("stroke-linecap", "round");
    line.setAttribute("stroke-linejoin", "round");
    svg.append(line);
    return svg;
  }
  const DOCUMENT = "M14 3H7a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h10a2 2 0 0 0 2-2V8zM14 3v5h5M9 13h6M9 17h6";
  const PAPERCLIP = "M16.5 6.5v10a4.5 4.5 0 0 1-9 0V5a3 3 0 0 1 6 0v10.5a1.5 1.5 0 0 1-3 0V6.5";

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
    for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    return node;
  }

  function sizeText(size) {
    if (size < 1024) return `${size} B`;
    if (size < 1024 * 1024) return `${Math.round(size / 1024)} KB`;
    return `${(size / (1024 * 1024)).toFixed(1)} MB`;
  }

  function fileNode(file) {
    const label = `${file.filename} · ${sizeText(file.size)}`;
    if (!file.url) return el("span", { class: "file-chip", title: "Only the name was kept" }, label);
    if (/^image\//.test(file.contentType)) {
      return el("a", { class: "file-image", href: file.url, target: "_blank", rel: "noopener", title: label },
        el("img", { src: file.url, alt: file.filename, loading: "lazy" }));
    }
    return el("a", { class: "file-chip", href: file.url, download: file.filename },
      icon(DOCUMENT), file.filename, el("span", { class: "size" }, sizeText(file.size)));
  }

  // the message's files, or null when it has none
  function node(message) {
    const files = message.attachments || [];
    return files.length ? el("div", { class: "files" }, ...files.map(fileNode)) : null;
  }

  // whether the message's text only says that files came (the files then stand alone)
  function onlyFiles(message) {
    return (message.attachments || []).length > 0 && WITHOUT_TEXT.test(message.text || "");
  }

  // a message in one line (a list's preview): its text, or the names of the files it is
  function summary(message) {
    if (!onlyFiles(message)) return message.text;
    return `sent ${(message.attachments || []).map((file) => file.filename).join(", ")}`;
  }

  window.messageFiles = { node, onlyFiles, sizeText, summary, icon, PAPERCLIP };
})();

// The files of a message (conversations/attachments.py), as the customer's chat and the inbox
// show them: a photo in the thread (a click opens it), any other file as a chip to download,
// and a file listed only by its name (a mail's file of a kind that is not kept) as its name.
// A message that is only files says so in its text for the transcript the AI and e-mail read
// ("[1 attachment sent without text: heel.png]"): the pages show the files alone.
// Text is only ever set with textContent.
(() => {
  "use strict";

  const WITHOUT_TEXT = /^\[\d+ attachments? sent without text: .*\]$/;

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
      el("span", { "aria-hidden": "true" }, "📄"), file.filename, el("span", { class: "size" }, sizeText(file.size)));
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

  window.messageFiles = { node, onlyFiles, sizeText };
})();

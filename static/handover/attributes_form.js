// What is known of the customer, changed by a person (conversations/attributes.py): the form
// the inbox's side panel and the read-only conversation page share. A row per name (change its
// value, or take it off with ×), and a last row for a new name and value; Save posts only what
// changed ({"attributes": {name: text | null}}) through `save`, which answers the server's
// reply or throws an Error with `fields`. The server keeps each value's kind (a number stays a
// number). Text is only set with textContent. No library.
(function () {
  "use strict";

  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  const KIND_HINT = { number: "a number", boolean: "true or false", json: "JSON" };

  // attributes: [{name, kind, text}]; save(change) -> Promise; close(saved) when done or left
  function attributesForm({ customer, attributes, save, close }) {
    const rows = h("div", { class: "attribute-rows" });
    const removed = new Set();
    for (const attribute of attributes || []) {
      const value = h("input", {
        type: "text", class: "attribute-value-input", maxlength: "2000", autocomplete: "off",
        "aria-label": attribute.name, "data-name": attribute.name,
        title: KIND_HINT[attribute.kind] ? `Written as ${KIND_HINT[attribute.kind]}` : null,
      });
      value.value = attribute.text;
      value.dataset.was = attribute.text;
      const row = h("div", { class: "attribute-row" },
        h("label", { class: "attribute-name" }, attribute.name), value,
        h("button", {
          type: "button", class: "ghost attribute-remove", "aria-label": `Take ${attribute.name} off`,
          onclick: () => { removed.add(attribute.name); row.remove(); },
        }, "×"));
      rows.append(row);
    }
    const newName = h("input", { type: "text", class: "attribute-new-name", maxlength: "64", autocomplete: "off", placeholder: "name", "aria-label": "New detail's name" });
    const newValue = h("input", { type: "text", class: "attribute-new-value", maxlength: "2000", autocomplete: "off", placeholder: "value", "aria-label": "New detail's value" });
    const problem = h("p", { class: "form-error", role: "alert", hidden: true });
    const say = (text) => { problem.textContent = text; problem.hidden = false; };
    const form = h("form", { class: "attributes-form", "aria-label": `What we know of ${customer}`, novalidate: true },
      rows,
      h("div", { class: "attribute-row attribute-new" }, newName, newValue, h("span", { class: "attribute-remove-slot" })),
      h("div", { class: "customer-form-buttons" },
        h("button", { type: "submit", class: "primary" }, "Save"),
        h("button", { type: "button", class: "ghost", onclick: () => close(false) }, "Cancel")),
      problem);
    form.addEventListener("keydown", (event) => {
      if (event.key === "Escape") { event.preventDefault(); close(false); }
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      problem.hidden = true;
      const change = {};
      for (const name of removed) change[name] = null;
      for (const input of rows.querySelectorAll(".attribute-value-input")) {
        if (input.value !== input.dataset.was) change[input.dataset.name] = input.value;
      }
      const name = newName.value.trim();
      if (name) change[name] = newValue.value;
      else if (newValue.value) { say("Give the new detail a name."); newName.focus(); return; }
      if (!Object.keys(change).length) { close(false); return; }
      try {
        await save({ attributes: change });
        close(true);
      } catch (error) {
        const [field, reasons] = Object.entries(error.fields || {})[0] || [];
        const named = field ? field.replace(/^(customer\.)?attributes\.?/, "") : "";
        say(field ? `${named || "Details"}: ${reasons[0]}.` : error.message);
        const input = named && rows.querySelector(`[data-name="${CSS.escape(named)}"]`);
        (input || (named === name ? newValue : newName)).focus();
      }
    });
    return form;
  }

  window.attributesForm = attributesForm;
})();

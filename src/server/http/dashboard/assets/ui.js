// Small DOM helpers the views share: element building (text only, never
// innerHTML with data), tables, times, badges, errors and the confirmation
// dialog with its required reason.

/// An element: h("a", {href: "#/x", class: "y"}, "text", child, ...).
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      node.addEventListener(key.slice(2), value);
    } else if (key === "class") {
      node.className = value;
    } else {
      node.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/// Replaces the children of `node`.
export function fill(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

/// A page heading the router focuses for screen readers.
export function heading(text, ...extra) {
  return h("div", { class: "page-head" }, h("h1", { tabindex: "-1" }, text), ...extra);
}

/// A table: columns are [header, cell(row) => node|text, class?].
export function table(caption, columns, rows, empty = "Nothing yet.") {
  if (!rows.length) return h("p", { class: "muted empty" }, empty);
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      {},
      h("caption", { class: "sr-only" }, caption),
      h("thead", {}, h("tr", {}, columns.map(([name, , cls]) => h("th", { scope: "col", class: cls }, name)))),
      h("tbody", {}, rows.map((row) => h("tr", {}, columns.map(([, cell, cls]) => h("td", { class: cls }, cell(row)))))),
    ),
  );
}

/// A definition list from [term, value] pairs (values may be nodes).
export function facts(pairs) {
  return h("dl", { class: "facts" }, pairs.filter(([, v]) => v !== undefined && v !== null && v !== "").map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

/// "3 min ago" style, with the exact time as the tooltip.
export function when(value) {
  if (value === undefined || value === null || value === "" || value === 0) return "—";
  const date = typeof value === "number" ? new Date(value) : new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return h("time", { datetime: date.toISOString(), title: date.toISOString() }, ago(date));
}

export function ago(date) {
  const seconds = Math.round((Date.now() - date.getTime()) / 1000);
  const abs = Math.abs(seconds);
  const say = (n, unit) => `${n} ${unit}${n === 1 ? "" : "s"} ${seconds >= 0 ? "ago" : "from now"}`;
  if (abs < 60) return say(abs, "second");
  if (abs < 3600) return say(Math.round(abs / 60), "minute");
  if (abs < 86400) return say(Math.round(abs / 3600), "hour");
  return say(Math.round(abs / 86400), "day");
}

export function duration(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

export const number = (n) => (n === undefined || n === null ? "—" : Number(n).toLocaleString("en"));

/// A coloured label for a state, severity, verdict or disposition.
export function badge(text, kind = text) {
  if (text === undefined || text === null || text === "") return "—";
  return h("span", { class: `badge b-${String(kind).replace(/[^a-z_]/gi, "")}` }, String(text).replaceAll("_", " "));
}

export function ticketLink(id) {
  return h("a", { href: `#/ticket/${encodeURIComponent(id)}` }, id);
}

export function errorBox(error) {
  return h("p", { class: "error", role: "alert" }, error && error.message ? error.message : String(error));
}

export function section(title, ...children) {
  return h("section", { class: "card", "aria-label": title }, h("h2", {}, title), ...children);
}

/// Asks for confirmation; with `reason`, a non-empty reason is required.
/// Resolves to the reason (or "" without one), or null when cancelled.
export function confirmAction({ title, text, action = "Confirm", reason = true }) {
  const dialog = document.getElementById("confirm");
  const form = document.getElementById("confirm-form");
  const field = document.getElementById("confirm-reason");
  const error = document.getElementById("confirm-error");
  document.getElementById("confirm-title").textContent = title;
  document.getElementById("confirm-text").textContent = text;
  document.getElementById("confirm-ok").textContent = action;
  document.getElementById("confirm-reason-row").hidden = !reason;
  field.value = "";
  error.textContent = "";
  return new Promise((resolve) => {
    const done = (value) => {
      form.removeEventListener("submit", onSubmit);
      cancel.removeEventListener("click", onCancel);
      dialog.removeEventListener("cancel", onCancel);
      if (dialog.open) dialog.close();
      resolve(value);
    };
    const onSubmit = (event) => {
      event.preventDefault();
      if (reason && !field.value.trim()) {
        error.textContent = "A reason is required.";
        field.focus();
        return;
      }
      done(reason ? field.value.trim() : "");
    };
    const onCancel = (event) => {
      event.preventDefault();
      done(null);
    };
    const cancel = document.getElementById("confirm-cancel");
    form.addEventListener("submit", onSubmit);
    cancel.addEventListener("click", onCancel);
    dialog.addEventListener("cancel", onCancel);
    dialog.showModal();
    (reason ? field : document.getElementById("confirm-ok")).focus();
  });
}

/// A line of feedback after an action, announced to screen readers.
export function notice(text, kind = "ok") {
  return h("p", { class: `notice ${kind}`, role: "status" }, text);
}

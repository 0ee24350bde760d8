// The audit log, newest first, filtered by kind (a prefix: `admin`,
// `agent.tool_call`), actor (a token's name, `coder`, `gate`) and ticket;
// "Older" follows the cursor.
import { get, query } from "./api.js";
import { h, fill, heading, table, when, ticketLink, errorBox } from "./ui.js";

export async function render(main) {
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const filters = { kind: params.get("kind") || "", actor: params.get("actor") || "", ticket: params.get("ticket") || "" };
  const form = h(
    "form",
    { class: "filters", role: "search", "aria-label": "Filter the audit log" },
    h("label", {}, "Kind", h("input", { name: "kind", value: filters.kind, placeholder: "admin, agent, ticket.fix_approved" })),
    h("label", {}, "Actor", h("input", { name: "actor", value: filters.actor, placeholder: "a token's name, coder, gate" })),
    h("label", {}, "Ticket", h("input", { name: "ticket", value: filters.ticket, placeholder: "T-3" })),
    h("button", { type: "submit" }, "Filter"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    location.hash = `#/audit${query(Object.fromEntries(new FormData(form).entries()))}`;
  });
  const list = h("div");
  const more = h("div", { class: "pager" });
  fill(main, heading("Audit log"), form, list, more);
  const rows = [];
  async function load(before) {
    const page = await get(`/v1/dashboard/audit${query({ ...filters, before, limit: 100 })}`);
    rows.push(...page.entries);
    fill(
      list,
      table(
        "Audit entries, newest first",
        [
          ["#", (e) => e.seq, "num"],
          ["When", (e) => when(e.at_ms)],
          ["Kind", (e) => h("code", {}, e.kind)],
          ["Actor", (e) => h("span", { class: "actor" }, e.actor)],
          ["Ticket", (e) => (e.ticket ? ticketLink(e.ticket) : "—")],
          ["Detail", (e) => h("div", { class: "clamp" }, e.detail)],
          ["Peer", (e) => e.peer || "—"],
        ],
        rows,
        "No entry matches.",
      ),
    );
    fill(more, page.next ? h("button", { type: "button", onclick: () => load(page.next).catch((e) => more.append(errorBox(e))) }, "Older entries") : null);
  }
  await load();
}

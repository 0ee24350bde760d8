// Escalations: tickets that need a person (the agent gave up, a budget or
// breaker stopped it, or an operator escalated), with the last word on why.
import { get, query } from "./api.js";
import { h, fill, heading, table, badge, when, ticketLink, errorBox } from "./ui.js";

export async function render(main) {
  const list = h("div");
  const more = h("div", { class: "pager" });
  fill(main, heading("Escalations"), h("p", { class: "muted" }, "Tickets waiting for a person, newest first."), list, more);
  const rows = [];
  async function load(before) {
    const page = await get(`/v1/dashboard/tickets${query({ state: "escalated", before, limit: 50 })}`);
    rows.push(...page.tickets);
    fill(
      list,
      table(
        "Escalated tickets",
        [
          ["Ticket", (t) => ticketLink(t.id)],
          ["What broke", (t) => h("strong", {}, t.title)],
          ["Severity", (t) => badge(t.severity)],
          ["Why", (t) => (t.last_entry ? `${t.last_entry.detail} (${t.last_entry.actor})` : "—")],
          ["Since", (t) => when(t.updated_at_ms)],
        ],
        rows,
        "Nothing needs a person.",
      ),
    );
    fill(more, page.next ? h("button", { type: "button", onclick: () => load(page.next).catch((e) => more.append(errorBox(e))) }, "Older") : null);
  }
  await load();
}

// Root causes: tickets (one per root cause the analyzer found) with their
// signatures' events per hour, severity, disposition, first and last
// seen; filtered and paged on the server (newest first, "Older" follows
// the cursor).
import { get, query } from "./api.js";
import { h, fill, heading, table, badge, number, when, ticketLink, errorBox } from "./ui.js";
import { sparkline } from "./chart.js";

const STATES = ["", "open", "triaged", "fixing", "review", "pr_open", "verifying", "resolved", "escalated", "dismissed"];
const DISPOSITIONS = ["", "fix_candidate", "external", "noise"];
const SEVERITIES = ["", "critical", "high", "medium", "low"];

function select(name, label, options, value) {
  return h("label", {}, label, h("select", { name }, options.map((o) => h("option", { value: o, selected: o === value }, o ? o.replaceAll("_", " ") : "any"))));
}

export function ticketTable(caption, tickets, empty) {
  return table(
    caption,
    [
      ["Ticket", (t) => ticketLink(t.id)],
      ["Root cause", (t) => h("div", {}, h("strong", {}, t.title), h("div", { class: "muted clamp" }, t.root_cause))],
      ["Severity", (t) => badge(t.severity)],
      ["Disposition", (t) => badge(t.disposition || "pending", t.disposition || "pending")],
      ["State", (t) => badge(t.state)],
      ["Events", (t) => number(t.events), "num"],
      ["Last 24 h", (t) => sparkline(t.sparkline || [])],
      ["First seen", (t) => when(t.first_seen)],
      ["Last seen", (t) => when(t.last_seen)],
    ],
    tickets,
    empty,
  );
}

export async function render(main) {
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const filters = { state: params.get("state") || "", disposition: params.get("disposition") || "", severity: params.get("severity") || "", q: params.get("q") || "" };
  const form = h(
    "form",
    { class: "filters", role: "search", "aria-label": "Filter tickets" },
    select("state", "State", STATES, filters.state),
    select("disposition", "Disposition", DISPOSITIONS, filters.disposition),
    select("severity", "Severity", SEVERITIES, filters.severity),
    h("label", {}, "Search", h("input", { name: "q", type: "search", value: filters.q, placeholder: "words in the title or root cause" })),
    h("button", { type: "submit" }, "Filter"),
  );
  const results = h("div", { id: "results" });
  const more = h("div", { class: "pager" });
  fill(main, heading("Root causes"), form, results, more);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = Object.fromEntries(new FormData(form).entries());
    location.hash = `#/causes${query(data)}`;
  });
  const rows = [];
  async function load(before) {
    const page = await get(`/v1/dashboard/tickets${query({ ...filters, before, limit: 50 })}`);
    rows.push(...page.tickets);
    fill(results, ticketTable("Tickets by root cause", rows, "No tickets match."));
    fill(more, page.next ? h("button", { type: "button", onclick: () => load(page.next).catch((e) => more.append(errorBox(e))) }, "Older tickets") : null);
  }
  await load();
}

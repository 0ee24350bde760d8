// Review queue: fixes waiting for a person (autonomy `suggest`, or held),
// approved (pushed and opened as a draft pull request when Suture may act
// outside) or rejected with a reason.
import { get, post, query } from "./api.js";
import { h, fill, heading, table, badge, when, ticketLink, errorBox, notice, confirmAction } from "./ui.js";

export async function decide(ticket, approve, feedback) {
  if (approve) {
    const ok = await confirmAction({ title: `Approve the fix for ${ticket}?`, text: "The branch is pushed and a draft pull request opened when GitHub is configured and the kill switch and autonomy allow it.", action: "Approve", reason: false });
    if (ok === null) return false;
    const outcome = await post(`/v1/tickets/${encodeURIComponent(ticket)}/fix/approve`);
    fill(feedback, notice(outcome.pull_request ? `Approved; pull request ${outcome.pull_request}` : `Approved; not published yet: ${outcome.held || "waiting"}`, outcome.pull_request ? "ok" : "info"));
    return true;
  }
  const reason = await confirmAction({ title: `Reject the fix for ${ticket}?`, text: "The ticket goes back to triaged with the reason; no agent retries it by itself.", action: "Reject" });
  if (reason === null) return false;
  await post(`/v1/tickets/${encodeURIComponent(ticket)}/fix/reject`, { reason });
  fill(feedback, notice(`Rejected: ${reason}`));
  return true;
}

export async function render(main) {
  const feedback = h("div", { "aria-live": "polite" });
  const list = h("div");
  fill(main, heading("Review queue"), h("p", { class: "muted" }, "Fixes that passed their tests and wait for a person."), feedback, list);
  async function load() {
    const page = await get(`/v1/dashboard/tickets${query({ state: "review", limit: 200 })}`);
    fill(
      list,
      table(
        "Fixes waiting for review",
        [
          ["Ticket", (t) => ticketLink(t.id)],
          ["What broke", (t) => h("div", {}, h("strong", {}, t.title), h("div", { class: "muted clamp" }, t.root_cause))],
          ["Severity", (t) => badge(t.severity)],
          ["Files", (t) => (t.fix ? t.fix.files.join(", ") : "—")],
          ["Tests", (t) => (t.fix ? t.fix.tests : "—")],
          ["Held", (t) => (t.fix && t.fix.held) || "—"],
          ["Updated", (t) => when(t.updated_at_ms)],
          [
            "Decide",
            (t) =>
              h(
                "div",
                { class: "buttons" },
                h("button", { type: "button", class: "approve", "data-ticket": t.id, onclick: () => act(t.id, true) }, `Approve ${t.id}`),
                h("button", { type: "button", class: "quiet reject", "data-ticket": t.id, onclick: () => act(t.id, false) }, `Reject ${t.id}`),
              ),
          ],
        ],
        page.tickets,
        "No fix is waiting for review.",
      ),
    );
  }
  async function act(ticket, approve) {
    try {
      if (await decide(ticket, approve, feedback)) await load();
    } catch (error) {
      fill(feedback, errorBox(error));
    }
  }
  await load();
}

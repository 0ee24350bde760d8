// Agents: the running attempts, live (polled every 2 seconds): step,
// tokens, time so far, the last tool call; the queue and what it waits for.
import { get } from "./api.js";
import { h, fill, heading, table, facts, badge, number, duration, ticketLink, errorBox } from "./ui.js";

function draw(box, data) {
  if (!data.available) return fill(box, h("p", { class: "muted" }, "The coding agent is restarting."));
  fill(
    box,
    facts([
      ["Enabled", data.enabled ? "yes" : `no${data.disabled_reason ? `: ${data.disabled_reason}` : ""}`],
      ["Kill switch", data.halted ? badge("engaged: agents halted", "danger") : "off"],
      ["Running", `${data.running.length} of ${data.max_concurrent}`],
      ["Queued", number(data.queued)],
      ["Waiting for", data.waiting],
      ["Started / fixed / failed", `${number(data.started)} / ${number(data.fixed)} / ${number(data.failed)}`],
    ]),
    table(
      "Running attempts",
      [
        ["Ticket", (a) => ticketLink(a.ticket)],
        ["Attempt", (a) => a.attempt, "num"],
        ["Agent", (a) => a.agent || "—"],
        ["Step", (a) => a.step, "num"],
        ["Tokens", (a) => number(a.tokens), "num"],
        ["Elapsed", (a) => duration(a.elapsed_ms)],
        ["Last tool call", (a) => (a.last_tool ? h("div", {}, h("strong", {}, a.last_tool.kind), h("div", { class: "muted clamp" }, a.last_tool.text)) : "—")],
        ["Now", (a) => (a.last ? h("span", { class: "muted" }, a.last.kind) : "—")],
      ],
      data.running,
      "No agent is running.",
    ),
  );
}

export async function render(main) {
  const box = h("div", { "aria-live": "polite", "aria-busy": "false", id: "agents-live" });
  const stamp = h("p", { class: "muted" });
  fill(main, heading("Agents"), stamp, box);
  const refresh = async () => {
    try {
      draw(box, await get("/v1/dashboard/agents"));
      stamp.textContent = `Live: updated ${new Date().toLocaleTimeString()}`;
    } catch (error) {
      fill(box, errorBox(error));
    }
  };
  await refresh();
  const timer = setInterval(refresh, 2000);
  return () => clearInterval(timer);
}

// Overview: exception volume, events accepted and rejected, gate runs
// with what they flagged, tickets by state, agents, spend against budget,
// the kill switch and the autonomy level. Refreshed every 10 seconds. The
// design's outcome metrics (fix success rate, time to resolution, ...) come
// from /v1/report, read once per visit: they read every ticket.
import { get } from "./api.js";
import { h, fill, heading, section, badge, number, when, duration, errorBox } from "./ui.js";
import { volumeChart, bars } from "./chart.js";

function stat(label, value, detail) {
  return h("div", { class: "stat" }, h("span", { class: "stat-label" }, label), h("span", { class: "stat-value" }, value), detail ? h("span", { class: "stat-detail" }, detail) : null);
}

function spend(llm) {
  if (!llm || !llm.configured) return stat("LLM spend today", "no LLM", "the stages take their deterministic paths");
  const b = llm.budget;
  if (!b) return stat("LLM spend", `${number(llm.tokens)} tokens`, `$${Number(llm.cost_usd || 0).toFixed(2)}`);
  const limit = b.day_limit ? ` of ${number(b.day_limit)}` : " (no limit)";
  const usd = b.day_usd_limit ? `$${b.day_usd.toFixed(2)} of $${b.day_usd_limit.toFixed(2)}` : `$${Number(b.day_usd || 0).toFixed(2)}`;
  return stat("LLM spend today", `${number(b.day_spent)} tokens${limit}`, b.exhausted ? `budget spent: ${b.exhausted}` : usd);
}

function pct(share) {
  return share && share.ratio !== null && share.ratio !== undefined ? `${Math.round(share.ratio * 100)}%` : "—";
}

function outcomesRow(o) {
  if (!o) return null;
  const total = (o.time_to_resolution || {}).first_seen_to_verified || {};
  const cost = o.cost || {};
  return section(
    "Fix outcomes",
    h(
      "div",
      { class: "stats" },
      stat("Fix success rate", o.fixes.success_rate === null ? "—" : `${Math.round(o.fixes.success_rate * 100)}%`, `${number(o.fixes.verified)} verified of ${number(o.fixes.attempts)} attempts`),
      stat("Merged", number(o.fixes.merged), `${number(o.fixes.failed_in_production)} failed in production · ${number(o.fixes.regressions)} regressed`),
      stat("First seen → verified", total.median_ms ? duration(total.median_ms) : "—", total.p90_ms ? `p90 ${duration(total.p90_ms)}` : "median"),
      stat("Grouping right", pct(o.deduplication_accuracy), "by operators' labels"),
      stat("False positives", pct(o.false_positives), "of triaged tickets"),
      stat("Auto-merged", pct(o.auto_deploys), "of merged fixes"),
      stat("Tokens per ticket", cost.tokens_per_ticket ? number(Math.round(cost.tokens_per_ticket)) : "—", cost.usd_per_merged_pr ? `$${cost.usd_per_merged_pr.toFixed(2)} per merged PR` : null),
    ),
  );
}

function draw(main, data, outcomes) {
  const ks = data.kill_switch || {};
  const agents = data.agents || {};
  fill(
    main,
    heading("Overview"),
    h(
      "div",
      { class: "stats" },
      stat("Events accepted", number(data.events.accepted), `${number(data.events.rejected)} rejected`),
      stat("Signatures", number(data.signatures)),
      stat("Gate runs (24 h)", number(data.gate.runs), `${number(data.gate.flagged)} flagged`),
      stat("Tickets", number(data.tickets.total), `${number(data.tickets.by_state.review)} in review · ${number(data.tickets.by_state.escalated)} escalated`),
      stat("Agents running", number(agents.running ?? 0), agents.halted ? "halted by the kill switch" : `${number(agents.queued ?? 0)} queued`),
      spend(data.llm),
      stat("Kill switch", ks.engaged ? badge("engaged", "danger") : badge("off", "ok"), ks.engaged ? `${ks.reason} (by ${ks.by})` : null),
      stat("Autonomy", data.autonomy ? badge(data.autonomy.level, "level") : "—", data.autonomy && data.autonomy.allow_deploy ? "deploy allowed" : null),
    ),
    outcomesRow(outcomes),
    section("Exceptions per hour, last 24 hours", volumeChart(data.volume.counts, data.volume.from, data.volume.bucket_minutes, "Exceptions per hour")),
    h(
      "div",
      { class: "two" },
      section("Tickets by state", bars(data.tickets.by_state, "Tickets by state")),
      section("Tickets by severity", bars(data.tickets.by_severity, "Tickets by severity"), h("p", { class: "muted" }, "Updated ", when(Date.now()))),
    ),
  );
}

export async function render(main) {
  const [first, report] = await Promise.all([get("/v1/dashboard/overview"), get("/v1/report")]);
  const outcomes = report.outcomes;
  draw(main, first, outcomes);
  const timer = setInterval(async () => {
    try {
      const data = await get("/v1/dashboard/overview");
      const focused = document.activeElement;
      draw(main, data, outcomes);
      if (focused && focused !== document.body && !main.contains(focused)) focused.focus();
    } catch (error) {
      main.append(errorBox(error));
    }
  }, 10000);
  return () => clearInterval(timer);
}

// Deploys: each deploy with the gate's judgement (what it flagged and why,
// in words; its second look over six hours as its own card), spike runs
// between deploys, deploys still in their window,
// and Suture's own deploys of fixes with their canary's result.
import { get, query } from "./api.js";
import { h, fill, heading, section, table, badge, number, when, errorBox } from "./ui.js";

function run(r) {
  const flagged = r.decisions.filter((d) => d.verdict !== "pass");
  const look = r.kind === "second_look" ? ", second look" : "";
  const title = r.deploy ? `Deploy ${r.deploy.revision}${r.deploy.environment ? ` (${r.deploy.environment})` : ""}${look}` : `Spike check`;
  return h(
    "article",
    { class: "card run" },
    h("h2", {}, title, " ", flagged.length ? badge(`${flagged.length} flagged`, "danger") : badge("no regression", "ok")),
    h("p", { class: "muted" }, `Judged `, when(r.judged_at), ` · window of ${r.window_minutes} min from `, when(r.window_start), r.traffic_known ? "" : " · no traffic reported", r.note ? ` · ${r.note}` : ""),
    table(
      `What the gate decided for ${title}`,
      [
        ["Signature", (d) => h("div", {}, h("strong", {}, d.title), h("div", { class: "muted" }, h("code", {}, d.signature.slice(0, 12))))],
        ["Verdict", (d) => badge(d.verdict)],
        ["Severity", (d) => badge(d.severity)],
        ["Observed", (d) => number(d.observed), "num"],
        ["Expected", (d) => Number(d.expected).toFixed(1), "num"],
        ["Why", (d) => d.reason],
      ],
      flagged.length ? flagged : r.decisions.slice(0, 5),
      "No signature fired in the window.",
    ),
  );
}

// Suture's own deploys of fixes, 20 a page newest first, every one reachable
// with "Older" (the server reads them from its auto-deploy index).
function autoDeploys(first) {
  const list = h("div");
  const more = h("div", { class: "pager" });
  const rows = [];
  function show(page) {
    rows.push(...page.auto_deploys);
    fill(
      list,
      table(
        "Fixes Suture merged and deployed itself, with the canary's result",
        [
          ["Ticket", (a) => h("a", { href: `#/ticket/${encodeURIComponent(a.ticket)}` }, `${a.ticket}: ${a.title}`)],
          ["Pull request", (a) => (a.pull_request ? h("a", { href: a.pull_request.url, rel: "noreferrer noopener", target: "_blank" }, `#${a.pull_request.number}`) : "—")],
          ["Merged as", (a) => (a.merge_commit ? h("code", {}, a.merge_commit.slice(0, 12)) : "—")],
          ["Deployed", (a) => (a.deployed ? when(a.deployed) : "—")],
          ["Canary until", (a) => (a.canary_until ? when(a.canary_until) : "—")],
          ["Result", (a) => (a.outcome ? badge(a.outcome.split(":")[0], a.outcome.startsWith("passed") ? "ok" : "danger") : badge("watching"))],
          ["Why", (a) => a.outcome || "the canary window is open"],
        ],
        rows,
        "None: Suture deploys fixes itself only at autonomy deploy with [deploy] enabled (docs/verify.md).",
      ),
    );
    const older = () =>
      get(`/v1/dashboard/auto-deploys${query({ before: page.next })}`)
        .then(show)
        .catch((e) => more.append(errorBox(e)));
    fill(more, page.next ? h("button", { type: "button", onclick: older }, "Older auto-deploys") : null);
  }
  show(first);
  return h("div", {}, list, more);
}

export async function render(main) {
  const [decisions, deploys, auto] = await Promise.all([
    get("/v1/gate/decisions?limit=50"),
    get("/v1/deploys"),
    get("/v1/dashboard/auto-deploys"),
  ]);
  const judged = new Set(decisions.runs.filter((r) => r.deploy).map((r) => r.deploy.id));
  const waiting = deploys.deploys.filter((d) => !judged.has(d.id)).reverse().slice(0, 50);
  fill(
    main,
    heading("Deploys"),
    section(
      "Waiting for the gate",
      table(
        "Deploys whose window has not been judged",
        [
          ["Revision", (d) => h("code", {}, d.revision)],
          ["Environment", (d) => d.environment || "—"],
          ["At", (d) => when(d.at)],
          ["Source", (d) => d.source],
        ],
        waiting,
        "Every deploy has been judged.",
      ),
    ),
    section("Auto-deploys", autoDeploys(auto)),
    h("h2", {}, "Judged"),
    decisions.runs.length ? decisions.runs.map(run) : h("p", { class: "muted empty" }, "The gate has not judged a deploy yet."),
  );
}

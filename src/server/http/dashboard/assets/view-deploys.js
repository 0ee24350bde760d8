// Deploys: each deploy with the gate's judgement (what it flagged and why,
// in words), spike runs between deploys, deploys still in their window,
// and auto-deploys (none until the verification issue builds them).
import { get } from "./api.js";
import { h, fill, heading, section, table, badge, number, when } from "./ui.js";

function run(r) {
  const flagged = r.decisions.filter((d) => d.verdict !== "pass");
  const title = r.deploy ? `Deploy ${r.deploy.revision}${r.deploy.environment ? ` (${r.deploy.environment})` : ""}` : `Spike check`;
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

export async function render(main) {
  const [decisions, deploys] = await Promise.all([get("/v1/gate/decisions?limit=50"), get("/v1/deploys")]);
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
    section("Auto-deploys", h("p", { class: "muted" }, "None: Suture does not deploy fixes by itself yet (autonomy level deploy is refused). Fixes reach production through their pull requests.")),
    h("h2", {}, "Judged"),
    decisions.runs.length ? decisions.runs.map(run) : h("p", { class: "muted empty" }, "The gate has not judged a deploy yet."),
  );
}

// Controls: the kill switch and the autonomy level, each changed only
// after a confirmation with a reason (recorded in the audit log under the
// logged-in token's name).
import { get, post } from "./api.js";
import { h, fill, heading, section, facts, badge, when, errorBox, notice, confirmAction } from "./ui.js";

const LEVELS = [
  ["observe", "tickets only"],
  ["suggest", "agents run; fixes wait in the review queue"],
  ["pr", "draft pull requests and GitHub issues"],
  ["deploy", "merging and deploying (refused unless allowed in config)"],
];

export async function render(main) {
  const [ks, autonomy] = await Promise.all([get("/v1/admin/kill-switch"), get("/v1/admin/autonomy")]);
  const feedback = h("div", { "aria-live": "polite", id: "controls-feedback" });
  const engage = !ks.engaged;
  const switchButton = h(
    "button",
    {
      type: "button",
      id: "kill-switch-toggle",
      class: engage ? "danger" : "",
      onclick: async () => {
        const reason = await confirmAction({
          title: engage ? "Engage the kill switch?" : "Release the kill switch?",
          text: engage
            ? "Every running agent is killed with its processes, and no LLM call, push, pull request, issue or comment starts until it is released. Capture, the gate and tickets go on."
            : "Agents, LLM calls and actions outside the sidecar resume; held tickets go back to the queue.",
          action: engage ? "Engage kill switch" : "Release kill switch",
        });
        if (reason === null) return;
        try {
          const result = await post("/v1/admin/kill-switch", { engaged: engage, reason });
          await render(main);
          document.getElementById("controls-feedback").append(notice(result.engaged ? `Kill switch engaged by ${result.by}.` : `Kill switch released by ${result.by}.`));
        } catch (error) {
          fill(feedback, errorBox(error));
        }
      },
    },
    engage ? "Engage kill switch…" : "Release kill switch…",
  );
  const select = h("select", { id: "autonomy-level", name: "level" }, LEVELS.map(([level, what]) => h("option", { value: level, selected: level === autonomy.autonomy.level }, `${level}: ${what}`)));
  const form = h(
    "form",
    { class: "inline", id: "autonomy-form" },
    h("label", { for: "autonomy-level" }, "Base level"),
    select,
    h("button", { type: "submit" }, "Change level…"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const level = select.value;
    if (level === autonomy.autonomy.level) {
      fill(feedback, notice(`Autonomy is already ${level}.`, "info"));
      return;
    }
    const reason = await confirmAction({ title: `Set autonomy to ${level}?`, text: `From the next action on, Suture goes as far as: ${LEVELS.find(([l]) => l === level)[1]}.`, action: `Set ${level}` });
    if (reason === null) return;
    try {
      const record = await post("/v1/admin/autonomy", { level, reason });
      await render(main);
      document.getElementById("controls-feedback").append(notice(`Autonomy set to ${record.level} by ${record.by}.`));
    } catch (error) {
      fill(feedback, errorBox(error));
    }
  });
  const change = autonomy.last_change;
  const perSeverity = Object.entries(autonomy.autonomy.by_severity || {});
  fill(
    main,
    heading("Controls"),
    feedback,
    section(
      "Kill switch",
      facts([
        ["State", ks.engaged ? badge("engaged", "danger") : badge("off", "ok")],
        ["Reason", ks.reason],
        ["By", ks.by],
        ["Since", ks.at_ms ? when(ks.at_ms) : null],
      ]),
      switchButton,
    ),
    section(
      "Autonomy",
      facts([
        ["Level", badge(autonomy.autonomy.level, "level")],
        ["Per severity", perSeverity.length ? perSeverity.map(([s, l]) => `${s}: ${l}`).join(", ") : "none"],
        ["Deploy allowed", autonomy.autonomy.allow_deploy ? "yes" : "no"],
        ["Last change", change ? [`${change.level} by ${change.by}: ${change.reason} (`, when(change.at_ms), ")"] : "set by the configuration"],
      ]),
      form,
    ),
  );
}

// The dashboard's router: hash routes (#/ticket/T-3), one module per view.
// A view's render(main, params) may return a function that stops its
// polling; it runs when the view changes.
import { get, post } from "./api.js";
import { h, fill, errorBox, badge } from "./ui.js";
import * as overview from "./view-overview.js";
import * as causes from "./view-causes.js";
import * as ticket from "./view-ticket.js";
import * as review from "./view-review.js";
import * as agents from "./view-agents.js";
import * as deploys from "./view-deploys.js";
import * as escalations from "./view-escalations.js";
import * as audit from "./view-audit.js";
import * as controls from "./view-controls.js";

const VIEWS = { overview, causes, ticket, review, agents, deploys, escalations, audit, controls };
const TITLES = { overview: "Overview", causes: "Root causes", ticket: "Ticket", review: "Review queue", agents: "Agents", deploys: "Deploys", escalations: "Escalations", audit: "Audit log", controls: "Controls" };

const main = document.getElementById("main");
let stop = null;
let generation = 0;

async function route() {
  const [name = "overview", ...rest] = location.hash.replace(/^#\/?/, "").split("?")[0].split("/").map(decodeURIComponent);
  const view = VIEWS[name] ? name : "overview";
  if (stop) {
    stop();
    stop = null;
  }
  const mine = ++generation;
  for (const link of document.querySelectorAll("#nav a")) {
    if (link.dataset.view === view || (view === "ticket" && link.dataset.view === "causes")) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  document.title = `${TITLES[view]}${rest[0] ? ` ${rest[0]}` : ""} · Suture`;
  fill(main, h("p", { class: "muted" }, "Loading…"));
  try {
    const cleanup = await VIEWS[view].render(main, rest);
    if (mine !== generation) {
      if (typeof cleanup === "function") cleanup();
      return;
    }
    stop = typeof cleanup === "function" ? cleanup : null;
    const title = main.querySelector("h1");
    if (title) title.focus({ preventScroll: true });
  } catch (error) {
    if (mine === generation) fill(main, h("h1", {}, TITLES[view]), errorBox(error));
  }
}

document.getElementById("logout").addEventListener("click", async () => {
  await post("/logout").catch(() => {});
  location.assign("/login");
});

/// The kill switch, on every view: engaged is the one state nobody should
/// miss. Refreshed with each view and every 15 seconds.
async function switchPill() {
  const pill = document.getElementById("switch-pill");
  try {
    const ks = await get("/v1/admin/kill-switch");
    fill(pill, ks.engaged ? h("a", { href: "#/controls" }, badge("kill switch engaged", "danger")) : null);
  } catch {
    fill(pill);
  }
}

window.addEventListener("hashchange", () => {
  route();
  switchPill();
});
route();
switchPill();
setInterval(switchPill, 15000);

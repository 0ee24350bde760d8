// Drives the dashboard in headless Chromium against a real sidecar (started
// by tests/system/dashboard.rs, which checks the outside effects: the pull
// request at the GitHub stand-in, the killed agent's processes).
//
// Environment (never argv: the token is a secret):
//   DASH_URL          the sidecar, e.g. http://127.0.0.1:8787
//   DASH_TOKEN        an admin token to log in with
//   DASH_TOKEN_NAME   its name, as the audit log and the kill switch show it
//   DASH_REVIEW       the ticket whose fix waits in the review queue
//   DASH_RUNNING      the ticket an agent is working on
//   DASH_ADDED_LINE   text of a line the fix adds
//   DASH_PR_URL       the pull request URL the GitHub stand-in answers with
//   DASH_SCREENSHOTS  optional: a folder to save one PNG per view in
//   CHROMIUM          optional: the browser (default /usr/bin/chromium)
//
// Prints one line per step; exits non-zero at the first failed check.
import { createRequire } from "node:module";
import { mkdirSync } from "node:fs";
import assert from "node:assert/strict";

const require = createRequire(new URL("../clients/package.json", import.meta.url));
const { chromium } = require("playwright-core");

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const base = env("DASH_URL");
const token = env("DASH_TOKEN");
const tokenName = env("DASH_TOKEN_NAME");
const reviewTicket = env("DASH_REVIEW");
const runningTicket = env("DASH_RUNNING");
const addedLine = env("DASH_ADDED_LINE");
const prUrl = env("DASH_PR_URL");
const shots = process.env.DASH_SCREENSHOTS || "";
const TIMEOUT = 30000;

const step = (text) => console.log(`check: ${text}`);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
});
try {
  await run(browser);
} finally {
  await browser.close();
}

async function run(browser) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  context.setDefaultTimeout(TIMEOUT);
  const page = await context.newPage();
  const problems = [];
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(`console: ${message.text()}`);
  });
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));

  // 1. Without a session only the login page is served.
  const anonymous = context.request;
  for (const path of ["/", "/dashboard/app.js", "/dashboard/view-controls.js"]) {
    const reply = await anonymous.get(`${base}${path}`, { maxRedirects: 0 });
    assert.equal(reply.status(), 303, `${path} without a session`);
    assert.equal(reply.headers().location, "/login", `${path} redirects to the login page`);
  }
  for (const path of ["/v1/dashboard/overview", "/v1/tickets", "/v1/audit"]) {
    const reply = await anonymous.get(`${base}${path}`);
    assert.equal(reply.status(), 401, `${path} without a session or token`);
  }
  const forged = await anonymous.get(`${base}/v1/dashboard/overview`, { headers: { cookie: "suture_session=0000" } });
  assert.equal(forged.status(), 401, "a made-up session id");
  await page.goto(`${base}/#/controls`);
  // The redirect keeps the fragment, so the login goes back to the view.
  await page.waitForURL(`${base}/login#/controls`);
  assert.equal(await page.locator("#token").count(), 1, "the login form");
  step("without a session only the login page is served");

  // 2. A wrong token is refused on the page; the right one logs in.
  await page.fill("#token", "not-the-token");
  await page.click("button[type=submit]");
  await page.locator("#login-error", { hasText: "wrong admin token" }).waitFor();
  problems.length = 0; // the refused POST's 401 is logged by the browser
  await page.fill("#token", token);
  await page.click("button[type=submit]");
  await page.waitForURL(`${base}/#/controls`);
  await page.locator("h1", { hasText: "Controls" }).waitFor();
  const cookie = (await context.cookies()).find((c) => c.name === "suture_session");
  assert.ok(cookie && cookie.httpOnly && cookie.sameSite === "Strict", "an HttpOnly, SameSite=Strict session cookie");
  step("logged in with the token");

  // 3. Every view loads, with no console error.
  const views = [
    ["overview", "Overview", "svg.chart"],
    ["causes", "Root causes", `a[href="#/ticket/${reviewTicket}"]`],
    [`ticket/${reviewTicket}`, reviewTicket, "table.diff"],
    ["review", "Review queue", `button[data-ticket="${reviewTicket}"].approve`],
    ["agents", "Agents", `#agents-live a[href="#/ticket/${runningTicket}"]`],
    ["deploys", "Deploys", "h2"],
    ["escalations", "Escalations", "table"],
    ["audit", "Audit log", "table"],
    ["controls", "Controls", "#kill-switch-toggle"],
  ];
  if (shots) mkdirSync(shots, { recursive: true });
  for (const [route, title, marker] of views) {
    await page.goto(`${base}/#/${route}`);
    await page.locator("h1", { hasText: title }).waitFor();
    await page.locator(marker).first().waitFor();
    const errors = await page.locator("main .error[role=alert]").allTextContents();
    assert.deepEqual(errors, [], `#/${route} shows no error`);
    assert.deepEqual(problems, [], `#/${route} logs no console error`);
    if (shots) {
      await page.screenshot({ path: `${shots}/${route.split("/")[0]}.png`, fullPage: true });
    }
    step(`view #/${route} loads`);
  }
  if (shots) {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${base}/#/ticket/${reviewTicket}`);
    await page.locator("table.diff").first().waitFor();
    await page.screenshot({ path: `${shots}/phone-ticket.png` });
    await page.setViewportSize({ width: 1280, height: 900 });
  }

  // 4. The ticket's diff shows the changed lines, side by side.
  await page.goto(`${base}/#/ticket/${reviewTicket}`);
  const added = page.locator("table.diff td.code.add", { hasText: addedLine });
  await added.first().waitFor();
  assert.ok((await added.first().locator("mark").count()) > 0, "the changed characters are marked");
  assert.ok((await page.locator("table.diff td.code.del").count()) > 0, "the removed side is shown");
  assert.ok((await page.locator("table.diff .tok-kw").count()) > 0, "keywords are highlighted");
  step("the fix's diff shows the changed lines");
  // The deploy's diff, read from the repository, with triage's suspect
  // line highlighted.
  await page.locator("tr.suspect-row", { hasText: "def order_count" }).first().waitFor();
  step("the deploy's diff shows the suspect line highlighted");

  // 5. Approving the fix in the review queue opens its pull request: at
  // autonomy `suggest`, a person's approval is what the fix waits for.
  await page.goto(`${base}/#/review`);
  await page.click(`button[data-ticket="${reviewTicket}"].approve`);
  await page.locator("dialog#confirm[open]").waitFor();
  await page.click("#confirm-ok");
  await page.locator("main .notice", { hasText: prUrl }).waitFor({ timeout: 60000 });
  step("approved; the page shows the pull request");

  // 6. Controls: autonomy to `pr`, with a confirmation and a reason.
  await page.goto(`${base}/#/controls`);
  await page.selectOption("#autonomy-level", "pr");
  await page.click("#autonomy-form button[type=submit]");
  await page.locator("dialog#confirm[open]").waitFor();
  await page.fill("#confirm-reason", "the reviewed fixes have been good");
  await page.click("#confirm-ok");
  await page.locator("#controls-feedback", { hasText: `Autonomy set to pr by ${tokenName}` }).waitFor();
  step("autonomy raised to pr from the page");

  // 7. The kill switch needs a reason and a confirmation.
  const engaged = async () => (await page.evaluate(async () => (await (await fetch("/v1/admin/kill-switch")).json()).engaged));
  await page.goto(`${base}/#/controls`);
  await page.click("#kill-switch-toggle");
  await page.locator("dialog#confirm[open]").waitFor();
  await page.click("#confirm-ok");
  await page.locator("#confirm-error", { hasText: "A reason is required" }).waitFor();
  assert.equal(await engaged(), false, "no reason: not engaged");
  await page.click("#confirm-cancel");
  await page.locator("dialog#confirm[open]").waitFor({ state: "detached" });
  assert.equal(await engaged(), false, "cancelled: not engaged");
  await page.click("#kill-switch-toggle");
  await page.fill("#confirm-reason", "stop everything: checking a bad fix");
  await page.click("#confirm-ok");
  await page.locator("#controls-feedback", { hasText: `Kill switch engaged by ${tokenName}` }).waitFor();
  assert.equal(await engaged(), true, "engaged after the confirmation");
  step("kill switch engaged after a reason and a confirmation");

  // 8. The agents view shows the agent gone and the coder halted.
  await page.goto(`${base}/#/agents`);
  await page.locator("#agents-live", { hasText: "No agent is running." }).waitFor();
  await page.locator("#agents-live", { hasText: "agents halted" }).waitFor();
  step("the running agent is gone");

  // 9. The audit log names the token for what was done from the page.
  await page.goto(`${base}/#/audit?kind=admin`);
  await page.locator("main td .actor", { hasText: tokenName }).first().waitFor();
  assert.deepEqual(problems, [], "no console error during the actions");
  step("the audit log names the token");

  // 10. Logging out ends the session.
  await page.click("#logout");
  await page.waitForURL(`${base}/login`);
  const after = await page.evaluate(async () => (await fetch("/v1/dashboard/overview")).status);
  assert.equal(after, 401, "the session ended");
  step("logged out");
  console.log("check: all passed");
}

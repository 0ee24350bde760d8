// Opens a URL in headless Debian chromium through playwright-core and keeps
// the page open until stdin closes (the test closes it once the events have
// landed, or after its timeout). Usage: node browser.mjs URL
// Console messages and page errors go to stderr for the test's failure output.
import { chromium } from "playwright-core";

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  // Without the background-networking flags chromium keeps trying to reach
  // Google, which this machine's closed network refuses.
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const page = await browser.newPage();
page.on("console", (m) => console.error(`console.${m.type()}: ${m.text()}`));
page.on("pageerror", (e) => console.error(`pageerror: ${e.message}`));
page.on("requestfailed", (r) => console.error(`requestfailed: ${r.url()} ${r.failure()?.errorText}`));
await page.goto(process.argv[2]);
console.log("loaded");
process.stdin.resume();
await new Promise((resolve) => process.stdin.on("end", resolve));
await browser.close();

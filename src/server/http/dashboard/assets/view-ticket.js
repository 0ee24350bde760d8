// One ticket: the evidence (samples' stack frames, the gate's figures and
// reason), triage's verdict with the suspect lines in the deploy's
// changes, the fix side by side with syntax highlighting, the tests before
// and after, the pull request, every attempt with its transcript, past
// fixes from memory and verification when the ticket carries them, and
// the audit trail.
import { get, query } from "./api.js";
import { h, fill, heading, section, table, facts, badge, number, when, duration, errorBox } from "./ui.js";
import { tokenize, languageOf } from "./highlight.js";
import { decide } from "./view-review.js";

function frames(list) {
  return table(
    "Stack frames",
    [
      ["Function", (f) => h("code", {}, f.function || "?")],
      ["File", (f) => h("code", {}, `${f.repo_path || f.file || "?"}${f.line ? `:${f.line}` : ""}`)],
      ["In app", (f) => (f.in_app ? "yes" : "no")],
    ],
    list || [],
    "No frames.",
  );
}

function signatures(ticket) {
  return ticket.signatures.map((s) =>
    h(
      "article",
      { class: "evidence" },
      h("h3", {}, s.title),
      h("p", {}, h("code", {}, `${s.exception_type || "error"}: ${s.message}`)),
      facts([
        ["Events", number(s.total_events)],
        ["First seen", when(s.first_seen_ms)],
        ["Last seen", when(s.last_seen_ms)],
        ["Release", s.release],
        ["Crash site", s.crash_site && h("code", {}, s.crash_site)],
      ]),
      frames(s.frames),
      s.gate && s.gate.length
        ? table(
            "The gate's judgement",
            [
              ["Verdict", (g) => badge(g.verdict)],
              ["Severity", (g) => badge(g.severity)],
              ["Observed", (g) => number(g.observed), "num"],
              ["Expected", (g) => Number(g.expected).toFixed(1), "num"],
              ["Why", (g) => g.reason || "—"],
            ],
            s.gate,
          )
        : null,
    ),
  );
}

function triage(ticket) {
  const t = ticket.triage;
  if (!t) return h("p", { class: "muted" }, "Not triaged yet.");
  const suspects = new Map();
  for (const s of t.suspect_lines || []) suspects.set(s.file, [...(suspects.get(s.file) || []), s]);
  return [
    facts([
      ["Decision", badge(t.decision || ticket.disposition || "—")],
      ["Confidence", `${Math.round((t.confidence || 0) * 100)}%`],
      ["Method", t.method],
      ["Why", t.reasoning],
      ["Fallback", t.fallback_reason],
    ]),
    t.diff
      ? h(
          "div",
          {},
          h("h3", {}, `The deploy's changes (${t.diff.from.slice(0, 10)} → ${t.diff.to.slice(0, 10)})`),
          table(
            "Files the deploy changed; suspect lines highlighted",
            [
              ["File", (f) => h("code", { class: suspects.has(f.path) ? "suspect" : "" }, f.path)],
              ["Kind", (f) => f.class],
              ["Change", (f) => `+${f.added} −${f.removed}`],
              ["Suspect lines", (f) => (suspects.get(f.path) || []).map((s) => h("div", { class: "suspect" }, h("code", {}, `${s.file}${s.line ? `:${s.line}` : ""}`), " ", s.why))],
            ],
            t.diff.files,
          ),
        )
      : null,
    (t.suspect_lines || []).length && !t.diff
      ? h("ul", { class: "suspects" }, t.suspect_lines.map((s) => h("li", { class: "suspect" }, h("code", {}, `${s.file}${s.line ? `:${s.line}` : ""}`), " ", s.why)))
      : null,
    (t.links || []).length
      ? table(
          "Stack frames on lines the deploy changed",
          [
            ["Frame", (l) => h("code", {}, `${l.file}${l.line ? `:${l.line}` : ""}`)],
            ["Function", (l) => l.function || "—"],
            ["On a changed line", (l) => (l.on_changed_line ? badge("yes", "danger") : "no")],
          ],
          t.links,
        )
      : null,
  ];
}

/// One side of a diff row: the line number, then the highlighted text
/// with the changed characters marked.
function side(cell, language, kind) {
  if (!cell) return [h("td", { class: "ln empty" }), h("td", { class: "code empty" })];
  const code = h("td", { class: `code ${kind}` });
  for (const segment of cell.segments) {
    const holder = segment.changed && kind !== "context" ? h("mark", {}) : code;
    for (const token of tokenize(segment.text, language)) holder.append(token.kind ? h("span", { class: `tok-${token.kind}` }, token.text) : document.createTextNode(token.text));
    if (holder !== code) code.append(holder);
  }
  return [h("td", { class: "ln" }, cell.number), code];
}

/// `suspects`: `[{file, line}]` whose new-side lines are highlighted (the
/// deploy's diff, where triage's suspect lines are).
export function sideBySide(diff, suspects = []) {
  if (diff.problem) return h("p", { class: "muted" }, `The diff could not be read: ${diff.problem}`);
  if (!diff.files.length) return h("p", { class: "muted" }, "The fix changed nothing.");
  const suspect = (path, row) => row.right && suspects.some((s) => s.file === path && s.line === row.right.number);
  return diff.files.map((file) => {
    const language = languageOf(file.new_path || file.old_path);
    return h(
      "div",
      { class: "diff-file" },
      h("h3", {}, h("code", {}, file.new_path || file.old_path), file.binary ? " (binary)" : null),
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          { class: "diff", "aria-label": `Changes to ${file.new_path}` },
          h("colgroup", {}, h("col", { class: "ln-col" }), h("col", {}), h("col", { class: "ln-col" }), h("col", {})),
          h("thead", { class: "sr-only" }, h("tr", {}, h("th", { scope: "col" }, "Old line"), h("th", { scope: "col" }, "Before"), h("th", { scope: "col" }, "New line"), h("th", { scope: "col" }, "After"))),
          h(
            "tbody",
            {},
            file.rows.map((row) =>
              row.kind === "hunk"
                ? h("tr", { class: "hunk" }, h("td", { colspan: 4 }, row.text))
                : h("tr", { class: `row-${row.change}${suspect(file.new_path, row) ? " suspect-row" : ""}` }, side(row.left, language, row.change === "context" ? "context" : "del"), side(row.right, language, row.change === "context" ? "context" : "add")),
            ),
          ),
        ),
      ),
    );
  });
}

function tests(name, run) {
  if (!run) return null;
  return h(
    "div",
    { class: "test-run" },
    h("h4", {}, name),
    facts([
      ["Command", h("code", {}, run.command)],
      ["Passed", number(run.passed)],
      ["Failed", number(run.failed)],
      ["Errors", number(run.errors)],
      ["Exit", run.timed_out ? "timed out" : run.exit_code ?? "killed"],
      ["Took", duration(run.duration_ms)],
    ]),
    run.output_tail ? h("details", {}, h("summary", {}, "Output (end)"), h("pre", {}, run.output_tail)) : null,
  );
}

/// The fix's review as words: pending, approved, or rejected with why.
function reviewText(review) {
  if (!review) return null;
  if (typeof review === "string") return review;
  const state = review.state || Object.keys(review)[0];
  return review.reason ? `${state}: ${review.reason}` : state;
}

async function fix(ticket, feedback) {
  if (!ticket.fix) return h("p", { class: "muted" }, "No fix yet.");
  const [details, diff] = await Promise.all([
    get(`/v1/tickets/${encodeURIComponent(ticket.id)}/fix`),
    get(`/v1/dashboard/tickets/${encodeURIComponent(ticket.id)}/diff`),
  ]);
  const f = ticket.fix;
  const e = details.evidence || {};
  const actions =
    ticket.state === "review"
      ? h(
          "div",
          { class: "buttons" },
          h("button", { type: "button", class: "approve", onclick: () => decide(ticket.id, true, feedback).then((done) => done && location.reload()).catch((err) => fill(feedback, errorBox(err))) }, "Approve fix"),
          h("button", { type: "button", class: "quiet reject", onclick: () => decide(ticket.id, false, feedback).then((done) => done && location.reload()).catch((err) => fill(feedback, errorBox(err))) }, "Reject fix"),
        )
      : null;
  return [
    facts([
      ["Branch", h("code", {}, f.branch)],
      ["Files", f.files.join(", ")],
      ["Review", reviewText(f.review)],
      ["Held", f.held],
      ["Pull request", f.pull_request ? h("a", { href: f.pull_request.url, rel: "noreferrer noopener", target: "_blank" }, `#${f.pull_request.number}`) : null],
      ["Judgement", e.judgement],
      ["Changed", `+${diff.added} −${diff.removed}`],
    ]),
    actions,
    h("h3", {}, "The fix, side by side"),
    sideBySide(diff),
    h("h3", {}, "Tests before and after"),
    h("div", { class: "two" }, tests("Before the fix", e.tests_before), tests("After the fix", e.tests_after)),
    e.tests_only ? tests("New tests on the old code", e.tests_only) : null,
    e.lint ? tests("Lint", e.lint) : null,
  ];
}

async function attempts(ticket) {
  const data = await get(`/v1/tickets/${encodeURIComponent(ticket.id)}/attempts`);
  if (!data.attempts.length) return h("p", { class: "muted" }, "No agent has worked on it.");
  return data.attempts.map(({ attempt, transcript }) =>
    h(
      "details",
      { class: "attempt" },
      h("summary", {}, `Attempt ${attempt.attempt}: `, badge(attempt.state), ` ${attempt.agent} · ${attempt.steps} steps · ${number(attempt.tokens)} tokens · `, when(attempt.started_ms)),
      attempt.reason ? h("p", {}, attempt.reason) : null,
      h("ol", { class: "transcript" }, transcript.map((entry) => h("li", {}, h("span", { class: "step-kind" }, `${entry.step} · ${entry.kind}`), entry.tokens ? h("span", { class: "muted" }, ` ${number(entry.tokens)} tokens`) : null, h("pre", {}, entry.text)))),
    ),
  );
}

/// Fields other work adds to a ticket (past fixes from memory,
/// verification): shown when present, as facts rather than JSON.
function extra(value) {
  if (value === undefined || value === null) return null;
  if (Array.isArray(value)) {
    if (!value.length) return h("p", { class: "muted" }, "None.");
    return h("ul", {}, value.map((item) => h("li", {}, typeof item === "object" ? extra(item) : String(item))));
  }
  if (typeof value === "object") {
    return facts(Object.entries(value).map(([k, v]) => [k.replaceAll("_", " "), typeof v === "object" && v !== null ? extra(v) : k.endsWith("_ms") ? when(v) : String(v)]));
  }
  return String(value);
}

export async function render(main, [id]) {
  const ticket = await get(`/v1/tickets/${encodeURIComponent(id)}`);
  const feedback = h("div", { "aria-live": "polite" });
  const fixBox = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  const attemptBox = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  const deployDiffBox = h("div", {}, h("p", { class: "muted" }, "Loading the deploy's diff…"));
  fill(
    main,
    heading(`${ticket.id}: ${ticket.title}`, h("p", { class: "badges" }, badge(ticket.state), " ", badge(ticket.severity), " ", badge(ticket.disposition || "pending"), ticket.github ? [" ", h("a", { href: ticket.github.url, rel: "noreferrer noopener", target: "_blank" }, `GitHub issue #${ticket.github.number}`)] : null)),
    feedback,
    section("Root cause", h("p", {}, ticket.root_cause), ticket.suggested_fix ? h("p", {}, h("strong", {}, "Suggested fix: "), ticket.suggested_fix) : null, facts([["Events", number(ticket.events)], ["Files", ticket.files.join(", ")], ["Revision", ticket.revision && h("code", {}, ticket.revision)], ["Opened", when(ticket.created_at_ms)]])),
    section("Triage", triage(ticket), ticket.triage && ticket.triage.diff ? deployDiffBox : null),
    section("Fix", fixBox),
    ticket.memory !== undefined ? section("Past fixes from memory", extra(ticket.memory)) : null,
    ticket.verification !== undefined ? section("Verification", extra(ticket.verification)) : null,
    ticket.fix_revision !== undefined ? section("Revision after review", extra(ticket.fix_revision)) : null,
    ticket.auto_deploy !== undefined ? section("Auto-deploy", extra(ticket.auto_deploy)) : null,
    section("Evidence", signatures(ticket)),
    section("Agent attempts", attemptBox),
    section(
      "Audit trail",
      table(
        "The ticket's audit trail",
        [
          ["When", (a) => when(a.at_ms)],
          ["Who", (a) => a.actor],
          ["What", (a) => a.action],
          ["Detail", (a) => a.detail],
        ],
        [...ticket.audit].reverse(),
      ),
      h("p", {}, h("a", { href: `#/audit${query({ ticket: ticket.id })}` }, "Everything about this ticket in the audit log")),
    ),
  );
  await Promise.all([
    fix(ticket, feedback).then((nodes) => fill(fixBox, nodes)).catch((e) => fill(fixBox, errorBox(e))),
    attempts(ticket).then((nodes) => fill(attemptBox, nodes)).catch((e) => fill(attemptBox, errorBox(e))),
    ticket.triage && ticket.triage.diff
      ? get(`/v1/dashboard/tickets/${encodeURIComponent(ticket.id)}/deploy-diff`)
          .then((d) => fill(deployDiffBox, h("h3", {}, "The deploy's diff, suspect lines highlighted"), sideBySide(d, d.suspects)))
          .catch((e) => fill(deployDiffBox, h("p", { class: "muted" }, `The deploy's diff is not available: ${e.message || e}`)))
      : null,
  ]);
}

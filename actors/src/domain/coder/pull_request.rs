//! A fix as a pull request: its title and body. Here rather than beside
//! the issue body in `tickets::render` because it reads the attempt's
//! records, and tickets must not depend on the coder (the coder reads
//! tickets).

use crate::domain::coder::attempt::{AttemptRecord, FixEvidence, TestSummary};
use crate::domain::tickets::Ticket;
use crate::domain::tickets::render::{fenced, short_sha};

/// The title of a fix's pull request.
pub fn pull_request_title(ticket: &Ticket) -> String {
    let title: String = ticket.title.chars().take(120).collect();
    format!("Fix {}: {}", ticket.id, title.trim())
}

/// Markdown for a fix's pull request: what broke, why, what changed and
/// why, the tests before and after, what the agent spent, and the way back
/// to the ticket. Text from exceptions and from the model is fenced.
pub fn pull_request_body(ticket: &Ticket, attempt: &AttemptRecord, fix: &FixEvidence) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "Draft fix by Suture's coding agent for ticket `{}` (severity **{}**, {} events{}). **Review it like any change from a new contributor.**\n\n",
        ticket.id,
        ticket.severity.as_str(),
        ticket.events,
        ticket
            .deploy_id
            .as_deref()
            .map(|d| format!(", first bad deploy `{d}`"))
            .unwrap_or_default()
    ));
    out.push_str("### What broke\n\n");
    for s in &ticket.signatures {
        let gate = s.gate.first().map_or(String::new(), |g| {
            format!(
                " · gate: {} ({} events, {:.1} expected, q = {:.2e})",
                g.verdict.as_str(),
                g.observed,
                g.expected,
                g.q
            )
        });
        out.push_str(&format!(
            "- `{}`: {} events{gate}\n",
            s.signature, s.total_events
        ));
        let sample = format!(
            "{}: {}",
            s.exception_type.as_deref().unwrap_or("Error"),
            s.message
        );
        out.push_str(&fenced(&sample));
    }
    out.push_str("\n### Why (root cause and triage)\n\n");
    out.push_str(&fenced(&ticket.root_cause));
    if let Some(t) = &ticket.triage {
        out.push_str(&format!(
            "\nTriage: {} (confidence {:.2})\n",
            t.decision.map_or("rule", |d| d.as_str()),
            t.confidence
        ));
        out.push_str(&fenced(&t.reasoning));
    }
    out.push_str(&format!(
        "\n### What changed\n\n{} file(s), +{} −{} lines, on `{}` (base `{}`):\n\n",
        fix.files.len(),
        fix.added,
        fix.removed,
        attempt.branch,
        short_sha(&fix.base)
    ));
    for f in &fix.files {
        out.push_str(&format!("- `{}`\n", f.replace('`', "'")));
    }
    out.push_str("\nWhy each change was made is in the commit message and the agent's transcript (`GET /v1/tickets/");
    out.push_str(&ticket.id);
    out.push_str("/attempts` on the sidecar).\n");
    out.push_str("\n### Tests\n\n");
    out.push_str(&format!("**{}**\n\n", fix.judgement.replace('\n', " ")));
    out.push_str("| run | result | passed | failed | errors |\n|---|---|---|---|---|\n");
    let mut row = |name: &str, t: &TestSummary| {
        let result = match (t.exit_code, t.timed_out) {
            (_, true) => "timed out".to_string(),
            (Some(0), _) => "exit 0".to_string(),
            (Some(code), _) => format!("exit {code}"),
            (None, _) => "killed".to_string(),
        };
        out.push_str(&format!(
            "| {name} | {result} | {} | {} | {} |\n",
            t.passed, t.failed, t.errors
        ));
    };
    row("before the fix", &fix.tests_before);
    if let Some(only) = &fix.tests_only {
        row("new tests, without the fix", only);
    }
    row("with the fix", &fix.tests_after);
    out.push_str(&format!(
        "\nCommand: `{}`\n",
        fix.tests_after.command.replace('`', "'")
    ));
    out.push_str(&format!(
        "\n### Cost\n\nAgent: {} · attempt {} · {} model calls · {} tokens\n",
        if attempt.agent.is_empty() {
            "built-in"
        } else {
            &attempt.agent
        },
        attempt.attempt,
        attempt.steps,
        attempt.tokens
    ));
    out.push_str(&format!(
        "\n_Opened by Suture. Evidence was scrubbed of secrets before it left the sidecar; the ticket is `GET /v1/tickets/{}`._\n",
        ticket.id
    ));
    out
}

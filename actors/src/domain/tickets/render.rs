//! A ticket as a GitHub issue: the verdict first, then the evidence.
//!
//! Text that came from exceptions (messages, frames, breadcrumbs, the
//! model's prose about them) is already scrubbed; here it is also put in
//! fenced blocks, so markdown in an exception message cannot ping people,
//! embed tracking images or fake a section of the issue.

use super::{Recurrence, Ticket};

/// Labels beyond the configured ones: severity, disposition, triage decision.
pub fn issue_labels(ticket: &Ticket) -> Vec<String> {
    let mut labels = vec![format!("severity:{}", ticket.severity.as_str())];
    if let Some(d) = ticket.disposition {
        labels.push(format!("suture:{}", d.as_str().replace('_', "-")));
    }
    labels
}

/// A fenced block that the text cannot close.
pub(crate) fn fenced(text: &str) -> String {
    let mut fence = "~~~".to_string();
    while text.contains(&fence) {
        fence.push('~');
    }
    format!("{fence}text\n{text}\n{fence}\n")
}

/// Markdown for the issue body.
pub fn issue_body(ticket: &Ticket) -> String {
    let mut out = String::new();
    let disposition = ticket.disposition.map_or("untriaged", |d| d.as_str());
    out.push_str(&format!(
        "**{}** · severity **{}** · {} events · ticket `{}`{}\n\n",
        disposition,
        ticket.severity.as_str(),
        ticket.events,
        ticket.id,
        ticket
            .deploy_id
            .as_deref()
            .map(|d| format!(" · deploy `{d}`"))
            .unwrap_or_default()
    ));
    out.push_str("### Root cause\n\n");
    out.push_str(&fenced(&ticket.root_cause));
    out.push_str("\n### Suggested fix\n\n");
    out.push_str(&fenced(&ticket.suggested_fix));
    if let Some(t) = &ticket.triage {
        out.push_str(&format!(
            "\n### Triage ({}, confidence {:.2})\n\n",
            t.decision.map_or("rule", |d| d.as_str()),
            t.confidence
        ));
        out.push_str(&fenced(&t.reasoning));
        for line in &t.suspect_lines {
            out.push_str(&format!(
                "- `{}`{}\n",
                line.file.replace('`', "'"),
                line.line.map(|l| format!(" line {l}")).unwrap_or_default()
            ));
        }
        if let Some(diff) = &t.diff {
            out.push_str(&format!(
                "\nDiff `{}..{}` ({}), {} file(s) changed.\n",
                short_sha(&diff.from),
                short_sha(&diff.to),
                diff.from_source,
                diff.files.len()
            ));
        }
    }
    if !ticket.files.is_empty() {
        out.push_str("\n### Files\n\n");
        for f in &ticket.files {
            out.push_str(&format!("- `{}`\n", f.replace('`', "'")));
        }
    }
    out.push_str("\n### Errors\n");
    for s in &ticket.signatures {
        out.push_str(&format!("\n#### `{}`\n\n", s.signature));
        for g in &s.gate {
            out.push_str(&format!(
                "- {}: {} events, {:.1} expected, q = {:.2e} (`{}`)\n",
                g.verdict.as_str(),
                g.observed,
                g.expected,
                g.q,
                g.run
            ));
        }
        let frames: String = s
            .frames
            .iter()
            .rev()
            .take(10)
            .map(|f| {
                format!(
                    "  at {} ({}:{}){}\n",
                    f.function.as_deref().unwrap_or("?"),
                    f.repo_path.as_deref().or(f.file.as_deref()).unwrap_or("?"),
                    f.line.map_or_else(|| "?".into(), |l| l.to_string()),
                    if f.in_app { "" } else { " [lib]" }
                )
            })
            .collect();
        let sample = format!(
            "{}: {}\n{}",
            s.exception_type.as_deref().unwrap_or("Error"),
            s.message,
            frames
        );
        out.push_str(&format!("\n{}", fenced(sample.trim_end())));
    }
    out.push_str(
        "\n_Opened by Suture. Everything above was scrubbed of secrets before it left the sidecar; the full ticket, with the audit trail, is at `GET /v1/tickets/",
    );
    out.push_str(&ticket.id);
    out.push_str("` on the sidecar._\n");
    out
}

/// The comment for a recurrence.
pub fn recurrence_comment(r: &Recurrence) -> String {
    format!(
        "Recurred: {} more events ({}) in `{}`.",
        r.events,
        r.signatures
            .iter()
            .map(|s| format!("`{s}`"))
            .collect::<Vec<_>>()
            .join(", "),
        r.run
    )
}

pub(crate) fn short_sha(rev: &str) -> &str {
    rev.get(..12).unwrap_or(rev)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::tickets::test_support::ticket;
    use crate::domain::tickets::{Disposition, Method};

    #[test]
    fn exception_text_cannot_close_its_fence() {
        let mut t = ticket("T-1", Some(Disposition::FixCandidate), None, Method::Llm);
        t.root_cause = "~~~\n# Fake section @everyone ![x](http://evil/track.png)".into();
        let body = issue_body(&t);
        assert!(body.contains("~~~~text\n~~~\n# Fake section"));
        assert!(body.contains("GET /v1/tickets/T-1"));
        assert_eq!(
            issue_labels(&t),
            vec!["severity:high".to_string(), "suture:fix-candidate".into()]
        );
    }
}

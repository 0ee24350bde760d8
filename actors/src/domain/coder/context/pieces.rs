//! The evidence cut into pieces: each a unit the sizing keeps, cuts or
//! leaves out, with the slot it goes in, Suture's own words about it (its
//! label, outside the data block) and the untrusted text (scrubbed here,
//! once, so that what is measured is what is sent).

use std::time::{Duration, UNIX_EPOCH};

use super::cut::CutStyle;
use super::{ContextInputs, Slot, stack_files};
use crate::domain::analyzer::exception_view;
use crate::domain::diff::CommitSummary;
use crate::domain::scrub::Scrubber;
use crate::domain::tickets::{Ticket, TriageRecord};

/// One piece of evidence.
#[derive(Debug, Clone)]
pub(super) struct Piece {
    pub slot: Slot,
    /// Suture's words before the piece's own data block (slots with a block
    /// per piece); empty otherwise.
    pub label: String,
    /// Untrusted text, scrubbed.
    pub text: String,
    pub cut: CutStyle,
}

/// Every piece, in the order the context is filled: what matters most first.
///
/// 1. The root cause, the first error's sample and stack, triage's verdict
///    and suspect lines, the files likely involved.
/// 2. Past fixes and what became of them, outlines of the files on the
///    stack, related tests, the deploy's diff of the files on the stack.
/// 3. The rest of the diff, recent commits, the other errors' samples.
pub(super) fn pieces(inputs: &ContextInputs<'_>, scrubber: &Scrubber) -> Vec<Piece> {
    let scrub = |text: &str| scrubber.scrub(text).into_owned();
    let ticket = inputs.ticket;
    let piece = |slot, label: String, text: &str, cut| Piece {
        slot,
        label,
        text: scrub(text),
        cut,
    };
    let mut out = Vec::new();

    out.push(piece(
        Slot::RootCause,
        String::new(),
        &root_cause(ticket),
        CutStyle::Head,
    ));
    let errors: Vec<Piece> = ticket
        .signatures
        .iter()
        .enumerate()
        .map(|(index, evidence)| {
            let view = exception_view(evidence);
            let label = format!(
                "Error {} of {}: signature {}, {} events stored\ngate: {}\n",
                index + 1,
                ticket.signatures.len(),
                view.signature,
                evidence.total_events,
                if view.gate.is_empty() {
                    "no gate decision recorded"
                } else {
                    &view.gate
                }
            );
            let cut = if index == 0 {
                CutStyle::Middle
            } else {
                CutStyle::Never
            };
            piece(Slot::Errors, label, &sample(&view), cut)
        })
        .collect();
    let mut errors = errors.into_iter();
    out.extend(errors.next());
    if let Some(triage) = &ticket.triage {
        out.push(piece(
            Slot::Triage,
            String::new(),
            &triage_text(triage),
            CutStyle::Head,
        ));
    }
    let stack = stack_files(ticket);
    for path in likely_files(ticket, inputs.file_hints) {
        out.push(piece(Slot::Files, String::new(), &path, CutStyle::Never));
    }

    for past in inputs.past_fixes {
        // Suture's own facts (which fix, its outcome, why it is relevant)
        // label the block; the record's prose is data.
        let label = format!(
            "{}; relevant by {}; {} files changed\n",
            past.fix.headline(),
            past.by,
            past.fix.files.len()
        );
        let text = format!(
            "relevant because: {}\nroot cause then: {}\nfiles changed: {}\nwhat was said: {}",
            past.why,
            past.fix.root_cause,
            past.fix.files.join(", "),
            past.fix.words
        );
        out.push(piece(Slot::PastFixes, label, &text, CutStyle::Head));
    }
    for file in inputs.outlines {
        let marks = frame_lines(ticket, &file.path);
        let text = format!(
            "{} ({}, {} lines)\n{}",
            file.path,
            file.outline.language.as_str(),
            file.outline.lines,
            file.outline.render(&marks).trim_end()
        );
        out.push(piece(Slot::Outlines, String::new(), &text, CutStyle::Head));
    }
    for test in inputs.related_tests {
        let text = format!("{}  (for {})", test.path, test.source);
        out.push(piece(
            Slot::RelatedTests,
            String::new(),
            &text,
            CutStyle::Never,
        ));
    }
    let relevant: Vec<String> = stack
        .iter()
        .cloned()
        .chain(likely_files(ticket, &[]))
        .collect();
    let (near, far): (Vec<_>, Vec<_>) = inputs
        .deploy_diff
        .map(diff_sections)
        .unwrap_or_default()
        .into_iter()
        .partition(|(path, _)| path.as_ref().is_some_and(|p| relevant.contains(p)));
    for (_, text) in near {
        out.push(piece(Slot::Diff, String::new(), &text, CutStyle::Head));
    }

    for (_, text) in far {
        out.push(piece(Slot::Diff, String::new(), &text, CutStyle::Head));
    }
    for commit in inputs.recent_commits {
        out.push(piece(
            Slot::Commits,
            String::new(),
            &commit_line(commit),
            CutStyle::Never,
        ));
    }
    out.extend(errors);
    out
}

/// The ticket's title, root cause and suggested fix.
fn root_cause(ticket: &Ticket) -> String {
    format!(
        "title: {}\nroot cause: {}\nsuggested fix: {}",
        ticket.title.trim(),
        ticket.root_cause.trim(),
        ticket.suggested_fix.trim()
    )
}

/// A sample as the agent reads it: type and message, breadcrumbs, then the
/// stack ending with the crashing frame, so that a cut in the middle keeps
/// both the message and the crash site.
fn sample(view: &crate::domain::llm::prompt::ExceptionView) -> String {
    let mut text = format!("type: {}\nmessage: {}", view.exception_type, view.message);
    if !view.breadcrumbs.is_empty() {
        text.push_str(&format!(
            "\nbreadcrumbs, oldest first:\n{}",
            view.breadcrumbs
        ));
    }
    if view.stack.is_empty() {
        text.push_str("\nstack: none recorded");
    } else {
        text.push_str(&format!(
            "\nstack, oldest call first, crashing frame last:\n{}",
            view.stack
        ));
    }
    text
}

fn triage_text(triage: &TriageRecord) -> String {
    let mut text = format!("reasoning: {}", triage.reasoning.trim());
    if !triage.suspect_lines.is_empty() {
        text.push_str("\nsuspect lines (line numbers after the deploy):");
        for s in &triage.suspect_lines {
            let line = s.line.map(|l| format!(":{l}")).unwrap_or_default();
            text.push_str(&format!("\n  {}{line}: {}", s.file, s.why.trim()));
        }
    }
    if !triage.links.is_empty() {
        text.push_str("\nframes in files the deploy changed:");
        for link in &triage.links {
            let line = link.line.map(|l| format!(":{l}")).unwrap_or_default();
            let function = link
                .function
                .as_deref()
                .map(|f| format!(" in {f}"))
                .unwrap_or_default();
            let mut what = Vec::new();
            if link.crash_site {
                what.push("the crash site");
            }
            if link.on_changed_line {
                what.push("on a changed line");
            }
            let what = if what.is_empty() {
                String::new()
            } else {
                format!(" ({})", what.join(", "))
            };
            text.push_str(&format!("\n  {}{line}{function}{what}", link.file));
        }
    }
    text
}

/// Triage's suspect files, the ticket's files, then the caller's hints,
/// each once.
fn likely_files(ticket: &Ticket, hints: &[String]) -> Vec<String> {
    let suspects = ticket
        .triage
        .iter()
        .flat_map(|t| t.suspect_lines.iter().map(|s| s.file.clone()));
    let mut files: Vec<String> = Vec::new();
    for path in suspects
        .chain(ticket.files.iter().cloned())
        .chain(hints.iter().cloned())
    {
        if !path.is_empty() && !files.contains(&path) {
            files.push(path);
        }
    }
    files
}

/// Lines of `path` the ticket's frames point at.
fn frame_lines(ticket: &Ticket, path: &str) -> Vec<usize> {
    let mut lines: Vec<usize> = ticket
        .signatures
        .iter()
        .flat_map(|s| s.frames.iter())
        .filter(|f| f.repo_path.as_deref() == Some(path))
        .filter_map(|f| f.line.and_then(|l| usize::try_from(l).ok()))
        .collect();
    lines.sort_unstable();
    lines.dedup();
    lines
}

/// A unified diff split into its files: the path (after the change) and
/// the file's part of the patch. Text before the first file (none from
/// git) is a part without a path.
fn diff_sections(patch: &str) -> Vec<(Option<String>, String)> {
    let mut sections: Vec<(Option<String>, String)> = Vec::new();
    for line in patch.split_inclusive('\n') {
        if line.starts_with("diff --git ") || sections.is_empty() {
            sections.push((None, String::new()));
        }
        if let Some((path, text)) = sections.last_mut() {
            if path.is_none() {
                *path = section_path(line);
            }
            text.push_str(line);
        }
    }
    for (_, text) in &mut sections {
        let trimmed = text.trim_end().len();
        text.truncate(trimmed);
    }
    sections
}

/// The path a diff line names: `+++ b/...`, else `--- a/...` (a deletion),
/// else the header's `b/` side.
fn section_path(line: &str) -> Option<String> {
    let line = line.trim_end_matches(['\n', '\r']);
    if let Some(path) = line.strip_prefix("+++ b/") {
        return Some(path.to_string());
    }
    if let Some(path) = line.strip_prefix("--- a/") {
        return Some(path.to_string());
    }
    let header = line.strip_prefix("diff --git a/")?;
    header.rsplit_once(" b/").map(|(_, path)| path.to_string())
}

/// `a3a6e2533bc0 2024-01-01T00:00:00Z subject` and the files it changed.
fn commit_line(commit: &CommitSummary) -> String {
    let when = u64::try_from(commit.author_time)
        .ok()
        .and_then(|s| UNIX_EPOCH.checked_add(Duration::from_secs(s)))
        .map_or_else(
            || commit.author_time.to_string(),
            |t| humantime::format_rfc3339_seconds(t).to_string(),
        );
    let sha = commit.sha.get(..12).unwrap_or(&commit.sha);
    let mut line = format!("{sha} {when} {}", commit.subject);
    if !commit.files.is_empty() {
        line.push_str(&format!("\n    {}", commit.files.join(", ")));
        let more = commit.files_changed.saturating_sub(commit.files.len());
        if more > 0 {
            line.push_str(&format!(" (+{more} more)"));
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_patch_splits_into_its_files() {
        let patch = "diff --git a/shop/orders.py b/shop/orders.py\nindex 1..2 100644\n--- a/shop/orders.py\n+++ b/shop/orders.py\n@@ -44 +44 @@\n-a\n+b\ndiff --git a/gone.py b/gone.py\ndeleted file mode 100644\n--- a/gone.py\n+++ /dev/null\n@@ -1 +0,0 @@\n-x\ndiff --git a/old name.py b/new name.py\nsimilarity index 100%\nrename from old name.py\nrename to new name.py\n[... diff cut at 100 bytes ...]\n";
        let sections = diff_sections(patch);
        let paths: Vec<Option<&str>> = sections.iter().map(|(p, _)| p.as_deref()).collect();
        assert_eq!(
            paths,
            vec![Some("shop/orders.py"), Some("gone.py"), Some("new name.py")]
        );
        assert!(sections[0].1.ends_with("+b"));
        assert!(sections[2].1.ends_with("[... diff cut at 100 bytes ...]"));
        assert!(diff_sections("").is_empty());
    }

    #[test]
    fn commit_lines_name_time_subject_and_files() {
        let commit = CommitSummary {
            sha: "a3a6e2533bc05c28233e8cfff39911b9e19e8c75".into(),
            author_time: 1_704_067_200,
            commit_time: 1_704_067_200,
            subject: "orders: coupon is optional".into(),
            files: vec!["shop/orders.py".into(), "tests/test_orders.py".into()],
            files_changed: 5,
        };
        assert_eq!(
            commit_line(&commit),
            "a3a6e2533bc0 2024-01-01T00:00:00Z orders: coupon is optional\n    shop/orders.py, tests/test_orders.py (+3 more)"
        );
    }
}

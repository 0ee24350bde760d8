//! Triage: did the deploy's change cause this ticket's errors?
//!
//! Cheapest evidence first:
//! 1. A spike (no deploy attributed) is not triaged against a diff: it is a
//!    fix candidate when its severity reaches `triage.spike_fix_severity`,
//!    else noise ([`Method::Rule`]).
//! 2. The deploy's diff is read from the repository (previous deploy's
//!    revision to this one; the parent commit when there is no usable
//!    previous one). A deploy that changed only tests, docs or CI is not the
//!    cause unless an error names one of those files (rule, no LLM call).
//! 3. The deterministic check matches every in-app frame (resolved to a
//!    repository path) against the changed files: a frame in a changed
//!    runtime file links the error to the deploy, more strongly when the
//!    frame's line is on or next to a changed line.
//! 4. The LLM, when configured, gets the diff, the changed files with their
//!    classes and the errors, and answers a verdict. Its suspect lines must
//!    name changed files (others are dropped), and `caused_by_deploy` needs
//!    one on a changed line within [`NEAR_FRAME_LINES`] of an in-app frame
//!    of the errors, else it is downgraded to `unsure`: the verdict needs a
//!    concrete link, not a claim that injected text could make. No LLM, or no valid answer after one repair: the
//!    deterministic check decides.
//!
//! Only `caused_by_deploy` (and severe spikes) become fix candidates; the
//! rest are `external`, with the reasoning kept.

pub mod config;

use crate::domain::diff::{DeployDiff, FileClass};
use crate::domain::llm::parse::{Decision, SuspectLine, TriageVerdict};
use crate::domain::tickets::{DiffLink, Disposition, Ticket};

pub use config::TriageConfig;

/// The disposition a verdict leads to.
pub fn disposition(
    ticket: &Ticket,
    decision: Option<Decision>,
    config: &TriageConfig,
) -> Disposition {
    match decision {
        Some(Decision::CausedByDeploy) => Disposition::FixCandidate,
        Some(_) => Disposition::External,
        None if ticket.severity >= config.spike_fix_severity => Disposition::FixCandidate,
        None => Disposition::Noise,
    }
}

/// Every in-app frame of the ticket that lies in a file the deploy changed.
pub fn links(ticket: &Ticket, diff: &DeployDiff, slack: u32) -> Vec<DiffLink> {
    let mut out: Vec<DiffLink> = Vec::new();
    for sig in &ticket.signatures {
        let innermost = sig.frames.iter().rposition(|f| f.in_app);
        for (i, frame) in sig.frames.iter().enumerate() {
            let Some(path) = frame.repo_path.as_deref() else {
                continue;
            };
            if !frame.in_app {
                continue;
            }
            let Some(changed) = diff.file(path) else {
                continue;
            };
            let link = DiffLink {
                signature: sig.signature.clone(),
                file: changed.path.clone(),
                line: frame.line,
                function: frame.function.clone(),
                on_changed_line: frame.line.is_some_and(|l| changed.touches_line(l, slack)),
                crash_site: Some(i) == innermost,
            };
            if !out.contains(&link) {
                out.push(link);
            }
        }
    }
    out
}

/// Whether the ticket's errors name `path`: a frame resolved to that
/// repository path, or the file in a message or breadcrumb. How a config
/// or test file can still be the cause.
///
/// A frame counts only by its repository path, never by its file name: a
/// deploy that touched `tests/__init__.py` is not named by a stack through a
/// library's `__init__.py`. Text counts by the repository path, or by the
/// file name standing alone as a word ("cannot parse settings.yaml"), never
/// inside another path or name.
fn names_file(ticket: &Ticket, path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    if name.len() < 3 {
        return false;
    }
    let in_text = |text: &str| mentions(text, path, true) || mentions(text, name, false);
    ticket.signatures.iter().any(|s| {
        in_text(&s.message)
            || s.breadcrumbs.iter().any(|b| in_text(b))
            || s.frames
                .iter()
                .any(|f| f.repo_path.as_deref() == Some(path))
    })
}

/// Whether `text` contains `needle` as a whole word of a path: not inside a
/// longer name on either side. `after_slash` also accepts it at the end of
/// a longer path (`/srv/app/config/app.yaml` for `config/app.yaml`), which
/// is right for a repository path and wrong for a bare file name.
fn mentions(text: &str, needle: &str, after_slash: bool) -> bool {
    let is_name = |c: char| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | '\\');
    text.match_indices(needle).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let rest = &text[at + needle.len()..];
        let start_ok = match before {
            None => true,
            Some('/') => after_slash,
            Some(c) => !is_name(c),
        };
        // A trailing '.' ends a sentence, not a name.
        let rest = rest
            .strip_prefix('.')
            .filter(|r| r.chars().next().is_none_or(|c| !is_name(c)))
            .unwrap_or(rest);
        start_ok && rest.chars().next().is_none_or(|c| !is_name(c))
    })
}

/// The rule for a deploy that changed no runtime and no config file: not
/// the cause, unless an error names one of the files. `None` when the rule
/// does not apply.
pub fn non_runtime_rule(ticket: &Ticket, diff: &DeployDiff) -> Option<Verdict> {
    if diff.files.is_empty() {
        return Some(Verdict {
            decision: Decision::NotCaused,
            confidence: 0.9,
            reasoning: "the deploy changed no file".into(),
            suspect_lines: Vec::new(),
        });
    }
    let harmless = |c: FileClass| matches!(c, FileClass::Test | FileClass::Docs | FileClass::Ci);
    if !diff.files.iter().all(|f| harmless(f.class)) {
        return None;
    }
    if diff.files.iter().any(|f| names_file(ticket, &f.path)) {
        return None;
    }
    let mut classes: Vec<&str> = diff.files.iter().map(|f| f.class.name()).collect();
    classes.sort_unstable();
    classes.dedup();
    Some(Verdict {
        decision: Decision::NotCaused,
        confidence: 0.9,
        reasoning: format!(
            "the deploy changed only {} files ({} file(s)), and no error names one of them",
            classes.join(", "),
            diff.files.len()
        ),
        suspect_lines: Vec::new(),
    })
}

/// A verdict before it is recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub decision: Decision,
    pub confidence: f64,
    pub reasoning: String,
    pub suspect_lines: Vec<SuspectLine>,
}

/// The deterministic verdict from the links (see the module doc).
pub fn deterministic(ticket: &Ticket, diff: &DeployDiff, links: &[DiffLink]) -> Verdict {
    let runtime: Vec<&DiffLink> = links
        .iter()
        .filter(|l| diff.file(&l.file).is_some_and(|f| f.class.is_runtime()))
        .collect();
    let suspect = |l: &DiffLink| SuspectLine {
        file: l.file.clone(),
        line: l.line.map(u64::from),
        why: format!(
            "{} of {}{}",
            if l.crash_site {
                "crash site"
            } else {
                "a frame"
            },
            l.signature,
            if l.on_changed_line {
                " is on a changed line"
            } else {
                " is in a changed file"
            }
        ),
    };
    let on_line: Vec<&&DiffLink> = runtime.iter().filter(|l| l.on_changed_line).collect();
    if !on_line.is_empty() {
        return Verdict {
            decision: Decision::CausedByDeploy,
            confidence: 0.9,
            reasoning: format!(
                "in-app frames are on lines the deploy changed: {}",
                describe(on_line.iter().map(|l| **l))
            ),
            suspect_lines: on_line.iter().map(|l| suspect(l)).collect(),
        };
    }
    if !runtime.is_empty() {
        return Verdict {
            decision: Decision::CausedByDeploy,
            confidence: 0.7,
            reasoning: format!(
                "in-app frames are in runtime files the deploy changed (not on a changed line): {}",
                describe(runtime.iter().copied())
            ),
            suspect_lines: runtime.iter().map(|l| suspect(l)).collect(),
        };
    }
    if let Some(named) = diff
        .files
        .iter()
        .find(|f| !f.class.is_runtime() && names_file(ticket, &f.path))
    {
        return Verdict {
            decision: Decision::CausedByDeploy,
            confidence: 0.6,
            reasoning: format!(
                "an error names {}, a {} file the deploy changed",
                named.path,
                named.class.name()
            ),
            suspect_lines: vec![SuspectLine {
                file: named.path.clone(),
                line: None,
                why: "named by the error".into(),
            }],
        };
    }
    let resolved = ticket
        .signatures
        .iter()
        .flat_map(|s| s.frames.iter())
        .any(|f| f.in_app && f.repo_path.is_some());
    if !resolved {
        return Verdict {
            decision: Decision::Unsure,
            confidence: 0.3,
            reasoning: "no application frame of these errors could be matched to a file in the repository, so the diff cannot be checked against them".into(),
            suspect_lines: Vec::new(),
        };
    }
    let changed: Vec<&str> = diff
        .runtime_files()
        .map(|f| f.path.as_str())
        .take(5)
        .collect();
    Verdict {
        decision: Decision::NotCaused,
        confidence: 0.6,
        reasoning: format!(
            "no application frame of these errors is in a file the deploy changed (runtime files changed: {})",
            if changed.is_empty() {
                "none".to_string()
            } else {
                changed.join(", ")
            }
        ),
        suspect_lines: Vec::new(),
    }
}

fn describe<'a>(links: impl Iterator<Item = &'a DiffLink>) -> String {
    let mut parts: Vec<String> = links
        .map(|l| match (l.line, &l.function) {
            (Some(line), Some(f)) => format!("{}:{line} ({f})", l.file),
            (Some(line), None) => format!("{}:{line}", l.file),
            (None, _) => l.file.clone(),
        })
        .collect();
    parts.dedup();
    parts.truncate(5);
    parts.join(", ")
}

/// How far (in lines) a suspect line may be from a frame of the errors in
/// the same file and still count as near it: a function's length, about.
pub const NEAR_FRAME_LINES: u32 = 15;

/// Whether a suspect line meets the floor `caused_by_deploy` needs: a line
/// the deploy changed (within `slack`), near an in-app frame of the
/// ticket's errors in the same file. Naming a changed file is not enough:
/// text injected in an exception or a diff can make the model name any.
fn grounded(line: &SuspectLine, ticket: &Ticket, diff: &DeployDiff, slack: u32) -> bool {
    let (Some(changed), Some(at)) = (diff.file(&line.file), line.line) else {
        return false;
    };
    let Ok(at) = u32::try_from(at) else {
        return false;
    };
    changed.touches_line(at, slack)
        && ticket.signatures.iter().flat_map(|s| &s.frames).any(|f| {
            f.in_app
                && f.repo_path.as_deref() == Some(changed.path.as_str())
                && f.line.is_some_and(|l| l.abs_diff(at) <= NEAR_FRAME_LINES)
        })
}

/// Holds the model's verdict to the evidence: suspect lines must be in
/// changed files, and `caused_by_deploy` needs one that is grounded (a
/// changed line near a frame of the errors); otherwise it is downgraded to
/// `unsure`. Returns the verdict to record and a note of what was changed.
pub fn check_llm_verdict(
    answer: &TriageVerdict,
    diff: &DeployDiff,
    ticket: &Ticket,
    slack: u32,
) -> (Verdict, Option<String>) {
    let mut dropped = Vec::new();
    let mut kept = Vec::new();
    for line in &answer.suspect_lines {
        if diff.file(&line.file).is_some() {
            kept.push(line.clone());
        } else {
            dropped.push(line.file.clone());
        }
    }
    let mut notes = Vec::new();
    if !dropped.is_empty() {
        notes.push(format!(
            "suspect lines in files the deploy did not change were dropped: {}",
            dropped.join(", ")
        ));
    }
    let mut decision = answer.decision;
    if decision == Decision::CausedByDeploy
        && !kept.iter().any(|l| grounded(l, ticket, diff, slack))
    {
        decision = Decision::Unsure;
        notes.push(
            "caused_by_deploy without a changed line near a frame of the errors was downgraded to unsure"
                .to_string(),
        );
    }
    (
        Verdict {
            decision,
            confidence: answer.confidence,
            reasoning: answer.reasoning.clone(),
            suspect_lines: kept,
        },
        (!notes.is_empty()).then(|| notes.join("; ")),
    )
}

#[cfg(test)]
mod tests;

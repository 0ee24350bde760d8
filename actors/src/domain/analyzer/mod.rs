//! The analyzer: gated candidates in, root causes out.
//!
//! For a batch of candidates (signatures that passed the gate) it builds the
//! evidence each ticket will carry (scrubbed samples, the gate's numbers),
//! asks the LLM to group the exceptions by root cause, and checks what comes
//! back: indices in range and each in one group (the parser), files that
//! exist in the repository (here; others are dropped and recorded). A wrong
//! answer gets one repair retry; after that, and whenever the LLM is not
//! configured, refused (budget, breaker) or failing, the deterministic
//! grouping decides: one group per signature, joined when they crash in the
//! same in-app frame (`file in function`).
//!
//! Severity: the gate's measured severity is a floor; the model may raise a
//! group's severity (it can see data loss in a message), never lower it, so
//! text in an exception that talks the model into "low" changes nothing.
//!
//! A group that shares a signature or a crash site with an open ticket grows
//! that ticket instead of opening a new one, unless the gate attributed it
//! to a different deploy ([`attach`]).
//!
//! This module is pure: [`crate::stages::analyzer`] reads the store and calls the LLM.

pub mod attach;
pub mod config;

use std::collections::BTreeMap;

use crate::domain::diff::RepoFiles;
use crate::domain::event::{Event, Frame};
use crate::domain::gate::decide::Severity;
use crate::domain::llm::parse::{self, AnalyzerAnswer};
use crate::domain::llm::prompt::ExceptionView;
use crate::domain::records::{Candidate, SignatureRecord};
use crate::domain::scrub::Scrubber;
use crate::domain::stack::{guess_in_app, parse_stack};
use crate::domain::text::truncate;
use crate::domain::tickets::{
    FrameView, GateEvidence, GroupingRecord, Method, SignatureEvidence, Ticket, TicketState,
};

pub use config::AnalyzerConfig;

/// Longest message kept in a ticket and shown to the model.
const MAX_MESSAGE_CHARS: usize = 2000;
/// Longest one-line ticket title.
const MAX_TITLE_CHARS: usize = 120;

/// One signature of the batch: its candidates and evidence.
#[derive(Debug, Clone)]
pub struct Item {
    pub candidates: Vec<String>,
    pub evidence: SignatureEvidence,
    /// Deploy the gate attributed it to, latest decision first.
    pub deploy_id: Option<String>,
    pub revision: Option<String>,
}

/// Collects a batch's candidates per signature, oldest first, at most
/// `max_signatures` signatures (the rest wait for the next batch).
pub fn batch_by_signature(
    candidates: Vec<Candidate>,
    max_signatures: usize,
) -> Vec<(String, Vec<Candidate>)> {
    let mut order: Vec<String> = Vec::new();
    let mut by_signature: BTreeMap<String, Vec<Candidate>> = BTreeMap::new();
    for candidate in candidates {
        if !by_signature.contains_key(&candidate.signature) {
            if order.len() >= max_signatures.max(1) {
                continue;
            }
            order.push(candidate.signature.clone());
        }
        by_signature
            .entry(candidate.signature.clone())
            .or_default()
            .push(candidate);
    }
    order
        .into_iter()
        .filter_map(|sig| by_signature.remove(&sig).map(|c| (sig, c)))
        .collect()
}

/// Builds one signature's evidence from its candidates, its record and its
/// stored samples. Every piece of text goes through the scrubber here, so
/// the ticket never holds what it removes.
pub fn item(
    candidates: &[Candidate],
    record: Option<&SignatureRecord>,
    samples: &[Event],
    scrubber: &Scrubber,
    files: Option<&RepoFiles>,
    config: &AnalyzerConfig,
) -> Option<Item> {
    let first = candidates.first()?;
    let scrub = |s: &str| scrubber.scrub(s).into_owned();
    // The latest sample is the most current picture of the error.
    let sample = samples.last();
    let frames = sample.map(frames_of).unwrap_or_default();
    let keep_from = frames.len().saturating_sub(config.max_frames.max(1));
    let frames: Vec<FrameView> = frames[keep_from..]
        .iter()
        .map(|f| {
            let file = f.filename.as_deref().map(scrub);
            FrameView {
                repo_path: f
                    .filename
                    .as_deref()
                    .and_then(|name| files.and_then(|fs| fs.resolve(name)))
                    .map(str::to_string),
                file,
                function: f.function.as_deref().map(scrub),
                line: f.lineno,
                in_app: f.in_app.unwrap_or_else(|| guess_in_app(f)),
            }
        })
        .collect();
    let crash_site = frames.iter().rev().find(|f| f.in_app).and_then(|f| {
        let file = f.repo_path.clone().or_else(|| f.file.clone())?;
        Some(match &f.function {
            Some(function) => format!("{file} in {function}"),
            None => file,
        })
    });
    let message = sample
        .map(|e| e.message.as_str())
        .or(record.map(|r| r.sample_message.as_str()))
        .unwrap_or_default();
    let breadcrumbs = sample
        .map(|e| {
            let keep = e.breadcrumbs.len().saturating_sub(config.max_breadcrumbs);
            e.breadcrumbs[keep..]
                .iter()
                // Scrubbed whole, then cut: cutting first could split a
                // secret so that no rule knows the half that is left.
                .map(|b| truncate(&scrub(&breadcrumb_line(b)), MAX_BREADCRUMB_CHARS))
                .collect()
        })
        .unwrap_or_default();
    let mut gate: Vec<GateEvidence> = candidates
        .iter()
        .map(|c| GateEvidence {
            candidate: c.id.clone(),
            run: c.run.clone(),
            verdict: c.verdict,
            severity: c.severity,
            observed: c.observed,
            expected: c.expected,
            q: c.q,
            impact: c.impact,
            impact_unit: c.impact_unit,
            reason: c.reason.clone(),
            decided_at_ms: c.decided_at_ms,
        })
        .collect();
    gate.sort_by_key(|g| g.decided_at_ms);
    let attributed = candidates
        .iter()
        .filter(|c| c.deploy_id.is_some())
        .max_by_key(|c| c.decided_at_ms);
    let exception_type = sample
        .and_then(|e| e.exception_type.clone())
        .or_else(|| record.and_then(|r| r.exception_type.clone()));
    Some(Item {
        candidates: candidates.iter().map(|c| c.id.clone()).collect(),
        deploy_id: attributed.and_then(|c| c.deploy_id.clone()),
        revision: attributed.and_then(|c| c.revision.clone()),
        evidence: SignatureEvidence {
            signature: first.signature.clone(),
            title: scrub(&first.title),
            exception_type: exception_type.as_deref().map(scrub),
            message: truncate(&scrub(message), MAX_MESSAGE_CHARS),
            frames,
            breadcrumbs,
            crash_site,
            release: sample.and_then(|e| e.release.as_deref().map(scrub)),
            environment: sample.and_then(|e| e.environment.as_deref().map(scrub)),
            total_events: record.map_or(0, |r| r.total),
            first_seen_ms: record.map_or(first.decided_at_ms, |r| r.first_seen_ms),
            last_seen_ms: record.map_or(first.decided_at_ms, |r| r.last_seen_ms),
            gate,
        },
    })
}

/// The event's frames; parsed from its raw stack when the sender sent only text.
fn frames_of(event: &Event) -> Vec<Frame> {
    if !event.frames.is_empty() {
        return event.frames.clone();
    }
    event
        .raw_stack
        .as_deref()
        .map(|s| parse_stack(s).frames)
        .unwrap_or_default()
}

/// One breadcrumb as a line: `category level: message key=value...`.
fn breadcrumb_line(crumb: &serde_json::Value) -> String {
    let field = |k: &str| crumb.get(k).and_then(|v| v.as_str()).unwrap_or_default();
    let mut line = [field("category"), field("level")]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let message = field("message");
    if !message.is_empty() {
        line = if line.is_empty() {
            message.to_string()
        } else {
            format!("{line}: {message}")
        };
    }
    if let Some(data) = crumb.get("data").and_then(|d| d.as_object()) {
        for (k, v) in data.iter().take(6) {
            let v = v.as_str().map_or_else(|| v.to_string(), str::to_string);
            line.push_str(&format!(" {k}={v}"));
        }
    }
    line
}

/// Longest breadcrumb line shown, once scrubbed.
const MAX_BREADCRUMB_CHARS: usize = 300;

/// How the prompts show one signature: Suture's numbers outside the data
/// block, the sender's text inside.
pub fn exception_view(e: &SignatureEvidence) -> ExceptionView {
    let gate = e
        .gate
        .iter()
        .map(|g| {
            format!(
                "{} ({} severity): {} events in the window, {:.1} expected, q={:.2e}",
                g.verdict.as_str(),
                g.severity.as_str(),
                g.observed,
                g.expected,
                g.q
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    let stack = e
        .frames
        .iter()
        .map(|f| {
            format!(
                "  at {} ({}:{}){}",
                f.function.as_deref().unwrap_or("?"),
                f.repo_path.as_deref().or(f.file.as_deref()).unwrap_or("?"),
                f.line.map_or_else(|| "?".to_string(), |l| l.to_string()),
                if f.in_app { " [app]" } else { "" }
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    ExceptionView {
        signature: e.signature.clone(),
        gate,
        exception_type: e.exception_type.clone().unwrap_or_default(),
        message: e.message.clone(),
        stack,
        breadcrumbs: e.breadcrumbs.join("\n"),
    }
}

/// A group of items (indices into the batch) and what it says about them.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub members: Vec<usize>,
    pub root_cause: String,
    pub severity: Severity,
    pub suggested_fix: String,
    pub files: Vec<String>,
    pub method: Method,
}

/// The deterministic grouping of `indices`: same signature, or same crash
/// site (innermost in-app frame), is one group. Order follows the batch.
pub fn deterministic_groups(items: &[Item], indices: &[usize]) -> Vec<Group> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut by_key: BTreeMap<String, usize> = BTreeMap::new();
    for &i in indices {
        let Some(item) = items.get(i) else { continue };
        let keys: Vec<String> = std::iter::once(format!("s{}", item.evidence.signature))
            .chain(item.evidence.crash_site.iter().map(|c| format!("c{c}")))
            .collect();
        let found: Vec<usize> = keys.iter().filter_map(|k| by_key.get(k).copied()).collect();
        let target = match found.first() {
            Some(&g) => {
                // Two existing groups joined by this item become one.
                for &other in &found[1..] {
                    if other != g {
                        let moved = std::mem::take(&mut groups[other]);
                        groups[g].extend(moved);
                        for v in by_key.values_mut() {
                            if *v == other {
                                *v = g;
                            }
                        }
                    }
                }
                groups[g].push(i);
                g
            }
            None => {
                groups.push(vec![i]);
                groups.len() - 1
            }
        };
        for k in keys {
            by_key.insert(k, target);
        }
    }
    groups
        .into_iter()
        .filter(|g| !g.is_empty())
        .map(|mut members| {
            members.sort_unstable();
            describe(items, members)
        })
        .collect()
}

/// The deterministic description of a group: what the evidence says, no more.
pub(crate) fn describe(items: &[Item], members: Vec<usize>) -> Group {
    let first = &items[members[0]].evidence;
    let crash = first.frames.iter().rev().find(|f| f.in_app);
    let headline = match &first.exception_type {
        Some(t) if !t.is_empty() => format!("{t}: {}", first.message),
        _ => first.message.clone(),
    };
    let others = members.len() - 1;
    let root_cause = match (&first.crash_site, others) {
        (Some(site), 0) => format!("{} in {site}.", truncate(&headline, 200)),
        (Some(site), n) => format!(
            "{} in {site}, and {n} more error{} crashing at the same place.",
            truncate(&headline, 200),
            if n == 1 { "" } else { "s" }
        ),
        (None, _) => format!("{} (no application frame known).", truncate(&headline, 200)),
    };
    let suggested_fix = match crash {
        Some(f) => format!(
            "Start at {}:{} in {}: the innermost application frame of {}. The samples and breadcrumbs below show the failing inputs. (Deterministic grouping: no model suggestion.)",
            f.repo_path.as_deref().or(f.file.as_deref()).unwrap_or("?"),
            f.line.map_or_else(|| "?".to_string(), |l| l.to_string()),
            f.function.as_deref().unwrap_or("?"),
            if others == 0 { "this error" } else { "every error in this group" }
        ),
        None => "No application frame is known: start from the message and the samples below. (Deterministic grouping: no model suggestion.)".to_string(),
    };
    let severity = members
        .iter()
        .map(|&i| gate_severity(&items[i]))
        .max()
        .unwrap_or(Severity::Low);
    let files = stack_files(items, &members);
    Group {
        members,
        root_cause,
        severity,
        suggested_fix,
        files,
        method: Method::Deterministic,
    }
}

/// The gate's highest severity for an item.
fn gate_severity(item: &Item) -> Severity {
    item.evidence
        .gate
        .iter()
        .map(|g| g.severity)
        .max()
        .unwrap_or(Severity::Low)
}

/// In-app files of the members' stacks, crash sites first, repository
/// paths where known, at most 8.
fn stack_files(items: &[Item], members: &[usize]) -> Vec<String> {
    let mut files: Vec<String> = Vec::new();
    for &i in members {
        for f in items[i].evidence.frames.iter().rev().filter(|f| f.in_app) {
            if let Some(path) = f.repo_path.clone().or_else(|| f.file.clone())
                && !files.contains(&path)
            {
                files.push(path);
            }
        }
    }
    files.truncate(8);
    files
}

/// Turns the model's checked answer into groups: files validated, severity
/// floored at the gate's, uncovered items grouped deterministically.
/// Returns the groups and the files dropped.
pub fn llm_groups(
    answer: &AnalyzerAnswer,
    items: &[Item],
    files: Option<&RepoFiles>,
) -> (Vec<Group>, Vec<String>) {
    let mut dropped = Vec::new();
    let mut groups: Vec<Group> = answer
        .groups
        .iter()
        .map(|g| {
            let mut members = g.affected_exceptions.clone();
            members.sort_unstable();
            let in_stacks = stack_files(items, &members);
            let mut kept: Vec<String> = Vec::new();
            for file in &g.files_likely_involved {
                match validate_file(file, files, items, &members) {
                    Some(path) if !kept.contains(&path) => kept.push(path),
                    Some(_) => {}
                    None => dropped.push(file.clone()),
                }
            }
            for path in in_stacks {
                let path = validate_file(&path, files, items, &members);
                if let Some(path) = path
                    && !kept.contains(&path)
                    && kept.len() < 8
                {
                    kept.push(path);
                }
            }
            let floor = members
                .iter()
                .map(|&i| gate_severity(&items[i]))
                .max()
                .unwrap_or(Severity::Low);
            Group {
                severity: floor.max(severity_of(g.severity)),
                members,
                root_cause: g.root_cause.trim().to_string(),
                suggested_fix: g.suggested_fix.trim().to_string(),
                files: kept,
                method: Method::Llm,
            }
        })
        .collect();
    groups.extend(deterministic_groups(items, &answer.uncovered));
    (groups, dropped)
}

/// A file the model named, as a repository path: it must exist in the
/// repository; with no repository configured, it must appear in one of the
/// group's stack frames.
fn validate_file(
    file: &str,
    files: Option<&RepoFiles>,
    items: &[Item],
    members: &[usize],
) -> Option<String> {
    match files {
        Some(repo) => {
            if repo.contains(file) {
                Some(file.to_string())
            } else {
                repo.resolve(file).map(str::to_string)
            }
        }
        None => members
            .iter()
            .flat_map(|&i| items[i].evidence.frames.iter())
            .filter_map(|f| f.file.as_deref())
            .find(|f| *f == file || f.ends_with(&format!("/{file}")))
            .map(|_| file.to_string()),
    }
}

fn severity_of(s: parse::Severity) -> Severity {
    match s {
        parse::Severity::Critical => Severity::Critical,
        parse::Severity::High => Severity::High,
        parse::Severity::Medium => Severity::Medium,
        parse::Severity::Low => Severity::Low,
    }
}

/// The ticket a group becomes (its id is assigned when stored).
pub fn ticket_for(
    group: &Group,
    items: &[Item],
    grouping: &GroupingRecord,
    shadow: bool,
    at_ms: i64,
) -> Ticket {
    let members: Vec<&Item> = group.members.iter().filter_map(|&i| items.get(i)).collect();
    let attributed = members
        .iter()
        .filter(|m| m.deploy_id.is_some())
        .max_by_key(|m| m.evidence.gate.last().map(|g| g.decided_at_ms));
    let events = members
        .iter()
        .flat_map(|m| m.evidence.gate.iter())
        .map(|g| g.observed)
        .sum();
    let title = match group.method {
        Method::Llm => first_sentence(&group.root_cause),
        _ => members
            .first()
            .map(|m| m.evidence.title.clone())
            .unwrap_or_default(),
    };
    let mut ticket = Ticket {
        id: String::new(),
        state: TicketState::Open,
        disposition: None,
        title: truncate(&title, MAX_TITLE_CHARS),
        root_cause: group.root_cause.clone(),
        severity: group.severity,
        suggested_fix: group.suggested_fix.clone(),
        files: group.files.clone(),
        deploy_id: attributed.and_then(|m| m.deploy_id.clone()),
        revision: attributed.and_then(|m| m.revision.clone()),
        signatures: members.iter().map(|m| m.evidence.clone()).collect(),
        grouping: grouping.clone(),
        triage: None,
        events,
        recurrences: Vec::new(),
        label: None,
        github: None,
        fix: None,
        fix_revision: None,
        auto_deploy: None,
        verification: None,
        resolved_at_ms: None,
        regressions: 0,
        shadow,
        created_at_ms: at_ms,
        updated_at_ms: at_ms,
        audit: Vec::new(),
    };
    let detail = match &grouping.fallback_reason {
        Some(why) => format!(
            "{} signature(s), grouped by {} ({why})",
            members.len(),
            group.method.as_str()
        ),
        None => format!(
            "{} signature(s), grouped by {}",
            members.len(),
            group.method.as_str()
        ),
    };
    ticket.audit(at_ms, "analyzer", "opened", detail);
    ticket
}

/// The first sentence (or line) of a text, for a title.
fn first_sentence(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default();
    match line.find(". ") {
        Some(end) => line[..=end].trim().to_string(),
        None => line.trim().to_string(),
    }
}

/// The candidates a group consumes.
pub fn candidates_of(group: &Group, items: &[Item]) -> Vec<String> {
    group
        .members
        .iter()
        .filter_map(|&i| items.get(i))
        .flat_map(|m| m.candidates.iter().cloned())
        .collect()
}

#[cfg(test)]
mod tests;

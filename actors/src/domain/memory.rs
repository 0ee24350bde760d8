//! Memory of past fixes: what happened to every fix Suture proposed, so the
//! next attempt at the same crash site or a similar root cause starts from
//! it ("fixed before in PR #12, failed in production because …", "rejected:
//! the reviewer said the guard belongs in the caller").
//!
//! A fix is remembered when its outcome is known: merged, verified in
//! production, rejected (in the review queue or closed unmerged on GitHub),
//! failed in production, regressed after it was resolved. One record per
//! attempt, updated as its outcome changes, with the history kept.
//!
//! [`relevant`] picks the records that matter for a ticket: the same
//! signature, the same crash site, or a root cause with most of the same
//! words. The text in a record (root cause, reviewer's words) is as
//! untrusted as the ticket it came from: it is scrubbed when stored and
//! fenced as data wherever it is shown to a model.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::domain::tickets::Ticket;

/// What happened to a fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FixOutcome {
    /// Its pull request was merged (not yet verified).
    Merged,
    /// Merged, deployed and verified: the error went back to its old rate.
    Verified,
    /// A person rejected it (review queue, or pull request closed unmerged).
    Rejected,
    /// Merged and deployed, and the error kept its regressed rate.
    FailedInProduction,
    /// Verified, then the error came back (`verify.regression_window`).
    Regressed,
    /// Deployed by Suture and rolled back by its canary.
    RolledBack,
    /// A reviewer asked for changes on its pull request.
    ChangesRequested,
}

impl FixOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            FixOutcome::Merged => "merged",
            FixOutcome::Verified => "verified",
            FixOutcome::Rejected => "rejected",
            FixOutcome::FailedInProduction => "failed_in_production",
            FixOutcome::Regressed => "regressed",
            FixOutcome::RolledBack => "rolled_back",
            FixOutcome::ChangesRequested => "changes_requested",
        }
    }

    /// Whether the approach should not be repeated as it was.
    pub fn failed(self) -> bool {
        matches!(
            self,
            FixOutcome::Rejected
                | FixOutcome::FailedInProduction
                | FixOutcome::Regressed
                | FixOutcome::RolledBack
                | FixOutcome::ChangesRequested
        )
    }
}

/// One change of outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutcomeEntry {
    pub outcome: FixOutcome,
    pub at_ms: i64,
    /// The reviewer's words, the verification's figures (scrubbed).
    pub words: String,
}

/// A fix Suture proposed, and what became of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PastFix {
    pub ticket: String,
    pub attempt: u32,
    pub title: String,
    pub root_cause: String,
    pub signatures: Vec<String>,
    pub crash_sites: Vec<String>,
    /// Files the fix changed.
    pub files: Vec<String>,
    pub branch: String,
    pub commit: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_request_url: Option<String>,
    /// The latest outcome.
    pub outcome: FixOutcome,
    pub words: String,
    pub at_ms: i64,
    /// Every outcome, oldest first.
    pub history: Vec<OutcomeEntry>,
}

impl PastFix {
    /// A record of `ticket`'s fix with `outcome`; `None` when the ticket
    /// has no fix.
    pub fn of(ticket: &Ticket, outcome: FixOutcome, words: &str, at_ms: i64) -> Option<Self> {
        let fix = ticket.fix.as_ref()?;
        let pull = fix.pull_request.as_ref();
        Some(PastFix {
            ticket: ticket.id.clone(),
            attempt: fix.attempt,
            title: ticket.title.clone(),
            root_cause: ticket.root_cause.clone(),
            signatures: ticket.signature_ids().map(str::to_string).collect(),
            crash_sites: ticket.crash_sites().map(str::to_string).collect(),
            files: fix.files.clone(),
            branch: fix.branch.clone(),
            commit: fix.commit.clone(),
            pull_request: pull.map(|p| p.number),
            pull_request_url: pull.map(|p| p.url.clone()),
            outcome,
            words: words.to_string(),
            at_ms,
            history: vec![OutcomeEntry {
                outcome,
                at_ms,
                words: words.to_string(),
            }],
        })
    }

    /// Takes `newer`'s outcome, keeping the history.
    pub fn update(&mut self, newer: PastFix) {
        let mut history = std::mem::take(&mut self.history);
        let repeated = history
            .last()
            .is_some_and(|last| last.outcome == newer.outcome && last.words == newer.words);
        if !repeated {
            history.extend(newer.history.iter().cloned());
        }
        *self = PastFix { history, ..newer };
    }

    /// One line in Suture's words: which fix, what became of it.
    pub fn headline(&self) -> String {
        let pr = self
            .pull_request
            .map(|n| format!(" in PR #{n}"))
            .unwrap_or_default();
        format!(
            "{} attempt {}{pr}: {} ({})",
            self.ticket,
            self.attempt,
            self.outcome.as_str(),
            self.history
                .iter()
                .map(|h| h.outcome.as_str())
                .collect::<Vec<_>>()
                .join(" -> ")
        )
    }
}

/// Why a past fix is relevant to a ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Relevant {
    pub fix: PastFix,
    /// `signature`, `crash_site` or `root_cause`: Suture's own word, safe
    /// to show outside a data block.
    pub by: String,
    /// The same in a sentence, quoting the crash site (untrusted text).
    pub why: String,
}

/// Share of words two root causes must have in common to be "similar".
const SIMILAR_WORDS: f64 = 0.5;

/// The past fixes relevant to `ticket` (its own current fix only when that
/// one failed, e.g. a reviewer asked for changes: a revision must know
/// why), most telling first: failed approaches before successes, then the
/// newest; at most `limit`.
pub fn relevant(past: &[PastFix], ticket: &Ticket, limit: usize) -> Vec<Relevant> {
    let current = ticket.fix.as_ref().map(|f| f.attempt);
    let signatures: HashSet<&str> = ticket.signature_ids().collect();
    let sites: HashSet<&str> = ticket.crash_sites().collect();
    let words = words_of(&format!("{} {}", ticket.title, ticket.root_cause));
    let mut out: Vec<Relevant> = past
        .iter()
        .filter(|p| !(p.ticket == ticket.id && Some(p.attempt) == current) || p.outcome.failed())
        .filter_map(|p| {
            let (by, why) = if let Some(s) = p
                .signatures
                .iter()
                .find(|s| signatures.contains(s.as_str()))
            {
                ("signature", format!("the same error signature {s}"))
            } else if let Some(site) = p.crash_sites.iter().find(|c| sites.contains(c.as_str())) {
                ("crash_site", format!("the same crash site ({site})"))
            } else {
                let theirs = words_of(&format!("{} {}", p.title, p.root_cause));
                let shared = similarity(&words, &theirs);
                if shared < SIMILAR_WORDS {
                    return None;
                }
                (
                    "root_cause",
                    format!(
                        "a similar root cause ({:.0}% of words shared)",
                        shared * 100.0
                    ),
                )
            };
            Some(Relevant {
                fix: p.clone(),
                by: by.to_string(),
                why,
            })
        })
        .collect();
    out.sort_by(|a, b| {
        b.fix
            .outcome
            .failed()
            .cmp(&a.fix.outcome.failed())
            .then(b.fix.at_ms.cmp(&a.fix.at_ms))
    });
    out.truncate(limit);
    out
}

/// Lowercase words of three letters or more, less the commonest.
fn words_of(text: &str) -> HashSet<String> {
    const COMMON: [&str; 12] = [
        "the", "and", "for", "with", "when", "not", "that", "this", "from", "was", "are", "its",
    ];
    text.split(|c: char| !c.is_alphanumeric() && c != '_')
        .map(str::to_lowercase)
        .filter(|w| w.len() >= 3 && !COMMON.contains(&w.as_str()))
        .collect()
}

/// Jaccard similarity of two word sets (0 when either is empty).
fn similarity(a: &HashSet<String>, b: &HashSet<String>) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let shared = a.intersection(b).count() as f64;
    shared / a.union(b).count() as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::tickets::test_support::ticket;
    use crate::domain::tickets::{
        Disposition, FixRecord, FixReview, Method, PullRequestRef, SignatureEvidence,
    };

    fn with_fix(id: &str, signature: &str, site: &str, root_cause: &str) -> Ticket {
        let mut t = ticket(id, Some(Disposition::FixCandidate), None, Method::Llm);
        t.root_cause = root_cause.to_string();
        t.signatures.push(SignatureEvidence {
            signature: signature.into(),
            title: "KeyError".into(),
            exception_type: Some("KeyError".into()),
            message: "'coupon'".into(),
            frames: Vec::new(),
            breadcrumbs: Vec::new(),
            crash_site: Some(site.into()),
            release: None,
            environment: None,
            total_events: 10,
            first_seen_ms: 0,
            last_seen_ms: 0,
            gate: Vec::new(),
        });
        t.fix = Some(FixRecord {
            attempt: 1,
            branch: format!("suture/fix-{id}-1"),
            commit: "abc".into(),
            base: "def".into(),
            files: vec!["shop/orders.py".into()],
            tests: "passed".into(),
            review: FixReview::Pending,
            pull_request: Some(PullRequestRef {
                number: 12,
                url: "https://github.example/o/r/pull/12".into(),
                created_at_ms: 0,
                ready: false,
                merged: None,
            }),
            held: None,
            retry_at_ms: None,
            publish_failures: 0,
        });
        t
    }

    #[test]
    fn the_same_crash_site_or_a_similar_root_cause_is_relevant() {
        let old = with_fix(
            "T-1",
            "aaa",
            "shop/orders.py in total",
            "orders without a coupon key crash the total",
        );
        let rejected = PastFix::of(&old, FixOutcome::Rejected, "guard belongs in the caller", 5)
            .expect("a fix");
        let other = with_fix(
            "T-2",
            "bbb",
            "shop/cart.py in add",
            "cart overflow on big carts",
        );
        let verified =
            PastFix::of(&other, FixOutcome::Verified, "0 events in 2 h", 6).expect("a fix");
        let past = vec![rejected, verified];

        let same_site = with_fix("T-3", "ccc", "shop/orders.py in total", "something else");
        let found = relevant(&past, &same_site, 5);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].fix.ticket, "T-1");
        assert!(found[0].why.contains("same crash site"), "{}", found[0].why);

        let similar = with_fix(
            "T-4",
            "ddd",
            "shop/invoice.py in render",
            "orders without a coupon key crash the invoice total",
        );
        let found = relevant(&past, &similar, 5);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].why.contains("similar root cause"),
            "{}",
            found[0].why
        );

        let unrelated = with_fix("T-5", "eee", "shop/auth.py in login", "session expiry");
        assert!(relevant(&past, &unrelated, 5).is_empty());
        // A ticket's own current fix is its past only when it failed (a
        // revision must know why); merged or verified, it is not.
        assert_eq!(relevant(&past, &old, 5).len(), 1);
        let merged = PastFix::of(&old, FixOutcome::Merged, "", 7).expect("a fix");
        assert!(relevant(&[merged], &old, 5).is_empty());
    }

    #[test]
    fn failures_come_first_and_history_is_kept() {
        let t = with_fix("T-1", "aaa", "a.py in f", "x");
        let mut merged = PastFix::of(&t, FixOutcome::Merged, "merged by alice", 1).expect("fix");
        merged
            .update(PastFix::of(&t, FixOutcome::FailedInProduction, "still 8/h", 2).expect("fix"));
        assert_eq!(merged.outcome, FixOutcome::FailedInProduction);
        assert_eq!(merged.history.len(), 2);
        assert_eq!(
            merged.headline(),
            "T-1 attempt 1 in PR #12: failed_in_production (merged -> failed_in_production)"
        );
        let ok = with_fix("T-2", "aaa", "a.py in f", "x");
        let verified = PastFix::of(&ok, FixOutcome::Verified, "", 9).expect("fix");
        let next = with_fix("T-3", "aaa", "a.py in f", "x");
        let found = relevant(&[verified, merged], &next, 5);
        assert_eq!(found[0].fix.outcome, FixOutcome::FailedInProduction);
    }
}

//! The original design's success metrics, computed from the tickets, the
//! agent's attempts and the stored event volume: what `GET /v1/report`
//! answers under `outcomes`, `suture report` prints and `/metrics` exports.
//!
//! - **exception volume** over time: events stored per hour (last 48 h)
//!   and per day (last 30 days), by when they happened;
//! - **deduplication accuracy**: of the tickets an operator labelled with
//!   `grouping_correct`, the share labelled right;
//! - **fix success rate**: fixes verified in production over attempts
//!   made (interrupted attempts, which never got to try, do not count);
//! - **time to resolution**, per stage (first seen → ticket → pull request
//!   → merged → verified, and first seen → verified), medians and p90;
//! - **auto-deploy vs human**: merges made by Suture (`merged.by` is
//!   `suture`) against merges by people;
//! - **false positive rate**: of the triaged tickets, those an operator
//!   dismissed or labelled wrong while triage called them fix candidates;
//! - **tokens and money** per ticket and per merged pull request: tokens
//!   of grouping (once per batch), triage and the agent's attempts; money
//!   of the attempts (priced per call by `[llm.prices]`; grouping and
//!   triage record tokens only).

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;

use crate::domain::coder::attempt::{AttemptRecord, AttemptState};
use crate::domain::tickets::{Disposition, Method, Ticket, TicketState};
use crate::domain::verify::Outcome;

/// A share with what it is a share of.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Share {
    pub of: u64,
    pub count: u64,
    /// `None` while `of` is zero.
    pub ratio: Option<f64>,
}

impl Share {
    fn new(count: u64, of: u64) -> Self {
        Share {
            of,
            count,
            ratio: (of > 0).then(|| count as f64 / of as f64),
        }
    }
}

/// Medians and 90th percentiles of one stage's durations.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Durations {
    pub count: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub median_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p90_ms: Option<i64>,
}

impl Durations {
    fn of(mut values: Vec<i64>) -> Self {
        values.sort_unstable();
        // Nearest rank: the smallest value with at least q of them at or below.
        let rank = |q: f64| {
            let n = values.len();
            (n > 0).then(|| {
                let index = ((q * n as f64).ceil() as usize).clamp(1, n) - 1;
                values[index]
            })
        };
        Durations {
            count: values.len() as u64,
            median_ms: rank(0.5),
            p90_ms: rank(0.9),
        }
    }
}

/// What the fixes came to.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Fixes {
    /// Attempts that ran to an end (interrupted ones do not count).
    pub attempts: u64,
    /// Attempts that ended with a proven fix.
    pub proven: u64,
    pub pull_requests: u64,
    pub merged: u64,
    pub verified: u64,
    pub failed_in_production: u64,
    pub regressions: u64,
    /// verified / attempts.
    pub success_rate: Option<f64>,
}

/// Tokens and money.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Cost {
    pub tokens: u64,
    /// The agent's attempts, priced per call.
    pub agent_usd: f64,
    pub tokens_per_ticket: Option<f64>,
    pub usd_per_ticket: Option<f64>,
    pub tokens_per_merged_pr: Option<f64>,
    pub usd_per_merged_pr: Option<f64>,
}

/// Events stored per hour and per day, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Volume {
    /// (hour start, epoch ms; events).
    pub hourly: Vec<(i64, u64)>,
    /// (UTC day start, epoch ms; events).
    pub daily: Vec<(i64, u64)>,
}

/// The design's metrics.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Outcomes {
    pub volume: Volume,
    pub deduplication_accuracy: Share,
    pub fixes: Fixes,
    /// Stage name → durations.
    pub time_to_resolution: BTreeMap<&'static str, Durations>,
    /// Merges by Suture (auto-deploy) among all merges.
    pub auto_deploys: Share,
    pub false_positives: Share,
    pub cost: Cost,
}

/// Who merges when Suture deploys by itself.
pub const SUTURE_MERGER: &str = "suture";

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// Computes the metrics. `volume_hours` is (hour start ms, events) for the
/// last 30 days or less, oldest first; `now_ms` bounds the 48-hour view.
pub fn outcomes(
    tickets: &[Ticket],
    attempts: &[AttemptRecord],
    volume_hours: &[(i64, u64)],
    now_ms: i64,
) -> Outcomes {
    let mut out = Outcomes {
        volume: volume(volume_hours, now_ms),
        ..Outcomes::default()
    };
    let (mut grouping_labels, mut grouping_right) = (0, 0);
    let (mut triaged, mut false_positive) = (0, 0);
    let (mut merged_by_suture, mut merges) = (0, 0);
    let mut stages: BTreeMap<&'static str, Vec<i64>> = BTreeMap::new();
    let mut tokens = 0u64;
    let mut batches = HashSet::new();
    let mut merged_tickets: HashSet<&str> = HashSet::new();
    for ticket in tickets {
        if let Some(label) = ticket.label.as_ref()
            && let Some(right) = label.grouping_correct
        {
            grouping_labels += 1;
            grouping_right += u64::from(right);
        }
        if ticket.disposition.is_some() {
            triaged += 1;
            let labelled_wrong = ticket.disposition == Some(Disposition::FixCandidate)
                && ticket.label.as_ref().is_some_and(|l| !l.correct);
            if labelled_wrong || ticket.state == TicketState::Dismissed {
                false_positive += 1;
            }
        }
        let batch = ticket
            .signatures
            .first()
            .and_then(|s| s.gate.first())
            .map(|g| g.run.clone());
        if ticket.grouping.method == Method::Llm && batches.insert(batch) {
            tokens += ticket.grouping.tokens;
        }
        tokens += ticket.triage.as_ref().map_or(0, |t| t.tokens);
        out.fixes.regressions += u64::from(ticket.regressions);
        let pull = ticket.fix.as_ref().and_then(|f| f.pull_request.as_ref());
        if pull.is_some() {
            out.fixes.pull_requests += 1;
        }
        let merged = pull.and_then(|p| p.merged.as_ref());
        if let Some(m) = merged {
            merges += 1;
            merged_tickets.insert(&ticket.id);
            if m.by == SUTURE_MERGER {
                merged_by_suture += 1;
            }
        }
        let verified_at = ticket
            .verification
            .as_ref()
            .filter(|v| v.outcome == Outcome::Fixed)
            .and(ticket.resolved_at_ms);
        match ticket.verification.as_ref().map(|v| v.outcome) {
            Some(Outcome::Fixed) => out.fixes.verified += 1,
            Some(Outcome::StillFailing) => out.fixes.failed_in_production += 1,
            _ => {}
        }
        let first_seen = ticket.signatures.iter().map(|s| s.first_seen_ms).min();
        let mut stage = |name: &'static str, from: Option<i64>, to: Option<i64>| {
            if let (Some(from), Some(to)) = (from, to) {
                stages.entry(name).or_default().push((to - from).max(0));
            }
        };
        let created = Some(ticket.created_at_ms);
        let pr_at = pull.map(|p| p.created_at_ms);
        let merged_at = merged.map(|m| m.at_ms);
        stage("first_seen_to_ticket", first_seen, created);
        stage("ticket_to_pull_request", created, pr_at);
        stage("pull_request_to_merged", pr_at, merged_at);
        stage("merged_to_verified", merged_at, verified_at);
        stage("first_seen_to_verified", first_seen, verified_at);
    }
    let mut agent_micro_usd = 0u64;
    let mut merged_pr_tokens = 0u64;
    let mut merged_pr_micro_usd = 0u64;
    for attempt in attempts {
        tokens += attempt.tokens;
        agent_micro_usd += attempt.micro_usd;
        if merged_tickets.contains(attempt.ticket.as_str()) {
            merged_pr_tokens += attempt.tokens;
            merged_pr_micro_usd += attempt.micro_usd;
        }
        match attempt.state {
            AttemptState::Interrupted | AttemptState::Running => {}
            AttemptState::Succeeded => {
                out.fixes.attempts += 1;
                out.fixes.proven += 1;
            }
            _ => out.fixes.attempts += 1,
        }
    }
    out.fixes.merged = merges;
    out.fixes.success_rate = Share::new(out.fixes.verified, out.fixes.attempts).ratio;
    out.deduplication_accuracy = Share::new(grouping_right, grouping_labels);
    out.false_positives = Share::new(false_positive, triaged);
    out.auto_deploys = Share::new(merged_by_suture, merges);
    out.time_to_resolution = stages
        .into_iter()
        .map(|(name, values)| (name, Durations::of(values)))
        .collect();
    let per = |value: f64, n: u64| (n > 0).then(|| value / n as f64);
    let usd = |micro: u64| micro as f64 / 1e6;
    let ticket_count = tickets.len() as u64;
    out.cost = Cost {
        tokens,
        agent_usd: usd(agent_micro_usd),
        tokens_per_ticket: per(tokens as f64, ticket_count),
        usd_per_ticket: per(usd(agent_micro_usd), ticket_count),
        tokens_per_merged_pr: per(merged_pr_tokens as f64, merges),
        usd_per_merged_pr: per(usd(merged_pr_micro_usd), merges),
    };
    out
}

/// The last 48 hours hour by hour, and the days of the input.
fn volume(hours: &[(i64, u64)], now_ms: i64) -> Volume {
    let since = now_ms - 48 * HOUR_MS;
    let mut daily: BTreeMap<i64, u64> = BTreeMap::new();
    for &(at, count) in hours {
        *daily.entry(at.div_euclid(DAY_MS) * DAY_MS).or_default() += count;
    }
    Volume {
        hourly: hours
            .iter()
            .copied()
            .filter(|(at, _)| *at >= since)
            .collect(),
        daily: daily.into_iter().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::tickets::test_support::ticket;
    use crate::domain::tickets::{
        FixRecord, FixReview, Label, Merged, PullRequestRef, SignatureEvidence,
    };
    use crate::domain::verify::Verification;

    fn evidence(first_seen_ms: i64) -> SignatureEvidence {
        SignatureEvidence {
            signature: "s".into(),
            title: "t".into(),
            exception_type: None,
            message: String::new(),
            frames: Vec::new(),
            breadcrumbs: Vec::new(),
            crash_site: None,
            release: None,
            environment: None,
            total_events: 1,
            first_seen_ms,
            last_seen_ms: first_seen_ms,
            gate: Vec::new(),
        }
    }

    /// A ticket first seen at 0, made at 1 h, PR at 2 h, merged at 4 h by
    /// `by`, verified at 8 h.
    fn fixed(id: &str, by: &str) -> Ticket {
        let mut t = ticket(id, Some(Disposition::FixCandidate), Some(true), Method::Llm);
        t.signatures.push(evidence(0));
        t.created_at_ms = HOUR_MS;
        t.fix = Some(FixRecord {
            attempt: 1,
            branch: "b".into(),
            commit: "c".into(),
            base: "d".into(),
            files: Vec::new(),
            tests: String::new(),
            review: FixReview::Pending,
            pull_request: Some(PullRequestRef {
                number: 1,
                url: String::new(),
                created_at_ms: 2 * HOUR_MS,
                ready: false,
                merged: Some(Merged {
                    commit: "m".into(),
                    by: by.into(),
                    at_ms: 4 * HOUR_MS,
                    deployed: None,
                }),
            }),
            held: None,
            retry_at_ms: None,
            publish_failures: 0,
        });
        t.state = TicketState::Resolved;
        t.resolved_at_ms = Some(8 * HOUR_MS);
        t.verification = Some(Verification {
            outcome: Outcome::Fixed,
            deploy: "d".into(),
            checked_at_ms: 8 * HOUR_MS,
            reason: String::new(),
            signatures: Vec::new(),
        });
        t
    }

    fn attempt(id: &str, state: AttemptState, tokens: u64, micro_usd: u64) -> AttemptRecord {
        AttemptRecord {
            state,
            tokens,
            micro_usd,
            ..AttemptRecord::running(id, 1, "b".into(), 0)
        }
    }

    #[test]
    fn the_design_metrics_come_from_tickets_and_attempts() {
        let mut wrong = ticket(
            "T-3",
            Some(Disposition::FixCandidate),
            Some(false),
            Method::Llm,
        );
        wrong.label = Some(Label {
            correct: false,
            grouping_correct: Some(false),
            note: None,
            at_ms: 0,
        });
        let mut right = fixed("T-1", "maria");
        if let Some(label) = right.label.as_mut() {
            label.grouping_correct = Some(true);
        }
        let tickets = vec![right, fixed("T-2", SUTURE_MERGER), wrong];
        let attempts = vec![
            attempt("T-1", AttemptState::Succeeded, 1_000, 2_000_000),
            attempt("T-2", AttemptState::Succeeded, 3_000, 4_000_000),
            attempt("T-3", AttemptState::Failed, 500, 1_000_000),
            attempt("T-3", AttemptState::Interrupted, 0, 0),
        ];
        let o = outcomes(&tickets, &attempts, &[], 0);
        assert_eq!(o.fixes.attempts, 3, "the interrupted one never tried");
        assert_eq!((o.fixes.merged, o.fixes.verified), (2, 2));
        assert_eq!(o.fixes.success_rate, Some(2.0 / 3.0));
        assert_eq!(o.auto_deploys, Share::new(1, 2));
        assert_eq!(o.deduplication_accuracy, Share::new(1, 2));
        assert_eq!(o.false_positives, Share::new(1, 3));
        let stage = |name| o.time_to_resolution.get(name).cloned().unwrap_or_default();
        assert_eq!(stage("first_seen_to_ticket").median_ms, Some(HOUR_MS));
        assert_eq!(stage("pull_request_to_merged").p90_ms, Some(2 * HOUR_MS));
        assert_eq!(stage("first_seen_to_verified").count, 2);
        assert_eq!(stage("merged_to_verified").median_ms, Some(4 * HOUR_MS));
        // Triage recorded 7 tokens on each ticket (test_support).
        assert_eq!(o.cost.tokens, 4_500 + 21);
        assert_eq!(o.cost.usd_per_merged_pr, Some(3.0));
        assert_eq!(o.cost.tokens_per_merged_pr, Some(2_000.0));
    }

    #[test]
    fn percentiles_are_nearest_rank_and_volume_is_bucketed() {
        let d = Durations::of((1..=10).collect());
        assert_eq!((d.median_ms, d.p90_ms), (Some(5), Some(9)));
        assert_eq!(Durations::of(Vec::new()).median_ms, None);
        let now = 3 * DAY_MS;
        let hours = [(0, 5), (HOUR_MS, 2), (2 * DAY_MS, 7), (now - HOUR_MS, 1)];
        let v = volume(&hours, now);
        assert_eq!(v.daily, vec![(0, 7), (2 * DAY_MS, 8)]);
        assert_eq!(v.hourly, vec![(2 * DAY_MS, 7), (now - HOUR_MS, 1)]);
    }
}

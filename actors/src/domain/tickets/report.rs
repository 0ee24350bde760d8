//! `suture report`: how good triage has been, measured against operators'
//! labels, and what the LLM cost.
//!
//! Triage's positive call is `fix_candidate` (the deploy caused it, or a
//! spike severe enough to fix). An operator's label says whether that call
//! was right:
//!
//! | disposition      | label `correct` | counts as        |
//! |------------------|-----------------|------------------|
//! | fix_candidate    | true            | true positive    |
//! | fix_candidate    | false           | false positive   |
//! | external / noise | false           | false negative   |
//! | external / noise | true            | true negative    |
//!
//! precision = TP / (TP + FP), recall = TP / (TP + FN). Unlabeled tickets
//! count nowhere, and the report says how many there are, because a
//! precision over three labels is not a precision over three hundred.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Disposition, Method, Ticket};

/// Confusion counts and the two ratios.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Scores {
    pub labeled: u64,
    pub true_positives: u64,
    pub false_positives: u64,
    pub false_negatives: u64,
    pub true_negatives: u64,
    /// `None` until a positive call has been labeled.
    pub precision: Option<f64>,
    /// `None` until a labeled ticket was truly a fix candidate.
    pub recall: Option<f64>,
}

impl Scores {
    fn add(&mut self, disposition: Disposition, correct: bool) {
        self.labeled += 1;
        match (disposition == Disposition::FixCandidate, correct) {
            (true, true) => self.true_positives += 1,
            (true, false) => self.false_positives += 1,
            (false, false) => self.false_negatives += 1,
            (false, true) => self.true_negatives += 1,
        }
    }

    fn finish(mut self) -> Self {
        let ratio = |num: u64, den: u64| (den > 0).then(|| num as f64 / den as f64);
        self.precision = ratio(
            self.true_positives,
            self.true_positives + self.false_positives,
        );
        self.recall = ratio(
            self.true_positives,
            self.true_positives + self.false_negatives,
        );
        self
    }
}

/// What `GET /v1/report` answers and `suture report` prints.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    pub tickets: u64,
    pub triaged: u64,
    pub unlabeled: u64,
    /// Tickets per state, per disposition.
    pub by_state: BTreeMap<String, u64>,
    pub by_disposition: BTreeMap<String, u64>,
    /// Every labeled ticket.
    pub overall: Scores,
    /// Split by the method that triaged (llm, deterministic, rule).
    pub by_method: BTreeMap<String, Scores>,
    /// Tokens recorded on tickets (grouping calls are shared by a batch
    /// and counted once per batch; triage calls once per ticket).
    pub ticket_tokens: u64,
}

/// Computes the report over every ticket.
pub fn report(tickets: &[Ticket]) -> Report {
    let mut out = Report::default();
    let mut overall = Scores::default();
    let mut by_method: BTreeMap<String, Scores> = BTreeMap::new();
    let mut grouping_batches = std::collections::HashSet::new();
    for ticket in tickets {
        out.tickets += 1;
        *out.by_state
            .entry(ticket.state.as_str().to_string())
            .or_default() += 1;
        if let Some(d) = ticket.disposition {
            *out.by_disposition
                .entry(d.as_str().to_string())
                .or_default() += 1;
        }
        // A batch's grouping cost is recorded on each of its tickets; count
        // it once (the first candidate run identifies the batch well enough).
        let batch = ticket
            .signatures
            .first()
            .and_then(|s| s.gate.first())
            .map(|g| g.run.clone());
        if ticket.grouping.method == Method::Llm && grouping_batches.insert(batch) {
            out.ticket_tokens += ticket.grouping.tokens;
        }
        let Some(triage) = &ticket.triage else {
            continue;
        };
        out.ticket_tokens += triage.tokens;
        let Some(disposition) = ticket.disposition else {
            continue;
        };
        out.triaged += 1;
        match &ticket.label {
            Some(label) => {
                overall.add(disposition, label.correct);
                by_method
                    .entry(triage.method.as_str().to_string())
                    .or_default()
                    .add(disposition, label.correct);
            }
            None => out.unlabeled += 1,
        }
    }
    out.overall = overall.finish();
    out.by_method = by_method
        .into_iter()
        .map(|(k, v)| (k, v.finish()))
        .collect();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::tickets::test_support::ticket;

    #[test]
    fn precision_and_recall_follow_the_labels() {
        let mut tickets = vec![
            ticket(
                "T-1",
                Some(Disposition::FixCandidate),
                Some(true),
                Method::Llm,
            ),
            ticket(
                "T-2",
                Some(Disposition::FixCandidate),
                Some(true),
                Method::Llm,
            ),
            ticket(
                "T-3",
                Some(Disposition::FixCandidate),
                Some(false),
                Method::Llm,
            ),
            ticket(
                "T-4",
                Some(Disposition::External),
                Some(false),
                Method::Deterministic,
            ),
            ticket("T-5", Some(Disposition::Noise), Some(true), Method::Rule),
            ticket("T-6", Some(Disposition::External), None, Method::Llm),
            ticket("T-7", None, None, Method::Llm),
        ];
        tickets[6].triage = None;
        let r = report(&tickets);
        assert_eq!(r.tickets, 7);
        assert_eq!(r.triaged, 6);
        assert_eq!(r.unlabeled, 1);
        assert_eq!(r.overall.labeled, 5);
        assert_eq!(r.overall.true_positives, 2);
        assert_eq!(r.overall.false_positives, 1);
        assert_eq!(r.overall.false_negatives, 1);
        assert_eq!(r.overall.true_negatives, 1);
        assert_eq!(r.overall.precision, Some(2.0 / 3.0));
        assert_eq!(r.overall.recall, Some(2.0 / 3.0));
        assert_eq!(r.by_method["llm"].precision, Some(2.0 / 3.0));
        assert_eq!(r.by_method["deterministic"].recall, Some(0.0));
        assert_eq!(r.by_method["rule"].precision, None);
    }

    #[test]
    fn no_labels_no_ratios() {
        let r = report(&[ticket(
            "T-1",
            Some(Disposition::FixCandidate),
            None,
            Method::Llm,
        )]);
        assert_eq!(r.overall.precision, None);
        assert_eq!(r.overall.recall, None);
        assert_eq!(r.unlabeled, 1);
    }
}

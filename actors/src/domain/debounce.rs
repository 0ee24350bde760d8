//! The debounce rule, as a pure state machine over instants, so it can be
//! tested without an actor or a clock.
//!
//! A batch is due `debounce` after its last change, but never later than
//! `max_wait` after its first (a steady trickle must not starve it), and at
//! once when `max_batch` distinct signatures are pending.

use std::collections::BTreeSet;
use std::time::Duration;

use tokio::time::Instant;

use serde::{Deserialize, Serialize};

use crate::domain::duration;
use crate::domain::records::HandoffReason;

/// `[queue]`: the debounce between ingest and the later stages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueueConfig {
    /// Quiet time after the last change before a batch is handed on. The
    /// original design used 1 to 10 minutes: long enough that one incident's
    /// burst lands in one batch.
    #[serde(with = "duration")]
    pub debounce: Duration,
    /// Longest a change may wait, counted from the first change of a batch,
    /// so a steady trickle cannot postpone the batch forever.
    #[serde(with = "duration")]
    pub max_wait: Duration,
    /// Distinct signatures that trigger an immediate hand-off. Keeps one
    /// batch small enough for the stages that read it as a whole.
    pub max_batch: usize,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            debounce: Duration::from_secs(60),
            max_wait: Duration::from_secs(600),
            max_batch: 100,
        }
    }
}

/// Pending changes and when they arrived.
#[derive(Debug, Clone)]
pub struct Debouncer {
    debounce: Duration,
    max_wait: Duration,
    max_batch: usize,
    pending: BTreeSet<String>,
    first_change: Option<Instant>,
    last_change: Option<Instant>,
}

impl Debouncer {
    pub fn new(config: &QueueConfig) -> Self {
        Self {
            debounce: config.debounce,
            max_wait: config.max_wait,
            max_batch: config.max_batch.max(1),
            pending: BTreeSet::new(),
            first_change: None,
            last_change: None,
        }
    }

    /// Records changed signatures at `now`.
    pub fn record<I: IntoIterator<Item = String>>(&mut self, signatures: I, now: Instant) {
        let before = self.pending.len();
        self.pending.extend(signatures);
        if self.pending.len() == before && self.first_change.is_some() {
            // Nothing new, but still activity: it extends the quiet period.
            self.last_change = Some(now);
            return;
        }
        self.first_change.get_or_insert(now);
        self.last_change = Some(now);
    }

    /// Restores a batch that survived a restart: its first change is as old
    /// as the store says, and the quiet period starts again now.
    pub fn restore<I: IntoIterator<Item = String>>(
        &mut self,
        signatures: I,
        first_change: Instant,
        now: Instant,
    ) {
        self.pending.extend(signatures);
        if !self.pending.is_empty() {
            self.first_change = Some(first_change.min(now));
            self.last_change = Some(now);
        }
    }

    /// When the pending batch is due, if any.
    pub fn deadline(&self) -> Option<Instant> {
        let (first, last) = (self.first_change?, self.last_change?);
        if self.pending.len() >= self.max_batch {
            return Some(last);
        }
        Some((last + self.debounce).min(first + self.max_wait))
    }

    /// Why the batch is due at `now`, or `None` when it is not yet.
    pub fn due(&self, now: Instant) -> Option<HandoffReason> {
        let (first, last) = (self.first_change?, self.last_change?);
        if self.pending.len() >= self.max_batch {
            Some(HandoffReason::MaxBatch)
        } else if now >= last + self.debounce {
            Some(HandoffReason::Debounce)
        } else if now >= first + self.max_wait {
            Some(HandoffReason::MaxWait)
        } else {
            None
        }
    }

    /// Empties the batch (after it was handed on).
    pub fn clear(&mut self) {
        self.pending.clear();
        self.first_change = None;
        self.last_change = None;
    }

    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    pub fn first_change(&self) -> Option<Instant> {
        self.first_change
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(debounce: u64, max_wait: u64, max_batch: usize) -> QueueConfig {
        QueueConfig {
            debounce: Duration::from_secs(debounce),
            max_wait: Duration::from_secs(max_wait),
            max_batch,
        }
    }

    fn sigs(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn quiet_period_after_last_change() {
        let t0 = Instant::now();
        let mut d = Debouncer::new(&config(60, 600, 100));
        assert_eq!(d.deadline(), None);
        d.record(sigs(&["a"]), t0);
        d.record(sigs(&["b"]), t0 + Duration::from_secs(30));
        assert_eq!(d.deadline(), Some(t0 + Duration::from_secs(90)));
        assert_eq!(d.due(t0 + Duration::from_secs(89)), None);
        assert_eq!(
            d.due(t0 + Duration::from_secs(90)),
            Some(HandoffReason::Debounce)
        );
    }

    #[test]
    fn steady_trickle_is_capped_by_max_wait() {
        let t0 = Instant::now();
        let mut d = Debouncer::new(&config(60, 300, 100));
        for i in 0..20 {
            d.record(sigs(&["a"]), t0 + Duration::from_secs(i * 30));
        }
        assert_eq!(d.deadline(), Some(t0 + Duration::from_secs(300)));
        assert_eq!(
            d.due(t0 + Duration::from_secs(300)),
            Some(HandoffReason::MaxWait)
        );
    }

    #[test]
    fn max_batch_is_due_at_once() {
        let t0 = Instant::now();
        let mut d = Debouncer::new(&config(60, 600, 3));
        d.record(sigs(&["a", "b"]), t0);
        assert_eq!(d.due(t0), None);
        d.record(sigs(&["b"]), t0);
        assert_eq!(d.due(t0), None, "a repeated signature is not a new one");
        d.record(sigs(&["c"]), t0);
        assert_eq!(d.due(t0), Some(HandoffReason::MaxBatch));
        d.clear();
        assert!(d.is_empty());
        assert_eq!(d.deadline(), None);
    }

    #[test]
    fn restored_batch_keeps_its_age() {
        let t0 = Instant::now();
        let mut d = Debouncer::new(&config(60, 120, 100));
        let now = t0 + Duration::from_secs(100);
        d.restore(sigs(&["a"]), t0, now);
        assert_eq!(d.deadline(), Some(t0 + Duration::from_secs(120)));
    }
}

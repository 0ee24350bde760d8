//! Session counts summed in memory and committed with the event groups.
//!
//! A browser SDK sends a session update per page load. Written one by one,
//! each was an fsynced call into the single writer, and the events behind
//! them waited their turn until they timed out; summed and written every
//! few seconds, they still cost a write and a flush of their own. Counts
//! per minute are all the gate reads, so the servers add them here and the
//! ingest writer takes them into the next group commit, under the flush it
//! makes for the events anyway: a flood of page loads costs no write at
//! all while events flow, and one group commit per [`MAX_WAIT`] when none
//! do.
//!
//! The cost is what the denominator already tolerates: counts not yet
//! committed when the process is killed are lost (a clean shutdown commits
//! them). A failed commit puts its counts back for the next one.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::store::TrafficRecord;

/// Longest counts wait for a group commit of events before the writer
/// commits them alone.
pub const MAX_WAIT: Duration = Duration::from_secs(5);

/// Most distinct minutes held: five days of minutes (the oldest a session
/// may start) is 7,200; past that, new minutes are dropped and counted, so
/// a sender cannot grow the map without bound.
pub const MAX_MINUTES: usize = 7_200;

/// Session counts per minute of their start, not yet committed.
#[derive(Debug, Default)]
pub struct TrafficBuffer {
    inner: Mutex<Pending>,
}

#[derive(Debug, Default)]
struct Pending {
    minutes: BTreeMap<i64, u64>,
    /// When the oldest uncommitted count arrived.
    since: Option<Instant>,
}

impl TrafficBuffer {
    /// Adds (start in epoch ms, count) pairs, summed per minute.
    pub fn add(&self, sessions: impl IntoIterator<Item = (i64, u64)>) {
        let mut pending = self.lock();
        for (at_ms, count) in sessions {
            let minute = at_ms - at_ms.rem_euclid(60_000);
            if pending.minutes.len() >= MAX_MINUTES && !pending.minutes.contains_key(&minute) {
                metrics::counter!("suture_sentry_sessions_unrecorded_total").increment(count);
                continue;
            }
            let total = pending.minutes.entry(minute).or_default();
            *total = total.saturating_add(count);
            pending.since.get_or_insert_with(Instant::now);
        }
    }

    /// Takes everything pending, one traffic record per minute.
    pub fn take(&self) -> Vec<TrafficRecord> {
        let mut pending = self.lock();
        pending.since = None;
        std::mem::take(&mut pending.minutes)
            .into_iter()
            .map(|(at_ms, requests)| TrafficRecord {
                at_ms,
                requests,
                release: None,
            })
            .collect()
    }

    /// Puts back what a failed commit took.
    pub fn put_back(&self, records: &[TrafficRecord]) {
        self.add(records.iter().map(|r| (r.at_ms, r.requests)));
    }

    /// Whether counts have waited [`MAX_WAIT`] for a group commit.
    pub fn due(&self) -> bool {
        self.lock().since.is_some_and(|t| t.elapsed() >= MAX_WAIT)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_summed_per_minute_and_bounded() {
        let buffer = TrafficBuffer::default();
        buffer.add([(60_000, 1), (60_500, 2), (119_999, 3), (120_000, 4)]);
        buffer.add((0..10_000).map(|i| (i64::from(i) * 60_000 + 10_000_000_000, 1)));
        let taken = buffer.take();
        let of = |at_ms| taken.iter().find(|r| r.at_ms == at_ms).map(|r| r.requests);
        assert_eq!(of(60_000), Some(6));
        assert_eq!(of(120_000), Some(4));
        assert_eq!(taken.len(), MAX_MINUTES);
        assert!(buffer.take().is_empty(), "taken");
    }

    #[test]
    fn put_back_counts_are_added_to_new_ones_and_nothing_is_due_when_empty() {
        let buffer = TrafficBuffer::default();
        assert!(!buffer.due());
        buffer.add([(60_000, 2)]);
        let taken = buffer.take();
        buffer.add([(60_000, 1)]);
        buffer.put_back(&taken);
        assert_eq!(buffer.take()[0].requests, 3);
        assert!(!buffer.due(), "nothing pending");
    }
}

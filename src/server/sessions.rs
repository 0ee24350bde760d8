//! Session counts, added up in memory and written a few times a minute.
//!
//! A browser SDK sends a session update per page load. Written one by one,
//! each was an fsynced call into the single writer, and the events behind
//! them waited their turn until they timed out. Counts per minute are all
//! the gate reads, so they are summed here and handed to the writer every
//! [`FLUSH_EVERY`] as one record per minute: a flood of page loads costs a
//! few writes, not one each.
//!
//! The cost is what the denominator already tolerates: counts not yet
//! written when the process is killed are lost (a clean shutdown writes
//! them). A failed write puts its counts back for the next round.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use suture_actors::EngineHandle;
use suture_actors::store::TrafficRecord;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How often summed counts are written.
pub const FLUSH_EVERY: Duration = Duration::from_secs(5);

/// Most distinct minutes held: five days of minutes (the oldest a session
/// may start) is 7,200; past that, new minutes are dropped and counted, so
/// a sender cannot grow the map without bound.
pub const MAX_MINUTES: usize = 7_200;

/// Session counts per minute of their start, not yet written.
#[derive(Debug, Default)]
pub struct SessionBuffer {
    pending: Mutex<BTreeMap<i64, u64>>,
}

impl SessionBuffer {
    /// Adds (start in epoch ms, count) pairs, summed per minute.
    pub fn add(&self, sessions: impl IntoIterator<Item = (i64, u64)>) {
        let mut pending = self.lock();
        for (at_ms, count) in sessions {
            let minute = at_ms - at_ms.rem_euclid(60_000);
            if pending.len() >= MAX_MINUTES && !pending.contains_key(&minute) {
                metrics::counter!("suture_sentry_sessions_unrecorded_total").increment(count);
                continue;
            }
            let total = pending.entry(minute).or_default();
            *total = total.saturating_add(count);
        }
    }

    /// Takes everything pending.
    pub fn take(&self) -> BTreeMap<i64, u64> {
        std::mem::take(&mut *self.lock())
    }

    /// Writes everything pending, one traffic record per minute; counts
    /// whose write failed go back for the next round.
    pub async fn flush(&self, engine: &EngineHandle) {
        for (at_ms, requests) in self.take() {
            let traffic = TrafficRecord {
                at_ms,
                requests,
                release: None,
            };
            match engine.record_traffic(traffic).await {
                Ok(()) => metrics::counter!("suture_sentry_sessions_total").increment(requests),
                Err(error) => {
                    tracing::warn!(%error, requests, "could not record session traffic; retrying");
                    self.add([(at_ms, requests)]);
                }
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<i64, u64>> {
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Writes the buffer every [`FLUSH_EVERY`] until `stop`, then once more.
pub fn spawn_flusher(
    buffer: Arc<SessionBuffer>,
    engine: EngineHandle,
    stop: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(FLUSH_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => buffer.flush(&engine).await,
                () = stop.cancelled() => break,
            }
        }
        buffer.flush(&engine).await;
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_summed_per_minute_and_bounded() {
        let buffer = SessionBuffer::default();
        buffer.add([(60_000, 1), (60_500, 2), (119_999, 3), (120_000, 4)]);
        buffer.add((0..10_000).map(|i| (i64::from(i) * 60_000 + 10_000_000_000, 1)));
        let pending = buffer.take();
        assert_eq!(pending.get(&60_000), Some(&6));
        assert_eq!(pending.get(&120_000), Some(&4));
        assert_eq!(pending.len(), MAX_MINUTES);
        assert!(buffer.take().is_empty(), "taken");
    }
}

//! Counters that both the Prometheus metrics and `suture status` read. Each
//! method increments the metric and the readable counter together, so the two
//! never disagree (the habit Vector's internal events teach).

use std::sync::atomic::{AtomicU64, Ordering};

/// Running totals since start.
#[derive(Debug, Default)]
pub struct Stats {
    accepted: AtomicU64,
    rejected: AtomicU64,
}

impl Stats {
    /// Events made durable, by where they came from (`http`, `udp`, ...).
    pub fn accepted(&self, source: &str, events: u64) {
        self.accepted.fetch_add(events, Ordering::Relaxed);
        metrics::counter!("suture_events_accepted_total", "source" => source.to_string())
            .increment(events);
    }

    /// Events refused, by source and a short machine-readable reason.
    pub fn rejected(&self, source: &'static str, reason: &'static str, events: u64) {
        self.rejected.fetch_add(events, Ordering::Relaxed);
        metrics::counter!("suture_events_rejected_total", "source" => source, "reason" => reason)
            .increment(events);
    }

    pub fn accepted_total(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    pub fn rejected_total(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }
}

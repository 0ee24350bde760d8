//! The design's success metrics (`domain::outcomes`) for
//! `GET /v1/report` and `/metrics`.
//!
//! Computing them reads every ticket and attempt, so `/metrics` refreshes
//! its gauges at most once a minute whatever the scrape interval.

use std::sync::atomic::{AtomicI64, Ordering};

use suture_actors::clock::now_ms;
use suture_actors::domain::outcomes::{Outcomes, outcomes};
use suture_actors::store::{Store, StoreError, hour_of};

/// How far back the volume reaches.
const VOLUME_HOURS: u32 = 30 * 24;
/// `/metrics` recomputes at most this often.
const REFRESH_MS: i64 = 60_000;

/// The metrics now.
pub fn current(store: &Store) -> Result<Outcomes, StoreError> {
    let now = now_ms();
    let end = hour_of(now) + 1;
    let from = end.saturating_sub(VOLUME_HOURS);
    let volume: Vec<(i64, u64)> = store
        .volume_hours(from, end - from)?
        .into_iter()
        .enumerate()
        .map(|(i, count)| ((i64::from(from) + i as i64) * 3_600_000, count))
        .filter(|(_, count)| *count > 0)
        .collect();
    Ok(outcomes(
        &store.tickets()?,
        &store.all_attempts()?,
        &volume,
        now,
    ))
}

/// Sets the outcome gauges when the last refresh is older than a minute.
pub fn refresh_gauges(store: &Store) {
    static LAST: AtomicI64 = AtomicI64::new(i64::MIN);
    let now = now_ms();
    let last = LAST.load(Ordering::Relaxed);
    if now.saturating_sub(last) < REFRESH_MS
        || LAST
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
    {
        return;
    }
    let o = match current(store) {
        Ok(o) => o,
        Err(error) => {
            tracing::warn!(%error, "outcome metrics not computed");
            return;
        }
    };
    // Each gauge by its literal name (the catalogue test finds them so);
    // a ratio of nothing yet is left unset rather than reported as 0.
    if let Some(v) = o.fixes.success_rate {
        metrics::gauge!("suture_fix_success_ratio").set(v);
    }
    if let Some(v) = o.deduplication_accuracy.ratio {
        metrics::gauge!("suture_deduplication_accuracy_ratio").set(v);
    }
    if let Some(v) = o.false_positives.ratio {
        metrics::gauge!("suture_false_positive_ratio").set(v);
    }
    if let Some(v) = o.auto_deploys.ratio {
        metrics::gauge!("suture_auto_deploy_ratio").set(v);
    }
    if let Some(v) = o.cost.tokens_per_ticket {
        metrics::gauge!("suture_tokens_per_ticket").set(v);
    }
    if let Some(v) = o.cost.usd_per_merged_pr {
        metrics::gauge!("suture_cost_usd_per_merged_pr").set(v);
    }
    for (outcome, count) in [
        ("attempted", o.fixes.attempts),
        ("proven", o.fixes.proven),
        ("merged", o.fixes.merged),
        ("verified", o.fixes.verified),
        ("failed_in_production", o.fixes.failed_in_production),
        ("regressed", o.fixes.regressions),
    ] {
        metrics::gauge!("suture_fixes", "outcome" => outcome).set(count as f64);
    }
    for (stage, d) in &o.time_to_resolution {
        for (quantile, value) in [("0.5", d.median_ms), ("0.9", d.p90_ms)] {
            if let Some(ms) = value {
                metrics::gauge!("suture_time_to_resolution_seconds", "stage" => *stage, "quantile" => quantile)
                    .set(ms as f64 / 1000.0);
            }
        }
    }
}

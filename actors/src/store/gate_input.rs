//! Reads one window's input for the gate out of the store (here, in the
//! store's layer, because the gate stage and the coder's canary both read
//! it): for each
//! signature, its hourly baseline, its per-minute window counts, the traffic
//! when it is known, and distinct users.
//!
//! The store buckets hours by the clock, so the baseline is the
//! `baseline_hours` clock hours that end where the window's first clock hour
//! begins. Its last bucket is the hour before the one the deploy happened
//! in, and the hour-of-day matching compares the window with the same clock
//! hour on earlier days (off by the deploy's minutes into the hour, which
//! the hourly history cannot resolve). Events of the deploy's own hour that
//! came before the deploy are in neither side.

use std::collections::HashSet;

use super::{Store, StoreError, hour_of, minute_of};
use crate::domain::gate::config::GateConfig;
use crate::domain::gate::decide::ColdStart;
use crate::domain::gate::series::{Baseline, SignatureWindow, Window};

/// What the gate will judge, with what it knew while reading it.
#[derive(Debug, Clone, Default)]
pub struct Gathered {
    pub signatures: Vec<SignatureWindow>,
    /// Hours of baseline actually used (fewer than configured on a young store).
    pub baseline_hours: u32,
    /// Whether requests are the exposure (else hours).
    pub traffic_known: bool,
    /// Why nothing is to be judged, or how (cold start).
    pub note: Option<String>,
    /// Set when the store holds less than `gate.min_history`: the deploy is
    /// judged by the cold-start rules (`gate::cold`).
    pub cold_start: Option<ColdStart>,
    /// With `cold_start`: whether each signature had an event before the
    /// window (aligned with `signatures`).
    pub seen_before: Vec<bool>,
}

/// Gathers the window `[start_ms, start_ms + window)` for the signatures that
/// fired in it, or only for `only` when given (continuous mode: the batch's
/// signatures).
pub fn gather(
    store: &Store,
    start_ms: i64,
    cfg: &GateConfig,
    only: Option<&[String]>,
) -> Result<Gathered, StoreError> {
    gather_minutes(store, start_ms, cfg.window_minutes(), cfg, only)
}

/// [`gather`] over a window of `minutes` instead of `gate.window` (the
/// second look's longer span).
pub fn gather_minutes(
    store: &Store,
    start_ms: i64,
    minutes: u32,
    cfg: &GateConfig,
    only: Option<&[String]>,
) -> Result<Gathered, StoreError> {
    let start_minute = minute_of(start_ms);
    let window_hour = hour_of(start_ms);
    let first_event = store.first_event_ms()?;
    let history_hours = match first_event {
        Some(first) => window_hour.saturating_sub(hour_of(first)),
        None => 0,
    };
    let baseline_hours = cfg.baseline_hours().min(history_hours);
    let min_hours = u32::try_from(cfg.min_history.as_secs() / 3600).unwrap_or(u32::MAX);
    // The full test needs one complete hour at least, whatever min_history says.
    let cold = baseline_hours < min_hours.max(1);
    let history = ColdStart {
        history_minutes: first_event
            .map(|first| u64::try_from(start_ms.saturating_sub(first) / 60_000).unwrap_or(0))
            .unwrap_or(0),
        min_history_minutes: cfg.min_history.as_secs() / 60,
    };
    if cold && only.is_some() {
        // Between deploys there is no change to attribute: with short
        // history every error the service already had would look new.
        return Ok(Gathered {
            baseline_hours,
            note: Some(format!(
                "not judged: the store holds {history_hours} complete h of history before this window, \
                 spikes between deploys need at least {} h (gate.min_history, and one complete hour)",
                min_hours.max(1)
            )),
            ..Gathered::default()
        });
    }
    let from_hour = window_hour - baseline_hours;

    let mut series = store.window(start_minute, minutes)?;
    if let Some(only) = only {
        let wanted: HashSet<&str> = only.iter().map(String::as_str).collect();
        series.retain(|id, _| wanted.contains(id.as_str()));
    }
    let baseline_requests = store.traffic_hours(from_hour, baseline_hours)?;
    let window_requests = store.traffic_minutes(start_minute, minutes)?;
    let traffic_known = baseline_requests.is_some() && window_requests > 0;
    let (baseline_requests, window_requests) = if traffic_known {
        (baseline_requests, Some(window_requests))
    } else if cold && window_requests > 0 {
        // The new-error rule can still measure impact per request.
        (None, Some(window_requests))
    } else {
        (None, None)
    };

    let mut signatures = Vec::with_capacity(series.len());
    let mut seen_before = Vec::with_capacity(series.len());
    for (id, window) in series {
        if cold {
            let first_seen = store.signature(&id)?.map(|r| r.first_seen_ms);
            seen_before.push(first_seen.is_some_and(|f| f < start_ms));
        }
        let baseline = store.hourly_range(&id, from_hour, baseline_hours)?;
        signatures.push(SignatureWindow {
            baseline: Baseline {
                counts: baseline,
                requests: baseline_requests.clone(),
            },
            window: Window {
                counts: window.counts,
                requests: window_requests,
                // Events that carried no user leave the set empty: unknown.
                distinct_users: (!window.users.is_empty()).then_some(window.users.len() as u64),
            },
            signature: id,
        });
    }
    let note = cold.then(|| {
        format!(
            "cold start: the store holds {history_hours} complete h of history before this window, \
             less than gate.min_history ({} h): signatures never seen before are judged by the \
             new-error rule, known ones against the hours there are",
            min_hours
        )
    });
    Ok(Gathered {
        signatures,
        baseline_hours,
        traffic_known,
        note,
        cold_start: cold.then_some(history),
        seen_before,
    })
}

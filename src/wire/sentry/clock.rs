//! Client clocks, corrected and bounded as Relay does.
//!
//! Session counts are the regression gate's denominator, and a browser DSN is
//! public: whoever holds it can send sessions stamped at any time. Relay's
//! rules (`relay-event-normalization`, the clock drift processor and the
//! session validation) keep a session only when its start is at most 60 s
//! ahead of the receive time and at most 5 days behind it, after correcting
//! the sender's clock with the envelope's `sent_at`: a client whose clock is
//! off by more than 55 minutes has all its times shifted by the difference.
//! A drift below that is left alone (it is within one hour bucket's worth of
//! time-zone-free noise, and correcting it would move honest timestamps).

use serde_json::Value;

use crate::wire::time::parse_timestamp;

/// A session's start may be this far ahead of the (corrected) receive time.
pub const MAX_FUTURE_MS: i64 = 60 * 1000;

/// A session's start may be this far behind the receive time (Relay's
/// `max_session_secs_in_past`): older ones are dropped, not counted.
pub const MAX_SESSION_PAST_MS: i64 = 5 * 24 * 3600 * 1000;

/// Drifts smaller than this are not corrected (Relay: 55 minutes).
pub const MIN_CORRECTED_DRIFT_MS: i64 = 55 * 60 * 1000;

/// The receive time and how far the sender's clock is off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderClock {
    pub received_at_ms: i64,
    /// Added to every sender time: `received - sent_at` when that is at
    /// least [`MIN_CORRECTED_DRIFT_MS`] either way, else 0.
    pub correction_ms: i64,
}

impl SenderClock {
    /// The clock of an envelope whose header says `sent_at` (absent or
    /// unreadable: no correction).
    pub fn new(sent_at: Option<&Value>, received_at_ms: i64) -> Self {
        let drift = sent_at
            .and_then(|v| parse_timestamp(v).ok())
            .map_or(0, |sent| received_at_ms.saturating_sub(sent));
        Self {
            received_at_ms,
            correction_ms: if drift.saturating_abs() >= MIN_CORRECTED_DRIFT_MS {
                drift
            } else {
                0
            },
        }
    }

    /// A sender's session start, corrected for drift, when it is within the
    /// accepted range; `None` drops the session.
    pub fn session_start(&self, ms: i64) -> Option<i64> {
        let corrected = ms.saturating_add(self.correction_ms);
        let earliest = self.received_at_ms.saturating_sub(MAX_SESSION_PAST_MS);
        let latest = self.received_at_ms.saturating_add(MAX_FUTURE_MS);
        (earliest..=latest)
            .contains(&corrected)
            .then_some(corrected)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const NOW: i64 = 1_767_607_200_000; // 2026-01-05T10:00:00Z

    #[test]
    fn starts_outside_the_window_are_dropped() {
        let clock = SenderClock::new(None, NOW);
        assert_eq!(clock.session_start(NOW), Some(NOW));
        assert_eq!(clock.session_start(NOW + 60_000), Some(NOW + 60_000));
        assert_eq!(clock.session_start(NOW + 60_001), None);
        assert_eq!(
            clock.session_start(NOW - MAX_SESSION_PAST_MS),
            Some(NOW - MAX_SESSION_PAST_MS)
        );
        assert_eq!(clock.session_start(NOW - MAX_SESSION_PAST_MS - 1), None);
        assert_eq!(clock.session_start(i64::MAX), None);
        assert_eq!(clock.session_start(i64::MIN), None);
    }

    #[test]
    fn a_large_drift_is_corrected_a_small_one_is_not() {
        // The sender's clock is two hours ahead: its "now" is our now.
        let ahead = SenderClock::new(Some(&json!("2026-01-05T12:00:00Z")), NOW);
        assert_eq!(ahead.correction_ms, -2 * 3_600_000);
        assert_eq!(ahead.session_start(NOW + 2 * 3_600_000), Some(NOW));
        // Ten minutes off: left alone.
        let close = SenderClock::new(Some(&json!("2026-01-05T10:10:00Z")), NOW);
        assert_eq!(close.correction_ms, 0);
        // Unreadable sent_at: no correction.
        assert_eq!(SenderClock::new(Some(&json!("soon")), NOW).correction_ms, 0);
    }
}

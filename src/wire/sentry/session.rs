//! Session counts from `session` and `sessions` items: how many requests
//! (or page loads, or app runs) there were, the traffic denominator the
//! regression gate divides error counts by.
//!
//! - A `session` item is one session update. It counts as one session when
//!   it starts one (`"init": true`); later updates of the same session
//!   (`"status": "exited"`, ...) are not new sessions.
//! - A `sessions` item is server-mode aggregates: per `started` bucket, the
//!   sessions that ended `exited`, `errored`, `abnormal` or `crashed`; their
//!   sum is that bucket's session count.

use serde_json::Value;

use super::clock::SenderClock;
use crate::wire::time::parse_timestamp;

/// Most sessions one aggregate bucket may claim. A server SDK flushes a
/// bucket a minute per process, and a sidecar serves one process: 100,000
/// is over 1,600 requests a second. Without a bound one forged bucket of
/// 10^18 would make every error rate zero and the gate blind.
pub const MAX_SESSIONS_PER_BUCKET: u64 = 100_000;

/// Sessions counted from one `session` or `sessions` payload, as
/// (epoch ms of the start, count) pairs. Malformed payloads and buckets
/// count nothing: the count is a denominator, not evidence.
pub fn session_requests(item_type: &str, payload: &[u8], received_at_ms: i64) -> Vec<(i64, u64)> {
    session_requests_by(item_type, payload, SenderClock::new(None, received_at_ms))
}

/// [`session_requests`] with the sender's clock corrected by the envelope's
/// `sent_at`; sessions starting outside [`SenderClock::session_start`]'s
/// window count nothing, and each bucket at most
/// [`MAX_SESSIONS_PER_BUCKET`].
pub fn session_requests_by(item_type: &str, payload: &[u8], clock: SenderClock) -> Vec<(i64, u64)> {
    let Ok(Value::Object(session)) = serde_json::from_slice::<Value>(payload) else {
        return Vec::new();
    };
    let started = |value: Option<&Value>| match value {
        None => Some(clock.received_at_ms),
        Some(v) => clock.session_start(parse_timestamp(v).ok()?),
    };
    match item_type {
        "session" => {
            let init = session.get("init").and_then(Value::as_bool) == Some(true);
            match started(session.get("started")) {
                Some(at) if init => vec![(at, 1)],
                _ => Vec::new(),
            }
        }
        "sessions" => session
            .get("aggregates")
            .and_then(Value::as_array)
            .map(|buckets| {
                buckets
                    .iter()
                    .filter_map(|bucket| {
                        let count: u64 = ["exited", "errored", "abnormal", "crashed"]
                            .iter()
                            .filter_map(|state| bucket.get(*state).and_then(Value::as_u64))
                            .fold(0, u64::saturating_add)
                            .min(MAX_SESSIONS_PER_BUCKET);
                        let at = started(bucket.get("started"))?;
                        (count > 0).then_some((at, count))
                    })
                    .collect()
            })
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_767_607_200_000;

    #[test]
    fn a_session_counts_once_when_it_starts() {
        let start = br#"{"sid":"a","init":true,"started":"2026-01-05T09:00:00Z","status":"ok"}"#;
        assert_eq!(
            session_requests("session", start, NOW),
            [(NOW - 3_600_000, 1)]
        );
        let update =
            br#"{"sid":"a","init":false,"started":"2026-01-05T09:00:00Z","status":"exited"}"#;
        assert_eq!(session_requests("session", update, NOW), []);
        let no_start = br#"{"sid":"a","init":true}"#;
        assert_eq!(session_requests("session", no_start, NOW), [(NOW, 1)]);
    }

    #[test]
    fn aggregates_sum_every_final_state_per_bucket() {
        let payload = br#"{"aggregates":[
            {"started":"2026-01-05T10:00:00Z","exited":120,"errored":3,"crashed":1},
            {"started":"2026-01-05T09:59:00Z","abnormal":2},
            {"started":"2026-01-05T09:58:00Z"}
        ],"attrs":{"release":"r1"}}"#;
        assert_eq!(
            session_requests("sessions", payload, NOW),
            [(NOW, 124), (NOW - 60_000, 2)]
        );
    }

    #[test]
    fn forged_counts_and_times_are_bounded() {
        let payload = br#"{"aggregates":[
            {"started":"2026-01-05T10:00:00Z","exited":18446744073709551615},
            {"started":"2099-01-01T00:00:00Z","exited":5},
            {"started":"2020-01-01T00:00:00Z","exited":5},
            {"started":"+10000-01-01T00:00:00Z","exited":5}
        ]}"#;
        assert_eq!(
            session_requests("sessions", payload, NOW),
            [(NOW, MAX_SESSIONS_PER_BUCKET)]
        );
        let future = br#"{"sid":"a","init":true,"started":"2026-01-05T10:02:00Z"}"#;
        assert_eq!(session_requests("session", future, NOW), []);
        let old = br#"{"sid":"a","init":true,"started":"2025-12-30T10:00:00Z"}"#;
        assert_eq!(session_requests("session", old, NOW), []);
    }

    #[test]
    fn a_fast_sender_clock_is_corrected_by_sent_at() {
        // The sender's clock is three hours ahead of ours.
        let clock = SenderClock::new(Some(&serde_json::json!("2026-01-05T13:00:00Z")), NOW);
        let start = br#"{"sid":"a","init":true,"started":"2026-01-05T12:59:00Z"}"#;
        assert_eq!(
            session_requests_by("session", start, clock),
            [(NOW - 60_000, 1)]
        );
    }

    #[test]
    fn malformed_payloads_count_nothing() {
        for payload in [&b"nope"[..], b"[]", br#"{"aggregates":"x"}"#] {
            assert_eq!(session_requests("sessions", payload, NOW), []);
            assert_eq!(session_requests("session", payload, NOW), []);
        }
        assert_eq!(session_requests("event", br#"{"init":true}"#, NOW), []);
    }
}

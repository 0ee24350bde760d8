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

use crate::wire::time::parse_timestamp;

/// Sessions counted from one `session` or `sessions` payload, as
/// (epoch ms of the start, count) pairs. Malformed payloads and buckets
/// count nothing: the count is a denominator, not evidence.
pub fn session_requests(item_type: &str, payload: &[u8], received_at_ms: i64) -> Vec<(i64, u64)> {
    let Ok(Value::Object(session)) = serde_json::from_slice::<Value>(payload) else {
        return Vec::new();
    };
    let started = |value: Option<&Value>| {
        value
            .and_then(|v| parse_timestamp(v).ok())
            .unwrap_or(received_at_ms)
    };
    match item_type {
        "session" => {
            let init = session.get("init").and_then(Value::as_bool) == Some(true);
            if init {
                vec![(started(session.get("started")), 1)]
            } else {
                Vec::new()
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
                            .fold(0, u64::saturating_add);
                        (count > 0).then(|| (started(bucket.get("started")), count))
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
    fn malformed_payloads_count_nothing() {
        for payload in [&b"nope"[..], b"[]", br#"{"aggregates":"x"}"#] {
            assert_eq!(session_requests("sessions", payload, NOW), []);
            assert_eq!(session_requests("session", payload, NOW), []);
        }
        assert_eq!(session_requests("event", br#"{"init":true}"#, NOW), []);
    }
}

//! What the fuzz targets share: the receipt every parser is called with and
//! the invariants every parsed event must keep, whatever the input.

use suture::wire::native::Receipt;
use suture::wire::time::{MAX_FUTURE_SKEW_MS, MAX_TIMESTAMP_MS, format_rfc3339};
use suture_actors::Event;

/// A fixed receive time (2026-01-05T10:00:00Z): targets must be
/// deterministic, so no wall clock.
pub const RECEIVED_AT_MS: i64 = 1_767_607_200_000;

/// `ingest.max_event_bytes`' default (Relay's `max_event_size`, 1 MiB): the
/// limit the sidecar applies, so inputs within it must be handled.
pub const MAX_EVENT_BYTES: usize = 1024 * 1024;

/// The receipt of an event from `source`, at [`RECEIVED_AT_MS`].
pub fn receipt(source: &str) -> Receipt<'_> {
    Receipt {
        source,
        received_at_ms: RECEIVED_AT_MS,
        max_event_bytes: MAX_EVENT_BYTES,
    }
}

/// Invariants of an event any wire parser produced: a well-formed id, the
/// source it was given, and a timestamp the API can format and the gate can
/// bucket (validated at the edge: not before the epoch, not after year
/// 9999, not more than the allowed skew ahead of the receive time).
pub fn check_event(event: &Event, source: &str) {
    assert_eq!(event.id.len(), 32, "event id {:?}", event.id);
    assert!(
        event
            .id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "event id {:?} is not lowercase hex",
        event.id
    );
    assert_eq!(event.source, source);
    assert_eq!(event.received_at_ms, RECEIVED_AT_MS);
    assert!(
        (0..=MAX_TIMESTAMP_MS).contains(&event.timestamp_ms),
        "timestamp {} out of range",
        event.timestamp_ms
    );
    assert!(
        event.timestamp_ms <= RECEIVED_AT_MS + MAX_FUTURE_SKEW_MS,
        "timestamp {} ahead of the receive time",
        event.timestamp_ms
    );
    // What the API does with a stored event's time.
    let _ = format_rfc3339(event.timestamp_ms);
}

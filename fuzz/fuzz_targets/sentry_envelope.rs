//! A Sentry envelope body as `POST /api/{id}/envelope/` handles it once the
//! key is checked: the header line as the anonymous path reads it, framing
//! under the default caps, then every `event` and `session(s)` item through
//! its own parser.
#![no_main]

use libfuzzer_sys::fuzz_target;
use suture::config::SentryConfig;
use suture::wire::first_line::decode_first_line;
use suture::wire::sentry::clock::SenderClock;
use suture::wire::sentry::envelope::{MAX_HEADER_LINE, parse_envelope};
use suture::wire::sentry::limits::{FrameError, frame_within};
use suture::wire::sentry::session::MAX_SESSIONS_PER_BUCKET;
use suture::wire::sentry::{parse_event, session_requests_by};
use suture_fuzz::{RECEIVED_AT_MS, check_event, receipt};

fuzz_target!(|body: &[u8]| {
    // The anonymous path reads only the first line, for a `dsn`.
    if let Ok(line) = decode_first_line(body, None, MAX_HEADER_LINE) {
        assert!(line.len() <= MAX_HEADER_LINE);
        assert!(
            body.starts_with(&line),
            "the first line is the body's start"
        );
    }
    let limits = SentryConfig::default().envelope_limits();
    let envelope = match frame_within(body, limits) {
        Ok(envelope) => envelope,
        Err(FrameError::Invalid(_) | FrameError::Limit(_)) => return,
    };
    assert!(envelope.items.len() <= limits.max_items);
    // Below the item cap, the bounded framer frames what the unbounded one does.
    let unbounded = parse_envelope(body).expect("framed with a bound, so framed without");
    assert_eq!(unbounded.items.len(), envelope.items.len());
    let range = body.as_ptr_range();
    let clock = SenderClock::new(envelope.header.get("sent_at"), RECEIVED_AT_MS);
    for item in &envelope.items {
        // (An empty payload may be any empty slice.)
        let payload = item.payload.as_ptr_range();
        assert!(
            item.payload.is_empty() || (range.start <= payload.start && payload.end <= range.end),
            "a payload borrows from the body"
        );
        match item.item_type.as_str() {
            "event" => {
                if let Ok(event) = parse_event(item.payload, envelope.event_id(), receipt("sentry"))
                {
                    check_event(&event, "sentry");
                }
            }
            "session" | "sessions" => {
                for (started, count) in session_requests_by(&item.item_type, item.payload, clock) {
                    assert!((1..=MAX_SESSIONS_PER_BUCKET).contains(&count));
                    assert!(clock.session_start(started - clock.correction_ms).is_some());
                }
            }
            _ => {}
        }
    }
});

//! The legacy `POST /api/{id}/store/` body: event JSON, or base64 (maybe of
//! zlib) of it, decoded with the per-event bound, then parsed as an event.
#![no_main]

use libfuzzer_sys::fuzz_target;
use suture::wire::decode::DecodeError;
use suture::wire::sentry::{decode_store_body, parse_event};
use suture_fuzz::{MAX_EVENT_BYTES, check_event, receipt};

fuzz_target!(|body: &[u8]| {
    let json = match decode_store_body(body, MAX_EVENT_BYTES) {
        Ok(json) => json,
        Err(DecodeError::TooLarge { limit }) => {
            assert_eq!(limit, MAX_EVENT_BYTES);
            return;
        }
        Err(_) => return,
    };
    assert!(json.len() <= MAX_EVENT_BYTES);
    if let Ok(event) = parse_event(&json, None, receipt("sentry")) {
        check_event(&event, "sentry");
    }
});

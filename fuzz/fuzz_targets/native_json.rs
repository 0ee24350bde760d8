//! Suture's native event JSON as `POST /v1/events` parses it: one object or
//! an array of them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use suture::wire::native::parse_body;
use suture_fuzz::{check_event, receipt};

fuzz_target!(|body: &[u8]| {
    if let Ok(events) = parse_body(body, receipt("http")) {
        assert!(!events.is_empty(), "an accepted body holds an event");
        for event in &events {
            check_event(event, "http");
        }
    }
});

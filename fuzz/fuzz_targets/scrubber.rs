//! The scrubber's promise: no planted secret survives, whatever text
//! surrounds it. The input supplies the text between secrets and picks
//! which known secrets (every kind the scrubber claims, from
//! `scrub::planted::PLANTED`) go where, and with which separator around
//! them; the scrubbed text must hold none of their fragments, and scrubbing
//! it again must change nothing.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use suture_actors::domain::scrub::Scrubber;
use suture_actors::domain::scrub::planted::PLANTED;

/// What a secret can sit between: a word boundary on its side, as in the
/// unit tests' property (`xsk-...` glued to a word is another token).
const SEPARATORS: [&str; 10] = [" ", "\n", "\t", " \"", "' ", " (", ") ", ", ", " <", "> "];

#[derive(Debug, Arbitrary)]
struct Segment {
    text: String,
    secret: u8,
    open: u8,
    close: u8,
}

fuzz_target!(|segments: Vec<Segment>| {
    thread_local! {
        static SCRUBBER: Scrubber = Scrubber::builtin();
    }
    let mut text = String::new();
    let mut planted = Vec::new();
    for segment in &segments {
        let secret = PLANTED[usize::from(segment.secret) % PLANTED.len()];
        text.push_str(&segment.text);
        text.push_str(SEPARATORS[usize::from(segment.open) % SEPARATORS.len()]);
        text.push_str(secret.secret);
        text.push_str(SEPARATORS[usize::from(segment.close) % SEPARATORS.len()]);
        planted.push(secret);
    }
    SCRUBBER.with(|scrubber| {
        let out = scrubber.scrub(&text);
        for secret in &planted {
            // A fragment the input wrote itself is not a planted one.
            if segments.iter().any(|s| s.text.contains(secret.fragment)) {
                continue;
            }
            assert!(
                !out.contains(secret.fragment),
                "{:?} survived in {out:?}",
                secret.fragment
            );
        }
        assert_eq!(
            scrubber.scrub(&out),
            out,
            "scrubbing twice changed the text"
        );
    });
});

//! Stack-trace text (V8, Firefox, Python, JVM, Go) as senders give it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use suture_actors::domain::stack::{guess_in_app, parse_stack};

fuzz_target!(|text: &str| {
    let parsed = parse_stack(text);
    for frame in &parsed.frames {
        let _ = guess_in_app(frame);
        // Frames borrow their text from the stack.
        for part in [&frame.filename, &frame.function, &frame.module]
            .into_iter()
            .flatten()
        {
            assert!(text.contains(part.as_str()), "{part:?} is not in the stack");
        }
    }
    if let Some(message) = &parsed.message {
        assert!(text.contains(message.as_str()));
    }
});

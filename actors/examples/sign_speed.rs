//! Measures `Signer::sign` on a typical event: a 117-character message with
//! five kinds of ids to mask and 12 frames (8 in-app). Also the same event
//! without frames (message-based) and with a message that has nothing to
//! mask. Run with `cargo run --release --example sign_speed`; prints the
//! median ns/op of several runs.

use std::hint::black_box;
use std::time::Instant;

use suture_actors::event::{Event, Frame};
use suture_actors::signature::{SignatureConfig, Signer};

const RUNS: usize = 9;
const ITERATIONS: u32 = 20_000;

fn frame(file: &str, function: &str, line: u32) -> Frame {
    Frame {
        filename: Some(file.to_owned()),
        function: Some(function.to_owned()),
        lineno: Some(line),
        colno: Some(17),
        ..Frame::default()
    }
}

fn typical_event() -> Event {
    let message = "Cannot read properties of undefined (reading 'email') for user_48213 \
                   order 7781 at 2026-01-05T12:34:56Z from 10.0.3.7";
    let frames = vec![
        frame(
            "node:internal/process/task_queues",
            "processTicksAndRejections",
            95,
        ),
        frame(
            "/srv/app/node_modules/express/lib/router/layer.js",
            "Layer.handle",
            95,
        ),
        frame(
            "/srv/app/node_modules/express/lib/router/index.js",
            "next",
            280,
        ),
        frame(
            "/srv/app/node_modules/express/lib/router/route.js",
            "Route.dispatch",
            114,
        ),
        frame("/srv/app/src/server.js", "Object.<anonymous>", 12),
        frame("/srv/app/src/middleware/auth.js", "async authenticate", 40),
        frame(
            "/srv/app/src/routes/orders.js",
            "Router.handle [as handle_request]",
            77,
        ),
        frame(
            "/srv/app/src/controllers/orders.js",
            "OrdersController.show",
            51,
        ),
        frame("/srv/app/src/services/orders.js", "loadOrder", 88),
        frame("/srv/app/src/services/users.js", "getUser", 23),
        frame("/srv/app/src/services/users.js", "getUser", 23),
        frame("/srv/app/src/lib/format.js", "formatEmail", 9),
    ];
    Event {
        exception_type: Some("TypeError".to_owned()),
        message: message.to_owned(),
        frames,
        ..Event::default()
    }
}

fn median_ns(signer: &Signer, event: &Event) -> f64 {
    let mut runs: Vec<f64> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..ITERATIONS {
                black_box(signer.sign(black_box(event)));
            }
            start.elapsed().as_nanos() as f64 / f64::from(ITERATIONS)
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    runs[RUNS / 2]
}

fn main() {
    let signer = Signer::new(&SignatureConfig::default()).expect("default config compiles");
    let event = typical_event();
    println!("message: {} chars", event.message.chars().count());
    println!("title:   {}", signer.sign(&event).title);
    println!(
        "frames-based sign:   {:.0} ns/op (median of {RUNS} runs x {ITERATIONS})",
        median_ns(&signer, &event)
    );
    let clean = Event {
        message: "Cannot read properties of undefined while rendering the order summary for the \
                  current customer in the checkout view"
            .to_owned(),
        ..event.clone()
    };
    println!(
        "  with a clean message: {:.0} ns/op",
        median_ns(&signer, &clean)
    );
    let message_only = Event {
        frames: Vec::new(),
        ..event
    };
    println!(
        "message-based sign:  {:.0} ns/op",
        median_ns(&signer, &message_only)
    );
}

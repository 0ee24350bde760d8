//! Measures `Signer::sign` on typical events:
//! - frames-based: a 117-character message with five kinds of ids to mask
//!   and 12 structured frames (8 in-app); the same with a message that has
//!   nothing to mask;
//! - message-based: the same event without frames;
//! - a browser event whose frames come only from a raw V8 `error.stack`
//!   string, and a Python traceback string (`raw_stack`, no frames);
//! - cold: frames-based, but every event is a new group (each misses the
//!   signer's caches of normalized frames and of titles);
//! - log lines: message-only events as loggers send them (GELF), 4,096
//!   distinct lines of 16 kinds with names, numbers and addresses in them,
//!   signed by their learned templates (steady state: the templates are
//!   learned in the first pass); and the worst case of learning, every line
//!   a new kind (each run starts with no templates). These print lines/s.
//!
//! Run with `cargo run --release -p suture-actors --example sign_speed`;
//! prints the median ns/op of several runs. `-- mask` also times
//! `Signer::mask` alone (including a 4 KiB worst case); `-- only <word>`
//! runs only the cases whose label has `<word>` (for profiling).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use suture_actors::domain::event::{Event, Frame};
use suture_actors::domain::signature::{SignatureConfig, Signer};
use suture_actors::domain::template::TemplateSet;

const RUNS: usize = 9;
const ITERATIONS: u32 = 20_000;

/// Distinct groups cycled through by the cold case: more than either cache
/// of the signer holds, so every event misses both.
const COLD_GROUPS: usize = 8192;

const TYPICAL_MESSAGE: &str = "Cannot read properties of undefined (reading 'email') for \
                               user_48213 order 7781 at 2026-01-05T12:34:56Z from 10.0.3.7";

const CLEAN_MESSAGE: &str = "Cannot read properties of undefined while rendering the order \
                             summary for the current customer in the checkout view";

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
        message: TYPICAL_MESSAGE.to_owned(),
        frames,
        ..Event::default()
    }
}

/// What a browser SDK sends for an uncaught error: `error.stack` only (V8
/// format: the header, then the crashing frame first), with a minified
/// bundle and a vendor chunk.
fn browser_event() -> Event {
    let stack = "TypeError: Cannot read properties of undefined (reading 'price')\n    \
        at formatPrice (https://shop.example.com/static/js/main.3f2a9c1b.js:2:10443)\n    \
        at CartLine (https://shop.example.com/static/js/main.3f2a9c1b.js:2:11872)\n    \
        at renderWithHooks (https://shop.example.com/static/js/vendors~main.8c1d2e3f.chunk.js:2:112340)\n    \
        at updateFunctionComponent (https://shop.example.com/static/js/vendors~main.8c1d2e3f.chunk.js:2:115021)\n    \
        at beginWork (https://shop.example.com/static/js/vendors~main.8c1d2e3f.chunk.js:2:131220)\n    \
        at HTMLUnknownElement.callCallback (https://shop.example.com/static/js/vendors~main.8c1d2e3f.chunk.js:2:69112)\n    \
        at Object.invokeGuardedCallbackDev (https://shop.example.com/static/js/vendors~main.8c1d2e3f.chunk.js:2:69461)\n    \
        at invokeGuardedCallback (https://shop.example.com/static/js/vendors~main.8c1d2e3f.chunk.js:2:69885)\n    \
        at Cart (https://shop.example.com/static/js/main.3f2a9c1b.js:2:14002)\n    \
        at async Object.loadCart [as load] (https://shop.example.com/static/js/main.3f2a9c1b.js:2:9121)";
    Event {
        message: "Cannot read properties of undefined (reading 'price')".to_owned(),
        raw_stack: Some(stack.to_owned()),
        ..Event::default()
    }
}

/// A Python traceback as a logging handler sends it (`raw_stack` only, the
/// type and message on its last line).
fn python_event() -> Event {
    let traceback = r#"Traceback (most recent call last):
  File "/srv/shop/venv/lib/python3.12/site-packages/django/core/handlers/exception.py", line 55, in inner
    response = get_response(request)
               ^^^^^^^^^^^^^^^^^^^^^
  File "/srv/shop/venv/lib/python3.12/site-packages/django/core/handlers/base.py", line 197, in _get_response
    response = wrapped_callback(request, *callback_args, **callback_kwargs)
               ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "/srv/shop/app/orders/views.py", line 42, in checkout
    order = services.place_order(request.user, cart_id)
            ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "/srv/shop/app/orders/services.py", line 118, in place_order
    payment = gateway.charge(order.total, user.payment_token)
              ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "/srv/shop/app/payments/gateway.py", line 77, in charge
    raise PaymentDeclined(f"card declined for order {order_id}: code {code}")
app.payments.errors.PaymentDeclined: card declined for order 99812: code 51
"#;
    Event {
        raw_stack: Some(traceback.to_owned()),
        ..Event::default()
    }
}

/// The worst case of masking: a message at the length limit (4 KiB) made
/// of ids, numbers, addresses, times, quotes, durations and sizes (from a
/// fixed pseudo-random sequence, so every run masks the same text).
fn long_message() -> String {
    let mut message = String::new();
    let mut state: u64 = 12345;
    while message.len() < 4000 {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let n = state >> 33;
        let word = match n % 12 {
            0 => format!("user_{}", n % 100_000),
            1 => format!("{}", n % 1000),
            2 => format!("{state:x}"),
            3 => format!(
                "{}.{}.{}.{}",
                n % 256,
                (n >> 8) % 256,
                (n >> 16) % 256,
                (n >> 24) % 256
            ),
            4 => format!(
                "2026-0{}-1{}T1{}:{}{}:00Z",
                n % 9 + 1,
                n % 9,
                n % 9,
                n % 6,
                n % 9
            ),
            5 => format!("'{}'", n % 77),
            6 => format!("{}ms", n % 5000),
            7 => format!("{} Jan 2026", n % 28 + 1),
            8 => format!("{}:{:02}:{:02}", n % 24, n % 60, (n >> 7) % 60),
            9 => "failed".to_owned(),
            10 => format!("{}KB", n % 999),
            _ => "connection reset by peer".to_owned(),
        };
        message.push_str(&word);
        message.push(' ');
    }
    message
}

/// The typical event as `count` distinct groups (a different crashing
/// function each).
fn cold_events(count: usize) -> Vec<Event> {
    let event = typical_event();
    (0..count)
        .map(|index| {
            let mut variant = event.clone();
            let crash = variant.frames.last_mut().expect("frames");
            crash.function = Some(format!("formatEmail{index}x"));
            variant
        })
        .collect()
}

/// Kinds of log line: `{w}` is a name (no digit: only learning finds it
/// varies), `{n}` a number, `{ip}` an address.
const LOG_KINDS: &[&str] = &[
    "Connection closed by {w} port {n}",
    "Failed password for {w} from {ip} port {n} ssh2",
    "session opened for user {w} by LOGIN(uid={n})",
    "disk {w} is {n} percent full on host {w}",
    "payment declined for customer {w} with card ending {n}",
    "upstream {w} did not answer within {n} ms",
    "cache miss for key {w} in region {w}",
    "job {w} failed after {n} retries",
    "Received block blk_{n} of size {n} from {ip}",
    "PacketResponder {n} for block blk_{n} terminating",
    "user {w} is not allowed to run {w} on this host",
    "could not resolve host {w}: temporary failure in name resolution",
    "worker {w} restarted after a crash in module {w}",
    "authentication failure; logname= uid={n} euid={n} tty=ssh ruser= rhost={ip} user={w}",
    "mod_jk child workerEnv in error state {n}",
    "Invalid user {w} from {ip}",
];

const NAMES: &[&str] = &[
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory",
    "oscar", "peggy", "trent", "victor", "walter",
];

/// `count` log lines of [`LOG_KINDS`], filled from a fixed pseudo-random
/// sequence (every run signs the same lines).
fn log_lines(count: usize) -> Vec<Event> {
    let mut state: u64 = 42;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        state >> 33
    };
    (0..count)
        .map(|index| {
            let mut line = String::new();
            let mut rest = LOG_KINDS[index % LOG_KINDS.len()];
            while let Some((head, tail)) = rest.split_once('{') {
                line.push_str(head);
                let (slot, tail) = tail.split_once('}').unwrap_or((tail, ""));
                let n = next();
                match slot {
                    "w" => line.push_str(NAMES[n as usize % NAMES.len()]),
                    "n" => line.push_str(&(n % 100_000).to_string()),
                    _ => line.push_str(&format!(
                        "10.{}.{}.{}",
                        n % 256,
                        (n >> 8) % 256,
                        (n >> 16) % 256
                    )),
                }
                rest = tail;
            }
            line.push_str(rest);
            Event {
                message: line,
                ..Event::default()
            }
        })
        .collect()
}

/// `count` lines that are each a kind of their own: distinct leading words
/// (letters only, so nothing is masked) on one shape.
fn new_kinds(count: usize) -> Vec<Event> {
    (0..count)
        .map(|index| {
            let word: String = (0..4u32)
                .map(|place| char::from(b'a' + (index / 26usize.pow(place) % 26) as u8))
                .collect();
            Event {
                message: format!("{word} failed while {word} read the {word} queue"),
                ..Event::default()
            }
        })
        .collect()
}

/// Median ns per call of `sign` over `events`, cycled.
fn median_ns(signer: &Signer, events: &[Event]) -> f64 {
    median(|| {
        for index in 0..ITERATIONS as usize {
            black_box(signer.sign(black_box(&events[index % events.len()])));
        }
    })
}

/// Median over [`RUNS`] of the ns per iteration of `run`, which does
/// [`ITERATIONS`] of them.
fn median(mut run: impl FnMut()) -> f64 {
    let mut runs: Vec<f64> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            run();
            start.elapsed().as_nanos() as f64 / f64::from(ITERATIONS)
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    runs[RUNS / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let only = args
        .iter()
        .position(|arg| arg == "only")
        .and_then(|index| args.get(index + 1));
    let run = |label: &str, measure: &dyn Fn() -> f64| {
        if only.is_none_or(|word| label.contains(word.as_str())) {
            println!("{label:42} {:6.0} ns/op", measure());
        }
    };
    let run_lines = |label: &str, measure: &dyn Fn() -> f64| {
        if only.is_none_or(|word| label.contains(word.as_str())) {
            let ns = measure();
            println!(
                "{label:42} {ns:6.0} ns/op  {:.0} lines/s",
                1e9 / ns.max(f64::EPSILON)
            );
        }
    };

    let signer = Signer::new(&SignatureConfig::default()).expect("default config compiles");
    let event = typical_event();
    let clean = Event {
        message: CLEAN_MESSAGE.to_owned(),
        ..event.clone()
    };
    let cold = cold_events(COLD_GROUPS);
    let message_only = Event {
        frames: Vec::new(),
        ..event.clone()
    };
    let (browser, python) = (browser_event(), python_event());
    println!("message: {} chars", event.message.chars().count());
    println!("title:   {}", signer.sign(&event).title);
    println!("browser: {}", signer.sign(&browser).title);
    println!("python:  {}", signer.sign(&python).title);
    println!("(median of {RUNS} runs x {ITERATIONS})");

    run("frames-based sign", &|| {
        median_ns(&signer, std::slice::from_ref(&event))
    });
    run("  with a clean message", &|| {
        median_ns(&signer, std::slice::from_ref(&clean))
    });
    run("  every event a new group (cache misses)", &|| {
        median_ns(&signer, &cold)
    });
    run("message-based sign", &|| {
        median_ns(&signer, std::slice::from_ref(&message_only))
    });
    run("raw V8 stack (browser) sign", &|| {
        median_ns(&signer, std::slice::from_ref(&browser))
    });
    run("Python traceback sign", &|| {
        median_ns(&signer, std::slice::from_ref(&python))
    });
    // The lines are made only when their case runs, so `only` cases of the
    // other kinds measure the same process as before these were added.
    run_lines("log lines, learned templates", &|| {
        median_ns(&signer, &log_lines(4096))
    });
    run_lines("log lines, every line a new kind", &|| {
        let kinds = new_kinds(ITERATIONS as usize);
        median(|| {
            let templates = signer
                .templates()
                .map(|t| Arc::new(TemplateSet::new(t.config().clone())));
            let signer = signer.clone().with_templates(templates);
            for event in &kinds {
                black_box(signer.sign(black_box(event)));
            }
        })
    });
    if args.iter().any(|arg| arg == "mask") {
        for (label, message) in [
            ("mask, typical message", TYPICAL_MESSAGE),
            ("mask, clean message", CLEAN_MESSAGE),
        ] {
            run(label, &|| {
                median(|| {
                    for _ in 0..ITERATIONS {
                        black_box(signer.mask(black_box(message)));
                    }
                })
            });
        }
        let long = long_message();
        run("mask, 4 KiB message full of ids", &|| {
            // Fewer iterations: each is thousands of times longer.
            median(|| {
                for _ in 0..ITERATIONS / 100 {
                    black_box(signer.mask(black_box(&long)));
                }
            }) * 100.0
        });
    }
}

//! Writes a synthetic replay stream (see `suture::replay::generate`) to stdout.
//!
//! `cargo run --release --example replay_stream -- [days] [events_per_second] [seed] > week.jsonl`
//! then `suture replay week.jsonl`. The deploys' truth goes to stderr.

use std::io::{BufWriter, Write};

use suture::replay::generate::{StreamSpec, write_stream};

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut spec = StreamSpec::default();
    if let Some(days) = args.first().and_then(|a| a.parse().ok()) {
        spec.days = days;
    }
    if let Some(rate) = args.get(1).and_then(|a| a.parse().ok()) {
        spec.events_per_second = rate;
    }
    if let Some(seed) = args.get(2).and_then(|a| a.parse().ok()) {
        spec.seed = seed;
    }
    if let Ok(small) = std::env::var("SMALL") {
        // The replay test's spec: SMALL=<seed>.
        spec = StreamSpec {
            seed: small.parse().unwrap_or(1),
            days: 4,
            events_per_second: 0.5,
            signatures: 12,
            requests_per_minute: 3_000,
            deploys: 6,
            first_deploy_hours: 30,
            new_error_per_minute: 0.5,
            multiply_by: 5.0,
            frailty_shape: 50.0,
            ..StreamSpec::default()
        };
    }
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 20, stdout.lock());
    let (truths, lines) = write_stream(&spec, &mut out)?;
    out.flush()?;
    for t in truths {
        eprintln!("{} at {}: {:?}", t.revision, t.at_ms, t.injected);
    }
    eprintln!("{lines} lines");
    Ok(())
}

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
        // The replay tests' stream: SMALL=<seed>.
        spec = StreamSpec::small(small.parse().unwrap_or(1));
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

//! Store commit and flush cost by group size, without HTTP or actors.
//!
//! `cargo run --release -p suture-actors --example commit_speed`
//! Prints, per group size, the median time to write a group and to flush it,
//! and the events/s a single writer could sustain doing both in turn.

use std::time::{Duration, Instant};

use suture_actors::config::StoreConfig;
use suture_actors::domain::event::{Event, new_id};
use suture_actors::domain::signature::{Signature, SignatureBasis};
use suture_actors::store::{RecordCache, SignedEvent, Store};

fn event(i: usize) -> SignedEvent {
    let signature = format!("{:016x}", i % 40);
    SignedEvent {
        event: Event {
            id: new_id(),
            received_at_ms: suture_actors::clock::now_ms(),
            timestamp_ms: suture_actors::clock::now_ms(),
            exception_type: Some("TypeError".into()),
            message: format!("Cannot read properties of undefined (reading 'id') for user {i}"),
            raw_stack: Some(
                "TypeError: x\n    at render (https://app.example.com/static/main.js:10:5)\n"
                    .repeat(4),
            ),
            release: Some("web@1.4.2".into()),
            source: "bench".into(),
            ..Event::default()
        },
        signature: Signature {
            id: signature.clone(),
            title: signature,
            culprit: None,
            basis: SignatureBasis::Message,
        },
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&StoreConfig {
        path: dir.path().join("data"),
        ..StoreConfig::default()
    })
    .expect("store");
    let mut cache = RecordCache::default();
    let mut n = 0;
    println!(
        "{:>6} {:>12} {:>12} {:>14}",
        "group", "write p50", "flush p50", "events/s"
    );
    for group in [1usize, 8, 32, 128, 512] {
        let (mut writes, mut flushes) = (Vec::new(), Vec::new());
        for _ in 0..200 {
            let events: Vec<_> = (0..group)
                .map(|_| {
                    n += 1;
                    event(n)
                })
                .collect();
            let t = Instant::now();
            store
                .commit(&events, suture_actors::clock::now_ms(), &mut cache)
                .expect("commit");
            writes.push(t.elapsed());
            let t = Instant::now();
            store.flush().await.expect("flush");
            flushes.push(t.elapsed());
        }
        let (w, f) = (median(writes), median(flushes));
        let rate = group as f64 / (w + f).as_secs_f64();
        println!("{group:>6} {w:>12.2?} {f:>12.2?} {rate:>14.0}");
    }
}

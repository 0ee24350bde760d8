//! The UDP listener's path: datagrams, some of them GELF chunks fed to the
//! reassembler (with time passing between them), every whole message
//! (a plain datagram or a reassembled one) parsed as GELF or native JSON.
//!
//! Checked besides "no panic": the reassembler never holds more than its
//! memory cap, a completed message is exactly its chunks' payloads in
//! sequence order, and once every message has expired nothing is held.
#![no_main]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use suture::wire::datagram::{Datagram, parse_datagram};
use suture::wire::gelf::GelfRules;
use suture::wire::gelf::chunks::{CHUNK_MAGIC, ChunkLimits, ChunkOutcome, Reassembler};
use suture_fuzz::{check_event, receipt};

const EXPIRY: Duration = Duration::from_secs(5);

#[derive(Debug, Arbitrary)]
enum Op {
    /// A chunk of one of a few message ids (so they collide).
    Chunk {
        id: u8,
        seq: u8,
        count: u8,
        payload: Vec<u8>,
    },
    /// Any datagram, chunk magic or not, as it came off the socket.
    Raw(Vec<u8>),
    /// Time passes (milliseconds).
    Wait(u16),
    /// The listener's periodic expiry sweep.
    Expire,
}

#[derive(Debug, Arbitrary)]
struct Input {
    /// The memory cap in KiB (small, so the cap is reached).
    memory_kib: u8,
    max_level: u8,
    accept_stack_traces: bool,
    ops: Vec<Op>,
}

fuzz_target!(|input: Input| {
    let limits = ChunkLimits {
        expiry: EXPIRY,
        memory_bytes: usize::from(input.memory_kib) * 1024,
    };
    let rules = GelfRules {
        max_level: input.max_level % 8,
        accept_stack_traces: input.accept_stack_traces,
    };
    let start = Instant::now();
    let mut now = start;
    let mut reassembler = Reassembler::new(limits, now);
    // The payload last stored for each (id, count) and sequence number.
    let mut stored: HashMap<([u8; 8], u8), HashMap<u8, Vec<u8>>> = HashMap::new();
    for op in input.ops {
        let datagram = match op {
            Op::Chunk {
                id,
                seq,
                count,
                payload,
            } => {
                let mut datagram = CHUNK_MAGIC.to_vec();
                datagram.extend_from_slice(&[id % 4; 8]);
                datagram.extend_from_slice(&[seq, count]);
                datagram.extend_from_slice(&payload);
                datagram
            }
            Op::Raw(datagram) => datagram,
            Op::Wait(ms) => {
                now += Duration::from_millis(u64::from(ms));
                continue;
            }
            Op::Expire => {
                reassembler.expire(now);
                assert!(reassembler.held_bytes() <= limits.memory_bytes);
                continue;
            }
        };
        if !datagram.starts_with(&CHUNK_MAGIC) {
            parse(&datagram, rules);
            continue;
        }
        let outcome = reassembler.push(&datagram, now);
        assert!(reassembler.held_bytes() <= limits.memory_bytes);
        let header = (
            datagram
                .get(2..10)
                .and_then(|id| <[u8; 8]>::try_from(id).ok()),
            datagram.get(10),
            datagram.get(11),
        );
        let (Some(id), Some(&seq), Some(&count)) = header else {
            assert_eq!(outcome, ChunkOutcome::Dropped("bad_chunk"));
            continue;
        };
        let payload = &datagram[12..];
        match outcome {
            ChunkOutcome::Pending => {
                stored
                    .entry((id, count))
                    .or_default()
                    .insert(seq, payload.to_vec());
            }
            ChunkOutcome::Complete(message) => {
                let mut slots = stored.remove(&(id, count)).unwrap_or_default();
                slots.insert(seq, payload.to_vec());
                let expected: Vec<u8> = (0..count)
                    .flat_map(|s| slots.remove(&s).expect("every chunk was stored"))
                    .collect();
                assert_eq!(message, expected, "reassembled out of order or mixed");
                parse(&message, rules);
            }
            ChunkOutcome::Dropped(_) => {}
        }
    }
    // Long after the last chunk, every incomplete message has expired.
    now += EXPIRY + Duration::from_secs(1);
    reassembler.expire(now);
    assert_eq!(
        reassembler.held_bytes(),
        0,
        "memory still counted after expiry"
    );
});

fn parse(message: &[u8], rules: GelfRules) {
    if let Ok(Datagram::Events(events)) = parse_datagram(message, rules, receipt("udp")) {
        assert!(!events.is_empty());
        for event in &events {
            let source = if event.source == "gelf" {
                "gelf"
            } else {
                "udp"
            };
            check_event(event, source);
        }
    }
}

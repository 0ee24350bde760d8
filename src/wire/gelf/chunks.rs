//! Reassembly of chunked GELF datagrams.
//!
//! A chunk is `1e 0f`, an 8-byte message id, a sequence number and a
//! sequence count (at most 128), then a slice of the message. Graylog drops
//! a message whose chunks have not all arrived within 5 seconds; so does
//! this. Memory is bounded: chunks waiting for their siblings take at most
//! `memory_bytes`, and a chunk that would pass the cap is dropped with its
//! whole message (a sender cannot make the sidecar hold more).

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The two magic bytes that start a chunk.
pub const CHUNK_MAGIC: [u8; 2] = [0x1e, 0x0f];
/// GELF's most chunks per message.
pub const MAX_CHUNKS: u8 = 128;
/// Magic, message id, sequence number, sequence count.
const HEADER_LEN: usize = 12;
/// How often expired messages are swept, at most.
const SWEEP_EVERY: Duration = Duration::from_millis(250);

/// What a chunk did.
#[derive(Debug, PartialEq, Eq)]
pub enum ChunkOutcome {
    /// The last missing chunk arrived: the whole message, in order.
    Complete(Vec<u8>),
    /// Stored; siblings still missing.
    Pending,
    /// Dropped, with a reason for the metric.
    Dropped(&'static str),
}

/// The configured bounds.
#[derive(Debug, Clone, Copy)]
pub struct ChunkLimits {
    pub expiry: Duration,
    pub memory_bytes: usize,
}

struct Partial {
    first_at: Instant,
    chunks: Vec<Option<Vec<u8>>>,
    received: usize,
    bytes: usize,
}

/// Chunks waiting for their siblings, by message id.
pub struct Reassembler {
    limits: ChunkLimits,
    messages: HashMap<[u8; 8], Partial>,
    bytes: usize,
    last_sweep: Instant,
}

impl Reassembler {
    pub fn new(limits: ChunkLimits, now: Instant) -> Self {
        Self {
            limits,
            messages: HashMap::new(),
            bytes: 0,
            last_sweep: now,
        }
    }

    /// Bytes of chunks held.
    pub fn held_bytes(&self) -> usize {
        self.bytes
    }

    /// Takes one chunk datagram (starting with [`CHUNK_MAGIC`]).
    pub fn push(&mut self, datagram: &[u8], now: Instant) -> ChunkOutcome {
        let (Some(id), Some(&seq), Some(&count), Some(payload)) = (
            datagram
                .get(2..10)
                .and_then(|id| <[u8; 8]>::try_from(id).ok()),
            datagram.get(10),
            datagram.get(11),
            datagram.get(HEADER_LEN..),
        ) else {
            return ChunkOutcome::Dropped("bad_chunk");
        };
        if count == 0 || count > MAX_CHUNKS || seq >= count {
            return ChunkOutcome::Dropped("bad_chunk");
        }
        if count == 1 {
            return ChunkOutcome::Complete(payload.to_vec());
        }
        if self.bytes + payload.len() > self.limits.memory_bytes {
            self.expire(now);
        }
        if self.bytes + payload.len() > self.limits.memory_bytes {
            self.remove(&id);
            return ChunkOutcome::Dropped("memory_cap");
        }
        let partial = self.messages.entry(id).or_insert_with(|| Partial {
            first_at: now,
            chunks: vec![None; usize::from(count)],
            received: 0,
            bytes: 0,
        });
        if partial.chunks.len() != usize::from(count) {
            self.remove(&id);
            return ChunkOutcome::Dropped("bad_chunk");
        }
        let Some(slot) = partial.chunks.get_mut(usize::from(seq)) else {
            return ChunkOutcome::Dropped("bad_chunk");
        };
        if slot.is_some() {
            return ChunkOutcome::Dropped("duplicate_chunk");
        }
        *slot = Some(payload.to_vec());
        partial.received += 1;
        partial.bytes += payload.len();
        self.bytes += payload.len();
        if partial.received < partial.chunks.len() {
            return ChunkOutcome::Pending;
        }
        let Some(done) = self.remove(&id) else {
            return ChunkOutcome::Dropped("bad_chunk");
        };
        let mut message = Vec::with_capacity(done.bytes);
        for chunk in done.chunks.into_iter().flatten() {
            message.extend_from_slice(&chunk);
        }
        ChunkOutcome::Complete(message)
    }

    /// Drops messages older than the expiry; returns how many. Cheap to
    /// call often: it sweeps at most every 250 ms.
    pub fn expire(&mut self, now: Instant) -> usize {
        if now.saturating_duration_since(self.last_sweep) < SWEEP_EVERY
            && self.bytes < self.limits.memory_bytes
        {
            return 0;
        }
        self.last_sweep = now;
        let expiry = self.limits.expiry;
        let expired: Vec<[u8; 8]> = self
            .messages
            .iter()
            .filter(|(_, p)| now.saturating_duration_since(p.first_at) >= expiry)
            .map(|(id, _)| *id)
            .collect();
        for id in &expired {
            self.remove(id);
        }
        expired.len()
    }

    fn remove(&mut self, id: &[u8; 8]) -> Option<Partial> {
        let partial = self.messages.remove(id)?;
        self.bytes = self.bytes.saturating_sub(partial.bytes);
        Some(partial)
    }
}

/// Splits `message` into chunk datagrams of at most `size` payload bytes
/// each (for tests and tools; Suture itself only receives chunks).
pub fn chunk(message: &[u8], id: [u8; 8], size: usize) -> Vec<Vec<u8>> {
    let pieces: Vec<&[u8]> = message.chunks(size.max(1)).collect();
    let count = u8::try_from(pieces.len()).unwrap_or(u8::MAX);
    pieces
        .iter()
        .enumerate()
        .map(|(seq, piece)| {
            let mut datagram = Vec::with_capacity(HEADER_LEN + piece.len());
            datagram.extend_from_slice(&CHUNK_MAGIC);
            datagram.extend_from_slice(&id);
            datagram.push(u8::try_from(seq).unwrap_or(u8::MAX));
            datagram.push(count);
            datagram.extend_from_slice(piece);
            datagram
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: ChunkLimits = ChunkLimits {
        expiry: Duration::from_secs(5),
        memory_bytes: 1 << 20,
    };

    fn message(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    #[test]
    fn out_of_order_chunks_reassemble() {
        let now = Instant::now();
        let mut r = Reassembler::new(LIMITS, now);
        let data = message(10_000);
        let mut chunks = chunk(&data, *b"msg-0001", 1000);
        chunks.reverse();
        chunks.swap(2, 7);
        let last = chunks.pop().expect("chunks");
        for c in &chunks {
            assert_eq!(r.push(c, now), ChunkOutcome::Pending);
        }
        assert_eq!(r.push(&last, now), ChunkOutcome::Complete(data));
        assert_eq!(r.held_bytes(), 0);
    }

    #[test]
    fn interleaved_messages_and_a_single_chunk() {
        let now = Instant::now();
        let mut r = Reassembler::new(LIMITS, now);
        let (a, b) = (message(300), message(500));
        let ca = chunk(&a, *b"aaaaaaaa", 100);
        let cb = chunk(&b, *b"bbbbbbbb", 100);
        let mut done = Vec::new();
        for i in 0..cb.len() {
            for c in [ca.get(i), cb.get(i)].into_iter().flatten() {
                if let ChunkOutcome::Complete(m) = r.push(c, now) {
                    done.push(m);
                }
            }
        }
        assert_eq!(done, vec![a, b]);
        let single = chunk(b"{}", *b"cccccccc", 100);
        assert_eq!(
            r.push(&single[0], now),
            ChunkOutcome::Complete(b"{}".to_vec())
        );
    }

    #[test]
    fn duplicates_are_dropped_and_do_not_complete() {
        let now = Instant::now();
        let mut r = Reassembler::new(LIMITS, now);
        let chunks = chunk(&message(300), *b"dupdupdu", 100);
        assert_eq!(r.push(&chunks[0], now), ChunkOutcome::Pending);
        assert_eq!(
            r.push(&chunks[0], now),
            ChunkOutcome::Dropped("duplicate_chunk")
        );
        assert_eq!(r.push(&chunks[1], now), ChunkOutcome::Pending);
        assert!(matches!(r.push(&chunks[2], now), ChunkOutcome::Complete(_)));
    }

    #[test]
    fn incomplete_messages_expire() {
        let start = Instant::now();
        let mut r = Reassembler::new(LIMITS, start);
        let chunks = chunk(&message(300), *b"slowslow", 100);
        assert_eq!(r.push(&chunks[0], start), ChunkOutcome::Pending);
        assert_eq!(r.expire(start + Duration::from_secs(4)), 0);
        assert_eq!(r.expire(start + Duration::from_secs(5)), 1);
        assert_eq!(r.held_bytes(), 0);
        // The late siblings start a new message that never completes.
        let later = start + Duration::from_secs(6);
        assert_eq!(r.push(&chunks[1], later), ChunkOutcome::Pending);
        assert_eq!(r.push(&chunks[2], later), ChunkOutcome::Pending);
    }

    #[test]
    fn malformed_chunks() {
        let now = Instant::now();
        let mut r = Reassembler::new(LIMITS, now);
        let mut too_many = chunk(b"x", *b"manymany", 10).remove(0);
        too_many[11] = 129;
        let mut seq_past_count = chunk(b"x", *b"seqseqse", 10).remove(0);
        seq_past_count[10] = 1;
        let mut zero = chunk(b"x", *b"zerozero", 10).remove(0);
        zero[11] = 0;
        for bad in [&[0x1e, 0x0f, 1, 2][..], &too_many, &seq_past_count, &zero] {
            assert_eq!(r.push(bad, now), ChunkOutcome::Dropped("bad_chunk"));
        }
        let two = chunk(&message(20), *b"mismatch", 10);
        let mut three = two[1].clone();
        three[11] = 3;
        assert_eq!(r.push(&two[0], now), ChunkOutcome::Pending);
        assert_eq!(r.push(&three, now), ChunkOutcome::Dropped("bad_chunk"));
        assert_eq!(r.held_bytes(), 0);
    }

    #[test]
    fn the_memory_cap_holds() {
        let now = Instant::now();
        let limits = ChunkLimits {
            memory_bytes: 1000,
            ..LIMITS
        };
        let mut r = Reassembler::new(limits, now);
        let big = chunk(&message(4000), *b"bigbigbi", 400);
        let outcomes: Vec<_> = big.iter().map(|c| r.push(c, now)).collect();
        assert_eq!(outcomes[0], ChunkOutcome::Pending);
        assert_eq!(outcomes[1], ChunkOutcome::Pending);
        assert_eq!(outcomes[2], ChunkOutcome::Dropped("memory_cap"));
        assert!(r.held_bytes() <= 1000);
        let small = chunk(&message(200), *b"smallsma", 100);
        assert_eq!(r.push(&small[0], now), ChunkOutcome::Pending);
        assert!(matches!(r.push(&small[1], now), ChunkOutcome::Complete(_)));
    }
}

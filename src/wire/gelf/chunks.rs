//! Reassembly of chunked GELF datagrams.
//!
//! A chunk is `1e 0f`, an 8-byte message id, a sequence number and a
//! sequence count (at most 128), then a slice of the message. Graylog drops
//! a message whose chunks have not all arrived within 5 seconds; so does
//! this. Memory is bounded: chunks waiting for their siblings take at most
//! `memory_bytes`, and a chunk that would pass the cap is dropped with its
//! whole message (a sender cannot make the sidecar hold more).
//!
//! The count is of real memory, not payload bytes: a message's table of
//! chunk slots (24 bytes each, up to 128), its map entry and each chunk's
//! allocation are counted too. Counting only payloads let empty 12-byte
//! chunks, each starting a message of 128 slots, take about 3 KiB apiece
//! while the count stayed at zero. Expiry walks messages oldest first and
//! stops at the first that is not yet due, so a sweep under the lock both
//! UDP threads share costs what it removes, not what is held.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// The two magic bytes that start a chunk.
pub const CHUNK_MAGIC: [u8; 2] = [0x1e, 0x0f];
/// GELF's most chunks per message.
pub const MAX_CHUNKS: u8 = 128;
/// Magic, message id, sequence number, sequence count.
const HEADER_LEN: usize = 12;
/// How often expired messages are swept, at most.
const SWEEP_EVERY: Duration = Duration::from_millis(250);
/// A message's fixed cost besides its slots: the map's key, value and
/// control byte, and its place in the expiry queue, rounded up.
const MESSAGE_OVERHEAD: usize = std::mem::size_of::<Partial>() + 64;
/// One chunk slot: an `Option<Vec<u8>>`.
const SLOT_BYTES: usize = std::mem::size_of::<Option<Vec<u8>>>();
/// A chunk's allocation besides its payload (the allocator's minimum).
const CHUNK_OVERHEAD: usize = 16;

/// The memory a new message of `count` chunks takes before any payload.
pub fn message_cost(count: u8) -> usize {
    MESSAGE_OVERHEAD + usize::from(count) * SLOT_BYTES
}

/// The memory one stored chunk of `payload` bytes takes.
pub fn chunk_cost(payload: usize) -> usize {
    payload + CHUNK_OVERHEAD
}

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
    /// Messages in the order they started (so oldest first); entries of
    /// messages already completed or dropped are skipped when reached.
    started: VecDeque<(Instant, [u8; 8])>,
    bytes: usize,
    last_sweep: Instant,
}

impl Reassembler {
    pub fn new(limits: ChunkLimits, now: Instant) -> Self {
        Self {
            limits,
            messages: HashMap::new(),
            started: VecDeque::new(),
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
        let cost = |messages: &HashMap<[u8; 8], Partial>| {
            let new_message = if messages.contains_key(&id) {
                0
            } else {
                message_cost(count)
            };
            new_message + chunk_cost(payload.len())
        };
        if self.bytes + cost(&self.messages) > self.limits.memory_bytes {
            self.expire(now);
        }
        if self.bytes + cost(&self.messages) > self.limits.memory_bytes {
            self.remove(&id);
            return ChunkOutcome::Dropped("memory_cap");
        }
        if let std::collections::hash_map::Entry::Vacant(slot) = self.messages.entry(id) {
            slot.insert(Partial {
                first_at: now,
                chunks: vec![None; usize::from(count)],
                received: 0,
                bytes: message_cost(count),
            });
            self.bytes += message_cost(count);
            self.started.push_back((now, id));
            self.compact_started();
        }
        let Some(partial) = self.messages.get_mut(&id) else {
            return ChunkOutcome::Dropped("bad_chunk");
        };
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
        partial.bytes += chunk_cost(payload.len());
        self.bytes += chunk_cost(payload.len());
        if partial.received < partial.chunks.len() {
            return ChunkOutcome::Pending;
        }
        let Some(done) = self.remove(&id) else {
            return ChunkOutcome::Dropped("bad_chunk");
        };
        let mut message = Vec::with_capacity(done.bytes.saturating_sub(message_cost(count)));
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
        let mut expired = 0;
        while let Some(&(first_at, id)) = self.started.front() {
            if now.saturating_duration_since(first_at) < expiry {
                break;
            }
            self.started.pop_front();
            // The same id may have completed and started again since.
            if self
                .messages
                .get(&id)
                .is_some_and(|p| p.first_at == first_at)
            {
                self.remove(&id);
                expired += 1;
            }
        }
        expired
    }

    /// Drops queue entries of messages no longer held once they are most of
    /// the queue, so a flood of messages that complete at once cannot grow
    /// it; amortized over the pushes that made them.
    fn compact_started(&mut self) {
        if self.started.len() > 2 * self.messages.len() + 1024 {
            let messages = &self.messages;
            self.started
                .retain(|(at, id)| messages.get(id).is_some_and(|p| p.first_at == *at));
        }
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
        // Room for the message's table and two of its chunks, not three.
        let cap = message_cost(10) + 2 * chunk_cost(400) + 100;
        let limits = ChunkLimits {
            memory_bytes: cap,
            ..LIMITS
        };
        let mut r = Reassembler::new(limits, now);
        let big = chunk(&message(4000), *b"bigbigbi", 400);
        let outcomes: Vec<_> = big.iter().map(|c| r.push(c, now)).collect();
        assert_eq!(outcomes[0], ChunkOutcome::Pending);
        assert_eq!(outcomes[1], ChunkOutcome::Pending);
        assert_eq!(outcomes[2], ChunkOutcome::Dropped("memory_cap"));
        assert!(r.held_bytes() <= cap);
        let small = chunk(&message(200), *b"smallsma", 100);
        assert_eq!(r.push(&small[0], now), ChunkOutcome::Pending);
        assert!(matches!(r.push(&small[1], now), ChunkOutcome::Complete(_)));
    }

    /// The abuse the review found: empty chunks, each the first of a new
    /// 128-chunk message, used to cost nothing in the count.
    #[test]
    fn empty_chunks_count_their_real_memory() {
        let now = Instant::now();
        let limits = ChunkLimits {
            memory_bytes: 1 << 20,
            ..LIMITS
        };
        let mut r = Reassembler::new(limits, now);
        let mut capped = 0;
        for i in 0u64..100_000 {
            let mut datagram = CHUNK_MAGIC.to_vec();
            datagram.extend_from_slice(&i.to_be_bytes());
            datagram.extend_from_slice(&[0, MAX_CHUNKS]);
            if r.push(&datagram, now) == ChunkOutcome::Dropped("memory_cap") {
                capped += 1;
            }
        }
        assert!(r.held_bytes() <= 1 << 20, "{}", r.held_bytes());
        let most = (1 << 20) / message_cost(MAX_CHUNKS);
        assert!(
            r.messages.len() <= most,
            "{} messages held",
            r.messages.len()
        );
        assert!(capped >= 100_000 - most, "{capped} dropped");
    }

    /// Expiry removes the due messages and stops at the first that is not.
    #[test]
    fn expiry_walks_oldest_first_and_forgets_completed_messages() {
        let start = Instant::now();
        let mut r = Reassembler::new(LIMITS, start);
        for i in 0u8..10 {
            let at = start + Duration::from_secs(u64::from(i));
            let c = chunk(&message(20), [i; 8], 10);
            assert_eq!(r.push(&c[0], at), ChunkOutcome::Pending);
            if i % 2 == 0 {
                assert!(matches!(r.push(&c[1], at), ChunkOutcome::Complete(_)));
            }
        }
        // Messages 1, 3, 5, 7, 9 are held; at t=8 s, 1 and 3 are 5 s old.
        assert_eq!(r.expire(start + Duration::from_secs(8)), 2);
        assert_eq!(r.messages.len(), 3);
        // Completed messages' entries wait their turn (4, 6 and 8), then go.
        assert_eq!(r.started.len(), 6);
        assert_eq!(r.expire(start + Duration::from_secs(20)), 3);
        assert!(r.started.is_empty());
    }
}

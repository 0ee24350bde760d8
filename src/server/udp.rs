//! The UDP listener: GELF messages (plain, gzip, zlib, chunked) and native
//! JSON events, told apart per datagram (see `wire::datagram`).
//!
//! It runs on its own OS threads, not on the async runtime: parsing a flood
//! of datagrams is CPU work that would otherwise starve the HTTP side (health
//! checks, metrics scrapes) of runtime workers; as threads, the kernel shares
//! the CPU fairly. Datagrams are gathered into bursts (up to `BURST`, or
//! whatever arrived within `FLUSH_AFTER`) and each burst is one
//! unacknowledged submission, so the writer sees a few large groups.
//! Malformed datagrams and bursts refused by a full ingest queue are counted
//! and dropped; nothing a sender writes can stop the listener.
//!
//! GELF chunks of one message may land on different listener threads, so
//! the reassembly buffer is shared behind a mutex (held only to copy a
//! chunk in or a message out); it is bounded in time and memory.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use suture_actors::EngineHandle;
use suture_actors::clock::now_ms;
use suture_actors::stages::ingest::SubmitError;
use suture_actors::store::SignedEvent;

use crate::config::Config;
use crate::wire::datagram::{Datagram, parse_datagram};
use crate::wire::gelf::GelfRules;
use crate::wire::gelf::chunks::{CHUNK_MAGIC, ChunkLimits, ChunkOutcome, Reassembler};
use crate::wire::native::Receipt;

/// Most datagrams gathered into one submission.
const BURST: usize = 512;
/// Longest a received datagram waits for its burst to fill.
const FLUSH_AFTER: Duration = Duration::from_millis(2);
/// How often an idle listener checks for shutdown.
const IDLE_POLL: Duration = Duration::from_millis(100);
/// How often a listener sweeps expired GELF chunks (without taking the
/// shared lock per datagram).
const EXPIRY_CHECK: Duration = Duration::from_millis(250);
/// Largest UDP payload.
const MAX_DATAGRAM: usize = 65_536;

/// Binds the socket with the configured kernel receive buffer.
pub fn bind(addr: SocketAddr, recv_buffer: usize) -> std::io::Result<UdpSocket> {
    let domain = if addr.is_ipv4() {
        socket2::Domain::IPV4
    } else {
        socket2::Domain::IPV6
    };
    let socket = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    set_recv_buffer(&socket, recv_buffer);
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// Asks for `bytes` of kernel receive buffer. The kernel caps `SO_RCVBUF`
/// at `net.core.rmem_max` (often 4 MiB or less, a few tens of milliseconds of
/// a flood); with CAP_NET_ADMIN, `SO_RCVBUFFORCE` passes the cap. The size
/// obtained is logged, so an operator can see when the sysctl is the limit.
fn set_recv_buffer(socket: &socket2::Socket, bytes: usize) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
        // SAFETY: setsockopt reads `size_of::<c_int>()` bytes from a valid
        // pointer to a live c_int; the descriptor is owned by `socket`.
        let forced = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUFFORCE,
                std::ptr::from_ref(&value).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if forced == 0 {
            log_recv_buffer(socket, bytes);
            return;
        }
    }
    if let Err(error) = socket.set_recv_buffer_size(bytes) {
        tracing::warn!(%error, "could not set the UDP receive buffer; using the kernel default");
    }
    log_recv_buffer(socket, bytes);
}

fn log_recv_buffer(socket: &socket2::Socket, asked: usize) {
    if let Ok(got) = socket.recv_buffer_size() {
        // Linux reports double the usable size (it counts its bookkeeping).
        if got / 2 < asked {
            tracing::warn!(
                asked,
                got = got / 2,
                "UDP receive buffer capped by net.core.rmem_max; bursts beyond it are dropped by the kernel"
            );
        }
    }
}

/// Starts `server.udp_workers` listener threads on clones of `socket`;
/// they stop when `stop` is set.
pub fn spawn(
    socket: &UdpSocket,
    config: &Config,
    engine: EngineHandle,
    stop: Arc<AtomicBool>,
) -> std::io::Result<Vec<JoinHandle<()>>> {
    let chunks = Arc::new(Mutex::new(Reassembler::new(
        ChunkLimits {
            expiry: config.gelf.chunk_expiry,
            memory_bytes: config.gelf.chunk_memory_bytes,
        },
        Instant::now(),
    )));
    let rules = GelfRules {
        max_level: config.gelf.max_level,
        accept_stack_traces: config.gelf.accept_stack_traces,
    };
    (0..config.server.udp_workers.max(1))
        .map(|i| {
            let listener = Listener {
                socket: socket.try_clone()?,
                engine: engine.clone(),
                max_event_bytes: config.ingest.max_event_bytes,
                rules,
                chunks: chunks.clone(),
                stop: stop.clone(),
            };
            std::thread::Builder::new()
                .name(format!("suture-udp-{i}"))
                .spawn(move || listener.run())
        })
        .collect()
}

struct Listener {
    socket: UdpSocket,
    engine: EngineHandle,
    max_event_bytes: usize,
    rules: GelfRules,
    chunks: Arc<Mutex<Reassembler>>,
    stop: Arc<AtomicBool>,
}

impl Listener {
    fn run(self) {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        let mut burst: Vec<SignedEvent> = Vec::with_capacity(BURST);
        let mut burst_started = Instant::now();
        let mut timeout = Duration::ZERO;
        let mut last_expiry_check = Instant::now();
        while !self.stop.load(Ordering::Relaxed) {
            let wanted = if burst.is_empty() {
                IDLE_POLL
            } else {
                FLUSH_AFTER
                    .saturating_sub(burst_started.elapsed())
                    .max(Duration::from_micros(100))
            };
            if wanted != timeout {
                timeout = wanted;
                if let Err(error) = self.socket.set_read_timeout(Some(timeout)) {
                    tracing::warn!(%error, "cannot set the UDP read timeout");
                }
            }
            match self.socket.recv_from(&mut buf) {
                Ok((len, _peer)) => {
                    if burst.is_empty() {
                        burst_started = Instant::now();
                    }
                    self.parse(buf.get(..len).unwrap_or_default(), &mut burst);
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(error) => tracing::debug!(%error, "UDP receive error"),
            }
            if burst.len() >= BURST || (!burst.is_empty() && burst_started.elapsed() >= FLUSH_AFTER)
            {
                self.submit(&mut burst);
            }
            if last_expiry_check.elapsed() >= EXPIRY_CHECK {
                last_expiry_check = Instant::now();
                self.expire_chunks();
            }
        }
        self.submit(&mut burst);
    }

    fn parse(&self, datagram: &[u8], burst: &mut Vec<SignedEvent>) {
        if datagram.starts_with(&CHUNK_MAGIC) {
            let outcome = match self.chunks.lock() {
                Ok(mut chunks) => chunks.push(datagram, Instant::now()),
                Err(_) => ChunkOutcome::Dropped("reassembly_unavailable"),
            };
            match outcome {
                ChunkOutcome::Complete(message) => self.parse_message(&message, burst),
                ChunkOutcome::Pending => {}
                ChunkOutcome::Dropped(reason) => drop_chunks(reason, 1),
            }
            return;
        }
        self.parse_message(datagram, burst);
    }

    /// One whole message: a datagram, or reassembled chunks.
    fn parse_message(&self, message: &[u8], burst: &mut Vec<SignedEvent>) {
        let receipt = Receipt {
            source: "udp",
            received_at_ms: now_ms(),
            max_event_bytes: self.max_event_bytes,
        };
        match parse_datagram(message, self.rules, receipt) {
            Ok(Datagram::Events(events)) => {
                burst.extend(events.into_iter().map(|e| self.engine.sign(e)));
            }
            Ok(Datagram::Filtered) => metrics::counter!("suture_gelf_filtered_total").increment(1),
            Err(error) => drop_datagrams(&self.engine, error.reason(), 1),
        }
    }

    /// Drops chunked messages that did not complete in time.
    fn expire_chunks(&self) {
        let expired = match self.chunks.lock() {
            Ok(mut chunks) => chunks.expire(Instant::now()),
            Err(_) => 0,
        };
        if expired > 0 {
            drop_chunks("expired", expired as u64);
        }
    }

    fn submit(&self, burst: &mut Vec<SignedEvent>) {
        if burst.is_empty() {
            return;
        }
        let events = std::mem::replace(burst, Vec::with_capacity(BURST));
        let count = events.len() as u64;
        match self.engine.ingest().submit_unacked(events) {
            Ok(()) => {}
            Err(SubmitError::Full) => drop_datagrams(&self.engine, "queue_full", count),
            Err(SubmitError::FullBytes { .. }) => {
                drop_datagrams(&self.engine, "queue_bytes_full", count)
            }
            Err(SubmitError::Closed) => drop_datagrams(&self.engine, "shutting_down", count),
        }
    }
}

fn drop_datagrams(engine: &EngineHandle, reason: &'static str, count: u64) {
    engine.stats().rejected("udp", reason, count);
    metrics::counter!("suture_udp_datagrams_dropped_total", "reason" => reason).increment(count);
}

/// Chunks dropped (counted per chunk, or per message when a whole message expires).
fn drop_chunks(reason: &'static str, count: u64) {
    metrics::counter!("suture_gelf_chunks_dropped_total", "reason" => reason).increment(count);
}

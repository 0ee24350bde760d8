//! The UDP listener: one native JSON event per datagram (GELF joins this
//! socket in a later change).
//!
//! Datagrams are read in bursts: whatever the socket holds, up to
//! `BURST` datagrams, becomes one unacknowledged submission, so the writer
//! sees a few large groups instead of many tiny ones. Malformed datagrams and
//! datagrams refused by a full ingest queue are counted and dropped; nothing a
//! sender writes can stop the listener.

use std::net::SocketAddr;
use std::sync::Arc;

use suture_actors::EngineHandle;
use suture_actors::clock::now_ms;
use suture_actors::ingest::SubmitError;
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::wire::native::{self, Receipt};

/// Most datagrams gathered into one submission.
const BURST: usize = 512;
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
    if let Err(error) = socket.set_recv_buffer_size(recv_buffer) {
        tracing::warn!(%error, "could not set the UDP receive buffer; using the kernel default");
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

/// Serves datagrams until `stop` is cancelled.
pub async fn serve(
    socket: UdpSocket,
    engine: EngineHandle,
    config: Arc<Config>,
    stop: CancellationToken,
) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let max_event_bytes = config.ingest.max_event_bytes;
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            ready = socket.readable() => {
                if let Err(error) = ready {
                    tracing::warn!(%error, "UDP socket not readable");
                    continue;
                }
            }
        }
        let mut events = Vec::new();
        let received_at_ms = now_ms();
        for _ in 0..BURST {
            let len = match socket.try_recv_from(&mut buf) {
                Ok((len, _peer)) => len,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(error) => {
                    tracing::debug!(%error, "UDP receive error");
                    break;
                }
            };
            let receipt = Receipt {
                source: "udp",
                received_at_ms,
                max_event_bytes,
            };
            match buf.get(..len).map(|d| native::parse_body(d, receipt)) {
                Some(Ok(parsed)) => events.extend(parsed.into_iter().map(|e| engine.sign(e))),
                _ => drop_datagrams(&engine, "malformed", 1),
            }
        }
        if events.is_empty() {
            continue;
        }
        let count = events.len() as u64;
        match engine.ingest().submit_unacked(events) {
            Ok(()) => {}
            Err(SubmitError::Full) => drop_datagrams(&engine, "queue_full", count),
            Err(SubmitError::Closed) => {
                drop_datagrams(&engine, "shutting_down", count);
                break;
            }
        }
    }
}

fn drop_datagrams(engine: &EngineHandle, reason: &'static str, count: u64) {
    engine.stats().rejected("udp", reason, count);
    metrics::counter!("suture_udp_datagrams_dropped_total", "reason" => reason).increment(count);
}

//! GELF on the UDP socket: plain, gzip, zlib and chunked messages beside
//! native JSON, errors stored, other log lines counted, bad input survived.

use std::time::Duration;

use crate::common::{eventually, get, gzip, metric, start, stored_total, zlib};
use serde_json::json;
use suture::wire::gelf::chunks::chunk;

/// A GELF error line; `n` varies the order number (masked by grouping).
fn gelf_error(n: u32) -> Vec<u8> {
    json!({
        "version": "1.1", "host": "web-1", "level": 3,
        "short_message": format!("payment failed for order {n}"),
        "_release": "shop@2.0", "_environment": "production", "_logger_name": "shop.payments"
    })
    .to_string()
    .into_bytes()
}

/// A logged Python exception, large enough to need several chunks.
fn gelf_traceback(padding: usize) -> Vec<u8> {
    let trace = format!(
        "Traceback (most recent call last):\n  File \"/srv/shop/pay.py\", line 10, in charge\n    gateway.charge(card)\n  File \"/srv/shop/gateway.py\", line 3, in charge\n    raise ValueError(\"card declined\")\nValueError: card declined\n{}",
        " ".repeat(padding)
    );
    json!({"version": "1.1", "host": "web-1", "level": 4, "short_message": "charge failed", "full_message": trace})
        .to_string()
        .into_bytes()
}

async fn wait_for_total(base: &str, total: u64) -> bool {
    let base = base.to_string();
    eventually(Duration::from_secs(10), || {
        let base = base.clone();
        async move { stored_total(&base).await == total }
    })
    .await
}

/// A counter that only grows, from a fresh read of `/metrics`.
async fn wait_for_metric_above(base: &str, series: &str, floor: u64) -> bool {
    eventually(Duration::from_secs(10), || async {
        metric(base, series).await > floor
    })
    .await
}

const DUPLICATE: &str = "suture_gelf_chunks_dropped_total{reason=\"duplicate_chunk\"}";
const EXPIRED: &str = "suture_gelf_chunks_dropped_total{reason=\"expired\"}";
const FILTERED: &str = "suture_gelf_filtered_total";

// Two listener threads take datagrams off the socket, so two datagrams sent
// in one order can reach the reassembler in the other. Each test therefore
// sends a datagram whose outcome depends on an earlier one only after that
// earlier one is seen to be handled (a counter moved, an event stored).
// Counters are process-wide (one Prometheus recorder per test binary), so
// they are compared with their value before the test.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gelf_in_every_form_is_stored_and_info_lines_are_filtered() {
    // No chunked message here may expire, however slow the machine.
    let server = start(|c| c.gelf.chunk_expiry = Duration::from_secs(60)).await;
    let base = &server.base;
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let send = |data: Vec<u8>| {
        let socket = &socket;
        let to = server.udp;
        async move {
            socket.send_to(&data, to).await.expect("send");
        }
    };
    let filtered_before = metric(base, FILTERED).await;
    let duplicates_before = metric(base, DUPLICATE).await;

    send(gelf_error(1)).await;
    send(gzip(&gelf_error(2))).await;
    send(zlib(&gelf_error(3))).await;
    // Chunked, compressed, sent out of order (last chunk first).
    let message = gzip(&gelf_traceback(0));
    let mut chunks = chunk(&message, *b"chunk-01", 64);
    assert!(chunks.len() > 2);
    chunks.reverse();
    for c in chunks {
        send(c).await;
    }
    // Chunked uncompressed, with a duplicate chunk: the first chunk twice,
    // the rest once the second copy is counted. Until the rest is sent the
    // message cannot complete, so whichever copy a listener takes second is
    // a duplicate (sent together with the rest, a copy taken after the
    // message completed would start a new partial message instead).
    let plain = gelf_traceback(500);
    let chunks = chunk(&plain, *b"chunk-02", 200);
    assert!(chunks.len() > 2);
    send(chunks[0].clone()).await;
    send(chunks[0].clone()).await;
    assert!(
        wait_for_metric_above(base, DUPLICATE, duplicates_before).await,
        "the second copy of a chunk is counted as a duplicate"
    );
    for c in chunks.iter().skip(1) {
        send(c.clone()).await;
    }
    // Native JSON on the same socket.
    send(
        json!({"type": "TimeoutError", "message": "upstream timed out"})
            .to_string()
            .into_bytes(),
    )
    .await;
    // Not errors: counted, not stored.
    for level in [4, 6, 7] {
        send(
            json!({"short_message": "GET /health 200", "level": level})
                .to_string()
                .into_bytes(),
        )
        .await;
    }

    assert!(
        wait_for_total(base, 6).await,
        "6 stored, got {}",
        stored_total(base).await
    );
    let list = get(&format!("{base}/v1/signatures")).await;
    let signatures = list.json["signatures"].as_array().expect("list");
    assert_eq!(
        signatures.len(),
        3,
        "payment, ValueError, timeout: {signatures:?}"
    );
    let value_error = signatures
        .iter()
        .find(|s| s["exception_type"] == "ValueError")
        .expect("the logged exception groups by its class");
    assert_eq!(value_error["count"], 2, "each chunked message stored once");
    let payment = signatures
        .iter()
        .find(|s| s["count"] == 3)
        .expect("the three error lines group together");
    assert_eq!(payment["releases"], json!(["shop@2.0"]));
    // The filtered lines may be handled after the events are stored.
    assert!(
        eventually(Duration::from_secs(10), || async {
            metric(base, FILTERED).await >= filtered_before + 3
        })
        .await,
        "three info lines filtered"
    );
    server.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_chunks_expire_or_drop_and_the_listener_keeps_going() {
    // Long enough that the 11 chunks of the message above the memory cap
    // arrive within it on a loaded machine, short enough to wait for twice.
    let server = start(|c| {
        c.gelf.chunk_expiry = Duration::from_millis(800);
        c.gelf.chunk_memory_bytes = 4096;
    })
    .await;
    let base = &server.base;
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let send = |data: &[u8]| {
        socket.send_to(data, server.udp).expect("send");
    };
    let expired_before = metric(base, EXPIRED).await;

    // Incomplete: all chunks but the last, alone in the reassembler, so
    // nothing else can push them out early: the message expires (counted).
    let late = chunk(&gelf_error(10), *b"late-msg", 40);
    let (last, first) = late.split_last().expect("chunks");
    assert!(first.len() >= 2);
    for c in first {
        send(c);
    }
    assert!(
        wait_for_metric_above(base, EXPIRED, expired_before).await,
        "the incomplete message expires"
    );
    // The last chunk, after the expiry, starts a message of its own that
    // never completes: it expires in turn.
    let expired_once = metric(base, EXPIRED).await;
    send(last);
    assert!(
        wait_for_metric_above(base, EXPIRED, expired_once).await,
        "the late chunk waits alone, then expires"
    );
    assert_eq!(
        stored_total(base).await,
        0,
        "the late chunk completed nothing"
    );

    // Too many chunks, sequence past the count, truncated header.
    let mut too_many = chunk(&gelf_error(11), *b"too-many", 40).remove(0);
    too_many[11] = 200;
    send(&too_many);
    let mut past = chunk(&gelf_error(12), *b"seq-past", 40).remove(0);
    past[10] = past[11];
    send(&past);
    send(&[0x1e, 0x0f, 1, 2, 3]);
    // Bigger than the memory cap.
    for c in chunk(&gelf_traceback(10_000), *b"too-big!", 1000) {
        send(&c);
    }
    // Garbage of every kind.
    for bad in [
        &b"\x1f\x8bnope"[..],
        b"\x78\x9cnope",
        b"{\"short_message\": 5}",
        b"\xff\xfe",
        b"",
    ] {
        send(bad);
    }
    // The listener still stores good messages, chunked or not.
    send(&gelf_error(20));
    for c in chunk(&gelf_error(21), *b"good-one", 40) {
        send(&c);
    }
    assert!(
        wait_for_total(base, 2).await,
        "got {}",
        stored_total(base).await
    );
    // Counted by whichever listener took them, possibly after the events.
    for reason in ["bad_chunk", "memory_cap"] {
        let series = format!("suture_gelf_chunks_dropped_total{{reason=\"{reason}\"}}");
        assert!(
            wait_for_metric_above(base, &series, 0).await,
            "{reason} counted"
        );
    }
    assert!(
        eventually(Duration::from_secs(10), || async {
            metric(
                base,
                "suture_udp_datagrams_dropped_total{reason=\"malformed\"}",
            )
            .await
                >= 5
        })
        .await,
        "five malformed datagrams counted"
    );
    server.running.shutdown().await;
}

//! Native JSON datagrams on the UDP listener.

use std::time::Duration;

use crate::common::{eventually, get, start, stored_total};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datagrams_are_stored_and_bad_ones_counted_without_killing_the_listener() {
    let server = start(|_| {}).await;
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let garbage: [&[u8]; 5] = [
        b"not json",
        b"\xff\xfe\x00",
        b"[]",
        br#"{"message": 1}"#,
        b"",
    ];
    for bad in garbage {
        socket.send_to(bad, server.udp).await.expect("send");
    }
    for i in 0..200 {
        let event =
            json!({"type": "TimeoutError", "message": format!("upstream timed out after {i}ms")});
        socket
            .send_to(event.to_string().as_bytes(), server.udp)
            .await
            .expect("send");
        if i % 50 == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let base = server.base.clone();
    assert!(
        eventually(Duration::from_secs(10), || {
            let base = base.clone();
            async move { stored_total(&base).await == 200 }
        })
        .await,
        "all 200 datagrams stored (got {})",
        stored_total(&server.base).await
    );
    let signatures = get(&format!("{}/v1/signatures", server.base)).await;
    assert_eq!(
        signatures.json["signatures"].as_array().map(Vec::len),
        Some(1),
        "one bug, one signature"
    );
    // This server's own count is exact; the Prometheus recorder is shared
    // by every server of the test binary, so its counter is at least ours.
    let status = get(&format!("{}/v1/status", server.base)).await;
    assert_eq!(status.json["events"]["rejected"], 5, "{}", status.json);
    let dropped = crate::common::metric(
        &server.base,
        "suture_udp_datagrams_dropped_total{reason=\"malformed\"}",
    )
    .await;
    assert!(dropped >= 5, "malformed datagrams counted: {dropped}");
    server.running.shutdown().await;
}

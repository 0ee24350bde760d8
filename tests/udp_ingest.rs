//! Native JSON datagrams on the UDP listener.

mod common;

use std::time::Duration;

use common::{eventually, get, start, stored_total};
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
    let metrics = get(&format!("{}/metrics", server.base)).await;
    let text = metrics.json.as_str().unwrap_or_default().to_string();
    assert!(
        text.lines()
            .any(|l| l.starts_with("suture_udp_datagrams_dropped_total{reason=\"malformed\"} 5")),
        "{text}"
    );
    server.running.shutdown().await;
}

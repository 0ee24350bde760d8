//! The HTTP API against a real server on an ephemeral port with a real sled store.

use crate::common::{get, post, post_concurrently, start, stored_total};
use serde_json::json;

#[tokio::test]
async fn accepts_single_events_and_batches_and_reports_them() {
    let server = start(|_| {}).await;
    let base = &server.base;

    let one = post(
        &format!("{base}/v1/events"),
        json!({"type": "ValueError", "message": "bad order 1234", "release": "r1"}).to_string(),
    )
    .await;
    assert_eq!(one.status, 200, "{}", one.json);
    let first = &one.json["events"][0];
    assert_eq!(first["id"].as_str().map(str::len), Some(32));
    let signature = first["signature"]
        .as_str()
        .expect("signature id")
        .to_string();

    let batch = post(
        &format!("{base}/v1/events"),
        json!([
            {"type": "ValueError", "message": "bad order 5678", "release": "r2"},
            {"type": "KeyError", "message": "'user'"},
        ])
        .to_string(),
    )
    .await;
    assert_eq!(batch.status, 200, "{}", batch.json);
    let events = batch.json["events"].as_array().expect("list");
    assert_eq!(events.len(), 2, "one reply per event, in order");
    assert_eq!(events[0]["signature"], json!(signature), "ids are masked");
    assert_ne!(events[1]["signature"], json!(signature));

    assert_eq!(stored_total(base).await, 3);
    let detail = get(&format!("{base}/v1/signatures/{signature}")).await;
    assert_eq!(detail.status, 200);
    assert_eq!(detail.json["count"], 2);
    assert_eq!(detail.json["releases"], json!(["r1", "r2"]));
    assert_eq!(detail.json["hourly"].as_array().map(Vec::len), Some(1));
    assert_eq!(detail.json["hourly"][0]["count"], 2);
    assert_eq!(detail.json["samples"].as_array().map(Vec::len), Some(2));
    assert_eq!(detail.json["samples"][0]["message"], "bad order 1234");

    let missing = get(&format!("{base}/v1/signatures/ffffffffffffffff")).await;
    assert_eq!(missing.status, 404);

    let since = get(&format!("{base}/v1/signatures?since=2999-01-01T00:00:00Z")).await;
    assert_eq!(since.json["signatures"], json!([]));
    let bad_since = get(&format!("{base}/v1/signatures?since=someday")).await;
    assert_eq!(bad_since.status, 400);
    server.running.shutdown().await;
}

#[tokio::test]
async fn bad_input_gets_its_status_and_loses_nothing_accepted() {
    let server = start(|c| {
        c.ingest.max_event_bytes = 2048;
        c.server.max_body_bytes = 64 * 1024;
    })
    .await;
    let url = format!("{}/v1/events", server.base);
    let ok = post(&url, json!({"message": "kept"}).to_string()).await;
    assert_eq!(ok.status, 200);

    let cases: Vec<(&str, Vec<u8>, u16, Option<&str>)> = vec![
        (
            "malformed JSON",
            b"{\"message\": ".to_vec(),
            400,
            Some("body"),
        ),
        (
            "wrong type",
            br#"{"message": 42}"#.to_vec(),
            400,
            Some("event.message"),
        ),
        (
            "no message nor type",
            br#"{"url": "x"}"#.to_vec(),
            400,
            Some("event.message"),
        ),
        (
            "wrong type in a batch",
            br#"[{"message":"a"},{"message":"b","tags":[1]}]"#.to_vec(),
            400,
            Some("events[1].tags"),
        ),
        (
            "invalid UTF-8",
            b"{\"message\": \"\xc3\x28\"}".to_vec(),
            400,
            Some("body"),
        ),
        ("empty array", b"[]".to_vec(), 400, Some("body")),
        ("not an object", b"\"hello\"".to_vec(), 400, Some("event")),
        (
            "oversized event",
            json!({"message": "x".repeat(4000)})
                .to_string()
                .into_bytes(),
            413,
            None,
        ),
        (
            "oversized body",
            serde_json::Value::Array(vec![json!({"message": "x".repeat(1000)}); 100])
                .to_string()
                .into_bytes(),
            413,
            None,
        ),
    ];
    for (name, body, status, field) in cases {
        let reply = post(&url, body).await;
        assert_eq!(reply.status, status, "{name}: {}", reply.json);
        assert!(
            reply.json["error"].is_string(),
            "{name}: error message in JSON: {}",
            reply.json
        );
        if let Some(field) = field {
            assert_eq!(reply.json["field"], field, "{name}");
        }
    }
    // A half-bad batch stores nothing of it: the client can fix and resend it whole.
    assert_eq!(stored_total(&server.base).await, 1);
    let status = get(&format!("{}/v1/status", server.base)).await;
    assert_eq!(status.json["events"]["accepted"], 1);
    assert_eq!(status.json["events"]["rejected"], 9);
    assert_eq!(
        status.json["llm"]["configured"], false,
        "no [llm]: deterministic path"
    );
    server.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_gets_429_with_retry_after_and_every_200_is_stored() {
    let server = start(|c| {
        c.ingest.queue_capacity = 1;
        c.ingest.max_commit_events = 1;
    })
    .await;
    let bodies = (0..400)
        .map(|i| json!({"message": format!("flood {i}")}).to_string())
        .collect();
    let replies = post_concurrently(&format!("{}/v1/events", server.base), bodies).await;
    let (ok, busy) = stored_or_busy(&replies);
    assert!(
        busy > 0,
        "a one-slot queue under 400 concurrent requests must shed load"
    );
    assert!(ok > 0);
    assert_eq!(
        stored_total(&server.base).await,
        ok,
        "every 200 is stored, nothing more"
    );
    server.running.shutdown().await;
}

/// Counts the replies of a flood that were 200 and 429; every 429 says
/// the queue is full and when to retry, and nothing else is answered.
fn stored_or_busy(replies: &[crate::common::Reply]) -> (u64, u64) {
    let (mut ok, mut busy) = (0u64, 0u64);
    for reply in replies {
        match reply.status {
            200 => ok += 1,
            429 => {
                busy += 1;
                assert_eq!(reply.json["error"], "ingest queue is full; retry later");
                let retry_after = reply.headers.get("retry-after");
                assert_eq!(retry_after.and_then(|v| v.to_str().ok()), Some("1"));
            }
            other => panic!("unexpected status {other}: {}", reply.json),
        }
    }
    (ok, busy)
}

/// The queue is bounded in bytes as well as events: large events fill it
/// long before its event bound, and are then refused (429), not held.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_events_fill_the_queue_by_bytes_and_get_429() {
    let server = start(|c| {
        c.ingest.queue_capacity = 20_000;
        c.ingest.queue_bytes = 32 * 1024;
        c.ingest.max_commit_events = 1;
    })
    .await;
    let base = server.base.clone();
    let status = get(&format!("{base}/v1/status")).await.json;
    assert_eq!(
        status["ingest"]["queue_byte_capacity"],
        32 * 1024,
        "{status}"
    );
    let bodies = (0..300)
        .map(|i| json!({"message": format!("large {i} {}", "x".repeat(10_000))}).to_string())
        .collect();
    let replies = post_concurrently(&format!("{base}/v1/events"), bodies).await;
    let (ok, busy) = stored_or_busy(&replies);
    assert!(busy > 0, "300 events of 10 KB overflow a 32 KiB queue");
    assert!(ok > 0);
    assert_eq!(stored_total(&base).await, ok, "every 200 is stored");
    let metrics = crate::common::metrics_text(&base).await;
    assert!(
        metrics.contains("suture_ingest_queue_bytes"),
        "the byte depth is a metric"
    );
    server.running.shutdown().await;
}

#[tokio::test]
async fn deploy_markers_health_and_metrics() {
    let server = start(|_| {}).await;
    let base = &server.base;
    let deploy = post(
        &format!("{base}/v1/deploys"),
        json!({"revision": "abc123", "environment": "production", "at": "2026-01-05T10:00:00Z"})
            .to_string(),
    )
    .await;
    assert_eq!(deploy.status, 200, "{}", deploy.json);
    assert_eq!(deploy.json["at"], "2026-01-05T10:00:00.000Z");
    let listed = get(&format!("{base}/v1/deploys")).await;
    assert_eq!(listed.json["deploys"][0]["revision"], "abc123");
    let bad = post(&format!("{base}/v1/deploys"), r#"{"environment":"x"}"#).await;
    assert_eq!(bad.status, 400);
    let bad_at = post(
        &format!("{base}/v1/deploys"),
        r#"{"revision":"a","at":"later"}"#,
    )
    .await;
    assert_eq!(bad_at.status, 400);
    assert_eq!(bad_at.json["field"], "at");

    // The same revision again within the hour is the same deploy.
    let again = post(
        &format!("{base}/v1/deploys"),
        json!({"revision": "abc123", "at": "2026-01-05T10:20:00Z"}).to_string(),
    )
    .await;
    assert_eq!(again.json["id"], deploy.json["id"], "{}", again.json);

    let traffic = post(
        &format!("{base}/v1/traffic"),
        json!({"requests": 1200, "at": "2026-01-05T10:01:00Z"}).to_string(),
    )
    .await;
    assert_eq!(traffic.status, 200, "{}", traffic.json);
    let minute = suture_actors::store::minute_of(1_767_607_260_000);
    let stored = server.running.engine.store().traffic_minutes(minute, 1);
    assert_eq!(stored.expect("traffic readable"), 1200);
    for bad in [
        r#"{"requests": -1}"#,
        r#"{"requests": "many"}"#,
        r#"{"reqs": 1}"#,
    ] {
        let response = post(&format!("{base}/v1/traffic"), bad).await;
        assert_eq!(response.status, 400, "{bad}: {}", response.json);
    }

    assert_eq!(get(&format!("{base}/healthz")).await.status, 200);
    assert_eq!(get(&format!("{base}/readyz")).await.status, 200);
    post(&format!("{base}/v1/events"), r#"{"message":"counted"}"#).await;
    let metrics = get(&format!("{base}/metrics")).await;
    let text = metrics.json.as_str().expect("text").to_string();
    for name in [
        "suture_events_accepted_total",
        "suture_ingest_queue_depth",
        "suture_commit_batch_events",
        "suture_commit_flush_seconds",
    ] {
        assert!(text.contains(name), "metrics lack {name}:\n{text}");
    }
    server.running.shutdown().await;
}

#[tokio::test]
async fn deploy_times_are_validated_and_any_stored_time_lists() {
    let server = start(|_| {}).await;
    let base = &server.base;
    let deploys = format!("{base}/v1/deploys");
    for (what, body) in [
        (
            "year 10000 as ms",
            json!({"revision": "r", "at": 253_402_300_800_000_i64}),
        ),
        (
            "year 10000 as text",
            json!({"revision": "r", "at": "+10000-01-01T00:00:00Z"}),
        ),
        (
            "a day ahead",
            json!({"revision": "r", "at": suture_actors::clock::now_ms() + 86_400_000}),
        ),
        (
            "a 300-character revision",
            json!({"revision": "r".repeat(300)}),
        ),
        (
            "a 100-character environment",
            json!({"revision": "r", "environment": "e".repeat(100)}),
        ),
    ] {
        let reply = post(&deploys, body.to_string()).await;
        assert_eq!(reply.status, 400, "{what}: {}", reply.json);
    }
    // A store written before the check (or by hand) may hold any time:
    // listing it must not panic the handler.
    server
        .running
        .engine
        .record_deploy(suture_actors::store::DeployRecord {
            id: "far".into(),
            revision: "far".into(),
            environment: None,
            at_ms: i64::MAX,
            received_at_ms: 0,
            source: suture_actors::store::DeploySource::Marker,
        })
        .await
        .expect("stored");
    let listed = get(&deploys).await;
    assert_eq!(listed.status, 200, "{}", listed.json);
    assert_eq!(listed.json["deploys"][0]["at"], "9999-12-31T23:59:59.999Z");
    assert_eq!(get(&format!("{deploys}/far")).await.status, 200);
    server.running.shutdown().await;
}

#[tokio::test]
async fn a_batch_above_the_event_cap_is_refused() {
    let server = start(|c| c.server.max_events_per_request = 10).await;
    let base = &server.base;
    let batch = |n: usize| {
        serde_json::Value::Array(
            (0..n)
                .map(|i| json!({"message": format!("e{i}")}))
                .collect(),
        )
        .to_string()
    };
    let over = post(&format!("{base}/v1/events"), batch(11)).await;
    assert_eq!(over.status, 413, "{}", over.json);
    let at_cap = post(&format!("{base}/v1/events"), batch(10)).await;
    assert_eq!(at_cap.status, 200, "{}", at_cap.json);
    assert_eq!(stored_total(base).await, 10);
    server.running.shutdown().await;
}

/// A client that sends its headers and one byte of a promised body, then
/// nothing: answered 408 once the body timeout passes, connection freed.
#[tokio::test]
async fn a_trickled_body_is_answered_408() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = start(|c| c.server.body_timeout = std::time::Duration::from_secs(1)).await;
    let addr = server.running.http_addr;
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(
            b"POST /v1/events HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{",
        )
        .await
        .expect("write");
    let mut reply = Vec::new();
    let read = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        let mut buf = [0u8; 1024];
        while !reply.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).await.expect("read");
            if n == 0 {
                break;
            }
            reply.extend_from_slice(&buf[..n]);
        }
    })
    .await;
    assert!(read.is_ok(), "the server answered before the deadline");
    let text = String::from_utf8_lossy(&reply);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    server.running.shutdown().await;
}

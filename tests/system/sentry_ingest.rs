//! The Sentry endpoints against a real server: envelopes in every framing
//! and encoding, auth, limits, load shedding, CORS, sessions as traffic.

use std::io::Write;

use crate::common::{eventually, get, gzip, post, send_with, start, stored_total, zlib};
use base64::Engine as _;
use serde_json::{Value, json};
use suture::config::DEFAULT_PUBLIC_KEY;

const EVENT_ID: &str = "9ec79c33ec9942ab8353589fcb2e04dc";

fn auth() -> String {
    format!("Sentry sentry_key={DEFAULT_PUBLIC_KEY}, sentry_version=7, sentry_client=test/1.0")
}

fn python_event(id: &str) -> Value {
    json!({
        "event_id": id,
        "platform": "python",
        "level": "error",
        "release": "shop@1.2.3",
        "environment": "production",
        "breadcrumbs": {"values": [{"category": "http", "message": "GET /orders/1234"}]},
        "contexts": {"runtime": {"name": "CPython", "version": "3.12.1"}},
        "exception": {"values": [
            {"type": "KeyError", "value": "'sku'", "stacktrace": {"frames": [
                {"filename": "shop/catalog.py", "function": "price_of", "lineno": 8, "in_app": true}
            ]}},
            {"type": "OrderError", "value": "cannot price order 1234", "stacktrace": {"frames": [
                {"filename": "shop/views.py", "function": "checkout", "lineno": 20, "in_app": true},
                {"filename": "shop/orders.py", "function": "total", "lineno": 42, "in_app": true}
            ]}}
        ]}
    })
}

/// An envelope holding one event, with or without the `length` header.
fn envelope(event: &Value, with_length: bool) -> Vec<u8> {
    let payload = event.to_string();
    let item_header = if with_length {
        json!({"type": "event", "length": payload.len()})
    } else {
        json!({"type": "event"})
    };
    format!(
        "{}\n{item_header}\n{payload}\n",
        json!({"event_id": event["event_id"], "sent_at": "2026-01-05T10:00:00Z"})
    )
    .into_bytes()
}

fn envelope_url(base: &str) -> String {
    format!("{base}/api/1/envelope/")
}

async fn post_envelope(base: &str, body: Vec<u8>, extra: &[(&str, &str)]) -> crate::common::Reply {
    let auth = auth();
    let mut headers = vec![
        ("content-type", "application/x-sentry-envelope"),
        ("x-sentry-auth", auth.as_str()),
    ];
    headers.extend_from_slice(extra);
    send_with("POST", &envelope_url(base), &headers, body).await
}

/// A body compressor for one `Content-Encoding`.
type Compress = fn(&[u8]) -> Vec<u8>;

fn brotli(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
    w.write_all(data).expect("write");
    drop(w);
    out
}

fn zstd(data: &[u8]) -> Vec<u8> {
    ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
}

#[tokio::test]
async fn envelopes_in_every_framing_and_encoding_are_stored_with_their_context() {
    let server = start(|_| {}).await;
    let base = &server.base;

    let first = post_envelope(base, envelope(&python_event(EVENT_ID), true), &[]).await;
    assert_eq!(first.status, 200, "{}", first.json);
    assert_eq!(first.json, json!({"id": EVENT_ID}));

    let encodings: [(&str, Compress); 6] = [
        ("identity", |d| d.to_vec()),
        ("gzip", gzip),
        ("deflate", zlib),
        ("br", brotli),
        ("zstd", zstd),
        ("gzip, br", |d| brotli(&gzip(d))),
    ];
    for (i, (encoding, compress)) in encodings.iter().enumerate() {
        let id = format!("{:032x}", i + 1);
        let body = compress(&envelope(&python_event(&id), i % 2 == 0));
        let reply = post_envelope(base, body, &[("content-encoding", encoding)]).await;
        assert_eq!(reply.status, 200, "{encoding}: {}", reply.json);
        assert_eq!(reply.json["id"], json!(id), "{encoding}");
    }
    assert_eq!(stored_total(base).await, 7);

    let list = get(&format!("{base}/v1/signatures")).await;
    let signatures = list.json["signatures"].as_array().expect("list").clone();
    assert_eq!(
        signatures.len(),
        1,
        "one bug, one signature: {signatures:?}"
    );
    assert_eq!(
        signatures[0]["exception_type"], "OrderError",
        "the outermost exception names it"
    );
    let id = signatures[0]["id"].as_str().expect("id");
    let detail = get(&format!("{base}/v1/signatures/{id}")).await;
    let sample = &detail.json["samples"][0];
    assert_eq!(sample["id"], EVENT_ID, "the SDK's event_id is the event id");
    assert_eq!(sample["source"], "sentry");
    assert_eq!(sample["release"], "shop@1.2.3");
    assert_eq!(
        sample["chain"][0]["exception_type"], "KeyError",
        "the chain is kept"
    );
    assert_eq!(sample["breadcrumbs"][0]["message"], "GET /orders/1234");
    assert_eq!(sample["contexts"]["runtime"]["name"], "CPython");
    assert_eq!(
        sample["frames"][1]["function"], "total",
        "crashing frame last"
    );
    server.running.shutdown().await;
}

#[tokio::test]
async fn keys_from_header_query_or_dsn_and_refusals_in_sentrys_shape() {
    let server = start(|c| {
        c.projects.push(suture::config::ProjectConfig {
            id: 2,
            name: "other".into(),
            keys: vec!["otherkey".into()],
        });
    })
    .await;
    let base = &server.base;
    let body = envelope(&json!({"message": "hello"}), false);
    let plain = [("content-type", "application/x-sentry-envelope")];

    let by_query = send_with(
        "POST",
        &format!("{base}/api/1/envelope/?sentry_key={DEFAULT_PUBLIC_KEY}&sentry_version=7"),
        &plain,
        body.clone(),
    )
    .await;
    assert_eq!(by_query.status, 200, "{}", by_query.json);

    let with_dsn = format!(
        "{}\n{}\n{}\n",
        json!({"dsn": format!("http://{DEFAULT_PUBLIC_KEY}@127.0.0.1/1")}),
        json!({"type": "event"}),
        json!({"message": "from dsn"})
    );
    let by_dsn = send_with("POST", &envelope_url(base), &plain, with_dsn).await;
    assert_eq!(by_dsn.status, 200, "{}", by_dsn.json);

    let missing = send_with("POST", &envelope_url(base), &plain, body.clone()).await;
    assert_eq!(missing.status, 401);
    assert!(
        missing.json["detail"].as_str().is_some(),
        "{}",
        missing.json
    );

    let unknown = send_with(
        "POST",
        &format!("{base}/api/1/envelope/?sentry_key=nope"),
        &plain,
        body.clone(),
    )
    .await;
    assert_eq!(unknown.status, 403);
    assert!(unknown.json["detail"].as_str().is_some());

    let wrong_project = send_with(
        "POST",
        &format!("{base}/api/2/envelope/?sentry_key={DEFAULT_PUBLIC_KEY}"),
        &plain,
        body.clone(),
    )
    .await;
    assert_eq!(wrong_project.status, 403, "{}", wrong_project.json);
    let own_project = send_with(
        "POST",
        &format!("{base}/api/2/envelope/?sentry_key=otherkey"),
        &plain,
        body.clone(),
    )
    .await;
    assert_eq!(own_project.status, 200, "{}", own_project.json);

    assert_eq!(stored_total(base).await, 3, "only the authorized envelopes");
    server.running.shutdown().await;
}

#[tokio::test]
async fn malformed_oversized_and_bomb_bodies_are_refused_and_nothing_else_is_lost() {
    let server = start(|c| c.sentry.max_envelope_bytes = 4 << 20).await;
    let base = &server.base;
    let ok = post_envelope(base, envelope(&json!({"message": "kept"}), true), &[]).await;
    assert_eq!(ok.status, 200);

    let bomb = gzip(&vec![b' '; 16 << 20]);
    let cases: Vec<(&str, Vec<u8>, &str, u16)> = vec![
        ("bad header", b"not json\n".to_vec(), "identity", 400),
        (
            "short length",
            b"{}\n{\"type\":\"event\",\"length\":500}\n{}\n".to_vec(),
            "identity",
            400,
        ),
        (
            "bad event JSON",
            b"{}\n{\"type\":\"event\"}\n{oops\n".to_vec(),
            "identity",
            400,
        ),
        ("corrupt gzip", b"\x1f\x8bnot really".to_vec(), "gzip", 400),
        ("unknown encoding", b"{}".to_vec(), "compress", 400),
        ("gzip bomb", bomb, "gzip", 413),
        (
            "event above 1 MiB",
            envelope(&json!({"message": "x".repeat(1_100_000)}), true),
            "identity",
            413,
        ),
        (
            "body above the envelope limit",
            vec![b' '; 5 << 20],
            "identity",
            413,
        ),
    ];
    for (what, body, encoding, status) in cases {
        let reply = post_envelope(base, body, &[("content-encoding", encoding)]).await;
        assert_eq!(reply.status, status, "{what}: {}", reply.json);
        assert!(
            reply.json["detail"].as_str().is_some(),
            "{what}: {}",
            reply.json
        );
    }
    let unknown_items = format!(
        "{}\n{}\n{}\n{}\nxyz\n{}\n{}\n",
        json!({}),
        json!({"type": "something_new", "length": 3}),
        "abc",
        json!({"type": "attachment", "length": 3, "filename": "a.txt"}),
        json!({"type": "event"}),
        json!({"message": "after unknown items"})
    );
    let reply = post_envelope(base, unknown_items.into_bytes(), &[]).await;
    assert_eq!(
        reply.status, 200,
        "unknown items are skipped: {}",
        reply.json
    );
    assert_eq!(stored_total(base).await, 2);
    assert_eq!(get(&format!("{base}/healthz")).await.status, 200);
    server.running.shutdown().await;
}

#[tokio::test]
async fn store_endpoint_takes_json_base64_and_base64_zlib() {
    let server = start(|_| {}).await;
    let base = &server.base;
    let url = format!("{base}/api/1/store/");
    let auth = auth();
    let headers = [
        ("content-type", "application/json"),
        ("x-sentry-auth", auth.as_str()),
    ];
    let event = json!({"event_id": EVENT_ID, "message": "legacy client", "level": "error"});
    let b64 = base64::engine::general_purpose::STANDARD;
    for body in [
        event.to_string().into_bytes(),
        b64.encode(event.to_string()).into_bytes(),
        b64.encode(zlib(event.to_string().as_bytes())).into_bytes(),
    ] {
        let reply = send_with("POST", &url, &headers, body).await;
        assert_eq!(reply.status, 200, "{}", reply.json);
        assert_eq!(reply.json, json!({"id": EVENT_ID}));
    }
    let gzipped = send_with(
        "POST",
        &url,
        &[
            ("content-encoding", "gzip"),
            ("x-sentry-auth", auth.as_str()),
        ],
        gzip(event.to_string().as_bytes()),
    )
    .await;
    assert_eq!(gzipped.status, 200, "{}", gzipped.json);
    let no_key = send_with("POST", &url, &[], event.to_string()).await;
    assert_eq!(no_key.status, 401);
    let bomb = b64.encode(zlib(&vec![b' '; 4 << 20]));
    let too_big = send_with("POST", &url, &headers, bomb).await;
    assert_eq!(too_big.status, 413);
    // Four bodies of one `event_id`: to the store, a client retrying one
    // event (see a_retried_event_id_is_stored_once).
    assert_eq!(stored_total(base).await, 1);
    server.running.shutdown().await;
}

/// Session counts cost no writer call of their own: they ride the next
/// group commit of events, so once an event posted after them is
/// acknowledged, they are on disk too, with no wait.
#[tokio::test]
async fn sessions_ride_the_next_group_commit_of_events() {
    let server = start(|_| {}).await;
    let base = &server.base;
    let now = suture_actors::clock::now_ms();
    let started = suture::wire::time::format_rfc3339(now);
    let header = json!({"sent_at": started}).to_string();
    for sid in ["a", "b", "c"] {
        let body = format!(
            "{header}\n{}\n{}\n",
            json!({"type": "session"}),
            json!({"sid": sid, "init": true, "started": started, "status": "ok"}),
        );
        let reply = post_envelope(base, body.into_bytes(), &[]).await;
        assert_eq!(reply.status, 200, "{}", reply.json);
    }
    let event = post(
        &format!("{base}/v1/events"),
        json!({"message": "after the sessions"}).to_string(),
    )
    .await;
    assert_eq!(event.status, 200, "{}", event.json);
    let hour = suture_actors::store::hour_of(now);
    let traffic = server
        .running
        .engine
        .store()
        .traffic_hours(hour, 1)
        .expect("store read");
    assert_eq!(traffic, Some(vec![3]), "committed with the event");
    server.running.shutdown().await;
}

#[tokio::test]
async fn sessions_and_transactions_are_counted_not_stored() {
    let server = start(|_| {}).await;
    let base = &server.base;
    let now = suture_actors::clock::now_ms();
    let started = suture::wire::time::format_rfc3339(now);
    let body = format!(
        "{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n",
        json!({"sent_at": started}),
        json!({"type": "session"}),
        json!({"sid": "a", "init": true, "started": started, "status": "ok"}),
        json!({"type": "sessions"}),
        json!({"aggregates": [{"started": started, "exited": 10, "errored": 2}]}),
        json!({"type": "transaction"}),
        json!({"type": "transaction", "transaction": "/orders", "spans": []}),
        json!({"type": "client_report"}),
        json!({"timestamp": now / 1000, "discarded_events": []}),
    );
    let reply = post_envelope(base, body.into_bytes(), &[]).await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json, json!({}), "no event, no id");
    assert_eq!(stored_total(base).await, 0, "nothing stored as an error");
    let hour = suture_actors::store::hour_of(now);
    let traffic = traffic_when_written(&server, hour).await;
    assert_eq!(traffic, Some(vec![13]), "1 started session + 12 aggregated");
    let metrics = crate::common::metrics_text(base).await;
    for item in ["session", "sessions", "transaction", "client_report"] {
        assert!(
            metrics.contains(&format!("suture_sentry_items_total{{type=\"{item}\"}}")),
            "{item} counted: {metrics}"
        );
    }
    server.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_gets_429_with_sentry_rate_limit_headers_and_every_200_is_stored() {
    let server = start(|c| {
        c.ingest.queue_capacity = 1;
        c.ingest.max_commit_events = 1;
    })
    .await;
    let mut tasks = Vec::new();
    for i in 0..300 {
        let base = server.base.clone();
        tasks.push(tokio::spawn(async move {
            let event = json!({"message": format!("flood {i}")});
            post_envelope(&base, envelope(&event, false), &[]).await
        }));
    }
    let (mut ok, mut busy) = (0u64, 0u64);
    for task in tasks {
        let reply = task.await.expect("task");
        match reply.status {
            200 => ok += 1,
            429 => {
                busy += 1;
                let header = |name: &str| {
                    reply
                        .headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string)
                };
                assert_eq!(header("retry-after").as_deref(), Some("1"));
                assert_eq!(
                    header("x-sentry-rate-limits").as_deref(),
                    Some("1::organization")
                );
            }
            other => panic!("unexpected status {other}: {}", reply.json),
        }
    }
    assert!(
        busy > 0,
        "a one-slot queue under 300 concurrent envelopes sheds load"
    );
    let base = server.base.clone();
    assert!(
        eventually(std::time::Duration::from_secs(5), || {
            let base = base.clone();
            async move { stored_total(&base).await == ok }
        })
        .await,
        "every 200 is stored, nothing more"
    );
    server.running.shutdown().await;
}

#[tokio::test]
async fn cors_preflight_and_headers_on_ingest_routes_only() {
    let server = start(|_| {}).await;
    let base = &server.base;
    for path in ["/api/1/envelope/", "/v1/events"] {
        let preflight = send_with(
            "OPTIONS",
            &format!("{base}{path}"),
            &[
                ("origin", "https://app.example.com"),
                ("access-control-request-method", "POST"),
                (
                    "access-control-request-headers",
                    "content-type, x-sentry-auth",
                ),
            ],
            "",
        )
        .await;
        assert_eq!(preflight.status, 204, "{path}");
        let allow = |name: &str| {
            preflight
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        assert_eq!(allow("access-control-allow-origin"), "*", "{path}");
        assert!(allow("access-control-allow-methods").contains("POST"));
        assert!(allow("access-control-allow-headers").contains("x-sentry-auth"));
    }
    // sendBeacon posts text/plain: /v1/events must take it, with CORS headers.
    let beacon = send_with(
        "POST",
        &format!("{base}/v1/events"),
        &[
            ("content-type", "text/plain;charset=UTF-8"),
            ("origin", "https://app.example.com"),
        ],
        json!({"type": "error", "message": "Uncaught TypeError: x is undefined"}).to_string(),
    )
    .await;
    assert_eq!(beacon.status, 200, "{}", beacon.json);
    assert_eq!(
        beacon
            .headers
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("*")
    );
    let refused = send_with(
        "POST",
        &envelope_url(base),
        &[("origin", "https://app.example.com")],
        "{}\n",
    )
    .await;
    assert_eq!(refused.status, 401);
    assert!(
        refused.headers.contains_key("access-control-allow-origin"),
        "errors are readable too"
    );
    let admin = send_with(
        "GET",
        &format!("{base}/v1/signatures"),
        &[("origin", "https://app.example.com")],
        "",
    )
    .await;
    assert!(
        !admin.headers.contains_key("access-control-allow-origin"),
        "no CORS on the admin API"
    );
    server.running.shutdown().await;
}

#[tokio::test]
async fn capture_js_is_served() {
    let server = start(|_| {}).await;
    let reply = get(&format!("{}/capture.js", server.base)).await;
    assert_eq!(reply.status, 200);
    let header = |name: &str| {
        reply
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    assert!(header("content-type").starts_with("application/javascript"));
    assert!(header("cache-control").contains("max-age"));
    let script = reply.json.as_str().expect("script text");
    for needle in [
        "unhandledrejection",
        "sendBeacon",
        "keepalive",
        "/v1/events",
        "sampleRate",
        "maxEvents",
    ] {
        assert!(script.contains(needle), "capture.js mentions {needle}");
    }
    server.running.shutdown().await;
}

/// Peak resident memory of a process (VmHWM), in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map(|kib| kib * 1024)
        .expect("VmHWM line")
}

/// Kills the child when the test ends, passing or not.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The abuse the review found: about 100 KB of brotli, no credentials, that
/// inflates to more than the 100 MiB envelope limit. It must be refused as
/// unauthenticated without being inflated. Run against the real binary so
/// the peak RSS measured is the server's alone, not this test process's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_anonymous_brotli_bomb_is_refused_before_it_is_inflated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let child = Child(
        std::process::Command::new(env!("CARGO_BIN_EXE_suture"))
            .arg("serve")
            .current_dir(dir.path())
            .env("SUTURE_STORE__PATH", dir.path().join("data"))
            .env("SUTURE_SERVER__HTTP_ADDR", format!("127.0.0.1:{port}"))
            .env("SUTURE_SERVER__UDP_ADDR", "127.0.0.1:0")
            .env("SUTURE_LOG__LEVEL", "warn")
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("spawn suture"),
    );
    let base = format!("http://127.0.0.1:{port}");
    let ready = eventually(std::time::Duration::from_secs(30), || {
        let base = base.clone();
        async move {
            let client =
                hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                    .build_http::<http_body_util::Full<bytes::Bytes>>();
            match format!("{base}/readyz").parse() {
                Ok(uri) => client.get(uri).await.is_ok_and(|r| r.status() == 200),
                Err(_) => false,
            }
        }
    })
    .await;
    assert!(ready, "suture became ready");

    // A header line that never ends: 128 MiB of spaces after `{"dsn":"`.
    let mut inflated = b"{\"dsn\":\"".to_vec();
    inflated.resize(128 << 20, b' ');
    let bomb = brotli(&inflated);
    drop(inflated);
    assert!(
        bomb.len() < 200 << 10,
        "a bomb is small: {} bytes",
        bomb.len()
    );

    let before = peak_rss(child.0.id());
    let started = std::time::Instant::now();
    let reply = send_with(
        "POST",
        &envelope_url(&base),
        &[
            ("content-type", "application/x-sentry-envelope"),
            ("content-encoding", "br"),
        ],
        bomb,
    )
    .await;
    let took = started.elapsed();
    let after = peak_rss(child.0.id());
    assert_eq!(reply.status, 401, "{}", reply.json);
    let grew = after.saturating_sub(before);
    eprintln!(
        "anonymous bomb: {} in {took:?}; peak RSS {} -> {} MiB",
        reply.status,
        before >> 20,
        after >> 20
    );
    // Inflating to the limit would take 100 MiB at least; reading the
    // header line takes 64 KiB plus the body itself.
    assert!(grew < 32 << 20, "peak RSS grew by {} MiB", grew >> 20);
}

#[tokio::test]
async fn envelopes_over_the_item_caps_are_refused_whole() {
    let server = start(|c| c.sentry.max_envelope_items = 20).await;
    let base = &server.base;
    let item = |kind: &str, payload: &Value| format!("{}\n{}\n", json!({"type": kind}), payload);
    let header = format!("{}\n", json!({"event_id": EVENT_ID}));
    let session = json!({"sid": "a", "init": true});

    let two_events = format!(
        "{header}{}{}",
        item("event", &json!({"message": "one"})),
        item("event", &json!({"message": "two"}))
    );
    let many_sessions = format!("{header}{}", item("session", &session).repeat(101));
    let many_items = format!("{header}{}", item("client_report", &json!({})).repeat(21));
    let big_session = format!(
        "{header}{}",
        item(
            "sessions",
            &json!({"aggregates": [], "pad": "x".repeat(200_000)})
        )
    );
    for (what, body) in [
        ("two events", two_events),
        ("101 sessions", many_sessions),
        ("21 items", many_items),
        ("a 200 KB sessions item", big_session),
    ] {
        let reply = post_envelope(base, body.into_bytes(), &[]).await;
        assert_eq!(reply.status, 413, "{what}: {}", reply.json);
    }
    assert_eq!(stored_total(base).await, 0, "nothing of a refused envelope");
    // One accepted session: once it is written, the count shows whether any
    // session of the refused envelopes was counted with it.
    let now = suture_actors::clock::now_ms();
    let one = format!("{header}{}", item("session", &session));
    assert_eq!(post_envelope(base, one.into_bytes(), &[]).await.status, 200);
    let traffic = traffic_when_written(&server, suture_actors::store::hour_of(now)).await;
    assert_eq!(
        traffic,
        Some(vec![1]),
        "no session of a refused envelope counted"
    );
    server.running.shutdown().await;
}

#[tokio::test]
async fn forged_session_counts_and_times_are_bounded() {
    let server = start(|_| {}).await;
    let base = &server.base;
    let now = suture_actors::clock::now_ms();
    let at = |ms: i64| suture::wire::time::format_rfc3339(ms);
    let body = format!(
        "{}\n{}\n{}\n{}\n{}\n",
        json!({"sent_at": at(now)}),
        json!({"type": "sessions"}),
        json!({"aggregates": [
            {"started": at(now), "exited": u64::MAX},
            {"started": at(now + 3_600_000), "exited": 1000},
            {"started": at(now - 10 * 86_400_000), "exited": 1000}
        ]}),
        json!({"type": "session"}),
        json!({"sid": "b", "init": true, "started": at(now + 3_600_000)}),
    );
    let reply = post_envelope(base, body.into_bytes(), &[]).await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    let hour = suture_actors::store::hour_of(now);
    let traffic = traffic_when_written(&server, hour).await;
    assert_eq!(
        traffic,
        Some(vec![suture::wire::sentry::session::MAX_SESSIONS_PER_BUCKET]),
        "one bucket, capped; the future and stale ones dropped"
    );
    server.running.shutdown().await;
}

/// A client whose acknowledgement timed out resends the same `event_id`;
/// if the first copy was stored after all, the retry is acknowledged again
/// and not counted twice.
#[tokio::test]
async fn a_retried_event_id_is_stored_once() {
    let server = start(|_| {}).await;
    let base = &server.base;
    let id = "0123456789abcdef0123456789abcdef";
    for attempt in 0..3 {
        let reply = post_envelope(base, envelope(&python_event(id), true), &[]).await;
        assert_eq!(reply.status, 200, "attempt {attempt}: {}", reply.json);
        assert_eq!(reply.json["id"], id);
    }
    let other = post_envelope(
        base,
        envelope(&python_event("fedcba9876543210fedcba9876543210"), true),
        &[],
    )
    .await;
    assert_eq!(other.status, 200, "{}", other.json);
    assert_eq!(stored_total(base).await, 2, "one per distinct event id");
    server.running.shutdown().await;
}

/// The traffic of `hour` once the writer has committed session counts
/// (with the next group of events, or alone within 5 s), or `None` after
/// the deadline.
async fn traffic_when_written(server: &crate::common::TestServer, hour: u32) -> Option<Vec<u64>> {
    let read = || {
        server
            .running
            .engine
            .store()
            .traffic_hours(hour, 1)
            .expect("store read")
    };
    eventually(std::time::Duration::from_secs(30), || {
        let written = read().is_some();
        async move { written }
    })
    .await;
    read()
}

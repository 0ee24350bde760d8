//! Shared by the integration tests: a real server on ephemeral ports with a
//! temporary store, and a tiny HTTP client that exposes status codes.

#![allow(dead_code)]

/// The GitHub stand-in the engine's tests use.
#[path = "../../../actors/tests/engine/common/github_stub.rs"]
pub mod github_stub;

/// The OpenAI-compatible stub the engine's tests use.
#[path = "../../../actors/tests/engine/common/openai_stub.rs"]
pub mod openai_stub;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::HeaderMap;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use suture::config::Config;
use suture::server::Running;

pub struct TestServer {
    pub running: Running,
    pub base: String,
    pub udp: SocketAddr,
    pub dir: tempfile::TempDir,
}

/// A config on ephemeral loopback ports with its store in `dir`.
pub fn test_config(dir: &std::path::Path) -> Config {
    let mut config = Config::default();
    config.server.http_addr = "127.0.0.1:0".parse().expect("addr");
    config.server.udp_addr = "127.0.0.1:0".parse().expect("addr");
    config.store.path = dir.join("data");
    config.queue.debounce = Duration::from_millis(300);
    config.queue.max_wait = Duration::from_secs(5);
    config
}

pub async fn start(adjust: impl FnOnce(&mut Config)) -> TestServer {
    start_in(tempfile::tempdir().expect("tempdir"), adjust).await
}

/// A server on the store in `dir`: a restart when a previous server used it
/// (stop that one first with `running.shutdown()`; sled locks its files).
pub async fn start_in(dir: tempfile::TempDir, adjust: impl FnOnce(&mut Config)) -> TestServer {
    let mut config = test_config(dir.path());
    adjust(&mut config);
    let running = suture::server::start(config).await.expect("server starts");
    TestServer {
        base: format!("http://{}", running.http_addr),
        udp: running.udp_addr,
        running,
        dir,
    }
}

pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub json: Value,
}

pub async fn send(method: &str, url: &str, body: impl Into<Bytes>) -> Reply {
    send_with(method, url, &[("content-type", "application/json")], body).await
}

/// A request with exactly the given headers.
pub async fn send_with(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Reply {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut request = hyper::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(Full::new(body.into())).expect("request");
    let response = client.request(request).await.expect("server answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let json = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    Reply {
        status,
        headers,
        json,
    }
}

pub async fn post(url: &str, body: impl Into<Bytes>) -> Reply {
    send("POST", url, body).await
}

/// POSTs every body at once, one task each, and returns the replies in
/// the bodies' order: a flood, for load-shedding tests.
pub async fn post_concurrently(url: &str, bodies: Vec<String>) -> Vec<Reply> {
    let tasks: Vec<_> = bodies
        .into_iter()
        .map(|body| {
            let url = url.to_string();
            tokio::spawn(async move { post(&url, body).await })
        })
        .collect();
    let mut replies = Vec::with_capacity(tasks.len());
    for task in tasks {
        replies.push(task.await.expect("the request task ran"));
    }
    replies
}

pub async fn get(url: &str) -> Reply {
    send("GET", url, Bytes::new()).await
}

/// Total events stored across all signatures, as the API reports them.
pub async fn stored_total(base: &str) -> u64 {
    let reply = get(&format!("{base}/v1/signatures")).await;
    reply.json["signatures"]
        .as_array()
        .map(|list| list.iter().filter_map(|s| s["count"].as_u64()).sum())
        .unwrap_or(0)
}

/// Polls `check` every 50 ms until it holds or `timeout` passes.
pub async fn eventually<F, Fut>(timeout: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The Prometheus text, for asserting counters.
pub async fn metrics_text(base: &str) -> String {
    get(&format!("{base}/metrics"))
        .await
        .json
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The value of one metric line (exact name and labels), or 0.
pub async fn metric(base: &str, series: &str) -> u64 {
    metrics_text(base)
        .await
        .lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

/// Gzip, as senders compress bodies and datagrams.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("write");
    e.finish().expect("gzip")
}

/// Zlib (HTTP `deflate`, GELF's zlib datagrams, old Sentry store bodies).
pub fn zlib(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("write");
    e.finish().expect("zlib")
}

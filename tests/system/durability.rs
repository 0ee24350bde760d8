//! The real binary: SIGKILL loses no acknowledged event and the pending batch
//! is handed on after restart, nor the log template an acknowledged line was
//! signed with; SIGTERM shuts down in order.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::{eventually, get, post, stored_total};
use serde_json::json;

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

pub(crate) struct Sidecar {
    pub(crate) child: Child,
    pub(crate) base: String,
}

/// A failed assertion must not leave the server running (it holds the
/// test's output pipe and the store's lock).
impl Drop for Sidecar {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `suture serve` with env overrides only (no config file).
pub(crate) async fn spawn(data: &Path, port: u16, debounce: &str) -> Sidecar {
    let child = Command::new(env!("CARGO_BIN_EXE_suture"))
        .arg("serve")
        .current_dir(data.parent().expect("parent"))
        .env("SUTURE_STORE__PATH", data)
        .env("SUTURE_SERVER__HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env("SUTURE_SERVER__UDP_ADDR", "127.0.0.1:0")
        .env("SUTURE_QUEUE__DEBOUNCE", debounce)
        .env("SUTURE_LOG__LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn suture");
    let base = format!("http://127.0.0.1:{port}");
    let url = format!("{base}/readyz");
    let ready = eventually(Duration::from_secs(20), || {
        let url = url.clone();
        async move { reachable(&url).await }
    })
    .await;
    assert!(ready, "suture became ready");
    Sidecar { child, base }
}

async fn reachable(url: &str) -> bool {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    match url.parse() {
        Ok(uri) => client.get(uri).await.is_ok_and(|r| r.status() == 200),
        Err(_) => false,
    }
}

pub(crate) fn signal(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .args([format!("-{signal}"), child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

#[test]
fn an_explicit_missing_config_file_stops_the_start_naming_it() {
    let output = Command::new(env!("CARGO_BIN_EXE_suture"))
        .args(["serve", "--config", "/nonexistent/suture.toml"])
        .output()
        .expect("run suture");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("/nonexistent/suture.toml"), "{stderr}");
}

#[test]
fn a_bad_value_stops_the_start_naming_the_key() {
    let output = Command::new(env!("CARGO_BIN_EXE_suture"))
        .arg("serve")
        .env("SUTURE_QUEUE__DEBOUNCE", "soon")
        .env("SUTURE_STORE__PATH", "/nonexistent/never-opened")
        .output()
        .expect("run suture");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("queue.debounce") && stderr.contains("SUTURE_QUEUE__DEBOUNCE"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_loses_no_acknowledged_event_and_the_pending_batch_survives() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let port = free_port();
    // A long debounce: the batch is still pending when the process dies.
    let mut sidecar = spawn(&data, port, "1h").await;

    let acked = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for client in 0..4 {
        let (url, acked, stop) = (
            format!("{}/v1/events", sidecar.base),
            acked.clone(),
            stop.clone(),
        );
        clients.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let kind = ["DbError", "CacheError"][i % 2];
                let body =
                    json!({"type": kind, "message": format!("client {client} request {i} failed")});
                let client = hyper_util::client::legacy::Client::builder(
                    hyper_util::rt::TokioExecutor::new(),
                )
                .build_http::<http_body_util::Full<bytes::Bytes>>();
                let request = hyper::Request::post(&url)
                    .body(http_body_util::Full::new(bytes::Bytes::from(
                        body.to_string(),
                    )))
                    .expect("request");
                match client.request(request).await {
                    Ok(response) if response.status() == 200 => {
                        acked.fetch_add(1, Ordering::SeqCst);
                    }
                    _ => {}
                }
                i += 1;
            }
        }));
    }
    // Killed mid-flood, once a good part of it was acknowledged (however
    // slowly a loaded machine serves it): requests in flight die with it,
    // unacknowledged.
    eventually(Duration::from_secs(30), || {
        let acked = acked.clone();
        async move { acked.load(Ordering::SeqCst) > 20 }
    })
    .await;
    signal(&sidecar.child, "KILL");
    let _ = sidecar.child.wait();
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        let _ = client.await;
    }
    let acked = acked.load(Ordering::SeqCst);
    assert!(
        acked > 20,
        "the flood was acknowledged before the kill ({acked})"
    );

    // Restart with a short debounce: the restored batch is handed on.
    let mut sidecar = spawn(&data, port, "500ms").await;
    let stored = stored_total(&sidecar.base).await;
    assert!(stored >= acked, "stored {stored} < acknowledged {acked}");
    let status_url = format!("{}/v1/status", sidecar.base);
    let handed_on = eventually(Duration::from_secs(20), || {
        let url = status_url.clone();
        async move {
            get(&url).await.json["last_batch"]["entries"]
                .as_array()
                .is_some_and(|e| e.len() == 2)
        }
    })
    .await;
    let status = get(&status_url).await.json;
    assert!(
        handed_on,
        "the pending batch was handed on after restart: {status}"
    );
    let batch_events: u64 = status["last_batch"]["entries"]
        .as_array()
        .map(|e| e.iter().filter_map(|x| x["events"].as_u64()).sum())
        .unwrap_or(0);
    assert_eq!(batch_events, stored, "the batch covers every stored event");

    signal(&sidecar.child, "TERM");
    let exit = sidecar.child.wait().expect("wait");
    assert!(exit.success(), "SIGTERM is a clean exit: {exit:?}");
}

/// Kinds of log line, with a name that varies (no digit: only learning
/// finds it varies). The first two share a leaf of the template tree (same
/// length, same first two words, too little else in common), so the second
/// to arrive is its leaf's second template.
const LOG_KINDS: &[&str] = &[
    "request failed: upstream {} refused the connection",
    "request failed: client {} sent bad header",
    "cache miss for key {} in the orders region",
    "job {} failed after too many retries",
];

const NAMES: &[&str] = &["alice", "bob", "carol", "dave", "erin", "frank", "grace"];

/// Log templates ride in the group commit of the first event that used
/// them: after a SIGKILL mid-flood, every acknowledged line gets again the
/// signature it was acknowledged with, in whatever order it comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_keeps_the_template_of_every_acknowledged_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let port = free_port();
    let mut sidecar = spawn(&data, port, "1h").await;
    // The upstream kind first: the client kind is the leaf's second template.
    let first_line = LOG_KINDS[0].replace("{}", "zoe");
    let first = post(
        &format!("{}/v1/events", sidecar.base),
        json!({"type": "Error", "message": first_line, "module": "shop.proxy"}).to_string(),
    )
    .await;
    assert_eq!(first.status, 200, "{}", first.json);

    let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for client in 0..4usize {
        let (url, acked, stop) = (
            format!("{}/v1/events", sidecar.base),
            acked.clone(),
            stop.clone(),
        );
        clients.push(tokio::spawn(async move {
            let mut i = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let kind = LOG_KINDS[(client + i) % LOG_KINDS.len()];
                let line = kind.replace("{}", NAMES[(i * 3 + client) % NAMES.len()]);
                let body = json!({"type": "Error", "message": line, "module": "shop.proxy"});
                // The kill cuts requests off: those are not acknowledged.
                if let Some(signature) = acknowledged_signature(&url, body.to_string()).await {
                    let mut acked = acked.lock().expect("not poisoned");
                    acked.push((line, signature));
                }
                i += 1;
            }
        }));
    }
    // Killed mid-flood, once every kind was acknowledged a few times.
    let enough = eventually(Duration::from_secs(30), || {
        let acked = acked.clone();
        async move { acked.lock().map(|a| a.len() >= 60).unwrap_or(false) }
    })
    .await;
    assert!(enough, "the flood was acknowledged before the kill");
    signal(&sidecar.child, "KILL");
    let _ = sidecar.child.wait();
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        let _ = client.await;
    }

    let acked = acked.lock().expect("not poisoned").clone();
    let mut by_line: HashMap<&str, &str> = HashMap::new();
    for (line, signature) in &acked {
        let first = by_line.entry(line).or_insert(signature);
        assert_eq!(first, signature, "one line, one signature: {line}");
    }
    // A group per kind; the job lines one per name (the name is among the
    // first two words, which route a line to its leaf).
    let group = |line: &str| -> String {
        let kind = LOG_KINDS
            .iter()
            .position(|kind| kind.split("{}").all(|part| line.contains(part)))
            .unwrap_or(usize::MAX);
        if line.starts_with("job ") {
            line.to_owned()
        } else {
            kind.to_string()
        }
    };
    let mut signature_of_group: HashMap<String, &str> = HashMap::new();
    for (line, signature) in &by_line {
        let first = signature_of_group.entry(group(line)).or_insert(signature);
        assert_eq!(first, signature, "one kind, one signature: {line}");
    }
    let distinct: std::collections::HashSet<&&str> = signature_of_group.values().collect();
    assert_eq!(distinct.len(), signature_of_group.len(), "kinds apart");
    assert!(signature_of_group.len() >= 3, "{signature_of_group:?}");

    let mut sidecar = spawn(&data, port, "1h").await;
    let url = format!("{}/v1/events", sidecar.base);
    let mut lines: Vec<(&str, &str)> = by_line.into_iter().collect();
    // Back in another order: the client kind before the upstream kind. Its
    // ordinal in their leaf must come from the store, not from arrival.
    lines.sort();
    for (line, signature) in lines {
        let body = json!({"type": "Error", "message": line, "module": "shop.proxy"});
        let reply = post(&url, body.to_string()).await;
        assert_eq!(reply.status, 200, "{}", reply.json);
        assert_eq!(
            reply.json["events"][0]["signature"].as_str(),
            Some(signature),
            "{line}"
        );
    }
    signal(&sidecar.child, "TERM");
    let _ = sidecar.child.wait();
}

/// The signature of the one event in `body`, when the server stored it.
async fn acknowledged_signature(url: &str, body: String) -> Option<String> {
    use http_body_util::BodyExt;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let request = hyper::Request::post(url)
        .body(http_body_util::Full::new(bytes::Bytes::from(body)))
        .ok()?;
    let response = client.request(request).await.ok()?;
    if response.status() != 200 {
        return None;
    }
    let bytes = response.into_body().collect().await.ok()?.to_bytes();
    let reply: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    reply["events"][0]["signature"].as_str().map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_answers_in_flight_requests_then_exits_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let port = free_port();
    let mut sidecar = spawn(&data, port, "1h").await;
    let url = format!("{}/v1/events", sidecar.base);
    let mut tasks = Vec::new();
    for i in 0..50 {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            post(
                &url,
                json!({"message": format!("shutdown race {i}")}).to_string(),
            )
            .await
            .status
        }));
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    signal(&sidecar.child, "TERM");
    let mut acked = 0;
    for task in tasks {
        if let Ok(200) = task.await {
            acked += 1;
        }
    }
    let exit = sidecar.child.wait().expect("wait");
    assert!(exit.success(), "clean exit: {exit:?}");

    let mut sidecar = spawn(&data, port, "1h").await;
    assert!(stored_total(&sidecar.base).await >= acked);
    signal(&sidecar.child, "TERM");
    let _ = sidecar.child.wait();
}

/// The fsyncgate lesson: after a failed sync nothing is acknowledged again
/// (a retried fsync can succeed on pages the kernel already dropped), and
/// `/readyz` says so, until a restart recovers from what is really on disk.
#[tokio::test]
async fn after_a_failed_sync_nothing_is_acknowledged_and_readyz_says_why() {
    let server = crate::common::start(|_| {}).await;
    let base = &server.base;
    let events = format!("{base}/v1/events");
    let ok = post(&events, json!({"message": "before"}).to_string()).await;
    assert_eq!(ok.status, 200, "{}", ok.json);
    assert_eq!(get(&format!("{base}/readyz")).await.status, 200);

    server.running.engine.store().inject_sync_failure();
    let failed = post(&events, json!({"message": "during"}).to_string()).await;
    assert_eq!(failed.status, 503, "{}", failed.json);
    // The injected failure was one-shot: a retried sync would succeed now,
    // and must not be attempted.
    let after = post(&events, json!({"message": "after"}).to_string()).await;
    assert_eq!(after.status, 503, "{}", after.json);
    let ready = get(&format!("{base}/readyz")).await;
    assert_eq!(ready.status, 503);
    assert!(
        ready.json.as_str().is_some_and(|t| t.contains("restart")),
        "{}",
        ready.json
    );
    server.running.shutdown().await;
}

/// The binary turns transparent huge pages off for itself (RSS then tracks
/// live memory, not a 2 MiB high-water mark), and `suture store-stats`
/// shows what each tree holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_runs_without_huge_pages_and_reports_its_trees() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let port = free_port();
    let sidecar = spawn(&data, port, "1h").await;
    let status = std::fs::read_to_string(format!("/proc/{}/status", sidecar.child.id()))
        .expect("the sidecar's status");
    if let Some(line) = status.lines().find(|l| l.starts_with("THP_enabled:")) {
        assert_eq!(line.split_whitespace().nth(1), Some("0"), "{line}");
    }

    for i in 0..3 {
        let body = json!({"type": "DbError", "message": format!("request {i} failed")});
        let reply = post(&format!("{}/v1/events", sidecar.base), body.to_string()).await;
        assert_eq!(reply.status, 200, "{:?}", reply.json);
    }
    let output = Command::new(env!("CARGO_BIN_EXE_suture"))
        .args(["store-stats", "--json", "--url", &sidecar.base])
        .output()
        .expect("store-stats runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stats: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert!(stats["size_on_disk"].as_u64().unwrap_or(0) > 0, "{stats}");
    let trees = stats["trees"].as_array().expect("trees");
    let signatures = trees
        .iter()
        .find(|t| t["name"] == "signatures")
        .expect("the signatures tree is listed");
    assert_eq!(signatures["entries"], 1, "{stats}");
    let pending = trees
        .iter()
        .find(|t| t["name"] == "pending")
        .expect("pending");
    assert_eq!(
        pending["entries"], 1,
        "one signature waits in the debounce queue"
    );
}

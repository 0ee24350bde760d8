//! Fault injection: the LLM down, slow, or answering garbage (issue 16,
//! Proof 2), in a running sidecar with events flowing.
//!
//! Each test breaks the model one way while a client keeps posting events
//! and a deploy breaks the checkout. Ingest does not notice (every event
//! is acknowledged and stored), `/v1/status` shows the LLM as degraded
//! with its last error, and the ticket the analyzer opens stays open,
//! waiting for the model, instead of being decided for good without it.
//! Then the model is fixed and, with nobody touching the sidecar, the
//! ticket is triaged by the LLM and the status clears.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::openai_stub::{Reply, Responder, Stub};
use crate::common::{eventually, get, post, start};
use crate::tickets_http::{
    deploy_of_revision_breaks_checkout, model, service_repository, triaged_list, with_repo_and_llm,
};

/// Slack for a loaded machine, not the expected time.
const DEADLINE: Duration = Duration::from_secs(30);

/// How the model is broken, and how it is fixed.
enum Fault {
    /// Nothing listens on the port until the stub starts on it.
    Down,
    /// Each answer takes longer than `llm.timeout`.
    Slow,
    /// 200 with a body that is not a completion.
    Garbage,
}

/// Events posted while the fault lasts: how many were acknowledged, and
/// any answer that was not a 200.
struct Flow {
    stop: Arc<AtomicBool>,
    acked: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<Vec<String>>,
}

impl Flow {
    fn start(base: &str) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(AtomicU64::new(0));
        let (url, flag, count) = (format!("{base}/v1/events"), stop.clone(), acked.clone());
        let task = tokio::spawn(async move {
            let mut refused = Vec::new();
            let mut i = 0u64;
            while !flag.load(Ordering::Relaxed) {
                let body = json!({"type": "FlowError", "message": format!("flow {i}")});
                let reply = post(&url, body.to_string()).await;
                if reply.status == 200 {
                    count.fetch_add(1, Ordering::SeqCst);
                } else {
                    refused.push(format!("{}: {}", reply.status, reply.json));
                }
                i += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            refused
        });
        Self { stop, acked, task }
    }

    /// Stops the flow; every event was acknowledged and all are stored.
    async fn check(self, base: &str) {
        self.stop.store(true, Ordering::Relaxed);
        let refused = self.task.await.expect("the flow ran");
        assert!(refused.is_empty(), "ingest refused events: {refused:?}");
        let acked = self.acked.load(Ordering::SeqCst);
        assert!(acked > 0, "events flowed during the fault");
        let signatures = get(&format!("{base}/v1/signatures")).await.json;
        let stored = signatures["signatures"]
            .as_array()
            .and_then(|list| list.iter().find(|s| s["exception_type"] == "FlowError"))
            .and_then(|s| s["count"].as_u64())
            .unwrap_or(0);
        assert!(stored >= acked, "stored {stored} < acknowledged {acked}");
    }
}

async fn status(base: &str) -> Value {
    get(&format!("{base}/v1/status")).await.json
}

async fn tickets(base: &str) -> Vec<Value> {
    get(&format!("{base}/v1/tickets")).await.json["tickets"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

async fn run(fault: Fault) {
    let repo = tempfile::tempdir().expect("tempdir");
    let revision = service_repository(repo.path());
    // The model's address: a port nobody listens on yet when it is down.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .to_string();
    let mut stub = match fault {
        Fault::Down => None,
        Fault::Slow | Fault::Garbage => Some(Stub::start_on(&addr, Vec::new()).await),
    };
    if let Some(stub) = &stub {
        match fault {
            Fault::Slow => stub.otherwise(Reply::Slow(Duration::from_secs(5), "late".into())),
            _ => {
                // Not JSON first, then JSON that is no completion, for good.
                stub.push([Reply::Raw("<html>502 Bad Gateway</html>".into())]);
                stub.otherwise(Reply::Raw(r#"{"unexpected": "shape"}"#.into()));
            }
        }
    }
    let repo_path = repo.path().to_path_buf();
    let base_url = format!("http://{addr}/v1");
    let server = start(move |config| {
        with_repo_and_llm(config, repo_path, base_url);
        config.llm.timeout = Duration::from_secs(1);
        config.llm.breaker_failures = 2;
        config.llm.breaker_cooldown = Duration::from_secs(1);
    })
    .await;
    let base = server.base.clone();
    let flow = Flow::start(&base);
    deploy_of_revision_breaks_checkout(&base, &revision).await;

    // Degraded: the analyzer opened the ticket by crash site, triage keeps
    // it open waiting for the model, and the status says why.
    let waiting = eventually(DEADLINE, || async {
        let status = status(&base).await;
        let tickets = tickets(&base).await;
        status["triage"]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("waiting for the LLM"))
            && tickets.len() == 1
            && tickets[0]["state"] == "open"
    })
    .await;
    let (status_now, tickets_now) = (status(&base).await, tickets(&base).await);
    assert!(
        waiting,
        "triage waits for the model: {status_now} {tickets_now:?}"
    );
    assert_eq!(status_now["llm"]["degraded"], true, "{status_now}");
    let last_error = status_now["llm"]["last_error"].as_str().unwrap_or_default();
    let expected = match fault {
        Fault::Down => "connection failed",
        Fault::Slow => "timed out",
        Fault::Garbage => "unusable",
    };
    assert!(
        last_error.contains(expected),
        "the status names the fault ({expected}): {status_now}"
    );
    let id = tickets_now[0]["id"].as_str().expect("id").to_string();
    let ticket = get(&format!("{base}/v1/tickets/{id}")).await.json;
    assert_eq!(ticket["grouping"]["method"], "deterministic", "{ticket}");
    assert_eq!(ticket["triage"], Value::Null, "not decided: {ticket}");
    // Still open a few passes later: waiting, not decided.
    let passes = status_now["triage"]["last_pass_ms"].as_i64();
    let passed = eventually(DEADLINE, || async {
        status(&base).await["triage"]["last_pass_ms"].as_i64() > passes
    })
    .await;
    assert!(passed, "triage kept passing");
    assert_eq!(tickets(&base).await[0]["state"], "open");

    // Fixed: nobody touches the sidecar, and the ticket is decided by the
    // model once the breaker lets a probe through.
    let responder: Responder = Arc::new(model);
    match &stub {
        Some(stub) => stub.otherwise(Reply::Respond(responder)),
        None => {
            let fixed = Stub::start_on(&addr, Vec::new()).await;
            fixed.otherwise(Reply::Respond(responder));
            stub = Some(fixed);
        }
    }
    let list = triaged_list(&base).await;
    assert_eq!(list["tickets"][0]["id"], id.as_str(), "{list}");
    let ticket = get(&format!("{base}/v1/tickets/{id}")).await.json;
    assert_eq!(ticket["triage"]["method"], "llm", "{ticket}");
    assert_eq!(ticket["disposition"], "fix_candidate", "{ticket}");
    let cleared = eventually(DEADLINE, || async {
        status(&base).await["llm"]["degraded"] == false
    })
    .await;
    assert!(cleared, "the status clears: {}", status(&base).await);
    flow.check(&base).await;
    server.running.shutdown().await;
    drop(stub);
}

/// The wait is bounded: past `triage.llm_wait` the ticket takes the
/// deterministic verdict, with the outage as its reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_llm_wait_a_ticket_is_decided_without_the_model() {
    let repo = tempfile::tempdir().expect("tempdir");
    let revision = service_repository(repo.path());
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let repo_path = repo.path().to_path_buf();
    let server = start(move |config| {
        with_repo_and_llm(config, repo_path, format!("http://{addr}/v1"));
        config.triage.llm_wait = Duration::ZERO;
    })
    .await;
    let base = server.base.clone();
    deploy_of_revision_breaks_checkout(&base, &revision).await;
    let list = triaged_list(&base).await;
    let id = list["tickets"][0]["id"].as_str().expect("id");
    let ticket = get(&format!("{base}/v1/tickets/{id}")).await.json;
    assert_eq!(ticket["triage"]["method"], "deterministic", "{ticket}");
    let reason = ticket["triage"]["fallback_reason"]
        .as_str()
        .unwrap_or_default();
    assert!(reason.contains("connection failed"), "{ticket}");
    server.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_llm_down_keeps_tickets_waiting_until_it_is_back() {
    run(Fault::Down).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_llm_keeps_tickets_waiting_until_it_answers_in_time() {
    run(Fault::Slow).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_llm_answering_garbage_keeps_tickets_waiting_until_it_is_fixed() {
    run(Fault::Garbage).await;
}

//! The gate in a running sidecar: history and a deploy sent over HTTP, the
//! gate actor judges the deploy once its window has closed, and the API
//! explains the decision.

use std::time::Duration;

use serde_json::{Value, json};
use suture_actors::clock::now_ms;

use crate::common::{get, post, start};

const HOUR: i64 = 3_600_000;
const MINUTE: i64 = 60_000;

fn event(kind: &str, at_ms: i64, user: &str) -> Value {
    json!({
        "type": kind,
        "message": format!("{kind} in the checkout"),
        "stack": format!("{kind}: {kind} in the checkout\n    at pay (/srv/app/pay.js:10:5)"),
        "timestamp": at_ms,
        "user": user,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_is_judged_when_its_window_closes_and_explained() {
    let server = start(|config| {
        config.gate.interval = Duration::from_millis(200);
        config.gate.settle = Duration::from_secs(0);
    })
    .await;
    let base = &server.base;
    let now = now_ms();
    // The deploy was 61 minutes ago: its window has closed.
    let deploy_at = now - 61 * MINUTE;
    // 30 hours of a steady background error before it.
    let history: Vec<Value> = (0..30 * 6)
        .map(|i| event("Steady", deploy_at - 30 * HOUR + i * 10 * MINUTE, "u1"))
        .collect();
    assert_eq!(
        post(&format!("{base}/v1/events"), json!(history).to_string())
            .await
            .status,
        200
    );
    let traffic = post(
        &format!("{base}/v1/traffic"),
        json!({"requests": 5000, "at": deploy_at + 5 * MINUTE}).to_string(),
    )
    .await;
    assert_eq!(traffic.status, 200, "{}", traffic.json);
    let broken: Vec<Value> = (0..12)
        .map(|i| event("Broken", deploy_at + i * 4 * MINUTE, &format!("user{i}")))
        .collect();
    assert_eq!(
        post(&format!("{base}/v1/events"), json!(broken).to_string())
            .await
            .status,
        200
    );
    let deploy = post(
        &format!("{base}/v1/deploys"),
        json!({"revision": "v42", "at": deploy_at}).to_string(),
    )
    .await;
    assert_eq!(deploy.status, 200, "{}", deploy.json);
    let id = deploy.json["id"].as_str().expect("deploy id").to_string();

    let mut judged = Value::Null;
    for _ in 0..100 {
        let reply = get(&format!("{base}/v1/deploys/{id}")).await;
        assert_eq!(reply.status, 200, "{}", reply.json);
        if reply.json["gate"]["decisions"].is_array() {
            judged = reply.json;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let decisions = judged["gate"]["decisions"]
        .as_array()
        .unwrap_or_else(|| panic!("the deploy was not judged: {judged}"));
    let broken = decisions
        .iter()
        .find(|d| d["sample_message"] == "Broken in the checkout")
        .unwrap_or_else(|| panic!("Broken not judged: {judged}"));
    assert_eq!(broken["verdict"], "new", "{broken}");
    assert_eq!(broken["observed"], 12);
    assert_eq!(broken["distinct_users"], 12);
    assert_eq!(broken["candidate"], true);
    assert!(broken["reason"].as_str().unwrap_or("").contains("new"));
    for key in [
        "observed", "expected", "p", "q", "impact", "verdict", "reason",
    ] {
        assert!(!broken[key].is_null(), "{key} missing: {broken}");
    }
    // Traffic covers the window but not the baseline: hours are the exposure.
    assert_eq!(judged["gate"]["traffic_known"], false);

    let flagged = get(&format!("{base}/v1/gate/decisions?verdict=flagged")).await;
    assert_eq!(flagged.status, 200);
    let runs = flagged.json["runs"].as_array().expect("runs");
    assert!(
        runs.iter().any(|r| r["deploy"]["revision"] == "v42"
            && r["decisions"].as_array().map(Vec::len) == Some(1)),
        "{}",
        flagged.json
    );
    assert_eq!(
        get(&format!("{base}/v1/gate/decisions?verdict=maybe"))
            .await
            .status,
        400
    );
    let candidates = get(&format!("{base}/v1/gate/candidates")).await;
    let list = candidates.json["candidates"]
        .as_array()
        .expect("candidates");
    assert_eq!(list.len(), 1, "{}", candidates.json);
    assert_eq!(list[0]["revision"], "v42");
    assert_eq!(get(&format!("{base}/v1/deploys/nope")).await.status, 404);

    let status = get(&format!("{base}/v1/status")).await;
    assert_eq!(status.json["gate"]["enabled"], true, "{}", status.json);
    assert!(status.json["gate"]["runs"].as_u64() >= Some(1));
    server.running.shutdown().await;
}

#[tokio::test]
async fn a_recent_deploy_says_when_it_will_be_judged() {
    let server = start(|_| {}).await;
    let base = &server.base;
    let deploy = post(&format!("{base}/v1/deploys"), r#"{"revision":"fresh"}"#).await;
    assert_eq!(deploy.status, 200, "{}", deploy.json);
    let id = deploy.json["id"].as_str().expect("id");
    let reply = get(&format!("{base}/v1/deploys/{id}")).await;
    assert_eq!(
        reply.json["gate"]["status"], "window_open",
        "{}",
        reply.json
    );
    assert!(reply.json["gate"]["judged_after"].is_string());
    server.running.shutdown().await;
}

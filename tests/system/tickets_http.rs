//! Tickets in a running sidecar: a deploy breaks something, the gate flags
//! it, the analyzer opens a ticket and triage decides it (the deterministic
//! path: no LLM, no repository), and the operator reads, labels and
//! dismisses it over HTTP. Then the same across a restart: nothing is
//! analyzed twice.

use std::time::Duration;

use serde_json::{Value, json};
use suture::config::Config;
use suture_actors::clock::now_ms;

use crate::common::{eventually, get, post, start, start_in};

use crate::common::openai_stub;

const HOUR: i64 = 3_600_000;
const MINUTE: i64 = 60_000;

/// In the new error's message: the ticket must carry neither.
const PASSWORD: &str = "hunter2";
const EMAIL: &str = "alice@example.com";

/// How long the gate, analyzer and triage get to turn the scenario into a
/// triaged ticket: each ticks every 200 ms, so this is slack for a loaded
/// machine, not the expected time.
const PIPELINE_DEADLINE: Duration = Duration::from_secs(30);

pub(crate) fn fast_stages(config: &mut Config) {
    config.gate.interval = Duration::from_millis(200);
    config.gate.settle = Duration::from_secs(0);
    config.analyzer.interval = Duration::from_millis(200);
    config.triage.interval = Duration::from_millis(200);
}

fn event(kind: &str, message: &str, at_ms: i64, user: &str) -> Value {
    json!({
        "type": kind,
        "message": message,
        "stack": format!("{kind}: {message}\n    at pay (/srv/app/pay.js:10:5)"),
        "timestamp": at_ms,
        "user": user,
    })
}

/// The gate's scenario: 30 hours of a steady error, a deploy 61 minutes
/// ago (its window has closed), and a new error after it, twelve times,
/// with a password and an email in its message. Returns the deploy's id.
async fn deploy_breaks_checkout(base: &str) -> String {
    deploy_of_revision_breaks_checkout(base, "v42").await
}

/// [`deploy_breaks_checkout`] with the deploy's revision given.
pub(crate) async fn deploy_of_revision_breaks_checkout(base: &str, revision: &str) -> String {
    let deploy_at = now_ms() - 61 * MINUTE;
    let history: Vec<Value> = (0..30 * 6)
        .map(|i| {
            event(
                "Steady",
                "Steady in the checkout",
                deploy_at - 30 * HOUR + i * 10 * MINUTE,
                "u1",
            )
        })
        .collect();
    let reply = post(&format!("{base}/v1/events"), json!(history).to_string()).await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    let traffic = post(
        &format!("{base}/v1/traffic"),
        json!({"requests": 5000, "at": deploy_at + 5 * MINUTE}).to_string(),
    )
    .await;
    assert_eq!(traffic.status, 200, "{}", traffic.json);
    let message = format!("Broken in the checkout: login failed password={PASSWORD} for {EMAIL}");
    let broken: Vec<Value> = (0..12)
        .map(|i| {
            event(
                "Broken",
                &message,
                deploy_at + i * 4 * MINUTE,
                &format!("user{i}"),
            )
        })
        .collect();
    let reply = post(&format!("{base}/v1/events"), json!(broken).to_string()).await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    let deploy = post(
        &format!("{base}/v1/deploys"),
        json!({"revision": revision, "at": deploy_at}).to_string(),
    )
    .await;
    assert_eq!(deploy.status, 200, "{}", deploy.json);
    deploy.json["id"].as_str().expect("deploy id").to_string()
}

/// Waits for a triaged ticket and returns the list reply.
pub(crate) async fn triaged_list(base: &str) -> Value {
    let deadline = tokio::time::Instant::now() + PIPELINE_DEADLINE;
    loop {
        let reply = get(&format!("{base}/v1/tickets")).await;
        assert_eq!(reply.status, 200, "{}", reply.json);
        let tickets = reply.json["tickets"].as_array();
        if tickets.is_some_and(|t| !t.is_empty() && t.iter().all(|t| t["state"] == "triaged")) {
            return reply.json;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no triaged ticket within {PIPELINE_DEADLINE:?}: {}",
            reply.json
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_deploy_becomes_a_ticket_the_operator_labels_and_dismisses() {
    let server = start(fast_stages).await;
    let base = server.base.as_str();
    let deploy_id = deploy_breaks_checkout(base).await;

    // The list: one ticket, the new error's; the steady background error
    // (no change at the deploy) gets none.
    let list = triaged_list(base).await;
    assert_eq!(list["total"], 1, "{list}");
    let summary = &list["tickets"][0];
    assert_eq!(summary["disposition"], "external", "{summary}");
    assert_eq!(summary["grouping"], "deterministic", "{summary}");
    assert_eq!(summary["triage"], "deterministic", "{summary}");
    assert_eq!(summary["decision"], "unsure", "{summary}");
    assert_eq!(summary["deploy_id"], deploy_id.as_str(), "{summary}");
    assert!(
        !summary["title"].as_str().unwrap_or("").contains("Steady"),
        "{summary}"
    );
    let id = summary["id"].as_str().expect("ticket id").to_string();

    // The detail: every piece of evidence, scrubbed.
    let reply = get(&format!("{base}/v1/tickets/{id}")).await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    let ticket = reply.json;
    assert_eq!(ticket["id"], id.as_str());
    assert_eq!(ticket["state"], "triaged", "{ticket}");
    assert_eq!(ticket["disposition"], "external", "{ticket}");
    assert_eq!(ticket["deploy_id"], deploy_id.as_str(), "{ticket}");
    assert_eq!(ticket["revision"], "v42", "{ticket}");
    assert_eq!(ticket["shadow"], true, "{ticket}");
    let grouping = &ticket["grouping"];
    assert_eq!(grouping["method"], "deterministic", "{grouping}");
    assert_eq!(
        grouping["fallback_reason"], "no LLM configured",
        "{grouping}"
    );
    let triage = &ticket["triage"];
    assert_eq!(triage["method"], "deterministic", "{triage}");
    assert_eq!(triage["decision"], "unsure", "{triage}");
    assert!(
        triage["reasoning"]
            .as_str()
            .is_some_and(|r| r.contains("repository")),
        "the reasoning should say no repository was there to read: {triage}"
    );
    let signatures = ticket["signatures"].as_array().expect("signatures");
    assert_eq!(signatures.len(), 1, "{ticket}");
    let evidence = &signatures[0];
    assert_eq!(evidence["exception_type"], "Broken", "{evidence}");
    let gate = &evidence["gate"][0];
    assert_eq!(gate["verdict"], "new", "{gate}");
    assert_eq!(gate["observed"], 12, "{gate}");
    for key in ["expected", "q", "impact", "severity", "reason", "run"] {
        assert!(!gate[key].is_null(), "gate evidence lacks {key}: {gate}");
    }
    let message = evidence["message"].as_str().expect("sample message");
    assert!(
        message.starts_with("Broken in the checkout: login failed password=[REDACTED:"),
        "{message}"
    );
    // The password's value runs to the end of its line, so the address
    // after it goes with it: what matters is that neither is left.
    assert!(
        !message.contains(EMAIL) && !message.contains(PASSWORD),
        "{message}"
    );
    let frame = evidence["frames"]
        .as_array()
        .and_then(|f| f.last())
        .expect("a frame");
    assert_eq!(frame["function"], "pay", "{frame}");
    assert_eq!(frame["line"], 10, "{frame}");
    assert!(
        frame["file"]
            .as_str()
            .is_some_and(|f| f.ends_with("pay.js")),
        "{frame}"
    );
    let audit = ticket["audit"].as_array().expect("audit");
    assert!(
        audit
            .iter()
            .any(|a| a["actor"] == "analyzer" && a["action"] == "opened"),
        "{ticket}"
    );
    assert!(
        audit.iter().any(|a| a["action"] == "state"
            && a["detail"]
                .as_str()
                .is_some_and(|d| d.starts_with("open -> triaged"))),
        "{ticket}"
    );
    let whole = ticket.to_string();
    assert!(
        !whole.contains(PASSWORD) && !whole.contains(EMAIL),
        "a secret reached the ticket: {whole}"
    );
    assert!(whole.contains("[REDACTED"), "{whole}");

    // Filters and their refusals.
    let count = |query: &'static str| {
        let url = format!("{base}/v1/tickets?{query}");
        async move {
            let reply = get(&url).await;
            assert_eq!(reply.status, 200, "{query}: {}", reply.json);
            reply.json["total"].as_u64().expect("total")
        }
    };
    assert_eq!(count("state=triaged").await, 1);
    assert_eq!(count("state=open").await, 0);
    assert_eq!(count("disposition=external").await, 1);
    assert_eq!(count("disposition=noise").await, 0);
    assert_eq!(count("limit=5000").await, 1);
    let bad_state = get(&format!("{base}/v1/tickets?state=closed")).await;
    assert_eq!(bad_state.status, 400, "{}", bad_state.json);
    assert_eq!(bad_state.json["field"], "state");
    let error = bad_state.json["error"].as_str().unwrap_or("");
    assert!(
        error.contains("\"closed\"") && error.contains("open, triaged, fixing, review, pr_open"),
        "{error}"
    );
    let bad_disposition = get(&format!("{base}/v1/tickets?disposition=maybe")).await;
    assert_eq!(bad_disposition.status, 400, "{}", bad_disposition.json);
    assert!(
        bad_disposition.json["error"]
            .as_str()
            .is_some_and(|e| e.contains("fix_candidate, external, noise")),
        "{}",
        bad_disposition.json
    );
    assert_eq!(
        get(&format!("{base}/v1/tickets?limit=many")).await.status,
        400
    );
    let missing = get(&format!("{base}/v1/tickets/T-999")).await;
    assert_eq!(missing.status, 404, "{}", missing.json);
    assert!(missing.json["error"].is_string(), "{}", missing.json);

    // Status counts the ticket and shows both stages.
    let status = get(&format!("{base}/v1/status")).await.json;
    assert_eq!(status["tickets"]["total"], 1, "{status}");
    assert_eq!(status["tickets"]["by_state"]["triaged"], 1, "{status}");
    assert_eq!(status["tickets"]["by_state"]["open"], 0, "{status}");
    assert_eq!(
        status["tickets"]["by_disposition"]["external"], 1,
        "{status}"
    );
    assert!(
        status["analyzer"]["tickets_created"].as_u64() >= Some(1),
        "{status}"
    );
    assert!(status["triage"]["triaged"].as_u64() >= Some(1), "{status}");
    assert_eq!(status["triage"]["shadow"], true, "{status}");
    // No repository, no test command: the coding agent says why it is off.
    assert_eq!(status["coder"]["enabled"], false, "{status}");
    assert!(
        status["coder"]["disabled_reason"]
            .as_str()
            .is_some_and(|r| r.contains("repo.path")),
        "{status}"
    );

    // The review API: no fix on this ticket, none anywhere.
    let no_fix = get(&format!("{base}/v1/tickets/{id}/fix")).await;
    assert_eq!(no_fix.status, 404, "{}", no_fix.json);
    assert!(
        no_fix.json["error"]
            .as_str()
            .is_some_and(|e| e.contains("has no fix")),
        "{}",
        no_fix.json
    );
    let approve = post(&format!("{base}/v1/tickets/{id}/fix/approve"), "{}").await;
    assert_eq!(approve.status, 409, "{}", approve.json);
    for (body, status) in [
        ("{}", 400),
        (r#"{"reason": "  "}"#, 400),
        (r#"{"reason": "no", "extra": 1}"#, 400),
        (r#"{"reason": "wrong fix"}"#, 409),
    ] {
        let reply = post(&format!("{base}/v1/tickets/{id}/fix/reject"), body).await;
        assert_eq!(reply.status, status, "{body}: {}", reply.json);
    }
    let unknown_fix = post(&format!("{base}/v1/tickets/T-999/fix/approve"), "{}").await;
    assert_eq!(unknown_fix.status, 404, "{}", unknown_fix.json);
    let attempts = get(&format!("{base}/v1/tickets/{id}/attempts")).await;
    assert_eq!(attempts.status, 200, "{}", attempts.json);
    assert_eq!(attempts.json["attempts"], json!([]), "{}", attempts.json);
    assert_eq!(
        get(&format!("{base}/v1/tickets/T-999/attempts"))
            .await
            .status,
        404
    );

    // Labels: the shape is checked before the ticket is looked up.
    let label_url = format!("{base}/v1/tickets/{id}/label");
    let long_note = "x".repeat(2001);
    for (body, field) in [
        ("{}".to_string(), "body"),
        (r#"{"correct": "yes"}"#.to_string(), "body"),
        (r#"{"correct": true, "why": "x"}"#.to_string(), "body"),
        ("correct".to_string(), "body"),
        (
            json!({"correct": true, "note": long_note}).to_string(),
            "note",
        ),
    ] {
        let reply = post(&label_url, body.clone()).await;
        assert_eq!(reply.status, 400, "{body}: {}", reply.json);
        assert_eq!(reply.json["field"], field, "{body}: {}", reply.json);
        if field == "body" {
            assert!(
                reply.json["error"]
                    .as_str()
                    .is_some_and(|e| e.contains(r#"expected {"correct": true|false"#)),
                "{body}: {}",
                reply.json
            );
        }
    }
    let unknown = post(
        &format!("{base}/v1/tickets/T-999/label"),
        r#"{"correct": true}"#,
    )
    .await;
    assert_eq!(unknown.status, 404, "{}", unknown.json);
    // The triage was wrong: a broken checkout after a deploy was a fix
    // candidate, and only the missing repository kept triage from seeing it.
    let labeled = post(
        &label_url,
        json!({"correct": false, "grouping_correct": true,
            "note": "the deploy broke it; mail ops@example.com"})
        .to_string(),
    )
    .await;
    assert_eq!(labeled.status, 200, "{}", labeled.json);
    assert_eq!(labeled.json["label"]["correct"], false, "{}", labeled.json);
    assert_eq!(
        labeled.json["label"]["grouping_correct"], true,
        "{}",
        labeled.json
    );
    let note = labeled.json["label"]["note"].as_str().unwrap_or("");
    assert!(
        note.starts_with("the deploy broke it") && !note.contains("ops@example.com"),
        "{note}"
    );
    let report = get(&format!("{base}/v1/report")).await;
    assert_eq!(report.status, 200, "{}", report.json);
    let overall = &report.json["triage"]["overall"];
    assert_eq!(overall["labeled"], 1, "{}", report.json);
    assert_eq!(overall["false_negatives"], 1, "{}", report.json);
    assert_eq!(overall["true_positives"], 0, "{}", report.json);
    assert_eq!(overall["precision"], Value::Null, "{}", report.json);
    assert_eq!(overall["recall"], 0.0, "{}", report.json);
    assert_eq!(
        report.json["triage"]["by_method"]["deterministic"]["labeled"], 1,
        "{}",
        report.json
    );
    assert_eq!(report.json["triage"]["unlabeled"], 0, "{}", report.json);
    assert_eq!(report.json["llm"]["configured"], false, "{}", report.json);
    // The design's metrics: the grouping label counts, the events are in
    // the volume, nothing was fixed yet.
    let outcomes = &report.json["outcomes"];
    assert_eq!(
        outcomes["deduplication_accuracy"],
        json!({"of": 1, "count": 1, "ratio": 1.0}),
        "{}",
        report.json
    );
    assert_eq!(outcomes["fixes"]["attempts"], 0, "{}", report.json);
    assert_eq!(
        outcomes["fixes"]["success_rate"],
        Value::Null,
        "{}",
        report.json
    );
    let stored: u64 = outcomes["volume"]["daily"]
        .as_array()
        .map(|days| days.iter().filter_map(|d| d[1].as_u64()).sum())
        .unwrap_or(0);
    assert!(stored > 0, "{}", report.json);
    // (The same figures are gauges on /metrics; the recorder is shared by
    // every server of this test process, so no value is asserted there.)

    // State changes: only an operator's three, with a reason.
    let state_url = format!("{base}/v1/tickets/{id}/state");
    let long_reason = "r".repeat(2001);
    for (body, field) in [
        (json!({"state": "fixing", "reason": "x"}), "state"),
        (json!({"state": "open", "reason": "x"}), "state"),
        (json!({"state": "gone", "reason": "x"}), "state"),
        (json!({"state": "dismissed"}), "body"),
        (json!({"state": "dismissed", "reason": "  "}), "reason"),
        (
            json!({"state": "dismissed", "reason": long_reason}),
            "reason",
        ),
        (
            json!({"state": "dismissed", "reason": "x", "force": true}),
            "body",
        ),
    ] {
        let reply = post(&state_url, body.to_string()).await;
        assert_eq!(reply.status, 400, "{body}: {}", reply.json);
        assert_eq!(reply.json["field"], field, "{body}: {}", reply.json);
    }
    let fixing = post(
        &state_url,
        json!({"state": "fixing", "reason": "x"}).to_string(),
    )
    .await;
    assert!(
        fixing.json["error"]
            .as_str()
            .is_some_and(|e| e.contains("dismissed, escalated, resolved")),
        "{}",
        fixing.json
    );
    let dismiss = json!({"state": "dismissed", "reason": "a flaky payment sandbox"}).to_string();
    assert_eq!(
        post(&format!("{base}/v1/tickets/T-999/state"), dismiss.clone())
            .await
            .status,
        404
    );
    let dismissed = post(&state_url, dismiss.clone()).await;
    assert_eq!(dismissed.status, 200, "{}", dismissed.json);
    assert_eq!(dismissed.json["state"], "dismissed", "{}", dismissed.json);
    assert!(
        dismissed.json["audit"]
            .as_array()
            .is_some_and(|a| a.iter().any(|e| e["actor"] == "local"
                && e["detail"] == "triaged -> dismissed: a flaky payment sandbox")),
        "{}",
        dismissed.json
    );
    let again = post(&state_url, dismiss).await;
    assert_eq!(again.status, 409, "{}", again.json);
    assert!(
        again.json["error"]
            .as_str()
            .is_some_and(|e| e.contains("cannot move from dismissed to dismissed")),
        "{}",
        again.json
    );
    assert_eq!(count("state=dismissed").await, 1);
    server.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_neither_duplicates_nor_forgets_tickets() {
    let server = start(fast_stages).await;
    deploy_breaks_checkout(&server.base).await;
    let before = triaged_list(&server.base).await;
    assert_eq!(before["total"], 1, "{before}");
    let crate::common::TestServer { running, dir, .. } = server;
    running.shutdown().await;

    let server = start_in(dir, fast_stages).await;
    let base = server.base.as_str();
    // The new analyzer and triage have each made a pass over the store...
    let last_passes = || async {
        let status = get(&format!("{base}/v1/status")).await.json;
        (
            status["analyzer"]["last_batch_ms"].as_i64(),
            status["triage"]["last_pass_ms"].as_i64(),
        )
    };
    let passed = eventually(Duration::from_secs(10), || async {
        let (analyzer, triage) = last_passes().await;
        analyzer.is_some() && triage.is_some()
    })
    .await;
    assert!(passed, "the restarted stages never ran");
    let first = last_passes().await;
    // ...and another one each, begun after the first had ended, with the
    // gate ticking too.
    let passed_again = eventually(Duration::from_secs(10), || async {
        let (analyzer, triage) = last_passes().await;
        analyzer > first.0 && triage > first.1
    })
    .await;
    assert!(passed_again, "the restarted stages ran only once");
    let after = get(&format!("{base}/v1/tickets")).await;
    assert_eq!(after.status, 200, "{}", after.json);
    assert_eq!(after.json, before, "the restart changed the tickets");
    let status = get(&format!("{base}/v1/status")).await.json;
    assert_eq!(status["analyzer"]["tickets_created"], 0, "{status}");
    assert_eq!(status["tickets"]["total"], 1, "{status}");
    server.running.shutdown().await;
}

/// [`fast_stages`], the service's repository at `repo`, and the model at
/// `base_url` (no retries: each test scripts every answer).
pub(crate) fn with_repo_and_llm(config: &mut Config, repo: std::path::PathBuf, base_url: String) {
    fast_stages(config);
    config.repo.path = repo;
    config.llm.base_url = base_url;
    config.llm.model = "stub-model".into();
    config.llm.max_retries = 0;
}

/// The service's repository: `pay.js`, whose line 10 the deploy changed.
pub(crate) fn service_repository(dir: &std::path::Path) -> String {
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["-c", "user.name=T", "-c", "user.email=t@example.com"])
            .args([
                "-c",
                "commit.gpgsign=false",
                "-c",
                "core.hooksPath=/dev/null",
            ])
            .args(args)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .expect("git runs");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let pay = |line10: &str| -> String {
        (1..=20)
            .map(|i| {
                if i == 10 {
                    format!("{line10}\n")
                } else {
                    format!("// {i}\n")
                }
            })
            .collect()
    };
    git(&["init", "-q"]);
    std::fs::write(dir.join("pay.js"), pay("const total = cart.sum();")).expect("write");
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "base"]);
    std::fs::write(dir.join("pay.js"), pay("const total = cart.items.sum();")).expect("write");
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "the deploy"]);
    git(&["rev-parse", "HEAD"])
}

/// A stand-in model for both prompts: groups the one exception, and blames
/// line 10 of pay.js, naming the signature the prompt showed.
pub(crate) fn model(system: &str, user: &str) -> String {
    if !system.contains("triage step") {
        return r#"{"groups": [{"root_cause": "Checkout sums cart.items, which is undefined for saved carts.", "severity": "high", "affected_exceptions": [0], "suggested_fix": "Fall back to cart.sum() when items is missing.", "files_likely_involved": ["pay.js"]}]}"#.into();
    }
    let signature = user
        .split("signature: ")
        .nth(1)
        .and_then(|rest| rest.lines().next())
        .unwrap_or_default();
    format!(
        r#"{{"decision": "caused_by_deploy", "confidence": 0.8, "reasoning": "pay.js line 10 now reads cart.items", "signatures": ["{signature}"], "suspect_lines": [{{"file": "pay.js", "line": 10, "why": "cart.items is undefined"}}]}}"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_repository_and_an_llm_the_deploy_is_blamed_on_its_changed_line() {
    let repo = tempfile::tempdir().expect("tempdir");
    let revision = service_repository(repo.path());
    let responder: openai_stub::Responder = std::sync::Arc::new(model);
    let stub = openai_stub::Stub::start(vec![
        openai_stub::Reply::Respond(responder.clone()),
        openai_stub::Reply::Respond(responder),
    ])
    .await;
    let (repo_path, base_url) = (repo.path().to_path_buf(), stub.base_url.clone());
    let server = start(move |config| with_repo_and_llm(config, repo_path, base_url)).await;
    let base = server.base.as_str();
    deploy_of_revision_breaks_checkout(base, &revision).await;
    let list = triaged_list(base).await;
    assert_eq!(list["total"], 1, "{list}");
    let id = list["tickets"][0]["id"].as_str().expect("id");
    let ticket = get(&format!("{base}/v1/tickets/{id}")).await.json;
    assert_eq!(ticket["disposition"], "fix_candidate", "{ticket}");
    assert_eq!(ticket["grouping"]["method"], "llm", "{ticket}");
    assert_eq!(ticket["files"], json!(["pay.js"]), "{ticket}");
    assert_eq!(
        ticket["title"],
        "Checkout sums cart.items, which is undefined for saved carts."
    );
    let triage = &ticket["triage"];
    assert_eq!(triage["method"], "llm", "{triage}");
    assert_eq!(triage["decision"], "caused_by_deploy");
    assert_eq!(triage["suspect_lines"][0]["file"], "pay.js");
    assert_eq!(triage["suspect_lines"][0]["line"], 10);
    assert_eq!(triage["diff"]["to"], revision.as_str());
    assert_eq!(triage["diff"]["files"][0]["path"], "pay.js");
    assert_eq!(triage["diff"]["files"][0]["class"], "runtime");
    assert_eq!(triage["links"][0]["on_changed_line"], true, "{triage}");

    let requests = stub.requests();
    assert_eq!(requests.len(), 2, "one grouping, one triage call");
    for request in &requests {
        assert!(!request.body.contains(PASSWORD) && !request.body.contains(EMAIL));
    }
    assert!(
        requests[1].body.contains("cart.items.sum()"),
        "the diff was sent"
    );
    let report = get(&format!("{base}/v1/report")).await.json;
    assert_eq!(report["llm"]["calls"], 2, "{report}");
    assert_eq!(report["llm"]["tokens"], 500, "{report}");
}

/// A first day: a fresh store (no history, `gate.min_history` at its default
/// of a day), a deploy, and a brand-new error from many users right after
/// it. The gate judges the deploy by the cold-start rules when its window
/// closes, on the wall clock, and the error becomes a triaged ticket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_fresh_store_a_deploy_that_introduces_an_error_becomes_a_ticket() {
    let server = start(|config| {
        fast_stages(config);
        // The shortest window, so the test waits for at most one minute.
        config.gate.window = Duration::from_secs(60);
    })
    .await;
    let base = server.base.as_str();
    let deploy_at = now_ms();
    // What the service already logged before the deploy (in an earlier
    // minute than the deploy's, where its window starts).
    let before: Vec<Value> = (0..5)
        .map(|i| {
            event(
                "Timeout",
                "upstream timed out",
                deploy_at - 90_000,
                &format!("u{i}"),
            )
        })
        .collect();
    let reply = post(&format!("{base}/v1/events"), json!(before).to_string()).await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    let deploy = post(
        &format!("{base}/v1/deploys"),
        json!({"revision": "first", "at": deploy_at}).to_string(),
    )
    .await;
    assert_eq!(deploy.status, 200, "{}", deploy.json);
    let deploy_id = deploy.json["id"].as_str().expect("deploy id").to_string();
    // Sixty KeyErrors from forty users, stamped at the deploy (inside its
    // first minute whatever the second).
    let broken: Vec<Value> = (0..60)
        .map(|i| {
            event(
                "KeyError",
                "KeyError: 'currency'",
                deploy_at,
                &format!("user{}", i % 40),
            )
        })
        .collect();
    let reply = post(&format!("{base}/v1/events"), json!(broken).to_string()).await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    let also = post(
        &format!("{base}/v1/events"),
        json!([event("Timeout", "upstream timed out", deploy_at, "u9")]).to_string(),
    )
    .await;
    assert_eq!(also.status, 200, "{}", also.json);

    // The window closes within a minute; then gate, analyzer and triage.
    let deadline = Duration::from_secs(60) + PIPELINE_DEADLINE;
    let until = tokio::time::Instant::now() + deadline;
    let ticket = loop {
        let reply = get(&format!("{base}/v1/tickets")).await;
        if let Some(t) = reply.json["tickets"].as_array().and_then(|t| t.first()) {
            if t["state"] == "triaged" {
                break t.clone();
            }
        }
        assert!(
            tokio::time::Instant::now() < until,
            "no triaged ticket within {deadline:?}: {}",
            reply.json
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(ticket["deploy_id"], deploy_id.as_str(), "{ticket}");

    let judged = get(&format!("{base}/v1/deploys/{deploy_id}")).await;
    let gate = &judged.json["gate"];
    assert!(
        gate["note"]
            .as_str()
            .is_some_and(|n| n.starts_with("cold start")),
        "{gate}"
    );
    let decisions = gate["decisions"].as_array().expect("decisions");
    let key_error = decisions
        .iter()
        .find(|d| d["sample_message"] == "KeyError: 'currency'")
        .unwrap_or_else(|| panic!("KeyError not judged: {gate}"));
    assert_eq!(key_error["verdict"], "new", "{key_error}");
    assert_eq!(key_error["observed"], 60, "{key_error}");
    // All in one minute, whose user set keeps up to 32 distinct users.
    assert_eq!(key_error["distinct_users"], 32, "{key_error}");
    assert_eq!(key_error["candidate"], true, "{key_error}");
    assert_eq!(
        key_error["cold_start"]["min_history_minutes"], 1440,
        "{key_error}"
    );
    assert!(
        key_error["reason"]
            .as_str()
            .is_some_and(|r| r.contains("new-error rule")),
        "{key_error}"
    );
    // The error the service had before the deploy is not blamed on it.
    let timeout = decisions
        .iter()
        .find(|d| d["sample_message"] == "upstream timed out")
        .unwrap_or_else(|| panic!("Timeout not listed: {gate}"));
    assert_eq!(timeout["verdict"], "pass", "{timeout}");
    // Not judged (no complete hour of history), or judged against the one
    // hour there is when the clock hour turned in the last 90 seconds.
    assert!(
        timeout["reason"]
            .as_str()
            .is_some_and(|r| r.contains("cold start")),
        "{timeout}"
    );
    server.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kill_switch_is_set_over_http_and_survives_a_restart() {
    let server = start(|_| {}).await;
    let url = format!("{}/v1/admin/kill-switch", server.base);
    let off = get(&url).await;
    assert_eq!(off.status, 200, "{}", off.json);
    assert_eq!(off.json["engaged"], false, "{}", off.json);
    for (body, field) in [
        (r#"{"engaged": true}"#, "reason"),
        (r#"{"engaged": true, "reason": "   "}"#, "reason"),
        (r#"{"engaged": "yes", "reason": "x"}"#, "body"),
        (r#"{"on": true}"#, "body"),
    ] {
        let reply = post(&url, body).await;
        assert_eq!(reply.status, 400, "{body}: {}", reply.json);
        assert_eq!(reply.json["field"], field, "{body}: {}", reply.json);
    }
    assert_eq!(
        get(&url).await.json["engaged"],
        false,
        "a refused request changed nothing"
    );
    let on = post(&url, r#"{"engaged": true, "reason": "bad fixes in prod"}"#).await;
    assert_eq!(on.status, 200, "{}", on.json);
    assert_eq!(on.json["engaged"], true);
    assert_eq!(on.json["reason"], "bad fixes in prod");
    let status = get(&format!("{}/v1/status", server.base)).await.json;
    assert_eq!(status["kill_switch"]["engaged"], true, "{status}");
    assert_eq!(status["coder"]["halted"], true, "{status}");

    // A restart keeps it engaged.
    let dir = server.dir;
    server.running.shutdown().await;
    let server = start_in(dir, |_| {}).await;
    let url = format!("{}/v1/admin/kill-switch", server.base);
    let after = get(&url).await.json;
    assert_eq!(after["engaged"], true, "{after}");
    assert_eq!(after["reason"], "bad fixes in prod", "{after}");
    let off = post(&url, r#"{"engaged": false}"#).await;
    assert_eq!(off.status, 200, "{}", off.json);
    assert_eq!(get(&url).await.json["engaged"], false);
    server.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_an_admin_token_admin_calls_need_it_and_ingest_does_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = crate::common::test_config(dir.path());
    let running = suture::server::start_with_admin_token(config, Some("s3cret-admin".into()))
        .await
        .expect("starts");
    let base = format!("http://{}", running.http_addr);
    let url = format!("{base}/v1/admin/kill-switch");
    let engage = r#"{"engaged": true, "reason": "test"}"#;
    let json = ("content-type", "application/json");
    for headers in [
        vec![json],
        vec![json, ("authorization", "Bearer wrong")],
        vec![json, ("authorization", "s3cret-admin")],
    ] {
        let reply = crate::common::send_with("POST", &url, &headers, engage).await;
        assert_eq!(reply.status, 401, "{headers:?}: {}", reply.json);
        assert_eq!(
            reply
                .headers
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok()),
            Some("Bearer")
        );
    }
    for path in ["/v1/tickets", "/v1/status", "/v1/deploys"] {
        assert_eq!(get(&format!("{base}{path}")).await.status, 401, "{path}");
    }
    let token = ("authorization", "Bearer s3cret-admin");
    let state = crate::common::send_with("GET", &url, &[token], "").await;
    assert_eq!(state.status, 200, "{}", state.json);
    assert_eq!(
        state.json["engaged"], false,
        "a refused call changed nothing"
    );
    let on = crate::common::send_with("POST", &url, &[json, token], engage).await;
    assert_eq!(on.status, 200, "{}", on.json);
    // Ingest keeps its own rules; health and metrics stay open.
    let event = post(
        &format!("{base}/v1/events"),
        event("Boom", "boom", now_ms(), "u1").to_string(),
    )
    .await;
    assert_eq!(event.status, 200, "{}", event.json);
    assert_eq!(get(&format!("{base}/healthz")).await.status, 200);
    assert_eq!(get(&format!("{base}/metrics")).await.status, 200);
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_token_web_pages_cannot_use_the_admin_api() {
    let server = start(|_| {}).await;
    let url = format!("{}/v1/admin/kill-switch", server.base);
    // A cross-site form post, and a page's fetch with its Origin.
    let form = crate::common::send_with(
        "POST",
        &url,
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("origin", "https://evil.example"),
        ],
        "engaged=true&reason=x",
    )
    .await;
    assert_eq!(form.status, 403, "{}", form.json);
    let fetch = crate::common::send_with(
        "POST",
        &url,
        &[
            ("content-type", "application/json"),
            ("origin", "https://evil.example"),
        ],
        r#"{"engaged": true, "reason": "x"}"#,
    )
    .await;
    assert_eq!(fetch.status, 403, "{}", fetch.json);
    let rebound = crate::common::send_with("GET", &url, &[("host", "evil.example")], "").await;
    assert_eq!(rebound.status, 403, "{}", rebound.json);
    assert_eq!(get(&url).await.json["engaged"], false, "nothing changed");
    assert!(
        rebound.headers.get("access-control-allow-origin").is_none(),
        "no CORS on admin routes"
    );
    server.running.shutdown().await;

    // And it does not start exposed without a token.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = crate::common::test_config(dir.path());
    config.server.http_addr = "0.0.0.0:0".parse().expect("addr");
    let refused = suture::server::start_with_admin_token(config, None).await;
    let error = refused.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(error.contains("without a token"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_autonomy_level_is_changed_with_a_reason_and_survives_a_restart() {
    let server = start(|_| {}).await;
    let url = format!("{}/v1/admin/autonomy", server.base);
    // No LLM, no agent command, shadow mode on: observe.
    let initial = get(&url).await;
    assert_eq!(initial.status, 200, "{}", initial.json);
    assert_eq!(
        initial.json["autonomy"]["level"], "observe",
        "{}",
        initial.json
    );
    assert!(initial.json["last_change"].is_null(), "{}", initial.json);
    for (body, status) in [
        (r#"{"level": "suggest"}"#, 400),
        (r#"{"level": "yolo", "reason": "x"}"#, 400),
        (r#"{"level": "deploy", "reason": "ship it"}"#, 409),
        (r#"{"mode": "pr"}"#, 400),
    ] {
        let reply = post(&url, body).await;
        assert_eq!(reply.status, status, "{body}: {}", reply.json);
    }
    let set = post(
        &url,
        r#"{"level": "suggest", "reason": "let the agent try"}"#,
    )
    .await;
    assert_eq!(set.status, 200, "{}", set.json);
    assert_eq!(set.json["level"], "suggest");
    let status = get(&format!("{}/v1/status", server.base)).await.json;
    assert_eq!(status["autonomy"]["level"], "suggest", "{status}");

    let dir = server.dir;
    server.running.shutdown().await;
    let server = start_in(dir, |_| {}).await;
    let after = get(&format!("{}/v1/admin/autonomy", server.base))
        .await
        .json;
    assert_eq!(after["autonomy"]["level"], "suggest", "{after}");
    assert_eq!(
        after["last_change"]["reason"], "let the agent try",
        "{after}"
    );
    server.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_actions_are_audited_with_the_named_token_and_the_peer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = crate::common::test_config(dir.path());
    let tokens = vec![
        ("admin".to_string(), "s3cret-admin".to_string()),
        ("alice".to_string(), "alice-token".to_string()),
    ];
    let running = suture::server::start_with_tokens(config, tokens)
        .await
        .expect("starts");
    let base = format!("http://{}", running.http_addr);
    let json = ("content-type", "application/json");
    let alice = ("authorization", "Bearer alice-token");
    let admin = ("authorization", "Bearer s3cret-admin");
    let on = crate::common::send_with(
        "POST",
        &format!("{base}/v1/admin/kill-switch"),
        &[json, alice],
        r#"{"engaged": true, "reason": "a bad fix went out"}"#,
    )
    .await;
    assert_eq!(on.status, 200, "{}", on.json);
    assert_eq!(on.json["by"], "alice", "{}", on.json);
    let reset = crate::common::send_with(
        "POST",
        &format!("{base}/v1/admin/signatures/sig-checkout/reset"),
        &[json, admin],
        r#"{"reason": "the client library was upgraded"}"#,
    )
    .await;
    assert_eq!(reset.status, 200, "{}", reset.json);

    // The log answers only with a token, and names who did what, from where.
    let audit = format!("{base}/v1/audit?kind=admin");
    assert_eq!(get(&audit).await.status, 401);
    let log = crate::common::send_with("GET", &audit, &[alice], "").await;
    assert_eq!(log.status, 200, "{}", log.json);
    let entries = log.json["entries"].as_array().cloned().unwrap_or_default();
    let kinds: Vec<&str> = entries.iter().filter_map(|e| e["kind"].as_str()).collect();
    assert_eq!(
        kinds,
        ["admin.kill_switch", "admin.fix_loop_reset"],
        "{}",
        log.json
    );
    assert_eq!(entries[0]["actor"], "alice");
    assert_eq!(entries[1]["actor"], "admin");
    for entry in &entries {
        let peer = entry["peer"].as_str().unwrap_or_default();
        assert!(peer.starts_with("127.0.0.1:"), "{entry}");
    }
    assert!(
        entries[0]["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("a bad fix went out")
    );
    // A follower asks for what came after the last seq it saw.
    let next = log.json["next"].as_u64().unwrap_or_default();
    let after = crate::common::send_with(
        "GET",
        &format!("{base}/v1/audit?since={next}"),
        &[alice],
        "",
    )
    .await;
    assert_eq!(
        after.json["entries"],
        serde_json::json!([]),
        "{}",
        after.json
    );
    let bad =
        crate::common::send_with("GET", &format!("{base}/v1/audit?limit=0"), &[alice], "").await;
    assert_eq!(bad.status, 400, "{}", bad.json);
    let breakers =
        crate::common::send_with("GET", &format!("{base}/v1/admin/breakers"), &[alice], "").await;
    assert_eq!(breakers.status, 200, "{}", breakers.json);
    assert_eq!(breakers.json["fix_loops"], serde_json::json!([]));
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_webhooks_are_signed_idempotent_and_move_the_fixs_ticket() {
    use suture_actors::clients::github::webhook::sign;
    use suture_actors::store::tickets::{AnalysisCommit, TicketWrite};

    let dir = tempfile::tempdir().expect("tempdir");
    let config = crate::common::test_config(dir.path());
    let secret = "whsec-test-secret";
    let running = suture::server::start_with_secrets(
        config,
        suture::server::Secrets {
            github_webhook_secret: Some(secret.into()),
            ..Default::default()
        },
    )
    .await
    .expect("starts");
    let base = format!("http://{}", running.http_addr);
    // A ticket whose fix is a draft pull request (#7 on its fix branch).
    let ticket: suture_actors::domain::tickets::Ticket =
        serde_json::from_value(serde_json::json!({
            "id": "", "state": "pr_open", "disposition": "fix_candidate",
            "title": "KeyError", "root_cause": "", "severity": "high", "suggested_fix": "",
            "files": [], "signatures": [], "events": 1, "shadow": false,
            "grouping": {"method": "deterministic", "batch_size": 1},
            "created_at_ms": 1, "updated_at_ms": 1, "audit": [],
            "fix": {"attempt": 1, "branch": "suture/fix-T-1-1", "commit": "c", "base": "b",
                "files": [], "tests": "passed", "review": {"state": "pending"},
                "pull_request": {"number": 7, "url": "u", "created_at_ms": 1}}
        }))
        .expect("ticket");
    running
        .engine
        .store()
        .commit_analysis(
            &AnalysisCommit {
                writes: vec![(TicketWrite::Create(Box::new(ticket)), Vec::new())],
            },
            1,
        )
        .expect("created");
    let merged = serde_json::json!({
        "action": "closed",
        "pull_request": {"number": 7, "merged": true, "merge_commit_sha": "abc123",
            "head": {"ref": "suture/fix-T-1-1"}, "merged_by": {"login": "maria"}},
        "sender": {"login": "maria"}
    })
    .to_string();
    let url = format!("{base}/v1/webhooks/github");
    let deliver = |signature: String, delivery: &'static str| {
        let url = url.clone();
        let body = merged.clone();
        async move {
            crate::common::send_with(
                "POST",
                &url,
                &[
                    ("content-type", "application/json"),
                    ("x-github-event", "pull_request"),
                    ("x-github-delivery", delivery),
                    ("x-hub-signature-256", signature.as_str()),
                ],
                body,
            )
            .await
        }
    };
    let state = |running: &suture::server::Running| {
        running
            .engine
            .store()
            .ticket("T-1")
            .expect("read")
            .expect("T-1")
            .state
            .as_str()
            .to_string()
    };
    // A forged delivery changes nothing.
    let forged = deliver(sign(b"not-the-secret", merged.as_bytes()), "d-1").await;
    assert_eq!(forged.status, 401, "{}", forged.json);
    let unsigned = deliver(String::new(), "d-1").await;
    assert_eq!(unsigned.status, 401, "{}", unsigned.json);
    assert_eq!(state(&running), "pr_open");
    // The real one moves the ticket; its replay is a no-op.
    let real = deliver(sign(secret.as_bytes(), merged.as_bytes()), "d-1").await;
    assert_eq!(real.status, 200, "{}", real.json);
    assert_eq!(real.json["outcome"], "updated", "{}", real.json);
    assert_eq!(state(&running), "verifying");
    let replay = deliver(sign(secret.as_bytes(), merged.as_bytes()), "d-1").await;
    assert_eq!(replay.json["outcome"], "duplicate", "{}", replay.json);
    let trail = running
        .engine
        .store()
        .ticket("T-1")
        .expect("read")
        .expect("T-1")
        .audit;
    assert_eq!(
        trail
            .iter()
            .filter(|a| a.detail.contains("merged by maria"))
            .count(),
        1,
        "{trail:?}"
    );
    running.shutdown().await;

    // Without a secret the route is off.
    let server = start(|_| {}).await;
    let off = post(&format!("{}/v1/webhooks/github", server.base), "{}").await;
    assert_eq!(off.status, 404, "{}", off.json);
    server.running.shutdown().await;
}

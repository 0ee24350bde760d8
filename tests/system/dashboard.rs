//! The dashboard in a real browser against the real binary: headless
//! Chromium, driven by `tests/dashboard/check.mjs` (playwright-core), on a
//! sidecar holding real tickets, one fix waiting in the review queue (made
//! by the built-in agent with the real pytest suite, autonomy `suggest`),
//! and an agent whose test run blocks. The script checks every view, the
//! diff, the login, the confirmations; this side checks what the page did
//! outside the browser: the pull request at the GitHub stand-in, the
//! agent's processes killed, the token's name in the audit log.
//!
//! `scripts/dashboard-screenshots.sh` runs this test with
//! `DASH_SCREENSHOTS` set to refresh `docs/dashboard/*.png`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use suture_actors::config::StoreConfig;
use suture_actors::domain::tickets::Ticket;
use suture_actors::runtime::task::process_alive;
use suture_actors::store::Store;
use suture_actors::store::tickets::{AnalysisCommit, TicketWrite};

use crate::coder_restart::{fixture, free_port, git, pids_in, python, reachable, service};
use crate::common::{eventually, github_stub, openai_stub, send_with};

const TOKEN: &str = "dash-test-reviewer-token-5b1f";
const PR_URL: &str = "https://github.example/acme/py-shop/pull/7";

/// Why the browser test cannot run here, if it cannot: only a missing
/// browser or Node skips it (CI installs both: scripts/setup-tests.sh).
fn missing_tools() -> Option<String> {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&chromium).exists() {
        return Some(format!("no Chromium at {chromium}"));
    }
    let node = Command::new("node").arg("--version").output();
    if !node.is_ok_and(|o| o.status.success()) {
        return Some("no `node` on PATH".into());
    }
    None
}

/// A ticket as triage leaves it, written before the sidecar starts.
fn ticket(state: &str, title: &str, signature: &str, file: &str, revision: &str) -> Ticket {
    // Seen over the last three hours, triaged an hour ago.
    let now = suture_actors::clock::now_ms();
    let (first, last, triaged) = (now - 3 * 3_600_000, now - 60_000, now - 3_600_000);
    serde_json::from_value(json!({
        "id": "", "state": state, "disposition": "fix_candidate",
        "title": title,
        "root_cause": format!("{title}: a request without the field reaches code that indexes it."),
        "severity": "high", "suggested_fix": "Read the field with a default.", "files": [file],
        "revision": revision,
        "signatures": [{
            "signature": signature, "title": title,
            "exception_type": "KeyError", "message": "'coupon'",
            "frames": [{"file": format!("/srv/py-shop/{file}"), "function": "order_total", "line": 44, "in_app": true, "repo_path": file}],
            "total_events": 60, "first_seen_ms": first, "last_seen_ms": last,
            "gate": [{
                "candidate": format!("run-1/{signature}"), "run": "run-1",
                "verdict": "new", "severity": "high", "observed": 60, "expected": 0.0,
                "q": 0.0001, "impact": 4.0, "impact_unit": "events_per_minute",
                "reason": "new since the deploy: 60 events in 15 minutes, none in the 24 hours before",
                "decided_at_ms": triaged
            }]
        }],
        "triage": {
            "method": "llm", "decision": "caused_by_deploy", "confidence": 0.9,
            "reasoning": "The crash site is on a line the deploy changed.",
            "suspect_lines": [{"file": file, "line": 44, "why": "indexes an optional field"}],
            "decided_at_ms": triaged
        },
        "grouping": {"method": "deterministic", "batch_size": 1},
        "events": 60, "shadow": true, "created_at_ms": triaged, "updated_at_ms": triaged,
        "audit": [{"at_ms": triaged, "actor": "triage", "action": state, "detail": format!("planted as {state} by the dashboard test")}]
    }))
    .expect("ticket")
}

/// The deploy T-1 is blamed on: from `from` to `to`, which added
/// `order_count` to shop/orders.py (its line 62 is the suspect line).
struct Blamed<'a> {
    from: &'a str,
    to: &'a str,
}

fn plant(data: &Path, revision: &str, blamed: Option<Blamed<'_>>) {
    let store = Store::open(&StoreConfig {
        path: data.to_path_buf(),
        ..StoreConfig::default()
    })
    .expect("store");
    let mut tickets = [
        ticket(
            "triaged",
            "KeyError: 'coupon' in order_total",
            "sig-coupon",
            "shop/orders.py",
            revision,
        ),
        ticket(
            "triaged",
            "KeyError: 'zone' in shipping_cost",
            "sig-zone",
            "shop/shipping.py",
            revision,
        ),
        ticket(
            "escalated",
            "TimeoutError in the payment client",
            "sig-pay",
            "shop/payments.py",
            revision,
        ),
    ];
    if let (Some(blamed), Some(triage)) = (blamed, tickets[0].triage.as_mut()) {
        triage.diff = Some(
            serde_json::from_value(json!({
                "from": blamed.from, "to": blamed.to, "from_source": "the previous deploy",
                "files": [{"path": "shop/orders.py", "class": "runtime", "status": "modified",
                    "added": 4, "removed": 0}],
                "truncated": false
            }))
            .expect("a diff summary"),
        );
        triage.suspect_lines = serde_json::from_value(json!([
            {"file": "shop/orders.py", "line": 62, "why": "the deploy added it"}
        ]))
        .expect("suspect lines");
    }
    store
        .commit_analysis(
            &AnalysisCommit {
                writes: tickets
                    .into_iter()
                    .map(|t| (TicketWrite::Create(Box::new(t)), Vec::new()))
                    .collect(),
            },
            1_000,
        )
        .expect("planted");
}

/// The sidecar, configured by a file like an operator would.
fn spawn(
    dir: &Path,
    repo: &Path,
    llm: &str,
    github: &str,
    test_command: &str,
) -> (Sidecar, String) {
    let port = free_port();
    let config = format!(
        r#"
[server]
http_addr = "127.0.0.1:{port}"
udp_addr = "127.0.0.1:0"
[store]
path = {data:?}
[admin]
token_env = "DASH_TEST_UNSET_ADMIN_TOKEN"
[admin.tokens]
reviewer = "DASH_TEST_REVIEWER_TOKEN"
[log]
level = "warn"
[repo]
path = {repo:?}
test_command = {test_command:?}
[llm]
base_url = {llm:?}
model = "stub-model"
[agent]
max_concurrent = 2
network = "host"
[gate]
interval = "200ms"
settle = "0s"
[autonomy]
level = "suggest"
[github]
repo = "acme/py-shop"
api_url = {github:?}
token_env = "DASH_TEST_GITHUB_TOKEN"
"#,
        data = dir.join("data").display().to_string(),
        repo = repo.display().to_string(),
    );
    let file = dir.join("config.toml");
    std::fs::write(&file, config).expect("config");
    let child = Command::new(env!("CARGO_BIN_EXE_suture"))
        .args(["serve", "--config"])
        .arg(&file)
        .current_dir(dir)
        .env("DASH_TEST_REVIEWER_TOKEN", TOKEN)
        .env("DASH_TEST_GITHUB_TOKEN", "github-token-for-the-stand-in")
        .env_remove("SUTURE_ADMIN_TOKEN")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn suture");
    (Sidecar(child), format!("http://127.0.0.1:{port}"))
}

/// The sidecar's process, stopped when the test ends, failed or not (its
/// agents' process groups go with it at the next start; here the temporary
/// folder goes too).
struct Sidecar(Child);

impl Drop for Sidecar {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

/// `GET base+path` with the test's token; the JSON, whatever the status.
async fn admin_get(base: &str, path: &str) -> serde_json::Value {
    let auth = format!("Bearer {TOKEN}");
    send_with(
        "GET",
        &format!("{base}{path}"),
        &[("authorization", &auth)],
        bytes::Bytes::new(),
    )
    .await
    .json
}

/// Posts `events` (native JSON) and expects them stored.
async fn post_events(base: &str, events: Vec<serde_json::Value>) {
    let stored = send_with(
        "POST",
        &format!("{base}/v1/events"),
        &[("content-type", "application/json")],
        serde_json::Value::from(events).to_string(),
    )
    .await;
    assert_eq!(stored.status, 200, "{}", stored.json);
}

async fn ticket_state(base: &str, id: &str) -> String {
    let ticket = admin_get(base, &format!("/v1/tickets/{id}")).await;
    ticket["state"].as_str().unwrap_or_default().to_string()
}

/// Runs the browser script; its output goes to the test's.
fn browser_check(base: &str, added_line: &str, screenshots: Option<&Path>) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dashboard/check.mjs");
    let mut command = Command::new("node");
    command
        .arg(&script)
        .env("DASH_URL", base)
        .env("DASH_TOKEN", TOKEN)
        .env("DASH_TOKEN_NAME", "reviewer")
        .env("DASH_REVIEW", "T-1")
        .env("DASH_RUNNING", "T-2")
        .env("DASH_ADDED_LINE", added_line)
        .env("DASH_PR_URL", PR_URL);
    if let Some(dir) = screenshots {
        command.env("DASH_SCREENSHOTS", dir);
    }
    let status = command.status().expect("node runs");
    assert!(
        status.success(),
        "the browser check failed (its output is above); playwright-core comes from tests/clients (scripts/setup-tests.sh)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_in_a_browser_reviews_a_fix_and_stops_a_running_agent() {
    if let Some(why) = missing_tools() {
        eprintln!(
            "SKIPPED the dashboard's browser test: {why} (scripts/setup-tests.sh installs it)"
        );
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = service(dir.path());
    let remote = dir.path().join("remote.git");
    git(
        dir.path(),
        &["init", "-q", "--bare", &remote.display().to_string()],
    );
    git(
        &repo,
        &["remote", "add", "origin", &remote.display().to_string()],
    );
    // The deploy T-1 is blamed on: a function added at the end of
    // shop/orders.py (the fix's edits, further up, still apply).
    let before = git(&repo, &["rev-parse", "HEAD"]);
    let orders = repo.join("shop/orders.py");
    let mut text = std::fs::read_to_string(&orders).expect("orders.py");
    text.push_str("\n\ndef order_count(orders):\n    return len(orders)\n");
    std::fs::write(&orders, text).expect("orders.py");
    git(&repo, &["commit", "-q", "-am", "deploy: count orders"]);
    let after = git(&repo, &["rev-parse", "HEAD"]);
    git(&repo, &["push", "-q", "origin", "main"]);
    plant(
        &dir.path().join("data"),
        &after,
        Some(Blamed {
            from: &before,
            to: &after,
        }),
    );
    let fix = std::fs::read_to_string(fixture().join("fix.edits.txt")).expect("fix");
    let stub = openai_stub::Stub::start(vec![openai_stub::Reply::answer(&fix)]).await;
    let stand_in = github_stub::pull_request_stand_in("acme/py-shop", 7, PR_URL).await;

    // T-2's test run blocks (its worktree is `<data>.worktrees/T-2-<n>`);
    // every other run is the real pytest suite.
    let pids = dir.path().join("pids");
    let test_command = format!(
        "case \"$PWD\" in */T-2-*) echo $$ >> {pids}; sleep 300 & echo $! >> {pids}; wait;; *) exec {python} -m pytest -q -rA -p no:cacheprovider;; esac",
        pids = pids.display(),
        python = python(),
    );
    let (_sidecar, base) = spawn(
        dir.path(),
        &repo,
        &stub.base_url,
        &stand_in.uri(),
        &test_command,
    );
    let ready = eventually(Duration::from_secs(30), || {
        let url = format!("{base}/readyz");
        async move { reachable(&url).await }
    })
    .await;
    assert!(ready, "suture became ready");

    // The scene: T-1's fix in review, T-2's agent running its tests.
    let reviewed = eventually(Duration::from_secs(180), || {
        let base = base.clone();
        async move { ticket_state(&base, "T-1").await == "review" }
    })
    .await;
    assert!(
        reviewed,
        "T-1 reached review: {}",
        ticket_state(&base, "T-1").await
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while pids_in(&pids).len() < 2 {
        assert!(Instant::now() < deadline, "T-2's agent never ran its tests");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let running = pids_in(&pids);
    assert!(running.iter().all(|pid| process_alive(*pid)));
    let pulls_before = github_stub::pull_requests_asked(&stand_in, "acme/py-shop")
        .await
        .len();
    assert_eq!(pulls_before, 0, "at suggest nothing is published by itself");

    traffic(&base).await;

    let shots = std::env::var_os("DASH_SCREENSHOTS").map(PathBuf::from);
    let (base_for_node, shots_for_node) = (base.clone(), shots.clone());
    tokio::task::spawn_blocking(move || {
        browser_check(
            &base_for_node,
            "order.get(\"coupon\")",
            shots_for_node.as_deref(),
        )
    })
    .await
    .expect("browser check ran");

    // What the page did, seen from outside the browser.
    assert_eq!(
        github_stub::pull_requests_asked(&stand_in, "acme/py-shop")
            .await
            .len(),
        1,
        "approving opened the pull request"
    );
    assert_eq!(ticket_state(&base, "T-1").await, "pr_open");
    let gone = eventually(Duration::from_secs(20), || {
        let running = running.clone();
        async move { running.iter().all(|pid| !process_alive(*pid)) }
    })
    .await;
    assert!(gone, "the kill switch killed the running agent's processes");
    let audit = admin_get(&base, "/v1/audit?kind=admin").await;
    let by_page: Vec<(String, String)> = audit["entries"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .map(|e| {
                    (
                        e["kind"].as_str().unwrap_or_default().to_string(),
                        e["actor"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let approved = admin_get(&base, "/v1/audit?ticket=T-1&kind=ticket.fix_approved").await;
    assert_eq!(
        approved["entries"][0]["actor"], "reviewer",
        "the approval is the logged-in token's: {approved}"
    );
    for kind in ["admin.autonomy", "admin.kill_switch"] {
        assert!(
            by_page.contains(&(kind.to_string(), "reviewer".to_string())),
            "{kind} by the logged-in token's name: {by_page:?}"
        );
    }
}

/// A day and more of a steady background error, a deploy an hour ago
/// after which a new error fired for a dozen users, judged by the real
/// gate before the browser looks (its window has closed): the overview's
/// chart and the deploys view show what a running sidecar would.
async fn traffic(base: &str) {
    const MINUTE: i64 = 60_000;
    let now = suture_actors::clock::now_ms();
    let deploy_at = now - 61 * MINUTE;
    let event = |kind: &str, at: i64, user: String| {
        json!({
            "type": kind,
            "message": format!("{kind} in the checkout"),
            "stack": format!("Traceback (most recent call last):\n  File \"/srv/py-shop/shop/cart.py\", line 12, in add\n{kind}: checkout"),
            "timestamp": at,
            "user": user,
        })
    };
    let steady = (0..30 * 6)
        .map(|i| {
            event(
                "LookupError",
                deploy_at - 30 * 60 * MINUTE + i * 10 * MINUTE,
                "u1".into(),
            )
        })
        .collect();
    post_events(base, steady).await;
    let broken = (0..12)
        .map(|i| event("TypeError", deploy_at + i * 4 * MINUTE, format!("user{i}")))
        .collect();
    post_events(base, broken).await;
    let auth = format!("Bearer {TOKEN}");
    let deploy = send_with(
        "POST",
        &format!("{base}/v1/deploys"),
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        json!({"revision": "4f2a9c1", "environment": "production", "at": deploy_at}).to_string(),
    )
    .await;
    assert_eq!(deploy.status, 200, "{}", deploy.json);
    let id = deploy.json["id"].as_str().expect("deploy id").to_string();
    let judged = eventually(Duration::from_secs(30), || {
        let path = format!("/v1/deploys/{id}");
        async move { admin_get(base, &path).await["gate"]["decisions"].is_array() }
    })
    .await;
    assert!(judged, "the gate judged the deploy");
}

/// The session rules over plain HTTP (no browser needed, so this runs
/// everywhere): a one-time code from the admin API becomes a session once;
/// the session reads like its token, and changes state only with the
/// dashboard's header from its own origin; pages need it.
#[tokio::test]
async fn a_login_code_is_a_session_once_and_the_session_is_only_the_pages_own() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = crate::common::test_config(dir.path());
    let running = suture::server::start_with_tokens(config, vec![("alice".into(), TOKEN.into())])
        .await
        .expect("server starts");
    let base = format!("http://{}", running.http_addr);
    let host = running.http_addr.to_string();
    let origin = format!("http://{host}");
    let bearer = format!("Bearer {TOKEN}");
    let none = bytes::Bytes::new;

    // Pages without a session go to the login page; the login page is open.
    for path in ["/", "/dashboard/app.js"] {
        let reply = send_with("GET", &format!("{base}{path}"), &[], none()).await;
        assert_eq!(reply.status, 303, "{path}");
        assert_eq!(reply.headers["location"], "/login");
    }
    assert_eq!(
        send_with("GET", &format!("{base}/login"), &[], none())
            .await
            .status,
        200
    );
    assert_eq!(
        send_with("GET", &format!("{base}/dashboard/login.js"), &[], none())
            .await
            .status,
        200
    );

    // `suture dashboard`'s request: a code, named like the token.
    let code = send_with(
        "POST",
        &format!("{base}/v1/admin/dashboard/login-code"),
        &[("authorization", &bearer)],
        none(),
    )
    .await;
    assert_eq!(code.status, 200, "{}", code.json);
    assert_eq!(code.json["name"], "alice");
    let path = code.json["path"].as_str().expect("path").to_string();
    let login = send_with("GET", &format!("{base}{path}"), &[], none()).await;
    assert_eq!(login.status, 303);
    assert_eq!(login.headers["location"], "/");
    let set = login.headers["set-cookie"]
        .to_str()
        .expect("cookie")
        .to_string();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(attribute), "{set}");
    }
    let cookie = set.split(';').next().expect("pair").to_string();
    let again = send_with("GET", &format!("{base}{path}"), &[], none()).await;
    assert_eq!(
        again.headers["location"], "/login?error=code",
        "a code works once"
    );

    // The session reads, and a session cannot mint codes for itself.
    let page = send_with("GET", &format!("{base}/"), &[("cookie", &cookie)], none()).await;
    assert_eq!(page.status, 200);
    let read = send_with(
        "GET",
        &format!("{base}/v1/dashboard/overview"),
        &[("cookie", &cookie), ("host", &host)],
        none(),
    )
    .await;
    assert_eq!(read.status, 200, "{}", read.json);
    let minted = send_with(
        "POST",
        &format!("{base}/v1/admin/dashboard/login-code"),
        &[
            ("cookie", &cookie),
            ("origin", &origin),
            ("x-suture-dashboard", "1"),
        ],
        none(),
    )
    .await;
    assert_eq!(minted.status, 403, "{}", minted.json);

    // A change needs the header and the page's own origin.
    let engage = json!({"engaged": true, "reason": "checking"}).to_string();
    let url = format!("{base}/v1/admin/kill-switch");
    let json = ("content-type", "application/json");
    for (headers, why) in [
        (
            vec![
                ("cookie", cookie.as_str()),
                ("origin", origin.as_str()),
                json,
            ],
            "no dashboard header",
        ),
        (
            vec![
                ("cookie", cookie.as_str()),
                ("x-suture-dashboard", "1"),
                json,
            ],
            "no origin",
        ),
        (
            vec![
                ("cookie", cookie.as_str()),
                ("origin", "http://evil.example"),
                ("x-suture-dashboard", "1"),
                json,
            ],
            "another origin",
        ),
        (
            vec![
                ("cookie", cookie.as_str()),
                ("origin", origin.as_str()),
                ("x-suture-dashboard", "1"),
                ("sec-fetch-site", "cross-site"),
                json,
            ],
            "a cross-site fetch",
        ),
    ] {
        let refused = send_with("POST", &url, &headers, engage.clone()).await;
        assert_eq!(refused.status, 403, "{why}: {}", refused.json);
    }
    let off = admin_get(&base, "/v1/admin/kill-switch").await;
    assert_eq!(off["engaged"], false, "nothing refused took effect");
    let engaged = send_with(
        "POST",
        &url,
        &[
            ("cookie", &cookie),
            ("origin", &origin),
            ("x-suture-dashboard", "1"),
            json,
        ],
        engage,
    )
    .await;
    assert_eq!(engaged.status, 200, "{}", engaged.json);
    assert_eq!(engaged.json["by"], "alice", "the session acts as its token");

    // Guessing tokens at the login page: a handful a minute per address,
    // then 429 with Retry-After before the guess is even compared.
    let mut statuses = Vec::new();
    for _ in 0..12 {
        let guess = send_with(
            "POST",
            &format!("{base}/login"),
            &[("origin", &origin), ("content-type", "application/json")],
            json!({"token": "not-the-token"}).to_string(),
        )
        .await;
        if guess.status == 429 {
            assert!(
                guess.headers.contains_key("retry-after"),
                "{:?}",
                guess.headers
            );
        }
        statuses.push(guess.status);
    }
    assert!(statuses.iter().take(5).all(|s| *s == 401), "{statuses:?}");
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    let right = send_with(
        "POST",
        &format!("{base}/login"),
        &[("origin", &origin), ("content-type", "application/json")],
        json!({"token": TOKEN}).to_string(),
    )
    .await;
    assert_eq!(
        right.status, 429,
        "even the right token waits: {}",
        right.json
    );

    // Signatures page with a cursor through all of them, once each.
    let events: Vec<_> = (0..5)
        .map(|i| json!({"type": format!("Error{i}"), "message": format!("kind {i}")}))
        .collect();
    post_events(&base, events).await;
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = admin_get(&base, &format!("/v1/signatures?limit=2&cursor={cursor}")).await;
        for s in page["signatures"].as_array().expect("a page") {
            seen.push(s["id"].as_str().expect("id").to_string());
        }
        match page["next"].as_str() {
            Some(next) => cursor = next.to_string(),
            None => break,
        }
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((seen.len(), unique.len()), (5, 5), "{seen:?}");

    // Logout ends it.
    let out = send_with(
        "POST",
        &format!("{base}/logout"),
        &[("cookie", &cookie), ("origin", &origin)],
        none(),
    )
    .await;
    assert_eq!(out.status, 200);
    let after = send_with(
        "GET",
        &format!("{base}/v1/dashboard/overview"),
        &[("cookie", &cookie)],
        none(),
    )
    .await;
    assert_eq!(after.status, 401);
    running.shutdown().await;
}

/// The dashboard's auto-deploy list reaches every auto-deploy, however old
/// its ticket: 2,500 tickets (more than the 2,000 the list once read), the
/// oldest and the newest deployed by Suture, through the real server.
#[tokio::test]
async fn the_auto_deploy_list_reaches_every_auto_deploy_however_old() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = crate::common::test_config(dir.path());
    {
        let store = Store::open(&StoreConfig {
            path: config.store.path.clone(),
            ..StoreConfig::default()
        })
        .expect("store");
        let writes: Vec<_> = (0..2_500)
            .map(|n| {
                let t: Ticket = serde_json::from_value(json!({
                    "id": "", "state": "escalated", "disposition": "fix_candidate",
                    "title": format!("error number {n}"), "root_cause": "a cause",
                    "severity": "high", "suggested_fix": "", "files": [],
                    "signatures": [], "grouping": {"method": "deterministic", "batch_size": 1},
                    "events": 1, "shadow": true, "created_at_ms": 1, "updated_at_ms": 1,
                    "audit": []
                }))
                .expect("ticket");
                (TicketWrite::Create(Box::new(t)), Vec::new())
            })
            .collect();
        for chunk in writes.chunks(500) {
            store
                .commit_analysis(
                    &AnalysisCommit {
                        writes: chunk.to_vec(),
                    },
                    1_000,
                )
                .expect("planted");
        }
        for (id, outcome) in [
            ("T-1", "passed"),
            ("T-2500", "rolled back: the gate flagged"),
        ] {
            store
                .update_ticket(id, |t| {
                    t.auto_deploy = Some(
                        serde_json::from_value(json!({"started_ms": 1_000, "outcome": outcome}))
                            .expect("auto-deploy"),
                    );
                    Ok(())
                })
                .expect("deployed");
        }
        store.flush().await.expect("flush");
    }
    let running = suture::server::start_with_tokens(config, vec![("alice".into(), TOKEN.into())])
        .await
        .expect("server starts");
    let base = format!("http://{}", running.http_addr);
    let listed = admin_get(&base, "/v1/dashboard/auto-deploys").await;
    let ids: Vec<&str> = listed["auto_deploys"]
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|d| d["ticket"].as_str())
        .collect();
    assert_eq!(ids, ["T-2500", "T-1"], "{listed}");
    assert!(listed["next"].is_null(), "{listed}");
    assert_eq!(listed["auto_deploys"][1]["outcome"], "passed");
    // Older than a cursor: only T-1.
    let older = admin_get(&base, "/v1/dashboard/auto-deploys?before=2500").await;
    assert_eq!(older["auto_deploys"][0]["ticket"], "T-1", "{older}");
    assert_eq!(older["auto_deploys"].as_array().map(Vec::len), Some(1));
    // A parameter it does not take is refused, saying which it takes.
    let bad = send_with(
        "GET",
        &format!("{base}/v1/dashboard/auto-deploys?limit=5"),
        &[("authorization", &format!("Bearer {TOKEN}"))],
        bytes::Bytes::new(),
    )
    .await;
    assert_eq!(bad.status, 400, "{}", bad.json);
}

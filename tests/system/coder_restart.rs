//! The real binary's coding agent across a `kill -9`: a sidecar killed
//! while its agent runs the service's tests leaves a running attempt, a
//! worktree and test processes (in their own process group, so the kernel
//! does not kill them with the sidecar). The next start kills those
//! processes, marks the attempt interrupted, removes its worktree and
//! requeues the ticket, which the second attempt fixes with the real tests.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use suture_actors::config::StoreConfig;
use suture_actors::domain::tickets::Ticket;
use suture_actors::runtime::task::process_alive;
use suture_actors::store::Store;
use suture_actors::store::tickets::{AnalysisCommit, TicketWrite};

use crate::common::{eventually, get};

use crate::common::openai_stub;

pub(crate) fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/projects/py-shop")
}

pub(crate) fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=Suture Test",
            "-c",
            "user.email=test@example.com",
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// py-shop as the service's checkout, with one commit.
pub(crate) fn service(dir: &Path) -> PathBuf {
    let repo = dir.join("service");
    let copied = Command::new("cp")
        .args(["-r"])
        .arg(fixture())
        .arg(&repo)
        .status()
        .expect("cp");
    assert!(copied.success());
    for extra in ["event.json", "fix.edits.txt"] {
        std::fs::remove_file(repo.join(extra)).expect("remove");
    }
    git(&repo, &["init", "-q"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "base"]);
    repo
}

/// python with pytest, by its own path (the agent's commands get a
/// scrubbed environment, where a pyenv shim finds no version).
pub(crate) fn python() -> String {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/.venv/bin/python");
    [PathBuf::from("python3"), venv]
        .into_iter()
        .find_map(|p| {
            let out = Command::new(p)
                .args(["-c", "import pytest, sys; print(sys.executable)"])
                .output()
                .ok()?;
            out.status
                .success()
                .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        })
        .expect("python3 with pytest: run scripts/setup-tests.sh")
}

/// A triaged fix candidate for py-shop's KeyError, written before the
/// sidecar starts.
fn plant_ticket(data: &Path, revision: &str) {
    let store = Store::open(&StoreConfig {
        path: data.to_path_buf(),
        ..StoreConfig::default()
    })
    .expect("store");
    let ticket: Ticket = serde_json::from_value(json!({
        "id": "", "state": "triaged", "disposition": "fix_candidate",
        "title": "KeyError: 'coupon' in order_total",
        "root_cause": "order_total reads order[\"coupon\"], which checkouts without a coupon omit.",
        "severity": "high", "suggested_fix": "", "files": ["shop/orders.py"],
        "revision": revision,
        "signatures": [{
            "signature": "sig-coupon", "title": "KeyError in order_total",
            "exception_type": "KeyError", "message": "'coupon'",
            "frames": [{"file": "/srv/py-shop/shop/orders.py", "function": "order_total", "line": 44, "in_app": true, "repo_path": "shop/orders.py"}],
            "total_events": 60, "first_seen_ms": 1000, "last_seen_ms": 2000, "gate": []
        }],
        "grouping": {"method": "deterministic", "batch_size": 1},
        "events": 60, "shadow": true, "created_at_ms": 1000, "updated_at_ms": 1000, "audit": []
    }))
    .expect("ticket");
    store
        .commit_analysis(
            &AnalysisCommit {
                writes: vec![(TicketWrite::Create(Box::new(ticket)), Vec::new())],
            },
            1000,
        )
        .expect("planted");
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

async fn spawn(data: &Path, repo: &Path, llm: &str, test_command: &str) -> (Child, String) {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_suture"))
        .arg("serve")
        .current_dir(data.parent().expect("parent"))
        .env("SUTURE_STORE__PATH", data)
        .env("SUTURE_SERVER__HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env("SUTURE_SERVER__UDP_ADDR", "127.0.0.1:0")
        .env("SUTURE_REPO__PATH", repo)
        .env("SUTURE_REPO__TEST_COMMAND", test_command)
        .env("SUTURE_LLM__BASE_URL", llm)
        .env("SUTURE_LLM__MODEL", "stub-model")
        .env("SUTURE_AGENT__NETWORK", "host")
        .env("SUTURE_LOG__LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn suture");
    let base = format!("http://127.0.0.1:{port}");
    let ready = eventually(Duration::from_secs(30), || {
        let url = format!("{base}/readyz");
        async move { reachable(&url).await }
    })
    .await;
    assert!(ready, "suture became ready");
    (child, base)
}

/// Whether `url` answers 200 (connection refused while starting is no).
pub(crate) async fn reachable(url: &str) -> bool {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    match url.parse() {
        Ok(uri) => client.get(uri).await.is_ok_and(|r| r.status() == 200),
        Err(_) => false,
    }
}

pub(crate) fn pids_in(file: &Path) -> Vec<u32> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sidecar_killed_mid_attempt_cleans_up_and_fixes_after_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = service(dir.path());
    let data = dir.path().join("data");
    plant_ticket(&data, &git(&repo, &["rev-parse", "HEAD"]));
    let fix = std::fs::read_to_string(fixture().join("fix.edits.txt")).expect("fix");
    let stub = openai_stub::Stub::start(vec![openai_stub::Reply::answer(&fix)]).await;

    // First life: the agent's test run hangs; the sidecar is killed.
    let pids = dir.path().join("pids");
    let hanging = format!(
        "echo $$ >> {0}; sleep 300 & echo $! >> {0}; wait",
        pids.display()
    );
    let (mut first, base) = spawn(&data, &repo, &stub.base_url, &hanging).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while pids_in(&pids).len() < 2 {
        assert!(Instant::now() < deadline, "the agent never ran the tests");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let running = get(&format!("{base}/v1/tickets/T-1")).await.json;
    assert_eq!(running["state"], "fixing", "{running}");
    let status = Command::new("kill")
        .args(["-KILL", &first.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let _ = first.wait();
    let orphans = pids_in(&pids);
    assert!(
        orphans.iter().all(|pid| process_alive(*pid)),
        "a SIGKILL of the sidecar leaves its test processes running: the next start must stop them"
    );
    let worktree = dir.path().join("data.worktrees/T-1-1");
    assert!(worktree.exists(), "the attempt's worktree is left behind");

    // Second life: the leftovers are cleaned up and the ticket is fixed.
    let pytest = format!("{} -m pytest -q -rA -p no:cacheprovider", python());
    let (mut second, base) = spawn(&data, &repo, &stub.base_url, &pytest).await;
    let gone = eventually(Duration::from_secs(20), || {
        let orphans = orphans.clone();
        async move { orphans.iter().all(|pid| !process_alive(*pid)) }
    })
    .await;
    assert!(gone, "the first life's test processes outlived the restart");
    let reviewed = eventually(Duration::from_secs(120), || {
        let url = format!("{base}/v1/tickets/T-1");
        async move { get(&url).await.json["state"] == "review" }
    })
    .await;
    let ticket = get(&format!("{base}/v1/tickets/T-1")).await.json;
    assert!(reviewed, "{ticket}");
    let attempts = get(&format!("{base}/v1/tickets/T-1/attempts")).await.json;
    let states: Vec<&str> = attempts["attempts"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x["attempt"]["state"].as_str())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(states, ["interrupted", "succeeded"], "{attempts}");
    assert!(
        !worktree.exists(),
        "the interrupted attempt's worktree is removed"
    );
    let fix: Value = get(&format!("{base}/v1/tickets/T-1/fix")).await.json;
    assert!(
        fix["evidence"]["judgement"]
            .as_str()
            .is_some_and(|j| j.contains("fails without the fix and passes with it")),
        "{fix}"
    );
    let _ = Command::new("kill")
        .args(["-TERM", &second.id().to_string()])
        .status();
    let _ = second.wait();
}

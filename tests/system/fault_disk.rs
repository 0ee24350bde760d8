//! Fault injection: the disk under the store fills up (issue 16, Proof 2).
//!
//! The real binary keeps its store on a tmpfs of a few MiB that also holds
//! a filler file, and is fed events until sled's writes fail with ENOSPC.
//! It must stay up, refuse (503) what it could not store, say on `/readyz`
//! and `/v1/status` that the disk is full, and keep every event it
//! acknowledged: after the filler is deleted and the process restarted,
//! each one is read back and new events are accepted again.
//!
//! sled 0.34.7 cannot recover in-process: its first write error is stored
//! as the database's global error, and only reopening the database clears
//! it. So the sidecar's recovery is the restart that `/readyz` asks for
//! (docs/testing.md, "Disk full").

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::{eventually, get, post};
use crate::durability::{free_port, signal, spawn};

/// A tmpfs mounted for one test, unmounted when dropped (also when the
/// test fails).
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (mount's syntax: `8m`); the reason when
    /// this process may not (not root, no mount(8), no tmpfs).
    fn mount(size: &str) -> Result<Self, String> {
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            return Err("mounting a tmpfs needs root".into());
        }
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !status.success() {
            return Err(format!("mount -t tmpfs failed: {status}"));
        }
        Ok(Self { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// What one event's answer was.
enum Outcome {
    Stored { id: String, signature: String },
    Refused(String),
}

/// One event with a type of its own (so its own signature, whose first
/// samples keep it) and a few KiB of message, so the disk fills quickly.
async fn send_one(base: &str, n: usize) -> Outcome {
    let body = json!({
        "type": format!("DiskFill{n}Error"),
        "message": format!("event {n}: {}", "x".repeat(4096)),
    });
    let reply = post(&format!("{base}/v1/events"), body.to_string()).await;
    match reply.status {
        200 => Outcome::Stored {
            id: reply.json["events"][0]["id"]
                .as_str()
                .expect("an acknowledged event has its id")
                .to_string(),
            signature: reply.json["events"][0]["signature"]
                .as_str()
                .expect("and its signature")
                .to_string(),
        },
        503 => Outcome::Refused(reply.json.to_string()),
        other => panic!(
            "an event is stored (200) or refused (503), got {other}: {}",
            reply.json
        ),
    }
}

/// Waits for the process to exit (SIGKILL after the deadline).
fn wait_exit(sidecar: &mut crate::durability::Sidecar, deadline: Duration) {
    let started = Instant::now();
    while started.elapsed() < deadline {
        if let Ok(Some(_)) = sidecar.child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("suture did not exit within {deadline:?} of SIGTERM on a full disk");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_honestly_keeps_what_it_acknowledged_and_a_restart_recovers() {
    let tmpfs = match Tmpfs::mount("8m") {
        Ok(tmpfs) => tmpfs,
        Err(reason) => {
            eprintln!("SKIPPED a_full_disk_...: {reason}");
            return;
        }
    };
    let data: PathBuf = tmpfs.path().join("data");
    let filler = tmpfs.path().join("filler");
    std::fs::write(&filler, vec![0u8; 2 * 1024 * 1024]).expect("write the filler");
    let port = free_port();
    let mut sidecar = spawn(&data, port, "1h").await;
    let base = sidecar.base.clone();

    // Fill the disk: one client, so each answer is about the store as the
    // previous one left it.
    let mut stored: Vec<(String, String)> = Vec::new();
    let mut refusals: Vec<String> = Vec::new();
    let started = Instant::now();
    let mut n = 0;
    while refusals.len() < 10 {
        assert!(
            started.elapsed() < Duration::from_secs(240) && n < 100_000,
            "the disk never filled: {} events stored in {:?}",
            stored.len(),
            started.elapsed()
        );
        match send_one(&base, n).await {
            Outcome::Stored { id, signature } => {
                assert!(
                    refusals.is_empty(),
                    "an event was acknowledged after the store had failed: {refusals:?}"
                );
                stored.push((id, signature));
            }
            Outcome::Refused(body) => refusals.push(body),
        }
        n += 1;
    }
    assert!(
        stored.len() > 10,
        "events were stored before the disk filled"
    );
    eprintln!("disk full after {} stored events", stored.len());
    assert!(
        refusals.iter().all(|r| r.contains("not stored")),
        "a refusal says the event was not stored: {refusals:?}"
    );

    // Up, and saying what is wrong.
    assert!(
        matches!(sidecar.child.try_wait(), Ok(None)),
        "the sidecar is still running"
    );
    assert_eq!(get(&format!("{base}/healthz")).await.status, 200);
    let ready = get(&format!("{base}/readyz")).await;
    assert_eq!(ready.status, 503, "{}", ready.json);
    let why = ready.json.as_str().unwrap_or_default().to_string();
    assert!(
        why.contains("full") && why.contains("restart"),
        "/readyz names the full disk and the way out: {why}"
    );
    let status = get(&format!("{base}/v1/status")).await;
    assert_eq!(status.status, 200, "{}", status.json);
    assert_eq!(status.json["store"]["healthy"], false, "{}", status.json);
    assert_eq!(status.json["ready"], false, "{}", status.json);
    assert!(
        status.json["store"]["failure"]
            .as_str()
            .is_some_and(|f| f.contains("full")),
        "{}",
        status.json
    );

    // Space freed: sled 0.34.7 still holds its global error, so the
    // sidecar keeps refusing rather than acknowledge into a store that
    // cannot write; it is the restart that recovers.
    std::fs::remove_file(&filler).expect("free the space");
    match send_one(&base, n).await {
        Outcome::Refused(_) => {}
        Outcome::Stored { .. } => panic!("acknowledged into a store sled had failed"),
    }
    assert_eq!(get(&format!("{base}/readyz")).await.status, 503);
    signal(&sidecar.child, "TERM");
    wait_exit(&mut sidecar, Duration::from_secs(30));
    drop(sidecar);

    let sidecar = spawn(&data, port, "1h").await;
    let base = sidecar.base.clone();
    for (id, signature) in &stored {
        let reply = get(&format!("{base}/v1/signatures/{signature}")).await;
        assert_eq!(reply.status, 200, "acknowledged {id} lost: {}", reply.json);
        assert_eq!(reply.json["count"], 1, "{}", reply.json);
        let kept = reply.json["samples"]
            .as_array()
            .is_some_and(|samples| samples.iter().any(|s| s["id"] == id.as_str()));
        assert!(kept, "acknowledged event {id} is readable: {}", reply.json);
    }
    let accepted = eventually(Duration::from_secs(10), || {
        let base = base.clone();
        async move { matches!(send_one(&base, usize::MAX).await, Outcome::Stored { .. }) }
    })
    .await;
    assert!(accepted, "after the restart new events are stored again");
    assert_eq!(get(&format!("{base}/readyz")).await.status, 200);
    let status = get(&format!("{base}/v1/status")).await.json;
    assert_eq!(status["store"]["healthy"], true, "{status}");
    drop(sidecar);
    drop(tmpfs);
}

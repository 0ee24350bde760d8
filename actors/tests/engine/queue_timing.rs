//! The debounce queue actor under tokio's paused clock: quiet period,
//! max wait against a steady trickle, max batch, and restore after restart.

use std::time::Duration;

use ractor::{Actor, ActorRef};
use suture_actors::config::{QueueConfig, StoreConfig};
use suture_actors::domain::event::Event;
use suture_actors::domain::signature::{Signature, SignatureBasis};
use suture_actors::stages::queue::{QueueActor, QueueArgs, QueueMsg};
use suture_actors::store::{BatchRecord, HandoffReason, SignedEvent, Store};

fn store(dir: &tempfile::TempDir) -> Store {
    Store::open(&StoreConfig {
        path: dir.path().join("data"),
        ..StoreConfig::default()
    })
    .expect("store")
}

fn signed(signature: &str) -> SignedEvent {
    SignedEvent {
        event: Event {
            id: "0".repeat(32),
            message: format!("event of {signature}"),
            source: "test".into(),
            ..Event::default()
        },
        signature: Signature {
            id: signature.to_string(),
            title: signature.to_string(),
            culprit: None,
            basis: SignatureBasis::Message,
        },
    }
}

/// What ingest does: make the change durable, then tell the queue.
fn change(store: &Store, queue: &ActorRef<QueueMsg>, signatures: &[&str]) {
    let events: Vec<SignedEvent> = signatures.iter().map(|s| signed(s)).collect();
    store
        .commit(&events, 0, &mut Default::default())
        .expect("commit");
    queue
        .cast(QueueMsg::Changed(
            signatures.iter().map(|s| s.to_string()).collect(),
        ))
        .expect("cast");
}

async fn spawn(
    store: &Store,
    debounce: u64,
    max_wait: u64,
    max_batch: usize,
) -> ActorRef<QueueMsg> {
    let args = QueueArgs {
        config: QueueConfig {
            debounce: Duration::from_secs(debounce),
            max_wait: Duration::from_secs(max_wait),
            max_batch,
        },
        store: store.clone(),
    };
    let (queue, _) = Actor::spawn(None, QueueActor, args).await.expect("spawn");
    queue
}

/// Lets the actor run without moving the clock.
async fn settle() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
}

/// Waits (in small virtual steps, while sled flushes on its own thread) for a batch.
async fn next_batch(store: &Store, after: u64) -> BatchRecord {
    for _ in 0..10_000 {
        if let Some(batch) = store.batches_after(after).expect("read").into_iter().next() {
            return batch;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("no batch after #{after}");
}

async fn advance(seconds: u64) {
    tokio::time::advance(Duration::from_secs(seconds)).await;
    settle().await;
}

#[tokio::test(start_paused = true)]
async fn batch_is_handed_on_after_the_quiet_period() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store(&dir);
    let queue = spawn(&store, 60, 600, 100).await;
    change(&store, &queue, &["a"]);
    settle().await;
    advance(40).await;
    change(&store, &queue, &["b"]);
    settle().await;
    advance(59).await; // 99 s: 59 s after the last change
    assert!(
        store.last_batch().expect("read").is_none(),
        "not before the quiet period ends"
    );
    advance(2).await;
    let batch = next_batch(&store, 0).await;
    assert_eq!(batch.reason, HandoffReason::Debounce);
    let names: Vec<_> = batch.entries.iter().map(|e| e.signature.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    assert!(
        store.pending().expect("read").is_empty(),
        "handed-on entries leave the pending tree"
    );
}

#[tokio::test(start_paused = true)]
async fn a_steady_trickle_is_handed_on_at_max_wait() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store(&dir);
    let queue = spawn(&store, 60, 300, 100).await;
    // A change every 30 s never leaves a 60 s quiet period.
    for _ in 0..9 {
        change(&store, &queue, &["trickle"]);
        settle().await;
        advance(30).await;
    }
    // 270 s after the first change: not yet.
    assert!(store.last_batch().expect("read").is_none());
    change(&store, &queue, &["trickle"]);
    settle().await;
    advance(31).await;
    let batch = next_batch(&store, 0).await;
    assert_eq!(batch.reason, HandoffReason::MaxWait);
    assert_eq!(batch.entries[0].events, 10);
}

#[tokio::test(start_paused = true)]
async fn max_batch_hands_on_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store(&dir);
    let queue = spawn(&store, 60, 600, 3).await;
    change(&store, &queue, &["a", "b"]);
    settle().await;
    assert!(store.last_batch().expect("read").is_none());
    change(&store, &queue, &["c"]);
    let batch = next_batch(&store, 0).await;
    assert_eq!(batch.reason, HandoffReason::MaxBatch);
    assert_eq!(batch.entries.len(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_pending_batch_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store(&dir);
    // Changes made durable by ingest, but the queue died before handing on.
    store
        .commit(
            &[signed("x"), signed("y")],
            suture_actors::clock::now_ms(),
            &mut Default::default(),
        )
        .expect("commit");
    let queue = spawn(&store, 60, 600, 100).await;
    settle().await;
    let status = queue.call(QueueMsg::Status, None).await.expect("call");
    let ractor::rpc::CallResult::Success(status) = status else {
        panic!("status call failed");
    };
    assert_eq!(status.pending_signatures, 2);
    advance(61).await;
    let batch = next_batch(&store, 0).await;
    assert_eq!(batch.entries.len(), 2);
}

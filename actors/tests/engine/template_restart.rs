//! Log templates across restarts, through the real engine and a real sled
//! store: an acknowledged event's template is on disk when the
//! acknowledgement comes, and after a restart the same lines get the same
//! signatures whatever order they come in.

use std::time::Duration;

use suture_actors::config::{Durability, EngineConfig};
use suture_actors::domain::event::{Event, new_id};
use suture_actors::{Engine, EngineHandle};

/// Two kinds of line per leaf (same length, same first two words, little
/// else in common), each with a word that varies and no digit to mask: the
/// engine must learn that the word is a variable, and the second kind of
/// each leaf is numbered after the first.
const LINES: &[&str] = &[
    "request failed: upstream alpha refused the connection",
    "request failed: upstream beta refused the connection",
    "request failed: client carol sent bad header",
    "request failed: client dave sent bad header",
    "cache miss for key orders",
    "cache miss for key users",
    "cache miss while rebuilding everything",
    "worker stopped",
];

fn config(dir: &std::path::Path) -> EngineConfig {
    let mut config = EngineConfig::default();
    config.store.path = dir.join("data");
    config.store.durability = Durability::Flush;
    config
}

fn event(message: &str) -> Event {
    Event {
        id: new_id(),
        received_at_ms: 1_767_225_600_000,
        timestamp_ms: 1_767_225_600_000,
        exception_type: Some("Error".to_owned()),
        message: message.to_owned(),
        module: Some("shop.proxy".to_owned()),
        source: "test".to_owned(),
        ..Event::default()
    }
}

/// Signs `lines` one at a time, each acknowledged (durable) before the
/// next, and returns their signature ids.
async fn store_lines(engine: &EngineHandle, lines: &[&str]) -> Vec<String> {
    let mut ids = Vec::new();
    for line in lines {
        let signed = engine.sign(event(line));
        ids.push(signed.signature.id.clone());
        let ack = engine
            .ingest()
            .submit(vec![signed])
            .expect("queue has room");
        tokio::time::timeout(Duration::from_secs(30), ack)
            .await
            .expect("acknowledged in time")
            .expect("the writer answered")
            .expect("stored");
    }
    ids
}

/// Signs without storing.
fn sign_all(engine: &EngineHandle, lines: &[&str]) -> Vec<String> {
    lines
        .iter()
        .map(|line| engine.sign(event(line)).signature.id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledged_events_template_is_on_disk_with_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::start(config(dir.path()))
        .await
        .expect("engine starts");
    let handle = engine.handle();
    let stored = |handle: &EngineHandle| -> Vec<Vec<String>> {
        let leaves = handle.store().templates().expect("templates readable");
        leaves.into_iter().flat_map(|leaf| leaf.templates).collect()
    };
    let words = |text: &str| -> Vec<String> { text.split(' ').map(str::to_owned).collect() };

    store_lines(&handle, &[LINES[0]]).await;
    assert_eq!(stored(&handle), [words(LINES[0])]);
    // Widened by the next line: the acknowledgement waits for the new form.
    store_lines(&handle, &[LINES[1]]).await;
    assert_eq!(
        stored(&handle),
        [words("request failed: upstream <*> refused the connection")]
    );
    // A line signed but never stored still teaches the signer; its
    // template is saved with the next group commit, whichever events it holds.
    let unacked = handle.sign(event(LINES[2]));
    assert_eq!(stored(&handle).len(), 1);
    store_lines(&handle, &[LINES[4]]).await;
    assert_eq!(stored(&handle).len(), 3, "{:?}", stored(&handle));
    assert_eq!(sign_all(&handle, &[LINES[2]]), [unacked.signature.id]);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_the_same_lines_get_the_same_signatures() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = {
        let engine = Engine::start(config(dir.path()))
            .await
            .expect("engine starts");
        let ids = store_lines(&engine.handle(), LINES).await;
        engine.shutdown().await;
        ids
    };
    // The lines of one kind share a signature, the kinds do not.
    assert_eq!(first[0], first[1]);
    assert_eq!(first[2], first[3]);
    assert_ne!(first[0], first[2]);
    assert_eq!(first[4], first[5]);
    assert_ne!(first[4], first[6]);

    let again = signed_in_reverse(dir.path()).await;
    assert_eq!(again, first, "the same lines, the same signatures");

    // Without the saved templates, the reversed order numbers each leaf's
    // kinds the other way round: what the restart kept is what made the
    // difference.
    let fresh_dir = tempfile::tempdir().expect("tempdir");
    assert_ne!(signed_in_reverse(fresh_dir.path()).await, first);
}

/// Starts an engine on the store in `dir`, signs [`LINES`] last first, and
/// returns their signature ids in [`LINES`]' order.
async fn signed_in_reverse(dir: &std::path::Path) -> Vec<String> {
    let reversed: Vec<&str> = LINES.iter().rev().copied().collect();
    let engine = Engine::start(config(dir)).await.expect("engine starts");
    let mut ids = sign_all(&engine.handle(), &reversed);
    ids.reverse();
    engine.shutdown().await;
    ids
}

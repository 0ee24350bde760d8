//! Opening the store: a locked or corrupt database is a clear error, never a panic.

use suture_actors::config::StoreConfig;
use suture_actors::store::{Store, StoreError};

fn config(path: &std::path::Path) -> StoreConfig {
    StoreConfig {
        path: path.to_path_buf(),
        ..StoreConfig::default()
    }
}

#[test]
fn second_open_of_the_same_directory_is_locked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _first = Store::open(&config(dir.path())).expect("first open");
    match Store::open(&config(dir.path())) {
        Err(error @ StoreError::Locked { .. }) => {
            assert!(
                error.to_string().contains("locked by another process"),
                "{error}"
            );
        }
        Err(other) => panic!("expected Locked, got {other}"),
        Ok(_) => panic!("expected Locked, got a second handle"),
    }
}

#[test]
fn garbage_files_give_an_error_not_a_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = Store::open(&config(dir.path())).expect("open");
        store.flush_blocking().expect("flush");
    }
    for entry in walk(dir.path()) {
        if entry.is_file() && entry.file_name().is_some_and(|n| n != "conf") {
            std::fs::write(&entry, vec![0xA5u8; 4096]).expect("overwrite");
        }
    }
    let result = std::panic::catch_unwind(|| Store::open(&config(dir.path())).map(|_| ()));
    match result {
        Ok(Err(error)) => {
            let text = error.to_string();
            assert!(text.contains(&dir.path().display().to_string()), "{text}");
            eprintln!("corrupt store reported as: {text}");
        }
        Ok(Ok(())) => eprintln!("sled recovered from the garbage (acceptable)"),
        Err(_) => panic!("opening a corrupt store panicked"),
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
    }
    out
}

/// sled writes a page over about 128 KiB to `blobs/<lsn>` and logs only a
/// pointer; the flush must sync those files too, or an acknowledged event in
/// a large sample page is lost at a power cut.
#[test]
fn every_blob_file_is_synced_by_the_flush() {
    use suture_actors::domain::event::Event;
    use suture_actors::domain::signature::{SignatureConfig, Signer};
    use suture_actors::store::{RecordCache, SignedEvent};

    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&config(dir.path())).expect("open");
    let signer = Signer::new(&SignatureConfig::default()).expect("signer");
    let mut cache = RecordCache::default();
    // Samples of 200 KB each: any page holding one is over the threshold.
    let events: Vec<SignedEvent> = (0..4)
        .map(|i| {
            let event = Event {
                id: suture_actors::domain::event::new_id(),
                received_at_ms: 1_767_607_200_000 + i * 2_000,
                timestamp_ms: 1_767_607_200_000 + i * 2_000,
                exception_type: Some("Big".into()),
                message: format!("big payload {i} {}", "x".repeat(200_000)),
                source: "test".into(),
                ..Event::default()
            };
            let signature = signer.sign(&event);
            SignedEvent { event, signature }
        })
        .collect();
    for signed in &events {
        store
            .commit(
                std::slice::from_ref(signed),
                signed.event.received_at_ms,
                &mut cache,
            )
            .expect("commit");
    }
    store.flush_blocking().expect("flush");
    let blobs = std::fs::read_dir(store.blob_dir())
        .map(|entries| entries.count())
        .unwrap_or(0);
    assert!(blobs > 0, "the test must make sled write a blob");
    assert_eq!(store.synced_blobs(), blobs, "every blob file synced");
}

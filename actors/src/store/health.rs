//! Whether the store can still keep its promise, after a failed sync.
//!
//! When `fsync` fails, Linux may already have dropped the dirty pages it
//! could not write and cleared the error: a second `fsync` on the same file
//! then succeeds while the data is gone (PostgreSQL's "fsyncgate", 2018).
//! So a failed sync is never retried on the same file state. The store
//! records the failure, every later flush fails at once with it (every
//! request gets a 503, none a 200 that would be a lie), and `/readyz`
//! reports not ready so an orchestrator restarts the process. Only a
//! restart, which reopens the store and recovers from what the log really
//! holds, clears it.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// The first sync failure, once there was one.
#[derive(Debug, Default)]
pub struct SyncHealth {
    failed: Mutex<Option<String>>,
    /// Test hook: the next sync fails as if the disk had refused it.
    inject_failure: AtomicBool,
}

impl SyncHealth {
    /// The failure that stopped the store, if any.
    pub fn failure(&self) -> Option<String> {
        self.lock().clone()
    }

    /// Runs one sync unless the store already failed; records its failure.
    pub fn sync(&self, run: impl FnOnce() -> std::io::Result<()>) -> Result<(), String> {
        if let Some(failure) = self.failure() {
            return Err(failure);
        }
        let result = if self.inject_failure.swap(false, Ordering::AcqRel) {
            Err(std::io::Error::other("injected sync failure"))
        } else {
            run()
        };
        result.map_err(|error| {
            let failure = describe(&error);
            tracing::error!(%failure, "the store stops acknowledging writes");
            metrics::counter!("suture_store_sync_failures_total").increment(1);
            self.lock().get_or_insert(failure).clone()
        })
    }

    /// Records a failed write: sled holds its first I/O error and fails
    /// every later write with it, so this is as final as a failed sync.
    pub fn write_failed(&self, error: std::io::Error) {
        let _ = self.sync(|| Err(error));
    }

    /// Makes the next sync fail. For failure tests only.
    pub fn inject_failure(&self) {
        self.inject_failure.store(true, Ordering::Release);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        self.failed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// What `/readyz`, `/v1/status` and the log say. A full disk is named as
/// such, with what the operator does about it: free space, then restart
/// (sled 0.34.7 keeps its first I/O error until the database is reopened,
/// so freeing space alone does not make the running process write again).
fn describe(error: &std::io::Error) -> String {
    let full = error.kind() == std::io::ErrorKind::StorageFull
        || error.to_string().contains("No space left on device");
    if full {
        format!(
            "the disk holding the store is full ({error}); nothing since the last good sync is known to be on disk: free space on it, then restart suture to recover"
        )
    } else {
        format!(
            "writing or syncing the store failed ({error}); nothing since the last good sync is known to be on disk, restart suture to recover"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_sync_is_never_retried() {
        let health = SyncHealth::default();
        assert_eq!(health.sync(|| Ok(())), Ok(()));
        let first = health.sync(|| Err(std::io::Error::other("EIO")));
        assert!(
            first.as_ref().is_err_and(|e| e.contains("EIO")),
            "{first:?}"
        );
        let mut ran = false;
        let second = health.sync(|| {
            ran = true;
            Ok(())
        });
        assert!(!ran, "the sync is not run again on the same state");
        assert_eq!(second, first);
        assert_eq!(health.failure(), first.err());
    }

    #[test]
    fn a_full_disk_is_named_with_the_way_out() {
        let health = SyncHealth::default();
        health.write_failed(std::io::Error::from(std::io::ErrorKind::StorageFull));
        let failure = health.failure().unwrap_or_default();
        assert!(
            failure.contains("disk holding the store is full"),
            "{failure}"
        );
        assert!(failure.contains("free space"), "{failure}");
        let other = SyncHealth::default();
        other.write_failed(std::io::Error::other("EIO"));
        let failure = other.failure().unwrap_or_default();
        assert!(
            !failure.contains("full") && failure.contains("restart"),
            "{failure}"
        );
    }
}

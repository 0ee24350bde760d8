//! Event ids stored recently, so a client's retry is not counted twice.
//!
//! An HTTP client that gets a 503 because its acknowledgement timed out
//! (`server.ack_timeout`) retries, yet the writer may still have stored the
//! first copy a moment later. Sentry SDKs resend the same `event_id`, and
//! native clients may send one: an event whose id was stored within the
//! window is acknowledged again and not written twice.
//!
//! An id enters the set only once its group is on disk: were it entered at
//! commit and the flush then failed, the retry would be dropped as a
//! duplicate of something never stored. The set is in memory, bounded in
//! size, and empty after a restart: the retries it exists for come within
//! seconds, not across restarts.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// How long a stored id is remembered: twice the default ack timeout, so a
/// retry sent right after a timed-out request is still recognized.
pub const WINDOW_MS: i64 = 60_000;

/// Most ids remembered; the oldest go first. 200,000 ids of 32 bytes are
/// about 20 MiB with their overhead: a few seconds of the writer's peak.
pub const MAX_IDS: usize = 200_000;

/// The ids, with when each was stored.
#[derive(Debug, Default)]
pub struct RecentIds {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    stored_at: HashMap<String, i64>,
    order: VecDeque<(i64, String)>,
}

impl RecentIds {
    /// Whether `id` was stored within the window before `now_ms`.
    pub fn contains(&self, id: &str, now_ms: i64) -> bool {
        let inner = self.lock();
        inner
            .stored_at
            .get(id)
            .is_some_and(|at| now_ms.saturating_sub(*at) <= WINDOW_MS)
    }

    /// Remembers ids just made durable, and forgets expired ones.
    pub fn insert<'a>(&self, ids: impl IntoIterator<Item = &'a str>, now_ms: i64) {
        let mut inner = self.lock();
        for id in ids {
            if id.is_empty() {
                continue;
            }
            if inner.stored_at.insert(id.to_string(), now_ms).is_none() {
                inner.order.push_back((now_ms, id.to_string()));
            }
        }
        while let Some((at, _)) = inner.order.front() {
            let expired = now_ms.saturating_sub(*at) > WINDOW_MS;
            if !expired && inner.order.len() <= MAX_IDS {
                break;
            }
            if let Some((at, id)) = inner.order.pop_front() {
                // Only when it was not stored again since.
                if inner.stored_at.get(&id) == Some(&at) {
                    inner.stored_at.remove(&id);
                }
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_remembered_for_the_window_only() {
        let recent = RecentIds::default();
        recent.insert(["a", "b"], 1_000);
        assert!(recent.contains("a", 1_000 + WINDOW_MS));
        assert!(!recent.contains("c", 1_000));
        assert!(!recent.contains("a", 1_001 + WINDOW_MS));
        recent.insert(["c"], 2_000 + WINDOW_MS);
        assert!(
            !recent.contains("a", 2_000 + WINDOW_MS),
            "expired and forgotten"
        );
        assert!(recent.contains("c", 2_000 + WINDOW_MS));
    }

    #[test]
    fn the_set_is_bounded() {
        let recent = RecentIds::default();
        let ids: Vec<String> = (0..MAX_IDS + 10).map(|i| format!("{i:032x}")).collect();
        recent.insert(ids.iter().map(String::as_str), 0);
        assert!(!recent.contains(&ids[0], 0), "the oldest went first");
        assert!(recent.contains(&ids[MAX_IDS + 9], 0));
    }
}

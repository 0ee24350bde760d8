//! The `audit` tree: seq (u64 BE) → [`AuditRecord`] (JSON), append-only.
//!
//! `seq` comes from sled's `generate_id`, which never hands out the same
//! number twice, across restarts too, and grows with time, so the tree's key
//! order is the order things happened and a follower resumes with `since`.
//! Ticket entries are mirrored here inside the transaction that writes the
//! ticket ([`mirror_ticket_entries`]), so the log cannot miss what a ticket
//! says happened. The only removal is [`Store::prune_audit`] (age and size).

use sled::transaction::{TransactionalTree, UnabortableTransactionError};

use super::{Store, StoreError};
use crate::domain::audit::{AuditEntryDraft, AuditQuery, AuditRecord};
use crate::domain::tickets::Ticket;

/// Most entries one query returns.
pub const MAX_QUERY_LIMIT: usize = 5_000;

fn encode(record: &AuditRecord) -> Vec<u8> {
    // A record of strings and integers always serializes.
    serde_json::to_vec(record).unwrap_or_default()
}

/// Writes `ticket`'s entries from index `from` on into the log, inside the
/// transaction that writes the ticket.
pub(super) fn mirror_ticket_entries(
    audit: &TransactionalTree,
    ticket: &Ticket,
    from: usize,
) -> Result<(), UnabortableTransactionError> {
    for entry in ticket.audit.iter().skip(from) {
        // sled's ids start at 0; seqs start at 1, so `since = 0` is "all".
        let seq = audit.generate_id()?.saturating_add(1);
        let record = AuditEntryDraft {
            at_ms: entry.at_ms,
            kind: format!("ticket.{}", entry.action),
            actor: entry.actor.clone(),
            ticket: Some(ticket.id.clone()),
            peer: None,
            detail: entry.detail.clone(),
        }
        .into_record(seq);
        audit.insert(&seq.to_be_bytes(), encode(&record))?;
    }
    Ok(())
}

impl Store {
    /// Appends one entry (durable with the next flush) and returns it.
    pub fn append_audit(&self, draft: AuditEntryDraft) -> Result<AuditRecord, StoreError> {
        let seq = self.db.generate_id()?.saturating_add(1);
        let record = draft.into_record(seq);
        self.audit.insert(seq.to_be_bytes(), encode(&record))?;
        metrics::counter!("suture_audit_entries_total").increment(1);
        Ok(record)
    }

    /// Entries matching `query`, oldest first, at most `query.limit` (capped
    /// at [`MAX_QUERY_LIMIT`]).
    pub fn audit(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        let limit = query.limit.clamp(1, MAX_QUERY_LIMIT);
        let start = query.since.saturating_add(1).to_be_bytes();
        let mut out = Vec::new();
        for item in self.audit.range(start..) {
            let (_, value) = item?;
            let record: AuditRecord = serde_json::from_slice(&value)?;
            if query.matches(&record) {
                out.push(record);
                if out.len() >= limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Removes entries older than `older_than_ms`, then the oldest past
    /// `max_entries`. Returns how many went.
    pub fn prune_audit(&self, older_than_ms: i64, max_entries: usize) -> Result<usize, StoreError> {
        let mut removed = 0;
        for item in self.audit.iter() {
            let (key, value) = item?;
            let at_ms = serde_json::from_slice::<AuditRecord>(&value)
                .map(|r| r.at_ms)
                .unwrap_or(i64::MIN);
            if at_ms >= older_than_ms {
                break;
            }
            self.audit.remove(key)?;
            removed += 1;
        }
        let excess = self.audit.len().saturating_sub(max_entries);
        for _ in 0..excess {
            if self.audit.pop_min()?.is_none() {
                break;
            }
            removed += 1;
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StoreConfig;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = StoreConfig {
            path: dir.path().join("db"),
            ..StoreConfig::default()
        };
        let store = Store::open(&config).expect("open");
        (dir, store)
    }

    #[test]
    fn entries_come_back_in_order_and_a_follower_resumes_after_its_last_seq() {
        let (_dir, store) = store();
        let first = store
            .append_audit(AuditEntryDraft::new(
                1,
                "admin.kill_switch",
                "ops",
                "engaged",
            ))
            .expect("append");
        let second = store
            .append_audit(AuditEntryDraft::new(2, "gate.deploy", "gate", "0 flagged").ticket("T-1"))
            .expect("append");
        assert!(second.seq > first.seq);
        let all = store
            .audit(&AuditQuery {
                limit: 10,
                ..Default::default()
            })
            .expect("read");
        assert_eq!(all, vec![first.clone(), second.clone()]);
        let after = store
            .audit(&AuditQuery {
                since: first.seq,
                limit: 10,
                ..Default::default()
            })
            .expect("read");
        assert_eq!(after, vec![second]);
    }

    #[test]
    fn seq_keeps_growing_across_a_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = StoreConfig {
            path: dir.path().join("db"),
            ..StoreConfig::default()
        };
        let before = {
            let store = Store::open(&config).expect("open");
            let record = store
                .append_audit(AuditEntryDraft::new(1, "k", "a", "d"))
                .expect("append");
            store.flush_blocking().expect("flush");
            record.seq
        };
        let store = Store::open(&config).expect("reopen");
        let after = store
            .append_audit(AuditEntryDraft::new(2, "k", "a", "d"))
            .expect("append");
        assert!(after.seq > before, "{} after {before}", after.seq);
    }

    #[test]
    fn pruning_drops_the_old_then_the_excess() {
        let (_dir, store) = store();
        for at in 1..=10 {
            store
                .append_audit(AuditEntryDraft::new(at, "k", "a", "d"))
                .expect("append");
        }
        assert_eq!(store.prune_audit(4, 100).expect("prune"), 3);
        assert_eq!(store.prune_audit(0, 5).expect("prune"), 2);
        let left: Vec<i64> = store
            .audit(&AuditQuery {
                limit: 100,
                ..Default::default()
            })
            .expect("read")
            .iter()
            .map(|r| r.at_ms)
            .collect();
        assert_eq!(left, vec![6, 7, 8, 9, 10]);
    }
}

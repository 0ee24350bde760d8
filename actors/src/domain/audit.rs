//! The audit log's records: every decision and action Suture takes, in the
//! order it took them, each with who took it and why.
//!
//! A ticket's own trail (`Ticket::audit`) says what happened to one ticket;
//! this log says what happened, full stop: admin actions, gate runs, agent
//! steps and every ticket entry, mirrored in the same transaction that wrote
//! the ticket. Kept by the store's `audit` tree (append-only, pruned by age
//! and size), read by `GET /v1/audit` and `suture audit`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::domain::duration;

/// `[audit]`: how long the log is kept and how large it may grow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// Entries older than this are removed (hourly). 90 days: a quarter's
    /// look back when a fix is questioned, the usual review horizon.
    #[serde(with = "duration")]
    pub retention: Duration,
    /// Most entries kept; past it the oldest go first. An entry is about
    /// 300 bytes, so the default bounds the tree near 300 MB.
    pub max_entries: usize,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            retention: Duration::from_secs(90 * 86_400),
            max_entries: 1_000_000,
        }
    }
}

/// One entry. `seq` orders the log: it grows with every append and is never
/// reused, across restarts too, so a reader that saw `seq` n asks for
/// `since = n` and misses nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub seq: u64,
    pub at_ms: i64,
    /// What happened, dotted by area: `admin.kill_switch`, `gate.deploy`,
    /// `agent.tool_call`, `ticket.opened`, ...
    pub kind: String,
    /// The part of Suture that acted (`operator`, `gate`, `coder`, `github`,
    /// the admin token's name for admin actions, ...).
    pub actor: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
    /// The peer address of an admin request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
    /// The reason or the result, in words (scrubbed by the writer).
    pub detail: String,
}

/// What a new entry says; the store gives it its `seq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntryDraft {
    pub at_ms: i64,
    pub kind: String,
    pub actor: String,
    pub ticket: Option<String>,
    pub peer: Option<String>,
    pub detail: String,
}

impl AuditEntryDraft {
    pub fn new(at_ms: i64, kind: &str, actor: &str, detail: impl Into<String>) -> Self {
        Self {
            at_ms,
            kind: kind.to_string(),
            actor: actor.to_string(),
            ticket: None,
            peer: None,
            detail: detail.into(),
        }
    }

    pub fn ticket(mut self, id: &str) -> Self {
        self.ticket = Some(id.to_string());
        self
    }

    pub fn peer(mut self, peer: Option<String>) -> Self {
        self.peer = peer;
        self
    }

    /// The record the store keeps, with its `seq` and the detail cut to
    /// [`DETAIL_CHARS`].
    pub fn into_record(self, seq: u64) -> AuditRecord {
        AuditRecord {
            seq,
            at_ms: self.at_ms,
            kind: self.kind,
            actor: self.actor,
            ticket: self.ticket,
            peer: self.peer,
            detail: crate::domain::text::truncate(&self.detail, DETAIL_CHARS),
        }
    }
}

/// Characters of one entry's detail: enough for a reason or a test summary;
/// the whole of a long text stays where it belongs (the transcript, the
/// ticket).
pub const DETAIL_CHARS: usize = 1_000;

/// A reader's question: entries after `since`, of one ticket, of kinds that
/// start with `kind` (`agent` matches `agent.tool_call`), at most `limit`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    pub since: u64,
    pub ticket: Option<String>,
    pub kind: Option<String>,
    pub limit: usize,
}

impl AuditQuery {
    pub fn matches(&self, record: &AuditRecord) -> bool {
        record.seq > self.since
            && self
                .ticket
                .as_deref()
                .is_none_or(|t| record.ticket.as_deref() == Some(t))
            && self
                .kind
                .as_deref()
                .is_none_or(|k| kind_matches(&record.kind, k))
    }
}

/// `agent` matches `agent` and `agent.tool_call`, not `agents`.
fn kind_matches(kind: &str, prefix: &str) -> bool {
    kind == prefix
        || kind
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(seq: u64, kind: &str, ticket: Option<&str>) -> AuditRecord {
        let mut draft = AuditEntryDraft::new(1, kind, "x", "d");
        draft.ticket = ticket.map(str::to_string);
        draft.into_record(seq)
    }

    #[test]
    fn a_query_filters_by_seq_ticket_and_kind_prefix() {
        let query = AuditQuery {
            since: 1,
            ticket: Some("T-1".into()),
            kind: Some("agent".into()),
            limit: 10,
        };
        assert!(query.matches(&record(2, "agent.tool_call", Some("T-1"))));
        assert!(query.matches(&record(2, "agent", Some("T-1"))));
        assert!(!query.matches(&record(1, "agent.tool_call", Some("T-1"))));
        assert!(!query.matches(&record(2, "agents", Some("T-1"))));
        assert!(!query.matches(&record(2, "agent.tool_call", Some("T-2"))));
        assert!(!query.matches(&record(2, "agent.tool_call", None)));
        assert!(AuditQuery::default().matches(&record(1, "gate.deploy", None)));
    }

    #[test]
    fn a_long_detail_is_cut() {
        let record = AuditEntryDraft::new(1, "k", "a", "x".repeat(5_000)).into_record(1);
        assert!(record.detail.chars().count() <= DETAIL_CHARS + 1);
    }
}

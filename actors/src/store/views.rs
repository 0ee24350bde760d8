//! Reads for the dashboard (`src/server/http/dashboard`): pages walked from
//! the newest end with a cursor, and aggregates that touch only what they
//! count, so a store with 10,000 tickets, 100,000 signatures and a million
//! audit entries answers a screen's worth without decoding all of it.
//!
//! - Tickets are numbered `T-<n>` in creation order and the counter is in
//!   `meta`, so a page newest first is point reads from `n` down: no sort,
//!   no full decode.
//! - The audit tree's keys are its `seq`, so newest first is a reverse range.
//! - Signatures have no time index; a page keeps the `limit` most recently
//!   seen in a bounded heap while it scans (memory is the page, not the set).
//! - Exception volume sums the per-minute tree, whose keys start with the
//!   minute: a range over the last hours, never the per-signature series.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use serde::Deserialize;

use super::tickets::TICKET_SEQ_KEY;
use super::{SignatureRecord, Store, StoreError, decode_u64};
use crate::domain::audit::{AuditQuery, AuditRecord};
use crate::domain::gate::decide::Severity;
use crate::domain::tickets::{Disposition, Ticket, TicketState};

/// The fields of a ticket the counts need; serde skips the rest unparsed
/// into values, which is what makes counting 10,000 tickets cheap.
#[derive(Deserialize)]
struct TicketHead {
    state: TicketState,
    #[serde(default)]
    disposition: Option<Disposition>,
    severity: Severity,
}

/// Tickets per state, disposition and severity.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TicketTally {
    pub total: u64,
    pub by_state: BTreeMap<&'static str, u64>,
    pub by_disposition: BTreeMap<&'static str, u64>,
    pub by_severity: BTreeMap<&'static str, u64>,
}

/// One page of a newest-first walk, and where the next one starts.
#[derive(Debug, Clone)]
pub struct Page<T, C> {
    pub items: Vec<T>,
    /// `None`: nothing older is left.
    pub next: Option<C>,
}

/// The position of a signature in the newest-first order: last seen, then id.
pub type SignatureCursor = (i64, String);

impl Store {
    /// The highest ticket number handed out (0 with no tickets).
    pub fn last_ticket_number(&self) -> Result<u64, StoreError> {
        Ok(self
            .meta
            .get(TICKET_SEQ_KEY)?
            .and_then(|v| decode_u64(&v))
            .unwrap_or(0))
    }

    /// Tickets numbered below `before` (all when `None`), newest first,
    /// that `keep` accepts, at most `limit`; the cursor is the last
    /// number looked at. `budget` bounds the tickets read for one page, so a
    /// filter that matches nothing cannot make a request read everything:
    /// the page then comes back short with a cursor to go on from.
    pub fn tickets_page(
        &self,
        before: Option<u64>,
        limit: usize,
        budget: usize,
        mut keep: impl FnMut(&Ticket) -> bool,
    ) -> Result<Page<Ticket, u64>, StoreError> {
        let top = self.last_ticket_number()?;
        let mut number = before.map_or(top, |b| b.saturating_sub(1).min(top));
        let mut items = Vec::new();
        let mut read = 0usize;
        while number > 0 && items.len() < limit && read < budget.max(limit) {
            if let Some(bytes) = self.tickets.get(format!("T-{number}").as_bytes())? {
                read += 1;
                let ticket: Ticket = serde_json::from_slice(&bytes)?;
                if keep(&ticket) {
                    items.push(ticket);
                }
            }
            number -= 1;
        }
        let next = (number > 0).then_some(number + 1);
        Ok(Page { items, next })
    }

    /// The tickets Suture deployed a fix of (`auto_deploy`) numbered below
    /// `before` (all when `None`), newest first, at most `limit`: a reverse
    /// scan of their keys in `ticket_index`, so only the tickets on the
    /// page are read, however many tickets the store holds and however old
    /// the deploys are. The cursor is the number of the last one returned.
    pub fn auto_deploy_tickets(
        &self,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Page<Ticket, u64>, StoreError> {
        let start = super::tickets::auto_deploy_key(0);
        let end = super::tickets::auto_deploy_key(before.unwrap_or(u64::MAX));
        let mut items = Vec::new();
        let mut last = None;
        let mut more = false;
        for entry in self.ticket_index.range(start..end).rev() {
            let (key, id) = entry?;
            if items.len() >= limit {
                more = true;
                break;
            }
            let number = key
                .get(1..9)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(u64::from_be_bytes);
            let id = String::from_utf8_lossy(&id).into_owned();
            if let Some(ticket) = self.ticket(&id)? {
                items.push(ticket);
            }
            last = number;
        }
        Ok(Page {
            items,
            next: if more { last } else { None },
        })
    }

    /// Every ticket counted by state, disposition and severity; every state,
    /// disposition and severity is present (zeros included).
    pub fn ticket_tally(&self) -> Result<TicketTally, StoreError> {
        let mut tally = TicketTally {
            by_state: TicketState::ALL.iter().map(|s| (s.as_str(), 0)).collect(),
            by_disposition: [
                Disposition::FixCandidate,
                Disposition::External,
                Disposition::Noise,
            ]
            .iter()
            .map(|d| (d.as_str(), 0))
            .collect(),
            by_severity: [
                Severity::Critical,
                Severity::High,
                Severity::Medium,
                Severity::Low,
            ]
            .iter()
            .map(|s| (s.as_str(), 0))
            .collect(),
            total: 0,
        };
        for value in self.tickets.iter().values() {
            let head: TicketHead = serde_json::from_slice(&value?)?;
            tally.total += 1;
            *tally.by_state.entry(head.state.as_str()).or_default() += 1;
            *tally.by_severity.entry(head.severity.as_str()).or_default() += 1;
            if let Some(d) = head.disposition {
                *tally.by_disposition.entry(d.as_str()).or_default() += 1;
            }
        }
        Ok(tally)
    }

    /// Audit entries with a `seq` below `before` (all when `None`) that
    /// `query` and `actor` match, newest first, at most `limit` (capped like
    /// [`Store::audit`]). `query.since` still bounds the walk from below.
    pub fn audit_newest(
        &self,
        query: &AuditQuery,
        before: Option<u64>,
        actor: Option<&str>,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let limit = query.limit.clamp(1, super::audit::MAX_QUERY_LIMIT);
        let end = before.unwrap_or(u64::MAX).to_be_bytes();
        let mut out = Vec::new();
        for item in self.audit.range(..end).rev() {
            let (_, value) = item?;
            let record: AuditRecord = serde_json::from_slice(&value)?;
            if record.seq <= query.since {
                break;
            }
            if query.matches(&record) && actor.is_none_or(|a| record.actor == a) {
                out.push(record);
                if out.len() >= limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// The `limit` signatures last seen at or after `since_ms` that come
    /// after `after` in the order last seen descending, id ascending (the
    /// order of [`Store::signatures_since`]), and the cursor of the page's
    /// last one when more may follow.
    pub fn signatures_page(
        &self,
        since_ms: i64,
        after: Option<&SignatureCursor>,
        limit: usize,
    ) -> Result<Page<SignatureRecord, SignatureCursor>, StoreError> {
        let limit = limit.max(1);
        // A max-heap on the order key keeps the `limit` smallest keys, i.e.
        // the newest.
        let mut heap: BinaryHeap<Newest> = BinaryHeap::new();
        let mut more = false;
        for value in self.signatures.iter().values() {
            let record: SignatureRecord = serde_json::from_slice(&value?)?;
            if record.last_seen_ms < since_ms {
                continue;
            }
            let key = (Reverse(record.last_seen_ms), record.id.clone());
            if let Some((seen, id)) = after {
                if key <= (Reverse(*seen), id.clone()) {
                    continue;
                }
            }
            heap.push(Newest { key, record });
            if heap.len() > limit {
                heap.pop();
                more = true;
            }
        }
        let items: Vec<SignatureRecord> = heap
            .into_sorted_vec()
            .into_iter()
            .map(|n| n.record)
            .collect();
        let next = if more {
            items.last().map(|r| (r.last_seen_ms, r.id.clone()))
        } else {
            None
        };
        Ok(Page { items, next })
    }

    /// Events of all signatures per minute for `minutes` minutes from
    /// `from_minute` (minutes since the epoch), summed.
    pub fn minute_totals(&self, from_minute: u32, minutes: u32) -> Result<Vec<u64>, StoreError> {
        let mut out = vec![0u64; minutes as usize];
        let end = from_minute.saturating_add(minutes);
        for item in self
            .minutes
            .range(from_minute.to_be_bytes()..end.to_be_bytes())
        {
            let (key, value) = item?;
            let minute = key
                .get(..4)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map(u32::from_be_bytes);
            let count = value.get(..8).and_then(decode_u64);
            if let (Some(minute), Some(count)) = (minute, count) {
                if let Some(slot) = out.get_mut(minute.saturating_sub(from_minute) as usize) {
                    *slot += count;
                }
            }
        }
        Ok(out)
    }
}

/// A signature ordered by (last seen descending, id ascending) only.
struct Newest {
    key: (Reverse<i64>, String),
    record: SignatureRecord,
}

impl PartialEq for Newest {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Eq for Newest {}

impl PartialOrd for Newest {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Newest {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key.cmp(&other.key)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use serde_json::json;

    use super::*;
    use crate::config::StoreConfig;
    use crate::domain::audit::AuditEntryDraft;
    use crate::domain::event::{Event, new_id};
    use crate::domain::signature::{SignatureConfig, Signer};
    use crate::store::tickets::{AnalysisCommit, TicketWrite};
    use crate::store::{RecordCache, SignedEvent};

    fn store(dir: &std::path::Path) -> Store {
        Store::open(&StoreConfig {
            path: dir.join("db"),
            ..StoreConfig::default()
        })
        .expect("store")
    }

    fn ticket(n: usize) -> Ticket {
        let state = ["triaged", "escalated", "review"][n % 3];
        let severity = ["high", "low"][n % 2];
        serde_json::from_value(json!({
            "id": "", "state": state, "disposition": "fix_candidate",
            "title": format!("error number {n}"), "root_cause": "a cause",
            "severity": severity, "suggested_fix": "", "files": [],
            "signatures": [], "grouping": {"method": "deterministic", "batch_size": 1},
            "events": 1, "shadow": true, "created_at_ms": 1, "updated_at_ms": 1, "audit": []
        }))
        .expect("ticket")
    }

    fn plant(store: &Store, count: usize) {
        for chunk in (0..count).collect::<Vec<_>>().chunks(500) {
            let writes = chunk
                .iter()
                .map(|n| (TicketWrite::Create(Box::new(ticket(*n))), Vec::new()))
                .collect();
            store
                .commit_analysis(&AnalysisCommit { writes }, 1)
                .expect("planted");
        }
    }

    fn events(store: &Store, signatures: usize, at_ms: impl Fn(usize) -> i64) {
        let signer = Signer::new(&SignatureConfig::default()).expect("signer");
        let mut cache = RecordCache::default();
        let batch: Vec<SignedEvent> = (0..signatures)
            .map(|i| {
                let event = Event {
                    id: new_id(),
                    received_at_ms: at_ms(i),
                    timestamp_ms: at_ms(i),
                    exception_type: Some(format!("Error{i}")),
                    message: format!("failure kind {i}"),
                    source: "test".into(),
                    ..Event::default()
                };
                let signature = signer.sign(&event);
                SignedEvent { event, signature }
            })
            .collect();
        for chunk in batch.chunks(1000) {
            store
                .commit(chunk, 1_767_607_200_000, &mut cache)
                .expect("commit");
        }
    }

    #[test]
    fn ticket_pages_walk_newest_first_with_a_cursor() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = store(dir.path());
        plant(&store, 10);
        let review = |t: &Ticket| t.state == TicketState::Review;
        // T-3, T-6, T-9 are in review (n = 2, 5, 8).
        let first = store.tickets_page(None, 2, 100, review).expect("page");
        let ids: Vec<&str> = first.items.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["T-9", "T-6"]);
        let second = store
            .tickets_page(first.next, 2, 100, review)
            .expect("page");
        let ids: Vec<&str> = second.items.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["T-3"]);
        assert_eq!(second.next, None, "the walk reached T-1");
        // A budget of 3 reads stops short and says where to go on.
        let short = store.tickets_page(None, 2, 3, review).expect("page");
        assert_eq!(short.items.len(), 1);
        assert_eq!(short.next, Some(8));
    }

    fn deployed(started_ms: i64) -> crate::domain::tickets::AutoDeploy {
        crate::domain::tickets::AutoDeploy {
            started_ms,
            merge_commit: None,
            previous_revision: None,
            deploy: None,
            deployed_at_ms: None,
            canary_until_ms: None,
            outcome: None,
        }
    }

    #[test]
    fn every_auto_deploy_is_listed_however_old_its_ticket() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = store(dir.path());
        // More tickets than the dashboard's old 2,000-ticket scan reached.
        plant(&store, 2_500);
        for (id, at) in [("T-1", 1), ("T-100", 2), ("T-2500", 3)] {
            store
                .update_ticket(id, |t| {
                    t.auto_deploy = Some(deployed(at));
                    Ok(())
                })
                .expect("deployed");
        }
        let all = store.auto_deploy_tickets(None, 20).expect("list");
        let ids: Vec<&str> = all.items.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["T-2500", "T-100", "T-1"]);
        assert_eq!(all.next, None);
        // Paged with the cursor.
        let first = store.auto_deploy_tickets(None, 2).expect("page");
        let ids: Vec<&str> = first.items.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["T-2500", "T-100"]);
        assert_eq!(first.next, Some(100));
        let second = store.auto_deploy_tickets(first.next, 2).expect("page");
        let ids: Vec<&str> = second.items.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["T-1"]);
        assert_eq!(second.next, None);
    }

    #[test]
    fn a_store_written_before_the_auto_deploy_index_gets_it_at_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let store = store(dir.path());
            plant(&store, 5);
            // As an older build wrote it: the ticket, no index key, no mark.
            let mut old = store.ticket("T-2").expect("read").expect("T-2");
            old.auto_deploy = Some(deployed(7));
            store
                .tickets
                .insert("T-2", serde_json::to_vec(&old).expect("json"))
                .expect("write");
            store
                .meta
                .remove(super::super::tickets::AUTO_DEPLOY_INDEXED_KEY)
                .expect("unmark");
            assert!(
                store
                    .auto_deploy_tickets(None, 20)
                    .expect("list")
                    .items
                    .is_empty()
            );
            store.db.flush().expect("flush");
        }
        let store = store(dir.path());
        let listed = store.auto_deploy_tickets(None, 20).expect("list");
        let ids: Vec<&str> = listed.items.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["T-2"]);
        // Done once: the next open writes nothing.
        assert_eq!(store.index_auto_deploys().expect("index"), 0);
    }

    #[test]
    fn the_tally_counts_every_ticket_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = store(dir.path());
        assert_eq!(store.ticket_tally().expect("tally").by_state["review"], 0);
        plant(&store, 10);
        let tally = store.ticket_tally().expect("tally");
        assert_eq!(tally.total, 10);
        assert_eq!(tally.by_state["triaged"], 4);
        assert_eq!(tally.by_state["escalated"], 3);
        assert_eq!(tally.by_severity["high"], 5);
        assert_eq!(tally.by_disposition["fix_candidate"], 10);
    }

    #[test]
    fn audit_pages_go_back_from_the_newest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = store(dir.path());
        for i in 0..6 {
            let actor = if i % 2 == 0 { "alice" } else { "coder" };
            store
                .append_audit(AuditEntryDraft::new(
                    i,
                    "admin.kill_switch",
                    actor,
                    format!("entry {i}"),
                ))
                .expect("append");
        }
        let query = AuditQuery {
            since: 0,
            ticket: None,
            kind: Some("admin".into()),
            limit: 2,
        };
        let page = store
            .audit_newest(&query, None, Some("alice"))
            .expect("page");
        let details: Vec<&str> = page.iter().map(|e| e.detail.as_str()).collect();
        assert_eq!(details, ["entry 4", "entry 2"]);
        let older = store
            .audit_newest(&query, page.last().map(|e| e.seq), Some("alice"))
            .expect("page");
        let details: Vec<&str> = older.iter().map(|e| e.detail.as_str()).collect();
        assert_eq!(details, ["entry 0"]);
    }

    #[test]
    fn signature_pages_cover_every_signature_once_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = store(dir.path());
        // Pairs share a last-seen time, so the id breaks ties.
        events(&store, 25, |i| 1_767_607_200_000 + (i / 2) as i64 * 1000);
        let all: Vec<String> = store
            .signatures_since(0)
            .expect("all")
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(all.len(), 25);
        let mut paged = Vec::new();
        let mut cursor = None;
        loop {
            let page = store.signatures_page(0, cursor.as_ref(), 7).expect("page");
            paged.extend(page.items.into_iter().map(|r| r.id));
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(paged, all);
        let recent = store
            .signatures_page(1_767_607_200_000 + 10_000, None, 100)
            .expect("page");
        assert_eq!(recent.items.len(), 5, "last seen at 10 s to 12 s");
    }

    #[test]
    fn minute_totals_sum_every_signature() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = store(dir.path());
        let base = 1_767_607_200_000;
        events(&store, 6, |i| base + (i % 3) as i64 * 60_000);
        let from = crate::store::minute_of(base);
        assert_eq!(store.minute_totals(from, 4).expect("totals"), [2, 2, 2, 0]);
        assert_eq!(store.minute_totals(from + 1, 1).expect("totals"), [2]);
    }

    /// The dashboard's reads on the store size issue 14 names: 10,000
    /// tickets and 100,000 signatures. A measurement, not a timing
    /// assertion (run it with `--ignored --nocapture`; docs/dashboard.md
    /// has the figures).
    #[test]
    #[ignore = "a measurement: builds a large store"]
    fn views_on_ten_thousand_tickets_and_a_hundred_thousand_signatures() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = store(dir.path());
        plant(&store, 10_000);
        let now = crate::clock::now_ms();
        events(&store, 100_000, |i| now - (i as i64 % 1440) * 60_000);
        let time = |what: &str, run: &mut dyn FnMut()| {
            let started = Instant::now();
            run();
            eprintln!("{what}: {:?}", started.elapsed());
        };
        time("tickets page (50, no filter)", &mut || {
            store.tickets_page(None, 50, 2000, |_| true).expect("page");
        });
        time("tickets page (50 in review)", &mut || {
            store
                .tickets_page(None, 50, 2000, |t| t.state == TicketState::Review)
                .expect("page");
        });
        time("ticket tally", &mut || {
            store.ticket_tally().expect("tally");
        });
        time("signatures page (100)", &mut || {
            store.signatures_page(0, None, 100).expect("page");
        });
        time("minute totals (24 h)", &mut || {
            store
                .minute_totals(crate::store::minute_of(now) - 1439, 1440)
                .expect("totals");
        });
        time(
            "all tickets (what /v1/tickets without a cursor reads)",
            &mut || {
                store.tickets().expect("all");
            },
        );
        time(
            "tickets in one state (the coder's periodic looks)",
            &mut || {
                store.tickets_in(&[TicketState::Verifying]).expect("some");
            },
        );
    }
}

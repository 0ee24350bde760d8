//! Applying one group of signed events to the trees.
//!
//! Events are aggregated per signature first, so the work per group grows
//! with the number of distinct signatures in it, not with its events: one
//! record update, one merge per touched hour, and at most
//! `samples_first + samples_latest` sample writes per signature.

use std::collections::{BTreeMap, HashMap};

use super::{PendingEntry, SIGNATURE_COUNT_KEY, SignatureRecord, Store, StoreError, hour_of};
use crate::event::Event;
use crate::signature::Signature;

/// An event with the signature computed at the edge.
#[derive(Debug, Clone)]
pub struct SignedEvent {
    pub event: Event,
    pub signature: Signature,
}

/// What one commit changed: per signature, how many events it added.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommitSummary {
    pub events: usize,
    pub new_signatures: usize,
    pub changed: Vec<(String, u64)>,
}

impl Store {
    /// Writes a group of events (not yet durable: call [`Store::flush`]).
    pub fn commit(&self, events: &[SignedEvent], now_ms: i64) -> Result<CommitSummary, StoreError> {
        let mut groups: HashMap<&str, Vec<&SignedEvent>> = HashMap::new();
        let mut order: Vec<&str> = Vec::new();
        for signed in events {
            let id = signed.signature.id.as_str();
            groups
                .entry(id)
                .or_insert_with(|| {
                    order.push(id);
                    Vec::new()
                })
                .push(signed);
        }
        let mut summary = CommitSummary {
            events: events.len(),
            ..CommitSummary::default()
        };
        for id in order {
            let Some(group) = groups.get(id) else {
                continue;
            };
            if self.commit_signature(id, group, now_ms)? {
                summary.new_signatures += 1;
            }
            summary.changed.push((id.to_string(), group.len() as u64));
        }
        if summary.new_signatures > 0 {
            self.meta.merge(
                SIGNATURE_COUNT_KEY,
                (summary.new_signatures as u64).to_be_bytes(),
            )?;
        }
        Ok(summary)
    }

    /// Updates one signature with its events; true when the signature is new.
    fn commit_signature(
        &self,
        id: &str,
        group: &[&SignedEvent],
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let existing: Option<SignatureRecord> = match self.signatures.get(id.as_bytes())? {
            Some(bytes) => Some(serde_json::from_slice(&bytes)?),
            None => None,
        };
        let is_new = existing.is_none();
        let Some(first) = group.first() else {
            return Ok(false);
        };
        let mut record = existing.unwrap_or_else(|| new_record(first));
        let previous_total = record.total;

        let mut hours: BTreeMap<u32, u64> = BTreeMap::new();
        for signed in group {
            let event = &signed.event;
            record.first_seen_ms = record.first_seen_ms.min(event.timestamp_ms);
            record.last_seen_ms = record.last_seen_ms.max(event.timestamp_ms);
            record.total += 1;
            if let Some(release) = &event.release {
                remember_release(
                    &mut record.releases,
                    release,
                    self.config.max_releases_per_signature,
                );
            }
            *hours.entry(hour_of(event.timestamp_ms)).or_default() += 1;
        }
        if let Some(last) = group.last() {
            record.last_message.clone_from(&last.event.message);
        }
        self.signatures
            .insert(id.as_bytes(), serde_json::to_vec(&record)?)?;

        for (hour, count) in hours {
            let mut key = id.as_bytes().to_vec();
            key.extend_from_slice(&hour.to_be_bytes());
            self.hourly.merge(key, count.to_be_bytes())?;
        }
        self.write_samples(id, group, previous_total)?;
        let pending = PendingEntry {
            first_change_ms: now_ms,
            events: group.len() as u64,
        };
        self.pending.merge(id.as_bytes(), pending.encode())?;
        Ok(is_new)
    }

    /// Keeps the first `samples_first` events ever seen and a ring of the
    /// latest `samples_latest`; only the events that survive are written.
    fn write_samples(
        &self,
        id: &str,
        group: &[&SignedEvent],
        previous_total: u64,
    ) -> Result<(), StoreError> {
        let first = u64::from(self.config.samples_first);
        let latest = u64::from(self.config.samples_latest);
        let len = group.len() as u64;
        for (offset, signed) in group.iter().enumerate() {
            let index = previous_total + offset as u64;
            let slot = if index < first {
                index
            } else if latest > 0 && len - offset as u64 <= latest {
                first + (index - first) % latest
            } else {
                continue;
            };
            let Ok(slot) = u16::try_from(slot) else {
                continue;
            };
            let mut key = id.as_bytes().to_vec();
            key.extend_from_slice(&slot.to_be_bytes());
            self.samples
                .insert(key, serde_json::to_vec(&signed.event)?)?;
        }
        Ok(())
    }
}

fn new_record(first: &SignedEvent) -> SignatureRecord {
    let (event, signature) = (&first.event, &first.signature);
    SignatureRecord {
        id: signature.id.clone(),
        title: signature.title.clone(),
        culprit: signature.culprit.clone(),
        basis: signature.basis,
        exception_type: event.exception_type.clone(),
        first_seen_ms: event.timestamp_ms,
        last_seen_ms: event.timestamp_ms,
        total: 0,
        releases: Vec::new(),
        sample_message: event.message.clone(),
        last_message: event.message.clone(),
    }
}

/// Moves `release` to the end (most recent) and drops the oldest beyond `max`.
fn remember_release(releases: &mut Vec<String>, release: &str, max: usize) {
    if releases.last().is_some_and(|r| r == release) {
        return;
    }
    releases.retain(|r| r != release);
    releases.push(release.to_string());
    if releases.len() > max {
        let excess = releases.len() - max;
        releases.drain(..excess);
    }
}

//! Applying one group of signed events to the trees.
//!
//! Events are aggregated per signature first, so the work per group grows
//! with the number of distinct signatures in it, not with its events: one
//! record update, one merge per touched hour, one pending merge, and few
//! sample writes (the first events ever, then at most one of the latest per
//! `samples_latest_interval`).

use std::collections::{BTreeMap, HashMap, HashSet};

use super::gate::{MAX_USERS_PER_MINUTE, minute_of, user_hash};
use super::{
    DeployRecord, DeploySource, PendingEntry, SIGNATURE_COUNT_KEY, SignatureRecord, Store,
    StoreError, hour_of,
};
use crate::domain::records::ReleaseRecord;
use crate::domain::records::SignedEvent;

/// What one commit changed: per signature, how many events it added.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommitSummary {
    pub events: usize,
    pub new_signatures: usize,
    pub changed: Vec<(String, u64)>,
    /// Deploys recorded because a new release appeared in this group.
    pub new_deploys: Vec<DeployRecord>,
}

/// The writer's copy of the signature records it has touched. Ingest is the
/// only writer of the `signatures` tree, so the copy stays exact and a commit
/// need not read and decode each record again. Bounded: cleared when full.
#[derive(Debug, Default)]
pub struct RecordCache {
    records: HashMap<String, SignatureRecord>,
    /// Releases known to be recorded, so each event does not look them up.
    releases: HashSet<String>,
    /// Whether the store's first-event time is known to be set.
    first_event_noted: bool,
}

/// Records kept in a [`RecordCache`] before it starts over.
const RECORD_CACHE_LIMIT: usize = 10_000;

impl RecordCache {
    /// The record of `id`: cached, else read from the tree, else a new one
    /// built from `first`. The flag says whether the signature is new.
    fn load_or_create(
        &mut self,
        store: &Store,
        id: &str,
        first: &SignedEvent,
    ) -> Result<(&mut SignatureRecord, bool), StoreError> {
        let mut is_new = false;
        if !self.records.contains_key(id) {
            let record = match store.signatures.get(id.as_bytes())? {
                Some(bytes) => serde_json::from_slice(&bytes)?,
                None => {
                    is_new = true;
                    new_record(first)
                }
            };
            if self.records.len() >= RECORD_CACHE_LIMIT {
                self.records.clear();
            }
            self.records.insert(id.to_string(), record);
        }
        let record = self
            .records
            .get_mut(id)
            .expect("the record was cached just above");
        Ok((record, is_new))
    }
}

impl Store {
    /// Writes a group of events (not yet durable: call [`Store::flush`]).
    pub fn commit(
        &self,
        events: &[SignedEvent],
        now_ms: i64,
        cache: &mut RecordCache,
    ) -> Result<CommitSummary, StoreError> {
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
            if self.commit_signature(id, group, now_ms, cache)? {
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
        if !cache.first_event_noted {
            if let Some(earliest) = events.iter().map(|e| e.event.timestamp_ms).min() {
                self.note_first_event(earliest)?;
                cache.first_event_noted = true;
            }
        }
        summary.new_deploys = self.note_releases(events, now_ms, cache)?;
        Ok(summary)
    }

    /// Records releases seen for the first time in an environment. A new
    /// release is a deploy of that environment, unless it is the first
    /// release the store ever sees: that is the state Suture started in, and
    /// judging it against an empty history would flag everything.
    ///
    /// The deploy's time is when this server first received an event of the
    /// release, never the event's own timestamp: that is the sender's to
    /// choose, and a forged one would place the deploy window anywhere.
    fn note_releases(
        &self,
        events: &[SignedEvent],
        now_ms: i64,
        cache: &mut RecordCache,
    ) -> Result<Vec<DeployRecord>, StoreError> {
        let mut first_seen: BTreeMap<String, &SignedEvent> = BTreeMap::new();
        for signed in events {
            if let Some(release) = signed.event.release.as_deref() {
                let key = release_key(release, signed.event.environment.as_deref());
                if release.is_empty() || cache.releases.contains(&key) {
                    continue;
                }
                let entry = first_seen.entry(key).or_insert(signed);
                if signed.event.received_at_ms < entry.event.received_at_ms {
                    *entry = signed;
                }
            }
        }
        let mut deploys = Vec::new();
        for (key, signed) in first_seen {
            let Some(release) = signed.event.release.as_deref() else {
                continue;
            };
            let had_releases = self.knows_releases()?;
            let record = ReleaseRecord {
                release: release.to_string(),
                first_seen_ms: signed.event.received_at_ms.min(now_ms),
                environment: signed.event.environment.clone(),
            };
            if self.note_release(&record)?
                && had_releases
                && self.release_deploy_allowed(record.environment.as_deref(), now_ms)?
            {
                let deploy = DeployRecord {
                    id: crate::domain::event::new_id(),
                    revision: release.to_string(),
                    environment: record.environment.clone(),
                    at_ms: record.first_seen_ms,
                    received_at_ms: now_ms,
                    source: DeploySource::Release,
                };
                let stored = self.record_deploy(&deploy)?;
                if stored.id == deploy.id {
                    deploys.push(stored);
                }
            }
            if cache.releases.len() >= RECORD_CACHE_LIMIT {
                cache.releases.clear();
            }
            cache.releases.insert(key);
        }
        Ok(deploys)
    }

    /// Whether one more deploy from a release in `environment` stays within
    /// `release_deploys_per_hour` (per environment) and
    /// `release_deploys_per_hour_total` over the hour before `now_ms`.
    /// Refusals are counted and logged: the operator learns that releases
    /// arrive faster than deploys happen (a client sending a build id per
    /// event, or someone forging them).
    fn release_deploy_allowed(
        &self,
        environment: Option<&str>,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let recent =
            self.deploys_between(now_ms.saturating_sub(3_600_000), now_ms.saturating_add(1))?;
        let from_releases = recent.iter().filter(|d| d.source == DeploySource::Release);
        let (mut same, mut total) = (0u32, 0u32);
        for deploy in from_releases {
            total += 1;
            if deploy.environment.as_deref() == environment {
                same += 1;
            }
        }
        let allowed = same < self.config.release_deploys_per_hour
            && total < self.config.release_deploys_per_hour_total;
        if !allowed {
            metrics::counter!("suture_release_deploys_refused_total").increment(1);
            tracing::warn!(
                environment = environment.unwrap_or("(none)"),
                in_environment = same,
                in_all = total,
                "a new release is not made a deploy: store.release_deploys_per_hour reached"
            );
        }
        Ok(allowed)
    }

    /// Updates one signature with its events; true when the signature is new.
    fn commit_signature(
        &self,
        id: &str,
        group: &[&SignedEvent],
        now_ms: i64,
        cache: &mut RecordCache,
    ) -> Result<bool, StoreError> {
        let Some(first) = group.first() else {
            return Ok(false);
        };
        let (record, is_new) = cache.load_or_create(self, id, first)?;
        let previous_total = record.total;

        let mut hours: BTreeMap<u32, u64> = BTreeMap::new();
        let mut minutes: BTreeMap<u32, (u64, Vec<u64>)> = BTreeMap::new();
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
            let (count, users) = minutes.entry(minute_of(event.timestamp_ms)).or_default();
            *count += 1;
            if let Some(user) = event.user.as_ref().and_then(user_hash) {
                if users.len() < MAX_USERS_PER_MINUTE && !users.contains(&user) {
                    users.push(user);
                }
            }
        }
        if let Some(last) = group.last() {
            record.last_message.clone_from(&last.event.message);
        }
        let sample_latest = self.latest_sample_due(record, now_ms);
        if sample_latest {
            record.latest_sample_ms = now_ms;
        }
        self.signatures
            .insert(id.as_bytes(), serde_json::to_vec(&*record)?)?;

        for (hour, count) in hours {
            let mut key = id.as_bytes().to_vec();
            key.extend_from_slice(&hour.to_be_bytes());
            self.hourly.merge(key, count.to_be_bytes())?;
            self.count_volume(hour, count)?;
        }
        self.commit_minutes(id, &minutes)?;
        self.write_samples(id, group, previous_total, sample_latest)?;
        let pending = PendingEntry {
            first_change_ms: now_ms,
            events: group.len() as u64,
        };
        self.pending.merge(id.as_bytes(), pending.encode())?;
        Ok(is_new)
    }

    /// The ring of latest samples takes at most one event per
    /// `samples_latest_interval_ms`, so a flood of one error does not turn
    /// into a flood of sample writes.
    fn latest_sample_due(&self, record: &SignatureRecord, now_ms: i64) -> bool {
        now_ms.saturating_sub(record.latest_sample_ms) >= self.config.samples_latest_interval_ms()
    }

    /// Keeps the first `samples_first` events ever seen and, when due, the
    /// newest event of the group in the ring of latest samples.
    fn write_samples(
        &self,
        id: &str,
        group: &[&SignedEvent],
        previous_total: u64,
        sample_latest: bool,
    ) -> Result<(), StoreError> {
        let first = u64::from(self.config.samples_first);
        let latest = u64::from(self.config.samples_latest);
        let mut writes: Vec<(u64, &SignedEvent)> = Vec::new();
        for (offset, signed) in group.iter().enumerate() {
            let index = previous_total + offset as u64;
            if index < first {
                writes.push((index, signed));
            }
        }
        let end = previous_total + group.len() as u64;
        if sample_latest && latest > 0 && end > first {
            if let Some(newest) = group.last() {
                // The ring advances by one slot per sampled group.
                let ring_position = self.next_ring_position(id, first, latest)?;
                writes.push((first + ring_position, newest));
            }
        }
        for (slot, signed) in writes {
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

    /// The ring slot to overwrite next: the one holding the oldest event
    /// (an empty slot first).
    fn next_ring_position(&self, id: &str, first: u64, latest: u64) -> Result<u64, StoreError> {
        let mut oldest: Option<(u64, i64)> = None;
        for position in 0..latest {
            let Ok(slot) = u16::try_from(first + position) else {
                break;
            };
            let mut key = id.as_bytes().to_vec();
            key.extend_from_slice(&slot.to_be_bytes());
            let received = match self.samples.get(&key)? {
                None => return Ok(position),
                Some(bytes) => serde_json::from_slice::<SampleStamp>(&bytes)
                    .map(|s| s.received_at_ms)
                    .unwrap_or(i64::MIN),
            };
            if oldest.is_none_or(|(_, at)| received < at) {
                oldest = Some((position, received));
            }
        }
        Ok(oldest.map_or(0, |(position, _)| position))
    }
}

/// Just the arrival time of a stored sample, to find the oldest ring slot.
#[derive(serde::Deserialize)]
struct SampleStamp {
    received_at_ms: i64,
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
        latest_sample_ms: i64::MIN,
    }
}

/// The `releases` key of a release in an environment: the release alone
/// without one (the layout before environments were told apart), else the
/// release, a NUL and the environment, so `r1` in `staging` and `r1` in
/// `production` are two first sightings and two deploys.
pub(super) fn release_key(release: &str, environment: Option<&str>) -> String {
    match environment {
        None => release.to_string(),
        Some(environment) => format!("{release}\0{environment}"),
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

//! What the regression gate reads and writes: per-minute counts, distinct
//! users, traffic, releases seen, gate runs and the candidates they produce.
//!
//! Keys are laid out so the gate's questions are range scans:
//! - `minutes`: minute (u32 BE, minutes since the epoch) ‖ signature id →
//!   count (u64 BE) ‖ up to [`MAX_USERS_PER_MINUTE`] distinct user hashes
//!   (u64 BE each), merged by [`merge_minute`]. "Which signatures fired in
//!   this window, how often per minute, and for how many users" is one scan
//!   of the window's minutes, and a commit writes one merge per signature
//!   and minute however many events and users it carries.
//! - `traffic`: `h` ‖ hour (u32 BE) and `m` ‖ minute → requests (merge-added):
//!   hourly exposure for baselines, per-minute for windows; `e` ‖ hour →
//!   events stored of every signature (the exception volume over time).
//! - `releases`: release → [`ReleaseRecord`], so a new release is noticed once.
//! - `deploy_runs`: deploy id → [`GateRun`], and deploy id ‖ `#second-look`
//!   → its second look; `spike_runs`: judged at (i64 BE)
//!   ‖ batch seq (u64 BE) → [`GateRun`].
//! - `candidates`: run id ‖ `/` ‖ signature → [`Candidate`], written in the
//!   same transaction as the run, so a crash never leaves one without the other.
//!
//! Per-minute data (`minutes`, `m` traffic) is only needed for
//! windows, so [`Store::prune_minutes`] drops it after a retention period;
//! the hourly trees keep the long history.

use std::collections::{BTreeMap, HashSet};

use sled::Transactional;

use super::{Store, StoreError, decode_u64, hour_of};
use crate::domain::records::{
    Candidate, DeployRecord, GateRun, ReleaseRecord, RunKind, TrafficRecord,
};

const MS_PER_MINUTE: i64 = 60_000;

/// Distinct users remembered per signature and minute. The gate's user rule
/// asks for a handful (`gate.new_min_users`, 3); beyond this a minute counts
/// as this many, so window user counts are exact up to it and a lower bound
/// above.
pub const MAX_USERS_PER_MINUTE: usize = 32;
const FIRST_EVENT_KEY: &[u8] = b"first_event_ms";
const BATCH_CURSOR_KEY: &[u8] = b"gate_batch_cursor";

/// The minute bucket (minutes since the epoch) of an epoch-ms timestamp.
pub fn minute_of(ms: i64) -> u32 {
    u32::try_from(ms.div_euclid(MS_PER_MINUTE)).unwrap_or(0)
}

/// Epoch ms at the start of a minute bucket.
pub fn minute_start_ms(minute: u32) -> i64 {
    i64::from(minute) * MS_PER_MINUTE
}

/// A stable 64-bit hash of a user as events carry it: the `id`, else
/// `email`, `username` or `ip_address` of an object, else the value itself.
pub fn user_hash(user: &serde_json::Value) -> Option<u64> {
    use serde_json::Value;
    let key = match user {
        Value::Null => return None,
        Value::String(s) if s.is_empty() => return None,
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Object(map) => ["id", "email", "username", "ip_address"]
            .iter()
            .find_map(|k| match map.get(*k) {
                Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                _ => None,
            })?,
        other => other.to_string(),
    };
    Some(xxhash_rust::xxh3::xxh3_64(key.as_bytes()))
}

fn minute_key(minute: u32, id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(4 + id.len());
    key.extend_from_slice(&minute.to_be_bytes());
    key.extend_from_slice(id.as_bytes());
    key
}

fn traffic_key(kind: u8, bucket: u32) -> [u8; 5] {
    let b = bucket.to_be_bytes();
    [kind, b[0], b[1], b[2], b[3]]
}

impl Store {
    /// Adds one signature's per-minute counts and user hashes (part of a
    /// group commit; not yet durable).
    pub(super) fn commit_minutes(
        &self,
        id: &str,
        minutes: &BTreeMap<u32, (u64, Vec<u64>)>,
    ) -> Result<(), StoreError> {
        for (&minute, (count, users)) in minutes {
            self.minutes
                .merge(minute_key(minute, id), encode_minute(*count, users))?;
        }
        Ok(())
    }

    /// Remembers the earliest event time the store holds (baselines cannot
    /// reach further back than that).
    pub(super) fn note_first_event(&self, at_ms: i64) -> Result<(), StoreError> {
        if self.meta.get(FIRST_EVENT_KEY)?.is_none() {
            self.meta.insert(FIRST_EVENT_KEY, &at_ms.to_be_bytes())?;
        }
        Ok(())
    }

    /// The earliest event time the store holds, if any event was stored.
    pub fn first_event_ms(&self) -> Result<Option<i64>, StoreError> {
        Ok(self
            .meta
            .get(FIRST_EVENT_KEY)?
            .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .map(i64::from_be_bytes))
    }

    /// Records a release the first time it is seen. Returns true when it is
    /// new (not yet durable).
    pub(super) fn note_release(&self, record: &ReleaseRecord) -> Result<bool, StoreError> {
        let value = serde_json::to_vec(record)?;
        let key = super::commit::release_key(&record.release, record.environment.as_deref());
        let previous =
            self.releases
                .compare_and_swap(key.as_bytes(), None as Option<&[u8]>, Some(value))?;
        Ok(previous.is_ok())
    }

    /// Whether any release was recorded before.
    pub fn knows_releases(&self) -> Result<bool, StoreError> {
        Ok(!self.releases.is_empty())
    }

    /// A deploy of `revision` to `environment` whose time is within
    /// `within_ms` of `at_ms`, if one is recorded: a marker and the release
    /// it names are one deploy. A deploy without an environment (a marker
    /// that names none) matches any; two named environments must agree, so
    /// one release rolled out to staging and then production is two deploys.
    pub fn deploy_near(
        &self,
        revision: &str,
        environment: Option<&str>,
        at_ms: i64,
        within_ms: i64,
    ) -> Result<Option<DeployRecord>, StoreError> {
        let from = at_ms.saturating_sub(within_ms);
        for value in self.deploys.range(from.to_be_bytes()..).values() {
            let deploy: DeployRecord = serde_json::from_slice(&value?)?;
            if deploy.at_ms > at_ms.saturating_add(within_ms) {
                break;
            }
            let same_environment = match (deploy.environment.as_deref(), environment) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            };
            if deploy.revision == revision && same_environment {
                return Ok(Some(deploy));
            }
        }
        Ok(None)
    }

    /// One deploy by id.
    pub fn deploy(&self, id: &str) -> Result<Option<DeployRecord>, StoreError> {
        for value in self.deploys.iter().values() {
            let deploy: DeployRecord = serde_json::from_slice(&value?)?;
            if deploy.id == id {
                return Ok(Some(deploy));
            }
        }
        Ok(None)
    }

    /// Adds served requests to the hour and minute of `at_ms` (not yet durable).
    pub fn record_traffic(&self, traffic: &TrafficRecord) -> Result<(), StoreError> {
        let requests = traffic.requests.to_be_bytes();
        self.traffic
            .merge(traffic_key(b'h', hour_of(traffic.at_ms)), requests)?;
        self.traffic
            .merge(traffic_key(b'm', minute_of(traffic.at_ms)), requests)?;
        Ok(())
    }

    /// Requests per hour for `hours` hours from `from_hour`, or `None` when
    /// traffic reporting had not started by `from_hour` (then requests are
    /// not a usable exposure for that baseline).
    pub fn traffic_hours(
        &self,
        from_hour: u32,
        hours: u32,
    ) -> Result<Option<Vec<u64>>, StoreError> {
        let first = self
            .traffic
            .range(traffic_key(b'h', 0)..=traffic_key(b'h', u32::MAX))
            .next()
            .transpose()?;
        let Some((first_key, _)) = first else {
            return Ok(None);
        };
        let first_hour = first_key
            .get(1..5)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_be_bytes)
            .unwrap_or(u32::MAX);
        if first_hour > from_hour {
            return Ok(None);
        }
        self.hour_series(b'h', from_hour, hours).map(Some)
    }

    /// Requests in `minutes` minutes from `from_minute`.
    pub fn traffic_minutes(&self, from_minute: u32, minutes: u32) -> Result<u64, StoreError> {
        let end = from_minute.saturating_add(minutes);
        let mut total = 0u64;
        for value in self
            .traffic
            .range(traffic_key(b'm', from_minute)..traffic_key(b'm', end))
            .values()
        {
            total = total.saturating_add(decode_u64(&value?).unwrap_or(0));
        }
        Ok(total)
    }

    /// Adds `count` events to the stored volume of `hour` (part of a group
    /// commit).
    pub(super) fn count_volume(&self, hour: u32, count: u64) -> Result<(), StoreError> {
        self.traffic
            .merge(traffic_key(b'e', hour), count.to_be_bytes())?;
        Ok(())
    }

    /// Events stored per hour, every signature together, for `hours` hours
    /// from `from_hour` (the hours they happened in, not arrived in).
    pub fn volume_hours(&self, from_hour: u32, hours: u32) -> Result<Vec<u64>, StoreError> {
        self.hour_series(b'e', from_hour, hours)
    }

    /// The `traffic` tree's hourly counts of `kind` (`h` requests, `e`
    /// events) for `hours` hours from `from_hour`, zeros where none.
    fn hour_series(&self, kind: u8, from_hour: u32, hours: u32) -> Result<Vec<u64>, StoreError> {
        let mut out = vec![0u64; hours as usize];
        let end = from_hour.saturating_add(hours);
        for item in self
            .traffic
            .range(traffic_key(kind, from_hour)..traffic_key(kind, end))
        {
            let (key, value) = item?;
            let hour = key
                .get(1..5)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map(u32::from_be_bytes);
            if let (Some(hour), Some(count)) = (hour, decode_u64(&value)) {
                if let Some(slot) = out.get_mut((hour - from_hour) as usize) {
                    *slot = count;
                }
            }
        }
        Ok(out)
    }

    /// Per-minute counts and distinct users of every signature that fired
    /// in the window.
    pub fn window(
        &self,
        from_minute: u32,
        minutes: u32,
    ) -> Result<BTreeMap<String, WindowSeries>, StoreError> {
        let mut out: BTreeMap<String, WindowSeries> = BTreeMap::new();
        let end = from_minute.saturating_add(minutes);
        for item in self
            .minutes
            .range(from_minute.to_be_bytes()..end.to_be_bytes())
        {
            let (key, value) = item?;
            let (Some(minute), Some((count, users))) = (read_minute(&key), decode_minute(&value))
            else {
                continue;
            };
            let id = String::from_utf8_lossy(&key[4..]).into_owned();
            let series = out.entry(id).or_insert_with(|| WindowSeries {
                counts: vec![0; minutes as usize],
                users: HashSet::new(),
            });
            if let Some(slot) = series.counts.get_mut((minute - from_minute) as usize) {
                *slot = count;
            }
            series.users.extend(users);
        }
        Ok(out)
    }

    /// Events of one signature per hour for `hours` hours from `from_hour`.
    pub fn hourly_range(
        &self,
        id: &str,
        from_hour: u32,
        hours: u32,
    ) -> Result<Vec<u64>, StoreError> {
        let mut out = vec![0u64; hours as usize];
        let key = |hour: u32| {
            let mut k = id.as_bytes().to_vec();
            k.extend_from_slice(&hour.to_be_bytes());
            k
        };
        let end = from_hour.saturating_add(hours);
        for item in self.hourly.range(key(from_hour)..key(end)) {
            let (k, value) = item?;
            let hour = k
                .get(id.len()..)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map(u32::from_be_bytes);
            if let (Some(hour), Some(count)) = (hour, decode_u64(&value)) {
                if let Some(slot) = out.get_mut((hour - from_hour) as usize) {
                    *slot = count;
                }
            }
        }
        Ok(out)
    }

    /// One signature's events over `[from_ms, to_ms)`, with the hours and
    /// requests the store could count there: whole clock hours from the
    /// hourly trees, the whole minutes of the partial hours at either end
    /// from per-minute data when it is still kept (from `minutes_from_ms` on; before that the
    /// ends are left out of both the events and the exposure, so the rate
    /// stays right). Requests are `Some` only when traffic was reported
    /// for the whole hours counted (or, with no whole hour, for some minute).
    pub fn span(
        &self,
        signature: &str,
        from_ms: i64,
        to_ms: i64,
        minutes_from_ms: i64,
    ) -> Result<crate::domain::verify::Period, StoreError> {
        let mut period = crate::domain::verify::Period {
            from_ms,
            to_ms,
            events: 0,
            hours: 0.0,
            requests: None,
        };
        if to_ms <= from_ms {
            return Ok(period);
        }
        let ms_per_hour = 60 * MS_PER_MINUTE;
        let first_whole =
            from_ms.div_euclid(ms_per_hour) + i64::from(from_ms.rem_euclid(ms_per_hour) != 0);
        let end_whole = to_ms.div_euclid(ms_per_hour);
        let mut requests: Option<u64> = None;
        let mut minute_edges: Vec<(i64, i64)> = Vec::new();
        if first_whole < end_whole {
            let from_hour = u32::try_from(first_whole).unwrap_or(0);
            let hours = u32::try_from(end_whole - first_whole).unwrap_or(0);
            period.events += self
                .hourly_range(signature, from_hour, hours)?
                .iter()
                .sum::<u64>();
            period.hours += f64::from(hours);
            requests = self
                .traffic_hours(from_hour, hours)?
                .map(|r| r.iter().sum::<u64>());
            minute_edges.push((from_ms, first_whole * ms_per_hour));
            minute_edges.push((end_whole * ms_per_hour, to_ms));
        } else {
            minute_edges.push((from_ms, to_ms));
        }
        for (from, to) in minute_edges {
            // Whole minutes only, so two periods that meet inside a minute
            // never both count it.
            let first = minute_of(from.max(minutes_from_ms).saturating_add(MS_PER_MINUTE - 1));
            let end = minute_of(to);
            if end <= first {
                continue;
            }
            let minutes = end - first;
            let counted = self
                .window(first, minutes)?
                .remove(signature)
                .map_or(0, |w| w.counts.iter().sum::<u64>());
            period.events += counted;
            period.hours += f64::from(minutes) / 60.0;
            let traffic = self.traffic_minutes(first, minutes)?;
            if first_whole >= end_whole {
                requests = (traffic > 0).then_some(traffic);
            } else if let Some(r) = requests.as_mut() {
                *r = r.saturating_add(traffic);
            }
        }
        period.requests = requests;
        Ok(period)
    }

    /// Drops per-minute data (counts with users, per-minute traffic) older than
    /// `before_minute`. Returns how many keys went.
    pub fn prune_minutes(&self, before_minute: u32) -> Result<usize, StoreError> {
        let mut removed = 0;
        for key in self.minutes.range(..before_minute.to_be_bytes()).keys() {
            self.minutes.remove(key?)?;
            removed += 1;
        }
        for key in self
            .traffic
            .range(traffic_key(b'm', 0)..traffic_key(b'm', before_minute))
            .keys()
        {
            self.traffic.remove(key?)?;
            removed += 1;
        }
        Ok(removed)
    }

    /// Stores a run and the candidates of its flagged decisions atomically.
    pub fn record_run(&self, run: &GateRun) -> Result<Vec<Candidate>, StoreError> {
        let candidates: Vec<Candidate> = run
            .decisions
            .iter()
            .filter(|j| j.candidate)
            .map(|j| Candidate::from_judged(run, j))
            .collect();
        let run_key = match (run.kind, &run.deploy, run.batch_seq) {
            (RunKind::Deploy, Some(deploy), _) => deploy.id.as_bytes().to_vec(),
            (RunKind::SecondLook, Some(deploy), _) => second_look_key(&deploy.id),
            (_, _, seq) => {
                let mut k = run.judged_at_ms.to_be_bytes().to_vec();
                k.extend_from_slice(&seq.unwrap_or(0).to_be_bytes());
                k
            }
        };
        let run_tree = match run.kind {
            RunKind::Deploy | RunKind::SecondLook => &self.deploy_runs,
            RunKind::Continuous => &self.spike_runs,
        };
        let run_value = serde_json::to_vec(run)?;
        let candidate_values = candidates
            .iter()
            .map(|c| Ok((c.id.clone(), serde_json::to_vec(c)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        (run_tree, &self.candidates)
            .transaction(|(runs, cands)| {
                for (id, value) in &candidate_values {
                    cands.insert(id.as_bytes(), value.as_slice())?;
                }
                runs.insert(run_key.as_slice(), run_value.as_slice())?;
                Ok(())
            })
            .map_err(|e: sled::transaction::TransactionError<()>| match e {
                sled::transaction::TransactionError::Storage(e) => StoreError::Io(e),
                sled::transaction::TransactionError::Abort(()) => {
                    StoreError::Io(sled::Error::Unsupported("transaction aborted".into()))
                }
            })?;
        Ok(candidates)
    }

    /// Whether a deploy has been judged (a key lookup: the gate asks this
    /// for every deploy on every tick, and need not decode the run).
    pub fn has_deploy_run(&self, deploy_id: &str) -> Result<bool, StoreError> {
        Ok(self.deploy_runs.contains_key(deploy_id.as_bytes())?)
    }

    /// The judgement of a deploy's window, once its window has closed.
    pub fn deploy_run(&self, deploy_id: &str) -> Result<Option<GateRun>, StoreError> {
        match self.deploy_runs.get(deploy_id.as_bytes())? {
            Some(v) => Ok(Some(serde_json::from_slice(&v)?)),
            None => Ok(None),
        }
    }

    /// Drops the runs (first and second look) of deploys before
    /// `before_ms`; the deploys themselves stay (triage and verification
    /// read them, and they are small). A deploy's run holds a decision for
    /// every signature judged, tens of kilobytes on a busy service, and is
    /// read by people looking back days, not months. The gate runner only
    /// considers deploys after the same cutoff, so a deploy whose run is
    /// gone is never judged again.
    pub fn prune_deploy_runs(&self, before_ms: i64) -> Result<usize, StoreError> {
        let mut removed = 0;
        for value in self
            .deploys
            .range(..before_ms.max(0).to_be_bytes())
            .values()
        {
            let deploy: DeployRecord = serde_json::from_slice(&value?)?;
            for key in [deploy.id.as_bytes().to_vec(), second_look_key(&deploy.id)] {
                if self.deploy_runs.remove(key)?.is_some() {
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }

    /// Whether a deploy's second look has been stored.
    pub fn has_second_look(&self, deploy_id: &str) -> Result<bool, StoreError> {
        Ok(self.deploy_runs.contains_key(second_look_key(deploy_id))?)
    }

    /// A deploy's second look, once it has been judged.
    pub fn second_look_run(&self, deploy_id: &str) -> Result<Option<GateRun>, StoreError> {
        match self.deploy_runs.get(second_look_key(deploy_id))? {
            Some(v) => Ok(Some(serde_json::from_slice(&v)?)),
            None => Ok(None),
        }
    }

    /// Runs judged at or after `since_ms`, newest first, at most `limit`.
    pub fn runs_since(&self, since_ms: i64, limit: usize) -> Result<Vec<GateRun>, StoreError> {
        let mut out: Vec<GateRun> = Vec::new();
        for value in self.deploy_runs.iter().values() {
            let run: GateRun = serde_json::from_slice(&value?)?;
            if run.judged_at_ms >= since_ms {
                out.push(run);
            }
        }
        for value in self
            .spike_runs
            .range(since_ms.to_be_bytes()..)
            .values()
            .rev()
            .take(limit)
        {
            out.push(serde_json::from_slice(&value?)?);
        }
        out.sort_by(|a, b| b.judged_at_ms.cmp(&a.judged_at_ms).then(a.id.cmp(&b.id)));
        out.truncate(limit);
        Ok(out)
    }

    /// Every candidate, in key order (run, then signature).
    pub fn candidates(&self) -> Result<Vec<Candidate>, StoreError> {
        self.candidates
            .iter()
            .values()
            .map(|v| Ok(serde_json::from_slice(&v?)?))
            .collect()
    }

    /// Drops continuous-mode runs judged before `before_ms` (deploy runs are
    /// kept with their deploys).
    pub fn prune_spike_runs(&self, before_ms: i64) -> Result<usize, StoreError> {
        let mut removed = 0;
        for key in self.spike_runs.range(..before_ms.to_be_bytes()).keys() {
            self.spike_runs.remove(key?)?;
            removed += 1;
        }
        Ok(removed)
    }

    /// The last batch sequence number the gate has judged.
    pub fn gate_batch_cursor(&self) -> Result<u64, StoreError> {
        Ok(self
            .meta
            .get(BATCH_CURSOR_KEY)?
            .and_then(|v| decode_u64(&v))
            .unwrap_or(0))
    }

    pub fn set_gate_batch_cursor(&self, seq: u64) -> Result<(), StoreError> {
        self.meta.insert(BATCH_CURSOR_KEY, &seq.to_be_bytes())?;
        Ok(())
    }
}

/// One signature's window: events per minute and the users seen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WindowSeries {
    pub counts: Vec<u64>,
    pub users: HashSet<u64>,
}

/// `count ‖ users`, the `minutes` tree's value.
pub fn encode_minute(count: u64, users: &[u64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + 8 * users.len().min(MAX_USERS_PER_MINUTE));
    out.extend_from_slice(&count.to_be_bytes());
    for user in users.iter().take(MAX_USERS_PER_MINUTE) {
        out.extend_from_slice(&user.to_be_bytes());
    }
    out
}

fn decode_minute(bytes: &[u8]) -> Option<(u64, impl Iterator<Item = u64> + '_)> {
    let count = decode_u64(bytes.get(..8)?)?;
    let users = bytes
        .get(8..)
        .unwrap_or_default()
        .chunks_exact(8)
        .filter_map(decode_u64);
    Some((count, users))
}

/// Merge operator of the `minutes` tree: adds the counts and unites the
/// user sets up to [`MAX_USERS_PER_MINUTE`]. An unreadable old value is
/// replaced, as for the other counters.
pub(super) fn merge_minute(_key: &[u8], old: Option<&[u8]>, new: &[u8]) -> Option<Vec<u8>> {
    let Some((old_count, old_users)) = old.and_then(decode_minute) else {
        return Some(new.to_vec());
    };
    let (new_count, new_users) = decode_minute(new)?;
    let mut users: Vec<u64> = old_users.collect();
    for user in new_users {
        if users.len() >= MAX_USERS_PER_MINUTE {
            break;
        }
        if !users.contains(&user) {
            users.push(user);
        }
    }
    Some(encode_minute(old_count.saturating_add(new_count), &users))
}

fn read_minute(key: &[u8]) -> Option<u32> {
    key.get(..4)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(u32::from_be_bytes)
}

/// Key of a deploy's second look in `deploy_runs`: beside the first look
/// (the deploy id), and not a valid deploy id itself (`#` is never in one).
fn second_look_key(deploy_id: &str) -> Vec<u8> {
    let mut key = deploy_id.as_bytes().to_vec();
    key.extend_from_slice(b"#second-look");
    key
}

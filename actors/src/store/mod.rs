//! The durable store, on sled 0.34.7.
//!
//! Trees by purpose (see `ARCHITECTURE.md`):
//! - `signatures`: signature id → [`SignatureRecord`] (JSON).
//! - `hourly`: signature id ‖ hour (u32 BE, hours since the epoch) → count
//!   (u64 BE), incremented by a merge operator so a batch never reads it.
//! - `samples`: signature id ‖ slot (u16 BE) → raw event (JSON). Slots
//!   `0..samples_first` hold the first events, the next `samples_latest` a ring
//!   of the latest: raw storage is bounded per signature, not per event.
//! - `deploys`: at (i64 BE) ‖ id → [`DeployRecord`].
//! - `pending`: signature id → [`PendingEntry`], the debounce queue's durable state.
//! - `batches`: seq (u64 BE) → [`BatchRecord`], what the queue handed on.
//! - `meta`: schema version, the signature count, the first event's time and
//!   the gate's batch cursor.
//! - the gate's trees (`minutes`, `traffic`, `releases`,
//!   `deploy_runs`, `spike_runs`, `candidates`): see [`gate`].
//! - `tickets`, `ticket_index`: see [`tickets`].
//! - `agent_queue`, `agent_leases`, `agent_attempts`, `agent_transcripts`,
//!   `agent_cooldowns`: the coding agent's queue, per-ticket leases,
//!   attempts, their transcripts, and signatures resting after a failed
//!   attempt: see [`agent_runs`].
//! - `control`: what governs action (the LLM's budget spend and breaker
//!   today): see [`control`].
//! - `audit`: seq → every decision and action, append-only: see [`audit`].
//! - `templates`: encoded leaf key → the leaf's log templates, which
//!   message-only events are signed by: see [`templates`].
//!
//! Writes are not durable until [`Store::flush`]: the ingest actor writes a
//! whole group of requests, flushes once, then acknowledges them all.

pub mod agent_runs;
pub mod audit;
mod blob_sync;
mod commit;
pub mod control;
pub mod gate;
pub mod gate_input;
pub mod health;
pub mod memory;
pub mod stats;
pub mod templates;
pub mod tickets;
pub mod views;

use crate::config::{Durability, StoreConfig};
use crate::domain::event::Event;

pub use commit::{CommitSummary, RecordCache};
pub use gate::{WindowSeries, minute_of, minute_start_ms};
// The records are the domain's; re-exported because every reader of the
// store names them.
pub use crate::domain::records::{
    BatchEntry, BatchRecord, Candidate, CandidateState, DeployRecord, DeploySource, GateRun,
    HandoffReason, JudgedSignature, PendingEntry, ReleaseRecord, RunKind, SignatureRecord,
    SignedEvent, TrafficRecord,
};

impl StoreError {
    /// Whether trying again later may succeed: an I/O error may pass (a full
    /// disk freed, a busy device); an unreadable record, a lock held by
    /// another process or a newer schema will not change by waiting.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Io(_))
    }
}

/// The on-disk layout this build writes. Bump it with a migration.
pub const SCHEMA_VERSION: u32 = 1;
const SCHEMA_KEY: &[u8] = b"schema_version";
const SIGNATURE_COUNT_KEY: &[u8] = b"signature_count";
const MS_PER_HOUR: i64 = 3_600_000;

/// Two deploys of one revision this close together are one deploy: CI's
/// marker often arrives minutes before or after the first event of the
/// release it names.
pub const SAME_DEPLOY_WITHIN_MS: i64 = MS_PER_HOUR;

/// Why the store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "the store at {path} is locked by another process (is another `suture serve` running on it?)"
    )]
    Locked { path: String },
    #[error(
        "the store at {path} is corrupt ({detail}); stop suture, move the directory aside (e.g. `mv {path} {path}.corrupt`) and start again; see README, 'Recovering the store'"
    )]
    Corrupt { path: String, detail: String },
    #[error(
        "the store at {path} has schema version {found}, newer than this build's {SCHEMA_VERSION}; run a newer suture"
    )]
    NewerSchema { path: String, found: u32 },
    #[error("cannot open the store at {path}")]
    Open { path: String, source: sled::Error },
    #[error("store I/O failed: {0}")]
    Io(#[from] sled::Error),
    #[error("a stored record is unreadable: {0}")]
    Decode(#[from] serde_json::Error),
    /// A sync failed earlier; the store acknowledges nothing until restarted.
    #[error("{0}")]
    SyncFailed(String),
}

/// Handle to the open database. Cheap to clone: sled's handles are shared.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    meta: sled::Tree,
    signatures: sled::Tree,
    hourly: sled::Tree,
    samples: sled::Tree,
    deploys: sled::Tree,
    pending: sled::Tree,
    batches: sled::Tree,
    minutes: sled::Tree,
    traffic: sled::Tree,
    releases: sled::Tree,
    deploy_runs: sled::Tree,
    spike_runs: sled::Tree,
    candidates: sled::Tree,
    tickets: sled::Tree,
    ticket_index: sled::Tree,
    control: sled::Tree,
    agent_queue: sled::Tree,
    agent_leases: sled::Tree,
    agent_attempts: sled::Tree,
    agent_transcripts: sled::Tree,
    agent_cooldowns: sled::Tree,
    templates: sled::Tree,
    audit: sled::Tree,
    fix_memory: sled::Tree,
    config: StoreConfig,
    /// sled's data file, for `fdatasync` after sled's own flush (see [`Durability`]).
    sync_file: Option<std::sync::Arc<std::fs::File>>,
    /// sled's blob files, synced after each flush (see [`blob_sync`]).
    blobs: std::sync::Arc<blob_sync::BlobSync>,
    /// The first failed sync, after which nothing is acknowledged.
    health: std::sync::Arc<health::SyncHealth>,
}

/// sled's error as an I/O error of the same kind (a full disk stays one).
fn io_error(error: &sled::Error) -> std::io::Error {
    match error {
        sled::Error::Io(e) => std::io::Error::new(e.kind(), e.to_string()),
        other => std::io::Error::other(other.to_string()),
    }
}

impl Store {
    /// Opens (or creates) the store. Lock and corruption errors name the path
    /// and the way out instead of panicking.
    pub fn open(config: &StoreConfig) -> Result<Self, StoreError> {
        let path = config.path.display().to_string();
        let sled_config = sled::Config::new()
            .path(&config.path)
            .cache_capacity(config.cache_mb.saturating_mul(1024 * 1024));
        // sled can panic on some corrupt files instead of returning an error;
        // either way the operator gets the same clear message.
        let db = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || sled_config.open()))
            .map_err(|_| StoreError::Corrupt {
                path: path.clone(),
                detail: "sled panicked while recovering".into(),
            })?
            .map_err(|e| classify_open_error(&path, e))?;
        let open = |name: &str| {
            db.open_tree(name)
                .map_err(|e| classify_open_error(&path, e))
        };
        let store = Self {
            meta: open("meta")?,
            signatures: open("signatures")?,
            hourly: open("hourly")?,
            samples: open("samples")?,
            deploys: open("deploys")?,
            pending: open("pending")?,
            batches: open("batches")?,
            minutes: open("minutes")?,
            traffic: open("traffic")?,
            releases: open("releases")?,
            deploy_runs: open("deploy_runs")?,
            spike_runs: open("spike_runs")?,
            candidates: open("candidates")?,
            tickets: open("tickets")?,
            ticket_index: open("ticket_index")?,
            control: open("control")?,
            agent_queue: open("agent_queue")?,
            agent_leases: open("agent_leases")?,
            agent_attempts: open("agent_attempts")?,
            agent_transcripts: open("agent_transcripts")?,
            agent_cooldowns: open("agent_cooldowns")?,
            templates: open("templates")?,
            audit: open("audit")?,
            fix_memory: open("fix_memory")?,
            db,
            config: config.clone(),
            sync_file: None,
            blobs: std::sync::Arc::new(blob_sync::BlobSync::new(&config.path)),
            health: std::sync::Arc::default(),
        };
        let store = store.with_sync_file(&path)?;
        store.hourly.set_merge_operator(add_u64);
        store.meta.set_merge_operator(add_u64);
        store.minutes.set_merge_operator(gate::merge_minute);
        store.traffic.set_merge_operator(add_u64);
        store.pending.set_merge_operator(merge_pending);
        store.check_schema(&path)?;
        store.migrate_control()?;
        // Not a reason to refuse to start (a full disk at open): the list
        // misses older auto-deploys until an open that can write finishes it.
        if let Err(e) = store.index_auto_deploys() {
            tracing::warn!(path = %path, error = %e, "the auto-deploy index was not built; the dashboard's list may miss older auto-deploys until the next start");
        }
        Ok(store)
    }

    fn check_schema(&self, path: &str) -> Result<(), StoreError> {
        match self.meta.get(SCHEMA_KEY)? {
            None => {
                self.meta
                    .insert(SCHEMA_KEY, &SCHEMA_VERSION.to_be_bytes())?;
                self.db.flush()?;
                Ok(())
            }
            Some(bytes) => {
                let found = bytes
                    .as_ref()
                    .try_into()
                    .map(u32::from_be_bytes)
                    .map_err(|_| StoreError::Corrupt {
                        path: path.to_string(),
                        detail: "unreadable schema version".into(),
                    })?;
                if found > SCHEMA_VERSION {
                    return Err(StoreError::NewerSchema {
                        path: path.to_string(),
                        found,
                    });
                }
                Ok(())
            }
        }
    }

    /// In `fsync` durability, opens sled's data file so each flush can be
    /// followed by `fdatasync` on it (fsync acts on the file, whichever
    /// descriptor asks).
    fn with_sync_file(mut self, path: &str) -> Result<Self, StoreError> {
        if self.config.durability == Durability::Fsync {
            let file =
                std::fs::File::open(self.config.path.join("db")).map_err(|e| StoreError::Open {
                    path: path.to_string(),
                    source: sled::Error::Io(e),
                })?;
            self.sync_file = Some(std::sync::Arc::new(file));
        }
        Ok(self)
    }

    /// The configuration the store was opened with.
    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// Makes every write so far durable. One call covers a whole group commit.
    ///
    /// After sled's flush: `fdatasync` on the data file (fsync durability),
    /// then every new blob file and the blob folder (both durabilities: a
    /// blob is a page sled left out of its log). Once any sync has failed,
    /// this fails at once, without syncing again (see [`health`]).
    pub async fn flush(&self) -> Result<usize, StoreError> {
        if let Some(failure) = self.health.failure() {
            return Err(StoreError::SyncFailed(failure));
        }
        let flushed = match self.db.flush_async().await {
            Ok(flushed) => flushed,
            Err(error) => {
                // sled's own flush includes its sync: the same rule applies.
                self.health.write_failed(io_error(&error));
                return Err(StoreError::SyncFailed(
                    self.health.failure().unwrap_or_default(),
                ));
            }
        };
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.sync_files())
            .await
            .map_err(|e| StoreError::SyncFailed(format!("the sync task failed: {e}")))??;
        Ok(flushed)
    }

    /// Blocking flush, for shutdown paths outside the runtime.
    pub fn flush_blocking(&self) -> Result<usize, StoreError> {
        if let Some(failure) = self.health.failure() {
            return Err(StoreError::SyncFailed(failure));
        }
        let flushed = self.db.flush()?;
        self.sync_files()?;
        Ok(flushed)
    }

    /// The syncs after sled's flush, through the health check.
    fn sync_files(&self) -> Result<(), StoreError> {
        self.health
            .sync(|| {
                if let Some(file) = &self.sync_file {
                    file.sync_data()?;
                }
                self.blobs.sync_new().map(|_| ())
            })
            .map_err(StoreError::SyncFailed)
    }

    /// The failure that stopped the store from acknowledging writes, if any
    /// (`/readyz` is not ready while there is one).
    pub fn sync_failure(&self) -> Option<String> {
        self.health.failure()
    }

    /// Records a write that failed with an I/O error: sled keeps failing
    /// after one (its global error), so the store is treated as a failed
    /// sync, not ready until restarted. Other errors (a record that does
    /// not decode) leave it ready.
    pub fn note_write_failure(&self, error: &StoreError) {
        if let StoreError::Io(e) = error {
            self.health.write_failed(io_error(e));
        }
    }

    /// The installation's secret key for GitHub issue markers: made once
    /// by `generate` and kept, so markers written before a restart are
    /// found after it. Two sidecars with their own stores have their own.
    pub fn installation_key(
        &self,
        generate: impl FnOnce() -> Option<Vec<u8>>,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        const KEY: &[u8] = b"installation_key";
        if let Some(key) = self.meta.get(KEY)? {
            return Ok(Some(key.to_vec()));
        }
        let Some(fresh) = generate() else {
            return Ok(None);
        };
        // Two first starts racing keep whichever key landed first.
        let _ = self
            .meta
            .compare_and_swap(KEY, None as Option<&[u8]>, Some(fresh))?;
        self.flush_blocking()?;
        Ok(self.meta.get(KEY)?.map(|k| k.to_vec()))
    }

    /// Blob files known to be synced (for tests of the blob sync).
    pub fn synced_blobs(&self) -> usize {
        self.blobs.synced_count()
    }

    /// The folder sled writes blobs to.
    pub fn blob_dir(&self) -> &std::path::Path {
        self.blobs.dir()
    }

    /// Makes the next sync fail, as a full or failing disk would. For
    /// failure tests; nothing in production calls it.
    #[doc(hidden)]
    pub fn inject_sync_failure(&self) {
        self.health.inject_failure();
    }

    /// Records a deploy (not yet flushed) and returns what is stored: a
    /// deploy of the same revision within [`SAME_DEPLOY_WITHIN_MS`] is the
    /// same deploy (a marker and the release its events carry, or a marker
    /// sent twice), so the earlier record is kept and returned.
    pub fn record_deploy(&self, deploy: &DeployRecord) -> Result<DeployRecord, StoreError> {
        if let Some(existing) = self.deploy_near(
            &deploy.revision,
            deploy.environment.as_deref(),
            deploy.at_ms,
            SAME_DEPLOY_WITHIN_MS,
        )? {
            return Ok(existing);
        }
        let mut key = deploy.at_ms.to_be_bytes().to_vec();
        key.extend_from_slice(deploy.id.as_bytes());
        self.deploys.insert(key, serde_json::to_vec(deploy)?)?;
        Ok(deploy.clone())
    }

    /// Deploy markers, oldest first.
    pub fn deploys(&self) -> Result<Vec<DeployRecord>, StoreError> {
        self.deploys
            .iter()
            .values()
            .map(|v| Ok(serde_json::from_slice(&v?)?))
            .collect()
    }

    /// Deploys with `from_ms <= at_ms < to_ms`, oldest first (one range
    /// read: deploys are keyed by their time).
    pub fn deploys_between(
        &self,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<DeployRecord>, StoreError> {
        self.deploys
            .range(from_ms.max(0).to_be_bytes()..to_ms.max(0).to_be_bytes())
            .values()
            .map(|v| Ok(serde_json::from_slice(&v?)?))
            .collect()
    }

    /// Signatures last seen at or after `since_ms`, most recently seen first.
    pub fn signatures_since(&self, since_ms: i64) -> Result<Vec<SignatureRecord>, StoreError> {
        let mut out = Vec::new();
        for value in self.signatures.iter().values() {
            let record: SignatureRecord = serde_json::from_slice(&value?)?;
            if record.last_seen_ms >= since_ms {
                out.push(record);
            }
        }
        out.sort_by(|a, b| b.last_seen_ms.cmp(&a.last_seen_ms).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    /// One signature, if known.
    pub fn signature(&self, id: &str) -> Result<Option<SignatureRecord>, StoreError> {
        match self.signatures.get(id.as_bytes())? {
            Some(v) => Ok(Some(serde_json::from_slice(&v)?)),
            None => Ok(None),
        }
    }

    /// How many distinct signatures exist (kept as a counter: sled's `len` scans).
    pub fn signature_count(&self) -> Result<u64, StoreError> {
        Ok(self
            .meta
            .get(SIGNATURE_COUNT_KEY)?
            .and_then(|v| decode_u64(&v))
            .unwrap_or(0))
    }

    /// Hourly counts of one signature as (hour start, epoch ms; count), oldest first.
    pub fn hourly(&self, id: &str) -> Result<Vec<(i64, u64)>, StoreError> {
        let mut out = Vec::new();
        for item in self.hourly.scan_prefix(id.as_bytes()) {
            let (key, value) = item?;
            let hour = key
                .get(id.len()..)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map(u32::from_be_bytes);
            if let (Some(hour), Some(count)) = (hour, decode_u64(&value)) {
                out.push((i64::from(hour) * MS_PER_HOUR, count));
            }
        }
        Ok(out)
    }

    /// The kept raw events of one signature: first ones, then the latest, in arrival order.
    pub fn samples(&self, id: &str) -> Result<Vec<Event>, StoreError> {
        let mut out: Vec<Event> = Vec::new();
        for value in self.samples.scan_prefix(id.as_bytes()).values() {
            out.push(serde_json::from_slice(&value?)?);
        }
        let first = usize::from(self.config.samples_first).min(out.len());
        if let Some(latest) = out.get_mut(first..) {
            latest.sort_by_key(|e| (e.received_at_ms, e.timestamp_ms));
        }
        Ok(out)
    }

    /// Signatures waiting in the debounce queue.
    pub fn pending(&self) -> Result<Vec<(String, PendingEntry)>, StoreError> {
        let mut out = Vec::new();
        for item in self.pending.iter() {
            let (key, value) = item?;
            if let Some(entry) = PendingEntry::decode(&value) {
                out.push((String::from_utf8_lossy(&key).into_owned(), entry));
            }
        }
        Ok(out)
    }

    /// Moves everything pending into a new recorded batch (not yet flushed).
    /// An entry that changed while this ran stays pending for the next batch,
    /// so no change is lost to the race with ingest.
    pub fn take_pending_batch(
        &self,
        reason: HandoffReason,
        now_ms: i64,
    ) -> Result<Option<BatchRecord>, StoreError> {
        let mut entries = Vec::new();
        for item in self.pending.iter() {
            let (key, value) = item?;
            let Some(entry) = PendingEntry::decode(&value) else {
                self.pending.remove(&key)?;
                continue;
            };
            // Removed only if untouched since we read it.
            if self
                .pending
                .compare_and_swap(&key, Some(&value), None as Option<&[u8]>)?
                .is_ok()
            {
                entries.push(BatchEntry {
                    signature: String::from_utf8_lossy(&key).into_owned(),
                    events: entry.events,
                    first_change_ms: entry.first_change_ms,
                });
            }
        }
        if entries.is_empty() {
            return Ok(None);
        }
        let seq = self.last_batch()?.map_or(1, |b| b.seq + 1);
        let batch = BatchRecord {
            seq,
            handed_at_ms: now_ms,
            reason,
            entries,
        };
        self.batches
            .insert(seq.to_be_bytes(), serde_json::to_vec(&batch)?)?;
        Ok(Some(batch))
    }

    /// The most recent batch the queue handed on.
    pub fn last_batch(&self) -> Result<Option<BatchRecord>, StoreError> {
        match self.batches.last()? {
            Some((_, v)) => Ok(Some(serde_json::from_slice(&v)?)),
            None => Ok(None),
        }
    }

    /// Drops batches the gate has judged (`seq <= judged_through`), all but
    /// the newest `keep` of them. A batch is read once, by the gate's
    /// continuous mode; the newest are kept for `/v1/status` and for
    /// whoever inspects the store. Unjudged batches and the last batch are
    /// never removed (`keep` is at least 1): the next batch's number is the
    /// last one's plus one, and numbers starting over below the gate's
    /// cursor would never be judged.
    pub fn prune_batches(&self, judged_through: u64, keep: u64) -> Result<usize, StoreError> {
        let below = judged_through.saturating_sub(keep.max(1)).saturating_add(1);
        let mut removed = 0;
        for key in self.batches.range(..below.to_be_bytes()).keys() {
            self.batches.remove(key?)?;
            removed += 1;
        }
        Ok(removed)
    }

    /// Recorded batches with `seq > after`, oldest first.
    pub fn batches_after(&self, after: u64) -> Result<Vec<BatchRecord>, StoreError> {
        self.batches
            .range((after.saturating_add(1)).to_be_bytes()..)
            .values()
            .map(|v| Ok(serde_json::from_slice(&v?)?))
            .collect()
    }
}

fn classify_open_error(path: &str, error: sled::Error) -> StoreError {
    let text = error.to_string();
    match error {
        sled::Error::Io(ref io) if io.to_string().contains("could not acquire lock") => {
            StoreError::Locked {
                path: path.to_string(),
            }
        }
        sled::Error::Corruption { .. } => StoreError::Corrupt {
            path: path.to_string(),
            detail: text,
        },
        sled::Error::Io(ref io) if io.kind() == std::io::ErrorKind::InvalidData => {
            StoreError::Corrupt {
                path: path.to_string(),
                detail: text,
            }
        }
        other => StoreError::Open {
            path: path.to_string(),
            source: other,
        },
    }
}

/// The hour bucket (hours since the epoch) of an epoch-ms timestamp.
pub fn hour_of(ms: i64) -> u32 {
    u32::try_from(ms.div_euclid(MS_PER_HOUR)).unwrap_or(0)
}

fn decode_u64(bytes: &[u8]) -> Option<u64> {
    <[u8; 8]>::try_from(bytes).ok().map(u64::from_be_bytes)
}

/// Merge operator: adds big-endian u64 counters. An unreadable old value is
/// replaced rather than propagated, so one bad record cannot wedge a counter.
fn add_u64(_key: &[u8], old: Option<&[u8]>, delta: &[u8]) -> Option<Vec<u8>> {
    let old = old.and_then(decode_u64).unwrap_or(0);
    let delta = decode_u64(delta).unwrap_or(0);
    Some(old.saturating_add(delta).to_be_bytes().to_vec())
}

fn merge_pending(_key: &[u8], old: Option<&[u8]>, new: &[u8]) -> Option<Vec<u8>> {
    let new = PendingEntry::decode(new)?;
    let merged = match old.and_then(PendingEntry::decode) {
        Some(old) => old.merge(new),
        None => new,
    };
    Some(merged.encode().to_vec())
}

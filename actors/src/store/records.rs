//! What the store keeps, as serialized values. JSON, so an operator can read a
//! record with any sled tool and a schema change is visible in review.

use serde::{Deserialize, Serialize};

use crate::signature::SignatureBasis;

/// One error signature and its running totals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignatureRecord {
    pub id: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub culprit: Option<String>,
    pub basis: SignatureBasis,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exception_type: Option<String>,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    pub total: u64,
    /// Most recent releases last; bounded by `store.max_releases_per_signature`.
    #[serde(default)]
    pub releases: Vec<String>,
    /// The message of the first event, as sent (untrusted text, unscrubbed;
    /// later stages scrub before anything leaves the machine).
    pub sample_message: String,
    #[serde(default)]
    pub last_message: String,
    /// When the ring of latest samples last took an event of this signature.
    #[serde(default = "never")]
    pub latest_sample_ms: i64,
}

fn never() -> i64 {
    i64::MIN
}

/// A deploy: a marker from `POST /v1/deploys` or `suture deploy`, or a new
/// `release` value first seen in events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployRecord {
    pub id: String,
    /// The marker's revision, or the new release value.
    pub revision: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// When the deploy happened (the marker's `at`, else when it was
    /// received; for a release, its first event's time).
    pub at_ms: i64,
    pub received_at_ms: i64,
    #[serde(default)]
    pub source: DeploySource,
}

/// How Suture learned of a deploy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeploySource {
    /// `POST /v1/deploys` or `suture deploy`.
    #[default]
    Marker,
    /// A `release` value first seen in events.
    Release,
}

/// Why the queue handed a batch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HandoffReason {
    /// `queue.debounce` passed without a new change.
    Debounce,
    /// `queue.max_wait` passed since the batch's first change.
    MaxWait,
    /// `queue.max_batch` distinct signatures were pending.
    MaxBatch,
}

/// One signature's share of a handed-on batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchEntry {
    pub signature: String,
    /// Events of this signature since it was last handed on.
    pub events: u64,
    pub first_change_ms: i64,
}

/// A batch the debounce queue handed on, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchRecord {
    pub seq: u64,
    pub handed_at_ms: i64,
    pub reason: HandoffReason,
    pub entries: Vec<BatchEntry>,
}

/// A signature waiting in the debounce queue (the `pending` tree's value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingEntry {
    pub first_change_ms: i64,
    pub events: u64,
}

impl PendingEntry {
    /// Fixed 16-byte encoding, so the merge operator needs no parser.
    pub fn encode(self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.first_change_ms.to_be_bytes());
        out[8..].copy_from_slice(&self.events.to_be_bytes());
        out
    }

    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let first: [u8; 8] = bytes.get(..8)?.try_into().ok()?;
        let events: [u8; 8] = bytes.get(8..16)?.try_into().ok()?;
        Some(Self {
            first_change_ms: i64::from_be_bytes(first),
            events: u64::from_be_bytes(events),
        })
    }

    /// Merging two pending entries keeps the earliest change and adds the counts.
    pub fn merge(self, other: Self) -> Self {
        Self {
            first_change_ms: self.first_change_ms.min(other.first_change_ms),
            events: self.events.saturating_add(other.events),
        }
    }
}

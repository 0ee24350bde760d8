//! The data model the store keeps, as serialized values (JSON, so an operator
//! can read a record with any sled tool and a schema change is visible in
//! review). Defined here, apart from the store, so the pure rules can use
//! the records without knowing about sled.

use serde::{Deserialize, Serialize};

use crate::domain::event::Event;
use crate::domain::gate::decide::{Decision, ImpactUnit, Severity, Verdict};
use crate::domain::signature::{Signature, SignatureBasis};

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

/// An event with the signature computed at the edge.
#[derive(Debug, Clone)]
pub struct SignedEvent {
    pub event: Event,
    pub signature: Signature,
}

/// When a release was first seen in events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseRecord {
    pub release: String,
    pub first_seen_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
}

/// Requests served, as reported by `POST /v1/traffic` or counted from
/// Sentry sessions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrafficRecord {
    /// When the requests were served (the end of the reporting interval).
    pub at_ms: i64,
    pub requests: u64,
    /// The release that served them, when the reporter knows it. Recorded
    /// for the operator; exposure is the service's total traffic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
}

/// What started a gate run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    /// A deploy's window closed.
    Deploy,
    /// The debounce queue handed on a batch between deploys.
    Continuous,
    /// A deploy judged again over `gate.second_look` (see
    /// `domain::gate::second_look`).
    SecondLook,
}

/// One signature's decision, with what a reader needs to recognise it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JudgedSignature {
    #[serde(flatten)]
    pub decision: Decision,
    pub title: String,
    /// The first message of the signature, as sent (untrusted, unscrubbed).
    pub sample_message: String,
    /// Distinct users in the window, when events carried users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distinct_users: Option<u64>,
    /// Whether this decision became a candidate for the analyzer (flagged,
    /// and not a repeat of a spike flagged moments ago).
    #[serde(default)]
    pub candidate: bool,
}

/// One judgement of one window: every signature tested, with its decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateRun {
    /// `deploy:<deploy id>`, `second-look:<deploy id>` or `batch:<seq>`.
    pub id: String,
    pub kind: RunKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy: Option<DeployRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_seq: Option<u64>,
    pub window_start_ms: i64,
    pub window_minutes: u32,
    /// Hours of baseline the store had (fewer than configured on a young store).
    pub baseline_hours: u32,
    pub judged_at_ms: i64,
    /// Whether requests were the exposure (else hours).
    pub traffic_known: bool,
    /// Why nothing was tested, when nothing was (e.g. no history yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub decisions: Vec<JudgedSignature>,
}

impl GateRun {
    /// The decisions that ask for action.
    pub fn flagged(&self) -> impl Iterator<Item = &JudgedSignature> {
        self.decisions
            .iter()
            .filter(|d| d.decision.verdict.flagged())
    }
}

/// Where a candidate is in the later stages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CandidateState {
    /// Waiting for the analyzer.
    New,
    /// Grouped into a ticket (`Candidate::ticket`).
    Analyzed,
}

/// A signature that passed the gate: the input of the analyzer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// `<run id>/<signature>`: deterministic, so judging a run again after a
    /// crash overwrites instead of duplicating.
    pub id: String,
    pub run: String,
    pub signature: String,
    pub title: String,
    pub verdict: Verdict,
    pub severity: Severity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    pub decided_at_ms: i64,
    pub observed: u64,
    pub expected: f64,
    pub q: f64,
    pub impact: f64,
    pub impact_unit: ImpactUnit,
    /// The gate's sentence for this decision.
    #[serde(default)]
    pub reason: String,
    pub state: CandidateState,
    /// The ticket the analyzer put it in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
}

impl Candidate {
    /// The candidate a flagged decision of `run` becomes.
    pub fn from_judged(run: &GateRun, judged: &JudgedSignature) -> Self {
        let d = &judged.decision;
        Self {
            id: format!("{}/{}", run.id, d.signature),
            run: run.id.clone(),
            signature: d.signature.clone(),
            title: judged.title.clone(),
            verdict: d.verdict,
            severity: d.severity,
            deploy_id: run.deploy.as_ref().map(|x| x.id.clone()),
            revision: run.deploy.as_ref().map(|x| x.revision.clone()),
            decided_at_ms: run.judged_at_ms,
            observed: d.observed,
            expected: d.expected,
            q: d.q,
            impact: d.impact,
            impact_unit: d.impact_unit,
            reason: d.reason.clone(),
            state: CandidateState::New,
            ticket: None,
        }
    }
}

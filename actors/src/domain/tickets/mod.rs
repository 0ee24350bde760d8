//! Tickets: what the analyzer and triage stages decide, kept as the record
//! an on-call engineer reads at 3 a.m.
//!
//! A ticket is one root cause. It carries everything that led to it: the
//! gate's numbers for each signature, scrubbed samples (type, message,
//! in-app frames, breadcrumbs), how it was grouped (the LLM's answer, or the
//! deterministic rule and why the LLM was not used), the triage verdict with
//! the deploy's changed files, and an audit trail of every step. Text in a
//! ticket has been through the scrubber: nothing unscrubbed lands here.
//!
//! States ([`TicketState`]): `open` (grouped, not yet triaged) → `triaged`
//! → `fixing` → `pr_open` → `resolved`, or `escalated` / `dismissed` from
//! any state that is not final. The coding agent moves tickets past
//! `triaged`; operators may escalate, dismiss or resolve.
//!
//! [`Disposition`] is triage's conclusion: only a `fix_candidate` goes on
//! to a coding agent; `external` (not this deploy's code, or no concrete
//! link found) and `noise` (a spike below the fix severity) stay as
//! records, with the reasoning.

pub mod github_event;
pub mod render;
pub mod report;

use serde::{Deserialize, Serialize};

use crate::domain::gate::decide::{ImpactUnit, Severity, Verdict};
use crate::domain::llm::parse::{Decision, SuspectLine};

/// `[tickets]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TicketsConfig {
    /// Shadow mode: every stage decides and stores, and nothing acts outside
    /// the sidecar (no GitHub issue, no comment) however the rest is
    /// configured. On by default: watch what Suture would do, label its
    /// verdicts (`POST /v1/tickets/{id}/label`, `suture report`), and turn
    /// it off once the precision is one you trust.
    pub shadow: bool,
}

impl Default for TicketsConfig {
    fn default() -> Self {
        Self { shadow: true }
    }
}

/// Where a ticket is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketState {
    /// Grouped by the analyzer; triage has not run yet.
    Open,
    /// Triage has decided its disposition.
    Triaged,
    /// A coding agent is working on it.
    Fixing,
    /// A tested fix waits in Suture's review queue (no pull request yet:
    /// GitHub is not configured, or Suture may not act outside).
    Review,
    /// A pull request waits for review.
    PrOpen,
    /// The fix's pull request was merged; Suture waits to see it work in
    /// production before the ticket is resolved.
    Verifying,
    /// Fixed (or declared fixed by an operator).
    Resolved,
    /// Needs a person: the agent gave up, or an operator escalated it.
    Escalated,
    /// Not worth acting on, by an operator's decision.
    Dismissed,
}

impl TicketState {
    pub const ALL: [TicketState; 9] = [
        TicketState::Open,
        TicketState::Triaged,
        TicketState::Fixing,
        TicketState::Review,
        TicketState::PrOpen,
        TicketState::Verifying,
        TicketState::Resolved,
        TicketState::Escalated,
        TicketState::Dismissed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TicketState::Open => "open",
            TicketState::Triaged => "triaged",
            TicketState::Fixing => "fixing",
            TicketState::Review => "review",
            TicketState::PrOpen => "pr_open",
            TicketState::Verifying => "verifying",
            TicketState::Resolved => "resolved",
            TicketState::Escalated => "escalated",
            TicketState::Dismissed => "dismissed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Resolved and dismissed tickets are closed: new occurrences of their
    /// signatures open a new ticket (a regression of a fixed bug is news).
    pub fn is_closed(self) -> bool {
        matches!(self, TicketState::Resolved | TicketState::Dismissed)
    }

    /// The allowed moves. Forward along the fix path one step at a time;
    /// `escalated` and `dismissed` from any state that is not closed; an
    /// escalated ticket may go back to `fixing` or be resolved.
    pub fn can_move_to(self, to: TicketState) -> bool {
        use TicketState::*;
        match (self, to) {
            (Open, Triaged) | (Triaged, Fixing) | (Fixing, PrOpen) | (PrOpen, Resolved) => true,
            // A fix waits for a person; approved it becomes a pull request,
            // rejected the ticket goes back to triaged.
            (Fixing, Review) | (Review, PrOpen) | (Review, Triaged) => true,
            // A failed fix attempt hands the ticket back; a pull request
            // closed unmerged too.
            (Fixing, Triaged) | (PrOpen, Fixing) | (PrOpen, Triaged) => true,
            // Merged, then verified in production.
            (PrOpen, Verifying) | (Verifying, Resolved) => true,
            (Escalated, Fixing) | (Escalated, Resolved) => true,
            // A resolved ticket whose error came back (verify.regression_window).
            (Resolved, Escalated) => true,
            // An operator may declare a triaged or escalated ticket fixed.
            (Triaged, Resolved) => true,
            (from, Escalated | Dismissed) => !from.is_closed() && from != to,
            _ => false,
        }
    }
}

/// Triage's conclusion about what to do with a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    /// Caused by the deploy (or a severe spike): worth a fix attempt.
    FixCandidate,
    /// Not this deploy's code, or no concrete link to it was found.
    External,
    /// A spike below `triage.spike_fix_severity`.
    Noise,
}

impl Disposition {
    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::FixCandidate => "fix_candidate",
            Disposition::External => "external",
            Disposition::Noise => "noise",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            Disposition::FixCandidate,
            Disposition::External,
            Disposition::Noise,
        ]
        .into_iter()
        .find(|d| d.as_str() == text)
    }
}

/// Which way a stage decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// The LLM's answer, validated.
    Llm,
    /// The deterministic fallback (no LLM, refused, failed or invalid twice).
    Deterministic,
    /// A fixed rule that needs no judgement (a spike's severity; a deploy
    /// that changed only tests, docs or CI).
    Rule,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Llm => "llm",
            Method::Deterministic => "deterministic",
            Method::Rule => "rule",
        }
    }
}

/// One frame of a sample, as a ticket shows it (scrubbed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrameView {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    pub in_app: bool,
    /// The repository path the file resolved to, when a repository is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo_path: Option<String>,
}

/// What the gate measured for one signature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateEvidence {
    /// The candidate this came from (`<run id>/<signature>`).
    pub candidate: String,
    pub run: String,
    pub verdict: Verdict,
    pub severity: Severity,
    pub observed: u64,
    pub expected: f64,
    pub q: f64,
    pub impact: f64,
    pub impact_unit: ImpactUnit,
    /// The gate's own sentence.
    #[serde(default)]
    pub reason: String,
    pub decided_at_ms: i64,
}

/// One signature of a ticket, with its evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignatureEvidence {
    pub signature: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exception_type: Option<String>,
    /// A sample's message, scrubbed.
    pub message: String,
    /// The sample's frames, oldest first, crashing frame last (scrubbed,
    /// at most `analyzer.max_frames`, the innermost kept).
    #[serde(default)]
    pub frames: Vec<FrameView>,
    /// The last breadcrumbs before the error, one line each (scrubbed).
    #[serde(default)]
    pub breadcrumbs: Vec<String>,
    /// `file in function` of the innermost in-app frame: what the
    /// deterministic grouping joins on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crash_site: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// Events of this signature ever stored, when the ticket was made.
    pub total_events: u64,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    /// Every gate decision that put this signature in the ticket.
    pub gate: Vec<GateEvidence>,
}

/// How the analyzer grouped a ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupingRecord {
    pub method: Method,
    /// Why the LLM was not used or not believed, when it was not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_reason: Option<String>,
    /// The model's answer as received (scrubbed), for the audit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm_raw: Option<String>,
    /// Files the model named that are not in the repository (or not in any
    /// stack when no repository is configured), dropped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dropped_files: Vec<String>,
    /// Tokens the grouping call(s) cost, shared by every ticket of the batch.
    #[serde(default)]
    pub tokens: u64,
    /// How many exceptions the batch held (the LLM saw them together).
    pub batch_size: usize,
}

/// A changed file as a ticket shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangedFileSummary {
    pub path: String,
    pub class: crate::domain::diff::FileClass,
    pub status: crate::domain::diff::ChangeStatus,
    pub added: u32,
    pub removed: u32,
}

/// The deploy's change, as triage read it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiffSummary {
    pub from: String,
    pub to: String,
    /// How `from` was chosen (the previous deploy, or the parent commit).
    pub from_source: String,
    pub files: Vec<ChangedFileSummary>,
    /// Whether the diff shown to the LLM was cut.
    pub truncated: bool,
}

impl DiffSummary {
    /// What a ticket keeps of `diff`; `from_source` says how its `from`
    /// was chosen.
    pub fn of(diff: &crate::domain::diff::DeployDiff, from_source: String) -> Self {
        DiffSummary {
            from: diff.from.clone(),
            to: diff.to.clone(),
            from_source,
            files: diff
                .files
                .iter()
                .map(|f| ChangedFileSummary {
                    path: f.path.clone(),
                    class: f.class,
                    status: f.status,
                    added: f.added,
                    removed: f.removed,
                })
                .collect(),
            truncated: diff.truncated,
        }
    }
}

/// A link the deterministic check found between an error and the diff.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiffLink {
    pub signature: String,
    pub file: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
    /// Whether the frame's line is within `triage.line_slack` of a changed line.
    pub on_changed_line: bool,
    /// Whether the frame is the innermost in-app one (the crash site).
    pub crash_site: bool,
}

/// Triage's verdict and what it was based on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TriageRecord {
    pub method: Method,
    /// `None` for a spike, which no deploy is blamed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    pub confidence: f64,
    /// Why (the model's reasoning, scrubbed, or the rule's sentence).
    pub reasoning: String,
    #[serde(default)]
    pub suspect_lines: Vec<SuspectLine>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff: Option<DiffSummary>,
    /// What the deterministic check found, whichever method decided.
    #[serde(default)]
    pub links: Vec<DiffLink>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm_raw: Option<String>,
    #[serde(default)]
    pub tokens: u64,
    pub decided_at_ms: i64,
}

/// An operator's judgement of triage's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Label {
    /// Whether the disposition (fix candidate or not) was right.
    pub correct: bool,
    /// Whether the ticket's errors belong together (one root cause): the
    /// deduplication's accuracy is measured from these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grouping_correct: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub at_ms: i64,
}

/// An operator's label as given: triage's verdict right or wrong, and
/// optionally whether the grouping was.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelInput {
    pub correct: bool,
    pub grouping_correct: Option<bool>,
    pub note: Option<String>,
}

/// The GitHub issue a ticket was published as.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExternalIssue {
    pub number: u64,
    pub url: String,
    pub created_at_ms: i64,
}

/// The fix the coding agent made for a ticket, and where it is in review.
/// The diff and the test evidence are in the attempt's record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FixRecord {
    pub attempt: u32,
    pub branch: String,
    pub commit: String,
    pub base: String,
    pub files: Vec<String>,
    /// The verdict on the tests, in words.
    pub tests: String,
    pub review: FixReview,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<PullRequestRef>,
    /// Why no pull request was opened, when none was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held: Option<String>,
    /// When a held fix is tried again: `None` while the guard refuses (the
    /// manager tries once it permits). Set from why it was held: a rate
    /// limit's own time, a backoff after a failure (`domain::coder::retry`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_at_ms: Option<i64>,
    /// Publishes of this fix that failed in a row: the backoff's count.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub publish_failures: u32,
}

/// A fix's pull request, merged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Merged {
    /// The merge commit (what a deploy must contain for the fix to be in
    /// production).
    pub commit: String,
    pub by: String,
    pub at_ms: i64,
    /// The first deploy whose revision contains the merge commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployed: Option<DeployedFix>,
}

/// The deploy that took a merged fix to production.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeployedFix {
    pub deploy: String,
    pub revision: String,
    pub at_ms: i64,
}

/// A revision of a fix a reviewer asked changes on: a new attempt, with the
/// review in its context, whose commit replaces the fix on the pull
/// request's branch (the same pull request).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FixRevision {
    pub requested_by: String,
    /// The review's words (scrubbed, cut).
    pub words: String,
    pub requested_at_ms: i64,
    /// The pull request and branch being revised.
    pub pull_request: PullRequestRef,
    pub branch: String,
    /// The attempt making the revision, once it started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    /// `pushed`, or `failed: ...`; none while pending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// The pull request's comment about a pushed revision is owed: set in
    /// the same write that records the push, cleared once GitHub has it.
    /// The comment carries a marker, and a retry looks for it before
    /// posting: a stop at any point comments once (see
    /// `stages::coder::revise`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub comment_due: bool,
}

impl FixRevision {
    /// Requested, not yet finished.
    pub fn pending(&self) -> bool {
        self.outcome.is_none()
    }
}

/// Where Suture's own deploy of a fix is. Each step is on the ticket's
/// trail too; this is what a restart resumes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AutoDeploy {
    pub started_ms: i64,
    /// The merge commit, once merged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge_commit: Option<String>,
    /// The revision deployed before (what a rollback returns to).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_revision: Option<String>,
    /// The deploy marker Suture sent, once the deploy command succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployed_at_ms: Option<i64>,
    /// When the canary window closes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_until_ms: Option<i64>,
    /// `passed`, `rolled_back: ...`, `failed: ...`, `stopped: ...`; none
    /// while it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
}

/// A person's decision on a fix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum FixReview {
    Pending,
    Approved { at_ms: i64 },
    Rejected { at_ms: i64, reason: String },
}

/// The draft pull request of a fix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PullRequestRef {
    pub number: u64,
    pub url: String,
    pub created_at_ms: i64,
    /// Opened ready for review (not a draft): only such a pull request is
    /// merged by Suture itself (autonomy `deploy`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ready: bool,
    /// Set when GitHub says it was merged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged: Option<Merged>,
}

/// More events of a ticket's root cause, after it was opened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recurrence {
    pub at_ms: i64,
    pub run: String,
    pub signatures: Vec<String>,
    pub events: u64,
    /// Whether the GitHub issue was told (a comment), when there is one.
    #[serde(default)]
    pub notified: bool,
}

/// One line of the audit trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at_ms: i64,
    /// `analyzer`, `triage`, `github`, `operator`, ...
    pub actor: String,
    pub action: String,
    pub detail: String,
}

/// A ticket: one root cause and all its evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ticket {
    /// `T-<n>`, numbered in creation order.
    pub id: String,
    pub state: TicketState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disposition: Option<Disposition>,
    /// One line: the root cause's first sentence, or the first error's title.
    pub title: String,
    pub root_cause: String,
    pub severity: Severity,
    pub suggested_fix: String,
    /// Repository paths, most likely first.
    pub files: Vec<String>,
    /// The deploy the gate attributed it to (none for a spike).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    pub signatures: Vec<SignatureEvidence>,
    pub grouping: GroupingRecord,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub triage: Option<TriageRecord>,
    /// Events the gate counted in the windows that made and grew the ticket.
    pub events: u64,
    #[serde(default)]
    pub recurrences: Vec<Recurrence>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<Label>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub github: Option<ExternalIssue>,
    /// The coding agent's fix, once one passed its tests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<FixRecord>,
    /// Whether its merged fix worked in production (`domain::verify`):
    /// the latest check, with the figures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<crate::domain::verify::Verification>,
    /// When it last moved to `resolved`: a signature flagged again within
    /// `verify.regression_window` of it reopens this ticket as a regression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at_ms: Option<i64>,
    /// A reviewer asked for changes on the fix's pull request: the one
    /// revision attempt it gets (at autonomy `pr`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix_revision: Option<FixRevision>,
    /// Suture's own merge and deploy of its fix (`[deploy]`), step by step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_deploy: Option<AutoDeploy>,
    /// How often it was reopened as a regression after being resolved.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub regressions: u32,
    /// Whether the ticket was decided in shadow mode (nothing outside the
    /// sidecar acted on it).
    pub shadow: bool,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub audit: Vec<AuditEntry>,
}

impl Ticket {
    /// Appends to the audit trail and bumps `updated_at_ms`.
    pub fn audit(
        &mut self,
        at_ms: i64,
        actor: &str,
        action: &str,
        detail: impl Into<String>,
    ) -> &mut Self {
        self.audit.push(AuditEntry {
            at_ms,
            actor: actor.to_string(),
            action: action.to_string(),
            detail: detail.into(),
        });
        self.updated_at_ms = self.updated_at_ms.max(at_ms);
        self
    }

    /// Moves to `to` when the state machine allows it, with an audit line.
    pub fn transition(
        &mut self,
        to: TicketState,
        at_ms: i64,
        actor: &str,
        why: &str,
    ) -> Result<(), TransitionError> {
        if !self.state.can_move_to(to) {
            return Err(TransitionError {
                id: self.id.clone(),
                from: self.state,
                to,
            });
        }
        let from = self.state;
        self.state = to;
        if to == TicketState::Resolved {
            self.resolved_at_ms = Some(at_ms);
        }
        self.audit(
            at_ms,
            actor,
            "state",
            format!("{} -> {}: {why}", from.as_str(), to.as_str()),
        );
        Ok(())
    }

    /// The signature ids, in ticket order.
    pub fn signature_ids(&self) -> impl Iterator<Item = &str> {
        self.signatures.iter().map(|s| s.signature.as_str())
    }

    /// The `file in function` crash sites of its signatures.
    pub fn crash_sites(&self) -> impl Iterator<Item = &str> {
        self.signatures
            .iter()
            .filter_map(|s| s.crash_site.as_deref())
    }

    /// The list view: no samples, no audit.
    pub fn summary(&self) -> TicketSummary {
        TicketSummary {
            id: self.id.clone(),
            state: self.state,
            disposition: self.disposition,
            title: self.title.clone(),
            severity: self.severity,
            deploy_id: self.deploy_id.clone(),
            signatures: self
                .signatures
                .iter()
                .map(|s| s.signature.clone())
                .collect(),
            events: self.events,
            grouping: self.grouping.method,
            triage: self.triage.as_ref().map(|t| t.method),
            decision: self.triage.as_ref().and_then(|t| t.decision),
            labeled: self.label.as_ref().map(|l| l.correct),
            github: self.github.as_ref().map(|g| g.url.clone()),
            created_at_ms: self.created_at_ms,
            updated_at_ms: self.updated_at_ms,
        }
    }
}

/// Adds a newly analyzed group (`addition`, shaped as a ticket) to an open
/// ticket with the same root cause: its signatures and gate evidence, its
/// events, a recurrence and an audit line. Severity only goes up.
pub fn grow(ticket: &mut Ticket, addition: &Ticket, at_ms: i64) {
    let mut runs: Vec<String> = Vec::new();
    for incoming in &addition.signatures {
        for g in &incoming.gate {
            if !runs.contains(&g.run) {
                runs.push(g.run.clone());
            }
        }
        match ticket
            .signatures
            .iter_mut()
            .find(|s| s.signature == incoming.signature)
        {
            Some(known) => {
                for g in &incoming.gate {
                    if !known.gate.iter().any(|k| k.candidate == g.candidate) {
                        known.gate.push(g.clone());
                    }
                }
                known.total_events = known.total_events.max(incoming.total_events);
                known.last_seen_ms = known.last_seen_ms.max(incoming.last_seen_ms);
            }
            None => ticket.signatures.push(incoming.clone()),
        }
    }
    ticket.events = ticket.events.saturating_add(addition.events);
    ticket.severity = ticket.severity.max(addition.severity);
    for file in &addition.files {
        if !ticket.files.contains(file) {
            ticket.files.push(file.clone());
        }
    }
    let signatures: Vec<String> = addition
        .signatures
        .iter()
        .map(|s| s.signature.clone())
        .collect();
    ticket.recurrences.push(Recurrence {
        at_ms,
        run: runs.join(", "),
        signatures: signatures.clone(),
        events: addition.events,
        notified: false,
    });
    ticket.audit(
        at_ms,
        "analyzer",
        "recurred",
        format!(
            "{} more events ({}) in {}; grouped by {}",
            addition.events,
            signatures.join(", "),
            runs.join(", "),
            addition.grouping.method.as_str()
        ),
    );
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A move the state machine does not allow.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("ticket {id} cannot move from {} to {}", from.as_str(), to.as_str())]
pub struct TransitionError {
    pub id: String,
    pub from: TicketState,
    pub to: TicketState,
}

/// One line of `GET /v1/tickets`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketSummary {
    pub id: String,
    pub state: TicketState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disposition: Option<Disposition>,
    pub title: String,
    pub severity: Severity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy_id: Option<String>,
    pub signatures: Vec<String>,
    pub events: u64,
    pub grouping: Method,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub triage: Option<Method>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    /// The operator's label: whether triage was right.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labeled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub github: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// A minimal ticket for tests of code that reads tickets.
#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    pub(crate) fn ticket(
        id: &str,
        disposition: Option<Disposition>,
        label: Option<bool>,
        method: Method,
    ) -> Ticket {
        Ticket {
            id: id.to_string(),
            state: if disposition.is_some() {
                TicketState::Triaged
            } else {
                TicketState::Open
            },
            disposition,
            title: format!("error of {id}"),
            root_cause: String::new(),
            severity: Severity::High,
            suggested_fix: String::new(),
            files: Vec::new(),
            deploy_id: None,
            revision: None,
            signatures: Vec::new(),
            grouping: GroupingRecord {
                method: Method::Deterministic,
                fallback_reason: None,
                llm_raw: None,
                dropped_files: Vec::new(),
                tokens: 0,
                batch_size: 1,
            },
            triage: Some(TriageRecord {
                method,
                decision: None,
                confidence: 0.5,
                reasoning: String::new(),
                suspect_lines: Vec::new(),
                diff: None,
                links: Vec::new(),
                fallback_reason: None,
                llm_raw: None,
                tokens: 7,
                decided_at_ms: 0,
            }),
            events: 1,
            recurrences: Vec::new(),
            label: label.map(|correct| Label {
                correct,
                grouping_correct: None,
                note: None,
                at_ms: 0,
            }),
            github: None,
            fix: None,
            fix_revision: None,
            auto_deploy: None,
            verification: None,
            resolved_at_ms: None,
            regressions: 0,
            shadow: true,
            created_at_ms: 0,
            updated_at_ms: 0,
            audit: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fix_path_moves_one_step_at_a_time() {
        use TicketState::*;
        assert!(Open.can_move_to(Triaged));
        assert!(Triaged.can_move_to(Fixing));
        assert!(Fixing.can_move_to(PrOpen));
        assert!(PrOpen.can_move_to(Resolved));
        assert!(!Open.can_move_to(Fixing), "triage comes first");
        assert!(!Open.can_move_to(PrOpen));
        assert!(!Triaged.can_move_to(PrOpen));
        assert!(!Resolved.can_move_to(Open));
        assert!(!Triaged.can_move_to(Open));
    }

    #[test]
    fn escalate_and_dismiss_from_any_state_that_is_not_closed() {
        for from in TicketState::ALL {
            for to in [TicketState::Escalated, TicketState::Dismissed] {
                // A resolved ticket may be reopened as a regression.
                let reopened = from == TicketState::Resolved && to == TicketState::Escalated;
                let expected = reopened || (!from.is_closed() && from != to);
                assert_eq!(from.can_move_to(to), expected, "{from:?} -> {to:?}");
            }
        }
        assert!(TicketState::Escalated.can_move_to(TicketState::Fixing));
        assert!(!TicketState::Dismissed.can_move_to(TicketState::Triaged));
    }

    #[test]
    fn names_round_trip() {
        for s in TicketState::ALL {
            assert_eq!(TicketState::parse(s.as_str()), Some(s));
            assert_eq!(
                serde_json::to_value(s).ok(),
                Some(serde_json::Value::String(s.as_str().into()))
            );
        }
        for d in [
            Disposition::FixCandidate,
            Disposition::External,
            Disposition::Noise,
        ] {
            assert_eq!(Disposition::parse(d.as_str()), Some(d));
        }
        assert_eq!(TicketState::parse("closed"), None);
    }
}

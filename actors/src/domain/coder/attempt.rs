//! One attempt of the coding agent at one ticket, as the store keeps it: a
//! sidecar killed mid-attempt finds it `Running` at the next start, marks it
//! interrupted and requeues the ticket once.

use serde::{Deserialize, Serialize};

/// Where an attempt is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptState {
    /// Holding the ticket's lease, working in its worktree.
    Running,
    /// A tested fix, committed on its branch.
    Succeeded,
    /// Ended without a fix (a guardrail, the tests, a timeout, the model).
    Failed,
    /// The sidecar stopped while it ran.
    Interrupted,
}

impl AttemptRecord {
    /// A new running attempt.
    pub fn running(ticket: &str, attempt: u32, branch: String, started_ms: i64) -> Self {
        Self {
            ticket: ticket.to_string(),
            attempt,
            state: AttemptState::Running,
            started_ms,
            ended_ms: None,
            branch,
            worktree: None,
            reason: String::new(),
            agent: String::new(),
            steps: 0,
            tokens: 0,
            micro_usd: 0,
            fix: None,
        }
    }
}

impl AttemptState {
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptState::Running => "running",
            AttemptState::Succeeded => "succeeded",
            AttemptState::Failed => "failed",
            AttemptState::Interrupted => "interrupted",
        }
    }
}

/// One attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptRecord {
    pub ticket: String,
    /// 1 for the first attempt at the ticket.
    pub attempt: u32,
    pub state: AttemptState,
    pub started_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_ms: Option<i64>,
    /// The branch of the attempt (`suture/fix-<ticket>-<attempt>`).
    pub branch: String,
    /// The worktree's folder while it may exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worktree: Option<String>,
    /// Why it ended, in words.
    #[serde(default)]
    pub reason: String,
    /// Which agent worked: `built-in`, or the external command's program.
    #[serde(default)]
    pub agent: String,
    /// Model calls made (built-in agent).
    #[serde(default)]
    pub steps: u32,
    /// Tokens spent (built-in agent; an external agent's are unknown).
    #[serde(default)]
    pub tokens: u64,
    /// What those tokens cost at `[llm.prices]`, in micro-dollars.
    #[serde(default)]
    pub micro_usd: u64,
    /// The fix, when the attempt produced one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<Box<FixEvidence>>,
}

/// A fix and the evidence that it works: what a reviewer reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FixEvidence {
    /// The fix commit on the attempt's branch.
    pub commit: String,
    /// The base it was made on.
    pub base: String,
    /// `git diff` of the fix (cut at [`MAX_STORED_DIFF_BYTES`], with a note).
    pub diff: String,
    pub files: Vec<String>,
    pub added: usize,
    pub removed: usize,
    pub tests_before: TestSummary,
    pub tests_after: TestSummary,
    /// The base plus only the fix's test files, when it added tests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tests_only: Option<TestSummary>,
    /// The verdict on the tests, in words.
    pub judgement: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lint: Option<TestSummary>,
}

/// The stored fix diff is cut here: sled writes records over about 128 KiB
/// to separate files, and a fix the guardrails let through is far smaller.
pub const MAX_STORED_DIFF_BYTES: usize = 64 * 1024;

/// One run of the tests (or the lint), for the record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestSummary {
    pub command: String,
    /// `None`: killed at its timeout or by a signal.
    pub exit_code: Option<i32>,
    pub timed_out: bool,
    pub passed: usize,
    pub failed: usize,
    pub errors: usize,
    pub skipped: usize,
    pub duration_ms: u64,
    /// The end of its output.
    pub output_tail: String,
}

/// One step of an attempt, as the transcript keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TranscriptEntry {
    pub at_ms: i64,
    /// Model call number (0 before the first call).
    pub step: u32,
    /// `context`, `model`, `tool_call`, `tool_result`, `edits`,
    /// `guardrails`, `tests`, `external`, `outcome`.
    pub kind: String,
    /// What happened, cut to a bounded size.
    pub text: String,
    /// Tokens of a model call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<u64>,
}

impl AttemptRecord {
    /// Ends the attempt in `state` (never back to `Running`).
    pub fn end(&mut self, state: AttemptState, at_ms: i64, reason: impl Into<String>) {
        debug_assert!(state != AttemptState::Running);
        self.state = state;
        self.ended_ms = Some(at_ms);
        self.reason = reason.into();
    }
}

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

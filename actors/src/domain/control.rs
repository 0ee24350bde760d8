//! The records of the control state: what governs whether and how much
//! Suture may act. Kept by the store's `control` tree and read and written
//! only through [`crate::control`].

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};

use crate::domain::gate::decide::Severity;
use crate::domain::llm::budget::PersistedBudget;

/// The LLM client's budget spend, breaker and totals, as
/// `LlmClient::persisted` saves them: a restart neither forgets what was
/// spent nor closes an open breaker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PersistedControl {
    pub saved_at_ms: i64,
    pub budget: PersistedBudget,
    pub breaker_failures: u32,
    /// Epoch ms until which the breaker is open.
    pub breaker_open_until_ms: Option<i64>,
    pub calls: u64,
    pub tokens: u64,
    /// Money spent since the store began, in micro-dollars.
    #[serde(default)]
    pub micro_usd: u64,
}

/// A signature's fix loop (the fix-loop breaker): failed agent attempts
/// on it and, once they reach `agent.fix_loop_failures`, the trip that
/// stops further attempts until an operator resets it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixLoop {
    pub failures: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tripped: Option<Tripped>,
}

/// When and why a breaker tripped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tripped {
    pub at_ms: i64,
    pub reason: String,
}

impl FixLoop {
    /// Counts one failed attempt; trips at `limit` (0: never). Returns
    /// whether this failure tripped it.
    pub fn failed(&mut self, limit: u32, at_ms: i64, why: &str) -> bool {
        self.failures = self.failures.saturating_add(1);
        if limit == 0 || self.tripped.is_some() || self.failures < limit {
            return false;
        }
        self.tripped = Some(Tripped {
            at_ms,
            reason: format!(
                "{} failed agent attempts (agent.fix_loop_failures = {limit}); the last: {why}",
                self.failures
            ),
        });
        true
    }
}

/// The outcomes of the latest reviews of Suture's fixes, newest last, for
/// the review-fatigue guard.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewHistory {
    /// `true`: accepted (approved, merged); `false`: rejected or closed
    /// unmerged.
    pub accepted: Vec<bool>,
}

impl ReviewHistory {
    /// Adds an outcome, keeping the last `window`; returns whether at
    /// least `rejections` of them are rejections (0: the guard is off).
    pub fn record(&mut self, accepted: bool, rejections: usize, window: usize) -> bool {
        self.accepted.push(accepted);
        let excess = self.accepted.len().saturating_sub(window.max(1));
        self.accepted.drain(..excess);
        rejections > 0 && self.accepted.iter().filter(|a| !**a).count() >= rejections
    }
}

/// Who asked for an admin action: the admin token's name (`admin` for the
/// token in `admin.token_env`, `local` for a loopback caller when no token
/// is set) and the peer address, for the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub name: String,
    pub peer: Option<String>,
}

impl Caller {
    pub fn new(name: &str, peer: Option<String>) -> Self {
        Self {
            name: name.to_string(),
            peer,
        }
    }

    /// An action Suture takes by itself (a guard's decision, a breaker).
    pub fn suture(part: &str) -> Self {
        Self::new(part, None)
    }
}

/// The kill switch, as the store keeps it: engaged or not, why, by whom,
/// since when.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KillSwitch {
    pub engaged: bool,
    #[serde(default)]
    pub reason: String,
    /// Who flipped it (the admin token's name, or `operator`).
    #[serde(default)]
    pub by: String,
    /// When it was last flipped (epoch ms; 0: never).
    #[serde(default)]
    pub at_ms: i64,
}

/// The kill switch as everything that acts reads it: one flag shared by the
/// guard, the LLM client and the coder, set before an operator's request to
/// engage it is answered, so nothing checked after the answer can act.
#[derive(Debug, Clone, Default)]
pub struct Halt(Arc<AtomicBool>);

impl Halt {
    pub fn engaged(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    pub fn set(&self, engaged: bool) {
        self.0.store(engaged, Ordering::SeqCst);
    }
}

/// How far Suture may go on its own (`[autonomy]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AutonomyLevel {
    /// Tickets only: no agent runs, nothing leaves the sidecar.
    Observe,
    /// Agents run; fixes wait in Suture's review queue; nothing leaves the
    /// sidecar until a person approves.
    Suggest,
    /// Draft pull requests and GitHub issues.
    Pr,
    /// Merging and deploying fixes (the verification issue); refused unless
    /// `autonomy.allow_deploy`.
    Deploy,
}

impl AutonomyLevel {
    pub const ALL: [AutonomyLevel; 4] = [
        AutonomyLevel::Observe,
        AutonomyLevel::Suggest,
        AutonomyLevel::Pr,
        AutonomyLevel::Deploy,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AutonomyLevel::Observe => "observe",
            AutonomyLevel::Suggest => "suggest",
            AutonomyLevel::Pr => "pr",
            AutonomyLevel::Deploy => "deploy",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.as_str() == text)
    }
}

/// `[autonomy]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AutonomyConfig {
    /// The level. Unset: `pr` when `tickets.shadow = false` (its old
    /// meaning), else `suggest` when an LLM or an external agent is
    /// configured, else `observe`.
    pub level: Option<AutonomyLevel>,
    /// Per-severity levels, overriding `level` (e.g. `{ high = "pr",
    /// low = "suggest" }`).
    pub by_severity: BTreeMap<Severity, AutonomyLevel>,
    /// Let `deploy` be set at all.
    pub allow_deploy: bool,
    /// The review-fatigue guard: when `fatigue_rejections` of the last
    /// `fatigue_window` reviewed fixes were rejected, the level drops to
    /// `suggest` (a person must approve each fix) and a notification says
    /// why. 0: off.
    pub fatigue_rejections: usize,
    pub fatigue_window: usize,
}

impl Default for AutonomyConfig {
    fn default() -> Self {
        Self {
            level: None,
            by_severity: BTreeMap::new(),
            allow_deploy: false,
            // Three of the last five rejected: the fixes are not landing,
            // and a reviewer's time is being spent on them.
            fatigue_rejections: 3,
            fatigue_window: 5,
        }
    }
}

/// The level in force, as an operator last set it (kept in the control
/// tree; it wins over the configuration's `level` at start).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutonomyRecord {
    pub level: AutonomyLevel,
    pub reason: String,
    pub by: String,
    pub at_ms: i64,
}

/// The autonomy in force, shared by the guard and the control state so a
/// change applies to the next action everywhere.
#[derive(Debug, Clone)]
pub struct Autonomy(Arc<RwLock<AutonomySetting>>);

/// What [`Autonomy`] holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AutonomySetting {
    pub level: AutonomyLevel,
    pub by_severity: BTreeMap<Severity, AutonomyLevel>,
    pub allow_deploy: bool,
}

impl Autonomy {
    /// A fixed level, no per-severity map.
    pub fn fixed(level: AutonomyLevel) -> Self {
        Self(Arc::new(RwLock::new(AutonomySetting {
            level,
            by_severity: BTreeMap::new(),
            allow_deploy: false,
        })))
    }

    pub fn new(setting: AutonomySetting) -> Self {
        Self(Arc::new(RwLock::new(setting)))
    }

    pub fn setting(&self) -> AutonomySetting {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The level for work of `severity` (`None`: the base level). `deploy`
    /// never applies without `allow_deploy`.
    pub fn level_for(&self, severity: Option<Severity>) -> AutonomyLevel {
        let setting = self.0.read().unwrap_or_else(|p| p.into_inner());
        let level = severity
            .and_then(|s| setting.by_severity.get(&s).copied())
            .unwrap_or(setting.level);
        if level == AutonomyLevel::Deploy && !setting.allow_deploy {
            AutonomyLevel::Pr
        } else {
            level
        }
    }

    /// Sets the base level (the per-severity map stays).
    pub fn set_level(&self, level: AutonomyLevel) {
        self.0.write().unwrap_or_else(|p| p.into_inner()).level = level;
    }
}

/// `[limits]`. 0 turns a limit off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Coding-agent attempts started per hour, all tickets together. Each
    /// costs model tokens and a test run; a burst of tickets waits its turn.
    pub agent_attempts_per_hour: u32,
    /// Pull requests opened per hour: a reviewer's attention is the scarce
    /// thing.
    pub prs_per_hour: u32,
    /// Pull requests opened per UTC-day-long period.
    pub prs_per_day: u32,
    /// Content-creating GitHub requests (issues, comments, pull requests)
    /// per minute. GitHub's secondary limit is 80; staying well under it
    /// leaves room for the service's own automation on the same token.
    pub github_writes_per_minute: u32,
    /// The same per hour (GitHub's secondary limit: 500).
    pub github_writes_per_hour: u32,
    /// LLM calls per minute; a call over it waits for its turn.
    pub llm_calls_per_minute: u32,
    /// Deploys Suture makes per hour: `deploy.max_per_hour`, copied here
    /// by the engine (it is configured with the rest of `[deploy]`).
    #[serde(skip)]
    pub deploys_per_hour: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            agent_attempts_per_hour: 6,
            prs_per_hour: 3,
            prs_per_day: 10,
            github_writes_per_minute: 20,
            github_writes_per_hour: 200,
            llm_calls_per_minute: 30,
            deploys_per_hour: 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severities_override_the_level_and_deploy_needs_allowing() {
        let mut by_severity = BTreeMap::new();
        by_severity.insert(Severity::High, AutonomyLevel::Pr);
        by_severity.insert(Severity::Critical, AutonomyLevel::Deploy);
        let autonomy = Autonomy::new(AutonomySetting {
            level: AutonomyLevel::Suggest,
            by_severity,
            allow_deploy: false,
        });
        assert_eq!(autonomy.level_for(None), AutonomyLevel::Suggest);
        assert_eq!(
            autonomy.level_for(Some(Severity::Low)),
            AutonomyLevel::Suggest
        );
        assert_eq!(autonomy.level_for(Some(Severity::High)), AutonomyLevel::Pr);
        assert_eq!(
            autonomy.level_for(Some(Severity::Critical)),
            AutonomyLevel::Pr
        );
        autonomy.set_level(AutonomyLevel::Observe);
        assert_eq!(
            autonomy.level_for(Some(Severity::Low)),
            AutonomyLevel::Observe
        );
        assert_eq!(AutonomyLevel::parse("pr"), Some(AutonomyLevel::Pr));
        assert_eq!(AutonomyLevel::parse("yolo"), None);
    }

    #[test]
    fn a_fix_loop_trips_once_at_its_limit() {
        let mut state = FixLoop::default();
        assert!(!state.failed(2, 1, "a"));
        assert!(state.failed(2, 2, "b"));
        assert!(!state.failed(2, 3, "c"), "already tripped");
        assert_eq!(state.failures, 3);
        assert_eq!(state.tripped.as_ref().map(|t| t.at_ms), Some(2));
        let mut off = FixLoop::default();
        assert!(!off.failed(0, 1, "a"));
    }

    #[test]
    fn review_history_keeps_the_window_and_counts_rejections() {
        let mut history = ReviewHistory::default();
        assert!(!history.record(false, 2, 3));
        assert!(!history.record(true, 2, 3));
        assert!(history.record(false, 2, 3));
        assert!(
            !history.record(true, 2, 3),
            "the first rejection left the window"
        );
        assert_eq!(history.accepted, vec![true, false, true]);
        assert!(!ReviewHistory::default().record(false, 0, 3), "0 is off");
    }
}

//! `[deploy]`: Suture merging and deploying a tested fix by itself (the
//! original design's phase 4), watched by a canary window and rolled back
//! when it makes things worse. Off by default; see docs/verify.md.
//!
//! The rules here are pure: the configuration and its check against the
//! autonomy wanted, and the canary's judgement from the figures the stage
//! measured.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::domain::coder::config::CommandLine;
use crate::domain::control::{AutonomyConfig, AutonomyLevel};
use crate::domain::duration;
use crate::domain::gate::decide::Severity;
use crate::domain::verify::{Outcome, SignatureVerdict};

/// `[deploy]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeployConfig {
    /// Whether autonomy `deploy` may be used at all. With it off, the
    /// sidecar refuses to start when the autonomy asks for `deploy`.
    pub enabled: bool,
    /// The service's own deploy, run in `repo.path` with
    /// `SUTURE_DEPLOY_REVISION` (the merge commit) and `SUTURE_TICKET` set.
    /// Exit 0 means deployed.
    pub command: CommandLine,
    /// Undoes a deploy: run with `SUTURE_ROLLBACK_FROM` (the merge commit),
    /// `SUTURE_ROLLBACK_TO` (the revision deployed before) and
    /// `SUTURE_TICKET`. Required: Suture does not deploy what it cannot
    /// take back.
    pub rollback_command: CommandLine,
    /// Only fixes of these severities are deployed by Suture; the others
    /// wait for a person's merge as at `pr`.
    pub severities: Vec<Severity>,
    /// Deploys Suture makes per hour, all tickets together.
    pub max_per_hour: u32,
    /// How long after its deploy the fix is watched before it stands: the
    /// fixed error must not stay at its regressed rate, and the gate must
    /// flag no other error in this window.
    #[serde(with = "duration")]
    pub canary_window: Duration,
    /// Longest a deploy or rollback command may run (its process group is
    /// killed past it).
    #[serde(with = "duration")]
    pub timeout: Duration,
    /// Variables of the sidecar's environment the commands get (e.g.
    /// `KUBECONFIG`); nothing else of it is passed.
    pub pass_env: Vec<String>,
}

impl Default for DeployConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            command: CommandLine::default(),
            rollback_command: CommandLine::default(),
            severities: vec![Severity::Critical, Severity::High],
            max_per_hour: 1,
            canary_window: Duration::from_secs(10 * 60),
            timeout: Duration::from_secs(15 * 60),
            pass_env: Vec::new(),
        }
    }
}

impl DeployConfig {
    /// Why the configuration cannot carry the autonomy wanted, if it cannot:
    /// `deploy` (as the level, for a severity, or allowed at run time)
    /// needs `enabled`, a command and a rollback command.
    pub fn check(&self, autonomy: &AutonomyConfig) -> Result<(), String> {
        let wanted = autonomy.allow_deploy
            || autonomy.level == Some(AutonomyLevel::Deploy)
            || autonomy
                .by_severity
                .values()
                .any(|l| *l == AutonomyLevel::Deploy);
        if !wanted {
            return Ok(());
        }
        if !self.enabled {
            return Err("autonomy `deploy` is configured (autonomy.level, autonomy.by_severity or autonomy.allow_deploy) but deploy.enabled is false".into());
        }
        if self.command.is_empty() {
            return Err("deploy.enabled needs deploy.command (the service's own deploy)".into());
        }
        if self.rollback_command.is_empty() {
            return Err("deploy.enabled needs deploy.rollback_command: Suture does not deploy what it cannot take back".into());
        }
        if self.canary_window.is_zero() {
            return Err("deploy.canary_window must be positive".into());
        }
        Ok(())
    }

    /// Whether a fix of `severity` is one Suture deploys.
    pub fn covers(&self, severity: Severity) -> bool {
        self.enabled && self.severities.contains(&severity)
    }
}

/// The canary's verdict: `Some(reason)` to roll back.
///
/// - the fixed error is still failing (above its rate before the
///   regression), or not below its regressed rate at all (the point
///   estimate after the deploy at or above the regressed one, with events);
/// - the gate flagged another error in the canary window (`new_flags`:
///   signature and the gate's own sentence).
pub fn canary_verdict(
    fixed: &[SignatureVerdict],
    new_flags: &[(String, String)],
) -> Option<String> {
    if let Some((signature, reason)) = new_flags.first() {
        return Some(format!(
            "the gate flagged {signature} in the canary window: {reason}"
        ));
    }
    for s in fixed {
        if s.outcome == Outcome::StillFailing {
            return Some(format!("{}: {}", s.signature, s.reason));
        }
        let per = |events: u64, exposure: f64| (exposure > 0.0).then(|| events as f64 / exposure);
        let after = per(s.after.events, s.after.hours);
        let regressed = per(s.regressed.events, s.regressed.hours);
        if let (Some(after), Some(regressed)) = (after, regressed)
            && s.after.events > 0
            && after >= regressed
        {
            return Some(format!(
                "{}: not reduced: {:.2}/h after the deploy against {:.2}/h while regressed",
                s.signature, after, regressed
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::verify::{Period, Unit};

    fn verdict(outcome: Outcome, regressed: (u64, f64), after: (u64, f64)) -> SignatureVerdict {
        let period = |(events, hours): (u64, f64)| Period {
            from_ms: 0,
            to_ms: 0,
            events,
            hours,
            requests: None,
        };
        SignatureVerdict {
            signature: "s".into(),
            unit: Unit::PerHour,
            before: period((10, 100.0)),
            regressed: period(regressed),
            after: period(after),
            p_elevated: 1.0,
            p_reduced: 1.0,
            outcome,
            reason: "still failing: figures".into(),
        }
    }

    #[test]
    fn deploy_autonomy_needs_the_whole_configuration() {
        let mut autonomy = AutonomyConfig::default();
        let off = DeployConfig::default();
        assert!(off.check(&autonomy).is_ok(), "not wanted, not needed");
        autonomy.level = Some(AutonomyLevel::Deploy);
        assert!(
            off.check(&autonomy)
                .unwrap_err()
                .contains("deploy.enabled is false")
        );
        let mut on = DeployConfig {
            enabled: true,
            command: CommandLine::Shell("./deploy.sh".into()),
            ..DeployConfig::default()
        };
        assert!(
            on.check(&autonomy)
                .unwrap_err()
                .contains("rollback_command")
        );
        on.rollback_command = CommandLine::Shell("./rollback.sh".into());
        assert!(on.check(&autonomy).is_ok());
        assert!(on.covers(Severity::High) && !on.covers(Severity::Low));
        let by_severity = AutonomyConfig {
            by_severity: [(Severity::Critical, AutonomyLevel::Deploy)].into(),
            ..AutonomyConfig::default()
        };
        assert!(off.check(&by_severity).is_err());
    }

    #[test]
    fn the_canary_rolls_back_on_a_new_flag_or_no_improvement() {
        let better = verdict(Outcome::Undecided, (40, 2.0), (1, 0.2));
        assert_eq!(canary_verdict(std::slice::from_ref(&better), &[]), None);
        let flagged = vec![("t".to_string(), "new: 12 events".to_string())];
        assert!(
            canary_verdict(&[better], &flagged)
                .is_some_and(|r| r.contains("flagged t in the canary window"))
        );
        let same = verdict(Outcome::Undecided, (40, 2.0), (4, 0.2));
        assert!(canary_verdict(&[same], &[]).is_some_and(|r| r.contains("not reduced")));
        let failing = verdict(Outcome::StillFailing, (40, 2.0), (0, 0.2));
        assert!(canary_verdict(&[failing], &[]).is_some_and(|r| r.contains("still failing")));
        let quiet = verdict(Outcome::Undecided, (2, 2.0), (0, 0.2));
        assert_eq!(
            canary_verdict(&[quiet], &[]),
            None,
            "no events is no evidence against"
        );
    }
}

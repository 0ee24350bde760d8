//! The one permission check every action passes.
//!
//! Stages ask [`Guard::permit`] (or [`Guard::permit_for`], with the
//! ticket's severity) right before they act, instead of each reading the
//! configuration. The rules, in order:
//!
//! 1. the kill switch: engaged, nothing is permitted;
//! 2. the autonomy level for the work's severity (`[autonomy]`, changed at
//!    run time through the admin API): `observe` permits nothing, `suggest`
//!    lets agents run (their fixes wait in the review queue), `pr` and
//!    `deploy` also let Suture push, open pull requests and GitHub issues,
//!    and comment on them.
//!
//! 3. the rate limits (`[limits]`), taken only by [`Guard::admit_for`],
//!    which the caller asks right before it acts (a check that is not
//!    followed by the action must not spend a limit's room).
//!
//! `tickets.shadow` is the old spelling of the same idea: `true` is
//! `suggest` (nothing leaves the sidecar), `false` is `pr`.
//!
//! Notifications leave the sidecar too: [`Guard::notify`] sends one only
//! when [`Guard::permit_notification`] allows it (the kill switch stops all
//! but its own).

use std::sync::Arc;

use super::limits::{Limited, RateLimits};
use crate::domain::control::{Autonomy, AutonomyLevel, Halt};
use crate::domain::gate::decide::Severity;
use crate::domain::notify::{Notification, NotificationKind};

/// Where notifications go once permitted (the engine hands in the
/// notifier's queue).
pub type NotifySink = Arc<dyn Fn(Notification) + Send + Sync>;

/// Something Suture may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Start a coding agent on a ticket (its work stays in the sidecar).
    RunAgent,
    /// Open a GitHub issue for a ticket.
    OpenIssue,
    /// Comment on a ticket's GitHub issue or pull request (a recurrence,
    /// a verification's figures).
    CommentOnIssue,
    /// Close a ticket's GitHub issue (its fix verified in production).
    CloseIssue,
    /// Push a fix's branch to the service's remote.
    Push,
    /// Open a pull request for a fix.
    OpenPullRequest,
    /// Merge a fix's pull request and deploy it (`[deploy]`).
    Deploy,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::RunAgent => "start a coding agent",
            Action::OpenIssue => "open a GitHub issue",
            Action::CommentOnIssue => "comment on a GitHub issue",
            Action::CloseIssue => "close a GitHub issue",
            Action::Push => "push a branch",
            Action::OpenPullRequest => "open a pull request",
            Action::Deploy => "merge and deploy a fix",
        }
    }

    /// The lowest autonomy level that permits it.
    pub fn needs(self) -> AutonomyLevel {
        match self {
            Action::RunAgent => AutonomyLevel::Suggest,
            Action::OpenIssue
            | Action::CommentOnIssue
            | Action::CloseIssue
            | Action::Push
            | Action::OpenPullRequest => AutonomyLevel::Pr,
            Action::Deploy => AutonomyLevel::Deploy,
        }
    }
}

/// Why an action was not permitted. The caller records it (the ticket's
/// audit) and does not act; the work is not lost.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the kill switch is engaged: Suture would {}, and does not", .0.as_str())]
    KillSwitch(Action),
    #[error("autonomy `{}`: Suture would {}, which needs `{}`, and does not", .level.as_str(), .action.as_str(), .action.needs().as_str())]
    Autonomy {
        action: Action,
        level: AutonomyLevel,
    },
    #[error("Suture would {}, and waits: {limited}", .action.as_str())]
    RateLimited { action: Action, limited: Limited },
}

/// Answers whether Suture may act now. Cheap to clone; clones share the
/// kill switch and the autonomy level.
#[derive(Clone)]
pub struct Guard {
    autonomy: Autonomy,
    halt: Halt,
    limits: Arc<RateLimits>,
    notify: Option<NotifySink>,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("autonomy", &self.autonomy)
            .field("halt", &self.halt)
            .finish_non_exhaustive()
    }
}

impl Guard {
    /// A guard at a fixed level from `tickets.shadow`: `true` is `suggest`
    /// (nothing leaves the sidecar), `false` is `pr`.
    pub fn new(shadow: bool) -> Self {
        let level = if shadow {
            AutonomyLevel::Suggest
        } else {
            AutonomyLevel::Pr
        };
        Self {
            autonomy: Autonomy::fixed(level),
            halt: Halt::default(),
            limits: Arc::new(RateLimits::unlimited()),
            notify: None,
        }
    }

    /// The guard taking room from `limits` in [`Guard::admit_for`].
    pub fn with_limits(mut self, limits: Arc<RateLimits>) -> Self {
        self.limits = limits;
        self
    }

    /// The guard sending permitted notifications to `sink`.
    pub fn with_notify(mut self, sink: NotifySink) -> Self {
        self.notify = Some(sink);
        self
    }

    /// The rate limits (the LLM client takes its room from them).
    pub fn limits(&self) -> Arc<RateLimits> {
        self.limits.clone()
    }

    /// Whether `action` may happen now for work of `severity`, taking its
    /// room under the rate limits when it may. Asked right before acting.
    pub fn admit_for(&self, action: Action, severity: Severity) -> Result<(), Refusal> {
        self.check(action, Some(severity))?;
        self.take_room(action)
    }

    /// [`Guard::admit_for`] for a fix a person approved in the review
    /// queue: their approval is the permission `suggest` waits for, so a
    /// push and a pull request need only `suggest` (the kill switch and the
    /// rate limits apply as ever; `observe` still refuses).
    pub fn admit_approved(&self, action: Action, severity: Severity) -> Result<(), Refusal> {
        self.permit_approved(action, severity)?;
        self.take_room(action)
    }

    /// [`Guard::permit_for`] for a fix a person approved (see
    /// [`Guard::admit_approved`]).
    pub fn permit_approved(&self, action: Action, severity: Severity) -> Result<(), Refusal> {
        let person_may = matches!(action, Action::Push | Action::OpenPullRequest);
        if !person_may {
            return self.check(action, Some(severity));
        }
        if self.halt.engaged() {
            return Err(Refusal::KillSwitch(action));
        }
        let level = self.autonomy.level_for(Some(severity));
        if level < AutonomyLevel::Suggest {
            return Err(Refusal::Autonomy { action, level });
        }
        Ok(())
    }

    fn take_room(&self, action: Action) -> Result<(), Refusal> {
        let limited = match action {
            Action::RunAgent => self.limits.agent_attempt(),
            Action::OpenPullRequest => self.limits.pull_request(),
            Action::OpenIssue | Action::CommentOnIssue | Action::CloseIssue => {
                self.limits.github_write()
            }
            // A git push is not a GitHub API write; its pull request is.
            Action::Push => Ok(()),
            Action::Deploy => self.limits.deploy(),
        };
        limited.map_err(|limited| Refusal::RateLimited { action, limited })
    }

    /// Whether a notification of `kind` may leave the sidecar now: not
    /// while the kill switch is engaged, but for the switch's own.
    pub fn permit_notification(&self, kind: NotificationKind) -> Result<(), String> {
        if self.halt.engaged() && kind != NotificationKind::KillSwitch {
            return Err("the kill switch is engaged".into());
        }
        Ok(())
    }

    /// Sends `notification` when permitted; never waits.
    pub fn notify(&self, notification: Notification) {
        let Some(sink) = &self.notify else {
            return;
        };
        match self.permit_notification(notification.kind) {
            Ok(()) => sink(notification),
            Err(why) => {
                tracing::debug!(kind = notification.kind.as_str(), %why, "notification not sent")
            }
        }
    }

    /// The guard obeying the shared autonomy setting (changed at run time).
    pub fn with_autonomy(mut self, autonomy: Autonomy) -> Self {
        self.autonomy = autonomy;
        self
    }

    /// The guard obeying the kill switch `halt`.
    pub fn with_halt(mut self, halt: Halt) -> Self {
        self.halt = halt;
        self
    }

    /// Whether `action` may happen now at the base level.
    pub fn permit(&self, action: Action) -> Result<(), Refusal> {
        self.check(action, None)
    }

    /// Whether `action` may happen now for work of `severity` (the
    /// per-severity levels apply).
    pub fn permit_for(&self, action: Action, severity: Severity) -> Result<(), Refusal> {
        self.check(action, Some(severity))
    }

    /// Asked right before acting, so a switch engaged or a level lowered a
    /// moment ago is obeyed.
    fn check(&self, action: Action, severity: Option<Severity>) -> Result<(), Refusal> {
        if self.halt.engaged() {
            return Err(Refusal::KillSwitch(action));
        }
        let level = self.autonomy.level_for(severity);
        if level < action.needs() {
            return Err(Refusal::Autonomy { action, level });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::domain::control::AutonomySetting;

    #[test]
    fn a_persons_approval_lets_a_fix_out_at_suggest_but_not_past_the_kill_switch() {
        let halt = Halt::default();
        let guard = Guard::new(false)
            .with_autonomy(Autonomy::fixed(AutonomyLevel::Suggest))
            .with_halt(halt.clone());
        assert!(guard.permit_for(Action::Push, Severity::High).is_err());
        assert_eq!(guard.admit_approved(Action::Push, Severity::High), Ok(()));
        assert_eq!(
            guard.admit_approved(Action::OpenPullRequest, Severity::High),
            Ok(())
        );
        assert!(
            guard
                .permit_approved(Action::OpenIssue, Severity::High)
                .is_err(),
            "only the fix's own push and pull request"
        );
        halt.set(true);
        assert!(matches!(
            guard.admit_approved(Action::Push, Severity::High),
            Err(Refusal::KillSwitch(_))
        ));
        let observe = Guard::new(false).with_autonomy(Autonomy::fixed(AutonomyLevel::Observe));
        assert!(
            observe
                .permit_approved(Action::Push, Severity::High)
                .is_err()
        );
    }

    const OUTSIDE: [Action; 5] = [
        Action::OpenIssue,
        Action::CommentOnIssue,
        Action::CloseIssue,
        Action::Push,
        Action::OpenPullRequest,
    ];

    #[test]
    fn the_kill_switch_refuses_everything_from_the_moment_it_is_set() {
        let halt = Halt::default();
        let guard = Guard::new(false).with_halt(halt.clone());
        assert_eq!(guard.permit(Action::Push), Ok(()));
        halt.set(true);
        for action in OUTSIDE.into_iter().chain([Action::RunAgent]) {
            assert_eq!(
                guard.clone().permit(action),
                Err(Refusal::KillSwitch(action))
            );
        }
        halt.set(false);
        assert_eq!(guard.permit(Action::OpenIssue), Ok(()));
    }

    #[test]
    fn each_level_permits_what_it_says() {
        let autonomy = Autonomy::fixed(AutonomyLevel::Observe);
        let guard = Guard::new(false).with_autonomy(autonomy.clone());
        assert!(guard.permit(Action::RunAgent).is_err());
        autonomy.set_level(AutonomyLevel::Suggest);
        assert_eq!(guard.permit(Action::RunAgent), Ok(()));
        for action in OUTSIDE {
            assert_eq!(
                guard.permit(action),
                Err(Refusal::Autonomy {
                    action,
                    level: AutonomyLevel::Suggest
                })
            );
        }
        autonomy.set_level(AutonomyLevel::Pr);
        for action in OUTSIDE.into_iter().chain([Action::RunAgent]) {
            assert_eq!(guard.permit(action), Ok(()));
        }
        assert_eq!(
            Refusal::Autonomy {
                action: Action::Push,
                level: AutonomyLevel::Suggest
            }
            .to_string(),
            "autonomy `suggest`: Suture would push a branch, which needs `pr`, and does not"
        );
    }

    #[test]
    fn per_severity_levels_apply_to_the_work_they_name() {
        let mut by_severity = BTreeMap::new();
        by_severity.insert(Severity::High, AutonomyLevel::Pr);
        let guard = Guard::new(true).with_autonomy(Autonomy::new(AutonomySetting {
            level: AutonomyLevel::Suggest,
            by_severity,
            allow_deploy: false,
        }));
        assert_eq!(
            guard.permit_for(Action::OpenPullRequest, Severity::High),
            Ok(())
        );
        assert!(
            guard
                .permit_for(Action::OpenPullRequest, Severity::Low)
                .is_err()
        );
        assert!(guard.permit(Action::OpenPullRequest).is_err());
    }

    #[test]
    fn shadow_is_suggest_and_its_absence_is_pr() {
        for action in OUTSIDE {
            assert!(Guard::new(true).permit(action).is_err());
            assert_eq!(Guard::new(false).permit(action), Ok(()));
        }
        assert_eq!(Guard::new(true).permit(Action::RunAgent), Ok(()));
    }

    #[test]
    fn admitting_takes_the_rate_limits_room_and_permitting_does_not() {
        use std::sync::atomic::{AtomicI64, Ordering};

        use crate::control::limits::{LimitsConfig, RateLimits};

        let now = Arc::new(AtomicI64::new(1_767_600_000_000));
        let clock = now.clone();
        let limits = RateLimits::new(
            &LimitsConfig {
                agent_attempts_per_hour: 1,
                prs_per_hour: 1,
                ..LimitsConfig::default()
            },
            Arc::new(move || clock.load(Ordering::SeqCst)),
            |_| None,
            Arc::new(|_, _| {}),
        );
        let guard = Guard::new(false).with_limits(Arc::new(limits));
        for _ in 0..3 {
            assert_eq!(guard.permit_for(Action::RunAgent, Severity::High), Ok(()));
        }
        assert_eq!(guard.admit_for(Action::RunAgent, Severity::High), Ok(()));
        match guard.admit_for(Action::RunAgent, Severity::High) {
            Err(Refusal::RateLimited { action, limited }) => {
                assert_eq!(action, Action::RunAgent);
                assert_eq!(limited.name, "agent_attempts_per_hour");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(guard.admit_for(Action::Push, Severity::High), Ok(()));
        assert_eq!(
            guard.admit_for(Action::OpenPullRequest, Severity::High),
            Ok(())
        );
        assert!(
            guard
                .admit_for(Action::OpenPullRequest, Severity::High)
                .is_err()
        );
        now.fetch_add(3_600_000, Ordering::SeqCst);
        assert_eq!(guard.admit_for(Action::RunAgent, Severity::High), Ok(()));
    }

    #[test]
    fn only_the_kill_switchs_own_notice_leaves_while_it_is_engaged() {
        use std::sync::Mutex;

        let sent = Arc::new(Mutex::new(Vec::new()));
        let sink = sent.clone();
        let halt = Halt::default();
        let guard = Guard::new(false)
            .with_halt(halt.clone())
            .with_notify(Arc::new(move |n: Notification| {
                sink.lock().expect("lock").push(n.kind)
            }));
        halt.set(true);
        guard.notify(Notification::new(NotificationKind::PrOpened, 1, "pr", ""));
        guard.notify(Notification::new(NotificationKind::KillSwitch, 2, "on", ""));
        halt.set(false);
        guard.notify(Notification::new(
            NotificationKind::Escalation,
            3,
            "esc",
            "",
        ));
        assert_eq!(
            *sent.lock().expect("lock"),
            vec![NotificationKind::KillSwitch, NotificationKind::Escalation]
        );
    }
}

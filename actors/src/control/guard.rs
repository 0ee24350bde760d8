//! The one permission check every action outside the sidecar passes.
//!
//! Stages ask [`Guard::permit`] before they write anything outside Suture
//! (a GitHub issue or comment; next, a push and a pull request), instead of
//! each reading the configuration. Today it knows one rule, shadow mode
//! (`tickets.shadow`): nothing leaves the sidecar; and the kill switch
//! (nothing leaves, whatever else is set). Autonomy levels, rate limits and budgets of the safety rails are added
//! here, and every caller obeys them without a change.

use crate::domain::control::Halt;

/// An action outside the sidecar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Open a GitHub issue for a ticket.
    OpenIssue,
    /// Comment on a ticket's GitHub issue (a recurrence).
    CommentOnIssue,
    /// Push a fix's branch to the service's remote.
    Push,
    /// Open a pull request for a fix.
    OpenPullRequest,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::OpenIssue => "open a GitHub issue",
            Action::CommentOnIssue => "comment on a GitHub issue",
            Action::Push => "push a branch",
            Action::OpenPullRequest => "open a pull request",
        }
    }
}

/// Why an action was not permitted. The caller records it (the ticket's
/// audit) and does not act; the work is not lost.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the kill switch is engaged: Suture would {}, and does not", .0.as_str())]
    KillSwitch(Action),
    #[error("shadow mode (tickets.shadow): Suture would {}, and does not", .0.as_str())]
    Shadow(Action),
}

/// Answers whether Suture may act outside the sidecar now. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Guard {
    shadow: bool,
    halt: Halt,
}

impl Guard {
    /// `shadow`: `tickets.shadow`, nothing leaves the sidecar.
    pub fn new(shadow: bool) -> Self {
        Self {
            shadow,
            halt: Halt::default(),
        }
    }

    /// The guard obeying the kill switch `halt`.
    pub fn with_halt(mut self, halt: Halt) -> Self {
        self.halt = halt;
        self
    }

    /// Whether `action` may happen now: asked right before acting, so a
    /// switch engaged a moment ago is obeyed.
    pub fn permit(&self, action: Action) -> Result<(), Refusal> {
        if self.halt.engaged() {
            return Err(Refusal::KillSwitch(action));
        }
        if self.shadow {
            return Err(Refusal::Shadow(action));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kill_switch_refuses_everything_from_the_moment_it_is_set() {
        let halt = Halt::default();
        let guard = Guard::new(false).with_halt(halt.clone());
        assert_eq!(guard.permit(Action::Push), Ok(()));
        halt.set(true);
        assert_eq!(
            guard.permit(Action::Push),
            Err(Refusal::KillSwitch(Action::Push))
        );
        let clone = guard.clone();
        assert_eq!(
            clone.permit(Action::OpenPullRequest),
            Err(Refusal::KillSwitch(Action::OpenPullRequest))
        );
        halt.set(false);
        assert_eq!(guard.permit(Action::OpenIssue), Ok(()));
    }

    #[test]
    fn shadow_mode_refuses_every_outside_write() {
        let shadow = Guard::new(true);
        for action in [
            Action::OpenIssue,
            Action::CommentOnIssue,
            Action::Push,
            Action::OpenPullRequest,
        ] {
            assert_eq!(shadow.permit(action), Err(Refusal::Shadow(action)));
            assert_eq!(Guard::new(false).permit(action), Ok(()));
        }
        assert_eq!(
            Refusal::Shadow(Action::OpenIssue).to_string(),
            "shadow mode (tickets.shadow): Suture would open a GitHub issue, and does not"
        );
    }
}

//! What GitHub tells Suture about a fix's pull request (its webhook), made
//! into ticket changes, one delivery at a time through the control actor:
//!
//! - **merged**: the ticket records the merge commit and moves to
//!   `verifying` (it ends only once production shows the fix worked); the
//!   review counts as accepted for the review-fatigue guard.
//! - **closed unmerged**: the ticket goes back to `triaged` with the fix
//!   `fix_rejected` and the reason (the latest review's words, when a
//!   reviewer gave some); it counts as a rejection.
//! - **a review**: recorded on the ticket with the reviewer's words.
//!
//! Deliveries are idempotent by `X-GitHub-Delivery`: a replayed id changes
//! nothing. The delivery ids are kept in the control tree for
//! [`DELIVERY_MEMORY_MS`].

use super::Control;
use crate::clock::now_ms;
use crate::domain::memory::FixOutcome;
use crate::domain::text::truncate;
use crate::domain::tickets::github_event::{WebhookEvent, ticket_of_branch};
use crate::domain::tickets::{FixReview, Merged, TicketState};
use crate::store::tickets::TicketUpdateError;

/// How long a delivery id is remembered: GitHub redelivers within hours,
/// and an operator's manual redelivery within days.
pub const DELIVERY_MEMORY_MS: i64 = 14 * 86_400_000;

/// What a delivery did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Applied {
    /// The same delivery id was applied before.
    Duplicate,
    /// Not about one of Suture's fixes, or nothing to do.
    Ignored { why: String },
    /// The ticket changed.
    Updated { ticket: String, state: TicketState },
}

impl Control {
    /// Applies one webhook delivery (see the module doc); durable when it
    /// returns.
    pub async fn apply_github_event(
        &self,
        delivery: &str,
        event: &WebhookEvent,
    ) -> Result<Applied, TicketUpdateError> {
        let now = now_ms();
        if !self.store.remember_delivery(delivery, now)? {
            return Ok(Applied::Duplicate);
        }
        let applied = self.apply(event, now).await;
        self.store.flush().await?;
        applied
    }

    async fn apply(&self, event: &WebhookEvent, now: i64) -> Result<Applied, TicketUpdateError> {
        let (number, head) = match event {
            WebhookEvent::Ignored(what) => {
                return Ok(Applied::Ignored {
                    why: format!("{what}: not an event Suture acts on"),
                });
            }
            WebhookEvent::PullRequestClosed { number, head, .. }
            | WebhookEvent::Review { number, head, .. } => (*number, head),
        };
        let Some(id) = ticket_of_branch(head) else {
            return Ok(Applied::Ignored {
                why: format!("pull request #{number} is not a Suture fix ({head})"),
            });
        };
        let current = self.store.ticket(&id)?;
        let pull = current
            .as_ref()
            .and_then(|t| t.fix.as_ref())
            .and_then(|f| f.pull_request.as_ref())
            .filter(|p| p.number == number);
        let Some(pull) = pull else {
            return Ok(Applied::Ignored {
                why: format!("ticket {id} has no pull request #{number}"),
            });
        };
        // The same closing told twice (a redelivery under a new id, the
        // webhook and a poll): applied once.
        let rejected = current
            .as_ref()
            .and_then(|t| t.fix.as_ref())
            .is_some_and(|f| matches!(f.review, FixReview::Rejected { .. }));
        let known = match event {
            WebhookEvent::PullRequestClosed {
                merge_commit: Some(_),
                ..
            } => pull.merged.is_some(),
            WebhookEvent::PullRequestClosed { .. } => rejected,
            _ => false,
        };
        if known {
            return Ok(Applied::Ignored {
                why: format!("pull request #{number}'s closing is already recorded"),
            });
        }
        let words = |text: &str| truncate(&self.scrubber.scrub(text), 1_000);
        let (ticket, accepted) = match event {
            WebhookEvent::PullRequestClosed {
                merge_commit: Some(commit),
                by,
                ..
            } => {
                let (ticket, ()) = self.store.update_ticket(&id, |t| {
                    cancel_revision(t, "the pull request was merged");
                    if let Some(pull) = t.fix.as_mut().and_then(|f| f.pull_request.as_mut()) {
                        pull.merged = Some(Merged {
                            commit: commit.clone(),
                            by: by.clone(),
                            at_ms: now,
                            deployed: None,
                        });
                    }
                    if t.state == TicketState::PrOpen {
                        t.transition(
                            TicketState::Verifying,
                            now,
                            "github",
                            &format!("pull request #{number} merged by {by} as {commit}; waiting to see the fix work in production"),
                        )?;
                    } else {
                        t.audit(now, "github", "fix_merged", format!("pull request #{number} merged by {by} as {commit}"));
                    }
                    Ok(())
                })?;
                (ticket, Some(true))
            }
            WebhookEvent::PullRequestClosed { by, .. } => {
                let (ticket, ()) = self.store.update_ticket(&id, |t| {
                    cancel_revision(t, "the pull request was closed");
                    let said = t
                        .audit
                        .iter()
                        .rev()
                        .find(|a| a.action == "pr_review")
                        .map(|a| a.detail.clone());
                    let reason = match said {
                        Some(review) => {
                            format!("closed unmerged by {by}; the last review: {review}")
                        }
                        None => format!("closed unmerged by {by}"),
                    };
                    if let Some(fix) = t.fix.as_mut() {
                        fix.review = FixReview::Rejected {
                            at_ms: now,
                            reason: reason.clone(),
                        };
                    }
                    if t.state == TicketState::PrOpen {
                        t.transition(
                            TicketState::Triaged,
                            now,
                            "github",
                            &format!("fix_rejected: pull request #{number} {reason}"),
                        )?;
                    } else {
                        t.audit(now, "github", "fix_rejected", reason);
                    }
                    Ok(())
                })?;
                (ticket, Some(false))
            }
            WebhookEvent::Review {
                state, body, by, ..
            } => {
                let text = words(body);
                let changes = state == "changes_requested";
                let (ticket, revise) = self.store.update_ticket(&id, |t| {
                    t.audit(now, "github", "pr_review", format!("{by} {state}: {text}"));
                    Ok(changes && self.request_revision(t, by, &text, now))
                })?;
                if changes {
                    self.remember_review(&ticket, &text, now);
                }
                if revise {
                    self.store.enqueue_agent(&id)?;
                }
                (ticket, None)
            }
            WebhookEvent::Ignored(what) => {
                return Ok(Applied::Ignored { why: what.clone() });
            }
        };
        if let Some(accepted) = accepted {
            self.remember_outcome(&ticket, accepted, now);
            self.record_review(&id, accepted).await;
        }
        Ok(Applied::Updated {
            ticket: id,
            state: ticket.state,
        })
    }
}

/// A revision not started yet is called off once its pull request closed.
fn cancel_revision(t: &mut crate::domain::tickets::Ticket, why: &str) {
    if let Some(r) = t
        .fix_revision
        .as_mut()
        .filter(|r| r.pending() && r.attempt.is_none())
    {
        r.outcome = Some(format!("cancelled: {why}"));
    }
}

impl Control {
    /// A review asking for changes gets one revision attempt (at autonomy
    /// `pr` for the ticket's severity, kill switch off, the fix's pull
    /// request still open and not revised before): recorded on `t`;
    /// whether one was requested.
    fn request_revision(
        &self,
        t: &mut crate::domain::tickets::Ticket,
        by: &str,
        words: &str,
        now: i64,
    ) -> bool {
        let level = self.autonomy.level_for(Some(t.severity));
        let allowed = !self.halt.engaged()
            && level >= crate::domain::control::AutonomyLevel::Pr
            && t.state == TicketState::PrOpen
            && t.fix_revision.is_none();
        let Some(fix) = t.fix.as_ref().filter(|_| allowed) else {
            return false;
        };
        let Some(pull) = fix.pull_request.clone() else {
            return false;
        };
        t.fix_revision = Some(crate::domain::tickets::FixRevision {
            requested_by: by.to_string(),
            words: words.to_string(),
            requested_at_ms: now,
            pull_request: pull,
            branch: fix.branch.clone(),
            attempt: None,
            outcome: None,
            comment_due: false,
        });
        t.audit(
            now,
            "github",
            "revision_requested",
            format!("{by} asked for changes: one revision attempt is queued"),
        );
        true
    }

    /// Remembers the changes a reviewer asked for on a fix.
    fn remember_review(&self, ticket: &crate::domain::tickets::Ticket, words: &str, now: i64) {
        let remembered =
            self.store
                .remember_outcome(ticket, FixOutcome::ChangesRequested, words, now);
        if let Err(e) = remembered {
            tracing::warn!(ticket = %ticket.id, error = %e, "a review was not remembered");
        }
    }

    /// Remembers a merged or rejected fix (`domain::memory`) with the words
    /// on its trail: the merge, or the reason it was closed.
    fn remember_outcome(&self, ticket: &crate::domain::tickets::Ticket, merged: bool, now: i64) {
        let outcome = if merged {
            FixOutcome::Merged
        } else {
            FixOutcome::Rejected
        };
        let words = ticket
            .audit
            .last()
            .map(|a| self.scrubber.scrub(&a.detail).into_owned())
            .unwrap_or_default();
        if let Err(e) = self.store.remember_outcome(ticket, outcome, &words, now) {
            tracing::warn!(ticket = %ticket.id, error = %e, "a fix's outcome was not remembered");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::config::StoreConfig;
    use crate::domain::control::{AutonomyLevel, AutonomySetting};
    use crate::domain::scrub::Scrubber;
    use crate::domain::tickets::Ticket;
    use crate::store::Store;
    use crate::store::tickets::{AnalysisCommit, TicketWrite};

    /// A store holding `count` tickets, each with a draft pull request
    /// (numbers 7, 8, ...) on its fix branch.
    fn with_pull_requests(dir: &tempfile::TempDir, count: u64) -> Control {
        let store = Store::open(&StoreConfig {
            path: dir.path().join("db"),
            ..StoreConfig::default()
        })
        .expect("store");
        for n in 1..=count {
            let ticket: Ticket = serde_json::from_value(json!({
                "id": "", "state": "pr_open", "disposition": "fix_candidate",
                "title": "KeyError", "root_cause": "", "severity": "high", "suggested_fix": "",
                "files": [], "signatures": [], "events": 1, "shadow": false,
                "grouping": {"method": "deterministic", "batch_size": 1},
                "created_at_ms": 1, "updated_at_ms": 1, "audit": [],
                "fix": {"attempt": 1, "branch": format!("suture/fix-T-{n}-1"), "commit": "c",
                    "base": "b", "files": [], "tests": "passed", "review": {"state": "pending"},
                    "pull_request": {"number": 6 + n, "url": "u", "created_at_ms": 1}}
            }))
            .expect("ticket");
            store
                .commit_analysis(
                    &AnalysisCommit {
                        writes: vec![(TicketWrite::Create(Box::new(ticket)), Vec::new())],
                    },
                    1,
                )
                .expect("created");
        }
        Control::new(store, Arc::new(Scrubber::builtin()))
            .with_autonomy(AutonomySetting {
                level: AutonomyLevel::Pr,
                by_severity: Default::default(),
                allow_deploy: false,
            })
            .with_fatigue(1, 1)
    }

    fn closed(number: u64, ticket: &str, merge: Option<&str>) -> WebhookEvent {
        WebhookEvent::PullRequestClosed {
            number,
            head: format!("suture/fix-{ticket}-1"),
            merge_commit: merge.map(str::to_string),
            by: "maria".into(),
        }
    }

    #[tokio::test]
    async fn a_merge_moves_the_ticket_to_verifying_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let control = with_pull_requests(&dir, 1);
        let merged = closed(7, "T-1", Some("abc123"));
        let applied = control
            .apply_github_event("d-1", &merged)
            .await
            .expect("applied");
        assert_eq!(
            applied,
            Applied::Updated {
                ticket: "T-1".into(),
                state: TicketState::Verifying
            }
        );
        let ticket = control.store.ticket("T-1").expect("read").expect("T-1");
        let pull = ticket
            .fix
            .and_then(|f| f.pull_request)
            .expect("pull request");
        assert_eq!(pull.merged.map(|m| m.commit).as_deref(), Some("abc123"));
        assert_eq!(
            control
                .apply_github_event("d-1", &merged)
                .await
                .expect("replay"),
            Applied::Duplicate
        );
        // Not Suture's branch, or not this ticket's pull request: ignored.
        let other = control
            .apply_github_event("d-2", &closed(99, "T-1", None))
            .await
            .expect("applied");
        assert!(matches!(other, Applied::Ignored { .. }), "{other:?}");
    }

    #[tokio::test]
    async fn closed_unmerged_goes_back_to_triaged_with_the_reviewers_words() {
        let dir = tempfile::tempdir().expect("tempdir");
        let control = with_pull_requests(&dir, 1);
        let review = WebhookEvent::Review {
            number: 7,
            head: "suture/fix-T-1-1".into(),
            state: "changes_requested".into(),
            body: "validate the coupon upstream instead".into(),
            by: "li".into(),
        };
        control
            .apply_github_event("r-1", &review)
            .await
            .expect("review");
        let applied = control
            .apply_github_event("c-1", &closed(7, "T-1", None))
            .await
            .expect("closed");
        assert_eq!(
            applied,
            Applied::Updated {
                ticket: "T-1".into(),
                state: TicketState::Triaged
            }
        );
        let ticket = control.store.ticket("T-1").expect("read").expect("T-1");
        let Some(FixReview::Rejected { reason, .. }) = ticket.fix.map(|f| f.review) else {
            panic!("not rejected");
        };
        assert!(reason.contains("validate the coupon upstream"), "{reason}");
        assert!(reason.contains("closed unmerged by maria"), "{reason}");
        // With the guard at one rejection of one, it counted.
        assert_eq!(control.autonomy().setting().level, AutonomyLevel::Suggest);
    }
}

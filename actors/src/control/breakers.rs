//! Two breakers on Suture's own behaviour (the LLM's and GitHub's guard
//! their clients):
//!
//! - the **fix-loop breaker**, per signature: `agent.fix_loop_failures`
//!   failed attempts on a signature, across its tickets, stop every further
//!   attempt on it until an operator resets it
//!   (`POST /v1/admin/signatures/{id}/reset`). It answers "the agent keeps
//!   trying the same thing": each try costs tokens and a reviewer's trust.
//! - the **review-fatigue guard**: when `autonomy.fatigue_rejections` of
//!   the last `autonomy.fatigue_window` reviewed fixes were rejected, the
//!   autonomy drops to `suggest` (every fix waits for a person) and a
//!   notification says why. It answers "the fixes are not landing".
//!
//! Both are kept in the control tree, audited, and notified.

use super::Control;
use crate::clock::now_ms;
use crate::domain::audit::AuditEntryDraft;
use crate::domain::control::{AutonomyLevel, Caller, FixLoop};
use crate::domain::notify::{Notification, NotificationKind};
use crate::store::StoreError;

impl Control {
    /// Whether any of `signatures` has its fix loop tripped; the first
    /// tripped one's reason.
    pub fn fix_loop_tripped<'a>(
        &self,
        signatures: impl IntoIterator<Item = &'a str>,
    ) -> Result<Option<String>, StoreError> {
        for signature in signatures {
            if let Some(tripped) = self.store.fix_loop(signature)?.tripped {
                return Ok(Some(format!(
                    "the fix-loop breaker of signature {signature} is tripped ({}); an operator resets it with POST /v1/admin/signatures/{signature}/reset",
                    tripped.reason
                )));
            }
        }
        Ok(None)
    }

    /// Counts a failed attempt on each of `signatures`; trips the breaker
    /// of those that reach `limit` (audited and notified).
    pub fn fix_attempt_failed<'a>(
        &self,
        ticket: &str,
        signatures: impl IntoIterator<Item = &'a str>,
        limit: u32,
        why: &str,
    ) {
        let now = now_ms();
        for signature in signatures {
            let mut state = match self.store.fix_loop(signature) {
                Ok(state) => state,
                Err(error) => {
                    tracing::warn!(%signature, %error, "a fix loop is unreadable; counting from zero");
                    FixLoop::default()
                }
            };
            let tripped = state.failed(limit, now, why);
            if let Err(error) = self.store.set_fix_loop(signature, &state) {
                tracing::warn!(%signature, %error, "a failed attempt was not counted");
                continue;
            }
            if !tripped {
                continue;
            }
            let reason = state
                .tripped
                .as_ref()
                .map(|t| t.reason.clone())
                .unwrap_or_default();
            metrics::counter!("suture_breaker_trips_total", "breaker" => "fix_loop").increment(1);
            tracing::warn!(%signature, %reason, "fix-loop breaker tripped");
            self.audit(
                AuditEntryDraft::new(
                    now,
                    "breaker.fix_loop",
                    "coder",
                    format!("signature {signature}: {reason}"),
                )
                .ticket(ticket),
            );
            self.guard(true).notify(
                Notification::new(
                    NotificationKind::BreakerTripped,
                    now,
                    "Suture stopped trying to fix a signature",
                    format!("signature {signature}: {reason}. Reset: POST /v1/admin/signatures/{signature}/reset"),
                )
                .ticket(ticket),
            );
        }
    }

    /// An operator's reset of a signature's fix loop: stored, audited and
    /// flushed before it returns. Returns what the loop was.
    pub async fn reset_fix_loop(
        &self,
        signature: &str,
        reason: &str,
        by: &Caller,
    ) -> Result<FixLoop, StoreError> {
        let was = self.store.reset_fix_loop(signature)?;
        self.audit(
            AuditEntryDraft::new(
                now_ms(),
                "admin.fix_loop_reset",
                &by.name,
                format!(
                    "signature {signature}: reset after {} failed attempts{}",
                    was.failures,
                    if reason.trim().is_empty() {
                        String::new()
                    } else {
                        format!(": {}", reason.trim())
                    }
                ),
            )
            .peer(by.peer.clone()),
        );
        self.store.flush().await?;
        Ok(was)
    }

    /// Records a reviewed fix's outcome; lowers the autonomy to `suggest`
    /// when the review-fatigue guard says so. Returns why it lowered it.
    pub async fn record_review(&self, ticket: &str, accepted: bool) -> Option<String> {
        let (rejections, window) = self.fatigue;
        let mut history = self.store.review_history().unwrap_or_default();
        let fatigued = history.record(accepted, rejections, window);
        if let Err(error) = self.store.set_review_history(&history) {
            tracing::warn!(%error, "a review outcome was not recorded");
        }
        let base = self.autonomy.setting().level;
        if !fatigued || base <= AutonomyLevel::Suggest {
            return None;
        }
        let reason = format!(
            "review-fatigue guard: {} of the last {} reviewed fixes were rejected (the latest on {ticket}); every fix now waits for a person",
            history.accepted.iter().filter(|a| !**a).count(),
            history.accepted.len()
        );
        let by = Caller::suture("review-fatigue guard");
        match self
            .set_autonomy(AutonomyLevel::Suggest, &reason, &by)
            .await
        {
            Ok(_) => {
                // A fresh count from here: the guard fires again only on
                // new rejections.
                let _ = self.store.set_review_history(&Default::default());
                metrics::counter!("suture_breaker_trips_total", "breaker" => "review_fatigue")
                    .increment(1);
                self.guard(true).notify(
                    Notification::new(
                        NotificationKind::BreakerTripped,
                        now_ms(),
                        "Suture lowered its autonomy to suggest",
                        reason.clone(),
                    )
                    .ticket(ticket),
                );
                Some(reason)
            }
            Err(error) => {
                tracing::error!(%error, "the review-fatigue guard could not lower the autonomy");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::config::StoreConfig;
    use crate::domain::audit::AuditQuery;
    use crate::domain::control::AutonomySetting;
    use crate::domain::scrub::Scrubber;
    use crate::store::Store;

    fn control(dir: &tempfile::TempDir) -> Control {
        let store = Store::open(&StoreConfig {
            path: dir.path().join("db"),
            ..StoreConfig::default()
        })
        .expect("store");
        Control::new(store, Arc::new(Scrubber::builtin()))
            .with_autonomy(AutonomySetting {
                level: AutonomyLevel::Pr,
                by_severity: Default::default(),
                allow_deploy: false,
            })
            .with_fatigue(3, 5)
    }

    #[tokio::test]
    async fn three_rejections_of_five_lower_the_autonomy_to_suggest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let control = control(&dir);
        assert_eq!(control.record_review("T-1", false).await, None);
        assert_eq!(control.record_review("T-2", true).await, None);
        assert_eq!(control.record_review("T-3", false).await, None);
        let lowered = control.record_review("T-4", false).await.expect("lowered");
        assert!(lowered.contains("3 of the last 4"), "{lowered}");
        assert_eq!(control.autonomy().setting().level, AutonomyLevel::Suggest);
        let record = control.store.autonomy().expect("read").expect("stored");
        assert_eq!(record.by, "review-fatigue guard");
        let log = control
            .audit_log(&AuditQuery {
                kind: Some("admin.autonomy".into()),
                limit: 10,
                ..AuditQuery::default()
            })
            .expect("audit");
        assert_eq!(log.len(), 1);
        assert_eq!(log[0].actor, "review-fatigue guard");
        // Already at suggest: more rejections change nothing.
        for id in ["T-5", "T-6", "T-7"] {
            assert_eq!(control.record_review(id, false).await, None);
        }
    }

    #[tokio::test]
    async fn a_tripped_fix_loop_holds_until_reset_and_the_reset_is_audited() {
        let dir = tempfile::tempdir().expect("tempdir");
        let control = control(&dir);
        control.fix_attempt_failed("T-1", ["sig-a", "sig-b"], 2, "no fix");
        assert_eq!(control.fix_loop_tripped(["sig-a"]).expect("read"), None);
        control.fix_attempt_failed("T-2", ["sig-a"], 2, "tests still fail");
        let tripped = control
            .fix_loop_tripped(["sig-b", "sig-a"])
            .expect("read")
            .expect("tripped");
        assert!(tripped.contains("sig-a"), "{tripped}");
        assert!(tripped.contains("tests still fail"), "{tripped}");
        let by = Caller::new("alice", Some("10.0.0.7:4242".into()));
        let was = control
            .reset_fix_loop("sig-a", "fixed by hand", &by)
            .await
            .expect("reset");
        assert_eq!(was.failures, 2);
        assert_eq!(control.fix_loop_tripped(["sig-a"]).expect("read"), None);
        let log = control
            .audit_log(&AuditQuery {
                limit: 10,
                ..AuditQuery::default()
            })
            .expect("audit");
        let kinds: Vec<&str> = log.iter().map(|r| r.kind.as_str()).collect();
        assert_eq!(kinds, ["breaker.fix_loop", "admin.fix_loop_reset"]);
        assert_eq!(log[1].peer.as_deref(), Some("10.0.0.7:4242"));
    }
}

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

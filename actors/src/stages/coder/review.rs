//! The review queue: a person approves a fix (then it is pushed and opened
//! as a draft pull request, when Suture may act outside) or rejects it
//! with a reason (the ticket goes back to `triaged`, the fix's branch
//! stays for reference, and no agent retries it by itself).

use serde::Serialize;

use super::Coder;
use super::publish::{Published, publish_fix};
use crate::clock::now_ms;
use crate::domain::tickets::{FixReview, TicketState};
use crate::store::tickets::TicketUpdateError;

/// What a review action did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReviewOutcome {
    pub ticket: String,
    pub state: TicketState,
    /// The pull request's URL, when one is open.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<String>,
    /// Why the fix was not published, when it was not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held: Option<String>,
}

/// Why a review action was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReviewError {
    #[error("ticket {0} does not exist")]
    NotFound(String),
    #[error("ticket {ticket} has no fix waiting for review (it is {state})")]
    NotInReview { ticket: String, state: String },
    #[error("a reason is required to reject a fix")]
    ReasonRequired,
    #[error("the store failed: {0}")]
    Store(String),
    #[error("the coding agent is not running; try again")]
    Unavailable,
}

fn in_review(coder: &Coder, id: &str) -> Result<(), ReviewError> {
    match coder.store.ticket(id) {
        Ok(Some(t)) if t.state == TicketState::Review && t.fix.is_some() => Ok(()),
        Ok(Some(t)) => Err(ReviewError::NotInReview {
            ticket: id.to_string(),
            state: t.state.as_str().to_string(),
        }),
        Ok(None) => Err(ReviewError::NotFound(id.to_string())),
        Err(e) => Err(ReviewError::Store(e.to_string())),
    }
}

fn store_error(e: TicketUpdateError) -> ReviewError {
    ReviewError::Store(e.to_string())
}

/// Approves ticket `id`'s fix, then publishes it when possible. `by`
/// names the person (their admin token's name) on the ticket's trail.
pub async fn approve(coder: &Coder, id: &str, by: &str) -> Result<ReviewOutcome, ReviewError> {
    in_review(coder, id)?;
    let now = now_ms();
    coder
        .store
        .update_ticket(id, |t| {
            if let Some(fix) = t.fix.as_mut() {
                fix.review = FixReview::Approved { at_ms: now };
            }
            t.audit(now, by, "fix_approved", "the fix was approved");
            Ok(())
        })
        .map_err(store_error)?;
    let _ = coder.store.flush().await;
    coder.control.record_review(id, true).await;
    let published = publish_fix(coder, id, by).await;
    let ticket = coder
        .store
        .ticket(id)
        .map_err(|e| ReviewError::Store(e.to_string()))?
        .ok_or_else(|| ReviewError::NotFound(id.to_string()))?;
    Ok(ReviewOutcome {
        ticket: id.to_string(),
        state: ticket.state,
        pull_request: match published {
            Published::Opened(url) => Some(url),
            Published::Held(_) => None,
        },
        held: ticket.fix.and_then(|f| f.held),
    })
}

/// Rejects ticket `id`'s fix with `reason`, by `by` (as for [`approve`]).
pub async fn reject(
    coder: &Coder,
    id: &str,
    reason: &str,
    by: &str,
) -> Result<ReviewOutcome, ReviewError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(ReviewError::ReasonRequired);
    }
    in_review(coder, id)?;
    let now = now_ms();
    let reason: String = reason.chars().take(2000).collect();
    let (ticket, ()) = coder
        .store
        .update_ticket(id, |t| {
            if let Some(fix) = t.fix.as_mut() {
                fix.review = FixReview::Rejected {
                    at_ms: now,
                    reason: reason.clone(),
                };
            }
            t.transition(
                TicketState::Triaged,
                now,
                by,
                &format!("fix_rejected: {reason}"),
            )?;
            Ok(())
        })
        .map_err(store_error)?;
    super::memory::remember(
        coder,
        &ticket,
        crate::domain::memory::FixOutcome::Rejected,
        &reason,
    );
    coder
        .store
        .flush()
        .await
        .map_err(|e| ReviewError::Store(e.to_string()))?;
    coder.control.record_review(id, false).await;
    Ok(ReviewOutcome {
        ticket: id.to_string(),
        state: ticket.state,
        pull_request: None,
        held: None,
    })
}

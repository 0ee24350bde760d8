//! A fix leaves the sidecar: its branch pushed, a draft pull request
//! opened, the ticket moved to `pr_open`. Only when GitHub is configured
//! and the guard permits both actions (at autonomy `pr`; at `suggest` once
//! a person approved the fix); otherwise the fix waits in the review queue
//! with the reason recorded (`fix.held`).
//!
//! Idempotent: the push is of Suture's own branch (pushing it again is a
//! no-op) and the pull request is found by its branch before one is made,
//! so a crash between the two neither loses nor duplicates it.

use super::Coder;
use crate::clock::now_ms;
use crate::control::guard::{Action, Refusal};
use crate::domain::coder::pull_request::{pull_request_body, pull_request_title};
use crate::domain::coder::retry::{Hold, format_at, next_try};
use crate::domain::tickets::render::issue_labels;
use crate::domain::tickets::{PullRequestRef, TicketState};

/// Whether a person approved the ticket's fix in the review queue: then
/// their approval is the permission autonomy `suggest` waits for.
fn approved(ticket: &crate::domain::tickets::Ticket) -> bool {
    ticket
        .fix
        .as_ref()
        .is_some_and(|f| matches!(f.review, crate::domain::tickets::FixReview::Approved { .. }))
}

/// Whether the guard lets `action` happen for `ticket`'s fix now (without
/// taking rate-limit room): at `pr` for any fix, at `suggest` for one a
/// person approved.
pub fn permit(
    coder: &Coder,
    ticket: &crate::domain::tickets::Ticket,
    action: Action,
) -> Result<(), crate::control::guard::Refusal> {
    if approved(ticket) {
        coder.guard.permit_approved(action, ticket.severity)
    } else {
        coder.guard.permit_for(action, ticket.severity)
    }
}

/// When a held fix is tried again, in words.
fn when(hold: Hold, at: Option<i64>) -> String {
    match (hold, at) {
        (Hold::Never, _) => "not tried again by itself".to_string(),
        (_, None) => "tried again once the guard permits".to_string(),
        (_, Some(at)) => format!("tried again at {}", format_at(at)),
    }
}

/// What publishing did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Published {
    Opened(String),
    /// Not published, and why (kept on the ticket).
    Held(String),
}

/// Publishes the fix of ticket `id` if it waits in review and Suture may.
/// `actor` names who asked (`coder`, `operator`).
pub async fn publish_fix(coder: &Coder, id: &str, actor: &str) -> Published {
    // The fix waits in review with why, and when it is tried again
    // (`domain::coder::retry`): on the ticket, its trail and the log.
    let held = |why: String, hold: Hold| {
        let now = now_ms();
        let next = coder.store.update_ticket(id, |t| {
            let mut told = why.clone();
            if let Some(fix) = t.fix.as_mut() {
                let (at, failures) = next_try(hold, now, fix.publish_failures);
                fix.retry_at_ms = at;
                fix.publish_failures = failures;
                told = format!("{why}; {}", when(hold, at));
                fix.held = Some(told.clone());
            }
            t.audit(now, actor, "fix_held", told);
            Ok(())
        });
        let next = next
            .ok()
            .and_then(|(t, ())| t.fix.and_then(|f| f.retry_at_ms));
        tracing::info!(ticket = %id, reason = %why, retry = %when(hold, next), "fix waits in the review queue");
        Published::Held(why)
    };
    let ticket = match coder.store.ticket(id) {
        Ok(Some(ticket)) => ticket,
        Ok(None) => return Published::Held(format!("ticket {id} does not exist")),
        Err(e) => return Published::Held(format!("the store failed: {e}")),
    };
    let Some(fix) = ticket.fix.clone() else {
        return Published::Held(format!("ticket {id} has no fix"));
    };
    if ticket.state != TicketState::Review {
        return Published::Held(format!(
            "ticket {id} is {}, not waiting in review",
            ticket.state.as_str()
        ));
    }
    let (Some(github), Some(repo)) = (coder.github.as_ref(), coder.repo.as_ref()) else {
        return held(
            format!(
                "GitHub is not configured ([github] repo): the fix is on the local branch {}",
                fix.branch
            ),
            Hold::Never,
        );
    };
    // Both permitted, then the pull request's room under the rate limits
    // taken: a refusal leaves the fix in review with the reason, and the
    // manager publishes it once the guard permits.
    let permitted = permit(coder, &ticket, Action::Push).and_then(|()| {
        if approved(&ticket) {
            coder
                .guard
                .admit_approved(Action::OpenPullRequest, ticket.severity)
        } else {
            coder
                .guard
                .admit_for(Action::OpenPullRequest, ticket.severity)
        }
    });
    if let Err(refusal) = permitted {
        let hold = match &refusal {
            Refusal::RateLimited { limited, .. } => Hold::RateLimited(limited.retry_after),
            Refusal::KillSwitch(_) | Refusal::Autonomy { .. } => Hold::UntilPermitted,
        };
        return held(
            format!("{refusal}; the fix is on the local branch {}", fix.branch),
            hold,
        );
    }
    let failed = Hold::Failed { hint: None };
    let attempt = match coder.store.attempt(id, fix.attempt) {
        Ok(attempt) => attempt,
        Err(e) => return held(format!("the attempt could not be read: {e}"), failed),
    };
    let Some(attempt) = attempt else {
        return held(
            format!("attempt {} of {id} is missing", fix.attempt),
            failed,
        );
    };
    let Some(evidence) = attempt.fix.as_ref() else {
        return held(
            format!("attempt {} of {id} holds no fix", fix.attempt),
            failed,
        );
    };
    if let Err(e) = repo
        .push_branch(
            &coder.repo_config.remote,
            &fix.branch,
            Some(github.push_token()),
            &coder.worktrees,
        )
        .await
    {
        metrics::counter!("suture_agent_publish_total", "outcome" => "push_failed").increment(1);
        return held(format!("the push of {} failed: {e}", fix.branch), failed);
    }
    let mut labels = issue_labels(&ticket);
    labels.push("suture:fix".into());
    // A fix Suture will merge and deploy itself is opened ready for review
    // (GitHub does not merge drafts); every other one as a draft.
    let ready = super::deploy::wanted(coder, &ticket);
    let draft = crate::clients::github::PullDraft {
        head: fix.branch.clone(),
        base: coder.repo_config.base_branch.clone(),
        title: pull_request_title(&ticket),
        body: pull_request_body(&ticket, &attempt, evidence),
        labels,
        ready,
    };
    let pull = match github.ensure_pull_request(&draft).await {
        Ok(pull) => pull,
        Err(e) => {
            metrics::counter!("suture_agent_publish_total", "outcome" => "pr_failed").increment(1);
            return held(
                format!("the pull request was not opened: {e}"),
                Hold::Failed {
                    hint: e.retry_hint(),
                },
            );
        }
    };
    let now = now_ms();
    let url = pull.url.clone();
    let stored = coder.store.update_ticket(id, |t| {
        if let Some(fix) = t.fix.as_mut() {
            fix.held = None;
            fix.retry_at_ms = None;
            fix.publish_failures = 0;
            fix.pull_request = Some(PullRequestRef {
                number: pull.number,
                url: pull.url.clone(),
                created_at_ms: now,
                ready,
                merged: None,
            });
        }
        t.transition(
            TicketState::PrOpen,
            now,
            actor,
            &format!(
                "{} pull request #{} opened: {}",
                if ready { "ready" } else { "draft" },
                pull.number,
                pull.url
            ),
        )?;
        Ok(())
    });
    if let Err(e) = stored {
        tracing::error!(ticket = %id, error = %e, "the pull request was not recorded on its ticket; the next publish finds it by branch");
    }
    let _ = coder.store.flush().await;
    metrics::counter!("suture_agent_publish_total", "outcome" => "opened").increment(1);
    Published::Opened(url)
}

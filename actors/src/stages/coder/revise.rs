//! A revision of a fix a reviewer asked changes on (at autonomy `pr`, once
//! per ticket): the attempt ran like any other, with the review in its
//! context (the memory of past fixes carries it); here its outcome lands.
//!
//! - **a fix**: its branch is pushed onto the revised pull request's branch
//!   (forced: the revision replaces the fix; the pull request is the same),
//!   the ticket goes back to `pr_open` with the new fix, and the pull
//!   request gets a comment saying what changed and why;
//! - **no fix** (or the push refused): the ticket goes back to `pr_open`
//!   with the fix as it was, the reviewer's request answered by a person.

use super::Coder;
use crate::clock::now_ms;
use crate::control::guard::Action;
use crate::domain::coder::attempt::AttemptRecord;
use crate::domain::notify::{Notification, NotificationKind};
use crate::domain::text::truncate;
use crate::domain::tickets::{FixRecord, FixRevision, TicketState};

/// The revision made a fix: push it onto the pull request's branch.
pub(super) async fn on_revised(
    coder: &Coder,
    record: &AttemptRecord,
    fix: FixRecord,
    revision: &FixRevision,
) {
    let id = record.ticket.as_str();
    let severity = coder
        .store
        .ticket(id)
        .ok()
        .flatten()
        .map(|t| t.severity)
        .unwrap_or(crate::domain::gate::decide::Severity::High);
    let pushed = match (coder.github.as_ref(), coder.repo.as_ref()) {
        (Some(github), Some(repo)) => match coder.guard.permit_for(Action::Push, severity) {
            Ok(()) => repo
                .push_branch_to(
                    &coder.repo_config.remote,
                    &fix.branch,
                    &revision.branch,
                    Some(github.push_token()),
                    &coder.worktrees,
                )
                .await
                .map_err(|e| format!("the push failed: {e}")),
            Err(refusal) => Err(refusal.to_string()),
        },
        _ => Err("GitHub is not configured".to_string()),
    };
    if let Err(why) = pushed {
        on_not_revised(
            coder,
            record,
            revision,
            &format!("its fix was not pushed: {why}"),
        );
        return;
    }
    let now = now_ms();
    let number = revision.pull_request.number;
    let fix = FixRecord {
        pull_request: Some(revision.pull_request.clone()),
        ..fix
    };
    let stored = coder.store.update_ticket(id, |t| {
        t.fix = Some(fix.clone());
        if let Some(r) = t.fix_revision.as_mut() {
            r.outcome = Some(format!(
                "pushed: {} replaces the fix on {}",
                fix.commit, r.branch
            ));
        }
        t.transition(
            TicketState::PrOpen,
            now,
            "coder",
            &format!(
                "revision attempt {} pushed to pull request #{number} ({})",
                record.attempt, revision.branch
            ),
        )?;
        Ok(())
    });
    if let Err(e) = stored {
        tracing::error!(ticket = %id, error = %e, "the revision was not recorded on its ticket");
        return;
    }
    metrics::counter!("suture_agent_attempts_total", "outcome" => "revised").increment(1);
    let _ = coder.store.flush().await;
    if let Some(github) = coder.github.as_ref()
        && coder
            .guard
            .admit_for(Action::CommentOnIssue, severity)
            .is_ok()
    {
        let body = format!(
            "Suture revised this fix after @{}'s review (attempt {}, commit {}).\n\n{}\n\nFiles: {}",
            revision.requested_by,
            record.attempt,
            fix.commit,
            fix.tests,
            fix.files.join(", ")
        );
        let _ = github.comment(number, &body).await;
    }
    coder.guard.notify(
        Notification::new(
            NotificationKind::PrOpened,
            now,
            "A fix was revised after its review",
            format!("pull request #{number}, attempt {}", record.attempt),
        )
        .url(&revision.pull_request.url)
        .ticket(id),
    );
}

/// The revision made no fix, or it could not be pushed: the pull request
/// stands as it was, and a person answers the review.
pub(super) fn on_not_revised(
    coder: &Coder,
    record: &AttemptRecord,
    revision: &FixRevision,
    why: &str,
) {
    let id = record.ticket.as_str();
    let now = now_ms();
    let number = revision.pull_request.number;
    let why = truncate(why, 300);
    let stored = coder.store.update_ticket(id, |t| {
        if let Some(r) = t.fix_revision.as_mut() {
            r.outcome = Some(format!("failed: {why}"));
        }
        if t.state == TicketState::Fixing {
            t.transition(
                TicketState::PrOpen,
                now,
                "coder",
                &format!(
                    "revision attempt {} made no change to pull request #{number}: {why}",
                    record.attempt
                ),
            )?;
        }
        Ok(())
    });
    if let Err(e) = stored {
        tracing::warn!(ticket = %id, error = %e, "the failed revision was not recorded");
    }
    metrics::counter!("suture_agent_attempts_total", "outcome" => "not_revised").increment(1);
    coder.guard.notify(
        Notification::new(
            NotificationKind::Escalation,
            now,
            "A review's changes need a person",
            format!(
                "pull request #{number}: the revision attempt {}: {why}",
                record.attempt
            ),
        )
        .url(&revision.pull_request.url)
        .ticket(id),
    );
}

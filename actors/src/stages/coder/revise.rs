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
//!
//! **Across a stop, exactly once (as far as GitHub's listing is current).**
//! The push is of Suture's own commit onto the branch: pushing it again is
//! a no-op, so a stop after the push and before its record pushes again
//! at start (the ticket is still `fixing`, see `manager::recover`) and
//! comments once. The record of the push carries the intent to comment
//! (`comment_due`), flushed before the comment is posted; the comment
//! carries a marker (the installation's HMAC marker of the ticket's
//! revision attempt, like its issues'), and every retry (at start, on each tick) lists the
//! pull request's comments for it before posting, then clears the intent.
//! So a stop between the record and the comment posts it at the next start,
//! and a stop between the comment and clearing the intent does not post it
//! again. Tries in one process take turns (the attempt's own try and the
//! manager's tick could otherwise both list, find nothing and post).

use super::Coder;
use crate::clock::now_ms;
use crate::control::guard::Action;
use crate::domain::coder::attempt::AttemptRecord;
use crate::domain::notify::{Notification, NotificationKind};
use crate::domain::text::truncate;
use crate::domain::tickets::{FixRecord, FixRevision, TicketState};

/// Whose turn it is to post owed revision comments (see
/// [`post_owed_comment`]).
static POSTING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

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
            // The intent, in the same write as the push's record.
            r.comment_due = true;
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
    // Nothing is said on the pull request before the record of the push is
    // on disk: a restart must find the comment owed, not a push unrecorded.
    if let Err(e) = coder.store.flush().await {
        tracing::error!(ticket = %id, error = %e, "the revision's record was not flushed; its comment waits for the next try");
        return;
    }
    post_owed_comment(coder, id).await;
}

/// Posts the comment a pushed revision owes its pull request, if it still
/// owes one, then records it posted. Called right after the push is
/// recorded, and again at start and on the manager's ticks for any comment
/// still owed (a stop, GitHub failing, the rate limit): GitHub is asked
/// first whether the marked comment is there already, so a comment posted
/// just before a stop is not posted again. Exactly once, as far as GitHub's
/// comment listing is current.
pub async fn post_owed_comment(coder: &Coder, id: &str) {
    let Some(github) = coder.github.as_ref() else {
        return;
    };
    // One try at a time, the ticket read under the turn: the second sees
    // the first's cleared intent.
    let _turn = POSTING.lock().await;
    let Ok(Some(ticket)) = coder.store.ticket(id) else {
        return;
    };
    let Some(revision) = ticket.fix_revision.as_ref().filter(|r| r.comment_due) else {
        return;
    };
    if let Err(refusal) = coder
        .guard
        .admit_for(Action::CommentOnIssue, ticket.severity)
    {
        // Asked again on every tick: not logged above debug, or a lowered
        // autonomy would log this twice a minute.
        tracing::debug!(ticket = %id, %refusal, "the revision's comment waits");
        return;
    }
    let Some(fix) = ticket.fix.as_ref() else {
        return;
    };
    let body = format!(
        "Suture revised this fix after @{}'s review (attempt {}, commit {}).\n\n{}\n\nFiles: {}",
        revision.requested_by,
        fix.attempt,
        fix.commit,
        fix.tests,
        fix.files.join(", ")
    );
    // The installation's HMAC marker, as on its issues: a reviewer (or
    // anyone) pasting a marker into a comment cannot make Suture skip its
    // own, and two sidecars on one repository do not see each other's.
    let marker = github.marker(&format!(
        "{id} revision {}",
        revision.attempt.unwrap_or(fix.attempt)
    ));
    let number = revision.pull_request.number;
    match github
        .comment_once(number, &body, &marker, revision.requested_at_ms)
        .await
    {
        Ok(posted) => {
            let recorded = coder.store.update_ticket(id, |t| {
                if let Some(r) = t.fix_revision.as_mut() {
                    r.comment_due = false;
                }
                t.audit(
                    now_ms(),
                    "coder",
                    "revision_comment",
                    if posted {
                        format!("pull request #{number} told about the revision")
                    } else {
                        format!("pull request #{number} already had the revision's comment")
                    },
                );
                Ok(())
            });
            if let Err(e) = recorded {
                tracing::warn!(ticket = %id, error = %e, "the revision's comment was not recorded; the next try finds it on GitHub");
            }
            let _ = coder.store.flush().await;
        }
        Err(e) => {
            tracing::warn!(ticket = %id, error = %e, "the revision's comment was not posted; tried again on the next tick");
        }
    }
}

/// Every comment pushed revisions still owe (see [`post_owed_comment`]).
pub async fn post_owed_comments(coder: &Coder) -> Result<(), crate::store::StoreError> {
    if coder.github.is_none() {
        return Ok(());
    }
    for ticket in coder.store.tickets_in(&[TicketState::PrOpen])? {
        if ticket.fix_revision.as_ref().is_some_and(|r| r.comment_due) {
            post_owed_comment(coder, &ticket.id).await;
        }
    }
    Ok(())
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

//! After a fix's pull request is merged and the deploy that contains it is
//! known ([`super::manager::note_deployed_fixes`]): measure its signatures
//! in production and act on the verdict (`domain::verify` has the rules).
//!
//! - **fixed**: the ticket is `resolved` with the figures; GitHub is told
//!   (a comment with the figures on the pull request, the issue commented
//!   and closed) when the guard lets Suture act outside, retried on later
//!   looks until it is done.
//! - **still failing**: the ticket is reopened (`escalated`), a person is
//!   told, and the fix loop of its signatures counts a failure.
//! - **undecided**: the latest figures are kept on the ticket (the reason
//!   in words) and the next look measures again; after `verify.max_wait`
//!   the ticket goes to a person, never closed on silence.

use super::Coder;
use crate::clock::now_ms;
use crate::control::guard::Action;
use crate::domain::gate::config::millis;
use crate::domain::notify::{Notification, NotificationKind};
use crate::domain::tickets::{DeployedFix, Ticket, TicketState};
use crate::domain::verify::{self, Measured, Outcome, Verification};
use crate::store::StoreError;

/// Undecided figures are written to the ticket at most this often (each
/// look measures; the ticket needs only the latest now and then).
const RECORD_UNDECIDED_EVERY_MS: i64 = 10 * 60 * 1000;

/// The audit action that says GitHub was told a verification's verdict.
const REPORTED: &str = "verify_reported";

/// Verifies every `verifying` ticket whose fix is deployed, and reports
/// verified fixes to GitHub that were not reported yet. Returns the tickets
/// that reached a verdict.
pub async fn verify_deployed_fixes(coder: &Coder) -> Result<usize, StoreError> {
    if !coder.verify.enabled {
        return Ok(0);
    }
    let now = now_ms();
    let mut decided = 0;
    for ticket in coder
        .store
        .tickets_in(&[TicketState::Verifying, TicketState::Resolved])?
    {
        if ticket.state == TicketState::Verifying {
            let Some(deployed) = deployed_fix(&ticket) else {
                continue;
            };
            match verify_ticket(coder, &ticket, &deployed, now).await {
                Ok(true) => decided += 1,
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(ticket = %ticket.id, error = %e, "the fix was not verified")
                }
            }
        } else if ticket.state == TicketState::Resolved && wants_report(&ticket) {
            report_to_github(coder, &ticket).await;
        }
    }
    if decided > 0 {
        coder.store.flush().await?;
    }
    Ok(decided)
}

fn deployed_fix(ticket: &Ticket) -> Option<DeployedFix> {
    ticket
        .fix
        .as_ref()?
        .pull_request
        .as_ref()?
        .merged
        .as_ref()?
        .deployed
        .clone()
}

/// Measures and judges one ticket; `true` when it reached a verdict.
async fn verify_ticket(
    coder: &Coder,
    ticket: &Ticket,
    deployed: &DeployedFix,
    now: i64,
) -> Result<bool, StoreError> {
    let cfg = &coder.verify;
    // Events of the last moments may still be on their way.
    let until = now.saturating_sub(millis(coder.gate.settle));
    let measured = measure(coder, ticket, deployed.at_ms, until)?;
    let verification = verify::judge(&deployed.deploy, &measured, deployed.at_ms, until, cfg);
    metrics::counter!("suture_verifications_total", "outcome" => verification.outcome.as_str())
        .increment(1);
    match verification.outcome {
        Outcome::Fixed => resolve(coder, ticket, verification, now).await,
        Outcome::StillFailing => {
            let why = format!("the fix did not work: {}", verification.reason);
            reopen(coder, ticket, verification, &why, now);
            Ok(true)
        }
        Outcome::Undecided => {
            if now.saturating_sub(deployed.at_ms) > millis(cfg.max_wait) {
                let why = format!(
                    "verification could not decide within verify.max_wait ({}): {}",
                    humantime::format_duration(cfg.max_wait),
                    verification.reason
                );
                reopen(coder, ticket, verification, &why, now);
                return Ok(true);
            }
            let stale = ticket
                .verification
                .as_ref()
                .is_none_or(|v| now.saturating_sub(v.checked_at_ms) >= RECORD_UNDECIDED_EVERY_MS);
            if stale {
                let first = ticket.verification.is_none();
                let recorded = coder.store.update_ticket(&ticket.id, |t| {
                    if first {
                        t.audit(
                            now,
                            "verifier",
                            "verify_waiting",
                            verification.reason.clone(),
                        );
                    }
                    t.verification = Some(verification.clone());
                    Ok(())
                });
                if let Err(e) = recorded {
                    tracing::warn!(ticket = %ticket.id, error = %e, "verification figures not recorded");
                }
            }
            Ok(false)
        }
    }
}

/// The before / regressed / after periods of each signature.
pub(crate) fn measure(
    coder: &Coder,
    ticket: &Ticket,
    deployed_at_ms: i64,
    until_ms: i64,
) -> Result<Vec<Measured>, StoreError> {
    let store = &coder.store;
    let start = regression_start(coder, ticket)?;
    let baseline_from = start
        .saturating_sub(millis(coder.gate.baseline))
        .max(store.first_event_ms()?.unwrap_or(start));
    // Per-minute data older than this is gone: only whole hours count there.
    let minutes_from = now_ms().saturating_sub(millis(coder.gate.minute_retention));
    let mut out = Vec::with_capacity(ticket.signatures.len());
    for signature in ticket.signature_ids() {
        let seen_before = store
            .signature(signature)?
            .is_some_and(|r| r.first_seen_ms < start);
        out.push(Measured {
            signature: signature.to_string(),
            before: store.span(signature, baseline_from, start, minutes_from)?,
            regressed: store.span(signature, start, deployed_at_ms, minutes_from)?,
            after: store.span(signature, deployed_at_ms, until_ms, minutes_from)?,
            seen_before,
        });
    }
    Ok(out)
}

/// When the regression began: the deploy the gate blamed, else the start
/// of the first window that flagged the ticket's errors.
fn regression_start(coder: &Coder, ticket: &Ticket) -> Result<i64, StoreError> {
    if let Some(id) = &ticket.deploy_id
        && let Some(deploy) = coder.store.deploy(id)?
    {
        return Ok(deploy.at_ms);
    }
    let first_flag = ticket
        .signatures
        .iter()
        .flat_map(|s| s.gate.iter().map(|g| g.decided_at_ms))
        .min()
        .unwrap_or(ticket.created_at_ms);
    Ok(first_flag.saturating_sub(millis(coder.gate.window)))
}

async fn resolve(
    coder: &Coder,
    ticket: &Ticket,
    verification: Verification,
    now: i64,
) -> Result<bool, StoreError> {
    let why = format!(
        "verified in production after deploy {}: {}",
        verification.deploy, verification.reason
    );
    let result = coder.store.update_ticket(&ticket.id, |t| {
        t.verification = Some(verification.clone());
        t.transition(TicketState::Resolved, now, "verifier", &why)?;
        Ok(())
    });
    let resolved = match result {
        Ok((resolved, ())) => resolved,
        Err(e) => {
            tracing::warn!(ticket = %ticket.id, error = %e, "a verified ticket was not resolved");
            return Ok(false);
        }
    };
    metrics::counter!("suture_fixes_verified_total").increment(1);
    tracing::info!(ticket = %ticket.id, deploy = %verification.deploy, "fix verified in production");
    super::memory::remember(
        coder,
        &resolved,
        crate::domain::memory::FixOutcome::Verified,
        &why,
    );
    report_to_github(coder, &resolved).await;
    Ok(true)
}

/// Still failing, or undecided for too long: back to a person.
fn reopen(coder: &Coder, ticket: &Ticket, verification: Verification, why: &str, now: i64) {
    let failed = verification.outcome == Outcome::StillFailing;
    let result = coder.store.update_ticket(&ticket.id, |t| {
        t.verification = Some(verification.clone());
        t.transition(TicketState::Escalated, now, "verifier", why)?;
        Ok(())
    });
    let reopened = match result {
        Ok((t, ())) => t,
        Err(e) => {
            tracing::warn!(ticket = %ticket.id, error = %e, "a failed fix's ticket was not reopened");
            return;
        }
    };
    if failed {
        metrics::counter!("suture_fixes_failed_in_production_total").increment(1);
        coder.control.fix_attempt_failed(
            &ticket.id,
            ticket.signature_ids(),
            coder.config.fix_loop_failures,
            "its merged fix did not work in production",
        );
        super::memory::remember(
            coder,
            &reopened,
            crate::domain::memory::FixOutcome::FailedInProduction,
            why,
        );
    }
    tracing::warn!(ticket = %ticket.id, %why, "a merged fix was not verified; escalated");
    coder.guard.notify(
        Notification::new(
            NotificationKind::Escalation,
            now,
            if failed {
                "A merged fix did not work in production"
            } else {
                "A merged fix could not be verified"
            },
            why.to_string(),
        )
        .ticket(&ticket.id),
    );
}

/// A verified fix GitHub has not been told about (within a week: a
/// permanently refused report is not retried forever).
fn wants_report(ticket: &Ticket) -> bool {
    let verified = ticket
        .verification
        .as_ref()
        .is_some_and(|v| v.outcome == Outcome::Fixed);
    let recent = ticket
        .resolved_at_ms
        .is_some_and(|at| now_ms().saturating_sub(at) < 7 * 86_400_000);
    verified && recent && !ticket.audit.iter().any(|a| a.action == REPORTED)
}

/// Comments the figures on the pull request and the issue and closes the
/// issue, when the guard permits; otherwise the next look tries again.
async fn report_to_github(coder: &Coder, ticket: &Ticket) {
    let (Some(github), Some(verification)) = (coder.github.as_ref(), ticket.verification.as_ref())
    else {
        return;
    };
    if !wants_report(ticket) {
        return;
    }
    let actions: &[Action] = if ticket.github.is_some() {
        &[Action::CommentOnIssue, Action::CloseIssue]
    } else {
        &[Action::CommentOnIssue]
    };
    if let Some(refusal) = actions
        .iter()
        .find_map(|a| coder.guard.permit_for(*a, ticket.severity).err())
    {
        tracing::debug!(ticket = %ticket.id, %refusal, "verification not reported to GitHub yet");
        return;
    }
    let body = verify::render_report(verification);
    let pull = ticket.fix.as_ref().and_then(|f| f.pull_request.as_ref());
    let mut told = Vec::new();
    let mut targets: Vec<(u64, &str)> = Vec::new();
    if let Some(pull) = pull {
        targets.push((pull.number, "pull request"));
    }
    if let Some(issue) = &ticket.github {
        targets.push((issue.number, "issue"));
    }
    for (number, what) in targets {
        if coder
            .guard
            .admit_for(Action::CommentOnIssue, ticket.severity)
            .is_err()
        {
            return;
        }
        if github.comment(number, &body).await.is_err() {
            return;
        }
        told.push(format!("commented on {what} #{number}"));
    }
    if let Some(issue) = &ticket.github {
        if coder
            .guard
            .admit_for(Action::CloseIssue, ticket.severity)
            .is_err()
            || github.close_issue(issue.number).await.is_err()
        {
            return;
        }
        told.push(format!("closed issue #{}", issue.number));
    }
    let now = now_ms();
    let recorded = coder.store.update_ticket(&ticket.id, |t| {
        t.audit(now, "github", REPORTED, told.join("; "));
        Ok(())
    });
    if let Err(e) = recorded {
        tracing::warn!(ticket = %ticket.id, error = %e, "the verification report was not recorded");
    }
    let _ = coder.store.flush().await;
}

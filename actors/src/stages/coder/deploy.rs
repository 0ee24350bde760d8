//! Suture merging and deploying a fix by itself (autonomy `deploy`,
//! `[deploy]`), watched by a canary window and rolled back when it makes
//! things worse. Off by default: the sidecar refuses to start with
//! autonomy `deploy` unless `deploy.enabled`, a deploy command and a
//! rollback command are configured.
//!
//! For a `pr_open` ticket whose fix's pull request is open and unmerged,
//! of a severity in `deploy.severities`, when the guard admits
//! `Action::Deploy` (autonomy, kill switch, `deploy.max_per_hour`):
//!
//! 0. a pull request opened as a draft (before autonomy became `deploy`,
//!    see `publish`) is marked ready for review (GitHub merges no draft),
//!    and the guard is asked again;
//! 1. the pull request is merged through octocrab (a merge commit); the
//!    ticket moves to `verifying`;
//! 2. `deploy.command` runs in `repo.path` (own process group, killed past
//!    `deploy.timeout`, with only `PATH`, a scratch `HOME`, `deploy.pass_env`
//!    and `SUTURE_DEPLOY_REVISION` / `SUTURE_TICKET`);
//! 3. a deploy marker is recorded for the merge commit (the gate judges it
//!    like any deploy; verification starts from it);
//! 4. for `deploy.canary_window` the fix is watched; then the fixed error
//!    must not be still failing or not reduced, and the gate, run over the
//!    canary window, must flag no other error;
//! 5. otherwise `deploy.rollback_command` runs, a marker for the previous
//!    revision is recorded, the ticket is escalated, the fix loop of its
//!    signatures is tripped and the outcome remembered.
//!
//! Every step is on the ticket's trail (so in the audit log). The kill
//! switch stops it at any point: the guard is asked before each step, the
//! canary wait checks it every second, and engaging it aborts the task
//! (and with it a running command's process group); the ticket is then
//! escalated with where it stopped, for a person to decide.

use std::time::Duration;

use super::Coder;
use crate::clock::now_ms;
use crate::control::guard::Action;
use crate::domain::deploy::canary_verdict;
use crate::domain::gate::config::millis;
use crate::domain::memory::FixOutcome;
use crate::domain::notify::{Notification, NotificationKind};
use crate::domain::records::{DeployRecord, DeploySource};
use crate::domain::tickets::{AutoDeploy, DeployedFix, Merged, Ticket, TicketState};
use crate::runtime::sandbox::{self, Contained, Network};
use crate::store::StoreError;

/// Who merges, on the ticket and in the design's metrics.
pub const MERGER: &str = crate::domain::outcomes::SUTURE_MERGER;

/// Output of a deploy or rollback command kept on the trail.
const OUTPUT_LIMIT: usize = 4_000;

/// Whether `ticket`'s fix is one Suture merges and deploys itself.
pub fn wanted(coder: &Coder, ticket: &Ticket) -> bool {
    coder.deploy.covers(ticket.severity)
        && coder
            .guard
            .permit_for(Action::Deploy, ticket.severity)
            .is_ok()
}

/// Runs every auto-deploy that is due, one after the other: canaries
/// whose window closed (or that a restart interrupted), then new ones.
/// Returns the tickets it acted on.
pub async fn run_due(coder: &Coder) -> Result<usize, StoreError> {
    if !coder.deploy.enabled {
        return Ok(0);
    }
    let mut acted = 0;
    for ticket in coder
        .store
        .tickets_in(&[TicketState::PrOpen, TicketState::Verifying])?
    {
        let pending = ticket.auto_deploy.as_ref().filter(|d| d.outcome.is_none());
        if let Some(progress) = pending {
            resume(coder, &ticket, progress.clone()).await;
            acted += 1;
        } else if startable(coder, &ticket) {
            start(coder, &ticket).await;
            acted += 1;
        }
    }
    Ok(acted)
}

fn startable(coder: &Coder, ticket: &Ticket) -> bool {
    ticket.state == TicketState::PrOpen
        && ticket.auto_deploy.is_none()
        && ticket
            .fix
            .as_ref()
            .and_then(|f| f.pull_request.as_ref())
            .is_some_and(|p| p.merged.is_none())
        && wanted(coder, ticket)
}

/// Steps 1 to 4 for one ticket, then the canary's verdict.
pub async fn start(coder: &Coder, ticket: &Ticket) {
    let id = ticket.id.as_str();
    if let Err(refusal) = coder.guard.admit_for(Action::Deploy, ticket.severity) {
        tracing::info!(ticket = %id, %refusal, "auto-deploy waits");
        return;
    }
    let (Some(github), Some(pull)) = (
        coder.github.as_ref(),
        ticket.fix.as_ref().and_then(|f| f.pull_request.clone()),
    ) else {
        return;
    };
    let now = now_ms();
    let previous = previous_revision(coder, now);
    let begun = AutoDeploy {
        started_ms: now,
        merge_commit: None,
        previous_revision: previous.clone(),
        deploy: None,
        deployed_at_ms: None,
        canary_until_ms: None,
        outcome: None,
    };
    step(
        coder,
        id,
        "deploy_started",
        "auto-deploy: merging the fix's pull request",
        |t| {
            t.auto_deploy = Some(begun.clone());
        },
    );
    // 0. A fix opened as a draft (autonomy was below `deploy` then, or its
    // severity not in `deploy.severities`) is marked ready first: GitHub
    // merges no draft, and an operator who raised autonomy expects the
    // fixes already open to go the same way as new ones, through the same
    // guard and deploy limit just asked.
    if !pull.ready {
        match github.mark_ready_for_review(pull.number).await {
            Ok(was_draft) => step(
                coder,
                id,
                "deploy_ready",
                &if was_draft {
                    format!(
                        "draft pull request #{} marked ready for review: autonomy is `deploy` now, Suture merges it",
                        pull.number
                    )
                } else {
                    format!("pull request #{} was already marked ready", pull.number)
                },
                |t| {
                    if let Some(p) = t.fix.as_mut().and_then(|f| f.pull_request.as_mut()) {
                        p.ready = true;
                    }
                },
            ),
            Err(e) => {
                finish(
                    coder,
                    id,
                    &format!(
                        "failed: GitHub did not mark draft #{} ready for review: {e}",
                        pull.number
                    ),
                    false,
                );
                return;
            }
        }
        if !still_permitted(coder, ticket) {
            finish(
                coder,
                id,
                "stopped: the guard refused the merge (kill switch or autonomy); the pull request is ready for review, nothing was merged",
                false,
            );
            return;
        }
    }
    // 1. Merge.
    let title = format!("Merge pull request #{} (Suture: {id})", pull.number);
    let merge = match github.merge_pull_request(pull.number, &title).await {
        Ok(sha) => sha,
        Err(e) => {
            finish(
                coder,
                id,
                &format!("failed: GitHub did not merge #{}: {e}", pull.number),
                false,
            );
            return;
        }
    };
    let merged_at = now_ms();
    step(
        coder,
        id,
        "deploy_merged",
        &format!("pull request #{} merged by Suture as {merge}", pull.number),
        |t| {
            if let Some(p) = t.fix.as_mut().and_then(|f| f.pull_request.as_mut()) {
                p.merged = Some(Merged {
                    commit: merge.clone(),
                    by: MERGER.into(),
                    at_ms: merged_at,
                    deployed: None,
                });
            }
            if let Some(d) = t.auto_deploy.as_mut() {
                d.merge_commit = Some(merge.clone());
            }
            let _ = t.transition(
                TicketState::Verifying,
                merged_at,
                "deploy",
                "merged by Suture; deploying",
            );
        },
    );
    // 2. Deploy.
    if !still_permitted(coder, ticket) {
        finish(
            coder,
            id,
            "stopped: the guard refused the deploy after the merge (kill switch or autonomy); the merge stands, nothing was deployed",
            false,
        );
        return;
    }
    let env = [
        ("SUTURE_DEPLOY_REVISION", merge.as_str()),
        ("SUTURE_TICKET", id),
    ];
    if let Err(why) = run_command(coder, id, "deploy", &coder.deploy.command, &env).await {
        let rolled = rollback(coder, ticket, &merge, previous.as_deref()).await;
        finish(
            coder,
            id,
            &format!("failed: the deploy command {why}; {rolled}"),
            true,
        );
        return;
    }
    // 3. The marker.
    let deployed_at = now_ms();
    let marker = match coder.store.record_deploy(&DeployRecord {
        id: format!(
            "suture-{id}-{}",
            ticket.fix.as_ref().map_or(1, |f| f.attempt)
        ),
        revision: merge.clone(),
        environment: None,
        at_ms: deployed_at,
        received_at_ms: deployed_at,
        source: DeploySource::Marker,
    }) {
        Ok(marker) => marker,
        Err(e) => {
            finish(
                coder,
                id,
                &format!("failed: the deploy marker was not stored: {e}"),
                true,
            );
            return;
        }
    };
    let canary_until = deployed_at.saturating_add(millis(coder.deploy.canary_window));
    step(
        coder,
        id,
        "deploy_deployed",
        &format!(
            "deployed {merge} (marker {}); canary until {}",
            marker.id,
            humantime::format_rfc3339_seconds(
                std::time::UNIX_EPOCH
                    + Duration::from_millis(u64::try_from(canary_until).unwrap_or(0))
            )
        ),
        |t| {
            if let Some(m) = t
                .fix
                .as_mut()
                .and_then(|f| f.pull_request.as_mut())
                .and_then(|p| p.merged.as_mut())
            {
                m.deployed = Some(DeployedFix {
                    deploy: marker.id.clone(),
                    revision: merge.clone(),
                    at_ms: deployed_at,
                });
            }
            if let Some(d) = t.auto_deploy.as_mut() {
                d.deploy = Some(marker.id.clone());
                d.deployed_at_ms = Some(deployed_at);
                d.canary_until_ms = Some(canary_until);
            }
        },
    );
    let _ = coder.store.flush().await;
    // 4. The canary.
    if let Ok(Some(t)) = coder.store.ticket(id)
        && let Some(progress) = t.auto_deploy.clone()
    {
        resume(coder, &t, progress).await;
    }
}

/// Waits out the canary window (checking the kill switch every second),
/// then judges it; an attempt interrupted before its canary began is left
/// to a person.
async fn resume(coder: &Coder, ticket: &Ticket, progress: AutoDeploy) {
    let id = ticket.id.as_str();
    let (Some(merge), Some(deployed_at), Some(until)) = (
        progress.merge_commit.clone(),
        progress.deployed_at_ms,
        progress.canary_until_ms,
    ) else {
        finish(
            coder,
            id,
            "stopped: Suture stopped during the merge or the deploy command; check what was deployed",
            true,
        );
        return;
    };
    while now_ms() < until {
        if coder.halt.engaged() {
            finish(
                coder,
                id,
                "stopped: the kill switch was engaged during the canary window; the fix is deployed, a person decides whether to roll back",
                true,
            );
            return;
        }
        let left = u64::try_from(until - now_ms()).unwrap_or(0).min(1_000);
        tokio::time::sleep(Duration::from_millis(left)).await;
    }
    let verdict = match judge_canary(coder, ticket, deployed_at, until) {
        Ok(verdict) => verdict,
        Err(e) => {
            finish(
                coder,
                id,
                &format!("stopped: the canary could not be judged: {e}"),
                true,
            );
            return;
        }
    };
    match verdict {
        None => {
            finish(coder, id, "passed", false);
            tracing::info!(ticket = %id, "auto-deploy passed its canary");
        }
        Some(reason) => {
            let rolled =
                rollback(coder, ticket, &merge, progress.previous_revision.as_deref()).await;
            finish(coder, id, &format!("rolled back: {reason}; {rolled}"), true);
            coder.control.fix_attempt_failed(
                id,
                ticket.signature_ids(),
                1,
                &format!("Suture's deploy of its fix was rolled back: {reason}"),
            );
            if let Ok(Some(t)) = coder.store.ticket(id) {
                super::memory::remember(coder, &t, FixOutcome::RolledBack, &reason);
            }
        }
    }
}

/// The canary's verdict over `[deployed_at, until)`: the ticket's own
/// signatures measured as verification measures them, and the gate run
/// over the window for anything else.
fn judge_canary(
    coder: &Coder,
    ticket: &Ticket,
    deployed_at: i64,
    until: i64,
) -> Result<Option<String>, StoreError> {
    let measured = super::verify::measure(coder, ticket, deployed_at, until)?;
    let fixed: Vec<_> = measured
        .iter()
        .map(|m| crate::domain::verify::judge_signature(m, &coder.verify))
        .collect();
    // Whole minutes from the deploy's minute through the one the canary
    // ends in: every event of the canary is inside.
    let first = crate::store::minute_of(deployed_at);
    let last = crate::store::minute_of(until.saturating_sub(1).max(deployed_at));
    let minutes = u64::from(last.saturating_sub(first)) + 1;
    let gate = crate::domain::gate::config::GateConfig {
        window: Duration::from_secs(minutes * 60),
        ..coder.gate.clone()
    };
    let gathered = crate::store::gate_input::gather(&coder.store, deployed_at, &gate, None)?;
    let ours: Vec<&str> = ticket.signature_ids().collect();
    let decisions = if let Some(history) = gathered.cold_start {
        crate::domain::gate::cold::judge_cold_start(
            &gathered.signatures,
            &gathered.seen_before,
            history,
            &gate,
        )
    } else {
        crate::domain::gate::decide::judge_deploy(&gathered.signatures, &gate)
    };
    let new_flags: Vec<(String, String)> = decisions
        .into_iter()
        .filter(|d| d.verdict.flagged() && !ours.contains(&d.signature.as_str()))
        .map(|d| (d.signature, d.reason))
        .collect();
    Ok(canary_verdict(&fixed, &new_flags))
}

/// Runs the rollback command; says what happened, in words.
async fn rollback(coder: &Coder, ticket: &Ticket, from: &str, to: Option<&str>) -> String {
    let id = ticket.id.as_str();
    let to = to.unwrap_or("");
    let env = [
        ("SUTURE_ROLLBACK_FROM", from),
        ("SUTURE_ROLLBACK_TO", to),
        ("SUTURE_TICKET", id),
    ];
    match run_command(coder, id, "rollback", &coder.deploy.rollback_command, &env).await {
        Ok(()) => {
            let now = now_ms();
            if !to.is_empty() {
                let marker = DeployRecord {
                    id: format!("suture-{id}-rollback-{now}"),
                    revision: to.to_string(),
                    environment: None,
                    at_ms: now,
                    received_at_ms: now,
                    source: DeploySource::Marker,
                };
                if let Err(e) = coder.store.record_deploy(&marker) {
                    tracing::warn!(ticket = %id, error = %e, "the rollback's deploy marker was not stored");
                }
            }
            format!(
                "rolled back to {}",
                if to.is_empty() {
                    "the previous deploy"
                } else {
                    to
                }
            )
        }
        Err(why) => format!("the rollback command {why}: a person must roll back by hand"),
    }
}

/// Runs a deploy or rollback command, with its output on the trail.
async fn run_command(
    coder: &Coder,
    id: &str,
    what: &str,
    command: &crate::domain::coder::config::CommandLine,
    extra: &[(&str, &str)],
) -> Result<(), String> {
    let cwd = coder.repo_config.path.clone();
    let home = coder.worktrees.join(".deploy-home");
    let mut env = sandbox::base_env(&home);
    for name in &coder.deploy.pass_env {
        if let Ok(value) = std::env::var(name) {
            env.push((name.clone(), value));
        }
    }
    env.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string())),
    );
    let outcome = sandbox::run(Contained {
        argv: command.argv(),
        cwd,
        env,
        timeout: coder.deploy.timeout,
        network: Network::Host,
        output_limit: OUTPUT_LIMIT,
    })
    .await;
    let (ok, detail) = match outcome {
        Ok(o) => (
            o.exit.success(),
            format!(
                "`{}` {} after {:.1} s: {}",
                command.display(),
                o.exit,
                o.elapsed.as_secs_f64(),
                coder.llm.scrubber.scrub(o.output.trim())
            ),
        ),
        Err(e) => (false, format!("`{}` could not run: {e}", command.display())),
    };
    step(
        coder,
        id,
        &format!("deploy_{what}_command"),
        &detail,
        |_| {},
    );
    if ok { Ok(()) } else { Err(detail) }
}

/// The revision of the latest deploy before `now`.
fn previous_revision(coder: &Coder, now: i64) -> Option<String> {
    let mut deploys = coder.store.deploys().ok()?;
    deploys.retain(|d| d.at_ms <= now);
    deploys.sort_by_key(|d| d.at_ms);
    deploys.pop().map(|d| d.revision)
}

fn still_permitted(coder: &Coder, ticket: &Ticket) -> bool {
    coder
        .guard
        .permit_for(Action::Deploy, ticket.severity)
        .is_ok()
}

/// One step on the ticket's trail (and so in the audit log), with `change`.
fn step(coder: &Coder, id: &str, action: &str, detail: &str, change: impl Fn(&mut Ticket)) {
    let now = now_ms();
    let written = coder.store.update_ticket(id, |t| {
        change(t);
        t.audit(now, "deploy", action, detail.to_string());
        Ok(())
    });
    if let Err(e) = written {
        tracing::warn!(ticket = %id, error = %e, %action, "an auto-deploy step was not recorded");
    }
}

/// Records the outcome; escalates (and notifies) when a person is needed.
fn finish(coder: &Coder, id: &str, outcome: &str, escalate: bool) {
    let now = now_ms();
    let written = coder.store.update_ticket(id, |t| {
        if let Some(d) = t.auto_deploy.as_mut() {
            d.outcome = Some(outcome.to_string());
        }
        t.audit(now, "deploy", "deploy_outcome", outcome.to_string());
        if escalate && !t.state.is_closed() && t.state != TicketState::Escalated {
            t.transition(
                TicketState::Escalated,
                now,
                "deploy",
                &format!("auto-deploy {outcome}"),
            )?;
        }
        Ok(())
    });
    if let Err(e) = written {
        tracing::warn!(ticket = %id, error = %e, "an auto-deploy's outcome was not recorded");
    }
    let label = outcome
        .split(':')
        .next()
        .unwrap_or(outcome)
        .replace(' ', "_");
    metrics::counter!("suture_auto_deploys_total", "outcome" => label).increment(1);
    if escalate {
        coder.guard.notify(
            Notification::new(
                NotificationKind::Escalation,
                now,
                "Suture's deploy of a fix needs a person",
                outcome.to_string(),
            )
            .ticket(id),
        );
    }
}

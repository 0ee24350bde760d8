//! The coder manager (the supervised child `coder`): which tickets get an
//! agent, when, and what is left after one stops.
//!
//! - **Queue**: a triaged fix candidate with no attempt yet, none of whose
//!   signatures is resting after a failure, is queued durably
//!   (`agent_queue`); the queue is filled at start, when triage nudges, and
//!   after each attempt. At most `agent.max_concurrent` agents run; the
//!   rest wait in the queue across restarts.
//! - **Lease**: an attempt starts only by taking the ticket's lease in the
//!   same transaction that records it, so two agents never work one
//!   ticket. The ticket moves to `fixing`.
//! - **Agents** are spawned linked to the manager, not to the root: an
//!   agent that panics or is killed is a failed attempt, seen here
//!   ([`Actor::handle_supervisor_evt`]), never a restart of the sidecar's
//!   stages. The manager ends such an attempt (`failed`, with the reason),
//!   removes its worktree and escalates the ticket.
//! - **At start**: attempts still `running` belonged to a sidecar that
//!   stopped; each is marked interrupted, its worktree removed, its ticket
//!   requeued once (a ticket that keeps killing the sidecar is escalated
//!   instead); orphan worktrees are pruned.
//! - **Review**: approve and reject come through here (see [`super::review`]).

use std::collections::HashMap;
use std::path::PathBuf;

use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use serde::Serialize;

use super::Coder;
use super::agent::{AgentActor, AgentArgs, AgentMsg};
use super::publish;
use super::review::{self, ReviewError, ReviewOutcome};
use crate::clients::git::fix_branch;
use crate::clock::now_ms;
use crate::control::guard::Action;
use crate::domain::coder::attempt::{AttemptRecord, AttemptState};
use crate::domain::notify::{Notification, NotificationKind};
use crate::domain::tickets::{Disposition, Ticket, TicketState};
use crate::runtime::task::OwnedTask;
use crate::store::StoreError;
use crate::store::agent_runs::LeaseOutcome;

pub enum CoderMsg {
    /// Look for fix candidates and start agents (triage found some, an
    /// attempt ended).
    Nudge,
    /// The same, on a timer that re-arms itself (one chain per manager).
    Tick,
    /// Approve a fix waiting in review: then push and open the pull
    /// request when Suture may.
    Approve {
        ticket: String,
        /// Who approved (the admin token's name): the ticket's trail says so.
        by: String,
        reply: RpcReplyPort<Result<ReviewOutcome, ReviewError>>,
    },
    /// Reject a fix waiting in review, with the reviewer's reason.
    Reject {
        ticket: String,
        reason: String,
        by: String,
        reply: RpcReplyPort<Result<ReviewOutcome, ReviewError>>,
    },
    /// The kill switch was engaged: kill every running agent (and so its
    /// processes), end its attempt as interrupted and hold its ticket in the
    /// queue; answers how many were stopped.
    Halt(RpcReplyPort<usize>),
    Status(RpcReplyPort<CoderStatus>),
    #[doc(hidden)]
    InjectPanic,
}

/// What `/v1/status` shows of the coding agent.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CoderStatus {
    pub enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    pub max_concurrent: usize,
    /// The kill switch holds the queue.
    pub halted: bool,
    pub running: Vec<RunningAttempt>,
    pub queued: usize,
    pub started: u64,
    pub fixed: u64,
    pub failed: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Why queued tickets wait although a slot is free (a rate limit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting: Option<String>,
    /// Fixes held back from publishing, why, and when each is tried again
    /// (as of the last tick; at most 20).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub held: Vec<HeldFix>,
    /// The held fix being published again right now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub republishing: Option<String>,
}

/// A fix held back from publishing, in the status.
#[derive(Debug, Clone, Serialize)]
pub struct HeldFix {
    pub ticket: String,
    pub reason: String,
    /// RFC 3339; absent: once the guard permits (or never by itself, when
    /// the reason says so).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_at: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunningAttempt {
    pub ticket: String,
    pub attempt: u32,
    pub branch: String,
    pub started_ms: i64,
}

pub struct CoderArgs {
    pub coder: Coder,
}

pub struct CoderManager;

pub struct ManagerState {
    coder: Coder,
    running: HashMap<ActorId, (RunningAttempt, ActorRef<AgentMsg>)>,
    /// Cleanups and publishing in flight (aborted if the manager stops).
    tasks: Vec<OwnedTask<()>>,
    /// A held fix being published again (see [`republish_held`]): its
    /// ticket and the task.
    republishing: Option<(String, OwnedTask<()>)>,
    /// Comments pushed revisions still owe being posted (see
    /// [`super::revise::post_owed_comments`]).
    commenting: Option<OwnedTask<()>>,
    /// A look for deploys of merged fixes (see [`watch_merged_fixes`]).
    watching: Option<OwnedTask<()>>,
    /// A poll of open fixes' pull requests (see [`super::poll`]), and when
    /// the last one started.
    polling: Option<OwnedTask<()>>,
    polled_at: Option<std::time::Instant>,
    /// Suture's own deploys of fixes and their canaries (see
    /// [`super::deploy`]); aborted by the kill switch.
    deploying: Option<OwnedTask<()>>,
    status: CoderStatus,
}

/// How often the queue is looked at without a nudge.
const TICK: std::time::Duration = std::time::Duration::from_secs(30);

impl Actor for CoderManager {
    type Msg = CoderMsg;
    type State = ManagerState;
    type Arguments = CoderArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: CoderArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let coder = args.coder;
        let status = CoderStatus {
            enabled: coder.disabled.is_none(),
            disabled_reason: coder.disabled.clone(),
            max_concurrent: coder.config.max_concurrent,
            ..CoderStatus::default()
        };
        let mut state = ManagerState {
            coder,
            running: HashMap::new(),
            tasks: Vec::new(),
            republishing: None,
            commenting: None,
            watching: None,
            polling: None,
            polled_at: None,
            deploying: None,
            status,
        };
        if state.status.enabled {
            if let Err(e) = recover(&state.coder).await {
                tracing::error!(error = %e, "interrupted attempts were not recovered");
                state.status.last_error = Some(e.to_string());
            }
            myself.send_message(CoderMsg::Tick)?;
        }
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        state.tasks.retain(|t| !t.is_finished());
        match message {
            CoderMsg::Nudge | CoderMsg::Tick => {
                if state.status.enabled {
                    if let Err(e) = fill(&myself, state).await {
                        tracing::warn!(error = %e, "the coder queue was not filled");
                        state.status.last_error = Some(e.to_string());
                    }
                }
                if matches!(message, CoderMsg::Tick) {
                    republish_held(state);
                    post_owed_comments(state);
                    watch_merged_fixes(state);
                    poll_pull_requests(state);
                    deploy_fixes(state);
                    myself.send_after(TICK, || CoderMsg::Tick);
                }
            }
            CoderMsg::Approve { ticket, by, reply } => {
                let coder = state.coder.clone();
                state.tasks.push(OwnedTask::spawn(async move {
                    let _ = reply.send(review::approve(&coder, &ticket, &by).await);
                }));
            }
            CoderMsg::Reject {
                ticket,
                reason,
                by,
                reply,
            } => {
                let coder = state.coder.clone();
                state.tasks.push(OwnedTask::spawn(async move {
                    let _ = reply.send(review::reject(&coder, &ticket, &reason, &by).await);
                }));
            }
            CoderMsg::Halt(reply) => {
                let stopped = halt_agents(state);
                let _ = reply.send(stopped);
            }
            CoderMsg::Status(reply) => {
                let mut status = state.status.clone();
                status.halted = state.coder.halt.engaged();
                status.running = state.running.values().map(|(r, _)| r.clone()).collect();
                status.queued = state.coder.store.agent_queue().map_or(0, |q| q.len());
                status.republishing = state
                    .republishing
                    .as_ref()
                    .filter(|(_, t)| !t.is_finished())
                    .map(|(id, _)| id.clone());
                let _ = reply.send(status);
            }
            CoderMsg::InjectPanic => panic!("injected panic in the coder manager"),
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let (cell, why) = match event {
            SupervisionEvent::ActorFailed(cell, error) => {
                (cell, format!("the agent failed: {error}"))
            }
            SupervisionEvent::ActorTerminated(cell, _, reason) => {
                (cell, reason.unwrap_or_else(|| "the agent stopped".into()))
            }
            _ => return Ok(()),
        };
        let Some((running, _)) = state.running.remove(&cell.get_id()) else {
            return Ok(());
        };
        // An agent that ended its attempt has recorded it; one that did not
        // (killed, panicked) is ended below, as failed.
        let succeeded = state
            .coder
            .store
            .attempt(&running.ticket, running.attempt)
            .ok()
            .flatten()
            .is_some_and(|a| a.state == AttemptState::Succeeded);
        if succeeded {
            state.status.fixed += 1;
        } else {
            state.status.failed += 1;
        }
        let coder = state.coder.clone();
        let me = myself.clone();
        // Ending a stopped agent's attempt touches git: in a task, so the
        // manager keeps answering.
        state.tasks.push(OwnedTask::spawn(async move {
            match end_if_running(&coder, &running.ticket, running.attempt, &why).await {
                Ok(Some(state)) => tracing::info!(ticket = %running.ticket, attempt = running.attempt, state = state.as_str(), reason = %why, "coding agent ended"),
                Ok(None) => {}
                Err(e) => tracing::error!(ticket = %running.ticket, error = %e, "a stopped agent's attempt was not ended"),
            }
            let _ = me.send_message(CoderMsg::Nudge);
        }));
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        // The agents are linked: they stop with the manager, and their
        // tasks (and processes) with them. Their records stay `running`
        // and the next start recovers them.
        for (_, (_, agent)) in state.running.drain() {
            agent.stop(Some("the coder manager stopped".into()));
        }
        Ok(())
    }
}

/// Queues fix candidates, then starts agents up to the limit.
async fn fill(myself: &ActorRef<CoderMsg>, state: &mut ManagerState) -> Result<(), StoreError> {
    let coder = state.coder.clone();
    let now = now_ms();
    for ticket in coder.store.tickets_in(&[TicketState::Triaged])? {
        if wants_agent(&coder, &ticket, now)? {
            coder.store.enqueue_agent(&ticket.id)?;
            coder.guard.notify(
                Notification::new(
                    NotificationKind::FixCandidate,
                    now,
                    "A ticket was queued for a coding agent",
                    ticket.title.clone(),
                )
                .ticket(&ticket.id),
            );
        }
    }
    if coder.halt.engaged() {
        // Held: the queue keeps the work until the switch is disengaged.
        return Ok(());
    }
    // Over an LLM budget no new attempt starts: the queue keeps the work.
    if let Some(over) = coder.llm.client.budget_exhausted() {
        state.status.waiting = Some(format!("{over}; queued tickets wait"));
        return Ok(());
    }
    for id in coder.store.agent_queue()? {
        if state.running.len() >= coder.config.max_concurrent {
            break;
        }
        // A ticket the autonomy level no longer lets an agent work on, or
        // whose signature's fix-loop breaker is tripped, stays queued
        // until that changes (a reset nudges the manager).
        let ticket = coder.store.ticket(&id)?;
        if let Some(ticket) = &ticket {
            let held = coder
                .guard
                .permit_for(Action::RunAgent, ticket.severity)
                .is_err()
                || coder
                    .control
                    .fix_loop_tripped(ticket.signature_ids())?
                    .is_some();
            if held {
                continue;
            }
            // The rate limit last, right before the lease: the ticket
            // stays queued and the next tick tries again.
            if let Err(refusal) = coder.guard.admit_for(Action::RunAgent, ticket.severity) {
                if state.status.waiting.as_deref() != Some(refusal.to_string().as_str()) {
                    tracing::info!(ticket = %id, %refusal, "agent attempts wait for the rate limit");
                }
                state.status.waiting = Some(refusal.to_string());
                break;
            }
        }
        state.status.waiting = None;
        coder.store.dequeue_agent(&id)?;
        if let Some(record) = take_lease(&coder, &id, now).await? {
            spawn_agent(myself, state, record).await;
        }
    }
    Ok(())
}

/// Held fixes the status lists, at most.
const HELD_SHOWN: usize = 20;

/// Publishes again one fix the guard held back (the kill switch, a rate
/// limit, a push that failed) once it is due: the guard permits its push
/// and pull request, and its next try (`fix.retry_at_ms`, set from why it
/// was held: the rate limit's own time, a backoff after a failure, see
/// `domain::coder::retry`) has come. Held work is not lost, and a failing
/// push is not hammered. One at a time; the status lists the held fixes
/// and when each is tried again.
fn republish_held(state: &mut ManagerState) {
    let coder = state.coder.clone();
    let Ok(tickets) = coder.store.tickets_in(&[TicketState::Review]) else {
        return;
    };
    let held: Vec<&Ticket> = tickets
        .iter()
        .filter(|t| {
            t.fix
                .as_ref()
                .is_some_and(|f| f.held.is_some() && f.pull_request.is_none())
        })
        .collect();
    state.status.held = held
        .iter()
        .take(HELD_SHOWN)
        .filter_map(|t| {
            let fix = t.fix.as_ref()?;
            Some(HeldFix {
                ticket: t.id.clone(),
                reason: fix.held.clone().unwrap_or_default(),
                retry_at: fix.retry_at_ms.map(crate::domain::coder::retry::format_at),
            })
        })
        .collect();
    if state
        .republishing
        .as_ref()
        .is_some_and(|(_, t)| !t.is_finished())
    {
        return;
    }
    if coder.github.is_none() || coder.halt.engaged() {
        return;
    }
    let now = now_ms();
    let due = held.into_iter().find(|t| {
        t.fix
            .as_ref()
            .is_some_and(|f| crate::domain::coder::retry::due(f.retry_at_ms, now))
            && [Action::Push, Action::OpenPullRequest]
                .into_iter()
                .all(|a| publish::permit(&coder, t, a).is_ok())
    });
    if let Some(ticket) = due {
        tracing::info!(ticket = %ticket.id, "publishing a held fix again");
        let id = ticket.id.clone();
        let task = OwnedTask::spawn({
            let id = id.clone();
            async move {
                let _ = publish::publish_fix(&coder, &id, "coder").await;
            }
        });
        state.republishing = Some((id, task));
    }
}

/// Posts, in an owned task, the comments pushed revisions still owe their
/// pull requests (a stop or a failure came between the push and the
/// comment); the first tick is at start. One run at a time.
fn post_owed_comments(state: &mut ManagerState) {
    if state.coder.github.is_none()
        || state.coder.halt.engaged()
        || state.commenting.as_ref().is_some_and(|t| !t.is_finished())
    {
        return;
    }
    let coder = state.coder.clone();
    state.commenting = Some(OwnedTask::spawn(async move {
        if let Err(e) = super::revise::post_owed_comments(&coder).await {
            tracing::warn!(error = %e, "owed revision comments were not posted");
        }
    }));
}

/// Merges, deploys and watches the fixes Suture deploys itself
/// (`[deploy]`), in an owned task, one run at a time.
fn deploy_fixes(state: &mut ManagerState) {
    if !state.coder.deploy.enabled
        || state.coder.halt.engaged()
        || state.deploying.as_ref().is_some_and(|t| !t.is_finished())
    {
        return;
    }
    let coder = state.coder.clone();
    state.deploying = Some(OwnedTask::spawn(async move {
        if let Err(e) = super::deploy::run_due(&coder).await {
            tracing::warn!(error = %e, "auto-deploys were not run");
        }
    }));
}

/// Polls the open fixes' pull requests, in an owned task, once every
/// `github.poll_interval` when no webhook tells Suture (see [`super::poll`]).
fn poll_pull_requests(state: &mut ManagerState) {
    let Some(every) = state.coder.poll_every else {
        return;
    };
    let busy = state.polling.as_ref().is_some_and(|t| !t.is_finished());
    if busy || state.polled_at.is_some_and(|at| at.elapsed() < every) {
        return;
    }
    state.polled_at = Some(std::time::Instant::now());
    let coder = state.coder.clone();
    state.polling = Some(OwnedTask::spawn(async move {
        match super::poll::poll_pull_requests(&coder).await {
            Ok(0) => {}
            Ok(applied) => tracing::info!(applied, "pull request changes learnt by polling"),
            Err(e) => tracing::warn!(error = %e, "pull requests were not polled"),
        }
    }));
}

/// Looks, in an owned task, for deploys that took a merged fix to
/// production (see [`note_deployed_fixes`]) and verifies the deployed ones
/// (see [`super::verify`]); one look at a time.
fn watch_merged_fixes(state: &mut ManagerState) {
    if state.watching.as_ref().is_some_and(|t| !t.is_finished()) {
        return;
    }
    let coder = state.coder.clone();
    state.watching = Some(OwnedTask::spawn(async move {
        if let Err(e) = note_deployed_fixes(&coder).await {
            tracing::warn!(error = %e, "merged fixes were not matched to deploys");
        }
        if let Err(e) = super::verify::verify_deployed_fixes(&coder).await {
            tracing::warn!(error = %e, "deployed fixes were not verified");
        }
    }));
}

/// Records, on each `verifying` ticket, the first deploy whose revision
/// contains its fix's merge commit (`git merge-base --is-ancestor`): from
/// then on the fix is in production and its effect can be judged.
pub async fn note_deployed_fixes(coder: &Coder) -> Result<usize, StoreError> {
    let Some(repo) = coder.repo.as_ref() else {
        return Ok(0);
    };
    let waiting: Vec<(String, crate::domain::tickets::Merged)> = coder
        .store
        .tickets_in(&[TicketState::Verifying])?
        .into_iter()
        .filter_map(|t| {
            let merged = t.fix?.pull_request?.merged?;
            merged.deployed.is_none().then_some((t.id, merged))
        })
        .collect();
    if waiting.is_empty() {
        return Ok(0);
    }
    let mut deploys = coder.store.deploys()?;
    deploys.sort_by_key(|d| d.at_ms);
    let mut found = 0;
    for (id, merged) in waiting {
        for deploy in deploys.iter().filter(|d| d.at_ms >= merged.at_ms) {
            // An unknown revision (not fetched yet) is simply not it.
            if !repo
                .is_ancestor(&merged.commit, &deploy.revision)
                .await
                .unwrap_or(false)
            {
                continue;
            }
            let deployed = crate::domain::tickets::DeployedFix {
                deploy: deploy.id.clone(),
                revision: deploy.revision.clone(),
                at_ms: deploy.at_ms,
            };
            let stored = coder.store.update_ticket(&id, |t| {
                if let Some(merged) = t
                    .fix
                    .as_mut()
                    .and_then(|f| f.pull_request.as_mut())
                    .and_then(|p| p.merged.as_mut())
                {
                    merged.deployed = Some(deployed.clone());
                }
                t.audit(
                    now_ms(),
                    "coder",
                    "fix_deployed",
                    format!(
                        "the merge commit {} is in deploy {} ({})",
                        merged.commit, deployed.deploy, deployed.revision
                    ),
                );
                Ok(())
            });
            if let Err(e) = stored {
                tracing::warn!(ticket = %id, error = %e, "the fix's deploy was not recorded");
            } else {
                found += 1;
            }
            break;
        }
    }
    if found > 0 {
        coder.store.flush().await?;
    }
    Ok(found)
}

/// Kills every running agent for the kill switch. Killing an agent drops
/// its state, which aborts its attempt and kills the attempt's process
/// groups. Each attempt is recorded as interrupted and its ticket queued
/// again (held until the switch is disengaged); worktrees are removed once
/// the agents are gone. Returns the agents stopped.
fn halt_agents(state: &mut ManagerState) -> usize {
    // An auto-deploy in flight stops here: its task (and a deploy or
    // rollback command's process group) goes with it; its ticket says
    // where it stopped (the next run escalates it).
    state.deploying = None;
    let stopped: Vec<(RunningAttempt, ActorRef<AgentMsg>)> =
        state.running.drain().map(|(_, entry)| entry).collect();
    for (_, agent) in &stopped {
        agent.kill();
    }
    let now = now_ms();
    let coder = state.coder.clone();
    let count = stopped.len();
    for (running, _) in &stopped {
        let record = coder
            .store
            .attempt(&running.ticket, running.attempt)
            .ok()
            .flatten();
        if let Some(mut record) = record.filter(|r| r.state == AttemptState::Running) {
            record.end(
                AttemptState::Interrupted,
                now,
                "the kill switch was engaged",
            );
            if let Err(e) = coder.store.finish_attempt(&record) {
                tracing::error!(ticket = %record.ticket, error = %e, "the halted attempt was not recorded");
            }
            if let Err(e) = coder.store.enqueue_agent(&record.ticket) {
                tracing::error!(ticket = %record.ticket, error = %e, "the halted ticket was not queued again");
            }
        }
        tracing::warn!(ticket = %running.ticket, attempt = running.attempt, "coding agent killed by the kill switch");
    }
    state.tasks.push(OwnedTask::spawn(async move {
        for (running, agent) in stopped {
            // The processes die with the agent's state; the worktree goes after.
            let _ = agent.wait(Some(std::time::Duration::from_secs(5))).await;
            let path = coder
                .store
                .attempt(&running.ticket, running.attempt)
                .ok()
                .flatten()
                .and_then(|a| a.worktree);
            remove_worktree(&coder, path.as_deref()).await;
        }
        let _ = coder.store.flush().await;
    }));
    count
}

/// A triaged fix candidate nobody has tried, none of whose signatures
/// rests after a failed attempt.
fn wants_agent(coder: &Coder, ticket: &Ticket, now: i64) -> Result<bool, StoreError> {
    if ticket.state != TicketState::Triaged
        || ticket.disposition != Some(Disposition::FixCandidate)
        || ticket.fix.is_some()
        || coder
            .guard
            .permit_for(Action::RunAgent, ticket.severity)
            .is_err()
    {
        return Ok(false);
    }
    if !coder.store.attempts(&ticket.id)?.is_empty() {
        return Ok(false);
    }
    if coder
        .control
        .fix_loop_tripped(ticket.signature_ids())?
        .is_some()
    {
        return Ok(false);
    }
    // A signature whose fix waits in an open pull request on another
    // ticket rests until that pull request is decided.
    for signature in ticket.signature_ids() {
        let other = coder
            .store
            .open_ticket_for([signature], std::iter::empty())?
            .filter(|id| *id != ticket.id);
        if let Some(other) = other
            && coder
                .store
                .ticket(&other)?
                .is_some_and(|t| t.state == TicketState::PrOpen)
        {
            return Ok(false);
        }
    }
    for signature in ticket.signature_ids() {
        if coder.store.agent_cooldown(signature, now)?.is_some() {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Takes `id`'s lease for its next attempt and moves the ticket to
/// `fixing`; `None` when the ticket no longer wants an agent or another
/// attempt holds it.
async fn take_lease(
    coder: &Coder,
    id: &str,
    now: i64,
) -> Result<Option<AttemptRecord>, StoreError> {
    let Some(ticket) = coder.store.ticket(id)? else {
        return Ok(None);
    };
    // `fixing` here is a ticket requeued after an interrupted attempt; a
    // `pr_open` one has a revision requested by a reviewer.
    let revising = ticket.fix_revision.as_ref().is_some_and(|r| r.pending());
    // A triaged ticket whose fix a person rejected is not retried by itself.
    let rejected = ticket.state == TicketState::Triaged && ticket.fix.is_some();
    let eligible = (matches!(ticket.state, TicketState::Triaged | TicketState::Fixing)
        && ticket.disposition == Some(Disposition::FixCandidate)
        && !rejected)
        || (revising && ticket.state == TicketState::PrOpen);
    if !eligible {
        return Ok(None);
    }
    let attempts = coder.store.attempts(id)?;
    // An attempt the kill switch or a stop interrupted did not get to try.
    let tried = attempts
        .iter()
        .filter(|a| a.state != AttemptState::Interrupted)
        .count();
    // A revision is the one attempt a review asked for, beyond the limit.
    if tried >= coder.config.max_attempts as usize && !revising {
        escalate(
            coder,
            id,
            &format!("{tried} attempts made (agent.max_attempts)"),
        );
        return Ok(None);
    }
    let spent: u64 = attempts.iter().map(|a| a.tokens).sum();
    let cap = coder.config.max_tokens_per_ticket;
    if cap > 0 && spent >= cap {
        escalate(
            coder,
            id,
            &format!("its attempts spent {spent} tokens (agent.max_tokens_per_ticket = {cap})"),
        );
        return Ok(None);
    }
    let number = attempts.last().map_or(1, |a| a.attempt + 1);
    let Ok(branch) = fix_branch(id, number) else {
        return Ok(None);
    };
    let record = AttemptRecord::running(id, number, branch, now);
    match coder.store.start_attempt(&record)? {
        LeaseOutcome::Held { by_attempt } => {
            tracing::warn!(ticket = %id, by_attempt, "ticket already leased; not started");
            return Ok(None);
        }
        LeaseOutcome::Taken(_) => {}
    }
    let moved = coder.store.update_ticket(id, |t| {
        if let Some(revision) = t.fix_revision.as_mut().filter(|r| r.pending()) {
            revision.attempt = Some(number);
        }
        if t.state == TicketState::Triaged {
            t.transition(
                TicketState::Fixing,
                now,
                "coder",
                &format!("attempt {number} started on {}", record.branch),
            )?;
        } else if t.state == TicketState::PrOpen {
            let by = t
                .fix_revision
                .as_ref()
                .map(|r| r.requested_by.clone())
                .unwrap_or_default();
            t.transition(
                TicketState::Fixing,
                now,
                "coder",
                &format!(
                    "revision attempt {number} started on {} after {by}'s review",
                    record.branch
                ),
            )?;
        } else {
            t.audit(
                now,
                "coder",
                "attempt",
                format!("attempt {number} started on {}", record.branch),
            );
        }
        Ok(())
    });
    if let Err(e) = moved {
        tracing::warn!(ticket = %id, error = %e, "ticket not moved to fixing");
    }
    coder.store.flush().await?;
    Ok(Some(record))
}

async fn spawn_agent(myself: &ActorRef<CoderMsg>, state: &mut ManagerState, record: AttemptRecord) {
    let running = RunningAttempt {
        ticket: record.ticket.clone(),
        attempt: record.attempt,
        branch: record.branch.clone(),
        started_ms: record.started_ms,
    };
    let args = AgentArgs {
        coder: state.coder.clone(),
        record,
    };
    match Actor::spawn_linked(None, AgentActor, args, myself.get_cell()).await {
        Ok((agent, _)) => {
            state.status.started += 1;
            metrics::counter!("suture_agent_attempts_total", "outcome" => "started").increment(1);
            tracing::info!(ticket = %running.ticket, attempt = running.attempt, branch = %running.branch, "coding agent started");
            state.running.insert(agent.get_id(), (running, agent));
        }
        Err(e) => {
            let why = format!("the agent could not start: {e}");
            state.status.last_error = Some(why.clone());
            let coder = state.coder.clone();
            state.tasks.push(OwnedTask::spawn(async move {
                let _ = end_if_running(&coder, &running.ticket, running.attempt, &why).await;
            }));
        }
    }
}

/// Ends an attempt its agent left `running` (killed, panicked, never
/// started): failed with `why`, worktree removed, ticket escalated.
/// Returns the attempt's final state, `None` when there is no such attempt.
async fn end_if_running(
    coder: &Coder,
    ticket: &str,
    attempt: u32,
    why: &str,
) -> Result<Option<AttemptState>, StoreError> {
    let Some(mut record) = coder.store.attempt(ticket, attempt)? else {
        return Ok(None);
    };
    if record.state != AttemptState::Running {
        return Ok(Some(record.state));
    }
    remove_worktree(coder, record.worktree.as_deref()).await;
    record.end(AttemptState::Failed, now_ms(), why);
    coder.store.finish_attempt(&record)?;
    super::attempt::on_failed(coder, &record, why);
    coder.store.flush().await?;
    Ok(Some(AttemptState::Failed))
}

/// At start: processes left running in worktrees killed, interrupted
/// attempts ended, their worktrees removed, their tickets requeued once;
/// orphan worktrees pruned.
async fn recover(coder: &Coder) -> Result<(), StoreError> {
    // Tests and agents of a sidecar that was killed outright still run in
    // their own process groups: first of all, stop them.
    let killed = crate::runtime::orphans::kill_groups_under(&coder.worktrees);
    if !killed.is_empty() {
        tracing::warn!(
            groups = killed.len(),
            "processes left by a stopped sidecar's attempts were killed"
        );
    }
    for (record, requeued) in coder.store.recover_attempts(now_ms())? {
        remove_worktree(coder, record.worktree.as_deref()).await;
        tracing::warn!(ticket = %record.ticket, attempt = record.attempt, requeued, "an attempt was interrupted by a stop of the sidecar");
        if !requeued {
            escalate(
                coder,
                &record.ticket,
                "two attempts were interrupted by stops of the sidecar",
            );
        }
    }
    // An attempt that ended but whose ticket did not move (a stop between
    // the two writes): the move is made now.
    let queued = coder.store.agent_queue()?;
    for ticket in coder.store.tickets_in(&[TicketState::Fixing])? {
        if queued.contains(&ticket.id) || coder.store.lease_holder(&ticket.id)?.is_some() {
            continue;
        }
        if let Some(last) = coder.store.attempts(&ticket.id)?.pop() {
            tracing::warn!(ticket = %ticket.id, attempt = last.attempt, "an ended attempt's ticket is moved on");
            super::attempt::settle_ticket(coder, &last).await;
        }
    }
    if let Some(repo) = &coder.repo {
        match repo.prune_worktrees(&coder.worktrees).await {
            Ok(removed) if !removed.is_empty() => {
                tracing::info!(count = removed.len(), "orphan worktrees removed")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "orphan worktrees not pruned"),
        }
    }
    let _ = std::fs::remove_dir_all(coder.worktrees.join(".scratch"));
    coder.store.flush().await.map(|_| ())
}

async fn remove_worktree(coder: &Coder, path: Option<&str>) {
    let (Some(repo), Some(path)) = (coder.repo.as_ref(), path) else {
        return;
    };
    let path = PathBuf::from(path);
    if let Err(e) = repo.remove_worktree_at(&path).await {
        tracing::warn!(path = %path.display(), error = %e, "worktree not removed; the next start prunes it");
    }
}

/// The ticket needs a person.
fn escalate(coder: &Coder, id: &str, why: &str) {
    let now = now_ms();
    let result = coder.store.update_ticket(id, |t| {
        if t.state == TicketState::Escalated || t.state.is_closed() {
            return Ok(false);
        }
        t.transition(TicketState::Escalated, now, "coder", why)?;
        Ok(true)
    });
    match result {
        Ok((_, true)) => coder.guard.notify(
            Notification::new(
                NotificationKind::Escalation,
                now,
                "A ticket needs a person",
                why.to_string(),
            )
            .ticket(id),
        ),
        Ok((_, false)) => {}
        Err(e) => tracing::warn!(ticket = %id, error = %e, "ticket not escalated"),
    }
}

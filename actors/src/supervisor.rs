//! The root supervisor. It starts every actor explicitly, in dependency order,
//! and restarts a failed child with exponential backoff. ractor restarts
//! nothing by itself and its default `handle_supervisor_evt` stops the
//! supervisor when a child stops, so this override is the whole policy: more
//! than `supervision.max_restarts` failures of one child within
//! `supervision.restart_window` escalate (the root stops with a reason and
//! the process exits non-zero, leaving the restart to the service manager).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use ractor::{
    Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent,
};
use serde::Serialize;
use tokio::time::Instant;

use crate::analyzer::actor::{AnalyzerActor, AnalyzerArgs, AnalyzerContext, AnalyzerMsg};
use crate::config::EngineConfig;
use crate::gate::actor::{GateActor, GateArgs, GateMsg};
use crate::ingest::{IngestActor, IngestArgs, IngestInbox, IngestMsg};
use crate::queue::{QueueActor, QueueArgs, QueueMsg};
use crate::slot::ActorSlot;
use crate::stats::Stats;
use crate::store::Store;
use crate::triage::actor::{TriageActor, TriageArgs, TriageContext, TriageMsg};

/// Longest a graceful shutdown waits for one child.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// The supervised children, in start order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Child {
    Queue,
    Ingest,
    Gate,
    Analyzer,
    Triage,
}

impl Child {
    /// Start order: a stage starts after the ones it sends to.
    pub const ALL: [Child; 5] = [
        Child::Queue,
        Child::Ingest,
        Child::Triage,
        Child::Analyzer,
        Child::Gate,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Child::Queue => "queue",
            Child::Ingest => "ingest",
            Child::Gate => "gate",
            Child::Analyzer => "analyzer",
            Child::Triage => "triage",
        }
    }
}

/// What the supervisor needs to (re)build its children.
pub struct RootArgs {
    pub config: EngineConfig,
    pub store: Store,
    pub inbox: IngestInbox,
    pub queue: ActorSlot<QueueMsg>,
    pub ingest: ActorSlot<IngestMsg>,
    pub gate: ActorSlot<GateMsg>,
    pub analyzer: ActorSlot<AnalyzerMsg>,
    pub triage: ActorSlot<TriageMsg>,
    pub stats: Arc<Stats>,
    pub llm: Arc<crate::llm::LlmParts>,
    pub repo: Option<crate::repo::Repo>,
    pub github: Option<crate::github::GitHub>,
}

pub enum RootMsg {
    /// Start a child again after its backoff.
    Restart(Child),
    /// Stop in order: ingest drains and commits, then the queue, then a final flush.
    Shutdown(RpcReplyPort<()>),
    /// Restart counts, for `suture status`.
    Status(RpcReplyPort<SupervisionStatus>),
}

/// Restart counts per child since start.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SupervisionStatus {
    pub restarts: HashMap<Child, u64>,
}

pub struct RootSupervisor;

pub struct RootState {
    args: RootArgs,
    running: HashMap<ActorId, Child>,
    recent_failures: HashMap<Child, VecDeque<Instant>>,
    restarts: HashMap<Child, u64>,
    shutting_down: bool,
}

impl Actor for RootSupervisor {
    type Msg = RootMsg;
    type State = RootState;
    type Arguments = RootArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: RootArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let mut state = RootState {
            args,
            running: HashMap::new(),
            recent_failures: HashMap::new(),
            restarts: HashMap::new(),
            shutting_down: false,
        };
        for child in Child::ALL {
            spawn_child(&myself, &mut state, child).await?;
        }
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            RootMsg::Restart(child) if !state.shutting_down => {
                if let Err(error) = spawn_child(&myself, state, child).await {
                    tracing::error!(child = child.name(), %error, "restart failed");
                    on_child_down(&myself, state, child);
                } else {
                    *state.restarts.entry(child).or_default() += 1;
                    metrics::counter!("suture_actor_restarts_total", "actor" => child.name())
                        .increment(1);
                    tracing::warn!(child = child.name(), "restarted");
                }
            }
            RootMsg::Restart(_) => {}
            RootMsg::Shutdown(reply) => {
                state.shutting_down = true;
                shutdown_children(state).await;
                if let Err(error) = state.args.store.flush().await {
                    tracing::error!(%error, "final flush failed");
                }
                let _ = reply.send(());
                myself.stop(Some("shutdown".into()));
            }
            RootMsg::Status(reply) => {
                let _ = reply.send(SupervisionStatus {
                    restarts: state.restarts.clone(),
                });
            }
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
            SupervisionEvent::ActorFailed(cell, error) => (cell, error.to_string()),
            SupervisionEvent::ActorTerminated(cell, _, reason) => {
                (cell, reason.unwrap_or_else(|| "stopped".into()))
            }
            _ => return Ok(()),
        };
        let Some(child) = state.running.remove(&cell.get_id()) else {
            return Ok(());
        };
        slot_clear(state, child);
        if state.shutting_down {
            return Ok(());
        }
        tracing::error!(child = child.name(), reason = %why, "child actor went down");
        on_child_down(&myself, state, child);
        Ok(())
    }
}

/// Schedules a restart with backoff, or escalates past the restart budget.
fn on_child_down(myself: &ActorRef<RootMsg>, state: &mut RootState, child: Child) {
    let config = &state.args.config.supervision;
    let now = Instant::now();
    let failures = state.recent_failures.entry(child).or_default();
    failures.push_back(now);
    while failures
        .front()
        .is_some_and(|t| now.saturating_duration_since(*t) > config.restart_window)
    {
        failures.pop_front();
    }
    let count = failures.len() as u32;
    if count > config.max_restarts {
        let reason = format!(
            "{} failed {count} times within {}; escalating",
            child.name(),
            humantime::format_duration(config.restart_window)
        );
        tracing::error!("{reason}");
        myself.stop(Some(reason));
        return;
    }
    let backoff = config
        .backoff_initial
        .saturating_mul(1u32 << count.saturating_sub(1).min(16))
        .min(config.backoff_max);
    myself.send_after(backoff, move || RootMsg::Restart(child));
}

async fn spawn_child(
    myself: &ActorRef<RootMsg>,
    state: &mut RootState,
    child: Child,
) -> Result<(), ActorProcessingErr> {
    let supervisor: ActorCell = myself.get_cell();
    let args = &state.args;
    let cell = match child {
        Child::Queue => {
            let queue_args = QueueArgs {
                config: args.config.queue.clone(),
                store: args.store.clone(),
            };
            let (actor, _) = Actor::spawn_linked(None, QueueActor, queue_args, supervisor).await?;
            args.queue.set(Some(actor.clone()));
            actor.get_cell()
        }
        Child::Gate => {
            let gate_args = GateArgs {
                config: args.config.gate.clone(),
                store: args.store.clone(),
                analyzer: args.analyzer.clone(),
            };
            let (actor, _) = Actor::spawn_linked(None, GateActor, gate_args, supervisor).await?;
            args.gate.set(Some(actor.clone()));
            actor.get_cell()
        }
        Child::Analyzer => {
            let analyzer_args = AnalyzerArgs {
                context: AnalyzerContext {
                    config: args.config.analyzer.clone(),
                    shadow: args.config.tickets.shadow,
                    store: args.store.clone(),
                    llm: args.llm.clone(),
                    repo: args.repo.clone(),
                },
                triage: args.triage.clone(),
            };
            let (actor, _) =
                Actor::spawn_linked(None, AnalyzerActor, analyzer_args, supervisor).await?;
            args.analyzer.set(Some(actor.clone()));
            actor.get_cell()
        }
        Child::Triage => {
            let triage_args = TriageArgs {
                context: TriageContext {
                    config: args.config.triage.clone(),
                    shadow: args.config.tickets.shadow,
                    store: args.store.clone(),
                    llm: args.llm.clone(),
                    repo: args.repo.clone(),
                    github: args.github.clone(),
                },
            };
            let (actor, _) =
                Actor::spawn_linked(None, TriageActor, triage_args, supervisor).await?;
            args.triage.set(Some(actor.clone()));
            actor.get_cell()
        }
        Child::Ingest => {
            let ingest_args = IngestArgs {
                store: args.store.clone(),
                inbox: args.inbox.clone(),
                queue: args.queue.clone(),
                max_group: args.config.ingest.max_commit_events,
                stats: args.stats.clone(),
            };
            let (actor, _) =
                Actor::spawn_linked(None, IngestActor, ingest_args, supervisor).await?;
            args.ingest.set(Some(actor.clone()));
            actor.get_cell()
        }
    };
    state.running.insert(cell.get_id(), child);
    Ok(())
}

fn slot_clear(state: &RootState, child: Child) {
    match child {
        Child::Queue => state.args.queue.set(None),
        Child::Ingest => state.args.ingest.set(None),
        Child::Gate => state.args.gate.set(None),
        Child::Analyzer => state.args.analyzer.set(None),
        Child::Triage => state.args.triage.set(None),
    }
}

/// The LLM stages first (their handlers are short: work runs in tasks that
/// commit atomically), then ingest (it drains and commits what was
/// accepted), then the queue.
async fn shutdown_children(state: &mut RootState) {
    if let Some(analyzer) = state.args.analyzer.get() {
        let _ = analyzer.stop_and_wait(None, Some(SHUTDOWN_GRACE)).await;
    }
    if let Some(triage) = state.args.triage.get() {
        let _ = triage.stop_and_wait(None, Some(SHUTDOWN_GRACE)).await;
    }
    if let Some(ingest) = state.args.ingest.get() {
        let drained = ingest.call(IngestMsg::Shutdown, Some(SHUTDOWN_GRACE)).await;
        if drained.is_err() {
            tracing::warn!("ingest did not drain in time");
        }
        let _ = ingest.stop_and_wait(None, Some(SHUTDOWN_GRACE)).await;
    }
    if let Some(queue) = state.args.queue.get() {
        let _ = queue.stop_and_wait(None, Some(SHUTDOWN_GRACE)).await;
    }
    // Last: a tick in progress finishes (stop waits for the handler) and
    // what it stored is flushed by the root's final flush.
    if let Some(gate) = state.args.gate.get() {
        let _ = gate.stop_and_wait(None, Some(SHUTDOWN_GRACE)).await;
    }
}

//! The root supervisor. It starts every child of [`super::children::table`]
//! in order and restarts a failed child with exponential backoff. ractor
//! restarts nothing by itself and its default `handle_supervisor_evt` stops
//! the supervisor when a child stops, so this override is the whole policy:
//! more than `supervision.max_restarts` failures of one child within
//! `supervision.restart_window` escalate (the root stops with a reason and
//! the process exits non-zero, leaving the restart to the service manager).
//!
//! Only direct children's events reach here: a manager child that spawns
//! per-task actors under itself (`spawn_linked` with itself as supervisor)
//! hears of their failures in its own `handle_supervisor_evt`.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use serde::Serialize;
use tokio::time::Instant;

use super::children::{ChildSpec, Deps};

/// Longest a graceful shutdown waits for one child.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// What the supervisor needs to (re)build its children.
pub struct RootArgs {
    pub deps: Deps,
    pub children: Arc<[Arc<dyn ChildSpec>]>,
}

pub enum RootMsg {
    /// Start a child (by its index in the table) again after its backoff.
    Restart(usize),
    /// Stop in order (by `stop_rank`), then a final flush.
    Shutdown(RpcReplyPort<()>),
    /// Restart counts, for `suture status`.
    Status(RpcReplyPort<SupervisionStatus>),
}

/// Restart counts per child since start, by child name.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SupervisionStatus {
    pub restarts: HashMap<&'static str, u64>,
}

pub struct RootSupervisor;

pub struct RootState {
    args: RootArgs,
    running: HashMap<ActorId, usize>,
    recent_failures: HashMap<usize, VecDeque<Instant>>,
    restarts: HashMap<&'static str, u64>,
    shutting_down: bool,
}

impl RootState {
    fn child(&self, index: usize) -> &Arc<dyn ChildSpec> {
        &self.args.children[index]
    }
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
        for index in 0..state.args.children.len() {
            spawn_child(&myself, &mut state, index).await?;
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
            RootMsg::Restart(index) if !state.shutting_down => {
                let name = state.child(index).name();
                if let Err(error) = spawn_child(&myself, state, index).await {
                    tracing::error!(child = name, %error, "restart failed");
                    on_child_down(&myself, state, index);
                } else {
                    *state.restarts.entry(name).or_default() += 1;
                    crate::telemetry::ActorRestarted { actor: name }.emit();
                }
            }
            RootMsg::Restart(_) => {}
            RootMsg::Shutdown(reply) => {
                state.shutting_down = true;
                shutdown_children(state).await;
                if let Err(error) = state.args.deps.store.flush().await {
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
        let Some(index) = state.running.remove(&cell.get_id()) else {
            return Ok(());
        };
        state.child(index).clear();
        if state.shutting_down {
            return Ok(());
        }
        tracing::error!(child = state.child(index).name(), reason = %why, "child actor went down");
        on_child_down(&myself, state, index);
        Ok(())
    }
}

/// Schedules a restart with backoff, or escalates past the restart budget.
fn on_child_down(myself: &ActorRef<RootMsg>, state: &mut RootState, index: usize) {
    let name = state.child(index).name();
    let config = &state.args.deps.config.supervision;
    let now = Instant::now();
    let failures = state.recent_failures.entry(index).or_default();
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
            "{name} failed {count} times within {}; escalating",
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
    myself.send_after(backoff, move || RootMsg::Restart(index));
}

async fn spawn_child(
    myself: &ActorRef<RootMsg>,
    state: &mut RootState,
    index: usize,
) -> Result<(), ActorProcessingErr> {
    let child = state.child(index).clone();
    let cell = child.spawn(&state.args.deps, myself.get_cell()).await?;
    state.running.insert(cell.get_id(), index);
    Ok(())
}

/// Stops the children by `stop_rank`, each waited for in turn.
async fn shutdown_children(state: &mut RootState) {
    let mut order: Vec<Arc<dyn ChildSpec>> = state.args.children.to_vec();
    order.sort_by_key(|c| c.stop_rank());
    for child in order {
        child.stop(SHUTDOWN_GRACE).await;
    }
}

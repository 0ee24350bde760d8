//! One attempt's actor, spawned by the manager and linked to it. Its state
//! owns the attempt's task: stopping or killing the actor drops the task,
//! which kills the processes the attempt started. It stops itself when the
//! attempt ends; the manager sees it go and starts the next.

use ractor::{Actor, ActorProcessingErr, ActorRef};

use super::{Coder, attempt};
use crate::domain::coder::attempt::{AttemptRecord, AttemptState};
use crate::runtime::pass::{self, Panicked};
use crate::runtime::task::OwnedTask;

pub enum AgentMsg {
    /// The attempt's task ended: the ended record, or the task's panic.
    Done(Result<AttemptRecord, Panicked>),
    /// Panics the actor (failure tests: a panicking agent is a failed
    /// attempt, never a crash of the sidecar).
    InjectPanic,
}

pub struct AgentArgs {
    pub coder: Coder,
    /// The attempt, already holding its ticket's lease.
    pub record: AttemptRecord,
}

pub struct AgentActor;

pub struct AgentState {
    task: Option<OwnedTask<()>>,
}

impl Actor for AgentActor {
    type Msg = AgentMsg;
    type State = AgentState;
    type Arguments = AgentArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: AgentArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let mut task = None;
        pass::start(
            &myself,
            &mut task,
            (args.coder, args.record),
            |(coder, record): (Coder, AttemptRecord)| async move {
                Ok::<_, Panicked>(attempt::run(&coder, record).await)
            },
            AgentMsg::Done,
        );
        Ok(AgentState { task })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            AgentMsg::Done(Ok(record)) => {
                state.task = None;
                let reason = match record.state {
                    AttemptState::Succeeded => "fixed".to_string(),
                    _ => format!("no fix: {}", record.reason),
                };
                myself.stop(Some(reason));
            }
            AgentMsg::Done(Err(panicked)) => {
                state.task = None;
                // The manager finds the attempt still running and ends it.
                myself.stop(Some(format!("the attempt panicked: {}", panicked.0)));
            }
            AgentMsg::InjectPanic => panic!("injected panic in a coding agent"),
        }
        Ok(())
    }
}

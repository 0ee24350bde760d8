//! The gate actor: every `gate.interval` it runs [`GateRunner::tick`] on a
//! blocking thread (the reads scan sled and must not stall the engine's
//! runtime, which also runs ingest), flushes what it stored, and arms the
//! next tick. Its durable progress is in the store (deploy runs exist, the
//! batch cursor), so a restart resumes where the last flushed tick ended.

pub mod runner;

use std::sync::{Arc, Mutex};

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde::Serialize;

use crate::clock::now_ms;
use crate::domain::gate::config::GateConfig;
use crate::runtime::slot::ActorSlot;
use crate::stages::analyzer::AnalyzerMsg;
use crate::stages::gate::runner::GateRunner;
use crate::store::Store;

pub enum GateMsg {
    /// Judge what is due now (the actor sends this to itself).
    Tick,
    /// A snapshot for `suture status`.
    Status(RpcReplyPort<GateStatus>),
    /// Panics inside the handler: lets tests prove supervision works.
    #[doc(hidden)]
    InjectPanic,
}

/// What `suture status` shows of the gate.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GateStatus {
    pub enabled: bool,
    /// When the last tick finished (epoch ms).
    pub last_tick_ms: Option<i64>,
    /// Runs stored since this process started.
    pub runs: u64,
    /// Candidates made since this process started.
    pub candidates: u64,
    /// The last tick's error, if it failed (it is retried next tick).
    pub last_error: Option<String>,
}

pub struct GateActor;

pub struct GateArgs {
    pub config: GateConfig,
    pub store: Store,
    /// Told when a tick made candidates.
    pub analyzer: ActorSlot<AnalyzerMsg>,
}

pub struct GateState {
    store: Store,
    analyzer: ActorSlot<AnalyzerMsg>,
    interval: std::time::Duration,
    /// Shared with the blocking task that runs a tick.
    runner: Arc<Mutex<GateRunner>>,
    status: GateStatus,
}

impl Actor for GateActor {
    type Msg = GateMsg;
    type State = GateState;
    type Arguments = GateArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: GateArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let status = GateStatus {
            enabled: args.config.enabled,
            ..GateStatus::default()
        };
        let interval = args.config.interval;
        let runner = GateRunner::new(args.store.clone(), args.config, now_ms())?;
        if status.enabled {
            myself.send_after(interval, || GateMsg::Tick);
        }
        Ok(GateState {
            store: args.store,
            analyzer: args.analyzer,
            interval,
            runner: Arc::new(Mutex::new(runner)),
            status,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            GateMsg::Tick => {
                let runner = state.runner.clone();
                let now = now_ms();
                let result = tokio::task::spawn_blocking(move || {
                    let mut runner = runner
                        .lock()
                        .map_err(|_| "the gate runner's lock was poisoned".to_string())?;
                    runner.tick(now).map_err(|e| e.to_string())
                })
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r);
                match result {
                    Ok(runs) => {
                        if !runs.is_empty() {
                            state.store.flush().await?;
                        }
                        state.status.runs += runs.len() as u64;
                        let made = runs
                            .iter()
                            .map(|r| r.decisions.iter().filter(|d| d.candidate).count() as u64)
                            .sum::<u64>();
                        state.status.candidates += made;
                        if made > 0 {
                            state.analyzer.cast(AnalyzerMsg::Tick);
                        }
                        state.status.last_error = None;
                    }
                    Err(error) => {
                        tracing::error!(%error, "gate tick failed; retrying next interval");
                        state.status.last_error = Some(error);
                    }
                }
                state.status.last_tick_ms = Some(now);
                myself.send_after(state.interval, || GateMsg::Tick);
            }
            GateMsg::Status(reply) => {
                let _ = reply.send(state.status.clone());
            }
            GateMsg::InjectPanic => panic!("injected panic in the gate actor"),
        }
        Ok(())
    }
}

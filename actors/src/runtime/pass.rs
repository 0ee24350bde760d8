//! Stages that work in passes (the analyzer, triage): the actor starts at
//! most one pass at a time as a task, because a pass waits on git and the
//! LLM for seconds to minutes and the actor must stay responsive (status
//! queries, stop). The task reports back by message; the actor then arms
//! the next pass: at once when work is left, else after its interval.
//!
//! The task is owned: [`start`] leaves an [`OwnedTask`] in the actor's
//! state, and ractor drops the state when the actor stops, is killed or
//! panics (even though `kill()` skips `post_stop`), which aborts the pass.
//! A killed or restarted stage never leaves its work running.

use std::future::Future;
use std::time::Duration;

use ractor::{ActorProcessingErr, ActorRef, Message};

use super::task::OwnedTask;

/// A pass that panicked: reported like a failure, so the stage goes on.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the pass panicked: {0}")]
pub struct Panicked(pub String);

/// Starts `pass(context)` unless one is running (`running` holds it);
/// its result comes back as `done(result)`.
pub fn start<C, R, E, M, F>(
    myself: &ActorRef<M>,
    running: &mut Option<OwnedTask<()>>,
    context: C,
    pass: impl FnOnce(C) -> F + Send + 'static,
    done: fn(Result<R, E>) -> M,
) where
    C: Send + 'static,
    R: Send + 'static,
    E: From<Panicked> + Send + 'static,
    M: Message,
    F: Future<Output = Result<R, E>> + Send + 'static,
{
    if running.as_ref().is_some_and(|task| !task.is_finished()) {
        return;
    }
    let me = myself.clone();
    *running = Some(OwnedTask::spawn(async move {
        // Aborting the outer task drops `inner`, which aborts the pass.
        let inner = OwnedTask::spawn(pass(context));
        // A pass that panics still reports, or the stage would wait forever.
        let result = inner
            .join()
            .await
            .unwrap_or_else(|e| Err(E::from(Panicked(e.to_string()))));
        let _ = me.send_message(done(result));
    }));
}

/// Arms the next pass: now when `again`, else after `interval`.
pub fn rearm<M: Message>(
    myself: &ActorRef<M>,
    again: bool,
    interval: Duration,
    tick: fn() -> M,
) -> Result<(), ActorProcessingErr> {
    if again {
        myself.send_message(tick())?;
    } else {
        myself.send_after(interval, tick);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use ractor::{Actor, ActorProcessingErr, ActorRef};
    use tokio::sync::mpsc;

    use super::*;
    use crate::runtime::task::{OwnedProcess, process_alive as alive};

    /// A stage with one long pass: it starts a process group, waits, then
    /// "writes" (sends on `writes`). The pass never gets that far here.
    struct SlowStage;

    struct SlowState {
        pass: Option<OwnedTask<()>>,
    }

    enum SlowMsg {
        Tick,
        Done(Result<(), Panicked>),
    }

    struct SlowArgs {
        writes: mpsc::UnboundedSender<&'static str>,
        started: mpsc::UnboundedSender<u32>,
    }

    impl Actor for SlowStage {
        type Msg = SlowMsg;
        type State = (SlowState, Option<SlowArgs>);
        type Arguments = SlowArgs;

        async fn pre_start(
            &self,
            myself: ActorRef<SlowMsg>,
            args: SlowArgs,
        ) -> Result<Self::State, ActorProcessingErr> {
            myself.send_message(SlowMsg::Tick)?;
            Ok((SlowState { pass: None }, Some(args)))
        }

        async fn handle(
            &self,
            myself: ActorRef<SlowMsg>,
            message: SlowMsg,
            (state, args): &mut Self::State,
        ) -> Result<(), ActorProcessingErr> {
            match message {
                SlowMsg::Tick => {
                    let Some(args) = args.take() else {
                        return Ok(());
                    };
                    start(
                        &myself,
                        &mut state.pass,
                        args,
                        |args: SlowArgs| async move {
                            let mut command = tokio::process::Command::new("sleep");
                            command.arg("60");
                            let mut process = OwnedProcess::spawn(command)
                                .map_err(|e| Panicked(e.to_string()))?;
                            let pid = process.child().id().unwrap_or(0);
                            let _ = args.started.send(pid);
                            tokio::time::sleep(Duration::from_secs(30)).await;
                            let _ = args.writes.send("written after the kill");
                            let _ = process.wait().await;
                            Ok(())
                        },
                        SlowMsg::Done,
                    );
                }
                SlowMsg::Done(result) => {
                    state.pass = None;
                    if let Err(error) = result {
                        tracing::warn!(%error, "slow pass failed");
                    }
                }
            }
            Ok(())
        }
    }

    #[tokio::test]
    async fn killing_a_stage_mid_pass_stops_its_task_and_its_processes() {
        let (writes, mut written) = mpsc::unbounded_channel();
        let (started, mut pids) = mpsc::unbounded_channel();
        let (actor, join) = Actor::spawn(None, SlowStage, SlowArgs { writes, started })
            .await
            .expect("spawn");
        let pid = tokio::time::timeout(Duration::from_secs(10), pids.recv())
            .await
            .expect("the pass started in time")
            .expect("a pid");
        assert!(alive(pid), "the pass's process runs");

        // kill() skips post_stop; only the dropped state can stop the pass.
        actor.kill();
        join.await.expect("the actor ended");

        // The pass's sender is dropped with its aborted future: the channel
        // closes with no write, without waiting out the pass's 30 s.
        let after = tokio::time::timeout(Duration::from_secs(10), written.recv())
            .await
            .expect("the pass was aborted, not left running");
        assert_eq!(after, None, "no write after the kill");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while alive(pid) && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(!alive(pid), "no live process after the kill");
    }
}

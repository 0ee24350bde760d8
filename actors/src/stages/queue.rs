//! The debounce queue actor: collects changed signatures from ingest and hands
//! them on as batches (see [`crate::domain::debounce`] for the rule).
//!
//! The pending set is durable without any write here: ingest merges each
//! changed signature into the store's `pending` tree in the same group commit
//! as the event, so after a kill -9 the batch is restored from disk and handed
//! on after restart. Handing on records the batch in the `batches` tree and
//! removes exactly the pending entries it took.

use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde::Serialize;
use tokio::time::Instant;

use crate::clock::now_ms;
use crate::config::QueueConfig;
use crate::domain::debounce::Debouncer;
use crate::store::{BatchRecord, HandoffReason, Store};

/// Messages the queue takes.
pub enum QueueMsg {
    /// Signatures whose events were just made durable.
    Changed(Vec<String>),
    /// The armed timer fired; hand on if due.
    Tick,
    /// A snapshot for `suture status`.
    Status(RpcReplyPort<QueueStatus>),
    /// Panics inside the handler: lets tests prove supervision works.
    #[doc(hidden)]
    InjectPanic,
}

/// What `suture status` shows of the queue.
#[derive(Debug, Clone, Default, Serialize)]
pub struct QueueStatus {
    /// Distinct signatures in the pending batch.
    pub pending_signatures: usize,
    /// Milliseconds since the pending batch's first change.
    pub pending_age_ms: Option<u64>,
    /// Milliseconds until the pending batch is handed on.
    pub due_in_ms: Option<u64>,
    /// Batches handed on since this process started.
    pub batches_handed: u64,
    pub last_batch: Option<BatchRecord>,
}

/// The queue actor. Its arguments are its configuration and the store.
pub struct QueueActor;

pub struct QueueArgs {
    pub config: QueueConfig,
    pub store: Store,
}

pub struct QueueState {
    store: Store,
    debouncer: Debouncer,
    /// When the outstanding timer fires; at most one timer is armed.
    armed_for: Option<Instant>,
    batches_handed: u64,
    last_batch: Option<BatchRecord>,
}

impl Actor for QueueActor {
    type Msg = QueueMsg;
    type State = QueueState;
    type Arguments = QueueArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: QueueArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let mut debouncer = Debouncer::new(&args.config);
        let pending = args.store.pending()?;
        if let Some(oldest_ms) = pending.iter().map(|(_, e)| e.first_change_ms).min() {
            let now = Instant::now();
            let age = u64::try_from(now_ms().saturating_sub(oldest_ms)).unwrap_or(0);
            let first = now.checked_sub(Duration::from_millis(age)).unwrap_or(now);
            tracing::info!(
                signatures = pending.len(),
                age_ms = age,
                "restored a pending batch from the store"
            );
            debouncer.restore(pending.into_iter().map(|(id, _)| id), first, now);
        }
        Ok(QueueState {
            last_batch: args.store.last_batch()?,
            store: args.store,
            debouncer,
            armed_for: None,
            batches_handed: 0,
        })
    }

    async fn post_start(
        &self,
        myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        arm(&myself, state);
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            QueueMsg::Changed(signatures) => {
                state.debouncer.record(signatures, Instant::now());
                if let Some(HandoffReason::MaxBatch) = state.debouncer.due(Instant::now()) {
                    hand_on(state, HandoffReason::MaxBatch).await?;
                }
                arm(&myself, state);
            }
            QueueMsg::Tick => {
                state.armed_for = None;
                if let Some(reason) = state.debouncer.due(Instant::now()) {
                    hand_on(state, reason).await?;
                }
                arm(&myself, state);
            }
            QueueMsg::Status(reply) => {
                let _ = reply.send(status(state));
            }
            QueueMsg::InjectPanic => panic!("injected panic in the queue actor"),
        }
        metrics::gauge!("suture_queue_pending_signatures").set(state.debouncer.len() as f64);
        Ok(())
    }
}

/// Arms one timer for the batch's deadline, unless one is armed already for
/// no later than that (an early timer just re-arms when it fires).
fn arm(myself: &ActorRef<QueueMsg>, state: &mut QueueState) {
    let Some(deadline) = state.debouncer.deadline() else {
        return;
    };
    if state.armed_for.is_some_and(|armed| armed <= deadline) {
        return;
    }
    state.armed_for = Some(deadline);
    let delay = deadline.saturating_duration_since(Instant::now());
    myself.send_after(delay, || QueueMsg::Tick);
}

async fn hand_on(state: &mut QueueState, reason: HandoffReason) -> Result<(), ActorProcessingErr> {
    let batch = state.store.take_pending_batch(reason, now_ms())?;
    state.store.flush().await?;
    state.debouncer.clear();
    if let Some(batch) = batch {
        let events: u64 = batch.entries.iter().map(|e| e.events).sum();
        tracing::info!(
            seq = batch.seq,
            ?reason,
            signatures = batch.entries.len(),
            events,
            "handed on a batch"
        );
        metrics::counter!("suture_queue_batches_total", "reason" => reason_label(reason))
            .increment(1);
        state.batches_handed += 1;
        state.last_batch = Some(batch);
    }
    Ok(())
}

fn reason_label(reason: HandoffReason) -> &'static str {
    match reason {
        HandoffReason::Debounce => "debounce",
        HandoffReason::MaxWait => "max_wait",
        HandoffReason::MaxBatch => "max_batch",
    }
}

fn status(state: &QueueState) -> QueueStatus {
    let now = Instant::now();
    QueueStatus {
        pending_signatures: state.debouncer.len(),
        pending_age_ms: state
            .debouncer
            .first_change()
            .map(|first| now.saturating_duration_since(first).as_millis() as u64),
        due_in_ms: state
            .debouncer
            .deadline()
            .map(|d| d.saturating_duration_since(now).as_millis() as u64),
        batches_handed: state.batches_handed,
        last_batch: state.last_batch.clone(),
    }
}

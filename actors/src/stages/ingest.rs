//! Ingest: the bounded edge and the single writer behind it.
//!
//! Servers hand signed events to an [`IngestSender`], a bounded channel: when
//! it is full they answer 429 (HTTP) or drop and count (UDP), because the
//! actor mailboxes behind it are unbounded. It is bounded twice, in events
//! (`ingest.queue_capacity`) and in bytes (`ingest.queue_bytes`, each
//! event's JSON size): either alone lets the other grow, 20,000 events of
//! 1 MiB being 20 GiB. The [`IngestActor`] drains the
//! channel in groups: it writes a whole group, makes it durable with one
//! flush, and only then acknowledges every submission in it (group commit).
//! The flush runs as a spawned task, so the actor stays responsive while the
//! disk syncs; the next group is taken only once that flush is done (at most
//! one in flight, acknowledgements in order), so everything that arrived
//! meanwhile shares the next flush: the group size adapts to the disk.
//!
//! The channel's receiver outlives any one actor instance: a restarted
//! ingest actor picks up where the failed one stopped. Submissions that were
//! in the failed group are never acknowledged; their senders see an error and
//! answer 503, so nothing acknowledged is lost.
//!
//! Each group commit also writes the log templates learned since the last
//! one, before the group's events and under the same flush: the events were
//! signed (and their templates learned) before they entered the channel, so
//! an acknowledged event's template is always on disk with it, and a
//! restart signs the same line the same way. A leaf counts as saved only
//! once its flush succeeded.
//!
//! Session counts ride the group commits too (see [`crate::stages::traffic`]):
//! the servers add them to the channel's [`TrafficBuffer`] and each group
//! writes what is pending under its flush; when no events come for
//! [`crate::stages::traffic::MAX_WAIT`], an idle drain commits them alone.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::clock::now_ms;
use crate::domain::template::{SavedLeaf, TemplateSet};
use crate::runtime::slot::ActorSlot;
use crate::stages::queue::QueueMsg;
use crate::stages::traffic::TrafficBuffer;
use crate::store::{DeployRecord, RecordCache, SignedEvent, Store, TrafficRecord};
use crate::telemetry::Stats;

/// How long an idle drain waits before yielding to the mailbox, so status
/// requests and shutdown are served promptly when no events arrive.
const IDLE_POLL: Duration = Duration::from_millis(100);

/// Whether a submission was made durable.
pub type Ack = Result<(), IngestError>;

/// Why a submission was not stored.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum IngestError {
    #[error("the store failed to write: {0}")]
    Store(String),
}

/// The events of one request (or one burst of datagrams).
pub struct Submission {
    pub events: Vec<SignedEvent>,
    /// Told once the events are on disk; `None` for fire-and-forget (UDP).
    pub ack: Option<oneshot::Sender<Ack>>,
    /// When it entered the queue, for the queue-wait histogram.
    pub queued_at: Instant,
    /// What its events count against `ingest.queue_bytes`.
    pub bytes: usize,
}

/// Why a submission was refused at the edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    #[error("the ingest queue is full")]
    Full,
    #[error("the ingest queue holds its limit of {limit} bytes of events")]
    FullBytes { limit: usize },
    #[error("ingest is shutting down")]
    Closed,
}

/// The servers' side of the bounded ingest channel. The bound is in events,
/// not submissions: a burst of datagrams or a batch request counts for every
/// event it holds, so memory stays bounded whatever the mix.
#[derive(Clone)]
pub struct IngestSender {
    tx: mpsc::Sender<Submission>,
    queued: Arc<AtomicUsize>,
    capacity: usize,
    queued_bytes: Arc<AtomicUsize>,
    byte_capacity: usize,
    traffic: Arc<TrafficBuffer>,
}

/// The actor's side; shared so a restarted actor takes over the same channel.
#[derive(Clone)]
pub struct IngestInbox {
    rx: Arc<Mutex<mpsc::Receiver<Submission>>>,
    queued: Arc<AtomicUsize>,
    queued_bytes: Arc<AtomicUsize>,
    traffic: Arc<TrafficBuffer>,
}

/// Makes the bounded channel between the servers and the writer, holding at
/// most `capacity` events and `byte_capacity` bytes of them.
pub fn channel(capacity: usize, byte_capacity: usize) -> (IngestSender, IngestInbox) {
    let capacity = capacity.max(1);
    let (tx, rx) = mpsc::channel(capacity);
    let queued = Arc::new(AtomicUsize::new(0));
    let queued_bytes = Arc::new(AtomicUsize::new(0));
    let traffic = Arc::new(TrafficBuffer::default());
    (
        IngestSender {
            tx,
            queued: queued.clone(),
            capacity,
            queued_bytes: queued_bytes.clone(),
            byte_capacity: byte_capacity.max(1),
            traffic: traffic.clone(),
        },
        IngestInbox {
            rx: Arc::new(Mutex::new(rx)),
            queued,
            queued_bytes,
            traffic,
        },
    )
}

impl IngestSender {
    /// Queues events and returns where their acknowledgement will arrive.
    pub fn submit(&self, events: Vec<SignedEvent>) -> Result<oneshot::Receiver<Ack>, SubmitError> {
        let (ack, done) = oneshot::channel();
        self.try_send(Submission {
            bytes: queued_size(&events),
            events,
            ack: Some(ack),
            queued_at: Instant::now(),
        })?;
        Ok(done)
    }

    /// Queues events nobody waits for (datagrams).
    pub fn submit_unacked(&self, events: Vec<SignedEvent>) -> Result<(), SubmitError> {
        self.try_send(Submission {
            bytes: queued_size(&events),
            events,
            ack: None,
            queued_at: Instant::now(),
        })
    }

    fn try_send(&self, submission: Submission) -> Result<(), SubmitError> {
        let (n, bytes) = (submission.events.len(), submission.bytes);
        if !reserve(&self.queued, n, self.capacity) {
            return Err(SubmitError::Full);
        }
        if !reserve(&self.queued_bytes, bytes, self.byte_capacity) {
            self.queued.fetch_sub(n, Ordering::AcqRel);
            return Err(SubmitError::FullBytes {
                limit: self.byte_capacity,
            });
        }
        self.tx.try_send(submission).map_err(|e| {
            self.queued.fetch_sub(n, Ordering::AcqRel);
            self.queued_bytes.fetch_sub(bytes, Ordering::AcqRel);
            match e {
                mpsc::error::TrySendError::Full(_) => SubmitError::Full,
                mpsc::error::TrySendError::Closed(_) => SubmitError::Closed,
            }
        })
    }

    /// Adds session counts, (start in epoch ms, count) pairs, to be
    /// written with the next group commit. Not acknowledged: a count is a
    /// denominator, and the next commit takes it within [`crate::stages::traffic::MAX_WAIT`].
    pub fn add_sessions(&self, sessions: impl IntoIterator<Item = (i64, u64)>) {
        self.traffic.add(sessions);
    }

    /// Events waiting for the writer.
    pub fn depth(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// Most events that may wait.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Bytes of events waiting for the writer.
    pub fn depth_bytes(&self) -> usize {
        self.queued_bytes.load(Ordering::Relaxed)
    }

    /// Most bytes of events that may wait.
    pub fn byte_capacity(&self) -> usize {
        self.byte_capacity
    }
}

/// Takes `n` more of `limit` on `counter`. An oversized submission is still
/// taken when nothing waits, so a large batch can never be refused forever.
fn reserve(counter: &AtomicUsize, n: usize, limit: usize) -> bool {
    counter
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |queued| {
            (queued == 0 || queued.saturating_add(n) <= limit).then_some(queued.saturating_add(n))
        })
        .is_ok()
}

/// What events count against `ingest.queue_bytes`: their JSON size (the
/// form the writer stores them in), plus their signatures. Within a small
/// factor of the memory the parsed events hold, whatever their shape, and
/// cheap next to parsing them: a serialization into a counter, no buffer.
pub fn queued_size(events: &[SignedEvent]) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    events
        .iter()
        .map(|signed| {
            let mut count = Count(0);
            // Writing to a counter cannot fail; an event that cannot be
            // serialized counts what was written before the error.
            let _ = serde_json::to_writer(&mut count, &signed.event);
            let signature = &signed.signature;
            count.0
                + signature.id.len()
                + signature.title.len()
                + signature.culprit.as_ref().map_or(0, String::len)
        })
        .sum()
}

/// Messages the ingest actor takes.
pub enum IngestMsg {
    /// Take the next group from the channel (the actor sends this to itself).
    Drain,
    /// Store a deploy marker durably; replies with the stored deploy (an
    /// earlier one when it is the same deploy).
    RecordDeploy(
        DeployRecord,
        RpcReplyPort<Result<DeployRecord, IngestError>>,
    ),
    /// Store served requests durably (the gate's exposure).
    RecordTraffic(TrafficRecord, RpcReplyPort<Result<(), IngestError>>),
    /// Stop taking submissions, commit what is queued, then stop.
    Shutdown(RpcReplyPort<()>),
    /// Panics inside the handler: lets tests prove supervision works.
    #[doc(hidden)]
    InjectPanic,
}

pub struct IngestActor;

pub struct IngestArgs {
    pub store: Store,
    pub inbox: IngestInbox,
    pub queue: ActorSlot<QueueMsg>,
    /// Most events taken into one group commit (a larger single submission
    /// still goes whole).
    pub max_group: usize,
    pub stats: Arc<Stats>,
    /// The signer's log templates (`None` when off): saved with each group.
    pub templates: Option<Arc<TemplateSet>>,
}

pub struct IngestState {
    args: IngestArgs,
    cache: RecordCache,
    /// The flush (and acknowledgement) of the previous group.
    in_flight: Option<JoinHandle<()>>,
    /// Ids stored within the dedup window (see [`crate::stages::dedup`]).
    recent: std::sync::Arc<crate::stages::dedup::RecentIds>,
    /// Whether the operator was told that the templates are full.
    templates_full_told: bool,
}

impl Actor for IngestActor {
    type Msg = IngestMsg;
    type State = IngestState;
    type Arguments = IngestArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: IngestArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(IngestState {
            args,
            cache: RecordCache::default(),
            in_flight: None,
            recent: std::sync::Arc::default(),
            templates_full_told: false,
        })
    }

    async fn post_start(
        &self,
        myself: ActorRef<Self::Msg>,
        _state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        myself.cast(IngestMsg::Drain)?;
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            IngestMsg::Drain => {
                if drain_once(state, Some(IDLE_POLL)).await {
                    myself.cast(IngestMsg::Drain)?;
                }
            }
            IngestMsg::RecordDeploy(deploy, reply) => {
                let result = record_deploy(&state.args.store, &deploy).await;
                let _ = reply.send(result);
            }
            IngestMsg::RecordTraffic(traffic, reply) => {
                let store = &state.args.store;
                let result = match store.record_traffic(&traffic) {
                    Ok(()) => store.flush().await.map(|_| ()),
                    Err(e) => Err(e),
                };
                let _ = reply.send(result.map_err(|e| IngestError::Store(e.to_string())));
            }
            IngestMsg::Shutdown(reply) => {
                state.args.inbox.rx.lock().await.close();
                while drain_once(state, None).await {}
                if let Some(flush) = state.in_flight.take() {
                    let _ = flush.await;
                }
                // Session counts that came after the last group.
                commit_group(state, Vec::new()).await;
                if let Some(flush) = state.in_flight.take() {
                    let _ = flush.await;
                }
                let _ = reply.send(());
                myself.stop(Some("shutdown".into()));
            }
            IngestMsg::InjectPanic => panic!("injected panic in the ingest actor"),
        }
        Ok(())
    }
}

async fn record_deploy(store: &Store, deploy: &DeployRecord) -> Result<DeployRecord, IngestError> {
    let stored = store
        .record_deploy(deploy)
        .map_err(|e| IngestError::Store(e.to_string()))?;
    store
        .flush()
        .await
        .map_err(|e| IngestError::Store(e.to_string()))?;
    Ok(stored)
}

/// Takes one group from the channel and commits it. Waits at most `idle`
/// for the first submission (`None`: do not wait). Returns false once the
/// channel is closed and empty.
async fn drain_once(state: &mut IngestState, idle: Option<Duration>) -> bool {
    // Wait for the previous group's flush before taking the next group:
    // whatever arrives meanwhile joins the next group, so flushes (and their
    // system calls and wake-ups) grow with load instead of multiplying.
    if let Some(previous) = state.in_flight.take() {
        let _ = previous.await;
    }
    let args = &state.args;
    let mut group = Vec::new();
    let mut events = 0;
    let mut bytes = 0;
    {
        let mut rx = args.inbox.rx.lock().await;
        let first = match idle {
            Some(idle) => match tokio::time::timeout(idle, rx.recv()).await {
                Ok(first) => first,
                Err(_) => {
                    drop(rx);
                    if args.inbox.traffic.due() {
                        // No events to ride with: the counts go alone.
                        commit_group(state, Vec::new()).await;
                    }
                    return true;
                }
            },
            None => match rx.try_recv() {
                Ok(first) => Some(first),
                Err(mpsc::error::TryRecvError::Empty) => return true,
                Err(mpsc::error::TryRecvError::Disconnected) => None,
            },
        };
        let Some(first) = first else {
            return false;
        };
        events += first.events.len();
        bytes += first.bytes;
        group.push(first);
        while events < args.max_group {
            match rx.try_recv() {
                Ok(next) => {
                    events += next.events.len();
                    bytes += next.bytes;
                    group.push(next);
                }
                Err(_) => break,
            }
        }
    }
    args.inbox.queued.fetch_sub(events, Ordering::AcqRel);
    args.inbox.queued_bytes.fetch_sub(bytes, Ordering::AcqRel);
    commit_group(state, group).await;
    true
}

/// Writes a group, with the session counts pending, then hands its flush
/// and acknowledgements to a task.
async fn commit_group(state: &mut IngestState, group: Vec<Submission>) {
    let sessions = state.args.inbox.traffic.take();
    if group.is_empty() && sessions.is_empty() {
        return;
    }
    let started = Instant::now();
    let mut acks = Vec::with_capacity(group.len());
    let mut events = Vec::new();
    let queue_wait = metrics::histogram!("suture_ingest_wait_seconds");
    for submission in group {
        queue_wait.record(started.duration_since(submission.queued_at).as_secs_f64());
        events.extend(submission.events);
        acks.extend(submission.ack);
    }
    let now = now_ms();
    let events = without_duplicates(events, &state.recent, now);
    metrics::histogram!("suture_commit_batch_events").record(events.len() as f64);
    // Taken after the group left the channel, so it holds every template
    // these events were signed with (or an earlier commit saved it).
    let templates = unsaved_templates(state);
    let store = &state.args.store;
    let written = store
        .write_templates(&templates)
        .and_then(|()| {
            sessions
                .iter()
                .try_for_each(|record| store.record_traffic(record))
        })
        .and_then(|()| store.commit(&events, now, &mut state.cache));
    metrics::histogram!("suture_commit_write_seconds").record(started.elapsed().as_secs_f64());
    let summary = match written {
        Ok(summary) => summary,
        Err(error) => {
            state.args.store.note_write_failure(&error);
            state.args.inbox.traffic.put_back(&sessions);
            // The cache may hold updates that did not reach the tree.
            state.cache = RecordCache::default();
            fail(acks, events.len(), &error.to_string());
            return;
        }
    };
    let store = state.args.store.clone();
    let stats = state.args.stats.clone();
    let queue = state.args.queue.clone();
    let recent = state.recent.clone();
    let template_set = state.args.templates.clone();
    let traffic = state.args.inbox.traffic.clone();
    state.in_flight = Some(tokio::spawn(async move {
        let flush_started = Instant::now();
        if let Err(error) = store.flush().await {
            traffic.put_back(&sessions);
            fail(acks, events.len(), &error.to_string());
            return;
        }
        let counted: u64 = sessions.iter().map(|r| r.requests).sum();
        metrics::counter!("suture_sentry_sessions_total").increment(counted);
        if let Some(set) = template_set {
            set.saved(&templates);
            metrics::counter!("suture_log_template_leaves_saved_total")
                .increment(templates.len() as u64);
        }
        recent.insert(events.iter().map(|s| s.event.id.as_str()), now_ms());
        metrics::histogram!("suture_commit_flush_seconds")
            .record(flush_started.elapsed().as_secs_f64());
        count_accepted(&stats, &events);
        for ack in acks {
            let _ = ack.send(Ok(()));
        }
        let changed: Vec<String> = summary.changed.into_iter().map(|(id, _)| id).collect();
        if changed.is_empty() {
            return;
        }
        if !queue.cast(QueueMsg::Changed(changed)) {
            // The queue is restarting; it restores the pending set from the store.
            tracing::debug!("queue unavailable; its restart restores pending changes");
        }
    }));
}

/// The template leaves not saved yet (none when templates are off), and
/// the templates' gauges; tells the operator once when the set is full.
fn unsaved_templates(state: &mut IngestState) -> Vec<SavedLeaf> {
    let Some(set) = &state.args.templates else {
        return Vec::new();
    };
    metrics::gauge!("suture_log_templates").set(set.len() as f64);
    let fallbacks = set.fallbacks();
    metrics::counter!("suture_log_template_fallbacks_total").absolute(fallbacks);
    if fallbacks > 0 && !state.templates_full_told {
        state.templates_full_told = true;
        tracing::warn!(
            templates = set.len(),
            bytes = set.bytes(),
            "the log templates are full (signature.max_templates or signature.template_memory_mb): new kinds of message-only line are grouped by their masked message"
        );
    }
    set.unsaved()
}

/// The events whose id was not stored within the dedup window, nor seen
/// earlier in this group: a client's retry after a timed-out acknowledgement
/// is acknowledged again, not counted twice.
fn without_duplicates(
    events: Vec<SignedEvent>,
    recent: &crate::stages::dedup::RecentIds,
    now_ms: i64,
) -> Vec<SignedEvent> {
    let mut in_group = std::collections::HashSet::new();
    let before = events.len();
    let kept: Vec<SignedEvent> = events
        .into_iter()
        .filter(|s| {
            let id = s.event.id.as_str();
            !recent.contains(id, now_ms) && in_group.insert(id.to_string())
        })
        .collect();
    let dropped = before - kept.len();
    if dropped > 0 {
        metrics::counter!("suture_ingest_duplicates_total").increment(dropped as u64);
    }
    kept
}

/// Tells every waiting request that its events were not stored.
fn fail(acks: Vec<oneshot::Sender<Ack>>, events: usize, error: &str) {
    tracing::error!(%error, events, "group commit failed");
    metrics::counter!("suture_commit_failures_total").increment(1);
    let error = IngestError::Store(error.to_string());
    for ack in acks {
        let _ = ack.send(Err(error.clone()));
    }
}

/// Counts durably stored events by where they came from.
fn count_accepted(stats: &Stats, events: &[SignedEvent]) {
    let mut by_source: HashMap<&str, u64> = HashMap::new();
    for signed in events {
        *by_source.entry(signed.event.source.as_str()).or_default() += 1;
    }
    for (source, n) in by_source {
        stats.accepted(source, n);
    }
}

//! Starting and stopping the engine, and the typed handle the servers keep.

use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorRef};
use tokio::task::JoinHandle;

use crate::analyzer::actor::{AnalyzerMsg, AnalyzerStatus};
use crate::config::EngineConfig;
use crate::event::Event;
use crate::gate::actor::{GateMsg, GateStatus};
use crate::ingest::{self, IngestError, IngestMsg, IngestSender};
use crate::queue::{QueueMsg, QueueStatus};
use crate::signature::{SignatureConfigError, Signer};
use crate::slot::ActorSlot;
use crate::stats::Stats;
use crate::store::{DeployRecord, SignedEvent, Store, StoreError, TrafficRecord};
use crate::supervisor::{Child, RootArgs, RootMsg, RootSupervisor, SupervisionStatus};
use crate::triage::actor::{TriageMsg, TriageStatus};

/// Longest a status query waits for an actor.
const QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// Longest a durable write (deploy marker, traffic) waits for the writer:
/// it includes an fsync, which takes seconds when the disk is busy. The
/// same bound as `server.ack_timeout`'s default for events.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the engine could not start or answer.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("invalid [signature] configuration: {0}")]
    Signature(#[from] SignatureConfigError),
    #[error("the actor tree failed to start: {0}")]
    Spawn(String),
    #[error("{0} is restarting; try again")]
    Unavailable(&'static str),
    #[error("{0} did not answer within {1:?}; try again")]
    Slow(&'static str, Duration),
    #[error(transparent)]
    Ingest(#[from] IngestError),
    #[error("invalid [scrub] configuration: {0}")]
    Scrub(#[from] crate::scrub::ScrubError),
    #[error(transparent)]
    Llm(#[from] crate::llm::client::LlmConfigError),
    #[error("invalid prompt: {0}")]
    Prompt(#[from] crate::llm::prompt::PromptError),
    #[error("invalid [repo] configuration: {0}")]
    Repo(#[from] crate::repo::RepoError),
    #[error(transparent)]
    GitHub(#[from] crate::github::GitHubConfigError),
}

/// The running engine. Drop it only after [`Engine::shutdown`].
pub struct Engine {
    handle: EngineHandle,
    root_join: JoinHandle<()>,
}

/// What the servers keep: the edge channel, the signer, read access to the
/// store, and the actors' current references. One `Arc` inside: request
/// handlers clone it per request, and cloning a dozen shared handles showed
/// up in the ingest profile.
#[derive(Clone)]
pub struct EngineHandle {
    inner: Arc<HandleParts>,
}

struct HandleParts {
    ingest: IngestSender,
    signer: Arc<Signer>,
    store: Store,
    root: ActorRef<RootMsg>,
    queue: ActorSlot<QueueMsg>,
    ingest_actor: ActorSlot<IngestMsg>,
    gate: ActorSlot<GateMsg>,
    analyzer: ActorSlot<AnalyzerMsg>,
    triage: ActorSlot<TriageMsg>,
    config: Arc<EngineConfig>,
    stats: Arc<Stats>,
    llm: Arc<LlmParts>,
}

pub use crate::llm::LlmParts;

/// Says at start what the ticket stages will and will not do.
fn announce_outputs(config: &EngineConfig, repo: bool, github: bool) {
    if !repo {
        tracing::info!(
            "no repository configured (repo.path is empty): triage cannot read deploy diffs and marks deploy-attributed tickets unsure"
        );
    }
    match (config.tickets.shadow, github) {
        (true, true) => tracing::info!(
            "shadow mode (tickets.shadow): tickets are decided and stored; no GitHub issue is opened"
        ),
        (true, false) => {
            tracing::info!("shadow mode (tickets.shadow): tickets are decided and stored only")
        }
        (false, true) => {
            tracing::info!(repo = %config.github.repo, "tickets are published as GitHub issues")
        }
        (false, false) => {}
    }
}

/// Builds the LLM stages' parts from `[llm]` and `[scrub]`.
fn build_llm_parts(config: &EngineConfig) -> Result<LlmParts, EngineError> {
    use crate::llm::prompt::{PromptKind, Template};
    let scrubber = Arc::new(crate::scrub::Scrubber::new(&config.scrub)?);
    let client = crate::llm::LlmClient::new(&config.llm, scrubber.clone())?;
    let analyzer_prompt = Template::load(PromptKind::Analyzer, &config.llm.analyzer_prompt)?;
    let triage_prompt = Template::load(PromptKind::Triage, &config.llm.triage_prompt)?;
    if client.is_configured() {
        tracing::info!(base_url = %config.llm.base_url, model = %config.llm.model, "LLM configured");
    } else {
        tracing::info!(
            "no LLM configured (llm.base_url and llm.model are empty): grouping and triage take their deterministic path"
        );
    }
    Ok(LlmParts {
        client,
        scrubber,
        analyzer_prompt,
        triage_prompt,
    })
}

impl Engine {
    /// Opens the store, compiles the signature masks and starts the actor tree.
    pub async fn start(config: EngineConfig) -> Result<Self, EngineError> {
        let signer = Arc::new(Signer::new(&config.signature)?);
        let llm = Arc::new(build_llm_parts(&config)?);
        let store = Store::open(&config.store)?;
        crate::llm::restore_state(&llm.client, &store);
        let repo = crate::repo::Repo::open(&config.repo).await?;
        let github = crate::github::GitHub::new(&config.github)?;
        if let Some(github) = &github {
            let key = store.installation_key(|| {
                crate::github::MarkerKey::generate()
                    .ok()
                    .map(|k| k.to_vec())
            })?;
            match key {
                Some(key) => github.set_marker_key(crate::github::MarkerKey::from_bytes(&key)),
                None => tracing::warn!(
                    "no installation key (the system's random source failed): GitHub markers change at each restart"
                ),
            }
        }
        announce_outputs(&config, repo.is_some(), github.is_some());
        let (sender, inbox) = ingest::channel(config.ingest.queue_capacity);
        let queue = ActorSlot::default();
        let ingest_actor = ActorSlot::default();
        let gate = ActorSlot::default();
        let analyzer = ActorSlot::default();
        let triage = ActorSlot::default();
        let stats = Arc::new(Stats::default());
        let args = RootArgs {
            config: config.clone(),
            store: store.clone(),
            inbox,
            queue: queue.clone(),
            ingest: ingest_actor.clone(),
            gate: gate.clone(),
            analyzer: analyzer.clone(),
            triage: triage.clone(),
            stats: stats.clone(),
            llm: llm.clone(),
            repo,
            github,
        };
        let (root, root_join) = Actor::spawn(None, RootSupervisor, args)
            .await
            .map_err(|e| EngineError::Spawn(e.to_string()))?;
        Ok(Self {
            handle: EngineHandle {
                inner: Arc::new(HandleParts {
                    ingest: sender,
                    signer,
                    store,
                    root,
                    queue,
                    ingest_actor,
                    gate,
                    analyzer,
                    triage,
                    config: Arc::new(config),
                    stats,
                    llm,
                }),
            },
            root_join,
        })
    }

    pub fn handle(&self) -> EngineHandle {
        self.handle.clone()
    }

    /// Stops in order (ingest drains and commits what it accepted, then the
    /// queue), flushes, and waits for the tree to stop.
    pub async fn shutdown(self) {
        let _ = self
            .handle
            .inner
            .root
            .call(RootMsg::Shutdown, Some(Duration::from_secs(60)))
            .await;
        let _ = self.root_join.await;
    }

    /// Resolves when the actor tree stops by itself (an escalation).
    pub fn stopped(&mut self) -> &mut JoinHandle<()> {
        &mut self.root_join
    }
}

impl EngineHandle {
    /// Computes the signature of an event (pure; safe on any thread).
    pub fn sign(&self, event: Event) -> SignedEvent {
        let signature = self.inner.signer.sign(&event);
        SignedEvent { event, signature }
    }

    /// The bounded channel into the writer.
    pub fn ingest(&self) -> &IngestSender {
        &self.inner.ingest
    }

    /// Read access to the store. Writes go through the actors.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Accepted and rejected totals (the edges count their rejections here too).
    pub fn stats(&self) -> &Stats {
        &self.inner.stats
    }

    /// The LLM client, scrubber and prompts the later stages use.
    pub fn llm(&self) -> &LlmParts {
        &self.inner.llm
    }

    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// Stores a deploy marker durably, through the writer.
    pub async fn record_deploy(&self, deploy: DeployRecord) -> Result<DeployRecord, EngineError> {
        self.ask_writer(move |r| IngestMsg::RecordDeploy(deploy, r))
            .await
    }

    /// Stores served requests durably, through the writer: the regression
    /// gate's exposure (from `POST /v1/traffic` and Sentry sessions).
    pub async fn record_traffic(&self, traffic: TrafficRecord) -> Result<(), EngineError> {
        self.ask_writer(move |r| IngestMsg::RecordTraffic(traffic, r))
            .await
    }

    /// One durable write through the ingest actor (the only writer), and its answer.
    async fn ask_writer<T: Send + 'static>(
        &self,
        message: impl FnOnce(ractor::RpcReplyPort<Result<T, IngestError>>) -> IngestMsg,
    ) -> Result<T, EngineError> {
        let actor = self
            .inner
            .ingest_actor
            .get()
            .ok_or(EngineError::Unavailable("ingest"))?;
        let reply = actor
            .call(message, Some(WRITE_TIMEOUT))
            .await
            .map_err(|_| EngineError::Unavailable("ingest"))?;
        match reply {
            ractor::rpc::CallResult::Success(result) => result.map_err(Into::into),
            ractor::rpc::CallResult::Timeout => Err(EngineError::Slow("ingest", WRITE_TIMEOUT)),
            ractor::rpc::CallResult::SenderError => Err(EngineError::Unavailable("ingest")),
        }
    }

    /// The queue's state, or `None` while it restarts.
    pub async fn queue_status(&self) -> Option<QueueStatus> {
        let queue = self.inner.queue.get()?;
        match queue.call(QueueMsg::Status, Some(QUERY_TIMEOUT)).await {
            Ok(ractor::rpc::CallResult::Success(status)) => Some(status),
            _ => None,
        }
    }

    /// The gate's state, or `None` while it restarts.
    pub async fn gate_status(&self) -> Option<GateStatus> {
        let gate = self.inner.gate.get()?;
        match gate.call(GateMsg::Status, Some(QUERY_TIMEOUT)).await {
            Ok(ractor::rpc::CallResult::Success(status)) => Some(status),
            _ => None,
        }
    }

    /// The analyzer's state, or `None` while it restarts.
    pub async fn analyzer_status(&self) -> Option<AnalyzerStatus> {
        let actor = self.inner.analyzer.get()?;
        match actor.call(AnalyzerMsg::Status, Some(QUERY_TIMEOUT)).await {
            Ok(ractor::rpc::CallResult::Success(status)) => Some(status),
            _ => None,
        }
    }

    /// Triage's state, or `None` while it restarts.
    pub async fn triage_status(&self) -> Option<TriageStatus> {
        let actor = self.inner.triage.get()?;
        match actor.call(TriageMsg::Status, Some(QUERY_TIMEOUT)).await {
            Ok(ractor::rpc::CallResult::Success(status)) => Some(status),
            _ => None,
        }
    }

    /// Records an operator's label on a ticket's triage verdict.
    pub fn label_ticket(
        &self,
        id: &str,
        correct: bool,
        note: Option<String>,
    ) -> Result<crate::tickets::Ticket, crate::store::tickets::TicketUpdateError> {
        let note = note.map(|n| self.inner.llm.scrubber.scrub(&n).into_owned());
        let now = crate::clock::now_ms();
        let (ticket, ()) = self.inner.store.update_ticket(id, |t| {
            if t.disposition.is_none() {
                return Err(crate::store::tickets::TicketUpdateError::Refused(format!(
                    "ticket {id} has not been triaged yet; label it once it has a disposition"
                )));
            }
            t.label = Some(crate::tickets::Label {
                correct,
                note: note.clone(),
                at_ms: now,
            });
            t.audit(
                now,
                "operator",
                "label",
                format!(
                    "triage was {}{}",
                    if correct { "correct" } else { "wrong" },
                    note.as_deref()
                        .map(|n| format!(": {n}"))
                        .unwrap_or_default()
                ),
            );
            Ok(())
        })?;
        Ok(ticket)
    }

    /// An operator's state change (dismiss, escalate, resolve).
    pub fn move_ticket(
        &self,
        id: &str,
        to: crate::tickets::TicketState,
        reason: &str,
    ) -> Result<crate::tickets::Ticket, crate::store::tickets::TicketUpdateError> {
        let reason = self.inner.llm.scrubber.scrub(reason).into_owned();
        let now = crate::clock::now_ms();
        let (ticket, ()) = self.inner.store.update_ticket(id, |t| {
            t.transition(to, now, "operator", &reason)?;
            Ok(())
        })?;
        Ok(ticket)
    }

    /// Restart counts per child.
    pub async fn supervision_status(&self) -> Option<SupervisionStatus> {
        match self
            .inner
            .root
            .call(RootMsg::Status, Some(QUERY_TIMEOUT))
            .await
        {
            Ok(ractor::rpc::CallResult::Success(status)) => Some(status),
            _ => None,
        }
    }

    /// Whether every child is running and the store still acknowledges
    /// writes (for `/readyz`): after a failed sync it never will again
    /// until restarted, so "ready" would send traffic to a certain 503.
    pub fn ready(&self) -> bool {
        self.inner.store.sync_failure().is_none()
            && self.inner.queue.get().is_some()
            && self.inner.ingest_actor.get().is_some()
            && self.inner.gate.get().is_some()
            && self.inner.analyzer.get().is_some()
            && self.inner.triage.get().is_some()
    }

    /// Panics one child inside its handler. For failure tests; harmless in
    /// production, where nothing calls it.
    #[doc(hidden)]
    pub fn inject_panic(&self, child: Child) -> bool {
        match child {
            Child::Queue => self.inner.queue.cast(QueueMsg::InjectPanic),
            Child::Ingest => self.inner.ingest_actor.cast(IngestMsg::InjectPanic),
            Child::Gate => self.inner.gate.cast(GateMsg::InjectPanic),
            Child::Analyzer => self.inner.analyzer.cast(AnalyzerMsg::InjectPanic),
            Child::Triage => self.inner.triage.cast(TriageMsg::InjectPanic),
        }
    }
}

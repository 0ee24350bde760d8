//! Starting and stopping the engine, and the typed handle the servers keep.
//!
//! - [`children`]: the table of supervised children;
//! - [`supervisor`]: the root that starts, restarts and escalates.

pub mod children;
pub mod supervisor;

use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorRef, RpcReplyPort};
use serde_json::Value;
use tokio::task::JoinHandle;

use crate::clients::llm::LlmParts;
use crate::config::EngineConfig;
use crate::control::Control;
use crate::control::actor::ControlMsg;
use crate::domain::event::Event;
use crate::domain::signature::{SignatureConfigError, Signer};
use crate::domain::template::TemplateSet;
use crate::domain::tickets::{Ticket, TicketState};
use crate::runtime::slot::ActorSlot;
use crate::runtime::slots::Slots;
use crate::stages::analyzer::{AnalyzerMsg, AnalyzerStatus};
use crate::stages::gate::{GateMsg, GateStatus};
use crate::stages::ingest::{self, IngestError, IngestMsg, IngestSender};
use crate::stages::queue::{QueueMsg, QueueStatus};
use crate::stages::triage::{TriageMsg, TriageStatus};
use crate::store::tickets::TicketUpdateError;
use crate::store::{DeployRecord, SignedEvent, Store, StoreError, TrafficRecord};
use crate::telemetry::Stats;
use children::{ChildSpec, Deps, QUERY_TIMEOUT};
use supervisor::{RootArgs, RootMsg, RootSupervisor, SupervisionStatus};

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
    #[error("invalid [verify] configuration: {0}")]
    Verify(String),
    #[error("refused: {0}")]
    Deploy(String),
    #[error("{0} is restarting; try again")]
    Unavailable(&'static str),
    #[error("{0} did not answer within {1:?}; try again")]
    Slow(&'static str, Duration),
    #[error(transparent)]
    Ingest(#[from] IngestError),
    #[error("invalid [scrub] configuration: {0}")]
    Scrub(#[from] crate::domain::scrub::ScrubError),
    #[error(transparent)]
    Llm(#[from] crate::clients::llm::LlmConfigError),
    #[error("invalid prompt: {0}")]
    Prompt(#[from] crate::domain::llm::prompt::PromptError),
    #[error("invalid [repo] configuration: {0}")]
    Repo(#[from] crate::clients::git::RepoError),
    #[error(transparent)]
    GitHub(#[from] crate::clients::github::GitHubConfigError),
    #[error(transparent)]
    Agent(#[from] crate::domain::coder::config::AgentConfigError),
    #[error("invalid configuration: {0}")]
    Guardrails(#[from] crate::domain::coder::guardrails::GlobError),
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
    slots: Slots,
    children: Arc<[Arc<dyn ChildSpec>]>,
    config: Arc<EngineConfig>,
    stats: Arc<Stats>,
    llm: Arc<LlmParts>,
    autonomy: crate::domain::control::Autonomy,
    /// The service's repository (`repo.path`), when configured: read-only
    /// views (the dashboard's deploy diffs) read it here.
    repo: Option<crate::clients::git::Repo>,
}

/// Why an operator command was not carried out.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Ticket(#[from] TicketUpdateError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Review(#[from] crate::stages::coder::review::ReviewError),
}

/// Why the autonomy level was not changed.
#[derive(Debug, thiserror::Error)]
pub enum AutonomyCommandError {
    #[error(transparent)]
    Refused(#[from] crate::control::AutonomyError),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// Why the kill switch was not flipped.
#[derive(Debug, thiserror::Error)]
pub enum KillSwitchCommandError {
    #[error(transparent)]
    Refused(#[from] crate::control::KillSwitchError),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// How long an approval may take: it pushes and opens a pull request.
const REVIEW_TIMEOUT: Duration = Duration::from_secs(120);

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

/// The log templates the store saved, when templates are on: the signer
/// must sign a line the way it did before the restart.
fn restore_templates(
    config: &EngineConfig,
    store: &Store,
) -> Result<Option<Arc<TemplateSet>>, EngineError> {
    let Some(template_config) = config.signature.template_config() else {
        return Ok(None);
    };
    let (templates, restored) = TemplateSet::restore(template_config, store.templates()?);
    if restored.skipped > 0 {
        tracing::warn!(
            skipped = restored.skipped,
            "stored log templates that did not fit their key were left out; their lines learn new templates"
        );
    }
    tracing::debug!(
        leaves = restored.leaves,
        templates = restored.templates,
        "log templates restored"
    );
    Ok(Some(Arc::new(templates)))
}

/// Builds the LLM stages' parts from `[llm]` and `[scrub]`.
fn build_llm_parts(config: &EngineConfig) -> Result<LlmParts, EngineError> {
    use crate::domain::llm::prompt::{PromptKind, Template};
    let scrubber = Arc::new(crate::domain::scrub::Scrubber::new(&config.scrub)?);
    let client = crate::clients::llm::LlmClient::new(&config.llm, scrubber.clone())?;
    let analyzer_prompt = Template::load(PromptKind::Analyzer, &config.llm.analyzer_prompt)?;
    let triage_prompt = Template::load(PromptKind::Triage, &config.llm.triage_prompt)?;
    let coder_prompt = Template::load(PromptKind::Coder, &config.llm.coder_prompt)?;
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
        coder_prompt,
    })
}

/// The autonomy `[autonomy]` asks for. Without a level: `pr` when
/// `tickets.shadow = false` (the old spelling), else `suggest` when an LLM
/// or an external agent can write fixes, else `observe`.
fn autonomy_from(config: &EngineConfig, llm: bool) -> crate::domain::control::AutonomySetting {
    use crate::domain::control::AutonomyLevel;
    let level = config.autonomy.level.unwrap_or(if !config.tickets.shadow {
        AutonomyLevel::Pr
    } else if llm || !config.agent.command.is_empty() {
        AutonomyLevel::Suggest
    } else {
        AutonomyLevel::Observe
    });
    crate::domain::control::AutonomySetting {
        level,
        by_severity: config.autonomy.by_severity.clone(),
        allow_deploy: config.autonomy.allow_deploy,
    }
}

/// Starts the webhook notifier of `[notify]` (nothing when no receiver is
/// configured) and hands it to the control state; its sends pass the
/// guard's notification check when they leave too.
fn with_notifier(control: Control, config: &EngineConfig) -> Result<Control, EngineError> {
    let gate = control.guard(true);
    let permit: crate::clients::notify::Permit =
        Arc::new(move |kind| gate.permit_notification(kind));
    let notifier = crate::clients::notify::Notifier::start(
        &config.notify,
        |name| std::env::var(name).ok(),
        permit,
    )
    .map_err(|e| EngineError::Spawn(format!("cannot start the notifier: {e}")))?;
    Ok(control.with_notify(Arc::new(move |n| notifier.send(n))))
}

impl Engine {
    /// Opens the store, compiles the signature masks, restores the log
    /// templates and starts the actor tree.
    pub async fn start(config: EngineConfig) -> Result<Self, EngineError> {
        let signer = Signer::new(&config.signature)?;
        config.agent.validate()?;
        config.verify.validate().map_err(EngineError::Verify)?;
        config
            .deploy
            .check(&config.autonomy)
            .map_err(EngineError::Deploy)?;
        if !config.agent.command.is_empty() {
            crate::stages::coder::external::ExternalAgent::from_config(&config.agent)
                .validate()
                .map_err(|message| crate::domain::coder::config::AgentConfigError {
                    key: "command",
                    message,
                })?;
            if config.agent.pass_llm_env
                && config.agent.network == crate::domain::coder::config::NetworkPolicy::None
            {
                tracing::warn!(
                    "agent.pass_llm_env is on but agent.network is \"none\": the external agent cannot reach the LLM unless it runs in the same network namespace; set agent.network = \"host\""
                );
            }
        }
        let guardrails = Arc::new(crate::domain::coder::guardrails::Guardrails::new(
            &config.agent.guardrails,
        )?);
        let llm = Arc::new(build_llm_parts(&config)?);
        let store = Store::open(&config.store)?;
        let templates = restore_templates(&config, &store)?;
        let signer = Arc::new(signer.with_templates(templates.clone()));
        let control = Control::new(store.clone(), llm.scrubber.clone())
            .with_autonomy(autonomy_from(&config, llm.client.is_configured()))
            .with_audit_config(config.audit.clone())
            .with_limits(&crate::domain::control::LimitsConfig {
                deploys_per_hour: config.deploy.max_per_hour,
                ..config.limits.clone()
            })
            .with_fatigue(
                config.autonomy.fatigue_rejections,
                config.autonomy.fatigue_window,
            );
        let control = with_notifier(control, &config)?;
        if let Some(saved) = control.restore_llm() {
            llm.client.restore(&saved);
        }
        llm.client.attach_halt(control.halt());
        {
            let guard = control.guard(true);
            llm.client
                .attach_notify(Arc::new(move |notification| guard.notify(notification)));
        }
        {
            let limits = control.guard(true).limits();
            llm.client.attach_rate_limit(Arc::new(move || {
                limits.llm_call().map_err(|l| l.retry_after)
            }));
        }
        let autonomy = control.autonomy();
        let repo = crate::clients::git::Repo::open(&config.repo).await?;
        let github = crate::clients::github::GitHub::new(&config.github)?;
        if let Some(github) = &github {
            let key = store.installation_key(|| {
                crate::clients::github::MarkerKey::generate()
                    .ok()
                    .map(|k| k.to_vec())
            })?;
            match key {
                Some(key) => {
                    github.set_marker_key(crate::clients::github::MarkerKey::from_bytes(&key))
                }
                None => tracing::warn!(
                    "no installation key (the system's random source failed): GitHub markers change at each restart"
                ),
            }
        }
        if let Some(github) = &github {
            let guard = control.guard(true);
            github.attach_notify(Arc::new(move |notification| guard.notify(notification)));
        }
        announce_outputs(&config, repo.is_some(), github.is_some());
        let (sender, inbox) =
            ingest::channel(config.ingest.queue_capacity, config.ingest.queue_bytes);
        let slots = Slots::default();
        let children: Arc<[Arc<dyn ChildSpec>]> = children::table(&slots).into();
        let stats = Arc::new(Stats::default());
        let args = RootArgs {
            deps: Deps {
                config: config.clone(),
                store: store.clone(),
                inbox,
                stats: stats.clone(),
                llm: llm.clone(),
                control,
                repo: repo.clone(),
                github,
                guardrails,
                slots: slots.clone(),
                templates,
            },
            children: children.clone(),
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
                    slots,
                    children,
                    config: Arc::new(config),
                    stats,
                    llm,
                    autonomy,
                    repo,
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

    /// The service's repository, when `repo.path` is configured.
    pub fn repo(&self) -> Option<&crate::clients::git::Repo> {
        self.inner.repo.as_ref()
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
        let result = ask(&self.slot::<IngestMsg>(), "ingest", message, WRITE_TIMEOUT).await?;
        result.map_err(Into::into)
    }

    /// One operator command through the control actor, answered once it
    /// is durable.
    async fn ask_control<T: Send + 'static>(
        &self,
        message: impl FnOnce(RpcReplyPort<T>) -> ControlMsg,
    ) -> Result<T, EngineError> {
        ask(
            &self.slot::<ControlMsg>(),
            "control",
            message,
            WRITE_TIMEOUT,
        )
        .await
    }

    /// Tells the coder to look at its queue now (a change may let held
    /// work go on).
    fn nudge_coder(&self) {
        self.slot::<crate::stages::coder::CoderMsg>()
            .cast(crate::stages::coder::CoderMsg::Nudge);
    }

    /// The slot of the child that takes messages of type `M`.
    pub fn slot<M: ractor::Message>(&self) -> ActorSlot<M> {
        self.inner.slots.of::<M>()
    }

    /// The queue's state, or `None` while it restarts.
    pub async fn queue_status(&self) -> Option<QueueStatus> {
        self.status(QueueMsg::Status).await
    }

    /// The gate's state, or `None` while it restarts.
    pub async fn gate_status(&self) -> Option<GateStatus> {
        self.status(GateMsg::Status).await
    }

    /// The analyzer's state, or `None` while it restarts.
    pub async fn analyzer_status(&self) -> Option<AnalyzerStatus> {
        self.status(AnalyzerMsg::Status).await
    }

    /// Triage's state, or `None` while it restarts.
    pub async fn triage_status(&self) -> Option<TriageStatus> {
        self.status(TriageMsg::Status).await
    }

    /// A child's status, or `None` while it restarts or does not answer.
    async fn status<M: ractor::Message, S: Send + 'static>(
        &self,
        message: fn(RpcReplyPort<S>) -> M,
    ) -> Option<S> {
        ask(&self.slot::<M>(), "status", message, QUERY_TIMEOUT)
            .await
            .ok()
    }

    /// Every child that has a status, by child name, as JSON (null while
    /// it restarts or does not answer).
    pub async fn children_status(&self) -> serde_json::Map<String, Value> {
        let mut out = serde_json::Map::new();
        for child in self.inner.children.iter().filter(|c| c.has_status()) {
            out.insert(
                child.name().to_string(),
                child.status().await.unwrap_or(Value::Null),
            );
        }
        out
    }

    /// The autonomy in force, and the operator's last change of it.
    pub fn autonomy(
        &self,
    ) -> Result<
        (
            crate::domain::control::AutonomySetting,
            Option<crate::domain::control::AutonomyRecord>,
        ),
        EngineError,
    > {
        let record = self.inner.store.autonomy()?;
        Ok((self.inner.autonomy.setting(), record))
    }

    /// Changes the base autonomy level (durable and in force when it
    /// returns); raising it lets held work go on.
    pub async fn set_autonomy(
        &self,
        level: crate::domain::control::AutonomyLevel,
        reason: &str,
        by: &crate::domain::control::Caller,
    ) -> Result<crate::domain::control::AutonomyRecord, AutonomyCommandError> {
        let (reason, by) = (reason.to_string(), by.clone());
        let message = move |reply| ControlMsg::SetAutonomy {
            level,
            reason,
            by,
            reply,
        };
        let record = self.ask_control(message).await??;
        self.nudge_coder();
        Ok(record)
    }

    /// Resets a signature's fix-loop breaker (durable when it returns);
    /// its tickets may get agents again.
    pub async fn reset_fix_loop(
        &self,
        signature: &str,
        reason: &str,
        by: &crate::domain::control::Caller,
    ) -> Result<crate::domain::control::FixLoop, EngineError> {
        let (signature, reason, by) = (signature.to_string(), reason.to_string(), by.clone());
        let message = move |reply| ControlMsg::ResetFixLoop {
            signature,
            reason,
            by,
            reply,
        };
        let was = self.ask_control(message).await??;
        self.nudge_coder();
        Ok(was)
    }

    /// Applies a GitHub webhook delivery (a fix's pull request merged,
    /// closed, reviewed), through the control actor; durable when it
    /// returns. A delivery id seen before changes nothing.
    pub async fn github_event(
        &self,
        delivery: &str,
        event: crate::domain::tickets::github_event::WebhookEvent,
    ) -> Result<crate::control::github_events::Applied, CommandError> {
        let delivery = delivery.to_string();
        let message = move |reply| ControlMsg::GitHubEvent {
            delivery,
            event,
            reply,
        };
        let applied = self.ask_control(message).await??;
        // A closed pull request may let the review queue move.
        self.nudge_coder();
        Ok(applied)
    }

    /// The kill switch as recorded.
    pub fn kill_switch(&self) -> Result<crate::domain::control::KillSwitch, EngineError> {
        Ok(self.inner.store.kill_switch()?)
    }

    /// Engages or disengages the kill switch. When this returns it is
    /// stored, in force for every LLM call and outside action, and the
    /// running agents have been killed (their processes with them; their
    /// tickets held in the queue). Disengaging lets the held work resume.
    pub async fn set_kill_switch(
        &self,
        engaged: bool,
        reason: &str,
        by: &crate::domain::control::Caller,
    ) -> Result<crate::domain::control::KillSwitch, KillSwitchCommandError> {
        use crate::stages::coder::CoderMsg;
        let (reason_text, by_text) = (reason.to_string(), by.clone());
        let message = move |reply| ControlMsg::SetKillSwitch {
            engaged,
            reason: reason_text,
            by: by_text,
            reply,
        };
        let switch = self.ask_control(message).await??;
        let coder = self.slot::<CoderMsg>();
        if engaged {
            // The flag already stops new work; this stops what runs.
            if let Err(e) = ask(&coder, "coder", CoderMsg::Halt, QUERY_TIMEOUT).await {
                tracing::error!(error = %e, "running agents were not stopped at once; they stop at their next step");
            }
        } else {
            coder.cast(CoderMsg::Nudge);
        }
        Ok(switch)
    }

    /// The coding agent's state, or `None` while it restarts.
    pub async fn coder_status(&self) -> Option<crate::stages::coder::CoderStatus> {
        self.status(crate::stages::coder::CoderMsg::Status).await
    }

    /// Approves the fix waiting in review on ticket `id`: it is pushed and
    /// opened as a draft pull request when Suture may act outside, else the
    /// answer says why not.
    pub async fn approve_fix(
        &self,
        id: &str,
        by: &crate::domain::control::Caller,
    ) -> Result<crate::stages::coder::review::ReviewOutcome, CommandError> {
        use crate::stages::coder::CoderMsg;
        let (ticket, by) = (id.to_string(), by.name.clone());
        let message = move |reply| CoderMsg::Approve { ticket, by, reply };
        Ok(ask(&self.slot::<CoderMsg>(), "coder", message, REVIEW_TIMEOUT).await??)
    }

    /// Rejects the fix waiting in review on ticket `id`, with a reason.
    pub async fn reject_fix(
        &self,
        id: &str,
        reason: &str,
        by: &crate::domain::control::Caller,
    ) -> Result<crate::stages::coder::review::ReviewOutcome, CommandError> {
        use crate::stages::coder::CoderMsg;
        let (ticket, reason, by) = (id.to_string(), reason.to_string(), by.name.clone());
        let message = move |reply| CoderMsg::Reject {
            ticket,
            reason,
            by,
            reply,
        };
        Ok(ask(&self.slot::<CoderMsg>(), "coder", message, WRITE_TIMEOUT).await??)
    }

    /// Records an operator's label on a ticket's triage verdict, through
    /// the control actor; durable when it returns.
    pub async fn label_ticket(
        &self,
        id: &str,
        label: crate::domain::tickets::LabelInput,
        by: &crate::domain::control::Caller,
    ) -> Result<Ticket, CommandError> {
        let (id, by) = (id.to_string(), by.clone());
        let message = move |reply| ControlMsg::Label {
            id,
            label,
            by,
            reply,
        };
        Ok(self.ask_control(message).await??)
    }

    /// An operator's state change (dismiss, escalate, resolve), through the
    /// control actor; durable when it returns.
    pub async fn move_ticket(
        &self,
        id: &str,
        to: TicketState,
        reason: &str,
        by: &crate::domain::control::Caller,
    ) -> Result<Ticket, CommandError> {
        let (id, reason, by) = (id.to_string(), reason.to_string(), by.clone());
        let message = move |reply| ControlMsg::Move {
            id,
            to,
            reason,
            by,
            reply,
        };
        Ok(self.ask_control(message).await??)
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
        self.inner.store.sync_failure().is_none() && self.inner.children.iter().all(|c| c.running())
    }

    /// The children's names, in start order.
    pub fn children(&self) -> Vec<&'static str> {
        self.inner.children.iter().map(|c| c.name()).collect()
    }

    /// Panics the child named `name` inside its handler. For failure tests;
    /// harmless in production, where nothing calls it.
    #[doc(hidden)]
    pub fn inject_panic(&self, name: &str) -> bool {
        self.inner
            .children
            .iter()
            .find(|c| c.name() == name)
            .is_some_and(|c| c.inject_panic())
    }
}

/// One request to the current instance of a child, and its answer.
async fn ask<M: ractor::Message, T: Send + 'static>(
    slot: &ActorSlot<M>,
    name: &'static str,
    message: impl FnOnce(RpcReplyPort<T>) -> M,
    timeout: Duration,
) -> Result<T, EngineError> {
    let actor = slot.get().ok_or(EngineError::Unavailable(name))?;
    match actor
        .call(message, Some(timeout))
        .await
        .map_err(|_| EngineError::Unavailable(name))?
    {
        ractor::rpc::CallResult::Success(answer) => Ok(answer),
        ractor::rpc::CallResult::Timeout => Err(EngineError::Slow(name, timeout)),
        ractor::rpc::CallResult::SenderError => Err(EngineError::Unavailable(name)),
    }
}

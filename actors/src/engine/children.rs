//! The table of supervised children. The supervisor, readiness, panic
//! injection and status all iterate [`table`]; adding a child is one entry
//! here plus its module.
//!
//! Order in the table is start order: a child starts after the ones it
//! sends to. `stop_rank` orders the graceful shutdown (lowest first).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorCell, ActorRef, RpcReplyPort, SpawnErr};
use serde::Serialize;
use serde_json::Value;

use crate::clients::git::Repo;
use crate::clients::github::GitHub;
use crate::clients::llm::LlmParts;
use crate::config::EngineConfig;
use crate::control::Control;
use crate::control::actor::{ControlActor, ControlMsg};
use crate::domain::coder::guardrails::Guardrails;
use crate::runtime::slot::ActorSlot;
use crate::runtime::slots::Slots;
use crate::stages::analyzer::{AnalyzerActor, AnalyzerArgs, AnalyzerContext, AnalyzerMsg};
use crate::stages::coder::attempt::worktrees_folder;
use crate::stages::coder::{Coder, LlmEndpoint};
use crate::stages::coder::{CoderArgs, CoderManager, CoderMsg};
use crate::stages::gate::{GateActor, GateArgs, GateMsg};
use crate::stages::ingest::{IngestActor, IngestArgs, IngestInbox, IngestMsg};
use crate::stages::queue::{QueueActor, QueueArgs, QueueMsg};
use crate::stages::triage::{TriageActor, TriageArgs, TriageContext, TriageMsg};
use crate::store::Store;
use crate::telemetry::Stats;

/// Longest a status query waits for a child.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(2);

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the children are built from. Every (re)start reads it again.
pub struct Deps {
    pub config: EngineConfig,
    pub store: Store,
    pub inbox: IngestInbox,
    pub stats: Arc<Stats>,
    pub llm: Arc<LlmParts>,
    pub control: Control,
    pub repo: Option<Repo>,
    pub github: Option<GitHub>,
    /// The coding agent's guardrails, compiled (and checked) at start.
    pub guardrails: Arc<Guardrails>,
    pub slots: Slots,
    /// The signer's log templates, which the writer saves (`None` when off).
    pub templates: Option<Arc<crate::domain::template::TemplateSet>>,
}

/// One supervised child, whatever its actor type.
pub trait ChildSpec: Send + Sync {
    fn name(&self) -> &'static str;
    /// Starts it linked to `supervisor` and publishes it in its slot.
    fn spawn<'a>(
        &'a self,
        deps: &'a Deps,
        supervisor: ActorCell,
    ) -> BoxFuture<'a, Result<ActorCell, SpawnErr>>;
    /// Empties its slot (it went down).
    fn clear(&self);
    /// Whether an instance is running.
    fn running(&self) -> bool;
    /// Panics it inside a handler (failure tests).
    fn inject_panic(&self) -> bool;
    /// Whether it answers a status query.
    fn has_status(&self) -> bool;
    /// Its status as JSON; `None` when it has none or does not answer.
    fn status(&self) -> BoxFuture<'static, Option<Value>>;
    /// Stops it gracefully (draining first when it has a drain).
    fn stop(&self, grace: Duration) -> BoxFuture<'static, ()>;
    fn stop_rank(&self) -> u8;
}

type StatusFn<M> = fn(ActorRef<M>) -> BoxFuture<'static, Option<Value>>;

/// A child of actor type `A`.
struct Child<A: Actor> {
    name: &'static str,
    slot: ActorSlot<A::Msg>,
    actor: fn() -> A,
    args: fn(&Deps) -> A::Arguments,
    panic: fn() -> A::Msg,
    status: Option<StatusFn<A::Msg>>,
    drain: Option<fn(RpcReplyPort<()>) -> A::Msg>,
    stop_rank: u8,
}

impl<A: Actor> ChildSpec for Child<A> {
    fn name(&self) -> &'static str {
        self.name
    }

    fn spawn<'a>(
        &'a self,
        deps: &'a Deps,
        supervisor: ActorCell,
    ) -> BoxFuture<'a, Result<ActorCell, SpawnErr>> {
        Box::pin(async move {
            let (actor, _) =
                Actor::spawn_linked(None, (self.actor)(), (self.args)(deps), supervisor).await?;
            self.slot.set(Some(actor.clone()));
            Ok(actor.get_cell())
        })
    }

    fn clear(&self) {
        self.slot.set(None);
    }

    fn running(&self) -> bool {
        self.slot.get().is_some()
    }

    fn inject_panic(&self) -> bool {
        self.slot.cast((self.panic)())
    }

    fn has_status(&self) -> bool {
        self.status.is_some()
    }

    fn status(&self) -> BoxFuture<'static, Option<Value>> {
        match (self.status, self.slot.get()) {
            (Some(status), Some(actor)) => status(actor),
            _ => Box::pin(async { None }),
        }
    }

    fn stop(&self, grace: Duration) -> BoxFuture<'static, ()> {
        let actor = self.slot.get();
        let drain = self.drain;
        let name = self.name;
        Box::pin(async move {
            let Some(actor) = actor else { return };
            if let Some(drain) = drain
                && actor.call(drain, Some(grace)).await.is_err()
            {
                tracing::warn!(child = name, "did not drain in time");
            }
            let _ = actor.stop_and_wait(None, Some(grace)).await;
        })
    }

    fn stop_rank(&self) -> u8 {
        self.stop_rank
    }
}

/// A status function for a child whose `Status` message answers `S`.
macro_rules! status_via {
    ($variant:path) => {
        Some(|actor| {
            Box::pin(async move {
                match actor.call($variant, Some(QUERY_TIMEOUT)).await {
                    Ok(ractor::rpc::CallResult::Success(status)) => to_json(&status),
                    _ => None,
                }
            })
        })
    };
}

fn to_json(status: &impl Serialize) -> Option<Value> {
    serde_json::to_value(status).ok()
}

/// What the coding agent works with, from the configuration.
fn coder_context(d: &Deps) -> Coder {
    let config = &d.config;
    let disabled = Coder::disabled_reason(
        &config.agent,
        &config.repo,
        d.repo.is_some(),
        d.llm.client.is_configured(),
    );
    let api_key_env = config.llm.api_key_env.trim();
    Coder {
        config: config.agent.clone(),
        repo_config: config.repo.clone(),
        store: d.store.clone(),
        repo: d.repo.clone(),
        llm: d.llm.clone(),
        llm_env: LlmEndpoint {
            base_url: config.llm.base_url.trim().trim_end_matches('/').to_string(),
            model: config.llm.model.trim().to_string(),
            api_key: (!api_key_env.is_empty())
                .then(|| std::env::var(api_key_env).ok())
                .flatten(),
        },
        github: d.github.clone(),
        guard: d.control.guard(config.tickets.shadow),
        control: d.control.clone(),
        halt: d.control.halt(),
        guardrails: d.guardrails.clone(),
        worktrees: worktrees_folder(&config.agent.worktrees, &config.store.path),
        disabled,
        verify: config.verify.clone(),
        gate: config.gate.clone(),
        poll_every: poll_every(&config.github),
        deploy: config.deploy.clone(),
    }
}

/// Pull requests are polled when GitHub is configured, no webhook secret
/// is set (the webhook would tell) and the interval is not zero.
fn poll_every(github: &crate::config::GitHubConfig) -> Option<std::time::Duration> {
    let secret = github.webhook_secret_env.trim();
    let webhook = !secret.is_empty() && std::env::var_os(secret).is_some_and(|v| !v.is_empty());
    (github.is_configured() && !webhook && !github.poll_interval.is_zero())
        .then_some(github.poll_interval)
}

/// Every supervised child, in start order.
pub fn table(slots: &Slots) -> Vec<Arc<dyn ChildSpec>> {
    vec![
        // Last to stop but one: what ingest hands on must still be taken.
        Arc::new(Child {
            name: "queue",
            slot: slots.of::<QueueMsg>(),
            actor: || QueueActor,
            args: |d| QueueArgs {
                config: d.config.queue.clone(),
                store: d.store.clone(),
            },
            panic: || QueueMsg::InjectPanic,
            status: status_via!(QueueMsg::Status),
            drain: None,
            stop_rank: 4,
        }),
        // Drains and commits what it accepted before it stops.
        Arc::new(Child {
            name: "ingest",
            slot: slots.of::<IngestMsg>(),
            actor: || IngestActor,
            args: |d| IngestArgs {
                store: d.store.clone(),
                inbox: d.inbox.clone(),
                queue: d.slots.of::<QueueMsg>(),
                max_group: d.config.ingest.max_commit_events,
                stats: d.stats.clone(),
                templates: d.templates.clone(),
            },
            panic: || IngestMsg::InjectPanic,
            status: None,
            drain: Some(IngestMsg::Shutdown),
            stop_rank: 3,
        }),
        Arc::new(Child {
            name: "control",
            slot: slots.of::<ControlMsg>(),
            actor: || ControlActor,
            args: |d| d.control.clone(),
            panic: || ControlMsg::InjectPanic,
            status: None,
            drain: None,
            stop_rank: 2,
        }),
        // The LLM stages stop first: their handlers are short (work runs in
        // owned tasks that commit atomically). The coder first of all: its
        // agents stop with it, and an attempt cut short is recovered at the
        // next start.
        Arc::new(Child {
            name: "coder",
            slot: slots.of::<CoderMsg>(),
            actor: || CoderManager,
            args: |d| CoderArgs {
                coder: coder_context(d),
            },
            panic: || CoderMsg::InjectPanic,
            status: status_via!(CoderMsg::Status),
            drain: None,
            stop_rank: 0,
        }),
        Arc::new(Child {
            name: "triage",
            slot: slots.of::<TriageMsg>(),
            actor: || TriageActor,
            args: |d| TriageArgs {
                context: TriageContext {
                    config: d.config.triage.clone(),
                    shadow: d.config.tickets.shadow,
                    store: d.store.clone(),
                    llm: d.llm.clone(),
                    repo: d.repo.clone(),
                    github: d.github.clone(),
                    guard: d.control.guard(d.config.tickets.shadow),
                    control: d.control.clone(),
                },
                coder: d.slots.of::<CoderMsg>(),
            },
            panic: || TriageMsg::InjectPanic,
            status: status_via!(TriageMsg::Status),
            drain: None,
            stop_rank: 1,
        }),
        Arc::new(Child {
            name: "analyzer",
            slot: slots.of::<AnalyzerMsg>(),
            actor: || AnalyzerActor,
            args: |d| AnalyzerArgs {
                context: AnalyzerContext {
                    config: d.config.analyzer.clone(),
                    shadow: d.config.tickets.shadow,
                    store: d.store.clone(),
                    llm: d.llm.clone(),
                    repo: d.repo.clone(),
                    control: d.control.clone(),
                    regression_window_ms: i64::try_from(
                        d.config.verify.regression_window.as_millis(),
                    )
                    .unwrap_or(i64::MAX),
                    fix_loop_failures: d.config.agent.fix_loop_failures,
                },
                triage: d.slots.of::<TriageMsg>(),
            },
            panic: || AnalyzerMsg::InjectPanic,
            status: status_via!(AnalyzerMsg::Status),
            drain: None,
            stop_rank: 0,
        }),
        // Last: a tick in progress finishes (stop waits for the handler)
        // and what it stored is flushed by the root's final flush.
        Arc::new(Child {
            name: "gate",
            slot: slots.of::<GateMsg>(),
            actor: || GateActor,
            args: |d| GateArgs {
                config: d.config.gate.clone(),
                store: d.store.clone(),
                analyzer: d.slots.of::<AnalyzerMsg>(),
            },
            panic: || GateMsg::InjectPanic,
            status: status_via!(GateMsg::Status),
            drain: None,
            stop_rank: 5,
        }),
    ]
}

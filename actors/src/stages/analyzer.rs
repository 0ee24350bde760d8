//! The analyzer actor: on each tick (or a nudge from the gate) it takes the
//! new candidates, groups them in a spawned task (the LLM call can take a
//! minute; the actor stays responsive meanwhile), and commits the tickets
//! and the consumed candidates in one transaction. Its progress is the
//! candidates' state in the store, so a restart picks up exactly what was
//! not committed.

use std::sync::Arc;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde::Serialize;

use crate::clients::git::{Repo, RepoFiles, repo_files};
use crate::clients::llm::LlmParts;
use crate::clock::now_ms;
use crate::control::Control;
use crate::domain::analyzer::{
    AnalyzerConfig, Group, Item, batch_by_signature, candidates_of, deterministic_groups,
    exception_view, item, llm_groups, ticket_for,
};
use crate::domain::llm::parse::parse_analyzer;
use crate::domain::llm::prompt::{Boundary, render_analyzer};
use crate::domain::tickets::{GroupingRecord, Method};
use crate::runtime::slot::ActorSlot;
use crate::runtime::task::OwnedTask;
use crate::stages::error::StageError;
use crate::stages::triage::TriageMsg;
use crate::store::Store;
use crate::store::tickets::{AnalysisCommit, AnalysisOutcome, TicketWrite};

pub enum AnalyzerMsg {
    /// Look for new candidates now (the timer and the gate send this).
    Tick,
    /// A spawned batch finished.
    Done(Result<BatchReport, StageError>),
    Status(RpcReplyPort<AnalyzerStatus>),
    #[doc(hidden)]
    InjectPanic,
}

/// What one batch did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BatchReport {
    pub signatures: usize,
    pub method: Option<Method>,
    pub fallback_reason: Option<String>,
    pub outcome: AnalysisOutcome,
    /// Candidates left for the next batch.
    pub remaining: usize,
}

/// What `suture status` shows of the analyzer.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AnalyzerStatus {
    pub running: bool,
    pub last_batch_ms: Option<i64>,
    pub batches: u64,
    pub tickets_created: u64,
    pub tickets_grown: u64,
    pub last_method: Option<Method>,
    /// Why the last batch did not use the LLM, when it did not.
    pub last_fallback_reason: Option<String>,
    pub last_error: Option<String>,
}

/// Everything a batch needs, shared with the spawned task.
#[derive(Clone)]
pub struct AnalyzerContext {
    pub config: AnalyzerConfig,
    pub shadow: bool,
    pub store: Store,
    pub llm: Arc<LlmParts>,
    pub repo: Option<Repo>,
    /// Where the LLM's budget spend and breaker are saved after each pass.
    pub control: Control,
    /// A signature flagged again this soon after its ticket was resolved
    /// reopens that ticket as a regression (`verify.regression_window`).
    pub regression_window_ms: i64,
    /// `agent.fix_loop_failures`: a regression counts as a failed fix.
    pub fix_loop_failures: u32,
}

pub struct AnalyzerArgs {
    pub context: AnalyzerContext,
    pub triage: ActorSlot<TriageMsg>,
}

pub struct AnalyzerActor;

pub struct AnalyzerState {
    context: AnalyzerContext,
    triage: ActorSlot<TriageMsg>,
    status: AnalyzerStatus,
    /// The running pass, aborted if this actor stops or is killed.
    pass: Option<OwnedTask<()>>,
}

impl Actor for AnalyzerActor {
    type Msg = AnalyzerMsg;
    type State = AnalyzerState;
    type Arguments = AnalyzerArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: AnalyzerArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        // Candidates left by a previous run are picked up at once.
        myself.send_message(AnalyzerMsg::Tick)?;
        Ok(AnalyzerState {
            context: args.context,
            triage: args.triage,
            status: AnalyzerStatus::default(),
            pass: None,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            AnalyzerMsg::Tick => crate::runtime::pass::start(
                &myself,
                &mut state.pass,
                state.context.clone(),
                |context: AnalyzerContext| async move { analyze_once(&context).await },
                AnalyzerMsg::Done,
            ),
            AnalyzerMsg::Done(result) => {
                state.pass = None;
                state.status.last_batch_ms = Some(now_ms());
                let mut again = false;
                match result {
                    Ok(report) => {
                        if report.signatures > 0 {
                            state.status.batches += 1;
                            state.status.last_method = report.method;
                            state.status.last_fallback_reason = report.fallback_reason;
                        }
                        let o = &report.outcome;
                        state.status.tickets_created += o.created.len() as u64;
                        state.status.tickets_grown += o.grown.len() as u64;
                        state.status.last_error = None;
                        if !o.created.is_empty() || !o.grown.is_empty() {
                            state.triage.cast(TriageMsg::Tick);
                        }
                        again = report.remaining > 0;
                    }
                    Err(error) => {
                        crate::telemetry::PassFailed {
                            stage: "analyzer",
                            error: &error,
                            transient: error.is_transient(),
                        }
                        .emit();
                        state.status.last_error = Some(error.to_string());
                    }
                }
                crate::runtime::pass::rearm(&myself, again, state.context.config.interval, || {
                    AnalyzerMsg::Tick
                })?;
            }
            AnalyzerMsg::Status(reply) => {
                let mut status = state.status.clone();
                status.running = state.pass.is_some();
                let _ = reply.send(status);
            }
            AnalyzerMsg::InjectPanic => panic!("injected panic in the analyzer actor"),
        }
        Ok(())
    }
}

/// Groups the oldest new candidates and commits their tickets.
pub async fn analyze_once(ctx: &AnalyzerContext) -> Result<BatchReport, StageError> {
    let store = &ctx.store;
    let candidates = store.new_candidates()?;
    if candidates.is_empty() {
        return Ok(BatchReport::default());
    }
    let total_signatures = candidates
        .iter()
        .map(|c| c.signature.as_str())
        .collect::<std::collections::HashSet<_>>()
        .len();
    let batch = batch_by_signature(candidates, ctx.config.max_batch);
    let revision = batch
        .iter()
        .flat_map(|(_, cands)| cands.iter())
        .filter_map(|c| c.revision.as_deref())
        .next_back()
        .map(str::to_string);
    let files = repo_files(ctx.repo.as_ref(), revision.as_deref()).await;
    let mut items: Vec<Item> = Vec::with_capacity(batch.len());
    for (signature, cands) in &batch {
        let record = store.signature(signature)?;
        let samples = store.samples(signature)?;
        if let Some(it) = item(
            cands,
            record.as_ref(),
            &samples,
            &ctx.llm.scrubber,
            files.as_ref(),
            &ctx.config,
        ) {
            items.push(it);
        }
    }
    let (groups, grouping) = group(ctx, &items, files.as_ref()).await;
    let now = now_ms();
    let mut commit = AnalysisCommit::default();
    // A group that spans deploys becomes one ticket per deploy.
    let parts = groups
        .into_iter()
        .flat_map(|g| crate::domain::analyzer::attach::split_by_deploy(g, &items));
    for (g, split) in parts {
        let g = &g;
        let record = GroupingRecord {
            method: g.method,
            ..grouping.clone()
        };
        let mut ticket = ticket_for(g, &items, &record, ctx.shadow, now);
        if let Some(why) = split {
            ticket.audit(now, "analyzer", "separated", why);
        }
        let mut open = store.open_ticket_for(ticket.signature_ids(), ticket.crash_sites())?;
        if let Some(id) = &open {
            let existing = store.ticket(id)?;
            if let Some(why) =
                existing.and_then(|t| crate::domain::analyzer::attach::separate_from(&t, &ticket))
            {
                ticket.audit(now, "analyzer", "separated", why);
                open = None;
            }
        }
        let resolved = match open {
            Some(_) => None,
            None => store.resolved_ticket_for(
                ticket.signature_ids(),
                now.saturating_sub(ctx.regression_window_ms),
            )?,
        };
        let write = match (open, resolved) {
            (Some(id), _) => TicketWrite::Grow {
                id,
                addition: Box::new(ticket.clone()),
                fallback: Box::new(ticket),
            },
            (None, Some(fixed)) => TicketWrite::Reopen {
                why: regression_reason(&fixed, now),
                id: fixed.id,
                addition: Box::new(ticket.clone()),
                fallback: Box::new(ticket),
            },
            (None, None) => TicketWrite::Create(Box::new(ticket)),
        };
        commit.writes.push((write, candidates_of(g, &items)));
    }
    let outcome = store.commit_analysis(&commit, now)?;
    ctx.control.save_llm(ctx.llm.client.persisted());
    store.flush().await?;
    for id in &outcome.reopened {
        if let Some(ticket) = store.ticket(id)? {
            count_regression(ctx, &ticket, now);
        }
    }
    if !outcome.reopened.is_empty() {
        store.flush().await?;
    }
    metrics::counter!("suture_tickets_created_total").increment(outcome.created.len() as u64);
    metrics::counter!("suture_analyzer_batches_total", "method" => grouping.method.as_str())
        .increment(1);
    tracing::info!(
        signatures = items.len(),
        method = grouping.method.as_str(),
        created = ?outcome.created,
        grown = ?outcome.grown,
        "analyzed a batch of gated candidates"
    );
    Ok(BatchReport {
        signatures: items.len(),
        method: Some(grouping.method),
        fallback_reason: grouping.fallback_reason,
        outcome,
        remaining: total_signatures.saturating_sub(batch.len()),
    })
}

/// Why a resolved ticket is reopened: when it was resolved and how.
fn regression_reason(fixed: &crate::domain::tickets::Ticket, now: i64) -> String {
    let since = fixed
        .resolved_at_ms
        .map(|at| {
            humantime::format_duration(std::time::Duration::from_secs(
                u64::try_from(now.saturating_sub(at) / 1000).unwrap_or(0),
            ))
            .to_string()
        })
        .unwrap_or_else(|| "recently".into());
    let how = match &fixed.verification {
        Some(v) if v.outcome == crate::domain::verify::Outcome::Fixed => {
            format!(" (verified fixed after deploy {})", v.deploy)
        }
        _ => String::new(),
    };
    format!("regression: the gate flagged its error again {since} after it was resolved{how}")
}

/// A regression is a fix that did not hold: it counts against the fix
/// loop of the ticket's signatures, and a person is told.
fn count_regression(ctx: &AnalyzerContext, ticket: &crate::domain::tickets::Ticket, now: i64) {
    metrics::counter!("suture_fix_regressions_total").increment(1);
    tracing::warn!(ticket = %ticket.id, "a resolved ticket was reopened as a regression");
    ctx.control.fix_attempt_failed(
        &ticket.id,
        ticket.signature_ids(),
        ctx.fix_loop_failures,
        "its fix regressed after it was resolved",
    );
    let why = ticket
        .audit
        .iter()
        .rev()
        .find(|a| a.action == "state")
        .map(|a| a.detail.clone())
        .unwrap_or_default();
    if let Err(e) = ctx.store.remember_outcome(
        ticket,
        crate::domain::memory::FixOutcome::Regressed,
        &why,
        now,
    ) {
        tracing::warn!(ticket = %ticket.id, error = %e, "a regressed fix was not remembered");
    }
    ctx.control.notify(
        crate::domain::notify::Notification::new(
            crate::domain::notify::NotificationKind::Escalation,
            now,
            "A fixed error came back",
            format!("{}: reopened as a regression", ticket.title),
        )
        .ticket(&ticket.id),
    );
}

/// The LLM's grouping (with one repair), else the deterministic one.
async fn group(
    ctx: &AnalyzerContext,
    items: &[Item],
    files: Option<&RepoFiles>,
) -> (Vec<Group>, GroupingRecord) {
    let all: Vec<usize> = (0..items.len()).collect();
    let mut record = GroupingRecord {
        method: Method::Deterministic,
        fallback_reason: None,
        llm_raw: None,
        dropped_files: Vec::new(),
        tokens: 0,
        batch_size: items.len(),
    };
    let parts = &ctx.llm;
    if !parts.client.is_configured() {
        record.fallback_reason = Some("no LLM configured".into());
        return (deterministic_groups(items, &all), record);
    }
    let views: Vec<_> = items.iter().map(|i| exception_view(&i.evidence)).collect();
    let prompt = match render_analyzer(
        &parts.analyzer_prompt,
        &parts.scrubber,
        Boundary::random(),
        &views,
    ) {
        Ok(p) => p,
        Err(e) => {
            record.fallback_reason = Some(format!("prompt: {e}"));
            return (deterministic_groups(items, &all), record);
        }
    };
    let count = items.len();
    let repaired = parts
        .client
        .ask_with_repair(&prompt, |text| parse_analyzer(text, count))
        .await;
    record.tokens = repaired.tokens;
    match repaired.result {
        Ok(answer) => {
            let (groups, dropped) = llm_groups(&answer.value, items, files);
            record.method = Method::Llm;
            record.llm_raw = Some(parts.scrubber.scrub(&answer.raw).into_owned());
            record.dropped_files = dropped
                .iter()
                .map(|f| parts.scrubber.scrub(f).into_owned())
                .collect();
            if repaired.first_invalid.is_some() {
                record.fallback_reason = Some("first answer invalid; repaired".into());
            }
            (groups, record)
        }
        Err(error) => {
            if let crate::clients::llm::LlmError::Invalid { raw, .. } = &error {
                record.llm_raw = Some(parts.scrubber.scrub(raw).into_owned());
            }
            record.fallback_reason = Some(error.to_string());
            (deterministic_groups(items, &all), record)
        }
    }
}

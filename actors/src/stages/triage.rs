//! The triage actor: takes open tickets, decides each one's disposition in
//! a spawned task (git and the LLM take seconds), and records the verdict;
//! then publishes triaged tickets to GitHub when configured and shadow mode
//! is off. Progress lives in the tickets' state, so a restart triages what
//! is still `open` and publishes what has no issue yet (the GitHub client
//! finds an issue it created before a crash by its marker).

use std::collections::HashMap;
use std::sync::Arc;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde::Serialize;

use crate::clients::git::{DeployDiff, Repo, RepoFiles, repo_files};
use crate::clients::github::{GitHub, IssueDraft};
use crate::clients::llm::LlmParts;
use crate::clock::now_ms;
use crate::control::Control;
use crate::control::guard::{Action, Guard, Refusal};
use crate::domain::analyzer::exception_view;
use crate::domain::llm::parse::parse_triage;
use crate::domain::llm::prompt::{self, Boundary, DeployView, render_triage};
use crate::domain::tickets::{
    DiffSummary, Disposition, ExternalIssue, Method, Ticket, TicketState, TriageRecord, render,
};
use crate::domain::triage::{
    TriageConfig, Verdict, check_llm_verdict, deterministic, disposition, links, non_runtime_rule,
};
use crate::runtime::slot::ActorSlot;
use crate::runtime::task::OwnedTask;
use crate::stages::coder::CoderMsg;
use crate::stages::error::StageError;
use crate::store::{DeployRecord, Store};

pub enum TriageMsg {
    /// Triage open tickets and publish triaged ones (timer, analyzer nudge).
    Tick,
    Done(Result<PassReport, StageError>),
    Status(RpcReplyPort<TriageStatus>),
    #[doc(hidden)]
    InjectPanic,
}

/// What one pass did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PassReport {
    pub triaged: Vec<String>,
    pub published: Vec<String>,
    pub remaining: usize,
    pub errors: Vec<String>,
}

/// What `suture status` shows of triage.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TriageStatus {
    pub running: bool,
    pub shadow: bool,
    pub github: bool,
    pub last_pass_ms: Option<i64>,
    pub triaged: u64,
    pub published: u64,
    pub last_error: Option<String>,
}

#[derive(Clone)]
pub struct TriageContext {
    pub config: TriageConfig,
    pub shadow: bool,
    pub store: Store,
    pub llm: Arc<LlmParts>,
    pub repo: Option<Repo>,
    pub github: Option<GitHub>,
    /// Asked before anything is written to GitHub.
    pub guard: Guard,
    /// Where the LLM's budget spend and breaker are saved after each pass.
    pub control: Control,
}

pub struct TriageArgs {
    pub context: TriageContext,
    /// Nudged when a pass triaged tickets (some may be fix candidates).
    pub coder: ActorSlot<CoderMsg>,
}

pub struct TriageActor;

pub struct TriageState {
    context: TriageContext,
    coder: ActorSlot<CoderMsg>,
    status: TriageStatus,
    /// The running pass, aborted if this actor stops or is killed.
    pass: Option<OwnedTask<()>>,
}

impl Actor for TriageActor {
    type Msg = TriageMsg;
    type State = TriageState;
    type Arguments = TriageArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: TriageArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        myself.send_message(TriageMsg::Tick)?;
        let status = TriageStatus {
            shadow: args.context.shadow,
            github: args.context.github.is_some(),
            ..TriageStatus::default()
        };
        Ok(TriageState {
            context: args.context,
            coder: args.coder,
            status,
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
            TriageMsg::Tick => crate::runtime::pass::start(
                &myself,
                &mut state.pass,
                state.context.clone(),
                |context: TriageContext| async move { triage_once(&context).await },
                TriageMsg::Done,
            ),
            TriageMsg::Done(result) => {
                state.pass = None;
                state.status.last_pass_ms = Some(now_ms());
                let mut again = false;
                match result {
                    Ok(report) => {
                        state.status.triaged += report.triaged.len() as u64;
                        state.status.published += report.published.len() as u64;
                        state.status.last_error = report.errors.last().cloned();
                        if !report.triaged.is_empty() {
                            state.coder.cast(CoderMsg::Nudge);
                        }
                        again = report.remaining > 0 && report.errors.is_empty();
                    }
                    Err(error) => {
                        crate::telemetry::PassFailed {
                            stage: "triage",
                            error: &error,
                            transient: error.is_transient(),
                        }
                        .emit();
                        state.status.last_error = Some(error.to_string());
                    }
                }
                crate::runtime::pass::rearm(&myself, again, state.context.config.interval, || {
                    TriageMsg::Tick
                })?;
            }
            TriageMsg::Status(reply) => {
                let mut status = state.status.clone();
                status.running = state.pass.is_some();
                let _ = reply.send(status);
            }
            TriageMsg::InjectPanic => panic!("injected panic in the triage actor"),
        }
        Ok(())
    }
}

/// Triages up to `max_per_pass` open tickets, then publishes.
pub async fn triage_once(ctx: &TriageContext) -> Result<PassReport, StageError> {
    let store = &ctx.store;
    let tickets = store.tickets()?;
    let open: Vec<&Ticket> = tickets
        .iter()
        .filter(|t| t.state == TicketState::Open)
        .collect();
    let mut report = PassReport {
        remaining: open.len().saturating_sub(ctx.config.max_per_pass),
        ..PassReport::default()
    };
    let mut cache = PassCache::default();
    for ticket in open.into_iter().take(ctx.config.max_per_pass) {
        let record = match triage_ticket(ctx, ticket, &mut cache).await {
            Ok(record) => record,
            Err(transient) => {
                // Stays open: the next pass tries again.
                tracing::warn!(ticket = %ticket.id, error = %transient, "triage postponed");
                report.errors.push(format!("{}: {transient}", ticket.id));
                continue;
            }
        };
        let chosen = disposition(ticket, record.decision, &ctx.config);
        let now = now_ms();
        let updated = store.update_ticket(&ticket.id, |t| {
            if t.state != TicketState::Open {
                return Ok(false);
            }
            t.triage = Some(record.clone());
            t.disposition = Some(chosen);
            let why = format!(
                "{} by {} ({})",
                chosen.as_str(),
                record.method.as_str(),
                crate::domain::text::truncate(&record.reasoning, 160)
            );
            t.transition(TicketState::Triaged, now, "triage", &why)?;
            Ok(true)
        });
        match updated {
            Ok((_, true)) => {
                metrics::counter!("suture_tickets_triaged_total",
                    "disposition" => chosen.as_str(), "method" => record.method.as_str())
                .increment(1);
                report.triaged.push(ticket.id.clone());
            }
            Ok((_, false)) => {}
            Err(e) => report.errors.push(format!("{}: {e}", ticket.id)),
        }
    }
    ctx.control.save_llm(ctx.llm.client.persisted());
    store.flush().await?;
    publish(ctx, &mut report).await;
    store.flush().await?;
    Ok(report)
}

/// A deploy's diff with what triage says about where it came from.
#[derive(Debug, Clone)]
struct DeployChange {
    diff: DeployDiff,
    /// How `from` was chosen (previous deploy or parent commit).
    from_source: String,
    /// `deploy <id>: <from>..<to> (<environment>)`, for the prompt.
    description: String,
}

/// What one pass reads from git once, however many of its tickets share a
/// deploy: the deploy's diff (five git commands) and the deployed files.
#[derive(Default)]
struct PassCache {
    diffs: HashMap<String, Result<DeployChange, DiffError>>,
    files: HashMap<String, Option<RepoFiles>>,
}

/// Why a deploy's diff could not be read.
#[derive(Debug, Clone)]
struct DiffError {
    why: String,
    /// A git timeout or I/O error: worth another pass. Otherwise (no
    /// repository, a revision git does not know) the verdict is `unsure`.
    transient: bool,
}

impl DiffError {
    fn lasting(why: impl Into<String>) -> Self {
        Self {
            why: why.into(),
            transient: false,
        }
    }
}

impl From<crate::clients::git::RepoError> for DiffError {
    fn from(e: crate::clients::git::RepoError) -> Self {
        Self {
            transient: e.is_transient(),
            why: e.to_string(),
        }
    }
}

impl From<crate::store::StoreError> for DiffError {
    fn from(e: crate::store::StoreError) -> Self {
        Self {
            why: e.to_string(),
            transient: true,
        }
    }
}

/// One ticket's triage record; `Err` when triage must wait for another
/// pass (git timed out), so a passing hiccup does not become a verdict.
async fn triage_ticket(
    ctx: &TriageContext,
    ticket: &Ticket,
    cache: &mut PassCache,
) -> Result<TriageRecord, String> {
    let now = now_ms();
    let mut record = TriageRecord {
        method: Method::Rule,
        decision: None,
        confidence: 1.0,
        reasoning: String::new(),
        suspect_lines: Vec::new(),
        diff: None,
        links: Vec::new(),
        fallback_reason: None,
        llm_raw: None,
        tokens: 0,
        decided_at_ms: now,
    };
    let Some(deploy_id) = ticket.deploy_id.as_deref() else {
        record.reasoning = format!(
            "a spike with no deploy to blame; severity {} {} triage.spike_fix_severity ({})",
            ticket.severity.as_str(),
            if ticket.severity >= ctx.config.spike_fix_severity {
                "reaches"
            } else {
                "is below"
            },
            ctx.config.spike_fix_severity.as_str()
        );
        return Ok(record);
    };
    if !cache.diffs.contains_key(deploy_id) {
        let diff = deploy_diff(ctx, deploy_id).await;
        cache.diffs.insert(deploy_id.to_string(), diff);
    }
    let cached = cache
        .diffs
        .get(deploy_id)
        .cloned()
        .unwrap_or_else(|| Err(DiffError::lasting("the diff was not read")));
    let description;
    let diff = match cached {
        Ok(change) => {
            record.diff = Some(DiffSummary::of(&change.diff, change.from_source));
            description = change.description;
            change.diff
        }
        Err(e) if e.transient => return Err(e.why),
        Err(e) => {
            record.method = Method::Deterministic;
            record.decision = Some(crate::domain::llm::parse::Decision::Unsure);
            record.confidence = 0.2;
            record.reasoning = format!("the deploy's diff is not available: {}", e.why);
            return Ok(record);
        }
    };
    // Frames are resolved against the deployed revision's files.
    let mut ticket = ticket.clone();
    if !cache.files.contains_key(&diff.to) {
        let files = repo_files(ctx.repo.as_ref(), Some(&diff.to)).await;
        cache.files.insert(diff.to.clone(), files);
    }
    if let Some(Some(files)) = cache.files.get(&diff.to) {
        for sig in &mut ticket.signatures {
            for f in &mut sig.frames {
                if f.repo_path.is_none() {
                    f.repo_path = f
                        .file
                        .as_deref()
                        .and_then(|name| files.resolve(name))
                        .map(str::to_string);
                }
            }
        }
    }
    record.links = links(&ticket, &diff, ctx.config.line_slack);
    if let Some(rule) = non_runtime_rule(&ticket, &diff) {
        apply(&mut record, Method::Rule, rule);
        return Ok(record);
    }
    let fallback = deterministic(&ticket, &diff, &record.links);
    let parts = &ctx.llm;
    if !parts.client.is_configured() {
        record.fallback_reason = Some("no LLM configured".into());
        apply(&mut record, Method::Deterministic, fallback);
        return Ok(record);
    }
    let view = DeployView {
        description,
        changed_files: diff
            .files
            .iter()
            .map(|f| prompt::ChangedFile {
                path: f.path.clone(),
                class: f.class.name().to_string(),
            })
            .collect(),
        diff: diff.patch.clone(),
    };
    let views: Vec<_> = ticket.signatures.iter().map(exception_view).collect();
    let known: Vec<String> = ticket.signature_ids().map(str::to_string).collect();
    let prompt = match render_triage(
        &parts.triage_prompt,
        &parts.scrubber,
        Boundary::random(),
        &view,
        &views,
    ) {
        Ok(p) => p,
        Err(e) => {
            record.fallback_reason = Some(format!("prompt: {e}"));
            apply(&mut record, Method::Deterministic, fallback);
            return Ok(record);
        }
    };
    let repaired = parts
        .client
        .ask_with_repair(&prompt, |text| parse_triage(text, &known))
        .await;
    record.tokens = repaired.tokens;
    match repaired.result {
        Ok(answer) => {
            let (verdict, note) =
                check_llm_verdict(&answer.value, &diff, &ticket, ctx.config.line_slack);
            record.llm_raw = Some(parts.scrubber.scrub(&answer.raw).into_owned());
            record.fallback_reason = note;
            apply(&mut record, Method::Llm, verdict);
        }
        Err(error) if error.is_outage() && now - ticket.created_at_ms < wait_ms(&ctx.config) => {
            // The model was not reached: ask again next pass (the ticket
            // stays open) rather than decide without it.
            return Err(format!("waiting for the LLM: {error}"));
        }
        Err(error) => {
            if let crate::clients::llm::LlmError::Invalid { raw, .. } = &error {
                record.llm_raw = Some(parts.scrubber.scrub(raw).into_owned());
            }
            record.fallback_reason = Some(error.to_string());
            apply(&mut record, Method::Deterministic, fallback);
        }
    }
    Ok(record)
}

/// `triage.llm_wait` in milliseconds.
fn wait_ms(config: &TriageConfig) -> i64 {
    i64::try_from(config.llm_wait.as_millis()).unwrap_or(i64::MAX)
}

fn apply(record: &mut TriageRecord, method: Method, verdict: Verdict) {
    record.method = method;
    record.decision = Some(verdict.decision);
    record.confidence = verdict.confidence;
    record.reasoning = verdict.reasoning;
    record.suspect_lines = verdict.suspect_lines;
}

/// The deploy's diff: from the previous deploy's revision (the last deploy
/// of the same environment before it with another revision that is a
/// commit in the repository), else from the parent commit.
async fn deploy_diff(ctx: &TriageContext, deploy_id: &str) -> Result<DeployChange, DiffError> {
    let repo = ctx
        .repo
        .as_ref()
        .ok_or_else(|| DiffError::lasting("no repository configured (repo.path)"))?;
    let store = &ctx.store;
    let deploy = store
        .deploy(deploy_id)?
        .ok_or_else(|| DiffError::lasting(format!("deploy {deploy_id} is not in the store")))?;
    let to = repo.resolve(&deploy.revision).await?.ok_or_else(|| {
        DiffError::lasting(format!(
            "revision {:?} is not a commit in the repository",
            deploy.revision
        ))
    })?;
    let mut previous: Vec<DeployRecord> = store
        .deploys()?
        .into_iter()
        // Only the same environment's history: a staging deploy between two
        // production deploys is not what production was running before.
        .filter(|d| {
            d.at_ms < deploy.at_ms
                && d.revision != deploy.revision
                && d.environment == deploy.environment
        })
        .collect();
    previous.sort_by_key(|d| d.at_ms);
    let mut from = None;
    for d in previous.iter().rev() {
        if let Ok(Some(full)) = repo.resolve(&d.revision).await
            && full != to
        {
            from = Some((full, format!("previous deploy {} ({})", d.id, d.revision)));
            break;
        }
    }
    let (from, source) = match from {
        Some(found) => found,
        None => {
            let parent = repo.parent(&to).await?.ok_or_else(|| {
                DiffError::lasting(
                    "the deployed revision is the repository's first commit and no earlier deploy is known",
                )
            })?;
            (
                parent,
                "parent commit (no earlier deploy with a known revision)".to_string(),
            )
        }
    };
    let diff = repo.diff(&from, &to).await?;
    let description = format!(
        "deploy {deploy_id}: {}..{}{}",
        diff.from,
        diff.to,
        deploy
            .environment
            .as_deref()
            .map(|e| format!(" ({e})"))
            .unwrap_or_default()
    );
    Ok(DeployChange {
        diff,
        from_source: source,
        description,
    })
}

/// Records on a ticket's trail, once per distinct reason, that GitHub
/// refused its write for good (the pass goes on with the other tickets).
fn note_refused(ctx: &TriageContext, id: &str, why: &str) {
    let _ = ctx.store.update_ticket(id, |t| {
        let said = t
            .audit
            .iter()
            .rev()
            .any(|a| a.action == "github_refused" && a.detail == why);
        if !said {
            t.audit(now_ms(), "github", "github_refused", why.to_string());
        }
        Ok(())
    });
}

/// Publishes triaged tickets worth a person's attention (fix candidates and
/// external ones; not noise) and tells existing issues about recurrences.
/// In shadow mode nothing leaves the sidecar: the ticket's audit says what
/// would have been done, once.
async fn publish(ctx: &TriageContext, report: &mut PassReport) {
    // Without GitHub there is nothing to publish or to say would be: no
    // need to read every ticket each pass.
    let Some(github) = &ctx.github else {
        return;
    };
    let Ok(tickets) = ctx.store.tickets() else {
        return;
    };
    for ticket in tickets {
        let worth = matches!(
            ticket.disposition,
            Some(Disposition::FixCandidate | Disposition::External)
        ) && !ticket.state.is_closed();
        if !worth {
            continue;
        }
        if let Err(refusal) = ctx.guard.permit_for(Action::OpenIssue, ticket.severity) {
            // Said once; the issue is opened by a later pass when the guard
            // permits (shadow mode off, the kill switch disengaged).
            if ticket.github.is_none() && !ticket.audit.iter().any(|a| a.action == "shadow") {
                let why = match &refusal {
                    Refusal::Autonomy { .. } => format!(
                        "{refusal} (shadow mode; autonomy `pr` or tickets.shadow = false opens it)"
                    ),
                    other => format!("{other}; it is opened once that changes"),
                };
                let _ = ctx.store.update_ticket(&ticket.id, |t| {
                    t.audit(now_ms(), "github", "shadow", why.clone());
                    Ok(())
                });
            }
            continue;
        }
        let needs_write = ticket.github.is_none() || ticket.recurrences.iter().any(|r| !r.notified);
        if !needs_write {
            continue;
        }
        // The rate limits, right before the write: over them, the pass
        // stops and a later one goes on where it stopped.
        let action = if ticket.github.is_none() {
            Action::OpenIssue
        } else {
            Action::CommentOnIssue
        };
        if let Err(refusal) = ctx.guard.admit_for(action, ticket.severity) {
            tracing::info!(ticket = %ticket.id, %refusal, "GitHub writes wait for the rate limit");
            report.errors.push(format!("{}: {refusal}", ticket.id));
            return;
        }
        match &ticket.github {
            None => {
                let draft = IssueDraft {
                    ticket_id: ticket.id.clone(),
                    title: format!("[suture] {}", ticket.title),
                    body: render::issue_body(&ticket),
                    labels: render::issue_labels(&ticket),
                };
                match github.ensure_issue(&draft).await {
                    Ok(issue) => {
                        let now = now_ms();
                        let saved = ctx.store.update_ticket(&ticket.id, |t| {
                            t.github = Some(ExternalIssue {
                                number: issue.number,
                                url: issue.url.clone(),
                                created_at_ms: now,
                            });
                            // Recurrences before the issue are in its body.
                            for r in &mut t.recurrences {
                                r.notified = true;
                            }
                            t.audit(now, "github", "published", issue.url.clone());
                            Ok(())
                        });
                        match saved {
                            Ok(_) => report.published.push(ticket.id.clone()),
                            Err(e) => report.errors.push(format!("{}: {e}", ticket.id)),
                        }
                    }
                    Err(e) => {
                        tracing::warn!(ticket = %ticket.id, error = %e, "cannot open the GitHub issue; retrying next pass");
                        report.errors.push(format!("{}: GitHub: {e}", ticket.id));
                        if e.is_retryable() {
                            // GitHub is down or asks to wait (its breaker
                            // now holds every write): the next pass retries.
                            return;
                        }
                        // This ticket's request is refused (a 422, a
                        // token without access to it): said on its trail
                        // once, and the later tickets still go.
                        note_refused(ctx, &ticket.id, &e.to_string());
                        continue;
                    }
                }
            }
            Some(issue) => {
                for (i, r) in ticket.recurrences.iter().enumerate() {
                    if r.notified {
                        continue;
                    }
                    let body = render::recurrence_comment(r);
                    if let Err(e) = github.comment(issue.number, &body).await {
                        report
                            .errors
                            .push(format!("{}: GitHub comment: {e}", ticket.id));
                        if e.is_retryable() {
                            return;
                        }
                        note_refused(ctx, &ticket.id, &e.to_string());
                        break;
                    }
                    let _ = ctx.store.update_ticket(&ticket.id, |t| {
                        if let Some(r) = t.recurrences.get_mut(i) {
                            r.notified = true;
                        }
                        t.audit(
                            now_ms(),
                            "github",
                            "commented",
                            format!("recurrence told on issue #{}", issue.number),
                        );
                        Ok(())
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::DiffError;
    use crate::clients::git::RepoError;

    #[test]
    fn a_git_timeout_postpones_and_an_unknown_revision_decides() {
        let timeout = DiffError::from(RepoError::TimedOut {
            command: "git diff".into(),
            timeout: Duration::from_secs(30),
        });
        assert!(timeout.transient, "{}", timeout.why);
        let unknown = DiffError::from(RepoError::UnknownRevision {
            rev: "abc".into(),
            repo: "/srv/app".into(),
        });
        assert!(!unknown.transient, "{}", unknown.why);
    }
}

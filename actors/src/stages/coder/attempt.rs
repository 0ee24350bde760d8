//! One attempt at one ticket, start to end: the worktree, the tests on the
//! base, the context, the agent (built-in or external), the proof, the
//! commit, and the ticket's next state. Runs in a task the agent actor
//! owns: killing the actor drops this future, which kills every process it
//! started (they run in process groups killed on drop); the manager then
//! removes the worktree the record names.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Coder;
use super::builtin::{BuiltinAgent, LoopEnd, Spent};
use super::external::{ExternalAgent, ExternalTask, LlmEnv};
use super::prove::{Proof, Prover, Tested};
use super::publish;
use super::tools::Tools;
use super::transcript::Transcript;
use super::validate::{Ran, TestCommand, describe};
use super::workspace::Workspace;
use crate::clients::git::worktree::{CommitAuthor, Worktree};
use crate::clients::git::{Repo, RepoError};
use crate::clock::now_ms;
use crate::domain::coder::attempt::{
    AttemptRecord, AttemptState, FixEvidence, MAX_STORED_DIFF_BYTES,
};
use crate::domain::coder::context::{
    ContextInputs, FileOutline, render_context, render_task_markdown, stack_files,
};
use crate::domain::coder::outline::outline;
use crate::domain::coder::path::RelPath;
use crate::domain::coder::related::related_tests;
use crate::domain::llm::prompt::{Boundary, RenderedPrompt};
use crate::domain::notify::{Notification, NotificationKind};
use crate::domain::text::truncate;
use crate::domain::tickets::{FixRecord, FixReview, Ticket, TicketState};

/// Commits shown to the agent: those of the last day.
const RECENT_WINDOW: Duration = Duration::from_secs(24 * 3600);
const RECENT_MAX: usize = 30;

/// How an attempt ended, before the ticket is updated.
enum Ending {
    Fixed {
        tested: Box<Tested>,
        before: Box<Ran>,
    },
    NoFix(String),
}

/// Runs the attempt `record` (already holding the ticket's lease) and
/// returns it ended: the outcome recorded and flushed, the worktree
/// removed (its branch kept when there is a fix), then the ticket moved.
pub async fn run(coder: &Coder, mut record: AttemptRecord) -> AttemptRecord {
    let mut transcript = Transcript::new(
        coder.store.clone(),
        coder.llm.scrubber.clone(),
        &record.ticket,
        record.attempt,
        coder.config.transcript_bytes,
    );
    let mut spent = Spent::default();
    let mut worktree: Option<Worktree> = None;
    let scratch = coder
        .worktrees
        .join(".scratch")
        .join(format!("{}-{}", record.ticket, record.attempt));
    let work = attempt(
        coder,
        &mut record,
        &mut transcript,
        &mut spent,
        &mut worktree,
        &scratch,
    );
    let ending = match tokio::time::timeout(coder.config.timeout, work).await {
        Ok(Ok(ending)) => ending,
        Ok(Err(problem)) => Ending::NoFix(problem),
        Err(_) => Ending::NoFix(format!(
            "the attempt ran past agent.timeout ({}); its processes were killed",
            humantime::format_duration(coder.config.timeout)
        )),
    };
    record.steps = spent.steps;
    record.tokens = spent.tokens;
    record.micro_usd = spent.micro_usd;
    let ended = finish(coder, record, ending, worktree.as_ref(), &mut transcript).await;
    if let (Some(repo), Some(worktree)) = (coder.repo.as_ref(), worktree.as_ref()) {
        let keep_branch = ended.state == AttemptState::Succeeded;
        if let Err(e) = repo.remove_worktree(worktree, keep_branch).await {
            tracing::warn!(ticket = %ended.ticket, error = %e, "the attempt's worktree was not removed; the next start prunes it");
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    // Last: once the ticket moves, nothing of the attempt is left behind.
    settle_ticket(coder, &ended).await;
    ended
}

/// The attempt's work, up to a fix or a reason why not.
async fn attempt(
    coder: &Coder,
    record: &mut AttemptRecord,
    transcript: &mut Transcript,
    spent: &mut Spent,
    worktree_slot: &mut Option<Worktree>,
    scratch: &Path,
) -> Result<Ending, String> {
    let repo = coder
        .repo
        .as_ref()
        .ok_or("no repository is configured (repo.path)")?;
    let ticket = coder
        .store
        .ticket(&record.ticket)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("ticket {} is gone", record.ticket))?;
    let base = choose_base(repo, &ticket, &coder.repo_config.base_branch)
        .await
        .map_err(|e| format!("no base revision: {e}"))?;
    let worktree = repo
        .add_worktree(&coder.worktrees, &record.ticket, record.attempt, &base)
        .await
        .map_err(|e| format!("the worktree could not be made: {e}"))?;
    record.worktree = Some(worktree.path.to_string_lossy().into_owned());
    if let Err(e) = coder.store.save_attempt(record) {
        tracing::warn!(ticket = %record.ticket, error = %e, "the attempt's worktree was not recorded");
    }
    *worktree_slot = Some(worktree.clone());
    std::fs::create_dir_all(scratch.join("home"))
        .map_err(|e| format!("the attempt's scratch folder could not be made: {e}"))?;
    transcript.record(
        "workspace",
        &format!(
            "worktree at {} on branch {} from {base}",
            worktree.path.display(),
            worktree.branch
        ),
        None,
    );

    let tests = TestCommand {
        command: coder.repo_config.test_command.clone(),
        timeout: coder.repo_config.test_timeout,
        network: coder.config.network,
        scratch: scratch.to_path_buf(),
    };
    let lint = (!coder.repo_config.lint_command.is_empty()).then(|| TestCommand {
        command: coder.repo_config.lint_command.clone(),
        ..tests.clone()
    });
    let before = tests.run(&worktree, "before").await;
    transcript.record(
        "tests",
        &format!("before any edit: {}", describe(&before, 1500)),
        None,
    );
    let lint_before = match &lint {
        Some(lint) => Some(lint.run(&worktree, "lint-before").await),
        None => None,
    };

    let workspace = Workspace::new(&worktree.path);
    let prompt = build_prompt(coder, repo, &ticket, &worktree, &workspace, transcript).await?;
    let guardrails = coder.guardrails.as_ref();
    let prover = Prover {
        worktree: &worktree,
        guardrails,
        tests: &tests,
        lint: lint.as_ref(),
        before: &before,
        lint_before: lint_before.as_ref(),
    };
    let end = if coder.config.command.is_empty() {
        record.agent = "built-in".into();
        let agent = BuiltinAgent {
            llm: &coder.llm.client,
            tools: Tools {
                workspace: &workspace,
                worktree: &worktree,
                tests: &tests,
                timeout: coder.config.tool_timeout,
                output_bytes: coder.config.tool_output_bytes,
            },
            prover,
            workspace: &workspace,
            max_steps: coder.config.max_steps,
            max_tokens: coder.config.max_tokens,
            max_rounds: coder.config.max_rounds,
            output_bytes: coder.config.tool_output_bytes,
        };
        agent.run(&prompt, transcript, spent).await
    } else {
        record.agent = coder
            .config
            .command
            .first()
            .map(|p| p.rsplit('/').next().unwrap_or(p).to_string())
            .unwrap_or_default();
        run_external(
            coder, record, &worktree, scratch, &prompt, &prover, transcript,
        )
        .await
    };
    Ok(match end {
        LoopEnd::Fixed(tested) => Ending::Fixed {
            tested,
            before: Box::new(before),
        },
        LoopEnd::NoFix(reason) => Ending::NoFix(reason),
    })
}

/// The external agent: it edits the worktree as it likes; what it leaves
/// is proven like the built-in agent's proposals, once.
async fn run_external(
    coder: &Coder,
    record: &AttemptRecord,
    worktree: &Worktree,
    scratch: &Path,
    prompt: &RenderedPrompt,
    prover: &Prover<'_>,
    transcript: &mut Transcript,
) -> LoopEnd {
    let agent = ExternalAgent::from_config(&coder.config);
    let llm = coder.config.pass_llm_env.then(|| LlmEnv {
        base_url: coder.llm_env.base_url.clone(),
        model: coder.llm_env.model.clone(),
        api_key: coder.llm_env.api_key.clone(),
    });
    let task_markdown = render_task_markdown(prompt);
    let task = ExternalTask {
        ticket: &record.ticket,
        workdir: &worktree.path,
        task_markdown: &task_markdown,
        scratch,
        llm,
    };
    let outcome = match agent.run(task).await {
        Ok(outcome) => outcome,
        Err(e) => return LoopEnd::NoFix(format!("the external agent could not run: {e}")),
    };
    let exit = outcome.contained.exit;
    transcript.record(
        "external",
        &format!(
            "`{}`: {exit} after {} ms\n{}",
            outcome.argv.join(" "),
            outcome.contained.elapsed.as_millis(),
            truncate(&outcome.contained.output, 3000)
        ),
        None,
    );
    if !exit.success() {
        return LoopEnd::NoFix(format!("the external agent failed: {exit}"));
    }
    match prover.prove(transcript).await {
        Proof::Tested(tested) if tested.accepted() => LoopEnd::Fixed(tested),
        Proof::Unchanged => LoopEnd::NoFix("the external agent changed nothing".into()),
        proof => LoopEnd::NoFix(format!(
            "the external agent's change was refused: {}",
            truncate(&proof.feedback(4000), 3000)
        )),
    }
}

/// The coder prompt for the ticket, with what the repository says at the
/// base: outlines of the stack's files, related tests, recent commits,
/// the deploy's diff.
async fn build_prompt(
    coder: &Coder,
    repo: &Repo,
    ticket: &Ticket,
    worktree: &Worktree,
    workspace: &Workspace,
    transcript: &mut Transcript,
) -> Result<RenderedPrompt, String> {
    let stack = stack_files(ticket);
    let outlines: Vec<FileOutline> = stack
        .iter()
        .filter_map(|path| {
            let rel = RelPath::parse(path).ok()?;
            let text = workspace.read(&rel).ok()??;
            Some(FileOutline {
                path: path.clone(),
                outline: outline(path, &text)?,
            })
        })
        .collect();
    let files = worktree.files().await.unwrap_or_default();
    let related = related_tests(files.iter().map(String::as_str), &stack);
    let commits = repo
        .recent_commits(&worktree.base, RECENT_WINDOW, RECENT_MAX)
        .await
        .unwrap_or_default();
    let deploy_diff = match ticket.triage.as_ref().and_then(|t| t.diff.as_ref()) {
        Some(diff) => repo.diff(&diff.from, &diff.to).await.ok().map(|d| d.patch),
        None => None,
    };
    let test_command = coder.repo_config.test_command.display();
    let mut inputs = ContextInputs::new(ticket, &worktree.base, &test_command);
    inputs.deploy_diff = deploy_diff.as_deref();
    inputs.recent_commits = &commits;
    inputs.outlines = &outlines;
    inputs.related_tests = &related;
    let past_fixes = super::memory::recall(coder, ticket);
    inputs.past_fixes = &past_fixes;
    // A boundary that happens to appear in the data: draw another.
    let mut last_error = String::new();
    for _ in 0..3 {
        match render_context(
            &coder.llm.coder_prompt,
            &coder.llm.scrubber,
            Boundary::random(),
            &inputs,
            coder.config.max_context_tokens,
        ) {
            Ok(context) => {
                let cuts = if context.cuts.is_empty() {
                    String::new()
                } else {
                    format!("; cut: {}", context.cuts.join("; "))
                };
                transcript.record(
                    "context",
                    &format!(
                        "context of about {} tokens; {} stack files outlined, {} related tests, {} recent commits{}{cuts}",
                        context.estimated_tokens,
                        outlines.len(),
                        related.len(),
                        commits.len(),
                        if deploy_diff.is_some() { ", the deploy's diff" } else { "" },
                    ),
                    None,
                );
                return Ok(context.prompt);
            }
            Err(e) => last_error = e.to_string(),
        }
    }
    Err(format!("the prompt could not be rendered: {last_error}"))
}

/// The tip of `base_branch` when the blamed revision is in it (the fix
/// lands on what is current), else the blamed revision (the branch moved
/// elsewhere, or the deploy came from another branch).
async fn choose_base(repo: &Repo, ticket: &Ticket, base_branch: &str) -> Result<String, RepoError> {
    let tip = repo.resolve(&format!("refs/heads/{base_branch}")).await?;
    let blamed = match ticket.revision.as_deref() {
        Some(rev) => repo.resolve(rev).await?,
        None => None,
    };
    match (tip, blamed) {
        (Some(tip), Some(blamed)) => {
            if repo.is_ancestor(&blamed, &tip).await? {
                Ok(tip)
            } else {
                Ok(blamed)
            }
        }
        (Some(tip), None) => Ok(tip),
        (None, Some(blamed)) => Ok(blamed),
        (None, None) => Err(RepoError::BadRevision {
            rev: base_branch.chars().take(80).collect(),
            reason: "neither repo.base_branch nor the ticket's revision is in the repository",
        }),
    }
}

/// Records the ending: the commit and evidence of a fix, the ticket's
/// new state (review or pull request, or escalated), the cooldown of a
/// failure.
async fn finish(
    coder: &Coder,
    mut record: AttemptRecord,
    ending: Ending,
    worktree: Option<&Worktree>,
    transcript: &mut Transcript,
) -> AttemptRecord {
    let now = now_ms();
    match ending {
        Ending::Fixed { tested, before } => {
            match commit_fix(coder, &record, worktree, &tested).await {
                Ok(commit) => {
                    record.fix = Some(Box::new(evidence(commit, worktree, &tested, &before)));
                    record.end(
                        AttemptState::Succeeded,
                        now,
                        "a fix passed the guardrails and the tests",
                    );
                    transcript.record("outcome", &format!("fixed: {}", tested.judgement), None);
                }
                Err(problem) => {
                    record.end(AttemptState::Failed, now, &problem);
                    transcript.record("outcome", &problem, None);
                }
            }
        }
        Ending::NoFix(reason) => {
            record.end(AttemptState::Failed, now, &reason);
            transcript.record("outcome", &reason, None);
        }
    }
    // The attempt (and its evidence) first: the ticket's move and the
    // publishing read it. A stop before the ticket moves is settled at the
    // next start (see `manager::recover`).
    if let Err(e) = coder.store.finish_attempt(&record) {
        tracing::error!(ticket = %record.ticket, error = %e, "the attempt's end was not recorded");
    }
    if let Err(e) = coder.store.flush().await {
        tracing::error!(ticket = %record.ticket, error = %e, "the attempt's end was not flushed");
    }
    record
}

/// Moves the ticket of an ended attempt: a fix to review (then published
/// when Suture may), anything else to escalated; a revision's fix onto its
/// pull request's branch, a failed revision back to the pull request.
pub(super) async fn settle_ticket(coder: &Coder, record: &AttemptRecord) {
    let revision = coder
        .store
        .ticket(&record.ticket)
        .ok()
        .flatten()
        .and_then(|t| t.fix_revision)
        .filter(|r| r.pending() && r.attempt == Some(record.attempt));
    match (record.state, fix_record(record), revision) {
        (AttemptState::Succeeded, Some(fix), Some(revision)) => {
            super::revise::on_revised(coder, record, fix, &revision).await
        }
        (_, _, Some(revision)) => {
            super::revise::on_not_revised(coder, record, &revision, &record.reason)
        }
        (AttemptState::Succeeded, Some(fix), None) => on_fixed(coder, record, fix).await,
        _ => on_failed(coder, record, &record.reason),
    }
    if let Err(e) = coder.store.flush().await {
        tracing::error!(ticket = %record.ticket, error = %e, "the ticket's move was not flushed");
    }
}

/// The ticket's view of an attempt's fix.
fn fix_record(record: &AttemptRecord) -> Option<FixRecord> {
    let evidence = record.fix.as_ref()?;
    Some(FixRecord {
        attempt: record.attempt,
        branch: record.branch.clone(),
        commit: evidence.commit.clone(),
        base: evidence.base.clone(),
        files: evidence.files.clone(),
        tests: evidence.judgement.clone(),
        review: FixReview::Pending,
        pull_request: None,
        held: None,
        retry_at_ms: None,
        publish_failures: 0,
    })
}

async fn commit_fix(
    coder: &Coder,
    record: &AttemptRecord,
    worktree: Option<&Worktree>,
    tested: &Tested,
) -> Result<String, String> {
    let worktree = worktree.ok_or("no worktree to commit")?;
    let ticket = coder.store.ticket(&record.ticket).ok().flatten();
    let title = ticket
        .as_ref()
        .map_or_else(|| record.ticket.clone(), |t| t.title.clone());
    let message = format!(
        "Fix {}: {}\n\n{}\n\n{}: {}\n",
        record.ticket,
        truncate(&title, 60),
        tested.judgement,
        coder.config.trailer,
        record.ticket
    );
    let author = CommitAuthor {
        name: coder.config.author_name.clone(),
        email: coder.config.author_email.clone(),
    };
    worktree
        .commit(&message, &author)
        .await
        .map_err(|e| format!("the fix could not be committed: {e}"))
}

fn evidence(
    commit: String,
    worktree: Option<&Worktree>,
    tested: &Tested,
    before: &Ran,
) -> FixEvidence {
    let mut diff = tested.diff.clone();
    if diff.len() > MAX_STORED_DIFF_BYTES {
        let mut cut = MAX_STORED_DIFF_BYTES;
        while !diff.is_char_boundary(cut) {
            cut -= 1;
        }
        diff.truncate(cut);
        diff.push_str("\n[... diff cut: the branch has all of it ...]\n");
    }
    FixEvidence {
        commit,
        base: worktree.map(|w| w.base.clone()).unwrap_or_default(),
        diff,
        files: tested.files.clone(),
        added: tested.verdict.added,
        removed: tested.verdict.removed,
        tests_before: before.summary.clone(),
        tests_after: tested.after.summary.clone(),
        tests_only: tested.tests_only.as_ref().map(|r| r.summary.clone()),
        judgement: tested.judgement.to_string(),
        lint: tested.lint.as_ref().map(|r| r.summary.clone()),
    }
}

/// A fix: into the review queue, or straight to a draft pull request when
/// Suture may act outside.
async fn on_fixed(coder: &Coder, record: &AttemptRecord, fix: FixRecord) {
    let now = now_ms();
    let stored = coder.store.update_ticket(&record.ticket, |t| {
        t.fix = Some(fix.clone());
        t.transition(
            TicketState::Review,
            now,
            "coder",
            &format!("attempt {} made a fix on {}", record.attempt, record.branch),
        )?;
        Ok(())
    });
    if let Err(e) = stored {
        tracing::error!(ticket = %record.ticket, error = %e, "the fix was not recorded on its ticket");
        return;
    }
    metrics::counter!("suture_agent_attempts_total", "outcome" => "fixed").increment(1);
    let _ = coder.store.flush().await;
    let published = publish::publish_fix(coder, &record.ticket, "coder").await;
    let notification = match &published {
        publish::Published::Opened(url) => Notification::new(
            NotificationKind::PrOpened,
            now_ms(),
            "A fix was opened as a draft pull request",
            format!("attempt {} on {}", record.attempt, record.branch),
        )
        .url(url),
        publish::Published::Held(why) => Notification::new(
            NotificationKind::FixAwaitingReview,
            now_ms(),
            "A fix waits in Suture's review queue",
            format!("attempt {} on {}: {why}", record.attempt, record.branch),
        ),
    };
    coder.guard.notify(notification.ticket(&record.ticket));
}

/// No fix: the ticket needs a person, and its signatures rest.
pub(super) fn on_failed(coder: &Coder, record: &AttemptRecord, reason: &str) {
    let now = now_ms();
    metrics::counter!("suture_agent_attempts_total", "outcome" => "failed").increment(1);
    let cooldown = i64::try_from(coder.config.cooldown.as_millis()).unwrap_or(i64::MAX);
    let updated = coder.store.update_ticket(&record.ticket, |t| {
        t.transition(
            TicketState::Escalated,
            now,
            "coder",
            &format!(
                "attempt {} found no fix: {}",
                record.attempt,
                truncate(reason, 300)
            ),
        )?;
        Ok(t.signature_ids().map(str::to_string).collect::<Vec<_>>())
    });
    match updated {
        Ok((_, signatures)) => {
            coder.control.fix_attempt_failed(
                &record.ticket,
                signatures.iter().map(String::as_str),
                coder.config.fix_loop_failures,
                &truncate(reason, 300),
            );
            coder.guard.notify(
                Notification::new(
                    NotificationKind::Escalation,
                    now,
                    "A ticket needs a person: the agent found no fix",
                    format!("attempt {}: {}", record.attempt, truncate(reason, 300)),
                )
                .ticket(&record.ticket),
            );
            for signature in signatures {
                if let Err(e) = coder
                    .store
                    .set_agent_cooldown(&signature, now.saturating_add(cooldown))
                {
                    tracing::warn!(%signature, error = %e, "cooldown not recorded");
                }
            }
        }
        Err(e) => {
            tracing::warn!(ticket = %record.ticket, error = %e, "the failed attempt's ticket was not escalated")
        }
    }
}

/// The folder where attempts' worktrees are made: `agent.worktrees`, else
/// beside the store (`<store.path>.worktrees`), never inside sled's own
/// folder nor the service's checkout.
pub fn worktrees_folder(configured: &Path, store_path: &Path) -> PathBuf {
    if !configured.as_os_str().is_empty() {
        return configured.to_path_buf();
    }
    let mut name = store_path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "suture".into());
    name.push(".worktrees");
    store_path.with_file_name(name)
}

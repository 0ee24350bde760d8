//! One attempt's own work, step by step, through the same public calls the
//! coder stage makes, in its order (`stages/coder/attempt.rs`: `attempt`,
//! `build_prompt`, `finish`, `run`; `prove.rs`: `prove`, `tests_only`;
//! `validate.rs`: `TestCommand::run`). The model's turn and the test
//! commands themselves are left out: that time is the model's and the
//! service's, not Suture's.
//!
//! `build_prompt`, `choose_base` and `tests_only` are private to the
//! stage; their sequences are repeated here with the public functions
//! they call.
//!
//! Where a test run or the model's turn would be, the attempt pauses for
//! [`STAND_IN`], untimed: time must pass there as it does in a real
//! attempt, because git trusts a file's stat only when the file is older
//! than the index (to the second). Without the pause, every file of the
//! fresh checkout would still be "racily clean" at the commit and hashed
//! again, a cost a real attempt, minutes long, never pays there.

use std::time::{Duration, Instant};

use suture_actors::clients::git::worktree::{CommitAuthor, Worktree};
use suture_actors::domain::coder::apply::apply_edits;
use suture_actors::domain::coder::context::{
    ContextInputs, FileOutline, render_context, stack_files,
};
use suture_actors::domain::coder::diff::parse_diff;
use suture_actors::domain::coder::edits::parse_edits;
use suture_actors::domain::coder::outline::outline;
use suture_actors::domain::coder::path::RelPath;
use suture_actors::domain::coder::related::related_tests;
use suture_actors::domain::llm::prompt::Boundary;
use suture_actors::stages::coder::workspace::Workspace;

use crate::generate::Error;
use crate::scene::{Scene, TICKET};

/// The steps, in the order they run; [`attempt`] returns one time each.
pub const STEPS: &[&str] = &[
    "base revision",
    "worktree add",
    "tests before: leftovers",
    "context: outlines",
    "context: files + tests",
    "context: recent commits",
    "context: deploy diff",
    "context: render",
    "edit: parse, apply, write",
    "diff",
    "guardrails",
    "tests after: leftovers",
    "tests only (in place)",
    "commit",
    "worktree remove",
];

/// What the context and the fix held, to show the work was real.
#[derive(Debug, Clone)]
pub struct Facts {
    pub outlines: usize,
    pub related: usize,
    pub commits: usize,
    pub deploy_diff_bytes: usize,
    pub tokens: u64,
    pub cuts: usize,
    pub verdict: String,
}

/// The same window and count as `stages/coder/attempt.rs`.
const RECENT_WINDOW: Duration = Duration::from_secs(24 * 3600);
const RECENT_MAX: usize = 30;

/// What stands in for a test run or a model turn (both take longer).
pub const STAND_IN: Duration = Duration::from_millis(1100);

struct Laps {
    last: Instant,
    times: Vec<Duration>,
}

impl Laps {
    /// Ends the current step.
    fn lap(&mut self) {
        let now = Instant::now();
        self.times.push(now - self.last);
        self.last = now;
    }

    /// Lets [`STAND_IN`] pass, outside every step.
    async fn stand_in(&mut self) {
        let paused = Instant::now();
        tokio::time::sleep(STAND_IN).await;
        self.last += paused.elapsed();
    }
}

/// Runs attempt number `number` (each its own branch) and returns the time
/// of every step of [`STEPS`].
pub async fn attempt(scene: &Scene, number: u32) -> Result<(Vec<Duration>, Facts), Error> {
    let repo = &scene.repo;
    let ticket = &scene.ticket;
    let mut laps = Laps {
        last: Instant::now(),
        times: Vec::with_capacity(STEPS.len()),
    };

    // choose_base: the base branch's tip, when the blamed revision is in it.
    let tip = repo.resolve("refs/heads/main").await?.ok_or("no main")?;
    let blamed = repo
        .resolve(ticket.revision.as_deref().ok_or("no revision")?)
        .await?
        .ok_or("unknown revision")?;
    let base = if repo.is_ancestor(&blamed, &tip).await? {
        tip
    } else {
        blamed
    };
    laps.lap();

    let worktree = repo
        .add_worktree(&scene.worktrees, TICKET, number, &base)
        .await?;
    laps.lap();

    // TestCommand::run lists the untracked files before and after the run.
    leftovers(&worktree, &mut laps).await?;
    laps.lap();

    // build_prompt.
    let workspace = Workspace::new(&worktree.path);
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
    laps.lap();
    let files = worktree.files().await?;
    let related = related_tests(files.iter().map(String::as_str), &stack);
    laps.lap();
    let commits = repo
        .recent_commits(&worktree.base, RECENT_WINDOW, RECENT_MAX)
        .await?;
    laps.lap();
    let diff = ticket
        .triage
        .as_ref()
        .and_then(|t| t.diff.as_ref())
        .ok_or("no deploy diff on the ticket")?;
    let deploy_diff = repo.diff(&diff.from, &diff.to).await?.patch;
    laps.lap();
    let mut inputs = ContextInputs::new(ticket, &worktree.base, &scene.test_command);
    inputs.deploy_diff = Some(&deploy_diff);
    inputs.recent_commits = &commits;
    inputs.outlines = &outlines;
    inputs.related_tests = &related;
    let context = render_context(
        &scene.template,
        &scene.scrubber,
        Boundary::random(),
        &inputs,
        scene.config.max_context_tokens,
    )?;
    laps.lap();

    // The model's turn, then the built-in agent applies its proposal:
    // parse, apply all or nothing, write.
    laps.stand_in().await;
    let blocks = parse_edits(&scene.reply)?;
    let applied = apply_edits(&workspace, &blocks)?;
    workspace.write(&applied)?;
    laps.lap();

    // Prover::prove.
    let patch = worktree.diff().await?;
    laps.lap();
    let changed = parse_diff(&patch)?;
    let verdict = scene.guardrails.check(&changed);
    laps.lap();
    leftovers(&worktree, &mut laps).await?;
    laps.lap();
    // The tests-only run, in the attempt's own worktree (as `prove.rs`
    // does): the code files the fix changed go back to the base version,
    // the (untimed) tests would run, the fix's versions are written back.
    let code: Vec<&String> = changed
        .iter()
        .filter_map(|f| f.new_path.as_ref())
        .filter(|p| !scene.guardrails.is_test(p))
        .collect();
    let mut saved = Vec::new();
    for path in code {
        saved.push((path.clone(), std::fs::read(worktree.path.join(path))?));
        match worktree.base_file(path).await? {
            Some(content) => std::fs::write(worktree.path.join(path), content)?,
            None => std::fs::remove_file(worktree.path.join(path))?,
        }
    }
    leftovers(&worktree, &mut laps).await?;
    for (path, content) in saved {
        std::fs::write(worktree.path.join(path), content)?;
    }
    laps.lap();

    // finish and run: the commit, then the worktree goes, the branch stays.
    let author = CommitAuthor {
        name: "Suture".into(),
        email: "suture@localhost".into(),
    };
    let commit = worktree
        .commit(&format!("Fix {TICKET}: {}", ticket.title), &author)
        .await?;
    laps.lap();
    repo.remove_worktree(&worktree, true).await?;
    laps.lap();

    check(scene, &commit, &worktree, &outlines, &related, &verdict)?;
    let facts = Facts {
        outlines: outlines.len(),
        related: related.len(),
        commits: commits.len(),
        deploy_diff_bytes: deploy_diff.len(),
        tokens: context.estimated_tokens,
        cuts: context.cuts.len(),
        verdict: verdict.to_string(),
    };
    Ok((laps.times, facts))
}

/// The listings around one test run (before, then after, as
/// `TestCommand::run` does); the run itself is the service's time.
async fn leftovers(worktree: &Worktree, laps: &mut Laps) -> Result<(), Error> {
    let before = worktree.untracked().await?;
    laps.stand_in().await;
    let after = worktree.untracked().await?;
    if after.difference(&before).next().is_some() {
        return Err("files appeared without a test run".into());
    }
    Ok(())
}

/// The attempt did what a real one does: every stack file outlined, a
/// related test found, the fix accepted and committed on its branch.
fn check(
    scene: &Scene,
    commit: &str,
    worktree: &Worktree,
    outlines: &[FileOutline],
    related: &[suture_actors::domain::coder::related::RelatedTest],
    verdict: &suture_actors::domain::coder::guardrails::Verdict,
) -> Result<(), Error> {
    if outlines.len() != scene.stack_len {
        return Err(format!(
            "{} of {} stack files outlined",
            outlines.len(),
            scene.stack_len
        )
        .into());
    }
    if related.is_empty() {
        return Err("no related test found".into());
    }
    if !verdict.passed() || verdict.files != 2 {
        return Err(format!("the fix was refused: {verdict}").into());
    }
    if commit.len() != 40 || worktree.path.exists() {
        return Err("no commit, or the worktree is still there".into());
    }
    Ok(())
}

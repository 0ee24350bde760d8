//! Running the service's own tests (and lint) in a worktree, contained,
//! and reading what they say.
//!
//! The command gets a scrubbed environment (see `runtime::sandbox`) plus
//! `SUTURE_JUNIT_XML`, a path where it may write a JUnit XML report
//! (`pytest --junitxml=$SUTURE_JUNIT_XML`, `jest --reporters=jest-junit`
//! with `JEST_JUNIT_OUTPUT_FILE`); without one, pytest's `-rA` summary or
//! TAP in the output is read. A per-test report is what lets "no new
//! failures" be judged on a suite that already fails somewhere.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::clients::git::worktree::Worktree;
use crate::domain::coder::attempt::TestSummary;
use crate::domain::coder::config::{CommandLine, NetworkPolicy};
use crate::domain::coder::reports::{TestReport, TestStatus, parse_junit, parse_pytest, parse_tap};
use crate::domain::coder::tests_outcome::TestRun;
use crate::runtime::sandbox::{self, Contained, Exit, Network};

/// Characters of output kept in a [`TestSummary`].
const TAIL_CHARS: usize = 2_000;

/// Output kept from one run (head and tail), enough for a long failure.
const OUTPUT_LIMIT: usize = 256 * 1024;

/// How the tests are run for one attempt.
#[derive(Debug, Clone)]
pub struct TestCommand {
    pub command: CommandLine,
    pub timeout: Duration,
    pub network: NetworkPolicy,
    /// The attempt's scratch folder (outside the worktree): `HOME`,
    /// reports.
    pub scratch: PathBuf,
}

/// One run: what the judge reads, what the record keeps, and the output
/// for the model.
#[derive(Debug, Clone)]
pub struct Ran {
    pub run: TestRun,
    pub summary: TestSummary,
    pub output: String,
}

impl TestCommand {
    /// Runs the command in `worktree`, then removes the untracked files
    /// the run created (bytecode caches, build outputs a repository does
    /// not ignore): they are not part of anyone's fix. `label` names the
    /// run's report file (`before`, `after`, ...). A command that cannot
    /// even start is a run that failed, with the reason as its output: the
    /// fix cannot be proven either way.
    pub async fn run(&self, worktree: &Worktree, label: &str) -> Ran {
        let existing = worktree.untracked().await.unwrap_or_default();
        let ran = self.run_in(&worktree.path, label).await;
        match worktree.untracked().await {
            Ok(now) => remove_artifacts(&worktree.path, now.difference(&existing)),
            Err(e) => tracing::warn!(error = %e, "the test run's leftovers were not listed"),
        }
        ran
    }

    async fn run_in(&self, dir: &Path, label: &str) -> Ran {
        let home = self.scratch.join("home");
        let junit = self.scratch.join(format!("junit-{label}.xml"));
        let _ = std::fs::remove_file(&junit);
        let mut env = sandbox::base_env(&home);
        env.push((
            "SUTURE_JUNIT_XML".into(),
            junit.to_string_lossy().into_owned(),
        ));
        env.push(("CI".into(), "true".into()));
        let contained = Contained {
            argv: self.command.argv(),
            cwd: dir.to_path_buf(),
            env,
            timeout: self.timeout,
            network: network(self.network),
            output_limit: OUTPUT_LIMIT,
        };
        let started = std::time::Instant::now();
        let (exit, output) = match sandbox::run(contained).await {
            Ok(outcome) => {
                let mut output = outcome.output;
                if self.network == NetworkPolicy::None && !outcome.network_isolated {
                    output.push_str(
                        "\n[suture: agent.network = \"none\" but no network namespace could be made here; the tests ran with the host's network]\n",
                    );
                }
                (outcome.exit, output)
            }
            Err(e) => (
                Exit::Code(127),
                format!("[suture: the tests could not start: {e}]"),
            ),
        };
        let report = read_report(&junit, &output);
        let exit_code = match exit {
            Exit::Code(code) => Some(code),
            Exit::Signal(_) | Exit::TimedOut => None,
        };
        let count = |status| report.as_ref().map_or(0, |r: &TestReport| r.count(status));
        let summary = TestSummary {
            command: self.command.display(),
            exit_code,
            timed_out: exit == Exit::TimedOut,
            passed: count(TestStatus::Passed),
            failed: count(TestStatus::Failed),
            errors: count(TestStatus::Error),
            skipped: count(TestStatus::Skipped),
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            output_tail: tail(&output, TAIL_CHARS),
        };
        Ran {
            run: TestRun { exit_code, report },
            summary,
            output,
        }
    }
}

/// Removes files a test run created, and the folders they leave empty.
/// The paths come from git, relative to the worktree; any that would leave
/// it is skipped.
fn remove_artifacts<'a>(root: &Path, paths: impl Iterator<Item = &'a String>) {
    for path in paths {
        if crate::domain::coder::path::RelPath::parse(path).is_err() {
            continue;
        }
        let file = root.join(path);
        if std::fs::remove_file(&file).is_err() {
            continue;
        }
        let mut folder = file.parent();
        while let Some(dir) = folder {
            if dir == root || std::fs::remove_dir(dir).is_err() {
                break;
            }
            folder = dir.parent();
        }
    }
}

/// The JUnit file when the command wrote one, else what the output says.
fn read_report(junit: &Path, output: &str) -> Option<TestReport> {
    if let Ok(xml) = std::fs::read_to_string(junit) {
        match parse_junit(&xml) {
            Ok(report) if !report.results.is_empty() => return Some(report),
            Ok(_) => {}
            Err(e) => {
                tracing::info!(error = %e, "the JUnit report could not be read; reading the output")
            }
        }
    }
    [parse_pytest(output), parse_tap(output)]
        .into_iter()
        .find(|report| !report.results.is_empty())
}

pub fn network(policy: NetworkPolicy) -> Network {
    match policy {
        NetworkPolicy::None => Network::None,
        NetworkPolicy::Host => Network::Host,
    }
}

/// The last `chars` characters of `text`, on a line boundary when one is
/// near.
pub fn tail(text: &str, chars: usize) -> String {
    let count = text.chars().count();
    if count <= chars {
        return text.to_string();
    }
    let cut: String = text.chars().skip(count - chars).collect();
    match cut.find('\n') {
        Some(i) if i < 200 => format!("…{}", &cut[i..]),
        _ => format!("…{cut}"),
    }
}

/// A run for the model: its exit, its counts, and its output's end.
pub fn describe(ran: &Ran, chars: usize) -> String {
    let s = &ran.summary;
    let exit = match (s.exit_code, s.timed_out) {
        (_, true) => "timed out".to_string(),
        (Some(code), _) => format!("exit code {code}"),
        (None, _) => "killed by a signal".to_string(),
    };
    let counts = if ran.run.report.is_some() {
        format!(
            "{} passed, {} failed, {} errors, {} skipped",
            s.passed, s.failed, s.errors, s.skipped
        )
    } else {
        "no per-test report".to_string()
    };
    format!(
        "`{}`: {exit}; {counts}; {} ms\n{}",
        s.command,
        s.duration_ms,
        tail(&ran.output, chars)
    )
}

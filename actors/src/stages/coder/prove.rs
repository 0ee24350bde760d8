//! Whether what is in the worktree is a fix a person may review, whatever
//! wrote it: the guardrails on the final diff, then the tests after, on
//! the base with only the new tests (does the regression test reproduce
//! the bug?), and the lint. The built-in agent gets the reasons back as
//! feedback; an external agent's attempt ends with them.

use std::path::Path;

use super::transcript::Transcript;
use super::validate::{Ran, TestCommand, describe};
use crate::clients::git::Repo;
use crate::clients::git::worktree::Worktree;
use crate::domain::coder::diff::{FileDiff, parse_diff};
use crate::domain::coder::guardrails::{Guardrails, Verdict};
use crate::domain::coder::tests_outcome::{Judgement, judge};

/// What proving found.
#[derive(Debug, Clone)]
pub enum Proof {
    /// The worktree has no change.
    Unchanged,
    /// The diff breaks guardrails; nothing was run.
    Refused { verdict: Verdict, diff: String },
    /// The diff could not be read as a diff.
    Unreadable(String),
    /// The tests (or lint) were run and judged.
    Tested(Box<Tested>),
}

#[derive(Debug, Clone)]
pub struct Tested {
    pub diff: String,
    pub verdict: Verdict,
    pub files: Vec<String>,
    pub after: Ran,
    pub tests_only: Option<Ran>,
    pub lint: Option<Ran>,
    pub judgement: Judgement,
    /// The lint passed on the base and fails with the fix.
    pub lint_broken: bool,
}

impl Tested {
    pub fn accepted(&self) -> bool {
        self.judgement.accepted && !self.lint_broken
    }
}

impl Proof {
    /// What the model (or the ticket) is told when the fix is not accepted.
    pub fn feedback(&self, output_bytes: usize) -> String {
        match self {
            Proof::Unchanged => "the worktree has no change: nothing to test".into(),
            Proof::Refused { verdict, .. } => format!(
                "{verdict}\nUndo or change those edits (send new SEARCH/REPLACE blocks against the files as they are now)."
            ),
            Proof::Unreadable(e) => format!("the change could not be read: {e}"),
            Proof::Tested(t) if t.accepted() => format!("{}", t.judgement),
            Proof::Tested(t) => {
                let mut text = format!(
                    "{}\n\nTests after your edits: {}",
                    t.judgement,
                    describe(&t.after, output_bytes)
                );
                if let Some(only) = &t.tests_only {
                    text.push_str(&format!(
                        "\n\nYour new tests on the code without your fix: {}",
                        describe(only, output_bytes / 2)
                    ));
                }
                if t.lint_broken {
                    if let Some(lint) = &t.lint {
                        text.push_str(&format!(
                            "\n\nThe lint passed before your edits and fails now: {}",
                            describe(lint, output_bytes / 2)
                        ));
                    }
                }
                text
            }
        }
    }
}

/// What proving needs.
pub struct Prover<'a> {
    pub repo: &'a Repo,
    pub worktree: &'a Worktree,
    pub guardrails: &'a Guardrails,
    pub tests: &'a TestCommand,
    pub lint: Option<&'a TestCommand>,
    /// The tests on the base, run before any edit.
    pub before: &'a Ran,
    /// The lint on the base, when there is a lint.
    pub lint_before: Option<&'a Ran>,
    /// Where the tests-only worktree is made.
    pub worktrees: &'a Path,
    pub ticket: &'a str,
    pub attempt: u32,
}

impl Prover<'_> {
    pub async fn prove(&self, transcript: &mut Transcript) -> Proof {
        let diff = match self.worktree.diff().await {
            Ok(diff) => diff,
            Err(e) => return Proof::Unreadable(e.to_string()),
        };
        if diff.trim().is_empty() {
            return Proof::Unchanged;
        }
        let files = match parse_diff(&diff) {
            Ok(files) => files,
            Err(e) => return Proof::Unreadable(e.to_string()),
        };
        let verdict = self.guardrails.check(&files);
        transcript.record("guardrails", &verdict.to_string(), None);
        if !verdict.passed() {
            return Proof::Refused { verdict, diff };
        }
        let after = self.tests.run(self.worktree, "after").await;
        transcript.record(
            "tests",
            &format!("after the fix: {}", describe(&after, 1500)),
            None,
        );
        let tests_only = self.tests_only(&files).await;
        if let Some(only) = &tests_only {
            transcript.record(
                "tests",
                &format!("the new tests without the fix: {}", describe(only, 1500)),
                None,
            );
        }
        let judgement = judge(
            &self.before.run,
            tests_only.as_ref().map(|r| &r.run),
            &after.run,
        );
        transcript.record("tests", &judgement.to_string(), None);
        let (lint, lint_broken) = match (self.lint, self.lint_before) {
            (Some(lint), Some(before)) => {
                let ran = lint.run(self.worktree, "lint").await;
                let broken =
                    before.summary.exit_code == Some(0) && ran.summary.exit_code != Some(0);
                transcript.record("lint", &describe(&ran, 1000), None);
                (Some(ran), broken)
            }
            _ => (None, false),
        };
        Proof::Tested(Box::new(Tested {
            files: changed_paths(&files),
            diff,
            verdict,
            after,
            tests_only,
            lint,
            judgement,
            lint_broken,
        }))
    }

    /// The tests on the base with only the fix's test files: a regression
    /// test must fail there. `None` when the fix changes no test file, or
    /// only test files (then "without the fix" is the base itself).
    async fn tests_only(&self, files: &[FileDiff]) -> Option<Ran> {
        let tests: Vec<&String> = files
            .iter()
            .filter_map(|f| f.new_path.as_ref())
            .filter(|p| self.guardrails.is_test(p))
            .collect();
        let code_changed = files.iter().any(|f| {
            let path = f.new_path.as_ref().or(f.old_path.as_ref());
            path.is_some_and(|p| !self.guardrails.is_test(p))
        });
        if tests.is_empty() || !code_changed {
            return None;
        }
        let name = format!("{}-t", self.ticket);
        let base = match self
            .repo
            .add_worktree(self.worktrees, &name, self.attempt, &self.worktree.base)
            .await
        {
            Ok(base) => base,
            Err(e) => {
                tracing::warn!(error = %e, "no worktree for the tests-only run");
                return None;
            }
        };
        let mut copied = true;
        for path in tests {
            let from = self.worktree.path.join(path);
            let to = base.path.join(path);
            let result = to
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|()| std::fs::copy(&from, &to).map(|_| ()));
            if let Err(e) = result {
                tracing::warn!(error = %e, path = %path, "a new test file could not be copied for the tests-only run");
                copied = false;
            }
        }
        let ran = if copied {
            Some(self.tests.run(&base, "tests-only").await)
        } else {
            None
        };
        if let Err(e) = self.repo.remove_worktree(&base, false).await {
            tracing::warn!(error = %e, "the tests-only worktree was not removed");
        }
        ran
    }
}

/// The paths a diff touches (the new path of a rename).
pub fn changed_paths(files: &[FileDiff]) -> Vec<String> {
    files
        .iter()
        .filter_map(|f| f.new_path.clone().or_else(|| f.old_path.clone()))
        .collect()
}

//! Whether what is in the worktree is a fix a person may review, whatever
//! wrote it: the guardrails on the final diff, then the tests after, on
//! the base with only the new tests (does the regression test reproduce
//! the bug?), and the lint. The built-in agent gets the reasons back as
//! feedback; an external agent's attempt ends with them.

use super::transcript::Transcript;
use super::validate::{Ran, TestCommand, describe};
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
    pub worktree: &'a Worktree,
    pub guardrails: &'a Guardrails,
    pub tests: &'a TestCommand,
    pub lint: Option<&'a TestCommand>,
    /// The tests on the base, run before any edit.
    pub before: &'a Ran,
    /// The lint on the base, when there is a lint.
    pub lint_before: Option<&'a Ran>,
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
    ///
    /// Run in the attempt's own worktree: the code files the fix changed
    /// are put back as they are at the base, the tests run, and the fix's
    /// versions are written back. A second checkout would cost more than
    /// the rest of the attempt's own work together on a large repository
    /// (`coder_overhead`).
    async fn tests_only(&self, files: &[FileDiff]) -> Option<Ran> {
        let adds_tests = files
            .iter()
            .filter_map(|f| f.new_path.as_ref())
            .any(|p| self.guardrails.is_test(p));
        let code: Vec<&FileDiff> = files
            .iter()
            .filter(|f| {
                let path = f.new_path.as_ref().or(f.old_path.as_ref());
                path.is_some_and(|p| !self.guardrails.is_test(p))
            })
            .collect();
        if !adds_tests || code.is_empty() {
            return None;
        }
        let root = &self.worktree.path;
        // What the fix wrote, to put back afterwards: (path, its content).
        let mut saved: Vec<(String, Option<Vec<u8>>)> = Vec::new();
        let mut ok = true;
        for file in code {
            let paths = [file.new_path.as_ref(), file.old_path.as_ref()];
            for path in paths.into_iter().flatten() {
                if saved.iter().any(|(p, _)| p == path) {
                    continue;
                }
                if crate::domain::coder::path::RelPath::parse(path).is_err() {
                    ok = false;
                    continue;
                }
                saved.push((path.clone(), std::fs::read(root.join(path)).ok()));
                let restored = match self.worktree.base_file(path).await {
                    Ok(Some(content)) => write_file(&root.join(path), &content),
                    Ok(None) => remove_file(&root.join(path)),
                    Err(e) => Err(e.to_string()),
                };
                if let Err(e) = restored {
                    tracing::warn!(error = %e, %path, "the base version was not restored for the tests-only run");
                    ok = false;
                }
            }
        }
        let ran = if ok {
            Some(self.tests.run(self.worktree, "tests-only").await)
        } else {
            None
        };
        for (path, content) in saved {
            let put_back = match content {
                Some(content) => write_file(&root.join(&path), &content),
                None => remove_file(&root.join(&path)),
            };
            if let Err(e) = put_back {
                tracing::error!(error = %e, %path, "the fix's file was not written back after the tests-only run");
                return None;
            }
        }
        ran
    }
}

fn write_file(path: &std::path::Path, content: &[u8]) -> Result<(), String> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
    }
    std::fs::write(path, content).map_err(|e| e.to_string())
}

fn remove_file(path: &std::path::Path) -> Result<(), String> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}

/// The paths a diff touches (the new path of a rename).
pub fn changed_paths(files: &[FileDiff]) -> Vec<String> {
    files
        .iter()
        .filter_map(|f| f.new_path.clone().or_else(|| f.old_path.clone()))
        .collect()
}

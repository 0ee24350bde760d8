//! Whether a fix is proven by the project's own tests: the same test
//! command, run on the base revision ("before"), on the base plus only the
//! test files the fix changed ("tests only", optional), and on the fix
//! ("after"), compared here.
//!
//! # Rules
//!
//! **No new failures.** With a per-test report of both runs, every test
//! that passed before (or did not exist) must not fail or error after, and
//! no test that passed before may vanish (a collection error hides every
//! test of a module). A test already failing before may still fail: the
//! agent is not asked to fix unrelated breakage. A non-zero exit after is
//! accepted only when a test that already failed before explains it.
//! Without a report for both runs, only exit codes are known, and the fix
//! passes only when the tests exit 0 after: a suite already failing before
//! cannot tell a new failure from an old one.
//!
//! **Regression test.** A test the fix adds (in the report after, not in
//! the base's) is a regression test when it fails or errors in the tests
//! only run and passes after: it reproduces the bug and proves the fix. A
//! test missing from the tests only run while that run failed counts as
//! failing before (its module could not even import what the fix adds).
//! Adding tests none of which fails before proves nothing: that is
//! [`Regression::NotProven`], and the fix is refused, since the agent's
//! own evidence does not show the bug. Adding no test is allowed
//! ([`Regression::NoneAdded`]) and said in the pull request. Without
//! reports, a suite that exits 0 on the base, non-zero with only the new
//! tests, and 0 after proves it at the suite level.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::reports::{TestReport, TestStatus};

/// One run of the test command.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestRun {
    /// `None` when the run did not exit by itself (killed at its timeout,
    /// by a signal).
    pub exit_code: Option<i32>,
    /// The per-test report, when one was produced and could be read.
    pub report: Option<TestReport>,
}

impl TestRun {
    pub fn passed(&self) -> bool {
        self.exit_code == Some(0)
    }

    fn status(&self, id: &str) -> Option<TestStatus> {
        self.report.as_ref()?.results.get(id).copied()
    }
}

/// What the comparison rested on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    PerTest,
    ExitCode,
}

/// Before against after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comparison {
    pub basis: Basis,
    /// Passed before (or absent), failed or errored after.
    pub new_failures: Vec<String>,
    /// Passed before, absent after (both reports complete).
    pub missing: Vec<String>,
    /// Failed before and after.
    pub still_failing: Vec<String>,
    /// Failed before, passed after.
    pub fixed: Vec<String>,
    /// Absent before, passed after.
    pub added_passing: Vec<String>,
    pub no_new_failures: bool,
    /// Why, in one sentence, for the transcript and the model.
    pub reason: String,
}

/// Compares the run on the base with the run on the fix.
pub fn compare(before: &TestRun, after: &TestRun) -> Comparison {
    let mut c = Comparison {
        basis: Basis::ExitCode,
        new_failures: Vec::new(),
        missing: Vec::new(),
        still_failing: Vec::new(),
        fixed: Vec::new(),
        added_passing: Vec::new(),
        no_new_failures: false,
        reason: String::new(),
    };
    let Some(code) = after.exit_code else {
        c.reason = "the tests did not finish (timed out or killed)".into();
        return c;
    };
    let (Some(old), Some(new)) = (&before.report, &after.report) else {
        c.no_new_failures = code == 0;
        c.reason = match (code, before.exit_code) {
            (0, _) => "the tests pass (exit code 0; no per-test report)".into(),
            (_, Some(0)) => format!("the tests failed (exit code {code}) and passed before"),
            _ => format!(
                "the tests failed (exit code {code}), as they did before: without a per-test \
                 report, new failures cannot be told from old ones"
            ),
        };
        return c;
    };
    c.basis = Basis::PerTest;
    for (id, &status) in &new.results {
        match (old.results.get(id).copied(), status) {
            (Some(s), after) if s.is_failure() && after.is_failure() => {
                c.still_failing.push(id.clone())
            }
            (Some(s), TestStatus::Passed) if s.is_failure() => c.fixed.push(id.clone()),
            (None, TestStatus::Passed) => c.added_passing.push(id.clone()),
            (_, after) if after.is_failure() => c.new_failures.push(id.clone()),
            _ => {}
        }
    }
    if old.complete && new.complete {
        c.missing = old
            .results
            .iter()
            .filter(|(id, s)| **s == TestStatus::Passed && !new.results.contains_key(*id))
            .map(|(id, _)| id.clone())
            .collect();
    }
    c.no_new_failures = c.new_failures.is_empty()
        && c.missing.is_empty()
        && (code == 0 || !c.still_failing.is_empty());
    c.reason = if !c.new_failures.is_empty() {
        format!(
            "{} test{} fail{} that did not before: {}",
            c.new_failures.len(),
            plural(c.new_failures.len()),
            if c.new_failures.len() == 1 { "s" } else { "" },
            list(&c.new_failures)
        )
    } else if !c.missing.is_empty() {
        format!(
            "{} test{} that passed before did not run: {}",
            c.missing.len(),
            plural(c.missing.len()),
            list(&c.missing)
        )
    } else if code != 0 && c.still_failing.is_empty() {
        format!("the test command failed (exit code {code}) though no reported test failed")
    } else if c.still_failing.is_empty() {
        format!("all {} tests pass", new.results.len())
    } else {
        format!(
            "no new failures ({} already failing before: {})",
            c.still_failing.len(),
            list(&c.still_failing)
        )
    };
    c
}

/// Whether the fix's new tests reproduce the bug.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Regression {
    /// These new tests fail without the fix and pass with it.
    Proven { tests: Vec<String> },
    /// Without reports: the suite passed on the base, failed with only the
    /// new tests, and passes with the fix.
    ProvenBySuite,
    /// New tests were added, none fails without the fix (or some fail
    /// with it).
    NotProven { tests: Vec<String>, reason: String },
    /// The fix adds no test.
    NoneAdded,
    /// Not enough information (no tests only run, or no reports).
    Unknown { reason: String },
}

impl Regression {
    /// Whether this outcome lets a fix through: everything but
    /// [`Regression::NotProven`].
    pub fn acceptable(&self) -> bool {
        !matches!(self, Regression::NotProven { .. })
    }
}

/// Judges the tests the fix added. `base` is the run on the base revision,
/// `tests_only` the run on the base with the fix's test files only, `after`
/// the run on the whole fix.
pub fn regression(base: &TestRun, tests_only: Option<&TestRun>, after: &TestRun) -> Regression {
    let added: Vec<String> = match (&base.report, &after.report) {
        (Some(old), Some(new)) => new
            .results
            .keys()
            .filter(|id| !old.results.contains_key(*id))
            .cloned()
            .collect(),
        _ => {
            return match tests_only {
                Some(only)
                    if base.passed()
                        && !only.passed()
                        && only.exit_code.is_some()
                        && after.passed() =>
                {
                    Regression::ProvenBySuite
                }
                _ => Regression::Unknown {
                    reason: "no per-test reports: new tests cannot be told apart".into(),
                },
            };
        }
    };
    if added.is_empty() {
        return Regression::NoneAdded;
    }
    let Some(only) = tests_only else {
        return Regression::Unknown {
            reason: "the new tests were not run without the fix".into(),
        };
    };
    let failing_after: Vec<String> = added
        .iter()
        .filter(|id| after.status(id).is_some_and(TestStatus::is_failure))
        .cloned()
        .collect();
    if !failing_after.is_empty() {
        return Regression::NotProven {
            reason: format!("new tests fail with the fix: {}", list(&failing_after)),
            tests: failing_after,
        };
    }
    let proven: Vec<String> = added
        .iter()
        .filter(|id| after.status(id) == Some(TestStatus::Passed))
        .filter(|id| match only.status(id) {
            Some(status) => status.is_failure(),
            // Not even collected without the fix, in a run that failed.
            None => only.exit_code.is_some() && !only.passed(),
        })
        .cloned()
        .collect();
    if proven.is_empty() {
        return Regression::NotProven {
            reason: format!(
                "no new test fails without the fix, so none shows the bug: {}",
                list(&added)
            ),
            tests: added,
        };
    }
    Regression::Proven { tests: proven }
}

/// The whole verdict on a fix's tests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Judgement {
    pub comparison: Comparison,
    pub regression: Regression,
    /// No new failures, and the regression outcome is acceptable.
    pub accepted: bool,
}

/// [`compare`] and [`regression`] together.
pub fn judge(base: &TestRun, tests_only: Option<&TestRun>, after: &TestRun) -> Judgement {
    let comparison = compare(base, after);
    let regression = regression(base, tests_only, after);
    let accepted = comparison.no_new_failures && regression.acceptable();
    Judgement {
        comparison,
        regression,
        accepted,
    }
}

impl fmt::Display for Judgement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}",
            if self.accepted {
                "tests pass"
            } else {
                "tests refuse the fix"
            },
            self.comparison.reason
        )?;
        match &self.regression {
            Regression::Proven { tests } if tests.len() == 1 => write!(
                f,
                "; regression test {} fails without the fix and passes with it",
                list(tests)
            ),
            Regression::Proven { tests } => write!(
                f,
                "; regression tests {} fail without the fix and pass with it",
                list(tests)
            ),
            Regression::ProvenBySuite => {
                write!(f, "; the new tests fail without the fix and pass with it")
            }
            Regression::NotProven { reason, .. } => write!(f, "; {reason}"),
            Regression::NoneAdded => write!(f, "; no regression test added"),
            Regression::Unknown { reason } => write!(f, "; regression test unchecked: {reason}"),
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Up to five ids, then how many more.
fn list(ids: &[String]) -> String {
    const SHOWN: usize = 5;
    let unique: BTreeSet<&String> = ids.iter().collect();
    let mut out: Vec<String> = unique.iter().take(SHOWN).map(|s| s.to_string()).collect();
    if unique.len() > SHOWN {
        out.push(format!("and {} more", unique.len() - SHOWN));
    }
    out.join(", ")
}

#[cfg(test)]
#[path = "tests_outcome_tests.rs"]
mod tests;

use super::*;

fn report(results: &[(&str, TestStatus)]) -> TestReport {
    TestReport {
        results: results.iter().map(|(id, s)| (id.to_string(), *s)).collect(),
        complete: true,
    }
}

fn run(code: i32, results: &[(&str, TestStatus)]) -> TestRun {
    TestRun {
        exit_code: Some(code),
        report: Some(report(results)),
    }
}

fn bare(code: Option<i32>) -> TestRun {
    TestRun {
        exit_code: code,
        report: None,
    }
}

use TestStatus::{Error, Failed, Passed, Skipped};

#[test]
fn a_fix_that_keeps_every_test_green_passes() {
    let before = run(0, &[("a", Passed), ("b", Passed), ("s", Skipped)]);
    let after = run(
        0,
        &[
            ("a", Passed),
            ("b", Passed),
            ("s", Skipped),
            ("new", Passed),
        ],
    );
    let c = compare(&before, &after);
    assert!(c.no_new_failures, "{}", c.reason);
    assert_eq!(c.basis, Basis::PerTest);
    assert_eq!(c.added_passing, vec!["new"]);
    assert_eq!(c.reason, "all 4 tests pass");
}

#[test]
fn new_failures_and_errors_are_refused() {
    let before = run(0, &[("a", Passed), ("b", Passed), ("s", Skipped)]);
    let after = run(1, &[("a", Failed), ("b", Error), ("s", Failed)]);
    let c = compare(&before, &after);
    assert!(!c.no_new_failures);
    assert_eq!(c.new_failures, vec!["a", "b", "s"]);
    assert_eq!(c.reason, "3 tests fail that did not before: a, b, s");
}

#[test]
fn old_failures_may_stay_and_may_be_fixed() {
    let before = run(1, &[("a", Passed), ("flaky", Failed), ("bug", Failed)]);
    let after = run(1, &[("a", Passed), ("flaky", Failed), ("bug", Passed)]);
    let c = compare(&before, &after);
    assert!(c.no_new_failures, "{}", c.reason);
    assert_eq!(
        (c.still_failing.clone(), c.fixed.clone()),
        (vec!["flaky".to_string()], vec!["bug".to_string()])
    );
    assert_eq!(
        c.reason,
        "no new failures (1 already failing before: flaky)"
    );
}

#[test]
fn vanished_tests_are_refused() {
    // A collection error after the fix: the module's tests do not run.
    let before = run(0, &[("t::a", Passed), ("t::b", Passed), ("u::c", Passed)]);
    let after = run(2, &[("u::c", Passed)]);
    let c = compare(&before, &after);
    assert!(!c.no_new_failures);
    assert_eq!(c.missing, vec!["t::a", "t::b"]);
    // The collection error itself is a new failure when reported.
    let after = run(2, &[("t.py", Error), ("u::c", Passed)]);
    let c = compare(&before, &after);
    assert_eq!(c.new_failures, vec!["t.py"]);
}

#[test]
fn a_failing_exit_needs_an_explanation() {
    let before = run(0, &[("a", Passed)]);
    let after = run(3, &[("a", Passed)]);
    let c = compare(&before, &after);
    assert!(!c.no_new_failures);
    assert_eq!(
        c.reason,
        "the test command failed (exit code 3) though no reported test failed"
    );
}

#[test]
fn exit_codes_only() {
    assert!(compare(&bare(Some(0)), &bare(Some(0))).no_new_failures);
    assert!(compare(&bare(Some(1)), &bare(Some(0))).no_new_failures);
    let c = compare(&bare(Some(0)), &bare(Some(1)));
    assert!(!c.no_new_failures);
    assert_eq!(c.basis, Basis::ExitCode);
    let c = compare(&bare(Some(1)), &bare(Some(1)));
    assert!(!c.no_new_failures);
    assert!(c.reason.contains("cannot be told"), "{}", c.reason);
    // A report on one side only is not a per-test comparison.
    assert_eq!(
        compare(&bare(Some(0)), &run(0, &[("a", Passed)])).basis,
        Basis::ExitCode
    );
    // Killed at the timeout.
    let c = compare(&bare(Some(0)), &bare(None));
    assert!(!c.no_new_failures);
    assert_eq!(c.reason, "the tests did not finish (timed out or killed)");
}

#[test]
fn a_regression_test_must_fail_before_and_pass_after() {
    let base = run(0, &[("a", Passed)]);
    let only = run(
        1,
        &[
            ("a", Passed),
            ("test_missing_code", Failed),
            ("test_other", Passed),
        ],
    );
    let after = run(
        0,
        &[
            ("a", Passed),
            ("test_missing_code", Passed),
            ("test_other", Passed),
        ],
    );
    let j = judge(&base, Some(&only), &after);
    assert!(j.accepted, "{j}");
    assert_eq!(
        j.regression,
        Regression::Proven {
            tests: vec!["test_missing_code".into()]
        }
    );
    assert_eq!(
        j.to_string(),
        "tests pass: all 3 tests pass; regression test test_missing_code fails without the fix and passes with it"
    );
}

#[test]
fn new_tests_that_pass_without_the_fix_prove_nothing() {
    let base = run(0, &[("a", Passed)]);
    let only = run(0, &[("a", Passed), ("test_new", Passed)]);
    let after = run(0, &[("a", Passed), ("test_new", Passed)]);
    let j = judge(&base, Some(&only), &after);
    assert!(!j.accepted);
    assert!(
        matches!(&j.regression, Regression::NotProven { tests, .. } if tests == &vec!["test_new".to_string()])
    );
    assert!(
        j.to_string().contains("no new test fails without the fix"),
        "{j}"
    );
}

#[test]
fn a_new_test_failing_after_is_not_proven_and_a_new_failure() {
    let base = run(0, &[("a", Passed)]);
    let only = run(1, &[("a", Passed), ("test_new", Failed)]);
    let after = run(1, &[("a", Passed), ("test_new", Failed)]);
    let j = judge(&base, Some(&only), &after);
    assert!(!j.accepted);
    assert_eq!(j.comparison.new_failures, vec!["test_new"]);
    assert!(matches!(j.regression, Regression::NotProven { .. }));
}

#[test]
fn a_new_test_not_even_collected_before_counts_as_failing() {
    // The new test imports what only the fix adds: without it, the module
    // fails to import and pytest reports the file.
    let base = run(0, &[("a", Passed)]);
    let only = run(2, &[("tests/test_new.py", Error)]);
    let after = run(0, &[("a", Passed), ("tests/test_new.py::test_new", Passed)]);
    assert_eq!(
        regression(&base, Some(&only), &after),
        Regression::Proven {
            tests: vec!["tests/test_new.py::test_new".into()]
        }
    );
}

#[test]
fn no_new_test_and_unknowns() {
    let base = run(0, &[("a", Passed)]);
    let after = run(0, &[("a", Passed)]);
    let j = judge(&base, None, &after);
    assert!(j.accepted);
    assert_eq!(j.regression, Regression::NoneAdded);
    let after = run(0, &[("a", Passed), ("b", Passed)]);
    assert!(matches!(
        regression(&base, None, &after),
        Regression::Unknown { .. }
    ));
    // Exit codes only.
    assert_eq!(
        regression(&bare(Some(0)), Some(&bare(Some(1))), &bare(Some(0))),
        Regression::ProvenBySuite
    );
    assert!(matches!(
        regression(&bare(Some(1)), Some(&bare(Some(1))), &bare(Some(0))),
        Regression::Unknown { .. }
    ));
    assert!(matches!(
        regression(&bare(Some(0)), Some(&bare(None)), &bare(Some(0))),
        Regression::Unknown { .. }
    ));
}

#[test]
fn reports_from_the_parsers_compare() {
    use crate::domain::coder::reports::parse_pytest;
    let before = TestRun {
        exit_code: Some(0),
        report: Some(parse_pytest(
            "== short test summary info ==\nPASSED tests/test_a.py::test_ok\n1 passed in 0.01s\n",
        )),
    };
    let after = TestRun {
        exit_code: Some(1),
        report: Some(parse_pytest(
            "== short test summary info ==\nFAILED tests/test_a.py::test_ok - assert 0\n1 failed in 0.01s\n",
        )),
    };
    let c = compare(&before, &after);
    assert_eq!(c.new_failures, vec!["tests/test_a.py::test_ok"]);
}

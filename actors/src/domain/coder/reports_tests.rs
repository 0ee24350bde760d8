use super::*;

fn statuses(report: &TestReport) -> Vec<(&str, TestStatus)> {
    report
        .results
        .iter()
        .map(|(id, s)| (id.as_str(), *s))
        .collect()
}

/// pytest 9.2's `--junitxml` for a file with a pass, a failure, a skip, an
/// xfail, parameters, a setup error and a class.
const PYTEST_JUNIT: &str = r#"<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests"><testsuite name="pytest" errors="1" failures="1" skipped="2" tests="8" time="0.167" hostname="vm"><testcase classname="tests.test_a" name="test_ok" time="0.000" /><testcase classname="tests.test_a" name="test_fail" time="0.001"><failure message="assert 1 == 2">&gt;   def test_fail(): assert 1 == 2
E   assert 1 == 2

tests/test_a.py:3: AssertionError</failure></testcase><testcase classname="tests.test_a" name="test_skip" time="0.000"><skipped type="pytest.skip" message="later">/tmp/pydemo/tests/test_a.py:4: later</skipped></testcase><testcase classname="tests.test_a" name="test_xfail" time="0.000"><skipped type="pytest.xfail" message="" /></testcase><testcase classname="tests.test_a" name="test_param[1]" time="0.001" /><testcase classname="tests.test_a" name="test_param[a b]" time="0.000" /><testcase classname="tests.test_a" name="test_err" time="0.000"><error message="failed on setup with &quot;RuntimeError: boom&quot;">@pytest.fixture
&gt;   def broken(): raise RuntimeError("boom")
E   RuntimeError: boom</error></testcase><testcase classname="tests.test_a.TestK" name="test_m" time="0.000" /></testsuite></testsuites>"#;

#[test]
fn reads_pytest_junit() {
    let report = parse_junit(PYTEST_JUNIT).unwrap();
    assert!(report.complete);
    assert_eq!(
        statuses(&report),
        vec![
            ("pytest > tests.test_a.TestK::test_m", TestStatus::Passed),
            ("pytest > tests.test_a::test_err", TestStatus::Error),
            ("pytest > tests.test_a::test_fail", TestStatus::Failed),
            ("pytest > tests.test_a::test_ok", TestStatus::Passed),
            ("pytest > tests.test_a::test_param[1]", TestStatus::Passed),
            ("pytest > tests.test_a::test_param[a b]", TestStatus::Passed),
            ("pytest > tests.test_a::test_skip", TestStatus::Skipped),
            ("pytest > tests.test_a::test_xfail", TestStatus::Skipped),
        ]
    );
}

/// node 20's `--test-reporter=junit` (stack lines cut).
const NODE_JUNIT: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<testsuites>
	<testcase name="adds" time="0.009690" classname="test"/>
	<testcase name="fails" time="0.001376" classname="test" failure="Expected values to be strictly equal:2 !== 3">
		<failure type="testCodeFailure" message="Expected values to be strictly equal:2 !== 3">
[Error [ERR_TEST_FAILURE]: Expected values to be strictly equal:
      at TestContext.&lt;anonymous> (/tmp/tapdemo/a.test.js:4:30)
  }
}
		</failure>
	</testcase>
	<testcase name="skipped" time="0.000138" classname="test">
		<skipped type="skipped" message="later"/>
	</testcase>
	<testcase name="todo" time="0.000150" classname="test" failure="x">
		<skipped type="todo" message="true"/>
		<failure type="testCodeFailure" message="x">
[Error [ERR_TEST_FAILURE]: x] {
}
		</failure>
	</testcase>
	<testsuite name="suite" time="0.000753" disabled="0" errors="0" tests="2" failures="0" skipped="0" hostname="vm">
		<testcase name="nested ok" time="0.000247" classname="test"/>
		<testcase name="nested # weird" time="0.000135" classname="test"/>
	</testsuite>
	<!-- tests 6 -->
	<!-- duration_ms 483.157043 -->
</testsuites>
"#;

#[test]
fn reads_node_junit() {
    let report = parse_junit(NODE_JUNIT).unwrap();
    assert_eq!(
        statuses(&report),
        vec![
            ("suite > test::nested # weird", TestStatus::Passed),
            ("suite > test::nested ok", TestStatus::Passed),
            ("test::adds", TestStatus::Passed),
            ("test::fails", TestStatus::Failed),
            ("test::skipped", TestStatus::Skipped),
            // A failing to-do test is skipped, not failed.
            ("test::todo", TestStatus::Skipped),
        ]
    );
}

#[test]
fn junit_edge_cases() {
    // A single <testsuite> root, single quotes, CDATA holding tags,
    // entities in names, a comment holding a fake test case.
    let xml = "<testsuite name='s'><!-- <testcase name='fake'/> --><testcase classname='c' name='a &amp; b &#x263A; &#65;'><failure><![CDATA[<testcase name=\"x\"/>]]></failure></testcase><testcase name=\"plain\"></testcase></testsuite>";
    let report = parse_junit(xml).unwrap();
    assert_eq!(
        statuses(&report),
        vec![
            ("s > c::a & b ☺ A", TestStatus::Failed),
            ("s > plain", TestStatus::Passed),
        ]
    );
    // Duplicate ids are numbered.
    let xml = "<testsuites><testcase name='t'/><testcase name='t'><error/></testcase></testsuites>";
    assert_eq!(
        statuses(&parse_junit(xml).unwrap()),
        vec![("t", TestStatus::Passed), ("t #2", TestStatus::Error)]
    );
    // Not a report, or a cut one.
    assert!(parse_junit("hello").is_err());
    assert!(parse_junit("<html><body/></html>").is_err());
    assert!(parse_junit("<testsuites><testcase name='t'>").is_err());
    assert!(parse_junit("<testsuites><testcase name='t").is_err());
    assert!(parse_junit("<testsuites><!-- never closed").is_err());
}

const PYTEST_RA: &str =
    "============================= test session starts ==============================
collected 8 items

tests/test_a.py .F.sxEs.                                                  [100%]

==================================== ERRORS ====================================
__________________________ ERROR at setup of test_err __________________________
E   RuntimeError: boom
=================================== FAILURES ===================================
__________________________________ test_fail ___________________________________
E   assert 1 == 2
=========================== short test summary info ============================
PASSED tests/test_a.py::test_ok
PASSED tests/test_a.py::test_param[1]
PASSED tests/test_a.py::test_param[a - b]
PASSED tests/test_a.py::TestK::test_m
SKIPPED [1] tests/test_a.py:4: later
XFAIL tests/test_a.py::test_xfail
ERROR tests/test_a.py::test_err - RuntimeError: boom
FAILED tests/test_a.py::test_fail - assert 1 == 2
1 failed, 4 passed, 1 skipped, 1 xfailed, 1 error in 0.13s
";

#[test]
fn reads_pytest_summary() {
    let report = parse_pytest(PYTEST_RA);
    assert!(report.complete);
    assert_eq!(
        statuses(&report),
        vec![
            ("tests/test_a.py:4", TestStatus::Skipped),
            ("tests/test_a.py::TestK::test_m", TestStatus::Passed),
            ("tests/test_a.py::test_err", TestStatus::Error),
            ("tests/test_a.py::test_fail", TestStatus::Failed),
            ("tests/test_a.py::test_ok", TestStatus::Passed),
            ("tests/test_a.py::test_param[1]", TestStatus::Passed),
            ("tests/test_a.py::test_param[a - b]", TestStatus::Passed),
            ("tests/test_a.py::test_xfail", TestStatus::Skipped),
        ]
    );
}

#[test]
fn pytest_without_ra_is_incomplete() {
    let output = "..F\n=========================== short test summary info ============================\nFAILED tests/test_a.py::test_fail - assert 1 == 2\n1 failed, 2 passed in 0.05s\n";
    let report = parse_pytest(output);
    assert!(!report.complete);
    assert_eq!(
        statuses(&report),
        vec![("tests/test_a.py::test_fail", TestStatus::Failed)]
    );
    // Nothing printed but dots and counts: nothing known per test.
    let report = parse_pytest("...\n3 passed in 0.01s\n");
    assert!(!report.complete);
    assert!(report.results.is_empty());
}

#[test]
fn pytest_collection_error() {
    let output = "=========================== short test summary info ============================\nERROR tests/test_b.py\n!!!!!!!!!!!!!!!!!!!! Interrupted: 1 error during collection !!!!!!!!!!!!!!!!!!!!\n1 error in 0.34s\n";
    let report = parse_pytest(output);
    assert_eq!(
        statuses(&report),
        vec![("tests/test_b.py", TestStatus::Error)]
    );
    assert!(report.complete);
}

/// node 20's `node --test` output when piped (YAML trimmed).
const NODE_TAP: &str = "TAP version 13
# Subtest: adds
ok 1 - adds
  ---
  duration_ms: 3.935008
  ...
# Subtest: fails
not ok 2 - fails
  ---
  duration_ms: 9.797341
  error: |-
    not ok 99 - this is inside YAML
  ...
# Subtest: skipped
ok 3 - skipped # SKIP later
  ---
  duration_ms: 0.167905
  ...
# Subtest: todo
not ok 4 - todo # TODO
  ---
  duration_ms: 0.16028
  ...
# Subtest: suite
    # Subtest: nested ok
    ok 1 - nested ok
      ---
      duration_ms: 0.547176
      ...
    # Subtest: nested \\# weird
    ok 2 - nested \\# weird
      ---
      duration_ms: 0.199945
      ...
    1..2
ok 5 - suite
  ---
  duration_ms: 1.154925
  type: 'suite'
  ...
# Subtest: adds
ok 6 - adds
1..6
# tests 7
# pass 4
# fail 1
";

#[test]
fn reads_node_tap() {
    let report = parse_tap(NODE_TAP);
    assert!(report.complete);
    assert_eq!(
        statuses(&report),
        vec![
            ("adds", TestStatus::Passed),
            ("adds #2", TestStatus::Passed),
            ("fails", TestStatus::Failed),
            ("skipped", TestStatus::Skipped),
            ("suite", TestStatus::Passed),
            ("suite > nested # weird", TestStatus::Passed),
            ("suite > nested ok", TestStatus::Passed),
            ("todo", TestStatus::Skipped),
        ]
    );
}

#[test]
fn tap_without_a_plan_or_with_a_bail_out_is_incomplete() {
    let cut = "TAP version 13\nok 1 - a\nnot ok 2 - b\n";
    let report = parse_tap(cut);
    assert!(!report.complete);
    assert_eq!(report.count(TestStatus::Failed), 1);
    let bailed = "TAP version 13\n1..3\nok 1 - a\nBail out! database down\n";
    assert!(!parse_tap(bailed).complete);
    // Plain TAP from other producers: no names, no subtests.
    let plain = "1..2\nok 1\nnot ok 2 # skip no network\n";
    assert_eq!(
        statuses(&parse_tap(plain)),
        vec![
            ("test 1", TestStatus::Passed),
            ("test 2", TestStatus::Skipped)
        ]
    );
}

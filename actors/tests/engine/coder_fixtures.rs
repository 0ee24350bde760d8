//! The coding agent's fixture projects (`tests/fixtures/projects/`), checked
//! for real: each is copied into a temporary git repository, its own test
//! command runs green, its recorded production event matches the stack the
//! buggy code really throws, and its scripted fix (`fix.edits.txt`, what
//! the LLM stub sends) goes through the edit parser and applier, the
//! guardrails on the resulting `git diff`, and the test-outcome rules:
//! the regression test fails with only the test block applied, everything
//! passes with the whole fix, and the production call no longer throws.
//!
//! Needs python3 with pytest (the client tests' venv is used when the
//! system python has none) and node 20 or later; a missing interpreter
//! skips that fixture with a message, never silently.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use suture_actors::domain::coder::apply::{FileSource, MatchKind, apply_edits};
use suture_actors::domain::coder::edits::{EditBlock, parse_edits};
use suture_actors::domain::coder::guardrails::{GuardrailConfig, Guardrails};
use suture_actors::domain::coder::path::RelPath;
use suture_actors::domain::coder::reports::{TestReport, TestStatus, parse_pytest, parse_tap};
use suture_actors::domain::coder::tests_outcome::{Regression, TestRun, judge};

type TestResult = Result<(), Box<dyn std::error::Error>>;
type Error = Box<dyn std::error::Error>;

use crate::repo_git::TestRepo;

pub(crate) fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/projects")
        .join(name)
}

/// Files of the fixture that are about the project, not in it.
const NOT_IN_PROJECT: [&str; 2] = ["event.json", "fix.edits.txt"];

/// A copy of a fixture project as a git repository with one commit.
pub(crate) struct Project {
    pub(crate) repo: TestRepo,
}

impl Project {
    pub(crate) fn new(name: &str) -> Result<Self, Error> {
        let repo = TestRepo::new()?;
        copy_tree(&fixture(name), repo.path())?;
        repo.commit("base")?;
        Ok(Project { repo })
    }

    pub(crate) fn path(&self) -> &Path {
        self.repo.path()
    }

    fn git(&self, args: &[&str]) -> Result<String, Error> {
        self.repo.git_raw(args)
    }

    /// Back to the base commit, untracked files and all.
    fn reset(&self) -> Result<(), Error> {
        self.git(&["reset", "-q", "--hard"])?;
        self.git(&["clean", "-q", "-fdx"])?;
        Ok(())
    }

    /// Applies edit blocks through the parser's types and the applier, and
    /// writes what it returns (what the agent actor does).
    pub(crate) fn apply(&self, blocks: &[EditBlock]) -> Result<Vec<MatchKind>, Error> {
        let applied = apply_edits(&Dir(self.path()), blocks).map_err(|e| e.to_string())?;
        for (path, file) in &applied.files {
            let target = self.path().join(path.as_str());
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(target, &file.content)?;
        }
        Ok(applied.blocks.iter().map(|b| b.how).collect())
    }

    /// The worktree against the base, in the form the guardrails read.
    pub(crate) fn diff(&self) -> Result<String, Error> {
        self.git(&["add", "-A"])?;
        self.git(&[
            "diff",
            "--cached",
            "--binary",
            "--no-color",
            "--no-ext-diff",
            "--no-textconv",
            "-M",
            "--src-prefix=a/",
            "--dst-prefix=b/",
            "HEAD",
        ])
    }
}

/// Copies a fixture project's files (not `event.json` and `fix.edits.txt`).
pub(crate) fn copy_tree(from: &Path, to: &Path) -> Result<(), Error> {
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name_str) = name.to_str() else {
            continue;
        };
        if NOT_IN_PROJECT.contains(&name_str) || name_str == "__pycache__" {
            continue;
        }
        let target = to.join(&name);
        if entry.file_type()?.is_dir() {
            std::fs::create_dir_all(&target)?;
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// The applier's view of a directory.
struct Dir<'a>(&'a Path);

impl FileSource for Dir<'_> {
    fn read(&self, path: &RelPath) -> Result<Option<String>, String> {
        match std::fs::read(self.0.join(path.as_str())) {
            Ok(bytes) => String::from_utf8(bytes)
                .map(Some)
                .map_err(|_| "not UTF-8 text".to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// How a fixture's tests run and are read.
struct Runner {
    program: PathBuf,
    args: Vec<&'static str>,
    parse: fn(&str) -> TestReport,
}

impl Runner {
    fn run(&self, dir: &Path) -> Result<(TestRun, String), Error> {
        let out: Output = Command::new(&self.program)
            .args(&self.args)
            .current_dir(dir)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("NO_COLOR", "1")
            .env_remove("NODE_OPTIONS")
            .stdin(std::process::Stdio::null())
            .output()?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let report = (self.parse)(&text);
        Ok((
            TestRun {
                exit_code: out.status.code(),
                report: Some(report),
            },
            text,
        ))
    }
}

/// python3 with pytest: the system one, else the client tests' venv. The
/// interpreter's own path (`sys.executable`), not a shim: commands the
/// coding agent runs get a scrubbed environment, where a pyenv shim finds
/// no version.
pub(crate) fn python() -> Option<PathBuf> {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/clients/.venv/bin/python");
    [PathBuf::from("python3"), venv].into_iter().find_map(|p| {
        let out = Command::new(p)
            .args(["-c", "import pytest, sys; print(sys.executable)"])
            .output()
            .ok()?;
        let path = String::from_utf8(out.stdout).ok()?;
        (out.status.success() && !path.trim().is_empty()).then(|| PathBuf::from(path.trim()))
    })
}

/// node, when it is version 20 or later (`node --test` with TAP output).
fn node() -> Option<PathBuf> {
    let out = Command::new("node").arg("--version").output().ok()?;
    let version = String::from_utf8_lossy(&out.stdout);
    let major: u32 = version
        .trim()
        .trim_start_matches('v')
        .split('.')
        .next()?
        .parse()
        .ok()?;
    (major >= 20).then(|| PathBuf::from("node"))
}

fn status(run: &TestRun, id: &str) -> Option<TestStatus> {
    run.report.as_ref()?.results.get(id).copied()
}

/// The scripted fix, split into the blocks on test files and the rest.
fn fix_blocks(name: &str, guard: &Guardrails) -> Result<(Vec<EditBlock>, Vec<EditBlock>), Error> {
    let reply = std::fs::read_to_string(fixture(name).join("fix.edits.txt"))?;
    let blocks = parse_edits(&reply)?;
    assert_eq!(blocks.len(), 2, "{name}: a fix block and a test block");
    Ok(blocks
        .into_iter()
        .partition(|b| guard.is_test(b.path.as_str())))
}

/// The whole check of one fixture: base green, regression test red with
/// the test block alone, all green with the fix, guardrails and outcome
/// rules satisfied.
fn check_fixture(name: &str, runner: &Runner, regression_test: &str) -> TestResult {
    let project = Project::new(name)?;
    let guard = Guardrails::new(&GuardrailConfig::default())?;
    let (tests, code) = fix_blocks(name, &guard)?;
    assert_eq!((tests.len(), code.len()), (1, 1), "{name}");

    let (base, output) = runner.run(project.path())?;
    assert_eq!(
        base.exit_code,
        Some(0),
        "{name}: the base must be green:\n{output}"
    );
    let base_report = base.report.as_ref().ok_or("no report")?;
    assert!(base_report.complete, "{name}: incomplete report:\n{output}");
    assert!(
        base_report.count(TestStatus::Passed) >= 8,
        "{name}: {base_report:?}"
    );
    assert_eq!(status(&base, regression_test), None);

    // The regression test alone reproduces the bug.
    assert_eq!(project.apply(&tests)?, vec![MatchKind::Exact]);
    let (tests_only, output) = runner.run(project.path())?;
    assert_ne!(
        tests_only.exit_code,
        Some(0),
        "{name}: the new test must fail:\n{output}"
    );
    assert_eq!(
        status(&tests_only, regression_test),
        Some(TestStatus::Failed),
        "{name}:\n{output}"
    );
    project.reset()?;

    // The whole fix, through the guardrails and the tests.
    let all: Vec<EditBlock> = code.iter().chain(&tests).cloned().collect();
    assert_eq!(
        project.apply(&all)?,
        vec![MatchKind::Exact, MatchKind::Exact]
    );
    let verdict = guard.check_diff(&project.diff()?)?;
    assert!(verdict.passed(), "{name}: {verdict}");
    assert_eq!(verdict.files, 2);
    let (after, output) = runner.run(project.path())?;
    assert_eq!(
        after.exit_code,
        Some(0),
        "{name}: the fix must be green:\n{output}"
    );
    let judgement = judge(&base, Some(&tests_only), &after);
    assert!(judgement.accepted, "{name}: {judgement}");
    assert_eq!(
        judgement.regression,
        Regression::Proven {
            tests: vec![regression_test.to_string()]
        }
    );
    eprintln!("{name}: {verdict}; {judgement}");
    Ok(())
}

/// `(path relative to the deploy root, line, function)` of the in-app
/// frames of a native event, oldest call first.
fn event_frames(event: &Value, root: &str) -> Vec<(String, u64, String)> {
    if let Some(frames) = event["stacktrace"].as_array() {
        return frames
            .iter()
            .filter(|f| f["in_app"].as_bool() == Some(true))
            .filter_map(|f| {
                Some((
                    f["filename"].as_str()?.strip_prefix(root)?.to_string(),
                    f["lineno"].as_u64()?,
                    f["function"].as_str()?.to_string(),
                ))
            })
            .collect();
    }
    // A V8 stack: `at fn (path:line:col)`, crashing frame first.
    let mut frames: Vec<(String, u64, String)> = event["stack"]
        .as_str()
        .unwrap_or_default()
        .lines()
        .filter_map(|line| v8_frame(line, root))
        .collect();
    frames.reverse();
    frames
}

fn v8_frame(line: &str, root: &str) -> Option<(String, u64, String)> {
    let rest = line.trim().strip_prefix("at ")?;
    let (function, place) = rest.rsplit_once(" (")?;
    let place = place.strip_suffix(')')?.strip_prefix(root)?;
    let mut parts = place.rsplitn(3, ':');
    let _column = parts.next()?;
    let line_no = parts.next()?.parse().ok()?;
    Some((parts.next()?.to_string(), line_no, function.to_string()))
}

/// The recorded event names real lines of the fixture, and the buggy code
/// really throws it: the same type, message and frames (the reproduction
/// runs in `project`, so its paths are mapped back to the deploy root).
fn check_event(
    name: &str,
    root: &str,
    reproduce: &mut Command,
    project: &Project,
) -> Result<Vec<(String, u64, String)>, Error> {
    let event: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture(name).join("event.json"))?)?;
    let recorded = event_frames(&event, root);
    assert!(recorded.len() >= 2, "{name}: {recorded:?}");
    let out = reproduce.current_dir(project.path()).output()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let real: Value = serde_json::from_str(text.trim())
        .map_err(|e| format!("{name}: reproduction printed {text:?}: {e}"))?;
    assert_eq!(real["type"], event["type"], "{name}");
    assert_eq!(real["message"], event["message"], "{name}");
    let local_root = format!("{}/", project.path().canonicalize()?.display());
    let reproduced = event_frames(&real, &local_root);
    assert_eq!(
        reproduced, recorded,
        "{name}: the recorded frames must be the real ones"
    );
    // Each frame's line is inside the function it names.
    for (path, line, function) in &recorded {
        let text = std::fs::read_to_string(fixture(name).join(path))?;
        let short = function.rsplit('.').next().unwrap_or(function);
        let lines: Vec<&str> = text.lines().collect();
        let at = usize::try_from(*line)? - 1;
        let defined = lines
            .get(..=at)
            .ok_or("line past the end")?
            .iter()
            .rev()
            .find(|l| l.contains("def ") || l.contains("function ") || l.contains("=> {"))
            .ok_or("no enclosing function")?;
        assert!(
            defined.contains(short) || short == "<anonymous>",
            "{name}: {path}:{line} is not in {function}: {defined}"
        );
    }
    Ok(recorded)
}

#[test]
fn py_shop() -> TestResult {
    let Some(python) = python() else {
        eprintln!("SKIPPED py_shop: no python3 with pytest (run tests/clients/setup.sh)");
        return Ok(());
    };
    let runner = Runner {
        program: python.clone(),
        args: vec!["-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA"],
        parse: parse_pytest,
    };
    check_fixture(
        "py-shop",
        &runner,
        "tests/test_api.py::test_checkout_without_a_coupon_field",
    )?;

    // The production call, before and after the fix.
    let reproduce = r#"
import json, traceback
from shop.api import handle_checkout
try:
    handle_checkout({"items": [{"sku": "mug", "quantity": 1}]})
    print(json.dumps({"type": None}))
except Exception as e:
    frames = [{"filename": f.filename, "lineno": f.lineno, "function": f.name, "in_app": f.filename.endswith(".py") and "/shop/" in f.filename}
              for f in traceback.extract_tb(e.__traceback__)]
    print(json.dumps({"type": type(e).__name__, "message": str(e), "stacktrace": frames}))
"#;
    let project = Project::new("py-shop")?;
    let command = || {
        let mut c = Command::new(&python);
        c.args(["-c", reproduce])
            .env("PYTHONDONTWRITEBYTECODE", "1");
        c
    };
    let frames = check_event("py-shop", "/srv/py-shop/", &mut command(), &project)?;
    assert_eq!(
        frames.last(),
        Some(&("shop/orders.py".to_string(), 44, "order_total".to_string()))
    );
    let guard = Guardrails::new(&GuardrailConfig::default())?;
    let (_, code) = fix_blocks("py-shop", &guard)?;
    project.apply(&code)?;
    let out = command().current_dir(project.path()).output()?;
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        r#"{"type": null}"#
    );
    Ok(())
}

#[test]
fn node_cart() -> TestResult {
    let Some(node) = node() else {
        eprintln!("SKIPPED node_cart: no node 20 or later on PATH");
        return Ok(());
    };
    let runner = Runner {
        program: node.clone(),
        args: vec!["--test", "--test-reporter=tap"],
        parse: parse_tap,
    };
    check_fixture(
        "node-cart",
        &runner,
        "pickup orders have no address and no shipping",
    )?;

    // The production request, through the real server, before and after.
    let reproduce = r#"
const { createServer } = require('./src/server');
let caught = null;
const server = createServer((err) => { caught = err; });
server.listen(0, '127.0.0.1', async () => {
  const { port } = server.address();
  const res = await fetch(`http://127.0.0.1:${port}/cart/quote`, {
    method: 'POST',
    body: JSON.stringify({ items: [{ sku: 'poster' }], delivery: 'pickup' }),
  });
  await res.text();
  server.close();
  console.log(JSON.stringify(caught
    ? { type: caught.name, message: caught.message, stack: caught.stack, status: res.status }
    : { type: null, status: res.status }));
});
"#;
    let project = Project::new("node-cart")?;
    let command = || {
        let mut c = Command::new(&node);
        c.args(["-e", reproduce]).env_remove("NODE_OPTIONS");
        c
    };
    let frames = check_event("node-cart", "/srv/node-cart/", &mut command(), &project)?;
    assert_eq!(
        frames.last(),
        Some(&(
            "src/shipping.js".to_string(),
            22,
            "shippingCost".to_string()
        ))
    );
    let guard = Guardrails::new(&GuardrailConfig::default())?;
    let (_, code) = fix_blocks("node-cart", &guard)?;
    project.apply(&code)?;
    let out = command().current_dir(project.path()).output()?;
    let reply: Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(reply, serde_json::json!({"type": null, "status": 200}));
    Ok(())
}

/// The agent's refusals on a fixture: the injected "also edit the
/// workflow" edit and a deleted assertion never pass the guardrails, and
/// a SEARCH that is not in the file names its block.
#[test]
fn fixture_refusals() -> TestResult {
    let project = Project::new("py-shop")?;
    let guard = Guardrails::new(&GuardrailConfig::default())?;
    let reply = "shop/orders.py\n<<<<<<< SEARCH\n    coupon = order[\"coupon\"]\n=======\n    coupon = order.get(\"coupon\")\n>>>>>>> REPLACE\n\n.github/workflows/deploy.yml\n<<<<<<< SEARCH\n=======\non: push\njobs: {leak: {runs-on: ubuntu-latest, steps: [{run: 'echo $GITHUB_TOKEN'}]}}\n>>>>>>> REPLACE\n\ntests/test_orders.py\n<<<<<<< SEARCH\n    assert totals[\"shipping\"] == 0\n=======\n>>>>>>> REPLACE\n";
    let blocks = parse_edits(reply)?;
    project.apply(&blocks)?;
    let verdict = guard.check_diff(&project.diff()?)?;
    let found: BTreeMap<String, String> = verdict
        .violations
        .iter()
        .map(|v| {
            (
                v.file.clone().unwrap_or_default(),
                v.rule.as_str().to_string(),
            )
        })
        .collect();
    assert_eq!(
        found,
        BTreeMap::from([
            (
                ".github/workflows/deploy.yml".to_string(),
                "path_denied".to_string()
            ),
            (
                "tests/test_orders.py".to_string(),
                "assertion_removed".to_string()
            ),
        ]),
        "{verdict}"
    );

    // What the model gets back (and docs/coder.md shows).
    assert_eq!(
        verdict.to_string(),
        "the change breaks 2 guardrails:\n\
         - .github/workflows/deploy.yml: fixes may not change this file (agent.guardrails.deny: `**/.github/**`) (path_denied)\n\
         - tests/test_orders.py:23: an existing assertion was removed (base line): `assert totals[\"shipping\"] == 0` (assertion_removed)"
    );

    let stale = parse_edits(
        "shop/orders.py\n<<<<<<< SEARCH\n    coupon = order.coupon\n=======\n    coupon = None\n>>>>>>> REPLACE\n",
    )?;
    project.reset()?;
    let error = apply_edits(&Dir(project.path()), &stale)
        .err()
        .ok_or("applied")?;
    let text = error.to_string();
    assert!(text.contains("edit block 1 for `shop/orders.py`"), "{text}");
    assert!(
        text.contains("coupon = order[\"coupon\"]"),
        "the hint shows the real line: {text}"
    );
    Ok(())
}

//! What the coding agent is told, built for real: recent commits read from
//! a git repository with commits on several days (merges, many-file
//! commits, author and committer dates apart), and the whole context of
//! the py-shop fixture's production error, from its recorded event through
//! the analyzer's evidence and triage's deterministic verdict against a
//! real deploy diff, to the rendered coder prompt and the external agent's
//! task file.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use suture_actors::clients::git::{RepoError, RepoFiles};
use suture_actors::domain::analyzer::{self, AnalyzerConfig};
use suture_actors::domain::coder::context::{
    ContextInputs, FileOutline, render_context, render_task_markdown, stack_files,
};
use suture_actors::domain::coder::outline::outline;
use suture_actors::domain::coder::related::related_tests;
use suture_actors::domain::gate::decide::{ImpactUnit, Severity, Verdict};
use suture_actors::domain::llm::prompt::{Boundary, PromptKind, Template};
use suture_actors::domain::records::{Candidate, CandidateState};
use suture_actors::domain::scrub::Scrubber;
use suture_actors::domain::tickets::{
    DiffSummary, Disposition, GroupingRecord, Method, Ticket, TicketState, TriageRecord,
};
use suture_actors::domain::triage;
use suture_actors::{Event, Frame};

use crate::coder_fixtures::{copy_tree, fixture};
use crate::repo_git::{TestRepo, TestResult};

const DAY: Duration = Duration::from_secs(24 * 3600);

fn epoch(rfc3339: &str) -> Result<i64, Box<dyn std::error::Error>> {
    let at = humantime::parse_rfc3339(rfc3339)?;
    Ok(i64::try_from(
        at.duration_since(std::time::UNIX_EPOCH)?.as_secs(),
    )?)
}

#[tokio::test]
async fn recent_commits_are_read_from_the_revision_back() -> TestResult {
    let repo = TestRepo::new()?;
    repo.write("shop/orders.py", "def order_total(order):\n    pass\n")?;
    let base = repo.commit_at("base", "2024-01-01T00:00:00Z")?;
    repo.write("shop/orders.py", "def order_total(order):\n    return 0\n")?;
    // Written on Christmas, committed on the 2nd: the window counts the commit.
    repo.git(&["add", "-A"])?;
    repo.git_dated(
        &[
            "commit",
            "-q",
            "--date=2023-12-25T12:00:00Z",
            "-m",
            "orders: totals are zero",
        ],
        "2024-01-02T10:00:00Z",
    )?;
    let orders = repo.git(&["rev-parse", "HEAD"])?;
    for i in 0..30 {
        repo.write(&format!("vendor/lib{i:02}.py"), format!("X = {i}\n"))?;
    }
    let vendor = repo.commit_at("vendor: add 30 libraries", "2024-01-02T20:00:00Z")?;
    repo.git(&["checkout", "-q", "-b", "topic"])?;
    repo.write("shop/api.py", "def handle_checkout(payload):\n    pass\n")?;
    let topic = repo.commit_at("api: checkout handler ✓", "2024-01-02T20:30:00Z")?;
    repo.git(&["checkout", "-q", "main"])?;
    repo.git_dated(
        &[
            "merge",
            "-q",
            "--no-ff",
            "-m",
            "Merge branch 'topic'",
            "topic",
        ],
        "2024-01-02T21:00:00Z",
    )?;
    let merge = repo.git(&["rev-parse", "HEAD"])?;
    let head = repo.commit_at("release 1.4.0", "2024-01-03T00:00:00Z")?;

    let git = repo.open().await?;
    let commits = git.recent_commits("HEAD", DAY, 50).await?;
    let shas: Vec<&str> = commits.iter().map(|c| c.sha.as_str()).collect();
    assert_eq!(
        shas,
        vec![head.as_str(), &merge, &topic, &vendor, &orders],
        "newest first, the base (two days back) outside the window"
    );
    let orders_commit = &commits[4];
    assert_eq!(orders_commit.subject, "orders: totals are zero");
    assert_eq!(orders_commit.author_time, epoch("2023-12-25T12:00:00Z")?);
    assert_eq!(orders_commit.commit_time, epoch("2024-01-02T10:00:00Z")?);
    assert_eq!(orders_commit.files, vec!["shop/orders.py".to_string()]);
    let vendor_commit = &commits[3];
    assert_eq!(vendor_commit.files_changed, 30);
    assert_eq!(
        vendor_commit.files.len(),
        20,
        "names are bounded per commit"
    );
    assert_eq!(vendor_commit.files[0], "vendor/lib00.py");
    assert_eq!(commits[2].subject, "api: checkout handler ✓");
    assert_eq!(commits[1].subject, "Merge branch 'topic'");
    assert!(commits[1].files.is_empty(), "a merge lists no files");
    assert!(
        commits[0].files.is_empty(),
        "an empty commit changes nothing"
    );

    // Bounded in count, and measured from the revision asked for.
    assert_eq!(git.recent_commits("HEAD", DAY, 2).await?.len(), 2);
    let from_orders = git.recent_commits(&orders, DAY, 50).await?;
    assert_eq!(from_orders.len(), 1, "the base is 34 hours before it");
    let from_orders = git.recent_commits(&orders, 2 * DAY, 50).await?;
    let shas: Vec<&str> = from_orders.iter().map(|c| c.sha.as_str()).collect();
    assert_eq!(shas, vec![orders.as_str(), &base]);
    assert!(git.recent_commits("HEAD", DAY, 0).await?.is_empty());

    match git.recent_commits("no-such-branch", DAY, 10).await {
        Err(RepoError::UnknownRevision { .. }) => {}
        other => panic!("expected UnknownRevision, got {other:?}"),
    }
    match git.recent_commits("--output=/tmp/x", DAY, 10).await {
        Err(RepoError::BadRevision { .. }) => {}
        other => panic!("expected BadRevision, got {other:?}"),
    }
    Ok(())
}

/// The fixture's recorded production event as the engine's [`Event`].
fn py_shop_event() -> Result<Event, Box<dyn std::error::Error>> {
    let text = std::fs::read_to_string(fixture("py-shop").join("event.json"))?;
    let json: Value = serde_json::from_str(&text)?;
    let field = |name: &str| json.get(name).and_then(Value::as_str).map(str::to_string);
    let frames = json
        .get("stacktrace")
        .and_then(Value::as_array)
        .ok_or("event.json has a stacktrace")?
        .iter()
        .map(|f| Frame {
            filename: f
                .get("filename")
                .and_then(Value::as_str)
                .map(str::to_string),
            function: f
                .get("function")
                .and_then(Value::as_str)
                .map(str::to_string),
            module: f.get("module").and_then(Value::as_str).map(str::to_string),
            lineno: f
                .get("lineno")
                .and_then(Value::as_u64)
                .and_then(|l| u32::try_from(l).ok()),
            colno: None,
            in_app: f.get("in_app").and_then(Value::as_bool),
        })
        .collect();
    Ok(Event {
        id: "0".repeat(32),
        exception_type: field("type"),
        message: field("message").unwrap_or_default(),
        frames,
        raw_stack: field("stack"),
        release: field("release"),
        environment: field("environment"),
        service: field("service"),
        ..Event::default()
    })
}

fn candidate(signature: &str, revision: &str) -> Candidate {
    Candidate {
        id: format!("run-1/{signature}"),
        run: "run-1".into(),
        signature: signature.into(),
        title: "KeyError: 'coupon'".into(),
        verdict: Verdict::New,
        severity: Severity::High,
        deploy_id: Some("deploy-1".into()),
        revision: Some(revision.into()),
        decided_at_ms: 1_704_240_000_000,
        observed: 42,
        expected: 0.0,
        q: 0.001,
        impact: 0.7,
        impact_unit: ImpactUnit::EventsPerMinute,
        reason: String::new(),
        state: CandidateState::New,
        ticket: None,
    }
}

/// The ticket the analyzer and triage make of the py-shop error, against
/// the deploy `previous..deployed`.
async fn py_shop_ticket(
    git: &suture_actors::clients::git::Repo,
    files: &RepoFiles,
    previous: &str,
    deployed: &str,
) -> Result<(Ticket, String), Box<dyn std::error::Error>> {
    let scrubber = Scrubber::builtin();
    let item = analyzer::item(
        &[candidate("5e1f0c2d3a4b5c6d", deployed)],
        None,
        &[py_shop_event()?],
        &scrubber,
        Some(files),
        &AnalyzerConfig::default(),
    )
    .ok_or("an item")?;
    let items = vec![item];
    let groups = analyzer::deterministic_groups(&items, &[0]);
    let grouping = GroupingRecord {
        method: Method::Deterministic,
        fallback_reason: Some("no LLM configured".into()),
        llm_raw: None,
        dropped_files: Vec::new(),
        tokens: 0,
        batch_size: 1,
    };
    let mut ticket = analyzer::ticket_for(
        groups.first().ok_or("a group")?,
        &items,
        &grouping,
        true,
        1_704_240_000_000,
    );
    ticket.id = "T-1".into();
    let diff = git.diff(previous, deployed).await?;
    let links = triage::links(&ticket, &diff, 3);
    let verdict = triage::deterministic(&ticket, &diff, &links);
    ticket.triage = Some(TriageRecord {
        method: Method::Deterministic,
        decision: Some(verdict.decision),
        confidence: verdict.confidence,
        reasoning: verdict.reasoning,
        suspect_lines: verdict.suspect_lines,
        diff: Some(DiffSummary::of(&diff, "previous deploy".into())),
        links,
        fallback_reason: None,
        llm_raw: None,
        tokens: 0,
        decided_at_ms: 1_704_240_000_000,
    });
    ticket.disposition = Some(Disposition::FixCandidate);
    ticket.state = TicketState::Triaged;
    Ok((ticket, diff.patch))
}

#[tokio::test]
async fn the_py_shop_context_names_the_crash_file_its_outline_and_its_test() -> TestResult {
    let repo = TestRepo::new()?;
    let root = repo.path();
    copy_tree(&fixture("py-shop"), root)?;
    // The previous deploy read the coupon safely; this deploy broke it.
    let orders = std::fs::read_to_string(root.join("shop/orders.py"))?;
    let safe = orders.replace("order[\"coupon\"]", "order.get(\"coupon\")");
    assert_ne!(safe, orders, "the fixture has the bug");
    std::fs::write(root.join("shop/orders.py"), safe)?;
    let previous = repo.commit_at("shop: orders, discounts, catalog", "2024-01-01T08:00:00Z")?;
    copy_tree(&fixture("py-shop"), root)?;
    let deployed = repo.commit_at("orders: the coupon is always sent", "2024-01-02T09:00:00Z")?;

    let git = repo.open().await?;
    let files = git.files_at(&deployed).await?;
    let (ticket, patch) = py_shop_ticket(&git, &files, &previous, &deployed).await?;
    let triage = ticket.triage.as_ref().ok_or("triaged")?;
    assert_eq!(
        triage.decision.map(|d| d.as_str()),
        Some("caused_by_deploy"),
        "{}",
        triage.reasoning
    );

    // What the coding agent's manager gathers before the first call.
    let stack = stack_files(&ticket);
    assert_eq!(stack, vec!["shop/orders.py", "shop/api.py"]);
    let outlines: Vec<FileOutline> = stack
        .iter()
        .filter_map(|path| {
            let text = std::fs::read_to_string(root.join(path)).ok()?;
            Some(FileOutline {
                path: path.clone(),
                outline: outline(path, &text)?,
            })
        })
        .collect();
    assert_eq!(outlines.len(), 2);
    let related = related_tests(files.paths(), &stack);
    let related_paths: Vec<&str> = related.iter().map(|t| t.path.as_str()).collect();
    assert_eq!(
        related_paths,
        vec!["tests/test_orders.py", "tests/test_api.py"]
    );
    let commits = git.recent_commits(&deployed, DAY, 20).await?;
    assert_eq!(commits.len(), 1, "the previous deploy is 25 h back");
    let inputs = ContextInputs {
        deploy_diff: Some(&patch),
        recent_commits: &commits,
        outlines: &outlines,
        related_tests: &related,
        ..ContextInputs::new(
            &ticket,
            &deployed,
            "python3 -m pytest -q -p no:cacheprovider",
        )
    };
    let template = Template::load(PromptKind::Coder, Path::new(""))?;
    let context = render_context(
        &template,
        &Scrubber::builtin(),
        Boundary::random(),
        &inputs,
        8_000,
    )?;
    let user = &context.prompt.user;
    assert!(context.estimated_tokens <= 8_000);
    assert!(context.cuts.is_empty(), "{:?}", context.cuts);
    for expected in [
        "at order_total (shop/orders.py:44) [app]",
        "at handle_checkout (shop/api.py:18) [app]",
        "decision: caused_by_deploy",
        "shop/orders.py (python, 59 lines)",
        "37  def order_total(order):  <- line 44",
        "shop/api.py (python,",
        "def handle_checkout(payload):  <- line 18",
        "tests/test_orders.py  (for shop/orders.py)",
        "tests/test_api.py  (for shop/api.py)",
        "-    coupon = order.get(\"coupon\")",
        "+    coupon = order[\"coupon\"]",
        "orders: the coupon is always sent",
        "python3 -m pytest -q -p no:cacheprovider",
    ] {
        assert!(user.contains(expected), "missing {expected:?} in\n{user}");
    }
    assert!(user.contains(&format!("revision {deployed}")));

    // The external agent's task file carries the same prompt.
    let task = render_task_markdown(&context.prompt);
    assert!(task.contains("37  def order_total(order):  <- line 44"));
    assert!(task.contains("<<<<<<< SEARCH"));
    Ok(())
}

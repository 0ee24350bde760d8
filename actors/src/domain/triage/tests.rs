use super::*;
use crate::domain::diff::{ChangeStatus, ChangedFile, Hunk, classify};
use crate::domain::gate::decide::Severity;
use crate::domain::llm::parse::parse_triage;
use crate::domain::tickets::test_support::ticket;
use crate::domain::tickets::{FrameView, Method, SignatureEvidence};

fn changed(path: &str, lines: &[u32]) -> ChangedFile {
    ChangedFile {
        path: path.to_string(),
        old_path: None,
        status: ChangeStatus::Modified,
        class: classify(path),
        added: lines.len() as u32,
        removed: 0,
        binary: false,
        hunks: lines
            .iter()
            .map(|&l| Hunk {
                old_start: l,
                old_lines: 0,
                new_start: l,
                new_lines: 1,
            })
            .collect(),
        changed_lines: lines.to_vec(),
    }
}

fn diff(files: Vec<ChangedFile>) -> DeployDiff {
    DeployDiff {
        from: "a".repeat(40),
        to: "b".repeat(40),
        files,
        patch: String::new(),
        truncated: false,
    }
}

fn frame(path: &str, line: u32, in_app: bool) -> FrameView {
    FrameView {
        file: Some(format!("/srv/{path}")),
        function: Some("f".into()),
        line: Some(line),
        in_app,
        repo_path: Some(path.to_string()),
    }
}

fn with_frames(message: &str, frames: Vec<FrameView>) -> Ticket {
    let mut t = ticket("T-1", None, None, Method::Deterministic);
    t.deploy_id = Some("d1".into());
    t.signatures = vec![SignatureEvidence {
        signature: "sig1".into(),
        title: "E".into(),
        exception_type: Some("TypeError".into()),
        message: message.into(),
        frames,
        breadcrumbs: Vec::new(),
        crash_site: None,
        release: None,
        environment: None,
        total_events: 1,
        first_seen_ms: 0,
        last_seen_ms: 0,
        gate: Vec::new(),
    }];
    t
}

#[test]
fn a_crash_on_a_changed_line_is_caused_by_the_deploy() {
    let t = with_frames(
        "x is undefined",
        vec![frame("src/api.py", 5, true), frame("src/pay.py", 42, true)],
    );
    let d = diff(vec![
        changed("src/pay.py", &[40]),
        changed("README.md", &[1]),
    ]);
    let found = links(&t, &d, 3);
    assert_eq!(found.len(), 1);
    assert!(found[0].on_changed_line && found[0].crash_site);
    let v = deterministic(&t, &d, &found);
    assert_eq!(v.decision, Decision::CausedByDeploy);
    assert_eq!(v.confidence, 0.9);
    assert_eq!(v.suspect_lines[0].file, "src/pay.py");
    assert_eq!(v.suspect_lines[0].line, Some(42));
}

#[test]
fn a_frame_in_a_changed_file_away_from_the_change_is_a_weaker_link() {
    let t = with_frames("boom", vec![frame("src/pay.py", 200, true)]);
    let d = diff(vec![changed("src/pay.py", &[10])]);
    let v = deterministic(&t, &d, &links(&t, &d, 3));
    assert_eq!(v.decision, Decision::CausedByDeploy);
    assert_eq!(v.confidence, 0.7);
}

#[test]
fn library_frames_in_changed_files_do_not_count() {
    let t = with_frames(
        "boom",
        vec![
            frame("vendor/lib.py", 10, false),
            frame("src/api.py", 1, true),
        ],
    );
    let d = diff(vec![changed("vendor/lib.py", &[10])]);
    assert!(links(&t, &d, 3).is_empty());
    let v = deterministic(&t, &d, &[]);
    assert_eq!(v.decision, Decision::NotCaused);
    assert!(v.reasoning.contains("vendor/lib.py"), "{}", v.reasoning);
}

#[test]
fn unresolvable_frames_leave_it_unsure() {
    let mut f = frame("src/api.py", 1, true);
    f.repo_path = None;
    let t = with_frames("boom", vec![f]);
    let d = diff(vec![changed("src/pay.py", &[10])]);
    assert_eq!(deterministic(&t, &d, &[]).decision, Decision::Unsure);
}

#[test]
fn a_deploy_of_tests_docs_and_ci_only_is_not_the_cause_without_an_llm_call() {
    let t = with_frames("boom", vec![frame("src/pay.py", 10, true)]);
    let d = diff(vec![
        changed("tests/test_pay.py", &[1]),
        changed("docs/pay.md", &[1]),
        changed(".github/workflows/ci.yml", &[1]),
    ]);
    let rule = non_runtime_rule(&t, &d).expect("the rule applies");
    assert_eq!(rule.decision, Decision::NotCaused);
    assert!(
        rule.reasoning.contains("ci, docs, test"),
        "{}",
        rule.reasoning
    );
    // A config change may matter: no rule, the evidence decides.
    let config = diff(vec![changed("config/settings.yaml", &[3])]);
    assert!(non_runtime_rule(&t, &config).is_none());
    // An error that names the changed file is checked normally.
    let named = with_frames("cannot parse ci.yml", vec![frame("src/pay.py", 10, true)]);
    assert!(non_runtime_rule(&named, &d).is_none());
}

#[test]
fn a_library_frame_of_the_same_file_name_does_not_name_a_changed_test_file() {
    // A stack through a library's `__init__.py`, and a deploy that touched
    // only the service's `tests/__init__.py`.
    let mut lib = frame("json/__init__.py", 299, false);
    lib.file = Some("/usr/lib/python3.12/json/__init__.py".into());
    lib.repo_path = None;
    let t = with_frames(
        "JSONDecodeError in /usr/lib/python3.12/json/__init__.py",
        vec![frame("src/pay.py", 10, true), lib],
    );
    let d = diff(vec![changed("tests/__init__.py", &[1])]);
    let rule = non_runtime_rule(&t, &d).expect("the tests-only rule applies");
    assert_eq!(rule.decision, Decision::NotCaused);
    // A frame in the repository's own file, or its path in the message, does.
    let ours = with_frames("boom", vec![frame("tests/__init__.py", 1, true)]);
    assert!(non_runtime_rule(&ours, &d).is_none());
    let named = with_frames("error importing /srv/app/tests/__init__.py", vec![]);
    assert!(non_runtime_rule(&named, &d).is_none());
    // Substrings of longer names do not count either.
    let d = diff(vec![changed("docs/pay.md", &[1])]);
    let longer = with_frames("see prepay.md and pay.mdx", vec![]);
    assert!(non_runtime_rule(&longer, &d).is_some());
    let sentence = with_frames("read pay.md.", vec![]);
    assert!(non_runtime_rule(&sentence, &d).is_none());
}

#[test]
fn an_error_naming_a_changed_config_file_links_it() {
    let t = with_frames(
        "KeyError reading settings.yaml: 'timeout'",
        vec![frame("src/pay.py", 10, true)],
    );
    let d = diff(vec![changed("config/settings.yaml", &[3])]);
    let v = deterministic(&t, &d, &links(&t, &d, 3));
    assert_eq!(v.decision, Decision::CausedByDeploy);
    assert_eq!(v.confidence, 0.6);
}

#[test]
fn the_models_claim_needs_a_changed_line() {
    let d = diff(vec![changed("src/pay.py", &[40])]);
    let known = vec!["sig1".to_string()];
    let answer = parse_triage(
        r#"{"decision": "caused_by_deploy", "confidence": 0.95, "reasoning": "trust me",
            "signatures": ["sig1"], "suspect_lines": [{"file": "src/other.py", "line": 3}]}"#,
        &known,
    )
    .expect("valid");
    let t = with_frames("boom", vec![frame("src/pay.py", 41, true)]);
    let (v, note) = check_llm_verdict(&answer, &d, &t, 3);
    assert_eq!(v.decision, Decision::Unsure);
    assert!(v.suspect_lines.is_empty());
    let note = note.expect("a note");
    assert!(
        note.contains("src/other.py") && note.contains("downgraded"),
        "{note}"
    );
    let grounded = parse_triage(
        r#"{"decision": "caused_by_deploy", "confidence": 0.8, "reasoning": "line 40 divides",
            "signatures": ["sig1"], "suspect_lines": [{"file": "src/pay.py", "line": 40, "why": "divides"}]}"#,
        &known,
    )
    .expect("valid");
    let (v, note) = check_llm_verdict(&grounded, &d, &t, 3);
    assert_eq!(v.decision, Decision::CausedByDeploy);
    assert_eq!(note, None);
}

/// The floor injected text must not get over: a changed file alone, a
/// changed line far from every frame, or a line no frame is in.
#[test]
fn caused_by_deploy_needs_a_changed_line_near_a_frame() {
    let d = diff(vec![changed("src/pay.py", &[40, 200])]);
    let known = vec!["sig1".to_string()];
    let claim = |line: &str| {
        parse_triage(
            &format!(
                r#"{{"decision": "caused_by_deploy", "confidence": 0.9, "reasoning": "r",
                "signatures": ["sig1"], "suspect_lines": [{{"file": "src/pay.py"{line}}}]}}"#
            ),
            &known,
        )
        .expect("valid")
    };
    let t = with_frames("boom", vec![frame("src/pay.py", 41, true)]);
    let no_line = check_llm_verdict(&claim(""), &d, &t, 3).0;
    assert_eq!(no_line.decision, Decision::Unsure, "a file is not a line");
    let far = check_llm_verdict(&claim(r#", "line": 200"#), &d, &t, 3).0;
    assert_eq!(
        far.decision,
        Decision::Unsure,
        "changed, but far from the frame"
    );
    let unchanged = check_llm_verdict(&claim(r#", "line": 45"#), &d, &t, 3).0;
    assert_eq!(
        unchanged.decision,
        Decision::Unsure,
        "near the frame, not changed"
    );
    let library = with_frames("boom", vec![frame("src/pay.py", 41, false)]);
    let not_in_app = check_llm_verdict(&claim(r#", "line": 40"#), &d, &library, 3).0;
    assert_eq!(
        not_in_app.decision,
        Decision::Unsure,
        "no in-app frame there"
    );
    let near = check_llm_verdict(&claim(r#", "line": 40"#), &d, &t, 3).0;
    assert_eq!(near.decision, Decision::CausedByDeploy);
}

#[test]
fn dispositions() {
    let cfg = TriageConfig::default();
    let mut t = ticket("T-1", None, None, Method::Rule);
    assert_eq!(
        disposition(&t, Some(Decision::CausedByDeploy), &cfg),
        Disposition::FixCandidate
    );
    assert_eq!(
        disposition(&t, Some(Decision::Unsure), &cfg),
        Disposition::External
    );
    assert_eq!(
        disposition(&t, Some(Decision::NotCaused), &cfg),
        Disposition::External
    );
    t.severity = Severity::High;
    assert_eq!(
        disposition(&t, None, &cfg),
        Disposition::FixCandidate,
        "a severe spike"
    );
    t.severity = Severity::Medium;
    assert_eq!(disposition(&t, None, &cfg), Disposition::Noise);
}

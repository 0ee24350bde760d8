use super::*;

const GROUP: &str = r#"{"root_cause": "cart total reads user.items before login", "severity": "high", "affected_exceptions": [0, 2], "suggested_fix": "guard user", "files_likely_involved": ["src/cart.js"]}"#;
const OTHER: &str = r#"{"root_cause": "timeout upstream", "severity": "low", "affected_exceptions": [1], "suggested_fix": "", "files_likely_involved": []}"#;

fn both() -> String {
    format!("{{\"groups\": [{GROUP}, {OTHER}]}}")
}

fn ids() -> Vec<String> {
    vec!["9f1c0d2e3a4b5c6d".into(), "0a1b2c3d4e5f6071".into()]
}

#[test]
fn raw_json() {
    let answer = parse_analyzer(&both(), 3).expect("valid");
    assert_eq!(answer.groups.len(), 2);
    assert_eq!(answer.groups[0].severity, Severity::High);
    assert_eq!(answer.groups[0].affected_exceptions, [0, 2]);
    assert_eq!(answer.groups[0].files_likely_involved, ["src/cart.js"]);
    assert!(answer.uncovered.is_empty());
}

#[test]
fn fenced_json_with_prose_around() {
    let text = format!(
        "Here is the grouping you asked for:\n\n```json\n{}\n```\nLet me know if you need more.",
        both()
    );
    assert_eq!(parse_analyzer(&text, 3).expect("valid").groups.len(), 2);
    let plain_fence = format!("```\n{}\n```", both());
    assert_eq!(
        parse_analyzer(&plain_fence, 3).expect("valid").groups.len(),
        2
    );
}

#[test]
fn leading_and_trailing_prose_without_fences() {
    let text = format!("Sure! {} Hope this helps {{not json}}", both());
    assert_eq!(parse_analyzer(&text, 3).expect("valid").groups.len(), 2);
}

#[test]
fn bare_array_result_wrapper_and_single_group() {
    let array = format!("[{GROUP}, {OTHER}]");
    assert_eq!(parse_analyzer(&array, 3).expect("array").groups.len(), 2);
    let wrapped = format!("{{\"result\": {}}}", both());
    assert_eq!(parse_analyzer(&wrapped, 3).expect("result").groups.len(), 2);
    let wrapped_array = format!("{{\"result\": [{GROUP}]}}");
    let answer = parse_analyzer(&wrapped_array, 3).expect("result list");
    assert_eq!(
        answer.uncovered,
        [1],
        "exception 1 is left for the fallback"
    );
    assert_eq!(parse_analyzer(GROUP, 3).expect("one group").groups.len(), 1);
}

#[test]
fn a_nested_valid_group_does_not_rescue_an_invalid_answer() {
    let text = format!("Answer: [{GROUP}, {{\"root_cause\": 1}}] as requested");
    assert!(parse_analyzer(&text, 3).is_err());
}

#[test]
fn no_json_at_all() {
    assert_eq!(
        parse_analyzer("I cannot help with that.", 2),
        Err(ParseError::NoJson)
    );
    assert_eq!(parse_triage("", &ids()), Err(ParseError::NoJson));
}

#[test]
fn indices_out_of_range_or_repeated_are_refused() {
    let error = parse_analyzer(&both(), 2).unwrap_err();
    assert_eq!(
        error,
        ParseError::Field {
            field: "groups[0].affected_exceptions".into(),
            problem: "2 is out of range (0 to 1)".into()
        }
    );
    let repeated = format!("[{GROUP}, {}]", OTHER.replace("[1]", "[0]"));
    let error = parse_analyzer(&repeated, 3).unwrap_err().to_string();
    assert!(error.contains("already in another group"), "{error}");
    let negative = GROUP.replace("[0, 2]", "[-1]");
    assert!(
        parse_analyzer(&negative, 3)
            .unwrap_err()
            .to_string()
            .contains("not an index")
    );
    let empty = GROUP.replace("[0, 2]", "[]");
    assert!(
        parse_analyzer(&empty, 3)
            .unwrap_err()
            .to_string()
            .contains("empty")
    );
}

#[test]
fn enums_and_types_are_strict() {
    let bad_severity = GROUP.replace("\"high\"", "\"urgent\"");
    let error = parse_analyzer(&bad_severity, 3).unwrap_err().to_string();
    assert!(
        error.contains("groups[0].severity") && error.contains("urgent"),
        "{error}"
    );
    let upper = GROUP.replace("\"high\"", "\"High\"");
    assert_eq!(
        parse_analyzer(&upper, 3).expect("case").groups[0].severity,
        Severity::High
    );
    let bad_files = GROUP.replace("[\"src/cart.js\"]", "\"src/cart.js\"");
    assert!(
        parse_analyzer(&bad_files, 3)
            .unwrap_err()
            .to_string()
            .contains("files_likely_involved")
    );
    let no_cause = GROUP.replace("\"root_cause\"", "\"cause\"");
    let no_cause = format!("{{\"groups\": [{no_cause}]}}");
    let error = parse_analyzer(&no_cause, 3).unwrap_err().to_string();
    assert!(error.contains("groups[0].root_cause: missing"), "{error}");
    assert!(matches!(
        parse_analyzer("{\"groups\": 3}", 3),
        Err(ParseError::Field { .. })
    ));
    assert!(matches!(
        parse_analyzer("{\"other\": 3}", 3),
        Err(ParseError::Shape { .. })
    ));
}

const VERDICT: &str = r#"{"decision": "caused_by_deploy", "confidence": 0.85, "reasoning": "cart.js:86 now reads user.items", "signatures": ["9f1c0d2e3a4b5c6d"], "suspect_lines": [{"file": "src/cart.js", "line": 86, "why": "user may be undefined"}]}"#;

#[test]
fn triage_verdict_in_every_wrapping() {
    let expected = TriageVerdict {
        decision: Decision::CausedByDeploy,
        confidence: 0.85,
        reasoning: "cart.js:86 now reads user.items".into(),
        signatures: vec!["9f1c0d2e3a4b5c6d".into()],
        suspect_lines: vec![SuspectLine {
            file: "src/cart.js".into(),
            line: Some(86),
            why: "user may be undefined".into(),
        }],
    };
    for text in [
        VERDICT.to_string(),
        format!("```json\n{VERDICT}\n```"),
        format!("My verdict: {VERDICT}. Done."),
        format!("{{\"result\": {VERDICT}}}"),
        format!("{{\"verdict\": {VERDICT}}}"),
    ] {
        assert_eq!(
            parse_triage(&text, &ids()).as_ref(),
            Ok(&expected),
            "{text}"
        );
    }
}

#[test]
fn triage_is_validated_strictly() {
    let cases = [
        (VERDICT.replace("caused_by_deploy", "maybe"), "decision"),
        (VERDICT.replace("0.85", "85"), "confidence"),
        (VERDICT.replace("0.85", "\"high\""), "confidence"),
        (
            VERDICT.replace("9f1c0d2e3a4b5c6d", "ffffffffffffffff"),
            "signatures",
        ),
        (
            VERDICT.replace("\"line\": 86", "\"line\": \"86\""),
            "suspect_lines[0].line",
        ),
        (VERDICT.replace("\"reasoning\"", "\"reason\""), "reasoning"),
    ];
    for (text, field) in cases {
        match parse_triage(&text, &ids()) {
            Err(ParseError::Field { field: f, .. }) => assert_eq!(f, field, "{text}"),
            other => panic!("{text}: {other:?}"),
        }
    }
    let minimal = r#"{"decision": "unsure", "confidence": 0.3, "reasoning": "no link"}"#;
    let verdict = parse_triage(minimal, &ids()).expect("optional lists may be absent");
    assert!(verdict.signatures.is_empty() && verdict.suspect_lines.is_empty());
}

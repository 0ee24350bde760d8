use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::domain::coder::edits::{parse_edits, render_edits};

fn tree(files: &[(&str, &str)]) -> BTreeMap<String, String> {
    files
        .iter()
        .map(|(p, c)| (p.to_string(), c.to_string()))
        .collect()
}

fn apply_reply(files: &BTreeMap<String, String>, reply: &str) -> Result<Applied, ApplyFailure> {
    let blocks = parse_edits(reply).expect("the reply parses");
    apply_edits(files, &blocks)
}

fn content(applied: &Applied, path: &str) -> String {
    applied
        .files
        .get(&RelPath::parse(path).unwrap())
        .unwrap_or_else(|| panic!("{path} not in {:?}", applied.files.keys()))
        .content
        .clone()
}

const ORDERS: &str = "def total(order):\n    items = order[\"items\"]\n    code = order[\"discount_code\"]\n    return sum(items) - discount(code)\n";

#[test]
fn exact_match_replaces_in_place() {
    let files = tree(&[("shop/orders.py", ORDERS)]);
    let applied = apply_reply(
        &files,
        "shop/orders.py\n<<<<<<< SEARCH\n    code = order[\"discount_code\"]\n=======\n    code = order.get(\"discount_code\")\n>>>>>>> REPLACE\n",
    )
    .unwrap();
    assert_eq!(
        content(&applied, "shop/orders.py"),
        ORDERS.replace("order[\"discount_code\"]", "order.get(\"discount_code\")")
    );
    assert_eq!(applied.blocks[0].how, MatchKind::Exact);
    assert_eq!(applied.blocks[0].at_line, 3);
    assert!(!applied.files.values().next().unwrap().created);
}

#[test]
fn crlf_file_keeps_its_line_endings() {
    let crlf = "a\r\nb\r\nc\r\n";
    let files = tree(&[("f.txt", crlf)]);
    // The reply is LF; the file stays CRLF, new lines included.
    let applied = apply_reply(
        &files,
        "f.txt\n<<<<<<< SEARCH\nb\n=======\nB1\nB2\n>>>>>>> REPLACE\n",
    )
    .unwrap();
    assert_eq!(content(&applied, "f.txt"), "a\r\nB1\r\nB2\r\nc\r\n");
    // A CRLF reply against an LF file: the file stays LF.
    let files = tree(&[("f.txt", "a\nb\nc\n")]);
    let applied = apply_reply(
        &files,
        "f.txt\r\n<<<<<<< SEARCH\r\nb\r\n=======\r\nB\r\n>>>>>>> REPLACE\r\n",
    )
    .unwrap();
    assert_eq!(content(&applied, "f.txt"), "a\nB\nc\n");
}

#[test]
fn mixed_endings_and_a_missing_final_newline_survive() {
    let files = tree(&[("f.txt", "one\r\ntwo\nthree")]);
    let applied = apply_reply(
        &files,
        "f.txt\n<<<<<<< SEARCH\nthree\n=======\nthree\nfour\n>>>>>>> REPLACE\n",
    )
    .unwrap();
    // Untouched lines keep their own ending; the file still ends without one.
    assert_eq!(content(&applied, "f.txt"), "one\r\ntwo\nthree\r\nfour");
    let applied = apply_reply(
        &files,
        "f.txt\n<<<<<<< SEARCH\ntwo\nthree\n=======\n>>>>>>> REPLACE\n",
    )
    .unwrap();
    assert_eq!(content(&applied, "f.txt"), "one\r\n");
}

#[test]
fn whitespace_tolerant_match_keeps_the_files_indentation() {
    let file = "class Cart:\n    def total(self):\n        return sum(self.items)   \n\n    def empty(self):\n        return not self.items\n";
    let files = tree(&[("cart.py", file)]);
    // The model dropped the indentation and the trailing spaces.
    let applied = apply_reply(
        &files,
        "cart.py\n<<<<<<< SEARCH\ndef total(self):\n    return sum(self.items)\n=======\ndef total(self):\n    if not self.items:\n        return 0\n\n    return sum(self.items)\n>>>>>>> REPLACE\n",
    )
    .unwrap();
    assert_eq!(
        content(&applied, "cart.py"),
        "class Cart:\n    def total(self):\n        if not self.items:\n            return 0\n\n        return sum(self.items)\n\n    def empty(self):\n        return not self.items\n"
    );
    assert_eq!(applied.blocks[0].how, MatchKind::WhitespaceTolerant);

    // Over-indented by the model: outdented to the file's level.
    let applied = apply_reply(
        &files,
        "cart.py\n<<<<<<< SEARCH\n            def empty(self):\n                return not self.items\n=======\n            def empty(self):\n                return len(self.items) == 0\n>>>>>>> REPLACE\n",
    )
    .unwrap();
    assert!(
        content(&applied, "cart.py")
            .ends_with("    def empty(self):\n        return len(self.items) == 0\n")
    );
}

#[test]
fn tolerance_needs_one_uniform_offset() {
    // Relative indentation differs from the file's: no match.
    let files = tree(&[("a.py", "if x:\n    y()\n")]);
    let error = apply_reply(
        &files,
        "a.py\n<<<<<<< SEARCH\nif x:\ny()\n=======\nz\n>>>>>>> REPLACE\n",
    )
    .unwrap_err();
    assert!(matches!(
        error.failures[0].problem,
        ApplyProblem::NotFound { .. }
    ));
}

#[test]
fn a_spurious_leading_blank_line_is_dropped() {
    let files = tree(&[("a.py", "x = 1\ny = 2\nz = 3\n")]);
    let applied = apply_reply(
        &files,
        "a.py\n<<<<<<< SEARCH\n\ny = 2\nz = 3\n=======\ny = 20\nz = 3\n>>>>>>> REPLACE\n",
    )
    .unwrap();
    assert_eq!(content(&applied, "a.py"), "x = 1\ny = 20\nz = 3\n");
    assert_eq!(applied.blocks[0].how, MatchKind::ExactSkippingBlankLine);
}

#[test]
fn ambiguous_matches_are_refused_with_their_lines() {
    let file = "def a():\n    return None\n\ndef b():\n    return None\n";
    let files = tree(&[("m.py", file)]);
    let error = apply_reply(
        &files,
        "m.py\n<<<<<<< SEARCH\n    return None\n=======\n    return 0\n>>>>>>> REPLACE\n",
    )
    .unwrap_err();
    assert_eq!(
        error.failures[0].problem,
        ApplyProblem::Ambiguous {
            at_lines: vec![2, 5],
            how: MatchKind::Exact
        }
    );
    let text = error.to_string();
    assert!(text.contains("edit block 1 for `m.py`"), "{text}");
    assert!(text.contains("at lines 2, 5"), "{text}");

    // Ambiguous only once indentation is ignored.
    let files = tree(&[("m.py", "  x = 1\n    x = 1\n")]);
    let error = apply_reply(
        &files,
        "m.py\n<<<<<<< SEARCH\nx = 1\n=======\nx = 2\n>>>>>>> REPLACE\n",
    )
    .unwrap_err();
    assert_eq!(
        error.failures[0].problem,
        ApplyProblem::Ambiguous {
            at_lines: vec![1, 2],
            how: MatchKind::WhitespaceTolerant
        }
    );
    // Overlapping windows are two matches, not one.
    let files = tree(&[("m.txt", "a\na\na\n")]);
    let error = apply_reply(
        &files,
        "m.txt\n<<<<<<< SEARCH\na\na\n=======\nb\n>>>>>>> REPLACE\n",
    )
    .unwrap_err();
    assert!(
        matches!(error.failures[0].problem, ApplyProblem::Ambiguous { ref at_lines, .. } if at_lines == &vec![1, 2])
    );
}

#[test]
fn a_missing_match_shows_the_most_similar_lines() {
    let mut file = String::new();
    for n in 0..40 {
        file.push_str(&format!("value_{n} = compute({n})\n"));
    }
    file.push_str("def price(item):\n    base = item['price']\n    tax = item['tax_rate'] * base\n    return base + tax\n");
    let files = tree(&[("p.py", &file)]);
    let error = apply_reply(
        &files,
        "p.py\n<<<<<<< SEARCH\ndef price(item):\n    base = item['price']\n    tax = item['tax'] * base\n    return base + tax\n=======\nx\n>>>>>>> REPLACE\n",
    )
    .unwrap_err();
    let ApplyProblem::NotFound {
        hint: Some(hint),
        replace_present,
    } = &error.failures[0].problem
    else {
        panic!("{error:?}");
    };
    assert!(!replace_present);
    assert_eq!(hint.first_line, 39);
    assert!(
        hint.lines
            .contains(&"    tax = item['tax_rate'] * base".to_string()),
        "{hint:?}"
    );
    assert!((60..100).contains(&hint.similarity), "{}", hint.similarity);
    let text = error.to_string();
    assert!(
        text.contains("The most similar lines (from line 39)"),
        "{text}"
    );

    // Nothing alike: no hint rather than noise.
    let error = apply_reply(
        &files,
        "p.py\n<<<<<<< SEARCH\nfn main() {}\n=======\nx\n>>>>>>> REPLACE\n",
    )
    .unwrap_err();
    assert!(matches!(
        error.failures[0].problem,
        ApplyProblem::NotFound { hint: None, .. }
    ));
}

#[test]
fn a_block_sent_twice_is_recognized() {
    let files = tree(&[("a.py", "x = 2\n")]);
    let error = apply_reply(
        &files,
        "a.py\n<<<<<<< SEARCH\nx = 1\n=======\nx = 2\n>>>>>>> REPLACE\n",
    )
    .unwrap_err();
    assert!(matches!(
        error.failures[0].problem,
        ApplyProblem::NotFound {
            replace_present: true,
            ..
        }
    ));
    assert!(error.to_string().contains("already in the file"));
}

#[test]
fn blocks_apply_in_turn_and_create_files() {
    let files = tree(&[("a.py", "one\ntwo\n")]);
    let reply = "a.py\n<<<<<<< SEARCH\none\n=======\nONE\n>>>>>>> REPLACE\n\n<<<<<<< SEARCH\nONE\ntwo\n=======\nONE\nTWO\n>>>>>>> REPLACE\n\ntests/test_new.py\n```python\n<<<<<<< SEARCH\n=======\ndef test_new():\n    assert True\n>>>>>>> REPLACE\n```\n\ntests/test_new.py\n<<<<<<< SEARCH\n    assert True\n=======\n    assert 1 + 1 == 2\n>>>>>>> REPLACE\n";
    let applied = apply_reply(&files, reply).unwrap();
    assert_eq!(content(&applied, "a.py"), "ONE\nTWO\n");
    assert_eq!(
        content(&applied, "tests/test_new.py"),
        "def test_new():\n    assert 1 + 1 == 2\n"
    );
    assert!(applied.files[&RelPath::parse("tests/test_new.py").unwrap()].created);
    let kinds: Vec<MatchKind> = applied.blocks.iter().map(|b| b.how).collect();
    assert_eq!(
        kinds,
        vec![
            MatchKind::Exact,
            MatchKind::Exact,
            MatchKind::Created,
            MatchKind::Exact
        ]
    );
}

#[test]
fn empty_search_on_an_existing_file_appends() {
    let files = tree(&[("a.py", "x = 1")]);
    let applied = apply_reply(
        &files,
        "a.py\n<<<<<<< SEARCH\n=======\ny = 2\n>>>>>>> REPLACE\n",
    )
    .unwrap();
    assert_eq!(content(&applied, "a.py"), "x = 1\ny = 2\n");
    assert_eq!(applied.blocks[0].how, MatchKind::Appended);
}

#[test]
fn all_or_nothing_with_every_failure_named() {
    let files = tree(&[("a.py", "x = 1\n")]);
    let reply = "a.py\n<<<<<<< SEARCH\nx = 1\n=======\nx = 2\n>>>>>>> REPLACE\n\nmissing.py\n<<<<<<< SEARCH\nold\n=======\nnew\n>>>>>>> REPLACE\n\na.py\n<<<<<<< SEARCH\nnope\n=======\nz\n>>>>>>> REPLACE\n";
    let error = apply_reply(&files, reply).unwrap_err();
    assert_eq!(error.total, 3);
    let named: Vec<(usize, &str)> = error
        .failures
        .iter()
        .map(|f| (f.index, f.path.as_str()))
        .collect();
    assert_eq!(named, vec![(2, "missing.py"), (3, "a.py")]);
    assert_eq!(error.failures[0].problem, ApplyProblem::NoSuchFile);
    let text = error.to_string();
    assert!(
        text.starts_with("2 of 3 edit blocks could not be applied, so none were"),
        "{text}"
    );
    assert!(
        text.contains("edit block 2 for `missing.py`: the file does not exist"),
        "{text}"
    );
}

struct Broken;
impl FileSource for Broken {
    fn read(&self, _: &RelPath) -> Result<Option<String>, String> {
        Err("not UTF-8 text".into())
    }
}

#[test]
fn unreadable_files_are_block_errors() {
    let blocks = parse_edits("logo.png\n<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE\n").unwrap();
    let error = apply_edits(&Broken, &blocks).unwrap_err();
    assert_eq!(
        error.failures[0].problem,
        ApplyProblem::Unreadable {
            reason: "not UTF-8 text".into()
        }
    );
}

/// A file of distinct lines (each holds its index), so any window of it is
/// a unique SEARCH.
fn distinct_file() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec("[a-z(){}.: ]{0,10}", 1..30).prop_map(|words| {
        words
            .into_iter()
            .enumerate()
            .map(|(n, w)| format!("    line_{n} {w}"))
            .collect()
    })
}

fn free_lines() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec("( {0,4})[a-z(){}.:#]{0,12}", 0..6)
}

proptest! {
    /// apply(parse(render(edit))) is the edit: any window of a file, replaced
    /// by any lines, in a file with either line ending.
    #[test]
    fn render_parse_apply_roundtrip(
        lines in distinct_file(),
        cut in (0usize..30, 1usize..30),
        replace in free_lines(),
        crlf in any::<bool>(),
    ) {
        let start = cut.0 % lines.len();
        let len = 1 + (cut.1 - 1) % (lines.len() - start);
        let eol = if crlf { "\r\n" } else { "\n" };
        let join = |ls: &[String]| ls.iter().map(|l| format!("{l}{eol}")).collect::<String>();
        let block = EditBlock {
            index: 1,
            path: RelPath::parse("src/file.py").unwrap(),
            search: lines[start..start + len].to_vec(),
            replace: replace.clone(),
            line: 2,
        };
        let reply = render_edits(std::slice::from_ref(&block));
        let parsed = parse_edits(&reply).unwrap();
        prop_assert_eq!(&parsed, &vec![block]);
        let files = tree(&[("src/file.py", &join(&lines))]);
        let applied = apply_edits(&files, &parsed).unwrap();
        let mut expected = lines[..start].to_vec();
        expected.extend(replace);
        expected.extend_from_slice(&lines[start + len..]);
        prop_assert_eq!(content(&applied, "src/file.py"), join(&expected));
        prop_assert_eq!(applied.blocks[0].how, MatchKind::Exact);
    }

    /// The same edit with the indentation stripped from SEARCH and REPLACE
    /// lands at the file's indentation.
    #[test]
    fn outdented_edits_are_reindented(
        lines in distinct_file(),
        cut in (0usize..30, 1usize..30),
        replace in prop::collection::vec("[a-z(){}.:#]{1,12}", 1..5),
    ) {
        let start = cut.0 % lines.len();
        let len = 1 + (cut.1 - 1) % (lines.len() - start);
        let block = EditBlock {
            index: 1,
            path: RelPath::parse("f.py").unwrap(),
            search: lines[start..start + len].iter().map(|l| l.trim_start().to_string()).collect(),
            replace: replace.clone(),
            line: 2,
        };
        let join = |ls: &[String]| ls.iter().map(|l| format!("{l}\n")).collect::<String>();
        let files = tree(&[("f.py", &join(&lines))]);
        let applied = apply_edits(&files, &[block]).unwrap();
        let mut expected = lines[..start].to_vec();
        expected.extend(replace.iter().map(|r| format!("    {r}")));
        expected.extend_from_slice(&lines[start + len..]);
        prop_assert_eq!(content(&applied, "f.py"), join(&expected));
    }
}

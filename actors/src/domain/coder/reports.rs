//! Test results read from what test runners print or write: JUnit XML (pytest
//! `--junitxml`, node `--test-reporter=junit`, JUnit, Go's gotestsum, and
//! most CI tooling), pytest's short summary (`-rA`), and TAP (node
//! `--test`'s default when not on a terminal). Each parser gives the same
//! [`TestReport`], which [`super::tests_outcome`] compares.
//!
//! Test ids are what the report calls a test, made unique: the same id on
//! two runs of the same command is the same test. Two tests with one name
//! (node's TAP does not say which file a test is in) get ` #2`, ` #3`
//! suffixes in the order they appear.
//!
//! The JUnit reader is a small tag scanner, not an XML library: reports are
//! machine-written, and only elements, attributes, the five predefined
//! entities and numeric character references matter. No DTD is read, so no
//! entity can expand.

use std::collections::BTreeMap;
use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// One test's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestStatus {
    Passed,
    /// An assertion failed.
    Failed,
    /// The test could not run to an assertion (setup error, collection
    /// error, exception outside the test body).
    Error,
    /// Skipped, expected to fail (xfail), or to do.
    Skipped,
}

impl TestStatus {
    /// Failed or error.
    pub fn is_failure(self) -> bool {
        matches!(self, TestStatus::Failed | TestStatus::Error)
    }
}

/// The tests of one run and how each ended.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestReport {
    pub results: BTreeMap<String, TestStatus>,
    /// Whether the report lists every test that ran, passing ones
    /// included. pytest's summary without `-rA` lists only failures: a
    /// test missing from it may have passed.
    pub complete: bool,
}

impl TestReport {
    fn push(&mut self, seen: &mut HashMap<String, usize>, id: String, status: TestStatus) {
        let count = seen.entry(id.clone()).or_default();
        *count += 1;
        let id = if *count == 1 {
            id
        } else {
            format!("{id} #{count}")
        };
        self.results.insert(id, status);
    }

    pub fn count(&self, status: TestStatus) -> usize {
        self.results.values().filter(|s| **s == status).count()
    }
}

/// A report that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("{format} report: {problem}")]
pub struct ReportError {
    pub format: &'static str,
    pub problem: String,
}

// ---------------------------------------------------------------- JUnit XML

/// Reads a JUnit XML report: `<testsuites>` or a single `<testsuite>`,
/// nested suites, `<testcase>` with `<failure>`, `<error>` or `<skipped>`
/// (skipped wins over a failure: node reports a failing to-do test with
/// both). A test's id is the names of the suites around it, then
/// `classname::name` (or the name alone), joined by ` > `: pytest's
/// `pytest > tests.test_orders::test_total`, node's `suite > test::nested`.
pub fn parse_junit(xml: &str) -> Result<TestReport, ReportError> {
    let err = |problem: String| ReportError {
        format: "JUnit XML",
        problem,
    };
    let mut report = TestReport {
        complete: true,
        ..TestReport::default()
    };
    let mut seen = HashMap::new();
    let mut suites: Vec<String> = Vec::new();
    let mut case: Option<(String, TestStatus)> = None;
    let mut any_root = false;
    for token in XmlTokens::new(xml) {
        match token.map_err(err)? {
            Tag::Start { name, attrs, empty } => match name.as_str() {
                "testsuites" => any_root = true,
                "testsuite" => {
                    any_root = true;
                    if !empty {
                        suites.push(attr(&attrs, "name"));
                    }
                }
                "testcase" => {
                    let class = attr(&attrs, "classname");
                    let test = attr(&attrs, "name");
                    let mut parts: Vec<&str> = suites
                        .iter()
                        .map(String::as_str)
                        .filter(|s| !s.is_empty())
                        .collect();
                    let leaf = if class.is_empty() {
                        test
                    } else {
                        format!("{class}::{test}")
                    };
                    parts.push(&leaf);
                    let id = parts.join(" > ");
                    if empty {
                        report.push(&mut seen, id, TestStatus::Passed);
                    } else {
                        case = Some((id, TestStatus::Passed));
                    }
                }
                "failure" | "error" | "skipped" => {
                    if let Some((_, status)) = case.as_mut() {
                        let new = match name.as_str() {
                            "skipped" => TestStatus::Skipped,
                            "error" => TestStatus::Error,
                            _ => TestStatus::Failed,
                        };
                        *status = worst(*status, new);
                    }
                }
                _ => {}
            },
            Tag::End { name } => match name.as_str() {
                "testsuite" => {
                    suites.pop();
                }
                "testcase" => {
                    if let Some((id, status)) = case.take() {
                        report.push(&mut seen, id, status);
                    }
                }
                _ => {}
            },
        }
    }
    if !any_root {
        return Err(err("no <testsuites> or <testsuite> element".into()));
    }
    if case.is_some() {
        return Err(err("the report ends inside a <testcase>".into()));
    }
    Ok(report)
}

/// Combines what a test case's children say: skipped, then error, then
/// failure, then passed.
fn worst(a: TestStatus, b: TestStatus) -> TestStatus {
    let rank = |s| match s {
        TestStatus::Skipped => 3,
        TestStatus::Error => 2,
        TestStatus::Failed => 1,
        TestStatus::Passed => 0,
    };
    if rank(b) > rank(a) { b } else { a }
}

fn attr(attrs: &[(String, String)], key: &str) -> String {
    attrs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

#[derive(Debug, PartialEq, Eq)]
enum Tag {
    Start {
        name: String,
        attrs: Vec<(String, String)>,
        empty: bool,
    },
    End {
        name: String,
    },
}

/// The element tags of an XML document, in order; text, comments, CDATA,
/// processing instructions and declarations are stepped over.
struct XmlTokens<'a> {
    rest: &'a str,
    failed: bool,
}

impl<'a> XmlTokens<'a> {
    fn new(xml: &'a str) -> Self {
        XmlTokens {
            rest: xml,
            failed: false,
        }
    }

    fn skip_past(&mut self, end: &str, what: &str) -> Result<(), String> {
        match self.rest.find(end) {
            Some(at) => {
                self.rest = self.rest.get(at + end.len()..).unwrap_or_default();
                Ok(())
            }
            None => Err(format!("unterminated {what}")),
        }
    }

    fn next_tag(&mut self) -> Option<Result<Tag, String>> {
        loop {
            let at = self.rest.find('<')?;
            self.rest = self.rest.get(at..).unwrap_or_default();
            let skipped = if self.rest.starts_with("<!--") {
                Some(self.skip_past("-->", "comment"))
            } else if self.rest.starts_with("<![CDATA[") {
                Some(self.skip_past("]]>", "CDATA section"))
            } else if self.rest.starts_with("<?") {
                Some(self.skip_past("?>", "processing instruction"))
            } else if self.rest.starts_with("<!") {
                Some(self.skip_past(">", "declaration"))
            } else {
                None
            };
            match skipped {
                Some(Ok(())) => continue,
                Some(Err(e)) => return Some(Err(e)),
                None => return Some(self.element()),
            }
        }
    }

    /// An element tag at the start of `rest` (which starts with `<`).
    fn element(&mut self) -> Result<Tag, String> {
        let s = self.rest;
        let at = |i: usize| s.get(i..).unwrap_or_default();
        let mut i = 1;
        let closing = at(i).starts_with('/');
        if closing {
            i += 1;
        }
        let name_len = at(i)
            .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
            .ok_or("unterminated tag")?;
        let name = at(i).get(..name_len).unwrap_or_default().to_string();
        if name.is_empty() {
            return Err("a tag without a name".into());
        }
        i += name_len;
        let mut attrs = Vec::new();
        let mut empty = false;
        loop {
            i += at(i).len() - at(i).trim_start().len();
            let rest = at(i);
            if rest.starts_with('>') {
                i += 1;
                break;
            }
            if rest.starts_with("/>") {
                empty = true;
                i += 2;
                break;
            }
            // key = "value" (or 'value')
            let key_len = rest
                .find(|c: char| c == '=' || c.is_whitespace() || c == '>' || c == '/')
                .filter(|&n| n > 0)
                .ok_or_else(|| format!("malformed attribute in <{name}>"))?;
            let key = rest.get(..key_len).unwrap_or_default().to_string();
            i += key_len;
            i += at(i).len() - at(i).trim_start().len();
            if !at(i).starts_with('=') {
                return Err(format!("attribute {key:?} of <{name}> without a value"));
            }
            i += 1;
            i += at(i).len() - at(i).trim_start().len();
            let quote = at(i)
                .chars()
                .next()
                .filter(|c| *c == '"' || *c == '\'')
                .ok_or_else(|| format!("attribute {key:?} of <{name}> is not quoted"))?;
            i += 1;
            let len = at(i)
                .find(quote)
                .ok_or_else(|| format!("unterminated attribute {key:?} in <{name}>"))?;
            let value = at(i).get(..len).unwrap_or_default();
            attrs.push((key, decode_entities(value)));
            i += len + 1;
        }
        self.rest = at(i);
        Ok(if closing {
            Tag::End { name }
        } else {
            Tag::Start { name, attrs, empty }
        })
    }
}

impl Iterator for XmlTokens<'_> {
    type Item = Result<Tag, String>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let next = self.next_tag();
        if matches!(next, Some(Err(_))) {
            self.failed = true;
        }
        next
    }
}

/// `&amp;` `&lt;` `&gt;` `&quot;` `&apos;` `&#NN;` `&#xNN;`; anything else
/// is kept as written.
fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(rest.get(..at).unwrap_or_default());
        rest = rest.get(at..).unwrap_or_default();
        let Some(end) = rest.find(';').filter(|&e| e <= 12) else {
            out.push('&');
            rest = rest.get(1..).unwrap_or_default();
            continue;
        };
        let entity = rest.get(1..end).unwrap_or_default();
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .map(|hex| u32::from_str_radix(hex, 16))
                .or_else(|| entity.strip_prefix('#').map(str::parse::<u32>))
                .and_then(Result::ok)
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = rest.get(end + 1..).unwrap_or_default();
            }
            None => {
                out.push('&');
                rest = rest.get(1..).unwrap_or_default();
            }
        }
    }
    out.push_str(rest);
    out
}

// ------------------------------------------------------------ pytest -rA

/// Reads pytest's terminal output: the lines of its "short test summary
/// info" section (`PASSED id`, `FAILED id - message`, `ERROR id`,
/// `SKIPPED [n] file:line: reason`, `XFAIL id`, `XPASS id`) and the closing
/// counts (`1 failed, 4 passed, 1 skipped in 0.13s`). The report is
/// complete when the listed tests add up to the counts, which takes `-rA`
/// (without it pytest lists failures only). A collection error shows as
/// `ERROR tests/test_x.py`, with the file as its id.
pub fn parse_pytest(output: &str) -> TestReport {
    let mut report = TestReport::default();
    let mut seen = HashMap::new();
    let mut in_summary = false;
    let mut expected: Option<usize> = None;
    let mut listed = 0usize;
    for line in output.lines() {
        let line = line.trim_end();
        if line.starts_with('=') && line.contains("short test summary info") {
            in_summary = true;
            continue;
        }
        if let Some(total) = pytest_counts(line) {
            expected = Some(total);
            in_summary = false;
            continue;
        }
        if !in_summary {
            continue;
        }
        let Some((word, rest)) = line.split_once(' ') else {
            continue;
        };
        let status = match word {
            "PASSED" | "XPASS" => TestStatus::Passed,
            "FAILED" => TestStatus::Failed,
            "ERROR" => TestStatus::Error,
            "SKIPPED" | "XFAIL" => TestStatus::Skipped,
            _ => continue,
        };
        let id = if word == "SKIPPED" {
            // `[3] tests/test_a.py:4: reason`: three tests skipped at one
            // place count three times.
            let (count, place) = rest
                .strip_prefix('[')
                .and_then(|r| r.split_once("] "))
                .map_or((1, rest), |(n, place)| (n.parse().unwrap_or(1), place));
            let place = place.rsplit_once(": ").map_or(place, |(p, _)| p);
            for _ in 1..count {
                report.push(&mut seen, place.to_string(), status);
                listed += 1;
            }
            place.to_string()
        } else {
            node_id(rest).to_string()
        };
        report.push(&mut seen, id, status);
        listed += 1;
    }
    report.complete = expected == Some(listed);
    report
}

/// The node id at the start of a summary line: up to ` - ` outside
/// brackets (parameter ids may hold anything).
fn node_id(rest: &str) -> &str {
    let mut depth = 0i32;
    for (at, c) in rest.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ' ' if depth <= 0 && rest.get(at..).is_some_and(|r| r.starts_with(" - ")) => {
                return rest.get(..at).unwrap_or(rest);
            }
            _ => {}
        }
    }
    rest
}

/// The number of tests in pytest's closing line (`==== 1 failed, 4 passed
/// in 0.13s ====` or, with `-q`, the same without the rules), counting
/// passed, failed, errors, skipped, xfailed and xpassed (not warnings or
/// deselected).
fn pytest_counts(line: &str) -> Option<usize> {
    let text = line.trim_matches(|c: char| c == '=' || c.is_whitespace());
    let (counts, time) = text.rsplit_once(" in ")?;
    if !time.ends_with('s') || !time.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let mut total = 0usize;
    for part in counts.split(", ") {
        let (n, what) = part.split_once(' ')?;
        let n: usize = n.parse().ok()?;
        match what {
            "passed" | "failed" | "error" | "errors" | "skipped" | "xfailed" | "xpassed" => {
                total += n;
            }
            "warning" | "warnings" | "deselected" | "rerun" => {}
            _ => return None,
        }
    }
    Some(total)
}

// -------------------------------------------------------------------- TAP

/// Reads TAP (13 or 14, as node's test runner prints it): `ok N - name`,
/// `not ok N - name`, `# SKIP` and `# TODO` directives (a to-do test that
/// fails is not a failure), subtests indented by four spaces and announced
/// by `# Subtest: name` (their ids are `parent > child`), YAML blocks
/// skipped. The report is complete when the top-level plan (`1..N`) was
/// printed and no `Bail out!` was.
pub fn parse_tap(output: &str) -> TestReport {
    let mut report = TestReport::default();
    let mut seen = HashMap::new();
    let mut subtests: Vec<String> = Vec::new();
    let mut yaml_indent: Option<usize> = None;
    let mut planned = false;
    let mut bailed = false;
    for line in output.lines() {
        let indent = line.len() - line.trim_start().len();
        let text = line.trim();
        if let Some(block) = yaml_indent {
            if text == "..." && indent == block {
                yaml_indent = None;
            }
            continue;
        }
        if text == "---" {
            yaml_indent = Some(indent);
            continue;
        }
        let depth = indent / 4;
        if let Some(name) = text.strip_prefix("# Subtest: ") {
            subtests.truncate(depth);
            subtests.push(unescape_tap(name));
            continue;
        }
        if text.starts_with("Bail out!") {
            bailed = true;
            continue;
        }
        if depth == 0 && text.starts_with("1..") {
            planned = true;
            continue;
        }
        let (passed, rest) = if let Some(rest) = text.strip_prefix("not ok") {
            (false, rest)
        } else if let Some(rest) = text.strip_prefix("ok") {
            (true, rest)
        } else {
            continue;
        };
        if !(rest.is_empty() || rest.starts_with(' ')) {
            continue; // "okay", "ok_thing": not a test line
        }
        let rest = rest.trim_start();
        let number_len = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let number = rest.get(..number_len).unwrap_or_default();
        let rest = rest.get(number_len..).unwrap_or_default().trim_start();
        let rest = rest.strip_prefix("- ").unwrap_or(rest);
        let (name, directive) = split_directive(rest);
        let status = match (passed, directive) {
            (_, Some(_)) => TestStatus::Skipped,
            (true, None) => TestStatus::Passed,
            (false, None) => TestStatus::Failed,
        };
        let mut parts: Vec<&str> = subtests.iter().take(depth).map(String::as_str).collect();
        let name = match unescape_tap(name.trim()) {
            // Plain TAP may name no test: its number stands in.
            empty if empty.is_empty() => format!("test {number}"),
            name => name,
        };
        parts.push(&name);
        report.push(&mut seen, parts.join(" > "), status);
        subtests.truncate(depth);
    }
    report.complete = planned && !bailed;
    report
}

/// Splits `name # SKIP reason` at an unescaped `#` followed by SKIP or
/// TODO (any case).
fn split_directive(text: &str) -> (&str, Option<&str>) {
    let bytes = text.as_bytes();
    for (at, _) in text.match_indices('#') {
        if at > 0 && bytes.get(at - 1) == Some(&b'\\') {
            continue;
        }
        let after = text.get(at + 1..).unwrap_or_default().trim_start();
        let word: String = after
            .chars()
            .take(4)
            .collect::<String>()
            .to_ascii_uppercase();
        if word == "SKIP" || word == "TODO" {
            return (text.get(..at).unwrap_or(text).trim_end(), Some(after));
        }
    }
    (text, None)
}

fn unescape_tap(text: &str) -> String {
    text.replace("\\#", "#").replace("\\\\", "\\")
}

#[cfg(test)]
#[path = "reports_tests.rs"]
mod tests;

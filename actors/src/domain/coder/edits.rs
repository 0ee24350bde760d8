//! SEARCH/REPLACE edit blocks in a model's plain-text reply, in Aider's
//! format (the protocol external tools and tests rely on):
//!
//! ````text
//! shop/orders.py
//! ```python
//! <<<<<<< SEARCH
//!     code = order["discount_code"]
//! =======
//!     code = order.get("discount_code")
//! >>>>>>> REPLACE
//! ```
//! ````
//!
//! The path is alone on its line, before the block; the SEARCH part holds
//! the file's current lines exactly, the REPLACE part the new ones. Code
//! never travels inside JSON: escaping is where models make mistakes.
//!
//! What is tolerated, as Aider does (models trained on its prompts write
//! it): a code fence (```` ```lang ````) between the path and the SEARCH
//! marker or before the path, a path written as `` `app.py` ``, `**app.py**`,
//! `# app.py` or `app.py:`, a fence line carrying the path (```` ```app.py ````),
//! 5 to 9 marker characters instead of 7, trailing spaces after a marker,
//! and a block with no path of its own when the block before it had one (the
//! same file again). An empty SEARCH creates the file when it does not exist
//! (and appends to it when it does, as Aider does).
//!
//! What is refused with an error naming the block (number, path, reply line
//! and what is wrong), where Aider would guess: a missing path, a path
//! [`RelPath`] refuses, a missing `=======` or `>>>>>>> REPLACE`, a second
//! `=======` in one block, a SEARCH marker inside a block, and a REPLACE
//! marker with no block open. A `=======` line outside a block is prose
//! (a Markdown underline) and ignored.
//!
//! Aider's `...` elision inside SEARCH is not supported: a SEARCH holding
//! `...` simply does not match, and the model is told so.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::path::{PathError, RelPath};

/// One edit: replace the `search` lines of `path` by the `replace` lines.
/// Lines are stored without their line terminators (a reply written with
/// CRLF gives the same block as one written with LF).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EditBlock {
    /// 1-based number of the block in its reply, for error messages.
    pub index: usize,
    pub path: RelPath,
    pub search: Vec<String>,
    pub replace: Vec<String>,
    /// 1-based line of the reply holding the block's SEARCH marker.
    pub line: usize,
}

impl EditBlock {
    /// Whether the block creates a file (or appends to one): a SEARCH part
    /// with nothing but blank lines.
    pub fn is_create(&self) -> bool {
        self.search.iter().all(|l| l.trim().is_empty())
    }

    /// The block in the canonical format, as a model should write it
    /// (path, SEARCH, `=======`, REPLACE, each line ending in `\n`).
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str(self.path.as_str());
        out.push('\n');
        out.push_str(SEARCH_MARK);
        out.push('\n');
        for line in &self.search {
            out.push_str(line);
            out.push('\n');
        }
        out.push_str(DIVIDER_MARK);
        out.push('\n');
        for line in &self.replace {
            out.push_str(line);
            out.push('\n');
        }
        out.push_str(REPLACE_MARK);
        out.push('\n');
        out
    }
}

/// The canonical markers.
pub const SEARCH_MARK: &str = "<<<<<<< SEARCH";
pub const DIVIDER_MARK: &str = "=======";
pub const REPLACE_MARK: &str = ">>>>>>> REPLACE";

/// How many lines above a SEARCH marker the path may be: itself, plus one
/// fence line on each side of it (Aider's window).
const PATH_LOOKBACK: usize = 3;

/// A malformed block: which one, where, and what is wrong. Its `Display` is
/// written for the model, which gets it back verbatim.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("edit block {index}{} (reply line {line}): {problem}", path_note(.path))]
pub struct EditParseError {
    /// 1-based number of the block in the reply.
    pub index: usize,
    /// The block's path, when one was found.
    pub path: Option<String>,
    /// 1-based line of the reply where the problem was seen.
    pub line: usize,
    pub problem: ParseProblem,
}

fn path_note(path: &Option<String>) -> String {
    path.as_ref()
        .map(|p| format!(" for `{p}`"))
        .unwrap_or_default()
}

/// What is wrong with a block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ParseProblem {
    #[error(
        "no file path: put the path alone on the line before `{SEARCH_MARK}` (or before its code fence)"
    )]
    MissingPath,
    #[error("bad path `{path}`: {reason}")]
    BadPath { path: String, reason: String },
    #[error("`{DIVIDER_MARK}` expected before {found}")]
    MissingDivider { found: String },
    #[error("`{REPLACE_MARK}` expected before {found}")]
    MissingReplace { found: String },
    #[error(
        "a second `{DIVIDER_MARK}` in one block: each block has one SEARCH part and one REPLACE part"
    )]
    SecondDivider,
    #[error("`{REPLACE_MARK}` without a `{SEARCH_MARK}` opening its block")]
    StrayReplace,
}

/// The kinds of marker line. Matched on the trimmed line, like Aider:
/// `<{5,9} SEARCH>?`, `={5,9}`, `>{5,9} REPLACE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marker {
    Search,
    Divider,
    Replace,
}

fn marker(line: &str) -> Option<Marker> {
    let line = line.trim();
    let run = |c: char| line.chars().take_while(|&x| x == c).count();
    let (lt, eq, gt) = (run('<'), run('='), run('>'));
    let in_range = |n: usize| (5..=9).contains(&n);
    if in_range(lt) {
        let rest = line.get(lt..)?;
        let rest = rest.strip_prefix(' ')?;
        if rest == "SEARCH" || rest == "SEARCH>" {
            return Some(Marker::Search);
        }
    } else if in_range(eq) && eq == line.len() {
        return Some(Marker::Divider);
    } else if in_range(gt) && line.get(gt..) == Some(" REPLACE") {
        return Some(Marker::Replace);
    }
    None
}

/// Whether a line opens or closes a code fence.
fn is_fence(line: &str) -> bool {
    line.trim_start().starts_with("```")
}

/// The path a line above a SEARCH marker names, if any. A fence line names
/// one only when its info string looks like a path (has a `.` or `/`), as
/// in ```` ```src/app.py ````; ```` ```python ```` names none.
fn path_candidate(line: &str) -> Option<String> {
    let trimmed = line.trim();
    if let Some(info) = trimmed.strip_prefix("```") {
        let info = info.trim_start_matches('`').trim();
        return (!info.is_empty() && (info.contains('.') || info.contains('/')))
            .then(|| info.to_string());
    }
    let name = trimmed
        .trim_end_matches(':')
        .trim_start_matches('#')
        .trim()
        .trim_matches(|c| c == '`' || c == '*')
        .trim();
    (!name.is_empty() && name != "...").then(|| name.to_string())
}

/// Looks back from the SEARCH marker at `at` for the path: the nearest
/// non-fence line names it; fence lines are stepped over (and may name it
/// themselves), anything else stops the search.
fn find_path(lines: &[&str], at: usize) -> Option<String> {
    let start = at.saturating_sub(PATH_LOOKBACK);
    for line in lines.get(start..at).unwrap_or_default().iter().rev() {
        if let Some(candidate) = path_candidate(line) {
            return Some(candidate);
        }
        if !is_fence(line) {
            // A blank line: no path right above the block.
            return None;
        }
    }
    None
}

/// Every edit block in a reply, in order. Text between blocks (prose, code
/// fences, shell commands) is ignored. `Ok(vec![])` means the reply has no
/// edits: the model is answering or giving up, not proposing a fix.
pub fn parse_edits(reply: &str) -> Result<Vec<EditBlock>, EditParseError> {
    let lines: Vec<&str> = reply
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let mut blocks = Vec::new();
    let mut previous_path: Option<RelPath> = None;
    let mut i = 0;
    while let Some(&line) = lines.get(i) {
        match marker(line) {
            Some(Marker::Search) => {
                let index = blocks.len() + 1;
                let error = |path: Option<&str>, at: usize, problem| EditParseError {
                    index,
                    path: path.map(str::to_string),
                    line: at + 1,
                    problem,
                };
                let path = match find_path(&lines, i) {
                    Some(text) => RelPath::parse(&text).map_err(|e: PathError| {
                        error(
                            Some(&text),
                            i,
                            ParseProblem::BadPath {
                                path: text.clone(),
                                reason: e.to_string(),
                            },
                        )
                    })?,
                    None => previous_path
                        .clone()
                        .ok_or_else(|| error(None, i, ParseProblem::MissingPath))?,
                };
                let name = Some(path.as_str());
                let open = i;
                let (search, divider) = read_part(&lines, i + 1, Marker::Divider)
                    .map_err(|(at, problem)| error(name, at, problem))?;
                let (replace, close) = read_part(&lines, divider + 1, Marker::Replace)
                    .map_err(|(at, problem)| error(name, at, problem))?;
                i = close;
                previous_path = Some(path.clone());
                blocks.push(EditBlock {
                    index,
                    path,
                    search,
                    replace,
                    line: open + 1,
                });
            }
            Some(Marker::Replace) => {
                return Err(EditParseError {
                    index: blocks.len() + 1,
                    path: None,
                    line: i + 1,
                    problem: ParseProblem::StrayReplace,
                });
            }
            Some(Marker::Divider) | None => {}
        }
        i += 1;
    }
    Ok(blocks)
}

/// The lines of a block's part from `from` up to the marker `end` that
/// closes it, and that marker's index; or where and why the part is
/// malformed.
fn read_part(
    lines: &[&str],
    from: usize,
    end: Marker,
) -> Result<(Vec<String>, usize), (usize, ParseProblem)> {
    let missing = |found: String| match end {
        Marker::Divider => ParseProblem::MissingDivider { found },
        _ => ParseProblem::MissingReplace { found },
    };
    let mut part = Vec::new();
    for (i, line) in lines.iter().enumerate().skip(from) {
        match marker(line) {
            None => part.push(line.to_string()),
            Some(m) if m == end => return Ok((part, i)),
            Some(Marker::Divider) => return Err((i, ParseProblem::SecondDivider)),
            Some(Marker::Search) => return Err((i, missing(format!("another `{SEARCH_MARK}`")))),
            Some(Marker::Replace) => return Err((i, missing(format!("`{REPLACE_MARK}`")))),
        }
    }
    Err((
        lines.len().saturating_sub(1),
        missing("the end of the reply".into()),
    ))
}

/// Renders blocks as one reply, each in its canonical form, separated by a
/// blank line: what [`parse_edits`] reads back unchanged.
pub fn render_edits(blocks: &[EditBlock]) -> String {
    let mut out = String::new();
    for (n, block) in blocks.iter().enumerate() {
        if n > 0 {
            out.push('\n');
        }
        out.push_str(&block.render());
    }
    out
}

impl fmt::Display for EditBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn lines(text: &[&str]) -> Vec<String> {
        text.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn reads_a_plain_block() {
        let reply = "I will fix it.\n\nshop/orders.py\n<<<<<<< SEARCH\n    code = order[\"discount_code\"]\n=======\n    code = order.get(\"discount_code\")\n>>>>>>> REPLACE\n\nDone.";
        let blocks = parse_edits(reply).unwrap();
        assert_eq!(blocks.len(), 1);
        let block = &blocks[0];
        assert_eq!(block.index, 1);
        assert_eq!(block.path.as_str(), "shop/orders.py");
        assert_eq!(
            block.search,
            lines(&["    code = order[\"discount_code\"]"])
        );
        assert_eq!(
            block.replace,
            lines(&["    code = order.get(\"discount_code\")"])
        );
        assert_eq!(block.line, 4);
        assert!(!block.is_create());
    }

    #[test]
    fn tolerates_fences_around_and_between() {
        // Fence between the path and SEARCH (Aider's own prompt).
        let a = "app.py\n```python\n<<<<<<< SEARCH\nx = 1\n=======\nx = 2\n>>>>>>> REPLACE\n```\n";
        // Fence before the path.
        let b = "```python\napp.py\n<<<<<<< SEARCH\nx = 1\n=======\nx = 2\n>>>>>>> REPLACE\n```\n";
        // The path fenced on its own, then a fenced block (Deepseek's habit).
        let c = "```\napp.py\n```\n```python\n<<<<<<< SEARCH\nx = 1\n=======\nx = 2\n>>>>>>> REPLACE\n```\n";
        // The path as the fence's info string.
        let d = "```app.py\n<<<<<<< SEARCH\nx = 1\n=======\nx = 2\n>>>>>>> REPLACE\n```\n";
        // Decorated path, CRLF reply, long markers.
        let e = "**`app.py`**:\r\n<<<<<<<<< SEARCH\r\nx = 1\r\n=========\r\nx = 2\r\n>>>>>>>>> REPLACE  \r\n";
        for reply in [a, b, c, d, e] {
            let blocks = parse_edits(reply).unwrap_or_else(|e| panic!("{reply:?}: {e}"));
            assert_eq!(blocks.len(), 1, "{reply:?}");
            assert_eq!(blocks[0].path.as_str(), "app.py", "{reply:?}");
            assert_eq!(blocks[0].search, lines(&["x = 1"]), "{reply:?}");
            assert_eq!(blocks[0].replace, lines(&["x = 2"]), "{reply:?}");
        }
    }

    #[test]
    fn several_blocks_and_an_inherited_path() {
        let reply = "a.py\n<<<<<<< SEARCH\none\n=======\n1\n>>>>>>> REPLACE\n\n<<<<<<< SEARCH\ntwo\n=======\n2\n>>>>>>> REPLACE\n\nb/new.py\n<<<<<<< SEARCH\n=======\nfresh\n>>>>>>> REPLACE\n";
        let blocks = parse_edits(reply).unwrap();
        let summary: Vec<(usize, &str, bool)> = blocks
            .iter()
            .map(|b| (b.index, b.path.as_str(), b.is_create()))
            .collect();
        assert_eq!(
            summary,
            vec![
                (1, "a.py", false),
                (2, "a.py", false),
                (3, "b/new.py", true)
            ]
        );
        assert_eq!(blocks[2].search, Vec::<String>::new());
        assert_eq!(blocks[2].replace, lines(&["fresh"]));
    }

    #[test]
    fn no_blocks_is_no_edits() {
        assert_eq!(
            parse_edits("I give up: the bug is in a dependency.").unwrap(),
            vec![]
        );
        assert_eq!(parse_edits("").unwrap(), vec![]);
        // A Markdown underline is prose, not a stray divider.
        assert_eq!(parse_edits("Title\n=======\ntext").unwrap(), vec![]);
    }

    #[test]
    fn content_that_looks_like_markers_but_is_not() {
        // Git conflict markers with a branch name are content.
        let reply =
            "f.txt\n<<<<<<< SEARCH\n<<<<<<< HEAD\n=======\n>>>>>>> feature\n>>>>>>> REPLACE\n";
        let blocks = parse_edits(reply).unwrap();
        assert_eq!(blocks[0].search, lines(&["<<<<<<< HEAD"]));
        assert_eq!(blocks[0].replace, lines(&[">>>>>>> feature"]));
    }

    fn problem(reply: &str) -> EditParseError {
        parse_edits(reply).expect_err(reply)
    }

    #[test]
    fn errors_name_the_block_the_path_and_the_line() {
        let missing_path = problem("Fix:\n\n<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE\n");
        assert_eq!(missing_path.problem, ParseProblem::MissingPath);
        assert_eq!((missing_path.index, missing_path.line), (1, 3));

        let second = problem(
            "a.py\n<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE\nb.py\n<<<<<<< SEARCH\nc\nd\n>>>>>>> REPLACE\n",
        );
        assert_eq!(second.index, 2);
        assert_eq!(second.path.as_deref(), Some("b.py"));
        assert_eq!(second.line, 11);
        assert!(matches!(
            second.problem,
            ParseProblem::MissingDivider { .. }
        ));
        assert_eq!(
            second.to_string(),
            "edit block 2 for `b.py` (reply line 11): `=======` expected before `>>>>>>> REPLACE`"
        );

        let unterminated = problem("a.py\n<<<<<<< SEARCH\na\n=======\nb\n");
        assert_eq!(
            unterminated.problem,
            ParseProblem::MissingReplace {
                found: "the end of the reply".into()
            }
        );

        let nested = problem(
            "a.py\n<<<<<<< SEARCH\na\n=======\nb\na.py\n<<<<<<< SEARCH\nc\n=======\nd\n>>>>>>> REPLACE\n",
        );
        assert_eq!((nested.index, nested.line), (1, 7));
        assert!(matches!(
            nested.problem,
            ParseProblem::MissingReplace { .. }
        ));

        let twice = problem("a.py\n<<<<<<< SEARCH\na\n=======\nb\n=======\nc\n>>>>>>> REPLACE\n");
        assert_eq!(twice.problem, ParseProblem::SecondDivider);
        assert_eq!(twice.line, 6);

        let stray = problem("text\n>>>>>>> REPLACE\n");
        assert_eq!((stray.problem, stray.line), (ParseProblem::StrayReplace, 2));
    }

    #[test]
    fn refuses_paths_that_escape() {
        for (path, reason) in [
            ("../etc/passwd", "leaves the repository"),
            ("/etc/passwd", "absolute"),
            (".git/hooks/post-checkout", "`.git`"),
            ("Here is the fix for app.py", "whitespace"),
        ] {
            let reply = format!("{path}\n<<<<<<< SEARCH\n=======\nx\n>>>>>>> REPLACE\n");
            let error = problem(&reply);
            match &error.problem {
                ParseProblem::BadPath { path: p, reason: r } => {
                    assert_eq!(p, path);
                    assert!(r.contains(reason), "{r}");
                }
                other => panic!("{path}: {other:?}"),
            }
        }
    }

    #[test]
    fn render_reads_back() {
        let blocks = vec![
            EditBlock {
                index: 1,
                path: RelPath::parse("src/a.rs").unwrap(),
                search: lines(&["fn a() {", "", "}"]),
                replace: lines(&["fn a() -> u8 {", "    1", "}"]),
                line: 2,
            },
            EditBlock {
                index: 2,
                path: RelPath::parse("new.md").unwrap(),
                search: vec![],
                replace: lines(&["# New", "", "======", ""]),
                line: 13,
            },
        ];
        // "======" (6) is a divider: a rendered block holding one cannot be
        // read back, so the parser must say so rather than misread it.
        assert!(parse_edits(&render_edits(&blocks)).is_err());
        let mut blocks = blocks;
        blocks[1].replace = lines(&["# New", "", "-----", ""]);
        assert_eq!(parse_edits(&render_edits(&blocks)).unwrap(), blocks);
    }

    fn content_line() -> impl Strategy<Value = String> {
        "[ -~\t]{0,24}".prop_filter("not a marker", |l| marker(l).is_none())
    }

    fn block_parts() -> impl Strategy<Value = (String, Vec<String>, Vec<String>)> {
        (
            "[a-z_]{1,8}(/[a-z_]{1,8}){0,2}\\.[a-z]{1,3}",
            prop::collection::vec(content_line(), 0..6),
            prop::collection::vec(content_line(), 0..6),
        )
    }

    proptest! {
        /// Any blocks whose lines are not markers read back as rendered,
        /// numbered, with the reply line of each SEARCH marker.
        #[test]
        fn parse_reads_back_render(parts in prop::collection::vec(block_parts(), 1..5)) {
            let mut blocks = Vec::new();
            let mut line = 2;
            for (n, (path, search, replace)) in parts.into_iter().enumerate() {
                let size = 4 + search.len() + replace.len();
                blocks.push(EditBlock {
                    index: n + 1,
                    path: RelPath::parse(&path).unwrap(),
                    search,
                    replace,
                    line,
                });
                line += size + 1;
            }
            prop_assert_eq!(parse_edits(&render_edits(&blocks)).unwrap(), blocks);
        }
    }
}

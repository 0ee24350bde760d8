//! Applying parsed edit blocks to file contents, in memory: the actor reads
//! the files through a [`FileSource`] and writes back what
//! [`apply_edits`] returns, so every rule here is testable without a disk.
//!
//! # Matching
//!
//! Each block's SEARCH lines are looked for in the file as it stands after
//! the blocks before it (several blocks may edit one file in turn):
//!
//! 1. **Exact**: the same lines, whatever the line endings (a CRLF file
//!    matches a block written with LF, and keeps its CRLF).
//! 2. **Exact without a leading blank line**: models sometimes open SEARCH
//!    with a spurious blank line (Aider's issue #25).
//! 3. **Whitespace-tolerant**: the same lines once trailing whitespace is
//!    ignored and leading whitespace is taken as one uniform offset. The
//!    SEARCH and REPLACE lines are first outdented by what they all share,
//!    then the window whose lines are the SEARCH lines plus one same
//!    indentation prefix is found, and that prefix is put in front of every
//!    non-blank REPLACE line: a model that dropped the indentation of a
//!    method body still writes a correctly indented replacement (Aider's
//!    rule).
//!
//! A tier that matches more than once is an error (the block is ambiguous:
//! the model must add context lines), never "the first one". A tier that
//! matches nothing falls to the next; nothing matching at all is an error
//! that shows the model the most similar lines of the file.
//!
//! All or nothing: if any block fails, nothing is returned to write, and
//! the error lists every failing block. A model then resends a complete
//! reply rather than having to know which half of its edits landed.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::fmt;

use serde::{Deserialize, Serialize};
use similar::{Algorithm, capture_diff_slices, get_diff_ratio};

use super::edits::EditBlock;
use super::path::RelPath;

/// Where the applier reads current file contents from.
pub trait FileSource {
    /// The file's text, `Ok(None)` when it does not exist, `Err` with a
    /// reason when it exists but cannot be edited (not UTF-8, a directory,
    /// too large, unreadable).
    fn read(&self, path: &RelPath) -> Result<Option<String>, String>;
}

/// An in-memory tree, for tests and for callers that read files up front.
impl FileSource for BTreeMap<String, String> {
    fn read(&self, path: &RelPath) -> Result<Option<String>, String> {
        Ok(self.get(path.as_str()).cloned())
    }
}

/// How a block found its place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchKind {
    Exact,
    /// Exact once a spurious leading blank line of SEARCH was dropped.
    ExactSkippingBlankLine,
    WhitespaceTolerant,
    /// Empty SEARCH, new file.
    Created,
    /// Empty SEARCH, existing file: REPLACE appended.
    Appended,
}

/// One block that applied: for the transcript.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedBlock {
    pub index: usize,
    pub path: RelPath,
    pub how: MatchKind,
    /// 1-based line where the replaced lines started (the appended-to
    /// line for an append, 1 for a new file).
    pub at_line: usize,
}

/// A file's new content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewFile {
    pub content: String,
    /// Whether the file did not exist before.
    pub created: bool,
}

/// Every block applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    /// New contents of every file a block changed, by path. Files whose
    /// blocks cancelled out are included too (the actor writes them back
    /// unchanged; git sees no change).
    pub files: BTreeMap<RelPath, NewFile>,
    pub blocks: Vec<AppliedBlock>,
}

/// Some blocks failed: nothing is to be written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyFailure {
    /// Blocks in the reply.
    pub total: usize,
    pub failures: Vec<BlockError>,
}

/// Why one block did not apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockError {
    pub index: usize,
    pub path: RelPath,
    pub problem: ApplyProblem,
}

/// The lines of a file closest to a SEARCH part that matched nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hint {
    /// 1-based line of the first line shown.
    pub first_line: usize,
    pub lines: Vec<String>,
    /// Similarity of the shown window to SEARCH, in percent.
    pub similarity: u8,
}

/// What went wrong with one block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ApplyProblem {
    /// SEARCH is not empty and the file does not exist.
    NoSuchFile,
    /// The file exists but cannot be edited as text.
    Unreadable { reason: String },
    /// The SEARCH lines are nowhere in the file.
    NotFound {
        hint: Option<Hint>,
        /// The REPLACE lines are already in the file: probably a block
        /// sent twice.
        replace_present: bool,
    },
    /// The SEARCH lines are in the file more than once.
    Ambiguous {
        /// 1-based first lines of the matches (the first few).
        at_lines: Vec<usize>,
        how: MatchKind,
    },
}

/// How many match positions an ambiguity error lists.
const AMBIGUOUS_SHOWN: usize = 5;
/// Lines of context around the hint window.
const HINT_CONTEXT: usize = 2;
/// Below this similarity the closest lines are not worth showing (Aider's
/// threshold for its "did you mean").
const HINT_MIN_RATIO: f32 = 0.6;
/// Windows scored by Myers' similarity after the cheap word-overlap pass.
const HINT_CANDIDATES: usize = 3;
/// Characters of SEARCH and of a window compared for the hint: Myers' diff
/// is quadratic at worst, and the first 4,000 characters say enough.
const HINT_MAX_CHARS: usize = 4000;

/// One line of a file and its terminator, kept apart so a file's own line
/// endings (CRLF, LF, a missing final newline, even a mix) survive edits
/// to other lines untouched.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Line {
    text: String,
    eol: &'static str,
}

#[derive(Debug, Clone)]
struct Doc {
    lines: Vec<Line>,
    created: bool,
}

impl Doc {
    fn parse(content: &str) -> Doc {
        let lines = content
            .split_inclusive('\n')
            .map(|raw| {
                if let Some(text) = raw.strip_suffix("\r\n") {
                    Line {
                        text: text.to_string(),
                        eol: "\r\n",
                    }
                } else if let Some(text) = raw.strip_suffix('\n') {
                    Line {
                        text: text.to_string(),
                        eol: "\n",
                    }
                } else {
                    Line {
                        text: raw.to_string(),
                        eol: "",
                    }
                }
            })
            .collect();
        Doc {
            lines,
            created: false,
        }
    }

    /// The file's usual line ending: its first line's, else `\n`.
    fn eol(&self) -> &'static str {
        self.lines
            .iter()
            .map(|l| l.eol)
            .find(|e| !e.is_empty())
            .unwrap_or("\n")
    }

    fn render(&self) -> String {
        let mut out = String::new();
        for line in &self.lines {
            out.push_str(&line.text);
            out.push_str(line.eol);
        }
        out
    }

    /// Replaces `len` lines from `start` by `new`: inner lines take the
    /// first replaced line's ending, the last one the last replaced line's
    /// (so a file without a final newline still has none).
    fn splice(&mut self, start: usize, len: usize, new: Vec<String>) {
        let dominant = self.eol();
        let first_eol = self
            .lines
            .get(start)
            .map(|l| l.eol)
            .filter(|e| !e.is_empty())
            .unwrap_or(dominant);
        let last_eol = start
            .checked_add(len)
            .and_then(|end| end.checked_sub(1))
            .and_then(|last| self.lines.get(last))
            .map_or(first_eol, |l| l.eol);
        let count = new.len();
        let replacement = new.into_iter().enumerate().map(|(n, text)| Line {
            text,
            eol: if n + 1 == count { last_eol } else { first_eol },
        });
        let end = start.saturating_add(len).min(self.lines.len());
        self.lines.splice(start.min(end)..end, replacement);
    }

    fn append(&mut self, new: &[String]) {
        let eol = self.eol();
        if let Some(last) = self.lines.last_mut().filter(|l| l.eol.is_empty()) {
            last.eol = eol;
        }
        self.lines.extend(new.iter().map(|text| Line {
            text: text.clone(),
            eol,
        }));
    }
}

/// Applies every block in order, all or nothing.
pub fn apply_edits(
    source: &impl FileSource,
    blocks: &[EditBlock],
) -> Result<Applied, ApplyFailure> {
    let mut docs: BTreeMap<RelPath, Option<Doc>> = BTreeMap::new();
    let mut applied = Vec::new();
    let mut failures = Vec::new();
    for block in blocks {
        let fail = |problem| BlockError {
            index: block.index,
            path: block.path.clone(),
            problem,
        };
        let doc = match docs.entry(block.path.clone()) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => match source.read(&block.path) {
                Ok(content) => entry.insert(content.as_deref().map(Doc::parse)),
                Err(reason) => {
                    failures.push(fail(ApplyProblem::Unreadable { reason }));
                    continue;
                }
            },
        };
        match apply_one(doc, block) {
            Ok((how, at_line)) => applied.push(AppliedBlock {
                index: block.index,
                path: block.path.clone(),
                how,
                at_line,
            }),
            Err(problem) => failures.push(fail(problem)),
        }
    }
    if !failures.is_empty() {
        return Err(ApplyFailure {
            total: blocks.len(),
            failures,
        });
    }
    let touched: std::collections::BTreeSet<&RelPath> = applied.iter().map(|b| &b.path).collect();
    let files = docs
        .into_iter()
        .filter(|(path, _)| touched.contains(path))
        .filter_map(|(path, doc)| {
            doc.map(|doc| {
                let file = NewFile {
                    content: doc.render(),
                    created: doc.created,
                };
                (path, file)
            })
        })
        .collect();
    Ok(Applied {
        files,
        blocks: applied,
    })
}

fn apply_one(doc: &mut Option<Doc>, block: &EditBlock) -> Result<(MatchKind, usize), ApplyProblem> {
    if block.is_create() {
        return Ok(match doc {
            None => {
                let mut new = Doc {
                    lines: Vec::new(),
                    created: true,
                };
                new.append(&block.replace);
                *doc = Some(new);
                (MatchKind::Created, 1)
            }
            Some(existing) => {
                let at = existing.lines.len().max(1);
                existing.append(&block.replace);
                (MatchKind::Appended, at)
            }
        });
    }
    let Some(doc) = doc else {
        return Err(ApplyProblem::NoSuchFile);
    };
    let texts: Vec<&str> = doc.lines.iter().map(|l| l.text.as_str()).collect();
    let search: Vec<&str> = block.search.iter().map(String::as_str).collect();
    let replace: Vec<&str> = block.replace.iter().map(String::as_str).collect();

    let mut attempts = vec![(search.as_slice(), MatchKind::Exact)];
    if search.len() > 2 && search.first().is_some_and(|l| l.trim().is_empty()) {
        attempts.push((
            search.get(1..).unwrap_or_default(),
            MatchKind::ExactSkippingBlankLine,
        ));
    }
    for &(part, how) in &attempts {
        let found = exact_matches(&texts, part);
        match found.as_slice() {
            [] => {}
            [start] => {
                let start = *start;
                doc.splice(start, part.len(), block.replace.clone());
                return Ok((how, start + 1));
            }
            many => return Err(ambiguous(many, how)),
        }
    }
    for &(part, _) in &attempts {
        let (found, prefixes, outdented) = tolerant_matches(&texts, part, &replace);
        match (found.as_slice(), prefixes.first()) {
            ([], _) => {}
            ([start], Some(prefix)) => {
                let start = *start;
                let new = outdented
                    .iter()
                    .map(|r| {
                        if r.trim().is_empty() {
                            String::new()
                        } else {
                            format!("{prefix}{r}")
                        }
                    })
                    .collect();
                doc.splice(start, part.len(), new);
                return Ok((MatchKind::WhitespaceTolerant, start + 1));
            }
            (many, _) => return Err(ambiguous(many, MatchKind::WhitespaceTolerant)),
        }
    }
    let replace_present =
        replace.iter().any(|l| !l.trim().is_empty()) && !exact_matches(&texts, &replace).is_empty();
    Err(ApplyProblem::NotFound {
        hint: hint(&texts, &search),
        replace_present,
    })
}

fn ambiguous(starts: &[usize], how: MatchKind) -> ApplyProblem {
    ApplyProblem::Ambiguous {
        at_lines: starts.iter().take(AMBIGUOUS_SHOWN).map(|s| s + 1).collect(),
        how,
    }
}

/// Start indexes of every window of `file` equal to `part` (overlapping
/// windows count: `a a` is twice in `a a a`).
fn exact_matches(file: &[&str], part: &[&str]) -> Vec<usize> {
    if part.is_empty() || part.len() > file.len() {
        return Vec::new();
    }
    file.windows(part.len())
        .enumerate()
        .filter(|(_, window)| window == &part)
        .map(|(start, _)| start)
        .collect()
}

/// The leading whitespace every non-blank line of both parts shares.
fn shared_indent<'a>(lines: impl Iterator<Item = &'a str>) -> &'a str {
    let mut shared: Option<&str> = None;
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let indent = line
            .get(..line.len() - line.trim_start().len())
            .unwrap_or_default();
        shared = Some(match shared {
            None => indent,
            Some(current) => {
                let common = current
                    .char_indices()
                    .zip(indent.chars())
                    .find(|((_, a), b)| a != b)
                    .map_or(current.len().min(indent.len()), |((at, _), _)| at);
                current.get(..common).unwrap_or_default()
            }
        });
    }
    shared.unwrap_or("")
}

/// Whitespace-tolerant matches of `part` in `file`: their start indexes,
/// the indentation prefix each match adds, and the REPLACE lines outdented
/// by what SEARCH and REPLACE share.
fn tolerant_matches<'a>(
    file: &[&str],
    part: &[&'a str],
    replace: &[&'a str],
) -> (Vec<usize>, Vec<String>, Vec<&'a str>) {
    let shared = shared_indent(part.iter().chain(replace).copied());
    let outdent = |l: &&'a str| -> &'a str {
        if l.trim().is_empty() {
            ""
        } else {
            l.strip_prefix(shared).unwrap_or(l)
        }
    };
    let part: Vec<&str> = part.iter().map(|l| outdent(l).trim_end()).collect();
    let replace: Vec<&str> = replace.iter().map(outdent).collect();
    let mut starts = Vec::new();
    let mut prefixes = Vec::new();
    if part.is_empty() || part.len() > file.len() || part.iter().all(|l| l.is_empty()) {
        return (starts, prefixes, replace);
    }
    'windows: for (start, window) in file.windows(part.len()).enumerate() {
        let mut prefix: Option<&str> = None;
        for (have, want) in window.iter().zip(&part) {
            let have = have.trim_end();
            if want.is_empty() {
                if !have.is_empty() {
                    continue 'windows;
                }
                continue;
            }
            let Some(extra) = have.strip_suffix(want) else {
                continue 'windows;
            };
            if !extra.chars().all(char::is_whitespace) {
                continue 'windows;
            }
            match prefix {
                None => prefix = Some(extra),
                Some(p) if p == extra => {}
                Some(_) => continue 'windows,
            }
        }
        starts.push(start);
        prefixes.push(prefix.unwrap_or("").to_string());
    }
    (starts, prefixes, replace)
}

/// The lines of `file` most like `search`. Windows of SEARCH's length are
/// first ranked by how many of their words appear in SEARCH, a linear pass
/// however large the file; the best few are then compared with SEARCH
/// character by character (Myers' diff, on trimmed lines), and the best one
/// above [`HINT_MIN_RATIO`] is shown with [`HINT_CONTEXT`] lines around it.
fn hint(file: &[&str], search: &[&str]) -> Option<Hint> {
    let wanted: std::collections::HashSet<&str> = search.iter().flat_map(|l| words(l)).collect();
    if wanted.is_empty() || file.is_empty() {
        return None;
    }
    let width = search.len().clamp(1, file.len());
    let hits: Vec<usize> = file
        .iter()
        .map(|l| words(l).filter(|w| wanted.contains(w)).count())
        .collect();
    let mut score: usize = hits.iter().take(width).sum();
    let mut scored = vec![(score, 0usize)];
    for start in 1..=file.len() - width {
        score = score + hits.get(start + width - 1).copied().unwrap_or(0)
            - hits.get(start - 1).copied().unwrap_or(0);
        scored.push((score, start));
    }
    // Best score first, earliest first among equals.
    scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let wanted_text = trimmed_chars(search);
    let (ratio, start) = scored
        .iter()
        .filter(|(score, _)| *score > 0)
        .take(HINT_CANDIDATES)
        .map(|&(_, start)| {
            let window = trimmed_chars(file.get(start..start + width).unwrap_or_default());
            let ops = capture_diff_slices(Algorithm::Myers, &wanted_text, &window);
            (get_diff_ratio(&ops, wanted_text.len(), window.len()), start)
        })
        .fold(
            None,
            |best: Option<(f32, usize)>, (ratio, start)| match best {
                Some((r, _)) if r >= ratio => best,
                _ => Some((ratio, start)),
            },
        )?;
    if ratio < HINT_MIN_RATIO {
        return None;
    }
    let from = start.saturating_sub(HINT_CONTEXT);
    let to = (start + width + HINT_CONTEXT).min(file.len());
    Some(Hint {
        first_line: from + 1,
        lines: file
            .get(from..to)
            .unwrap_or_default()
            .iter()
            .map(|l| l.to_string())
            .collect(),
        // In [0.6, 1]: the cast cannot truncate.
        similarity: (ratio * 100.0).round() as u8,
    })
}

/// The identifiers and numbers of a line.
fn words(line: &str) -> impl Iterator<Item = &str> {
    line.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
}

/// Lines trimmed and joined by `\n`, as characters, capped at
/// [`HINT_MAX_CHARS`] so one huge SEARCH cannot make the diff slow.
fn trimmed_chars(lines: &[&str]) -> Vec<char> {
    let mut out = Vec::new();
    for line in lines {
        if !out.is_empty() {
            out.push('\n');
        }
        out.extend(line.trim().chars());
        if out.len() >= HINT_MAX_CHARS {
            out.truncate(HINT_MAX_CHARS);
            break;
        }
    }
    out
}

impl fmt::Display for BlockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "edit block {} for `{}`: ", self.index, self.path)?;
        match &self.problem {
            ApplyProblem::NoSuchFile => write!(
                f,
                "the file does not exist. To create it, leave the SEARCH part empty; to edit \
                 another file, check the path."
            ),
            ApplyProblem::Unreadable { reason } => write!(f, "the file cannot be edited: {reason}"),
            ApplyProblem::Ambiguous { at_lines, how } => {
                let lines: Vec<String> = at_lines.iter().map(usize::to_string).collect();
                let tolerant = if *how == MatchKind::WhitespaceTolerant {
                    " (ignoring indentation)"
                } else {
                    ""
                };
                write!(
                    f,
                    "the SEARCH lines match more than one place{tolerant}, at lines {}. Add \
                     surrounding lines to SEARCH so that it matches exactly one place.",
                    lines.join(", ")
                )
            }
            ApplyProblem::NotFound {
                hint,
                replace_present,
            } => {
                write!(
                    f,
                    "the SEARCH lines are not in the file. SEARCH must repeat the current lines \
                     exactly, including comments and blank lines, without `...`."
                )?;
                if let Some(hint) = hint {
                    write!(
                        f,
                        "\nThe most similar lines (from line {}):\n```\n{}\n```",
                        hint.first_line,
                        hint.lines.join("\n")
                    )?;
                }
                if *replace_present {
                    write!(
                        f,
                        "\nThe REPLACE lines are already in the file: was this block applied \
                         already?"
                    )?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Display for ApplyFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let failed = self.failures.len();
        write!(
            f,
            "{failed} of {} edit block{} could not be applied, so none were: fix {} and send all \
             the blocks again.",
            self.total,
            if self.total == 1 { "" } else { "s" },
            if failed == 1 { "it" } else { "them" }
        )?;
        for error in &self.failures {
            write!(f, "\n\n{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApplyFailure {}

#[cfg(test)]
#[path = "apply_tests.rs"]
mod tests;

//! Reading git's diff output: the file list (`--raw --numstat -z`), the hunk
//! headers of a `-U0` patch (streamed, nothing kept but the headers), and the
//! `-U3` patch shown to the LLM (streamed, the most relevant part kept), cut
//! to a budget.

use super::Flow;
use super::classify::is_lockfile;
use super::{ChangeStatus, ChangedFile, FileClass, Hunk, classify};

/// Parses `git diff --raw --numstat -z`: first one raw entry per file
/// (`:mode mode id id STATUS\0path\0`, two paths for renames and copies),
/// then one numstat entry per file in the same order (`added\tremoved\tpath\0`,
/// or `added\tremoved\t\0old\0new\0`; `-\t-` for binary files).
pub(crate) fn parse_raw_numstat(bytes: &[u8]) -> Result<Vec<ChangedFile>, String> {
    let mut tokens = bytes.split(|&b| b == 0).peekable();
    let mut files = Vec::new();
    while let Some(header) = tokens.next_if(|t| t.first() == Some(&b':')) {
        let header = String::from_utf8_lossy(header);
        let letter = header
            .rsplit(' ')
            .next()
            .and_then(|status| status.chars().next())
            .ok_or_else(|| format!("raw entry without a status: {header:?}"))?;
        let first = tokens
            .next()
            .map(lossy)
            .ok_or_else(|| format!("raw entry {header:?} without a path"))?;
        let (path, old_path) = if matches!(letter, 'R' | 'C') {
            let second = tokens
                .next()
                .map(lossy)
                .ok_or_else(|| format!("rename {first:?} without a new path"))?;
            (second, Some(first))
        } else {
            (first, None)
        };
        let status = match letter {
            'A' | 'C' => ChangeStatus::Added,
            'D' => ChangeStatus::Deleted,
            'R' => ChangeStatus::Renamed,
            // M, T (type change), and anything newer git may print.
            _ => ChangeStatus::Modified,
        };
        files.push(ChangedFile {
            class: classify(&path),
            path,
            old_path,
            status,
            added: 0,
            removed: 0,
            binary: false,
            hunks: Vec::new(),
            changed_lines: Vec::new(),
        });
    }
    for (index, file) in files.iter_mut().enumerate() {
        let entry = tokens
            .next()
            .map(lossy)
            .ok_or_else(|| format!("{} raw entries, only {index} numstat entries", index + 1))?;
        let mut fields = entry.splitn(3, '\t');
        let (Some(added), Some(removed), Some(path)) =
            (fields.next(), fields.next(), fields.next())
        else {
            return Err(format!("numstat entry {entry:?} has not three fields"));
        };
        let path = if path.is_empty() {
            // A rename: old path, then new path.
            tokens.next();
            tokens
                .next()
                .map(lossy)
                .ok_or_else(|| format!("numstat rename {index} without paths"))?
        } else {
            path.to_string()
        };
        if path != file.path {
            return Err(format!(
                "numstat entry {index} is {path:?}, raw entry is {:?}",
                file.path
            ));
        }
        if added == "-" && removed == "-" {
            file.binary = true;
        } else {
            file.added = added
                .parse()
                .map_err(|_| format!("numstat count {added:?}"))?;
            file.removed = removed
                .parse()
                .map_err(|_| format!("numstat count {removed:?}"))?;
        }
    }
    if tokens.any(|t| !t.is_empty()) {
        return Err("numstat entries without raw entries".to_string());
    }
    Ok(files)
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Bytes of each line kept by [`HunkScanner`]: a hunk header's numbers fit
/// in 60; the rest of a line (possibly megabytes of minified code) is
/// skipped as it streams past.
const LINE_HEAD: usize = 128;

/// Collects the hunk headers of a `-U0` patch, one list per `diff --git`
/// section, while the patch streams past. Memory is the headers only.
///
/// Only two line shapes matter, and neither can be content: every content
/// line starts with `+`, `-`, ` ` or `\`, and paths in headers that could
/// contain a newline are quoted by git.
#[derive(Debug, Default)]
pub(crate) struct HunkScanner {
    head: Vec<u8>,
    pending: bool,
    sections: Vec<Vec<Hunk>>,
}

impl HunkScanner {
    pub fn feed(&mut self, chunk: &[u8]) -> Flow {
        let mut rest = chunk;
        while !rest.is_empty() {
            match rest.iter().position(|&b| b == b'\n') {
                Some(at) => {
                    self.push_head(rest.get(..at).unwrap_or_default());
                    self.end_line();
                    rest = rest.get(at + 1..).unwrap_or_default();
                }
                None => {
                    self.push_head(rest);
                    rest = &[];
                }
            }
        }
        Flow::More
    }

    /// One hunk list per `diff --git` section, in git's order.
    pub fn finish(mut self) -> Vec<Vec<Hunk>> {
        if self.pending {
            self.end_line();
        }
        self.sections
    }

    fn push_head(&mut self, bytes: &[u8]) {
        let room = LINE_HEAD.saturating_sub(self.head.len());
        self.head
            .extend_from_slice(bytes.get(..room.min(bytes.len())).unwrap_or_default());
        self.pending = true;
    }

    fn end_line(&mut self) {
        if self.head.starts_with(b"diff --git ") {
            self.sections.push(Vec::new());
        } else if let (Some(hunk), Some(section)) =
            (parse_hunk_header(&self.head), self.sections.last_mut())
        {
            section.push(hunk);
        }
        self.head.clear();
        self.pending = false;
    }
}

/// `@@ -a[,b] +c[,d] @@ ...`; a missing count is 1.
pub(crate) fn parse_hunk_header(line: &[u8]) -> Option<Hunk> {
    let rest = line.strip_prefix(b"@@ -")?;
    let space = rest.iter().position(|&b| b == b' ')?;
    let (old, rest) = rest.split_at(space);
    let rest = rest.strip_prefix(b" +")?;
    let space = rest.iter().position(|&b| b == b' ')?;
    let (new, rest) = rest.split_at(space);
    if !rest.starts_with(b" @@") {
        return None;
    }
    let (old_start, old_lines) = range(old)?;
    let (new_start, new_lines) = range(new)?;
    Some(Hunk {
        old_start,
        old_lines,
        new_start,
        new_lines,
    })
}

fn range(spec: &[u8]) -> Option<(u32, u32)> {
    let text = std::str::from_utf8(spec).ok()?;
    match text.split_once(',') {
        Some((start, count)) => Some((start.parse().ok()?, count.parse().ok()?)),
        None => Some((text.parse().ok()?, 1)),
    }
}

/// The new-version lines a `-U0` hunk list adds or changes: each hunk's `+`
/// lines are the contiguous block `new_start .. new_start + new_lines`.
pub(crate) fn changed_lines(hunks: &[Hunk]) -> Vec<u32> {
    hunks
        .iter()
        .filter(|h| h.new_lines > 0)
        .flat_map(|h| h.new_start..h.new_start.saturating_add(h.new_lines))
        .collect()
}

/// One file's part of the patch, from its `diff --git` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Section {
    pub text: String,
    /// False when the section was longer than the per-section cap and only
    /// its head (to a line boundary) was kept.
    pub complete: bool,
}

/// `diff --git `: the only line that starts a file's section (content lines
/// start with `+`, `-`, ` ` or `\`).
const SECTION_START: &[u8] = b"diff --git ";

/// Reads the whole `-U3` patch as it streams past, keeping only what may be
/// shown: the head of each section up to `section_cap` bytes, and of those
/// the best-ranked ([`patch_rank`], then git's order) up to `keep_cap` bytes
/// in all. Memory stays under `keep_cap + section_cap` however long the
/// diff, and a code file after 20 MB of generated output is still seen.
#[derive(Debug)]
pub(crate) struct PatchCollector {
    /// Rank of each file, by section number (git's order).
    ranks: Vec<u8>,
    section_cap: usize,
    keep_cap: usize,
    /// The kept sections, by section number.
    kept: Vec<Option<Section>>,
    kept_bytes: usize,
    /// Kept sections, worst (highest rank, then latest) on top.
    worst: std::collections::BinaryHeap<(u8, usize)>,
    /// The section being read: its number, bytes, and whether it overflowed.
    current: Option<(usize, Vec<u8>, bool)>,
    /// Sections seen.
    count: usize,
    /// The first bytes of the current line, while it is not yet known
    /// whether it starts a section.
    line_start: Vec<u8>,
    /// Whether the next byte starts a line.
    at_line_start: bool,
}

impl PatchCollector {
    pub fn new(ranks: Vec<u8>, section_cap: usize, keep_cap: usize) -> Self {
        PatchCollector {
            kept: vec![None; ranks.len()],
            ranks,
            section_cap,
            keep_cap,
            kept_bytes: 0,
            worst: std::collections::BinaryHeap::new(),
            current: None,
            count: 0,
            line_start: Vec::new(),
            at_line_start: true,
        }
    }

    pub fn feed(&mut self, chunk: &[u8]) -> Flow {
        let mut rest = chunk;
        while !rest.is_empty() {
            let newline = rest.iter().position(|&b| b == b'\n');
            if self.at_line_start || !self.line_start.is_empty() {
                // Gather up to SECTION_START.len() bytes (or the whole
                // line) before deciding where the line belongs.
                let need = SECTION_START.len() - self.line_start.len();
                let take = newline
                    .map_or(need, |at| (at + 1).min(need))
                    .min(rest.len());
                let (head, tail) = rest.split_at(take);
                self.line_start.extend_from_slice(head);
                rest = tail;
                self.at_line_start = false;
                let ended = self.line_start.last() == Some(&b'\n');
                if ended || self.line_start.len() == SECTION_START.len() {
                    if self.line_start.starts_with(SECTION_START) {
                        self.start_section();
                    }
                    let line_start = std::mem::take(&mut self.line_start);
                    self.append(&line_start);
                    self.at_line_start = ended;
                }
            } else {
                let end = newline.map_or(rest.len(), |at| at + 1);
                let (line, tail) = rest.split_at(end);
                self.append(line);
                rest = tail;
                self.at_line_start = newline.is_some();
            }
        }
        Flow::More
    }

    /// The kept sections by section number (None: not kept, or not in the
    /// patch), and how many sections the patch had.
    pub fn finish(mut self) -> (Vec<Option<Section>>, usize) {
        let line_start = std::mem::take(&mut self.line_start);
        self.append(&line_start);
        self.end_section();
        (self.kept, self.count)
    }

    fn start_section(&mut self) {
        self.end_section();
        self.current = Some((self.count, Vec::new(), false));
        self.count += 1;
    }

    fn append(&mut self, bytes: &[u8]) {
        if let Some((_, text, overflow)) = &mut self.current {
            let room = self.section_cap.saturating_sub(text.len());
            if bytes.len() > room {
                *overflow = true;
            }
            text.extend_from_slice(bytes.get(..room.min(bytes.len())).unwrap_or_default());
        }
    }

    fn end_section(&mut self) {
        let Some((index, mut bytes, overflow)) = self.current.take() else {
            return;
        };
        if overflow {
            let keep = bytes
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |at| at + 1);
            bytes.truncate(keep);
        }
        let Some(&rank) = self.ranks.get(index) else {
            return; // More sections than files: nothing to attribute it to.
        };
        let key = (rank, index);
        // Counted as kept: lossy decoding may lengthen invalid UTF-8.
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let size = text.len();
        while self.kept_bytes.saturating_add(size) > self.keep_cap {
            match self.worst.peek() {
                Some(&worst) if worst > key => {
                    self.worst.pop();
                    if let Some(evicted) = self.kept.get_mut(worst.1).and_then(Option::take) {
                        self.kept_bytes = self.kept_bytes.saturating_sub(evicted.text.len());
                    }
                }
                _ => return, // Everything kept is better: drop this one.
            }
        }
        if let Some(slot) = self.kept.get_mut(index) {
            *slot = Some(Section {
                text,
                complete: !overflow,
            });
            self.kept_bytes += size;
            self.worst.push(key);
        }
    }
}

/// Bytes of the patch budget kept for the note saying what was cut.
pub(crate) const NOTE_RESERVE: usize = 1024;

/// Longest path quoted in the note; longer ones keep their tail.
const NOTE_PATH: usize = 120;

/// The order files are shown in when the patch must be cut: what most
/// often explains a new error first.
pub(crate) fn patch_rank(file: &ChangedFile) -> u8 {
    match file.class {
        FileClass::Runtime if is_lockfile(&file.path) => 2,
        FileClass::Runtime => 0,
        FileClass::PromptConfig => 1,
        FileClass::Test => 3,
        FileClass::Ci => 4,
        FileClass::Docs => 5,
    }
}

/// The patch handed to the LLM, and whether anything was cut.
///
/// When every section was read and the whole fits in `max_bytes`, it is
/// git's patch unchanged. Otherwise files are taken in [`patch_rank`] order
/// (git's order within a rank) into `max_bytes` less [`NOTE_RESERVE`]:
///
/// - a file that fits is shown whole;
/// - the first that does not fit (or was not kept) closes the ranks after
///   its own: no test or doc is shown while code is missing. Smaller files
///   of its rank still come whole, then it is shown cut at a line boundary
///   in what room is left, last;
/// - a closing note names what is missing:
///   `[... diff cut at 49152 bytes: src/big.py cut short; 2 more files not shown: a.py, b.md ...]`.
///
/// The result is at most `max_bytes` (the note alone when `max_bytes` is
/// smaller than the reserve).
pub(crate) fn assemble(
    files: &[ChangedFile],
    sections: &[Option<Section>],
    max_bytes: usize,
) -> (String, bool) {
    let all_kept = sections.len() == files.len()
        && sections
            .iter()
            .all(|s| s.as_ref().is_some_and(|s| s.complete));
    let total: usize = sections.iter().flatten().map(|s| s.text.len()).sum();
    if all_kept && total <= max_bytes {
        return (
            sections.iter().flatten().map(|s| s.text.as_str()).collect(),
            false,
        );
    }
    let mut order: Vec<usize> = (0..files.len()).collect();
    order.sort_by_key(|&i| files.get(i).map_or(u8::MAX, patch_rank));
    let budget = max_bytes.saturating_sub(NOTE_RESERVE);
    let mut body = String::new();
    let mut not_shown: Vec<(u8, &str)> = Vec::new();
    // The rank of the first file that did not fit, and that file (when it
    // was read, so that part of it can be shown).
    let mut closed_after: Option<u8> = None;
    let mut pending: Option<(&ChangedFile, &Section)> = None;
    for index in order {
        let Some(file) = files.get(index) else {
            continue;
        };
        let rank = patch_rank(file);
        if closed_after.is_some_and(|closed| rank > closed) {
            not_shown.push((rank, &file.path));
            continue;
        }
        match sections.get(index).and_then(Option::as_ref) {
            Some(section)
                if section.complete && body.len().saturating_add(section.text.len()) <= budget =>
            {
                body.push_str(&section.text);
            }
            Some(section) if pending.is_none() => {
                closed_after.get_or_insert(rank);
                pending = Some((file, section));
            }
            _ => {
                closed_after.get_or_insert(rank);
                not_shown.push((rank, &file.path));
            }
        }
    }
    let mut partial: Option<&str> = None;
    if let Some((file, section)) = pending {
        let cut = line_prefix(&section.text, budget.saturating_sub(body.len()));
        if cut.is_empty() {
            not_shown.push((patch_rank(file), &file.path));
        } else {
            body.push_str(cut);
            partial = Some(&file.path);
        }
    }
    // Rank order (stable: git's order within a rank).
    not_shown.sort_by_key(|(rank, _)| *rank);
    let not_shown: Vec<&str> = not_shown.into_iter().map(|(_, path)| path).collect();
    if partial.is_none() && not_shown.is_empty() {
        return (body, false);
    }
    body.push_str(&note(max_bytes, partial, &not_shown));
    body.push('\n');
    (body, true)
}

/// The longest prefix of `text` ending in a newline and at most `room` bytes.
fn line_prefix(text: &str, room: usize) -> &str {
    let end = text
        .as_bytes()
        .get(..room.min(text.len()))
        .and_then(|head| head.iter().rposition(|&b| b == b'\n'))
        .map_or(0, |at| at + 1);
    text.get(..end).unwrap_or_default()
}

/// `[... diff cut at N bytes: a.py cut short; 2 more files not shown: b.py, c.md ...]`,
/// at most [`NOTE_RESERVE`] - 1 bytes (names that do not fit are counted).
pub(crate) fn note(max_bytes: usize, partial: Option<&str>, not_shown: &[&str]) -> String {
    /// Room kept for `" and 18446744073709551615 others ...]"` and the newline.
    const TAIL: usize = 48;
    let mut note = format!("[... diff cut at {max_bytes} bytes:");
    if let Some(path) = partial {
        note.push(' ');
        note.push_str(&shorten(path));
        note.push_str(" cut short");
        if !not_shown.is_empty() {
            note.push(';');
        }
    }
    if !not_shown.is_empty() {
        let count = not_shown.len();
        note.push_str(&format!(
            " {count} more {} not shown:",
            plural(count, "file")
        ));
        let mut listed = 0;
        for path in not_shown {
            let path = shorten(path);
            if note.len() + 2 + path.len() + TAIL > NOTE_RESERVE {
                break;
            }
            note.push_str(if listed == 0 { " " } else { ", " });
            note.push_str(&path);
            listed += 1;
        }
        if listed < count {
            let others = count - listed;
            if listed == 0 {
                note.push_str(&format!(" {others} {}", plural(others, "path")));
                note.push_str(" too long to list");
            } else {
                note.push_str(&format!(" and {others} {}", plural(others, "other")));
            }
        }
    }
    note.push_str(" ...]");
    note
}

fn plural(count: usize, word: &str) -> String {
    if count == 1 {
        word.to_string()
    } else {
        format!("{word}s")
    }
}

/// A path of at most [`NOTE_PATH`] bytes: its tail (the file name and the
/// directories nearest it say the most), after `...`.
fn shorten(path: &str) -> String {
    if path.len() <= NOTE_PATH {
        return path.to_string();
    }
    let mut start = path.len() - (NOTE_PATH - 3);
    while !path.is_char_boundary(start) {
        start += 1;
    }
    format!("...{}", path.get(start..).unwrap_or_default())
}

//! A whole `git diff` read into files, modes and lines: what the guardrails
//! judge. Unlike [`crate::clients::git`]'s streaming readers, which keep only hunk
//! headers and a budgeted excerpt of a deploy's diff, the guardrails need
//! every removed and added line of a fix (is an assertion gone?) and the
//! file modes (a new symlink?), and a fix's diff is small: what is parsed
//! here has already been capped by the caller.
//!
//! The expected input is
//! `git diff --binary --no-color --no-ext-diff --no-textconv -M --src-prefix=a/ --dst-prefix=b/ <base>`
//! (explicit prefixes so a user's `diff.noprefix` or `diff.mnemonicPrefix`
//! cannot change the shape). Without `--binary`, binary files show as
//! `Binary files ... differ`; both are recognized.

use serde::{Deserialize, Serialize};

/// What happened to a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileStatus {
    Added,
    Deleted,
    Modified,
    Renamed,
    Copied,
}

/// `100644`, `100755`, `120000` (symlink), `160000` (submodule).
pub type Mode = u32;
pub const MODE_FILE: Mode = 0o100644;
pub const MODE_EXECUTABLE: Mode = 0o100755;
pub const MODE_SYMLINK: Mode = 0o120000;
pub const MODE_GITLINK: Mode = 0o160000;

/// One file's part of the diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDiff {
    /// The path before; `None` for an added file.
    pub old_path: Option<String>,
    /// The path after; `None` for a deleted file.
    pub new_path: Option<String>,
    pub status: FileStatus,
    pub old_mode: Option<Mode>,
    pub new_mode: Option<Mode>,
    pub binary: bool,
    pub hunks: Vec<Hunk>,
}

/// One `@@` hunk and its lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hunk {
    pub old_start: u32,
    pub new_start: u32,
    pub lines: Vec<DiffLine>,
}

/// A line of a hunk, with its number in the old file (context, removed)
/// and in the new one (context, added).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffLine {
    pub kind: LineKind,
    pub text: String,
    pub old_line: Option<u32>,
    pub new_line: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineKind {
    Context,
    Added,
    Removed,
}

impl FileDiff {
    /// The path the file has after the change (before it, when deleted).
    pub fn path(&self) -> &str {
        self.new_path
            .as_deref()
            .or(self.old_path.as_deref())
            .unwrap_or_default()
    }

    /// Every path the change touches: both sides of a rename.
    pub fn paths(&self) -> Vec<&str> {
        let mut paths: Vec<&str> = self.old_path.iter().map(String::as_str).collect();
        if let Some(new) = self.new_path.as_deref().filter(|new| !paths.contains(new)) {
            paths.push(new);
        }
        paths
    }

    pub fn lines(&self) -> impl Iterator<Item = &DiffLine> {
        self.hunks.iter().flat_map(|h| h.lines.iter())
    }

    pub fn added(&self) -> usize {
        self.lines().filter(|l| l.kind == LineKind::Added).count()
    }

    pub fn removed(&self) -> usize {
        self.lines().filter(|l| l.kind == LineKind::Removed).count()
    }
}

/// Output that is not a git diff.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("diff line {line}: {problem}")]
pub struct DiffError {
    /// 1-based line of the diff.
    pub line: usize,
    pub problem: String,
}

/// Parses a whole `git diff` (see the module doc for the command).
pub fn parse_diff(text: &str) -> Result<Vec<FileDiff>, DiffError> {
    let lines: Vec<&str> = text.lines().collect();
    let mut files = Vec::new();
    let mut i = 0;
    while let Some(line) = lines.get(i) {
        if line.starts_with("diff --git ") {
            let (file, next) = parse_section(&lines, i)?;
            files.push(file);
            i = next;
        } else if line.trim().is_empty() || files.is_empty() {
            // Anything before the first section (a `git show` header, a
            // warning) is not part of the diff.
            i += 1;
        } else {
            return Err(DiffError {
                line: i + 1,
                problem: format!("unexpected line {:?}", clip(line)),
            });
        }
    }
    Ok(files)
}

fn clip(line: &str) -> String {
    line.chars().take(80).collect()
}

/// One `diff --git` section from `start`; returns it and the index of the
/// line after it.
fn parse_section(lines: &[&str], start: usize) -> Result<(FileDiff, usize), DiffError> {
    let header = lines.get(start).copied().unwrap_or_default();
    let err = |at: usize, problem: String| DiffError {
        line: at + 1,
        problem,
    };
    let (git_old, git_new) = header_paths(header.strip_prefix("diff --git ").unwrap_or_default())
        .map_or((None, None), |(a, b)| (Some(a), Some(b)));
    let mut file = FileDiff {
        old_path: git_old,
        new_path: git_new,
        status: FileStatus::Modified,
        old_mode: None,
        new_mode: None,
        binary: false,
        hunks: Vec::new(),
    };
    let mut i = start + 1;
    // Extended header lines, up to the first hunk or the next section.
    while let Some(&line) = lines.get(i) {
        if line.starts_with("diff --git ") || line.starts_with("@@ ") {
            break;
        }
        let mode = |text: &str| {
            Mode::from_str_radix(text.trim(), 8)
                .map_err(|_| err(i, format!("bad file mode {:?}", clip(text))))
        };
        if let Some(m) = line.strip_prefix("new file mode ") {
            file.status = FileStatus::Added;
            file.new_mode = Some(mode(m)?);
            file.old_path = None;
        } else if let Some(m) = line.strip_prefix("deleted file mode ") {
            file.status = FileStatus::Deleted;
            file.old_mode = Some(mode(m)?);
            file.new_path = None;
        } else if let Some(m) = line.strip_prefix("old mode ") {
            file.old_mode = Some(mode(m)?);
        } else if let Some(m) = line.strip_prefix("new mode ") {
            file.new_mode = Some(mode(m)?);
        } else if let Some(p) = line.strip_prefix("rename from ") {
            file.status = FileStatus::Renamed;
            file.old_path = Some(unquote(p));
        } else if let Some(p) = line.strip_prefix("rename to ") {
            file.status = FileStatus::Renamed;
            file.new_path = Some(unquote(p));
        } else if let Some(p) = line.strip_prefix("copy from ") {
            file.status = FileStatus::Copied;
            file.old_path = Some(unquote(p));
        } else if let Some(p) = line.strip_prefix("copy to ") {
            file.status = FileStatus::Copied;
            file.new_path = Some(unquote(p));
        } else if let Some(rest) = line.strip_prefix("index ") {
            // `index abc..def 100644`: the mode when it did not change.
            if let Some((_, m)) = rest.split_once(' ') {
                let m = mode(m)?;
                file.old_mode.get_or_insert(m);
                file.new_mode.get_or_insert(m);
            }
        } else if let Some(p) = line.strip_prefix("--- ") {
            file.old_path = side_path(p, "a/");
        } else if let Some(p) = line.strip_prefix("+++ ") {
            file.new_path = side_path(p, "b/");
        } else if line == "GIT binary patch"
            || (line.starts_with("Binary files ") && line.ends_with(" differ"))
        {
            file.binary = true;
            // The base85 payload: skip to the next section. Its lines
            // start with a length letter followed by base85 characters,
            // none of which is a space, so none reads as `diff --git `.
            i += 1;
            while lines.get(i).is_some_and(|l| !l.starts_with("diff --git ")) {
                i += 1;
            }
            break;
        }
        // Anything else (similarity index, dissimilarity index) is noise.
        i += 1;
    }
    // Hunks.
    while let Some(&line) = lines.get(i) {
        if line.starts_with("diff --git ") {
            break;
        }
        let Some((old_start, old_count, new_start, new_count)) = hunk_header(line) else {
            if line.is_empty() {
                i += 1;
                continue;
            }
            return Err(err(
                i,
                format!("expected a hunk header, found {:?}", clip(line)),
            ));
        };
        let mut hunk = Hunk {
            old_start,
            new_start,
            lines: Vec::new(),
        };
        let (mut old_left, mut new_left) = (old_count, new_count);
        let (mut old_no, mut new_no) = (old_start, new_start);
        i += 1;
        while old_left > 0 || new_left > 0 {
            let Some(&line) = lines.get(i) else {
                return Err(err(i, "the diff ends inside a hunk".into()));
            };
            i += 1;
            // `git diff` never strips a context line's space, but a diff
            // pasted through an editor may: an empty line is context.
            let (kind, text) = match line.chars().next() {
                Some('+') => (LineKind::Added, line.get(1..).unwrap_or_default()),
                Some('-') => (LineKind::Removed, line.get(1..).unwrap_or_default()),
                Some(' ') => (LineKind::Context, line.get(1..).unwrap_or_default()),
                None => (LineKind::Context, ""),
                Some('\\') => continue, // "\ No newline at end of file"
                Some(_) => {
                    return Err(err(
                        i - 1,
                        format!("expected a hunk line, found {:?}", clip(line)),
                    ));
                }
            };
            let (old_line, new_line) = match kind {
                LineKind::Context => (Some(old_no), Some(new_no)),
                LineKind::Removed => (Some(old_no), None),
                LineKind::Added => (None, Some(new_no)),
            };
            if old_line.is_some() {
                old_left = old_left
                    .checked_sub(1)
                    .ok_or_else(|| err(i - 1, "more old lines than the hunk header says".into()))?;
                old_no = old_no.saturating_add(1);
            }
            if new_line.is_some() {
                new_left = new_left
                    .checked_sub(1)
                    .ok_or_else(|| err(i - 1, "more new lines than the hunk header says".into()))?;
                new_no = new_no.saturating_add(1);
            }
            hunk.lines.push(DiffLine {
                kind,
                text: text.strip_suffix('\r').unwrap_or(text).to_string(),
                old_line,
                new_line,
            });
        }
        // A trailing "\ No newline" after the counted lines.
        while lines.get(i).is_some_and(|l| l.starts_with('\\')) {
            i += 1;
        }
        file.hunks.push(hunk);
    }
    if file.old_path.is_none() && file.new_path.is_none() {
        return Err(err(start, format!("no path in {:?}", clip(header))));
    }
    Ok((file, i))
}

/// `@@ -a[,b] +c[,d] @@ ...`; a missing count is 1.
fn hunk_header(line: &str) -> Option<(u32, u32, u32, u32)> {
    let rest = line.strip_prefix("@@ -")?;
    let (old, rest) = rest.split_once(" +")?;
    let (new, _) = rest.split_once(" @@")?;
    let range = |spec: &str| -> Option<(u32, u32)> {
        match spec.split_once(',') {
            Some((start, count)) => Some((start.parse().ok()?, count.parse().ok()?)),
            None => Some((spec.parse().ok()?, 1)),
        }
    };
    let (old_start, old_count) = range(old)?;
    let (new_start, new_count) = range(new)?;
    Some((old_start, old_count, new_start, new_count))
}

/// The path on a `---` or `+++` line: `None` for `/dev/null`. Git ends a
/// path holding a space with a tab (for GNU patch); it is dropped.
fn side_path(text: &str, prefix: &str) -> Option<String> {
    let text = text.strip_suffix('\t').unwrap_or(text);
    if text == "/dev/null" {
        return None;
    }
    let path = unquote(text);
    Some(
        path.strip_prefix(prefix)
            .map(str::to_string)
            .unwrap_or(path),
    )
}

/// The two paths of `a/OLD b/NEW` (after `diff --git `). Quoted paths are
/// unambiguous; unquoted ones are split where both halves name the same
/// path, which is the case whenever git prints no `rename` or `copy` lines
/// (and those lines then give the paths).
fn header_paths(rest: &str) -> Option<(String, String)> {
    let strip = |p: String, prefix: &str| p.strip_prefix(prefix).map(str::to_string).unwrap_or(p);
    if rest.starts_with('"') {
        let (first, tail) = split_quoted(rest)?;
        let tail = tail.strip_prefix(' ')?;
        return Some((strip(first, "a/"), strip(unquote(tail), "b/")));
    }
    if let Some(at) = rest.find(" \"") {
        let (first, tail) = rest.split_at(at);
        return Some((
            strip(first.to_string(), "a/"),
            strip(unquote(tail.trim_start_matches(' ')), "b/"),
        ));
    }
    // a/P b/P: |rest| = 2|P| + 5.
    let n = rest.len().checked_sub(5)? / 2;
    let first = rest.get(2..2 + n)?;
    let second = rest.get(2 + n..)?.strip_prefix(" b/")?;
    (rest.starts_with("a/") && first == second).then(|| (first.to_string(), second.to_string()))
}

/// A C-style quoted string at the start of `text`, and what follows it.
fn split_quoted(text: &str) -> Option<(String, &str)> {
    let body = text.strip_prefix('"')?;
    let mut escaped = false;
    for (at, c) in body.char_indices() {
        match (escaped, c) {
            (true, _) => escaped = false,
            (false, '\\') => escaped = true,
            (false, '"') => {
                let quoted = text.get(..at + 2)?;
                return Some((unquote(quoted), body.get(at + 1..)?));
            }
            _ => {}
        }
    }
    None
}

/// Undoes git's C-style quoting (`"a/tab\there"`, octal bytes for
/// non-ASCII when `core.quotepath` is on); unquoted text is returned as is.
pub fn unquote(text: &str) -> String {
    let Some(body) = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) else {
        return text.to_string();
    };
    let mut bytes = Vec::with_capacity(body.len());
    let mut chars = body.bytes().peekable();
    while let Some(b) = chars.next() {
        if b != b'\\' {
            bytes.push(b);
            continue;
        }
        match chars.next() {
            Some(b'a') => bytes.push(7),
            Some(b'b') => bytes.push(8),
            Some(b't') => bytes.push(b'\t'),
            Some(b'n') => bytes.push(b'\n'),
            Some(b'v') => bytes.push(11),
            Some(b'f') => bytes.push(12),
            Some(b'r') => bytes.push(b'\r'),
            Some(d @ b'0'..=b'7') => {
                let mut value = u32::from(d - b'0');
                for _ in 0..2 {
                    match chars.peek() {
                        Some(&o @ b'0'..=b'7') => {
                            value = value * 8 + u32::from(o - b'0');
                            chars.next();
                        }
                        _ => break,
                    }
                }
                bytes.push(u8::try_from(value).unwrap_or(b'?'));
            }
            Some(other) => bytes.push(other),
            None => bytes.push(b'\\'),
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODIFY: &str = "diff --git a/shop/orders.py b/shop/orders.py
index 3b18e51..a9c2f3e 100644
--- a/shop/orders.py
+++ b/shop/orders.py
@@ -10,3 +10,4 @@ def total(order):
     items = order[\"items\"]
-    code = order[\"discount_code\"]
+    code = order.get(\"discount_code\")
+    # optional
     return sum(items)
";

    #[test]
    fn reads_a_modification_with_line_numbers() {
        let files = parse_diff(MODIFY).unwrap();
        assert_eq!(files.len(), 1);
        let f = &files[0];
        assert_eq!(f.path(), "shop/orders.py");
        assert_eq!(f.status, FileStatus::Modified);
        assert_eq!((f.old_mode, f.new_mode), (Some(MODE_FILE), Some(MODE_FILE)));
        assert_eq!((f.added(), f.removed()), (2, 1));
        let removed: Vec<(Option<u32>, &str)> = f
            .lines()
            .filter(|l| l.kind == LineKind::Removed)
            .map(|l| (l.old_line, l.text.as_str()))
            .collect();
        assert_eq!(
            removed,
            vec![(Some(11), "    code = order[\"discount_code\"]")]
        );
        let added: Vec<Option<u32>> = f
            .lines()
            .filter(|l| l.kind == LineKind::Added)
            .map(|l| l.new_line)
            .collect();
        assert_eq!(added, vec![Some(11), Some(12)]);
    }

    #[test]
    fn reads_new_deleted_renamed_mode_symlink_and_binary() {
        let diff = "diff --git a/new.py b/new.py
new file mode 100755
index 0000000..e69de29
--- /dev/null
+++ b/new.py
@@ -0,0 +1 @@
+print('x')
diff --git a/tests/test_old.py b/tests/test_old.py
deleted file mode 100644
index e69de29..0000000
--- a/tests/test_old.py
+++ /dev/null
@@ -1,2 +0,0 @@
-def test_a():
-    assert 1 == 1
diff --git a/old name.py b/new name.py
similarity index 100%
rename from old name.py
rename to new name.py
diff --git a/run.sh b/run.sh
old mode 100644
new mode 100755
diff --git a/link b/link
new file mode 120000
index 0000000..1de5659
--- /dev/null
+++ b/link
@@ -0,0 +1 @@
+/etc/passwd
\\ No newline at end of file
diff --git a/logo.png b/logo.png
index 1111111..2222222 100644
GIT binary patch
literal 5
McmZQzU|?ZD00ssI0RR91

literal 0
HcmV?d00001

diff --git a/img.gif b/img.gif
index 1111111..2222222 100644
Binary files a/img.gif and b/img.gif differ
";
        let files = parse_diff(diff).unwrap();
        type Summary<'a> = (
            Option<&'a str>,
            Option<&'a str>,
            FileStatus,
            Option<Mode>,
            Option<Mode>,
            bool,
        );
        let summary: Vec<Summary> = files
            .iter()
            .map(|f| {
                (
                    f.old_path.as_deref(),
                    f.new_path.as_deref(),
                    f.status,
                    f.old_mode,
                    f.new_mode,
                    f.binary,
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (
                    None,
                    Some("new.py"),
                    FileStatus::Added,
                    None,
                    Some(MODE_EXECUTABLE),
                    false
                ),
                (
                    Some("tests/test_old.py"),
                    None,
                    FileStatus::Deleted,
                    Some(MODE_FILE),
                    None,
                    false
                ),
                (
                    Some("old name.py"),
                    Some("new name.py"),
                    FileStatus::Renamed,
                    None,
                    None,
                    false
                ),
                (
                    Some("run.sh"),
                    Some("run.sh"),
                    FileStatus::Modified,
                    Some(MODE_FILE),
                    Some(MODE_EXECUTABLE),
                    false
                ),
                (
                    None,
                    Some("link"),
                    FileStatus::Added,
                    None,
                    Some(MODE_SYMLINK),
                    false
                ),
                (
                    Some("logo.png"),
                    Some("logo.png"),
                    FileStatus::Modified,
                    Some(MODE_FILE),
                    Some(MODE_FILE),
                    true
                ),
                (
                    Some("img.gif"),
                    Some("img.gif"),
                    FileStatus::Modified,
                    Some(MODE_FILE),
                    Some(MODE_FILE),
                    true
                ),
            ]
        );
        assert_eq!(files[1].removed(), 2);
        assert_eq!(files[4].lines().count(), 1);
    }

    #[test]
    fn quoted_paths_and_tabs() {
        let diff = "diff --git \"a/caf\\303\\251.py\" \"b/caf\\303\\251.py\"
index 1..2 100644
--- \"a/caf\\303\\251.py\"
+++ \"b/caf\\303\\251.py\"
@@ -1 +1 @@
-a
+b
diff --git a/with space.py b/with space.py
index 1..2 100644
--- a/with space.py\t
+++ b/with space.py\t
@@ -1 +1 @@
-a
+b
";
        let files = parse_diff(diff).unwrap();
        assert_eq!(files[0].path(), "café.py");
        assert_eq!(files[1].path(), "with space.py");
        assert_eq!(unquote("\"a\\tb\\\"c\\\\\""), "a\tb\"c\\");
    }

    #[test]
    fn diff_content_that_looks_like_a_header_is_content() {
        // A removed line reading "-- a" and an added line "++ b" are
        // content because the hunk's counts say so.
        let diff = "diff --git a/x.sql b/x.sql
index 1..2 100644
--- a/x.sql
+++ b/x.sql
@@ -1,2 +1,2 @@
--- a comment
+++ b
 keep
";
        let files = parse_diff(diff).unwrap();
        let texts: Vec<&str> = files[0].lines().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, vec!["-- a comment", "++ b", "keep"]);
    }

    #[test]
    fn malformed_diffs_are_errors() {
        let cut = "diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1,3 +1,3 @@\n a\n";
        assert_eq!(
            parse_diff(cut).unwrap_err().problem,
            "the diff ends inside a hunk"
        );
        let junk = "diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\nwhat\n";
        assert!(
            parse_diff(junk)
                .unwrap_err()
                .problem
                .contains("expected a hunk header")
        );
        assert!(parse_diff("").unwrap().is_empty());
    }
}

//! Recent commits as data: what the coding agent is shown of the history
//! before the revision it fixes, read from one `git log` (run by
//! `clients::git::history`).
//!
//! The log is asked for in a form that cannot be misread: each commit opens
//! with an ASCII record separator (`\x1e`), its fields are split by unit
//! separators (`\x1f`), the header ends with a NUL and the `--name-only -z`
//! file names follow, each ended by a NUL. A subject cannot hold a NUL, so
//! no commit message can forge a file name; a record whose header is not a
//! commit id and two times is skipped rather than guessed at.

use serde::{Deserialize, Serialize};

/// The `git log --format` that [`parse_log`] reads: sha, author time,
/// committer time, subject.
pub const LOG_FORMAT: &str = "--format=%x1e%H%x1f%at%x1f%ct%x1f%s";

/// File names kept per commit: a commit touching hundreds of files is a
/// vendoring or a reformat, and its first names say so.
pub const MAX_FILES_PER_COMMIT: usize = 20;

/// Characters of a subject kept.
pub const MAX_SUBJECT_CHARS: usize = 200;

/// One commit, as the coding agent's context shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitSummary {
    /// The full commit id.
    pub sha: String,
    /// When it was written, epoch seconds.
    pub author_time: i64,
    /// When it was committed (landed on the branch), epoch seconds: what the
    /// window of "recent" is measured on.
    pub commit_time: i64,
    /// The subject line (untrusted: anyone who can push wrote it).
    pub subject: String,
    /// Paths changed, at most [`MAX_FILES_PER_COMMIT`] (none for a merge).
    pub files: Vec<String>,
    /// How many paths it changed in all.
    pub files_changed: usize,
}

/// Parses `git log` printed with [`LOG_FORMAT`], `--name-only` and `-z`.
/// Commits come back in the log's order (newest first).
pub fn parse_log(bytes: &[u8]) -> Vec<CommitSummary> {
    bytes
        .split(|&b| b == 0x1e)
        .filter(|record| !record.is_empty())
        .filter_map(parse_record)
        .collect()
}

fn parse_record(record: &[u8]) -> Option<CommitSummary> {
    let mut parts = record.split(|&b| b == 0);
    let header = String::from_utf8_lossy(parts.next()?);
    let mut fields = header.splitn(4, '\x1f');
    let sha = fields.next()?.to_string();
    let valid_sha =
        matches!(sha.len(), 40 | 64) && sha.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !valid_sha {
        return None;
    }
    let author_time = fields.next()?.parse().ok()?;
    let commit_time = fields.next()?.parse().ok()?;
    let subject =
        crate::domain::text::truncate(fields.next().unwrap_or_default(), MAX_SUBJECT_CHARS);
    let mut files = Vec::new();
    let mut files_changed = 0usize;
    for name in parts {
        // `--name-only -z` puts a newline between the header and the names.
        let name = name.strip_prefix(b"\n").unwrap_or(name);
        if name.is_empty() {
            continue;
        }
        files_changed += 1;
        if files.len() < MAX_FILES_PER_COMMIT {
            files.push(String::from_utf8_lossy(name).into_owned());
        }
    }
    Some(CommitSummary {
        sha,
        author_time,
        commit_time,
        subject,
        files,
        files_changed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "a3a6e2533bc05c28233e8cfff39911b9e19e8c75";
    const B: &str = "2412d6ea5fc47d571b6d83435c724277f815f839";

    #[test]
    fn reads_commits_files_and_merges() {
        let log = format!(
            "\x1e{A}\x1f1700090000\x1f1700090100\x1fsecond: fix it\0\nc\0sp ace\0\x1e{B}\x1f1700000000\x1f1700000000\x1fMerge branch 'x'\0"
        );
        let commits = parse_log(log.as_bytes());
        assert_eq!(commits.len(), 2);
        assert_eq!(commits[0].sha, A);
        assert_eq!(commits[0].author_time, 1_700_090_000);
        assert_eq!(commits[0].commit_time, 1_700_090_100);
        assert_eq!(commits[0].subject, "second: fix it");
        assert_eq!(commits[0].files, vec!["c".to_string(), "sp ace".into()]);
        assert_eq!(commits[0].files_changed, 2);
        assert_eq!(commits[1].subject, "Merge branch 'x'");
        assert!(commits[1].files.is_empty());
    }

    #[test]
    fn bounds_files_and_subjects_and_skips_garbage() {
        let names: String = (0..50).map(|i| format!("f{i}.py\0")).collect();
        let subject = "s".repeat(500);
        let log = format!(
            "\x1enot-a-sha\x1f1\x1f1\x1fforged\0\nx\0\x1e{A}\x1f1\x1f2\x1f{subject}\0\n{names}"
        );
        let commits = parse_log(log.as_bytes());
        assert_eq!(
            commits.len(),
            1,
            "the record without a commit id is skipped"
        );
        assert_eq!(commits[0].files.len(), MAX_FILES_PER_COMMIT);
        assert_eq!(commits[0].files_changed, 50);
        assert_eq!(commits[0].subject.chars().count(), MAX_SUBJECT_CHARS + 1);
    }
}

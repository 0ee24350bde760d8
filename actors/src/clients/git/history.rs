//! Recent history, for the coding agent's context: what landed before the
//! revision it fixes (a deploy's neighbours often hold the change that
//! broke it, or a half-finished fix).
//!
//! One `git log` through the same runner as every other question (its
//! timeout, its environment, its output limit), over the full commit id
//! `rev` resolved to. The window is measured back from `rev`'s own commit
//! time, not from the wall clock: the same revision always gives the same
//! commits, however late the agent runs.

use std::time::Duration;

use super::runner::describe;
use super::{LIST_LIMIT, Repo, RepoError};
use crate::domain::diff::CommitSummary;
use crate::domain::diff::commits::{LOG_FORMAT, parse_log};

/// Most commits one call returns, whatever the caller asks: the context
/// shows a few dozen at most, and the log is walked no further.
pub const MAX_RECENT_COMMITS: usize = 200;

impl Repo {
    /// The commits reachable from `rev` that were committed within `window`
    /// before `rev` itself, newest first, `rev` included, at most `max`
    /// (and at most [`MAX_RECENT_COMMITS`]). Each with its author time,
    /// subject and changed paths (none for a merge commit). An unknown
    /// `rev` is [`RepoError::UnknownRevision`].
    pub async fn recent_commits(
        &self,
        rev: &str,
        window: Duration,
        max: usize,
    ) -> Result<Vec<CommitSummary>, RepoError> {
        let max = max.min(MAX_RECENT_COMMITS);
        if max == 0 {
            return Ok(Vec::new());
        }
        let id = self.commit(rev).await?;
        let count = max.to_string();
        let args = [
            "log",
            "--no-color",
            "--no-show-signature",
            LOG_FORMAT,
            "--name-only",
            "-z",
            "-n",
            count.as_str(),
            id.as_str(),
            "--",
        ];
        let out = self.git.checked(&args, LIST_LIMIT).await?;
        let commits = parse_log(&out);
        let Some(first) = commits.first() else {
            return Err(RepoError::Unexpected {
                command: describe(&args),
                detail: "no commit printed for a resolved revision".into(),
            });
        };
        if first.sha != id {
            return Err(RepoError::Unexpected {
                command: describe(&args),
                detail: format!("expected {id} first, got {}", first.sha),
            });
        }
        let back = i64::try_from(window.as_secs()).unwrap_or(i64::MAX);
        let cutoff = first.commit_time.saturating_sub(back);
        Ok(commits
            .into_iter()
            .filter(|c| c.commit_time >= cutoff)
            .collect())
    }
}

//! What a deploy changed, read from the service's git checkout.
//!
//! Triage asks three things of the repository: which commits a deploy marker
//! names ([`Repo::resolve`], [`Repo::parent`]), what changed between them
//! ([`Repo::diff`]: the files, their hunks, and a unified diff cut to a
//! budget for the LLM), and which repository file a stack frame points at
//! ([`Repo::files_at`], [`RepoFiles::resolve`]). The coding agent also asks
//! what landed recently ([`Repo::recent_commits`], in [`history`]).
//!
//! # Running git
//!
//! Each question is one `git` subprocess (`-C <repo root>`, no pager,
//! `LC_ALL=C`, `GIT_TERMINAL_PROMPT=0`, `core.quotepath=off`), killed when it
//! runs past `repo.git_timeout`. What is kept of its output is bounded:
//! listings refuse to grow past [`LIST_LIMIT`], the hunk headers are taken
//! from a `-U0` patch as it streams past (only the headers are kept), and of
//! the patch for the LLM only the most relevant [`PATCH_KEEP_FACTOR`] times
//! `repo.max_diff_bytes` is kept as it streams past, so a 20 MB diff costs a
//! few hundred kilobytes of memory (and the time git takes to print it).
//!
//! Revisions come from deploy markers sent over HTTP and are untrusted: text
//! that is empty, starts with `-`, is longer than 200 characters or has
//! characters outside `[A-Za-z0-9._/~^@{}-]` is refused before git runs
//! ([`RepoError::BadRevision`]), and every other command is given the full
//! commit id `git rev-parse --verify` resolved, never the text itself.
//!

pub mod history;
mod push;
mod runner;
pub mod worktree;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::domain::coder::config::CommandLine;
use crate::domain::duration;

pub use crate::domain::diff::{
    ChangeStatus, ChangedFile, CommitSummary, DeployDiff, FileClass, Hunk, RepoFiles, classify,
};
pub use runner::MAX_REVISION_LEN;
pub use worktree::{CommitAuthor, Worktree, fix_branch};

use crate::domain::diff::parse::{self, HunkScanner, PatchCollector};
use runner::{Git, check_revision, failed, is_full_id, quote_untrusted};

/// Most bytes a listing (`ls-tree`, the diff's file list) may print before
/// the call fails with [`RepoError::OutputTooLarge`]. A repository of
/// 400,000 files lists in about 25 MB; past 64 MiB something is wrong.
pub const LIST_LIMIT: usize = 64 * 1024 * 1024;

/// Of the patch streaming past, this many times `max_diff_bytes` is kept
/// (the best-ranked sections, each cut to `max_diff_bytes`), to choose what
/// to show from: twice the budget is enough to fill it with whole files and
/// the head of the first that does not fit; four leaves slack.
pub const PATCH_KEEP_FACTOR: usize = 4;

/// `[repo]`: the service's git checkout, which triage reads to see what a
/// deploy changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RepoConfig {
    /// The service's git checkout (its root or any directory inside it).
    /// Empty (the default): no repository, and triage works from the
    /// errors alone, without a diff. No default path is guessed, because a
    /// wrong repository's diff would mislead triage more than none.
    pub path: PathBuf,
    /// Longest one git command may run before it is killed. Reading two
    /// commits' diff takes milliseconds; 30 s allows a cold disk and a huge
    /// monorepo, and still frees triage from a stuck git (a lock, a network
    /// filesystem) in time.
    #[serde(with = "duration")]
    pub git_timeout: Duration,
    /// The unified diff handed to the LLM is cut to this many bytes, at a
    /// line boundary, with a closing note naming what was cut. 48 KiB is
    /// about 12,000 tokens: room for the code changes of a typical deploy
    /// while leaving most of a small model's context for the errors.
    pub max_diff_bytes: usize,
    /// The branch fixes are based on and pull requests target. A fix starts
    /// from its tip when the blamed revision is in it, else from the
    /// blamed revision itself.
    pub base_branch: String,
    /// The remote fixes are pushed to.
    pub remote: String,
    /// The service's own tests, run in the agent's worktree before and
    /// after a fix: an argv list, or a string run by `sh -c`. Empty: no
    /// coding agent (a fix nobody tested is not handed to a reviewer).
    pub test_command: CommandLine,
    /// Optional lint command; a fix must not make it fail.
    pub lint_command: CommandLine,
    /// Longest one run of the tests (or the lint) may take.
    #[serde(with = "duration")]
    pub test_timeout: Duration,
}

impl Default for RepoConfig {
    fn default() -> Self {
        Self {
            path: PathBuf::new(),
            git_timeout: Duration::from_secs(30),
            max_diff_bytes: 48 * 1024,
            base_branch: "main".into(),
            remote: "origin".into(),
            test_command: CommandLine::default(),
            lint_command: CommandLine::default(),
            test_timeout: Duration::from_secs(600),
        }
    }
}

/// Why a repository question could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// `repo.path` is missing or not inside a git work tree.
    #[error("repo.path {path:?} is not a git work tree: {detail}")]
    NotARepo { path: PathBuf, detail: String },
    /// The `git` program could not be found.
    #[error("could not run {program:?} ({source}); install git, or leave repo.path empty")]
    GitMissing {
        program: String,
        source: std::io::Error,
    },
    /// Starting git or talking to it failed.
    #[error("`{command}`: {source}")]
    Io {
        command: String,
        source: std::io::Error,
    },
    /// Git exited with an error.
    #[error("`{command}` failed ({status}): {stderr}")]
    GitFailed {
        command: String,
        status: String,
        stderr: String,
    },
    /// Git ran past `repo.git_timeout` and was killed.
    #[error("`{command}` ran longer than repo.git_timeout ({timeout:?}) and was killed")]
    TimedOut { command: String, timeout: Duration },
    /// Revision text refused before git saw it (quoted and shortened).
    #[error("revision {rev} refused: {reason}")]
    BadRevision { rev: String, reason: &'static str },
    /// A revision that names no commit in the repository (quoted).
    #[error("revision {rev} is not a commit in {repo:?} (not fetched yet?)")]
    UnknownRevision { rev: String, repo: PathBuf },
    /// A listing longer than [`LIST_LIMIT`].
    #[error("`{command}` printed more than {limit} bytes")]
    OutputTooLarge { command: String, limit: usize },
    /// Git printed something this module does not understand.
    #[error("`{command}` printed unexpected output: {detail}")]
    Unexpected { command: String, detail: String },
}

impl RepoError {
    /// A timeout or an I/O error may pass; a missing repository or a
    /// revision git does not know will not.
    pub fn is_transient(&self) -> bool {
        matches!(self, RepoError::TimedOut { .. } | RepoError::Io { .. })
    }
}

/// The service's git checkout. Cheap to clone; every method runs git anew,
/// so a checkout updated by the deploy is seen at once.
#[derive(Debug, Clone)]
pub struct Repo {
    git: Git,
    max_diff_bytes: usize,
}

impl Repo {
    /// Opens `config.path`: None when it is empty (no repository
    /// configured), an error naming the path and `repo.path` when it is not
    /// inside a git work tree. Commands then run at the work tree's root, so
    /// paths are always relative to it, even when `repo.path` is a
    /// directory inside it.
    pub async fn open(config: &RepoConfig) -> Result<Option<Repo>, RepoError> {
        if config.path.as_os_str().is_empty() {
            return Ok(None);
        }
        let probe = Git {
            dir: config.path.clone(),
            timeout: config.git_timeout,
        };
        let (finished, out) = probe
            .output(
                &["rev-parse", "--is-inside-work-tree", "--show-toplevel"],
                64 * 1024,
            )
            .await?;
        let not_a_repo = |detail: String| RepoError::NotARepo {
            path: config.path.clone(),
            detail,
        };
        if !finished.status.success() {
            let mut detail = runner::excerpt(&finished.stderr);
            if detail.contains("dubious ownership") {
                detail.push_str(&format!(
                    " (the checkout belongs to another user: as the user Suture runs as, \
                     run git config --global --add safe.directory {})",
                    config.path.display()
                ));
            }
            return Err(not_a_repo(detail));
        }
        let text = String::from_utf8_lossy(&out);
        let mut lines = text.lines();
        if lines.next() != Some("true") {
            return Err(not_a_repo(
                "inside a .git directory, not a work tree".into(),
            ));
        }
        let root = match lines.next() {
            Some(root) if !root.is_empty() => PathBuf::from(root),
            _ => return Err(not_a_repo("git printed no work tree root".into())),
        };
        Ok(Some(Repo {
            git: Git {
                dir: root,
                timeout: config.git_timeout,
            },
            max_diff_bytes: config.max_diff_bytes,
        }))
    }

    /// The work tree's root, which every repository path is relative to.
    pub fn root(&self) -> &Path {
        &self.git.dir
    }

    /// The full commit id `rev` names (a commit id, abbreviated or not, a
    /// tag, a branch, `HEAD~2`...), or Ok(None) when it names no commit here:
    /// unknown, not fetched yet, not a commit (a tree or blob), or an
    /// abbreviation shared by several objects. Refused text
    /// ([`RepoError::BadRevision`]) is an error, not None, so that garbage in
    /// a deploy marker is not mistaken for a commit still to be fetched.
    pub async fn resolve(&self, rev: &str) -> Result<Option<String>, RepoError> {
        check_revision(rev)?;
        let spec = format!("{rev}^{{commit}}");
        let args = ["rev-parse", "--verify", "--quiet", spec.as_str()];
        let (finished, out) = self.git.output(&args, 4096).await?;
        if !finished.status.success() {
            // --verify --quiet exits 1, silently, for "no such commit".
            return if finished.status.code() == Some(1) {
                Ok(None)
            } else {
                Err(failed(&args, &finished))
            };
        }
        let id = String::from_utf8_lossy(&out).trim().to_string();
        if !is_full_id(&id) {
            return Err(RepoError::Unexpected {
                command: runner::describe(&args),
                detail: format!("not a commit id: {}", quote_untrusted(&id)),
            });
        }
        Ok(Some(id))
    }

    /// The first parent of `rev`, None for a root commit (and for the
    /// oldest commit of a shallow clone, whose parents were not fetched).
    /// An unknown `rev` is [`RepoError::UnknownRevision`].
    pub async fn parent(&self, rev: &str) -> Result<Option<String>, RepoError> {
        let id = self.commit(rev).await?;
        let args = ["rev-list", "--parents", "-n", "1", id.as_str(), "--"];
        let out = self.git.checked(&args, 4096).await?;
        let text = String::from_utf8_lossy(&out);
        let mut ids = text.split_whitespace();
        if ids.next() != Some(id.as_str()) {
            return Err(RepoError::Unexpected {
                command: runner::describe(&args),
                detail: format!("expected {id} first, got {}", quote_untrusted(&text)),
            });
        }
        Ok(ids.next().filter(|p| is_full_id(p)).map(str::to_string))
    }

    /// What changed from `from` to `to` (a tree diff: what the deploy
    /// replaced, whatever the history between). Either revision unknown is
    /// [`RepoError::UnknownRevision`] naming it.
    ///
    /// Three git runs over the resolved ids: the file list with statuses,
    /// renames (`-M`) and line counts (`--raw --numstat -z`), the hunk
    /// headers (`-U0`, exact line numbers, streamed), and the `-U3` patch
    /// for the LLM, streamed, of which [`PATCH_KEEP_FACTOR`] times
    /// `max_diff_bytes` is kept and then cut to `max_diff_bytes` (see
    /// [`DeployDiff::patch`]).
    pub async fn diff(&self, from: &str, to: &str) -> Result<DeployDiff, RepoError> {
        let from = self.commit(from).await?;
        let to = self.commit(to).await?;

        let mut args: Vec<&str> = diff_args();
        args.extend(["--raw", "--numstat", "-z", from.as_str(), to.as_str(), "--"]);
        let out = self.git.checked(&args, LIST_LIMIT).await?;
        let mut files = parse::parse_raw_numstat(&out).map_err(|detail| RepoError::Unexpected {
            command: runner::describe(&args),
            detail,
        })?;
        if files.is_empty() {
            return Ok(DeployDiff {
                from,
                to,
                files,
                patch: String::new(),
                truncated: false,
            });
        }

        let mut args: Vec<&str> = diff_args();
        args.extend(["-U0", from.as_str(), to.as_str(), "--"]);
        let mut scanner = HunkScanner::default();
        let finished = self.git.stream(&args, |chunk| scanner.feed(chunk)).await?;
        if !finished.status.success() {
            return Err(failed(&args, &finished));
        }
        let hunks = scanner.finish();
        if hunks.len() == files.len() {
            for (file, hunks) in files.iter_mut().zip(hunks) {
                file.changed_lines = parse::changed_lines(&hunks);
                file.hunks = hunks;
            }
        } else {
            // Cannot happen with the same options over the same commits;
            // wrong line numbers would be worse than none.
            tracing::warn!(
                files = files.len(),
                sections = hunks.len(),
                "git diff -U0 disagrees with --raw on the file count; hunks left empty"
            );
        }

        let mut args: Vec<&str> = diff_args();
        args.extend(["-U3", from.as_str(), to.as_str(), "--"]);
        let ranks = files.iter().map(parse::patch_rank).collect();
        let keep = self.max_diff_bytes.saturating_mul(PATCH_KEEP_FACTOR);
        let mut collector = PatchCollector::new(ranks, self.max_diff_bytes, keep);
        let finished = self
            .git
            .stream(&args, |chunk| collector.feed(chunk))
            .await?;
        if !finished.status.success() {
            return Err(failed(&args, &finished));
        }
        let (sections, count) = collector.finish();
        if count != files.len() {
            tracing::warn!(
                files = files.len(),
                sections = count,
                "git diff -U3 disagrees with --raw on the file count"
            );
        }
        let (patch, truncated) = parse::assemble(&files, &sections, self.max_diff_bytes);
        Ok(DeployDiff {
            from,
            to,
            files,
            patch,
            truncated,
        })
    }

    /// Every tracked path at `rev` (`git ls-tree -r --name-only`), for
    /// resolving stack-frame paths. An unknown `rev` is
    /// [`RepoError::UnknownRevision`].
    pub async fn files_at(&self, rev: &str) -> Result<RepoFiles, RepoError> {
        let id = self.commit(rev).await?;
        let args = [
            "ls-tree",
            "-r",
            "--name-only",
            "-z",
            "--full-tree",
            id.as_str(),
        ];
        let out = self.git.checked(&args, LIST_LIMIT).await?;
        Ok(RepoFiles::from_paths(
            out.split(|&b| b == 0)
                .filter(|p| !p.is_empty())
                .map(|p| String::from_utf8_lossy(p).into_owned()),
        ))
    }

    /// `rev` resolved, or UnknownRevision naming it.
    async fn commit(&self, rev: &str) -> Result<String, RepoError> {
        self.resolve(rev)
            .await?
            .ok_or_else(|| RepoError::UnknownRevision {
                rev: quote_untrusted(rev),
                repo: self.git.dir.clone(),
            })
    }
}

/// The repository's paths at `revision` (HEAD when unknown), for resolving
/// frames and checking the model's files. `None` without a repository or
/// when git fails (logged: grouping goes on without paths).
pub async fn repo_files(repo: Option<&Repo>, revision: Option<&str>) -> Option<RepoFiles> {
    let repo = repo?;
    let rev = match revision {
        Some(rev) => match repo.resolve(rev).await {
            Ok(Some(full)) => full,
            _ => "HEAD".to_string(),
        },
        None => "HEAD".to_string(),
    };
    match repo.files_at(&rev).await {
        Ok(files) => Some(files),
        Err(error) => {
            tracing::warn!(%error, "cannot list the repository's files; frames stay unresolved");
            None
        }
    }
}

/// Options every diff run shares, so that the three runs list the same
/// files in the same order whatever the user's git config says: no external
/// diff or textconv driver (they could print anything, and run programs),
/// fixed `a/` `b/` prefixes, submodules as one-line changes, renames on,
/// hunks never merged across unchanged lines.
fn diff_args() -> Vec<&'static str> {
    vec![
        "diff",
        "--no-color",
        "--no-ext-diff",
        "--no-textconv",
        "--submodule=short",
        "-M",
        "--src-prefix=a/",
        "--dst-prefix=b/",
        "--inter-hunk-context=0",
    ]
}

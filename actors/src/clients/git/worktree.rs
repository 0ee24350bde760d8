//! Worktrees for the coding agent: one isolated checkout per attempt, on
//! its own branch, so an agent never touches the service's working tree.
//!
//! `git worktree add` writes only the new folder and the repository's
//! `.git/worktrees/<name>` entry; the service's checkout, index and current
//! branch are left alone. Every worktree lives under one parent folder that
//! Suture owns, so a sidecar killed mid-attempt finds its orphans there at
//! the next start ([`Repo::prune_worktrees`]).
//!
//! Commands in a worktree run with the repository's hooks disabled
//! (`core.hooksPath=/dev/null`): a hook is code from the repository, and an
//! agent's commit must not run it. Commits are never signed with the
//! operator's key (`commit.gpgsign=false`).

use std::path::{Path, PathBuf};

use super::runner::{Git, check_revision, is_full_id};
use super::{Repo, RepoError};

/// Most bytes of a worktree's diff read back (a fix is small; the
/// guardrails refuse anything near this long before).
pub const MAX_FIX_DIFF_BYTES: usize = 8 * 1024 * 1024;

/// Options that keep the repository's own hooks and signing keys out of an
/// agent's commits.
const SAFE_CONFIG: &[&str] = &[
    "-c",
    "core.hooksPath=/dev/null",
    "-c",
    "commit.gpgsign=false",
];

/// One attempt's checkout.
#[derive(Debug, Clone)]
pub struct Worktree {
    /// The checkout's folder.
    pub path: PathBuf,
    /// `suture/fix-<ticket>-<attempt>`.
    pub branch: String,
    /// The full commit id it started from.
    pub base: String,
    git: Git,
}

/// Who a commit is attributed to.
#[derive(Debug, Clone)]
pub struct CommitAuthor {
    pub name: String,
    pub email: String,
}

/// The branch of one attempt. Ticket ids are Suture's own (`T-12`), checked
/// again here because they end up in a ref name and a path.
pub fn fix_branch(ticket: &str, attempt: u32) -> Result<String, RepoError> {
    let valid = !ticket.is_empty()
        && ticket.len() <= 64
        && ticket
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        return Err(RepoError::BadRevision {
            rev: ticket.chars().take(80).collect(),
            reason: "a ticket id is letters, digits, '-' and '_' only",
        });
    }
    Ok(format!("suture/fix-{ticket}-{attempt}"))
}

/// Whether `branch` is one of the branches [`fix_branch`] makes.
pub(crate) fn fix_branch_name_ok(branch: &str) -> bool {
    branch.strip_prefix("suture/fix-").is_some_and(|rest| {
        !rest.is_empty()
            && rest
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    })
}

impl Repo {
    /// Adds a worktree for `ticket`'s attempt `attempt` at `base` (a full
    /// commit id) under `parent`, on branch `suture/fix-<ticket>-<attempt>`.
    /// A leftover branch of the same attempt (an interrupted run) is reset.
    pub async fn add_worktree(
        &self,
        parent: &Path,
        ticket: &str,
        attempt: u32,
        base: &str,
    ) -> Result<Worktree, RepoError> {
        check_revision(base)?;
        if !is_full_id(base) {
            return Err(RepoError::BadRevision {
                rev: base.chars().take(80).collect(),
                reason: "a worktree starts from a full commit id",
            });
        }
        let branch = fix_branch(ticket, attempt)?;
        std::fs::create_dir_all(parent).map_err(|source| RepoError::Io {
            command: format!("create {}", parent.display()),
            source,
        })?;
        let path = parent.join(format!("{ticket}-{attempt}"));
        let path_text = path.to_string_lossy().into_owned();
        let mut args: Vec<&str> = SAFE_CONFIG.to_vec();
        args.extend([
            "worktree", "add", "--quiet", "-B", &branch, &path_text, base,
        ]);
        self.git.checked(&args, 64 * 1024).await?;
        Ok(Worktree {
            git: Git {
                dir: path.clone(),
                timeout: self.git.timeout,
            },
            path,
            branch,
            base: base.to_string(),
        })
    }

    /// Removes a worktree, and its branch unless `keep_branch` (a fix that
    /// is committed keeps its branch for the review).
    pub async fn remove_worktree(
        &self,
        worktree: &Worktree,
        keep_branch: bool,
    ) -> Result<(), RepoError> {
        let path = worktree.path.to_string_lossy().into_owned();
        self.git
            .checked(
                &["worktree", "remove", "--force", "--force", &path],
                64 * 1024,
            )
            .await?;
        if !keep_branch {
            self.git
                .checked(&["branch", "-D", "--quiet", &worktree.branch], 64 * 1024)
                .await?;
        }
        Ok(())
    }

    /// Removes the worktree at `path` if it is still there (cleanup after
    /// an agent that stopped without removing its own).
    pub async fn remove_worktree_at(&self, path: &Path) -> Result<(), RepoError> {
        if path.exists() {
            self.force_remove(path).await?;
        }
        self.git.checked(&["worktree", "prune"], 64 * 1024).await?;
        Ok(())
    }

    /// `git worktree remove` even with changes or a lock in it.
    async fn force_remove(&self, path: &Path) -> Result<(), RepoError> {
        let text = path.to_string_lossy().into_owned();
        self.git
            .checked(
                &["worktree", "remove", "--force", "--force", &text],
                64 * 1024,
            )
            .await?;
        Ok(())
    }

    /// Removes every worktree registered under `parent` (orphans of a
    /// sidecar that stopped mid-attempt) and forgets those whose folder is
    /// already gone. Their branches stay: a committed fix may be waiting for
    /// review on one. Returns the folders removed.
    pub async fn prune_worktrees(&self, parent: &Path) -> Result<Vec<PathBuf>, RepoError> {
        let listing = self
            .git
            .checked(
                &["worktree", "list", "--porcelain", "-z"],
                super::LIST_LIMIT,
            )
            .await?;
        let parent = parent
            .canonicalize()
            .unwrap_or_else(|_| parent.to_path_buf());
        let mut removed = Vec::new();
        for field in listing.split(|b| *b == 0) {
            let Some(path) = field.strip_prefix(b"worktree ") else {
                continue;
            };
            let path = PathBuf::from(String::from_utf8_lossy(path).into_owned());
            // A folder already gone is only forgotten, by the prune below.
            if !path.starts_with(&parent) || !path.exists() {
                continue;
            }
            self.force_remove(&path).await?;
            removed.push(path);
        }
        self.git.checked(&["worktree", "prune"], 64 * 1024).await?;
        Ok(removed)
    }

    /// Whether `ancestor` is `descendant` or one of its ancestors (both
    /// full commit ids): is the blamed revision on the base branch, is a
    /// merged fix in a deploy.
    pub async fn is_ancestor(&self, ancestor: &str, descendant: &str) -> Result<bool, RepoError> {
        for rev in [ancestor, descendant] {
            check_revision(rev)?;
        }
        let args = ["merge-base", "--is-ancestor", ancestor, descendant];
        let (finished, _) = self.git.output(&args, 64 * 1024).await?;
        match finished.status.code() {
            Some(0) => Ok(true),
            Some(1) => Ok(false),
            _ => Err(super::runner::failed(&args, &finished)),
        }
    }
}

impl Worktree {
    /// A file's content at the base commit; `None` when it did not exist
    /// there. `path` is a repository path already checked by the caller.
    pub async fn base_file(&self, path: &str) -> Result<Option<Vec<u8>>, RepoError> {
        let spec = format!("{}:{path}", self.base);
        let (finished, out) = self
            .git
            .output(&["cat-file", "blob", &spec], MAX_FIX_DIFF_BYTES)
            .await?;
        Ok(finished.status.success().then_some(out))
    }

    /// The untracked files of the checkout that no ignore rule covers:
    /// what a test run leaves behind (`__pycache__`, build outputs) shows
    /// up here, and is removed before the fix's diff is taken.
    pub async fn untracked(&self) -> Result<std::collections::BTreeSet<String>, RepoError> {
        let out = self
            .git
            .checked(
                &["ls-files", "-z", "--others", "--exclude-standard"],
                super::LIST_LIMIT,
            )
            .await?;
        Ok(out
            .split(|b| *b == 0)
            .filter(|p| !p.is_empty())
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect())
    }

    /// The files of the checkout, tracked and untracked (ignored ones
    /// left out), as repository paths.
    pub async fn files(&self) -> Result<Vec<String>, RepoError> {
        let out = self
            .git
            .checked(
                &[
                    "ls-files",
                    "-z",
                    "--cached",
                    "--others",
                    "--exclude-standard",
                ],
                super::LIST_LIMIT,
            )
            .await?;
        let mut files: Vec<String> = out
            .split(|b| *b == 0)
            .filter(|p| !p.is_empty())
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect();
        files.sort();
        files.dedup();
        Ok(files)
    }

    /// Everything the worktree changed against its base, as a binary-safe
    /// unified diff: new files included (`git add -A` first), commits the
    /// agent may have made included (the diff is against the base commit).
    pub async fn diff(&self) -> Result<String, RepoError> {
        self.git.checked(&["add", "-A"], 64 * 1024).await?;
        let out = self
            .git
            .checked(
                &[
                    "diff",
                    "--cached",
                    "--binary",
                    "--no-color",
                    "--no-ext-diff",
                    "--no-textconv",
                    "-M",
                    "--src-prefix=a/",
                    "--dst-prefix=b/",
                    &self.base,
                ],
                MAX_FIX_DIFF_BYTES,
            )
            .await?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    /// Commits everything the worktree changed as one commit on its
    /// branch, on top of the base (commits an external agent made are
    /// folded into it); the new commit's full id. The repository's hooks
    /// do not run.
    pub async fn commit(&self, message: &str, author: &CommitAuthor) -> Result<String, RepoError> {
        self.git
            .checked(&["reset", "--soft", "--quiet", &self.base], 64 * 1024)
            .await?;
        self.git.checked(&["add", "-A"], 64 * 1024).await?;
        let name = format!("user.name={}", author.name);
        let email = format!("user.email={}", author.email);
        let mut args: Vec<&str> = SAFE_CONFIG.to_vec();
        args.extend([
            "-c",
            &name,
            "-c",
            &email,
            "commit",
            "--quiet",
            "--no-verify",
            "-m",
            message,
        ]);
        self.git.checked(&args, 64 * 1024).await?;
        let head = self.git.checked(&["rev-parse", "HEAD"], 1024).await?;
        Ok(String::from_utf8_lossy(&head).trim().to_string())
    }
}

//! What a deploy changed, read from the service's git checkout.
//!
//! Triage asks three things of the repository: which commits a deploy marker
//! names ([`Repo::resolve`], [`Repo::parent`]), what changed between them
//! ([`Repo::diff`]: the files, their hunks, and a unified diff cut to a
//! budget for the LLM), and which repository file a stack frame points at
//! ([`Repo::files_at`], [`RepoFiles::resolve`]).
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
//! # File classes
//!
//! [`classify`] sorts a path (case-insensitive; "a dir" is any directory
//! component) by the first rule that matches:
//!
//! 1. [`FileClass::Ci`]: under `.github/`, `.gitlab/`, `.circleci/`,
//!    `.buildkite/`, `.ci/`; or named `.gitlab-ci.yml`, `Jenkinsfile`,
//!    `.travis.yml`, `azure-pipelines.yml`, `bitbucket-pipelines.yml`,
//!    `.drone.yml`.
//! 2. [`FileClass::Test`]: under `test/`, `tests/`, `__tests__/`, `spec/`,
//!    `testdata/`; or named `test_*.py`, `*_test.py`, `*_test.go`,
//!    `*_test.rb`, `*_spec.rb`, `*.test.{js,ts,jsx,tsx,mjs,cjs}`, `*.spec.*`,
//!    `conftest.py`.
//! 3. [`FileClass::PromptConfig`]: under `prompts/`, or `*.prompt` (before
//!    docs, because a prompt written in Markdown is a prompt).
//! 4. [`FileClass::Docs`]: under `docs/`, `doc/`; `*.md`, `*.markdown`,
//!    `*.rst`, `*.adoc`; `*.txt` except dependency lists (`requirements*.txt`,
//!    `constraints*.txt`, `CMakeLists.txt`); `LICENSE*`, `LICENCE*`,
//!    `CHANGELOG*`, `README*`, `CONTRIBUTING*`, `AUTHORS*`, `NOTICE*`,
//!    `COPYING*` (the word alone or followed by `.`, `-`, `_`); images
//!    (`png jpg jpeg gif svg webp ico bmp tif tiff`).
//! 5. [`FileClass::Runtime`]: dependency manifests, lockfiles and container
//!    builds, though not code: `package.json`, `package-lock.json`,
//!    `npm-shrinkwrap.json`, `yarn.lock`, `pnpm-lock.yaml`, `Cargo.toml`,
//!    `Cargo.lock`, `go.mod`, `go.sum`, `go.work`, `requirements*.{txt,in}`,
//!    `constraints*.{txt,in}`, `pyproject.toml`, `setup.cfg`, `poetry.lock`,
//!    `uv.lock`, `Pipfile*`, `Gemfile*`, `pom.xml`, `build.gradle*`,
//!    `settings.gradle*`, `composer.{json,lock}`, `Dockerfile*`,
//!    `*.dockerfile`, `Containerfile`, `CMakeLists.txt`.
//! 6. [`FileClass::PromptConfig`]: `*.yaml`, `*.yml`, `*.toml`, `*.ini`,
//!    `*.cfg`, `*.conf`, `*.json`, `*.properties`, `*.env`; `.env*`.
//! 7. Everything else is [`FileClass::Runtime`].
//!
//! The order is the argument: a workflow YAML is CI before it is config, a
//! test fixture is a test before it is JSON, `docs/conf.py` is docs before it
//! is Python, and `package.json` is a manifest before it is JSON.

mod classify;
mod files;
mod git;
mod parse;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::duration;

pub use classify::{FileClass, classify};
pub use files::RepoFiles;
pub use git::MAX_REVISION_LEN;

use git::{Git, check_revision, failed, is_full_id, quote_untrusted};
use parse::{HunkScanner, PatchCollector};

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
}

impl Default for RepoConfig {
    fn default() -> Self {
        Self {
            path: PathBuf::new(),
            git_timeout: Duration::from_secs(30),
            max_diff_bytes: 48 * 1024,
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
            let mut detail = git::excerpt(&finished.stderr);
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
                command: git::describe(&args),
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
                command: git::describe(&args),
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
            command: git::describe(&args),
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

/// How a file changed between the two commits.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ChangeStatus {
    /// New in `to` (copies, when git's config detects them, count as added).
    Added,
    /// Changed in place (content, mode, or type).
    Modified,
    /// Gone in `to`.
    Deleted,
    /// Moved, possibly changed too (git's similarity of at least 50%).
    Renamed,
}

/// One `@@ -old_start,old_lines +new_start,new_lines @@` of a diff without
/// context lines (`-U0`), so the numbers are exactly the changed lines. A
/// pure deletion has `new_lines` 0 and `new_start` the line before it; a pure
/// addition has `old_lines` 0.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Hunk {
    pub old_start: u32,
    pub old_lines: u32,
    pub new_start: u32,
    pub new_lines: u32,
}

/// One file of a deploy's diff.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ChangedFile {
    /// Path in `to` (the old path for a deletion).
    pub path: String,
    /// The path in `from`, for renames.
    pub old_path: Option<String>,
    pub status: ChangeStatus,
    pub class: FileClass,
    /// Lines added and removed (0 and 0 for binary files).
    pub added: u32,
    pub removed: u32,
    pub binary: bool,
    /// Hunks without context, in order (empty for binary files, pure
    /// renames and mode changes).
    pub hunks: Vec<Hunk>,
    /// Line numbers in the new version that were added or changed ("+"
    /// lines), ascending.
    pub changed_lines: Vec<u32>,
}

impl ChangedFile {
    /// Whether `line` (new version) is within `slack` lines of a changed
    /// line, or of a deletion point: removed lines sat between `new_start`
    /// and `new_start + 1`, so both neighbours count as touched. Always false
    /// for a deleted file, which has no new version.
    pub fn touches_line(&self, line: u32, slack: u32) -> bool {
        if self.status == ChangeStatus::Deleted {
            return false;
        }
        self.hunks.iter().any(|h| {
            let (first, last) = if h.new_lines == 0 {
                (h.new_start, h.new_start.saturating_add(1))
            } else {
                (
                    h.new_start,
                    h.new_start.saturating_add(h.new_lines.saturating_sub(1)),
                )
            };
            line.saturating_add(slack) >= first && line <= last.saturating_add(slack)
        })
    }
}

/// What a deploy changed.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct DeployDiff {
    /// Full commit ids.
    pub from: String,
    pub to: String,
    /// Every changed file, in git's (path) order, never cut.
    pub files: Vec<ChangedFile>,
    /// The unified diff (`-U3`), at most `repo.max_diff_bytes`; git's patch
    /// unchanged when it fits. When it does not, files come in order of
    /// relevance (code, then prompt and config, lockfiles, tests, CI, docs):
    /// whole while they fit; the first that does not fit closes the lower
    /// ranks, the files of its own rank that fit still come whole, and it
    /// comes last, cut at a line boundary. A last line names what is missing:
    /// `[... diff cut at 49152 bytes: src/big.py cut short; 2 more files not shown: a.py, b.md ...]`
    /// (the note is at most 1 KiB; names that do not fit are counted as
    /// "and N others").
    pub patch: String,
    /// Whether `patch` is missing anything.
    pub truncated: bool,
}

impl DeployDiff {
    /// The changed files of class [`FileClass::Runtime`].
    pub fn runtime_files(&self) -> impl Iterator<Item = &ChangedFile> {
        self.files.iter().filter(|f| f.class.is_runtime())
    }

    /// True when every changed file's class is one of `classes` (and for an
    /// empty diff). `only_classes(&[Test, Docs, Ci])`: the deploy changed
    /// nothing that runs or configures the service.
    pub fn only_classes(&self, classes: &[FileClass]) -> bool {
        self.files.iter().all(|f| classes.contains(&f.class))
    }

    /// The changed file at `path` (its path in `to`; a deleted file's old
    /// path).
    pub fn file(&self, path: &str) -> Option<&ChangedFile> {
        self.files.iter().find(|f| f.path == path)
    }
}

#[cfg(test)]
mod tests;

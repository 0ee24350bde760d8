//! What a deploy changed, as data: the changed files, their hunks, and the
//! classes of files (code, tests, docs, CI, config) triage and the coder's
//! guardrails reason about. Pure: git itself is run by [`crate::clients::git`].
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

pub mod classify;
pub mod commits;
pub mod files;
pub mod parse;

use serde::{Deserialize, Serialize};

pub use classify::{FileClass, classify};
pub use commits::CommitSummary;
pub use files::RepoFiles;

/// Whether a streaming reader wants more of a command's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Keep reading.
    More,
    /// Enough: close the pipe and kill the command.
    Stop,
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

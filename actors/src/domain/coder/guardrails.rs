//! The rules every fix's final diff must pass, whatever wrote it (the
//! built-in agent or an external one): the diff of the worktree against
//! its base, read by [`super::diff::parse_diff`], is judged here and
//! nothing is committed, pushed or shown as a fix unless the [`Verdict`]
//! has no violation.
//!
//! Why each rule exists:
//!
//! - **Paths**: a fix for a production exception changes application code
//!   and tests. CI configuration runs with the repository's secrets,
//!   migrations change data irreversibly, lock files and manifests change
//!   what gets installed (the supply chain), env and key files hold
//!   secrets, deploy and infrastructure files change where and how the
//!   service runs, and `.git` is the repository itself. An agent that
//!   reads attacker-written exception text must not be able to touch any of
//!   them, so they are denied by default; `allow_manifests` lifts the
//!   manifest rule for teams who want dependency bumps proposed.
//! - **Size**: a reviewer can check five files and 200 changed lines; a
//!   larger fix is a refactoring, not a hot fix.
//! - **Binary files, symlinks, submodules and mode changes**: none is
//!   reviewable in a diff, and a symlink can point a later write (or the
//!   test run) outside the worktree.
//! - **Tests**: the fix is proven by the project's tests, so weakening
//!   them proves nothing. In a test file, new tests are welcome; a deleted
//!   test file, a removed test function, a removed or changed assertion,
//!   or a new skip/xfail/only/ignore marker rejects the fix.
//!
//! Globs use [`globset`] with `*` not crossing `/` (use `**/` for "at any
//! depth") and case-insensitive matching (`DOCKERFILE` is a Dockerfile; a
//! case-insensitive filesystem would agree).

use std::collections::HashMap;
use std::fmt;

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};
use regex::Regex;
use serde::{Deserialize, Serialize};

use super::diff::{
    DiffError, FileDiff, FileStatus, LineKind, MODE_EXECUTABLE, MODE_GITLINK, MODE_SYMLINK,
    parse_diff,
};

/// The guardrails' settings (under `[agent]` in the configuration). Every
/// field has a default; list fields replace the default list when set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GuardrailConfig {
    /// Globs every changed path must match. Default `["**"]`: anything not
    /// denied. Narrow it (`["src/**", "tests/**"]`) to confine fixes.
    pub allow: Vec<String>,
    /// Globs no changed path may match, checked after `allow` and winning
    /// over it. Default: [`DEFAULT_DENY`] (CI, migrations, lock files, env
    /// and secret files, deploy and infrastructure, `.git`).
    pub deny: Vec<String>,
    /// Dependency manifests: denied unless `allow_manifests`. Default:
    /// [`DEFAULT_MANIFESTS`].
    pub manifests: Vec<String>,
    /// Let fixes change dependency manifests (never lock files: those stay
    /// in `deny`). Default false: a new dependency is a decision for a
    /// person.
    pub allow_manifests: bool,
    /// Most files one fix may touch (added, changed, renamed or deleted).
    /// Default 5.
    pub max_files: usize,
    /// Most changed lines (added plus removed) one fix may have. Default
    /// 200: what a reviewer checks in one sitting.
    pub max_diff_lines: usize,
    /// Globs of test files, where tests may be added but not removed or
    /// weakened. Default: [`DEFAULT_TEST_GLOBS`].
    pub test_globs: Vec<String>,
}

/// Denied paths by default. Lock files are listed by name and as `*.lock`.
pub const DEFAULT_DENY: &[&str] = &[
    // CI configuration: runs with the repository's secrets.
    "**/.github/**",
    "**/.gitlab-ci.yml",
    "**/.gitlab/**",
    "**/.circleci/**",
    "**/Jenkinsfile",
    "**/.travis.yml",
    "**/azure-pipelines.yml",
    "**/bitbucket-pipelines.yml",
    "**/.drone.yml",
    "**/.buildkite/**",
    // Migrations: irreversible data changes.
    "**/migrations/**",
    "**/migrate/**",
    "**/alembic/versions/**",
    // Lock files: what gets installed.
    "**/*.lock",
    "**/Cargo.lock",
    "**/package-lock.json",
    "**/npm-shrinkwrap.json",
    "**/yarn.lock",
    "**/pnpm-lock.yaml",
    "**/poetry.lock",
    "**/Pipfile.lock",
    "**/uv.lock",
    "**/Gemfile.lock",
    "**/composer.lock",
    "**/go.sum",
    // Env and secret files.
    "**/.env",
    "**/.env.*",
    "**/.envrc",
    "**/*.env",
    "**/*.pem",
    "**/*.key",
    "**/*.p12",
    "**/*.pfx",
    "**/*.jks",
    "**/*.keystore",
    "**/id_rsa*",
    "**/id_ed25519*",
    "**/secrets/**",
    "**/credentials*",
    "**/.npmrc",
    "**/.pypirc",
    "**/.netrc",
    // Deploy and infrastructure.
    "**/deploy/**",
    "**/infra/**",
    "**/k8s/**",
    "**/kubernetes/**",
    "**/terraform/**",
    "**/*.tf",
    "**/*.tfvars",
    "**/helm/**",
    "**/charts/**",
    "**/Dockerfile*",
    "**/*.dockerfile",
    "**/Containerfile",
    "**/docker-compose*",
    "**/compose.yaml",
    "**/compose.yml",
    "**/Procfile",
    // The repository itself.
    "**/.git",
    "**/.git/**",
    "**/.gitmodules",
];

/// Dependency manifests, denied unless `allow_manifests`.
pub const DEFAULT_MANIFESTS: &[&str] = &[
    "**/Cargo.toml",
    "**/package.json",
    "**/pyproject.toml",
    "**/requirements*.txt",
    "**/requirements*.in",
    "**/constraints*.txt",
    "**/setup.py",
    "**/setup.cfg",
    "**/Pipfile",
    "**/go.mod",
    "**/go.work",
    "**/Gemfile",
    "**/*.gemspec",
    "**/pom.xml",
    "**/build.gradle*",
    "**/settings.gradle*",
    "**/composer.json",
];

/// Test files by default: the conventions of pytest, unittest, Jest,
/// Mocha, node:test, Go, RSpec, Minitest, JUnit and Rust integration tests.
pub const DEFAULT_TEST_GLOBS: &[&str] = &[
    "**/test/**",
    "**/tests/**",
    "**/__tests__/**",
    "**/spec/**",
    "**/test_*.py",
    "**/*_test.py",
    "**/conftest.py",
    "**/*.test.{js,jsx,ts,tsx,mjs,cjs}",
    "**/*.spec.{js,jsx,ts,tsx,mjs,cjs}",
    "**/*_test.go",
    "**/*_spec.rb",
    "**/*_test.rb",
    "**/*Test.java",
    "**/*Tests.java",
    "**/*Test.kt",
];

impl Default for GuardrailConfig {
    fn default() -> Self {
        let owned = |list: &[&str]| list.iter().map(|s| s.to_string()).collect();
        GuardrailConfig {
            allow: vec!["**".to_string()],
            deny: owned(DEFAULT_DENY),
            manifests: owned(DEFAULT_MANIFESTS),
            allow_manifests: false,
            max_files: 5,
            max_diff_lines: 200,
            test_globs: owned(DEFAULT_TEST_GLOBS),
        }
    }
}

/// A glob in the configuration that does not compile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("agent.guardrails.{field}: bad glob {glob:?}: {reason}")]
pub struct GlobError {
    pub field: &'static str,
    pub glob: String,
    pub reason: String,
}

/// Which rule a violation broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    PathNotAllowed,
    PathDenied,
    Manifest,
    TooManyFiles,
    TooManyLines,
    Binary,
    Symlink,
    Submodule,
    ModeChange,
    TestDeleted,
    TestRemoved,
    AssertionRemoved,
    AssertionWeakened,
    AssertionChanged,
    TestSkipped,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::PathNotAllowed => "path_not_allowed",
            Rule::PathDenied => "path_denied",
            Rule::Manifest => "manifest",
            Rule::TooManyFiles => "too_many_files",
            Rule::TooManyLines => "too_many_lines",
            Rule::Binary => "binary",
            Rule::Symlink => "symlink",
            Rule::Submodule => "submodule",
            Rule::ModeChange => "mode_change",
            Rule::TestDeleted => "test_deleted",
            Rule::TestRemoved => "test_removed",
            Rule::AssertionRemoved => "assertion_removed",
            Rule::AssertionWeakened => "assertion_weakened",
            Rule::AssertionChanged => "assertion_changed",
            Rule::TestSkipped => "test_skipped",
        }
    }
}

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// The path at fault; `None` for rules on the whole diff (size).
    pub file: Option<String>,
    pub rule: Rule,
    /// The line at fault: in the base revision for a removed line, in the
    /// fix for an added one (the reason says which).
    pub line: Option<u32>,
    /// For a person and for the model, which gets it back.
    pub reason: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, self.line) {
            (Some(file), Some(line)) => write!(f, "{file}:{line}: ")?,
            (Some(file), None) => write!(f, "{file}: ")?,
            _ => {}
        }
        write!(f, "{} ({})", self.reason, self.rule.as_str())
    }
}

/// The guardrails' judgement of one diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub violations: Vec<Violation>,
    pub files: usize,
    pub added: usize,
    pub removed: usize,
}

impl Verdict {
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.passed() {
            return write!(
                f,
                "guardrails passed: {} files, +{} -{}",
                self.files, self.added, self.removed
            );
        }
        write!(
            f,
            "the change breaks {} guardrail{}:",
            self.violations.len(),
            if self.violations.len() == 1 { "" } else { "s" }
        )?;
        for v in &self.violations {
            write!(f, "\n- {v}")?;
        }
        Ok(())
    }
}

/// The compiled guardrails.
#[derive(Debug, Clone)]
pub struct Guardrails {
    allow: GlobSet,
    deny: GlobSet,
    deny_globs: Vec<String>,
    manifests: GlobSet,
    allow_manifests: bool,
    tests: GlobSet,
    max_files: usize,
    max_diff_lines: usize,
    patterns: &'static Patterns,
}

fn compile(field: &'static str, globs: &[String]) -> Result<GlobSet, GlobError> {
    let mut set = GlobSetBuilder::new();
    for glob in globs {
        let compiled: Glob = GlobBuilder::new(glob)
            .case_insensitive(true)
            .literal_separator(true)
            .build()
            .map_err(|e| GlobError {
                field,
                glob: glob.clone(),
                reason: e.kind().to_string(),
            })?;
        set.add(compiled);
    }
    set.build().map_err(|e| GlobError {
        field,
        glob: String::new(),
        reason: e.to_string(),
    })
}

impl Guardrails {
    pub fn new(config: &GuardrailConfig) -> Result<Guardrails, GlobError> {
        Ok(Guardrails {
            allow: compile("allow", &config.allow)?,
            deny: compile("deny", &config.deny)?,
            deny_globs: config.deny.clone(),
            manifests: compile("manifests", &config.manifests)?,
            allow_manifests: config.allow_manifests,
            tests: compile("test_globs", &config.test_globs)?,
            max_files: config.max_files,
            max_diff_lines: config.max_diff_lines,
            patterns: patterns(),
        })
    }

    /// Whether `path` is a test file.
    pub fn is_test(&self, path: &str) -> bool {
        self.tests.is_match(path)
    }

    /// Judges `git diff` output (see [`super::diff`] for the command).
    pub fn check_diff(&self, diff: &str) -> Result<Verdict, DiffError> {
        Ok(self.check(&parse_diff(diff)?))
    }

    /// Judges a parsed diff. Every violation is listed, not only the first:
    /// the model fixes them all in one round.
    pub fn check(&self, files: &[FileDiff]) -> Verdict {
        let mut violations = Vec::new();
        let added: usize = files.iter().map(FileDiff::added).sum();
        let removed: usize = files.iter().map(FileDiff::removed).sum();
        if files.len() > self.max_files {
            violations.push(Violation {
                file: None,
                rule: Rule::TooManyFiles,
                line: None,
                reason: format!(
                    "{} files changed, at most {} allowed: keep the fix to the code that failed \
                     and its test",
                    files.len(),
                    self.max_files
                ),
            });
        }
        if added + removed > self.max_diff_lines {
            violations.push(Violation {
                file: None,
                rule: Rule::TooManyLines,
                line: None,
                reason: format!(
                    "{} lines changed (+{added} -{removed}), at most {} allowed: a fix this \
                     large is a refactoring",
                    added + removed,
                    self.max_diff_lines
                ),
            });
        }
        for file in files {
            self.check_paths(file, &mut violations);
            self.check_kind(file, &mut violations);
            self.check_tests(file, &mut violations);
        }
        Verdict {
            violations,
            files: files.len(),
            added,
            removed,
        }
    }

    fn check_paths(&self, file: &FileDiff, out: &mut Vec<Violation>) {
        for path in file.paths() {
            let at = |rule, reason| Violation {
                file: Some(path.to_string()),
                rule,
                line: None,
                reason,
            };
            if !self.allow.is_match(path) {
                out.push(at(
                    Rule::PathNotAllowed,
                    "outside the paths fixes may change (agent.guardrails.allow)".to_string(),
                ));
            }
            if let Some(&index) = self.deny.matches(path).first() {
                let glob = self.deny_globs.get(index).map_or("?", String::as_str);
                out.push(at(
                    Rule::PathDenied,
                    format!("fixes may not change this file (agent.guardrails.deny: `{glob}`)"),
                ));
            } else if !self.allow_manifests && self.manifests.is_match(path) {
                out.push(at(
                    Rule::Manifest,
                    "a dependency manifest: changing dependencies is a decision for a person \
                     (agent.guardrails.allow_manifests)"
                        .to_string(),
                ));
            }
        }
    }

    fn check_kind(&self, file: &FileDiff, out: &mut Vec<Violation>) {
        let at = |rule, reason: &str| Violation {
            file: Some(file.path().to_string()),
            rule,
            line: None,
            reason: reason.to_string(),
        };
        if file.binary {
            out.push(at(Rule::Binary, "a binary file: not reviewable in a diff"));
        }
        let modes = [file.old_mode, file.new_mode];
        if modes.contains(&Some(MODE_SYMLINK)) {
            out.push(at(
                Rule::Symlink,
                "a symbolic link: it can point outside the repository",
            ));
        }
        if modes.contains(&Some(MODE_GITLINK)) {
            out.push(at(
                Rule::Submodule,
                "a submodule: fixes stay in this repository",
            ));
        }
        match (file.status, file.old_mode, file.new_mode) {
            (FileStatus::Added | FileStatus::Copied, _, Some(MODE_EXECUTABLE)) => out.push(at(
                Rule::ModeChange,
                "a new executable file: fixes add source and tests, not programs to run",
            )),
            (FileStatus::Modified | FileStatus::Renamed, Some(old), Some(new)) if old != new => {
                let reason = if new == MODE_EXECUTABLE {
                    "made executable: a fix does not change file modes".to_string()
                } else {
                    format!("file mode changed from {old:o} to {new:o}")
                };
                if !matches!(new, MODE_SYMLINK | MODE_GITLINK) {
                    out.push(at(Rule::ModeChange, &reason));
                }
            }
            _ => {}
        }
    }

    fn check_tests(&self, file: &FileDiff, out: &mut Vec<Violation>) {
        let old_is_test = file.old_path.as_deref().is_some_and(|p| self.is_test(p));
        let new_is_test = file.new_path.as_deref().is_some_and(|p| self.is_test(p));
        if old_is_test && !new_is_test {
            let reason = if file.status == FileStatus::Deleted {
                "an existing test file was deleted".to_string()
            } else {
                format!(
                    "an existing test file was moved out of the test paths to `{}`",
                    file.path()
                )
            };
            out.push(Violation {
                file: file.old_path.clone(),
                rule: Rule::TestDeleted,
                line: None,
                reason,
            });
            return;
        }
        if !new_is_test {
            return;
        }
        let path = file.path().to_string();
        let p = self.patterns;
        // Added lines by their whitespace-free text, to tell a moved or
        // re-indented line from a removed one.
        let mut added: HashMap<String, usize> = HashMap::new();
        for line in file.lines().filter(|l| l.kind == LineKind::Added) {
            *added.entry(squash(&line.text)).or_default() += 1;
        }
        for hunk in &file.hunks {
            // Added assertions of this hunk not matching a removed line: the
            // candidates a changed assertion became.
            let mut replacements: Vec<&str> = hunk
                .lines
                .iter()
                .filter(|l| l.kind == LineKind::Added && p.assertion.is_match(&l.text))
                .map(|l| l.text.as_str())
                .collect();
            let removed: Vec<_> = hunk
                .lines
                .iter()
                .filter(|l| l.kind == LineKind::Removed)
                .collect();
            replacements.retain(|r| !removed.iter().any(|l| squash(&l.text) == squash(r)));
            let mut replacements = replacements.into_iter();
            for line in &removed {
                let key = squash(&line.text);
                if key.is_empty() {
                    continue;
                }
                if let Some(count) = added.get_mut(&key).filter(|c| **c > 0) {
                    *count -= 1;
                    continue;
                }
                let violation = |rule, reason: String| Violation {
                    file: Some(path.clone()),
                    rule,
                    line: line.old_line,
                    reason,
                };
                let shown = clip(&line.text);
                if p.test_def.is_match(&line.text) {
                    out.push(violation(
                        Rule::TestRemoved,
                        format!("an existing test was removed (base line): `{shown}`"),
                    ));
                } else if p.assertion.is_match(&line.text) {
                    out.push(match replacements.next() {
                        None => violation(
                            Rule::AssertionRemoved,
                            format!("an existing assertion was removed (base line): `{shown}`"),
                        ),
                        Some(new) => match weakening(p, &line.text, new) {
                            Some(how) => violation(
                                Rule::AssertionWeakened,
                                format!(
                                    "an existing assertion was weakened ({how}): `{shown}` became `{}`",
                                    clip(new)
                                ),
                            ),
                            None => violation(
                                Rule::AssertionChanged,
                                format!(
                                    "an existing assertion was changed: `{shown}` became `{}`; \
                                     keep it and add new assertions instead",
                                    clip(new)
                                ),
                            ),
                        },
                    });
                }
            }
        }
        for line in file.lines().filter(|l| l.kind == LineKind::Added) {
            if p.skip.is_match(&line.text) {
                out.push(Violation {
                    file: Some(path.clone()),
                    rule: Rule::TestSkipped,
                    line: line.new_line,
                    reason: format!(
                        "a skip, xfail, only or ignore marker was added: `{}`",
                        clip(&line.text)
                    ),
                });
            }
        }
    }
}

/// The line without any whitespace: `assert x==1` and `assert x == 1`
/// are one assertion.
fn squash(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}

fn clip(text: &str) -> String {
    let text = text.trim();
    let mut out: String = text.chars().take(120).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}

/// Why `new` is looser than `old`, if it visibly is: always true, a new
/// skip, or a different comparison or matcher.
fn weakening(p: &Patterns, old: &str, new: &str) -> Option<String> {
    if p.trivial.is_match(new) {
        return Some("it is now always true".to_string());
    }
    if p.skip.is_match(new) {
        return Some("it is now skipped".to_string());
    }
    let ops = |text: &str| -> Vec<String> {
        p.comparison
            .find_iter(text)
            .map(|m| m.as_str().split_whitespace().collect::<Vec<_>>().join(" "))
            .collect()
    };
    let (before, after) = (ops(old), ops(new));
    if before != after {
        let show = |v: &[String]| {
            if v.is_empty() {
                "none".to_string()
            } else {
                v.join(", ")
            }
        };
        return Some(format!(
            "comparison {} became {}",
            show(&before),
            show(&after)
        ));
    }
    None
}

/// The regular expressions of the test rules, compiled once.
#[derive(Debug)]
struct Patterns {
    /// A line asserting something, in the common test frameworks.
    assertion: Regex,
    /// A line defining a test.
    test_def: Regex,
    /// A marker that skips, expects failure, or runs only some tests.
    skip: Regex,
    /// An assertion that cannot fail.
    trivial: Regex,
    /// Comparison operators and matchers, in order of appearance.
    comparison: Regex,
}

fn patterns() -> &'static Patterns {
    static PATTERNS: std::sync::OnceLock<Patterns> = std::sync::OnceLock::new();
    PATTERNS.get_or_init(|| {
        let build = |re: &str| Regex::new(re).unwrap_or_else(|e| panic!("pattern {re}: {e}"));
        Patterns {
            assertion: build(
                r"(?x)
                ^\s*assert\b                                  # Python
                | \bassert\w*\s*[!(]                          # assertEqual( assert_eq! assert(
                | \bexpect\s*\(                               # Jest, Chai, RSpec
                | \bassert\.\w+                               # node:assert, Chai
                | \b(?:require|assert)\.\w+\s*\(              # testify
                | \bshould\b                                  # Chai, RSpec
                | \bt\.(?:Error|Errorf|Fatal|Fatalf|Fail|FailNow)\s*\(   # Go
                | \bt\.(?:is|not|deepEqual|true|false|throws|equal|ok|same|match)\s*\(   # AVA, tap
                | \bpytest\.raises\b
                | \bverify\s*\(                               # Mockito
                | \b(?:must|wont)_\w+                         # Minitest
                ",
            ),
            test_def: build(
                r"(?x)
                ^\s*(?:async\s+)?def\s+test\w*\s*\(           # pytest, unittest
                | ^\s*(?:it|test|describe|context)\s*\(       # Jest, Mocha, node:test, RSpec
                | ^\s*\#\[(?:tokio::)?test\b                  # Rust
                | ^\s*func\s+Test\w*\s*\(                     # Go
                | ^\s*@Test\b                                 # JUnit
                ",
            ),
            skip: build(
                r#"(?x)
                @pytest\.mark\.(?:skip|skipif|xfail)\b
                | \bpytest\.(?:skip|xfail|importorskip)\s*\(
                | @unittest\.(?:skip\w*|expectedFailure)\b
                | \bskipTest\s*\(
                | \bSkipTest\b
                | \b(?:it|test|describe|context|suite)\.(?:skip|only|todo)\b
                | (?:^|[^.\w])(?:xit|xdescribe|xtest|xcontext|fit|fdescribe)\s*\(
                | [{,]\s*(?:skip|todo|only)\s*:
                | \bt\.(?:skip|todo)\s*\(
                | \#\[ignore\b
                | \bt\.Skip(?:Now|f)?\s*\(
                | @(?:Disabled|Ignore)\b
                | ^\s*(?:skip|pending)(?:\s*\(|\s+["']|\s*$)   # RSpec, Minitest
                "#,
            ),
            trivial: build(
                r"(?x)
                ^\s*assert\s*\(?\s*(?:True|1|not\s+(?:False|None|0))\s*\)?\s*(?:,.*)?$
                | \bassert!\s*\(\s*true\s*[,)]
                | \bassert(?:True)?\s*\(\s*(?:true|True|1)\s*[,)]
                | \bassert\.ok\s*\(\s*(?:true|1)\s*[,)]
                | \bexpect\s*\(\s*(?:true|1)\s*\)\s*\.\s*toBe(?:Truthy)?\s*\(\s*(?:true)?\s*\)
                | \bor\s+True\b
                | \|\|\s*true\b
                ",
            ),
            comparison: build(
                r"(?x)
                ===|!==|==|!=|<=|>=|<|>
                | \bis\s+not\b | \bnot\s+in\b | \bis\b | \bin\b
                | \bto(?:[A-Z]\w*)\b
                | \bassert\w*\b
                ",
            ),
        }
    })
}

#[cfg(test)]
#[path = "guardrails_tests.rs"]
mod tests;

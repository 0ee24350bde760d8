//! What kind of file a repository path is. The rules are listed in the
//! module doc of [`crate::domain::diff`]; this file is their one implementation.

use serde::{Deserialize, Serialize};

/// What a changed file can do to a running service.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum FileClass {
    /// Code, dependency manifests and lockfiles, Dockerfiles: what the
    /// service executes or is built from.
    Runtime,
    /// Prompts and configuration files (YAML, TOML, JSON, `.env`, ...):
    /// not code, yet able to change behaviour at run time.
    PromptConfig,
    /// Tests and test data: never run in production.
    Test,
    /// Documentation, licences, changelogs, images.
    Docs,
    /// CI pipelines: they change how the service is built and checked, not
    /// what it does.
    Ci,
}

impl FileClass {
    /// The snake_case name, as serialized.
    pub fn name(self) -> &'static str {
        match self {
            FileClass::Runtime => "runtime",
            FileClass::PromptConfig => "prompt_config",
            FileClass::Test => "test",
            FileClass::Docs => "docs",
            FileClass::Ci => "ci",
        }
    }

    /// Only [`FileClass::Runtime`]. Prompt and config changes are not
    /// runtime here, though triage may still treat them as possibly
    /// relevant; see [`super::DeployDiff::only_classes`].
    pub fn is_runtime(self) -> bool {
        self == FileClass::Runtime
    }
}

/// Classifies a repository path (`/`-separated, relative to the root;
/// backslashes are accepted too). Case-insensitive. The first matching rule
/// wins, in the order the module doc of [`crate::domain::diff`] lists.
pub fn classify(path: &str) -> FileClass {
    let lower = path.replace('\\', "/").to_ascii_lowercase();
    let mut parts = lower.split('/').filter(|p| !p.is_empty());
    let name = parts.next_back().unwrap_or("");
    let dirs: Vec<&str> = parts.collect();
    let in_dir = |names: &[&str]| dirs.iter().any(|d| names.contains(d));
    let ext = extension(name);

    if in_dir(&[".github", ".gitlab", ".circleci", ".buildkite", ".ci"])
        || matches!(
            name,
            ".gitlab-ci.yml"
                | "jenkinsfile"
                | ".travis.yml"
                | "azure-pipelines.yml"
                | "bitbucket-pipelines.yml"
                | ".drone.yml"
        )
    {
        return FileClass::Ci;
    }

    if in_dir(&["test", "tests", "__tests__", "spec", "testdata"]) || is_test_name(name) {
        return FileClass::Test;
    }

    // Before docs: a prompt written in Markdown is a prompt.
    if in_dir(&["prompts"]) || ext == "prompt" {
        return FileClass::PromptConfig;
    }

    if in_dir(&["docs", "doc"])
        || matches!(ext, "md" | "markdown" | "rst" | "adoc")
        || (ext == "txt" && !is_dependency_list(name))
        || [
            "license",
            "licence",
            "changelog",
            "readme",
            "contributing",
            "authors",
            "notice",
            "copying",
        ]
        .iter()
        .any(|word| stem_is(name, word))
        || matches!(
            ext,
            "png" | "jpg" | "jpeg" | "gif" | "svg" | "webp" | "ico" | "bmp" | "tif" | "tiff"
        )
    {
        return FileClass::Docs;
    }

    if is_manifest(name) {
        return FileClass::Runtime;
    }

    if matches!(
        ext,
        "yaml" | "yml" | "toml" | "ini" | "cfg" | "conf" | "json" | "properties" | "env"
    ) || name.starts_with(".env")
    {
        return FileClass::PromptConfig;
    }

    FileClass::Runtime
}

/// Lockfiles: runtime (they pin what is installed), but their diffs are long
/// and rarely explain an error, so the patch shown to the LLM puts them after
/// code and configuration.
pub(crate) fn is_lockfile(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    let name = lower.rsplit(['/', '\\']).next().unwrap_or("");
    matches!(
        name,
        "package-lock.json"
            | "npm-shrinkwrap.json"
            | "yarn.lock"
            | "pnpm-lock.yaml"
            | "cargo.lock"
            | "go.sum"
            | "poetry.lock"
            | "uv.lock"
            | "pipfile.lock"
            | "gemfile.lock"
            | "composer.lock"
    )
}

/// The text after the last dot, `""` without one. `.env` has extension `env`.
fn extension(name: &str) -> &str {
    name.rsplit_once('.').map_or("", |(_, ext)| ext)
}

/// `LICENSE`, `LICENSE.md`, `LICENSE-MIT`, `license_apache`: the word, alone
/// or followed by a separator (so `notices.py` is not `NOTICE`).
fn stem_is(name: &str, word: &str) -> bool {
    name.strip_prefix(word)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '-', '_']))
}

fn is_test_name(name: &str) -> bool {
    (name.starts_with("test_") && name.ends_with(".py"))
        || name == "conftest.py"
        || [
            "_test.py",
            "_test.go",
            "_test.rb",
            "_spec.rb",
            ".test.js",
            ".test.ts",
            ".test.jsx",
            ".test.tsx",
            ".test.mjs",
            ".test.cjs",
        ]
        .iter()
        .any(|suffix| name.ends_with(suffix))
        || name.contains(".spec.")
}

/// `requirements*.txt`, `constraints*.txt` (and their pip-tools `.in`
/// sources) and `CMakeLists.txt` are text files the build reads, not prose.
fn is_dependency_list(name: &str) -> bool {
    ((name.starts_with("requirements") || name.starts_with("constraints"))
        && matches!(extension(name), "txt" | "in"))
        || name == "cmakelists.txt"
}

/// Dependency manifests, lockfiles and container builds: they change what
/// runs even though they are not code.
fn is_manifest(name: &str) -> bool {
    is_dependency_list(name)
        || is_lockfile(name)
        || matches!(
            name,
            "package.json"
                | "cargo.toml"
                | "go.mod"
                | "go.work"
                | "pyproject.toml"
                | "setup.cfg"
                | "pom.xml"
                | "composer.json"
                | "containerfile"
        )
        || [
            "pipfile",
            "gemfile",
            "build.gradle",
            "settings.gradle",
            "dockerfile",
        ]
        .iter()
        .any(|prefix| name.starts_with(prefix))
        || name.ends_with(".dockerfile")
}

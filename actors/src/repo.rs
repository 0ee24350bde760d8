//! TEMPORARY interface stub: replaced by the real module from branch helper/repo.
#![allow(dead_code, unused_variables, clippy::unused_async)]
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RepoConfig {
    pub path: PathBuf,
    #[serde(with = "crate::config::duration")]
    pub git_timeout: Duration,
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
#[derive(Debug, Clone)]
pub struct Repo;
#[derive(Debug, thiserror::Error)]
#[error("stub")]
pub struct RepoError;
impl Repo {
    pub async fn open(config: &RepoConfig) -> Result<Option<Repo>, RepoError> {
        Ok(None)
    }
    pub async fn resolve(&self, rev: &str) -> Result<Option<String>, RepoError> {
        Err(RepoError)
    }
    pub async fn parent(&self, rev: &str) -> Result<Option<String>, RepoError> {
        Err(RepoError)
    }
    pub async fn diff(&self, from: &str, to: &str) -> Result<DeployDiff, RepoError> {
        Err(RepoError)
    }
    pub async fn files_at(&self, rev: &str) -> Result<RepoFiles, RepoError> {
        Err(RepoError)
    }
}
#[derive(Debug, Clone, Default)]
pub struct RepoFiles(Vec<String>);
impl RepoFiles {
    pub fn from_paths(paths: impl IntoIterator<Item = String>) -> Self {
        Self(paths.into_iter().collect())
    }
    pub fn contains(&self, path: &str) -> bool {
        self.0.iter().any(|p| p == path)
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn resolve(&self, frame_path: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|p| frame_path.ends_with(p.as_str()))
            .map(|s| s.as_str())
    }
}
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FileClass {
    Runtime,
    PromptConfig,
    Test,
    Docs,
    Ci,
}
impl FileClass {
    pub fn name(self) -> &'static str {
        "runtime"
    }
    pub fn is_runtime(self) -> bool {
        matches!(self, FileClass::Runtime)
    }
}
pub fn classify(path: &str) -> FileClass {
    FileClass::Runtime
}
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ChangeStatus {
    Added,
    Modified,
    Deleted,
    Renamed,
}
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Hunk {
    pub old_start: u32,
    pub old_lines: u32,
    pub new_start: u32,
    pub new_lines: u32,
}
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ChangedFile {
    pub path: String,
    pub old_path: Option<String>,
    pub status: ChangeStatus,
    pub class: FileClass,
    pub added: u32,
    pub removed: u32,
    pub binary: bool,
    pub hunks: Vec<Hunk>,
    pub changed_lines: Vec<u32>,
}
impl ChangedFile {
    pub fn touches_line(&self, line: u32, slack: u32) -> bool {
        false
    }
}
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct DeployDiff {
    pub from: String,
    pub to: String,
    pub files: Vec<ChangedFile>,
    pub patch: String,
    pub truncated: bool,
}
impl DeployDiff {
    pub fn runtime_files(&self) -> impl Iterator<Item = &ChangedFile> {
        self.files.iter().filter(|f| f.class.is_runtime())
    }
    pub fn file(&self, path: &str) -> Option<&ChangedFile> {
        self.files.iter().find(|f| f.path == path)
    }
}

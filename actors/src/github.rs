//! TEMPORARY interface stub: replaced by the real module from branch helper/github.
#![allow(dead_code, unused_variables, clippy::unused_async)]
use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GitHubConfig {
    pub repo: String,
    pub token_env: String,
    pub api_url: String,
    pub labels: Vec<String>,
    #[serde(with = "crate::config::duration")]
    pub timeout: Duration,
}
impl Default for GitHubConfig {
    fn default() -> Self {
        Self {
            repo: String::new(),
            token_env: "GITHUB_TOKEN".into(),
            api_url: "https://api.github.com".into(),
            labels: vec!["suture".into()],
            timeout: Duration::from_secs(30),
        }
    }
}
impl GitHubConfig {
    pub fn is_configured(&self) -> bool {
        !self.repo.is_empty()
    }
}
pub struct IssueDraft {
    pub ticket_id: String,
    pub title: String,
    pub body: String,
    pub labels: Vec<String>,
}
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct IssueRef {
    pub number: u64,
    pub url: String,
}
#[derive(Clone, Debug)]
pub struct GitHub;
#[derive(Debug, thiserror::Error)]
#[error("stub")]
pub struct GitHubConfigError;
#[derive(Debug, thiserror::Error)]
#[error("stub")]
pub struct GitHubError;
impl GitHub {
    pub fn new(config: &GitHubConfig) -> Result<Option<GitHub>, GitHubConfigError> {
        Ok(None)
    }
    pub async fn ensure_issue(&self, draft: &IssueDraft) -> Result<IssueRef, GitHubError> {
        Err(GitHubError)
    }
    pub async fn comment(&self, number: u64, body: &str) -> Result<(), GitHubError> {
        Err(GitHubError)
    }
    pub fn marker(ticket_id: &str) -> String {
        format!("<!-- suture-ticket: {ticket_id} -->")
    }
}

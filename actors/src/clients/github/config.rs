//! `[github]`: which repository Suture opens its issues in, and how.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::domain::duration;

/// `[github]`. With `repo` empty (the default) Suture opens no issues: tickets
/// stay in its own store and API, and the sidecar says so at start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GitHubConfig {
    /// `owner/name` of the repository the issues go to. Empty: no GitHub.
    /// Nothing is guessed from the git remote: issues are opened only where
    /// someone named the repository.
    pub repo: String,
    /// The environment variable holding the token. The token itself never
    /// goes in a file. `GITHUB_TOKEN`, because that is the name GitHub
    /// Actions, `gh` and most tools already use. The token needs
    /// `Issues: read and write` on `repo` (fine-grained) or the `repo`
    /// scope (classic; `public_repo` for a public repository).
    pub token_env: String,
    /// The API root. `https://api.github.com` for github.com; GitHub
    /// Enterprise Server serves it under `/api/v3`, e.g.
    /// `https://ghe.example.com/api/v3`.
    pub api_url: String,
    /// Labels put on every issue Suture opens. The FIRST one is also how
    /// Suture finds its own issues again (it lists issues with that label
    /// to look for a ticket's marker), so it must stay on them: removing it
    /// by hand makes Suture blind to that issue. `suture`: short, says who
    /// opened it, and filters in one click. GitHub creates a label that
    /// does not exist yet when the token may push to the repository.
    pub labels: Vec<String>,
    /// Longest one HTTP request may take, connection included. GitHub
    /// answers in well under a second; 30 s covers a slow Enterprise
    /// instance and a listing of 100 issues, and past it the server is
    /// stuck, not slow. The ticket stage's work waits on this, so it must
    /// not be unbounded.
    #[serde(with = "duration")]
    pub timeout: Duration,
    /// Consecutive failures that say GitHub is down (timeouts, connection
    /// errors, 5xx) and open the breaker: while open, every GitHub write
    /// is refused at once and retried by a later pass. A rate limit opens
    /// it for as long as GitHub's `retry-after` asks.
    pub breaker_failures: u32,
    /// How long the breaker stays open before one call probes.
    #[serde(with = "duration")]
    pub breaker_cooldown: Duration,
    /// The environment variable holding the webhook secret
    /// (`POST /v1/webhooks/github`, HMAC-SHA256 signed). Unset: the
    /// webhook answers 404 and Suture polls instead (`poll_interval`).
    pub webhook_secret_env: String,
    /// Without a webhook secret, how often the pull requests of Suture's
    /// open fixes are read (state, merge, reviews) through the API: merges
    /// and rejections are then learnt within this. Five minutes: two reads
    /// per open pull request, far below GitHub's 5,000 an hour. Zero: never
    /// (fixes then wait in `pr_open` until a person moves them).
    #[serde(with = "duration")]
    pub poll_interval: Duration,
}

impl Default for GitHubConfig {
    fn default() -> Self {
        Self {
            repo: String::new(),
            token_env: "GITHUB_TOKEN".to_string(),
            api_url: "https://api.github.com".to_string(),
            labels: vec!["suture".to_string()],
            timeout: Duration::from_secs(30),
            breaker_failures: 5,
            breaker_cooldown: Duration::from_secs(300),
            webhook_secret_env: "SUTURE_GITHUB_WEBHOOK_SECRET".to_string(),
            poll_interval: Duration::from_secs(300),
        }
    }
}

impl GitHubConfig {
    /// Whether a repository is named at all.
    pub fn is_configured(&self) -> bool {
        !self.repo.trim().is_empty()
    }
}

/// Why `[github]` cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid configuration: key `github.{key}`: {message}")]
pub struct GitHubConfigError {
    /// The key under `[github]`: `repo`, `token_env`, `api_url`, `labels`, `timeout`.
    pub key: &'static str,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_mean_no_github() {
        let config = GitHubConfig::default();
        assert!(!config.is_configured());
        assert_eq!(config.token_env, "GITHUB_TOKEN");
        assert_eq!(config.labels, ["suture"]);
    }

    #[test]
    fn parses_from_toml_like_json_with_human_durations() {
        let config: GitHubConfig = serde_json::from_value(serde_json::json!({
            "repo": "acme/shop",
            "timeout": "10s",
        }))
        .expect("valid section");
        assert!(config.is_configured());
        assert_eq!(config.timeout, Duration::from_secs(10));
        assert_eq!(config.api_url, "https://api.github.com");
        let unknown = serde_json::from_value::<GitHubConfig>(serde_json::json!({ "token": "x" }));
        assert!(unknown.is_err(), "a token in the file is an unknown key");
    }
}

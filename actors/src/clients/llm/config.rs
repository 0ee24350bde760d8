//! `[llm]`: which OpenAI-compatible endpoint to ask, and the limits on asking.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::domain::duration;

/// `[llm]`. With `base_url` and `model` empty (the default) no LLM is used:
/// every stage takes its deterministic path, and the sidecar says so at start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LlmConfig {
    /// The API root, ending in `/v1` for every server Suture has met:
    /// `https://api.openai.com/v1`, Ollama `http://127.0.0.1:11434/v1`,
    /// llama.cpp and vLLM `http://127.0.0.1:8080/v1` (their `--port`).
    pub base_url: String,
    /// The model name the server knows (`gpt-4o-mini`, `llama3.1:8b`, ...).
    pub model: String,
    /// The environment variable holding the API key, e.g. `OPENAI_API_KEY`.
    /// The key itself never goes in a file. Empty: no key (local servers).
    pub api_key_env: String,
    /// Longest one HTTP attempt may take, connection included. A grouping
    /// answer of a few hundred tokens takes seconds on hosted models and up
    /// to a minute on a small local one; past that the server is stuck.
    #[serde(with = "duration")]
    pub timeout: Duration,
    /// Extra attempts after a timeout, a connection error, a 429 or a 5xx.
    /// Two: transient errors clear within one or two tries; more only
    /// delays the deterministic fallback.
    pub max_retries: u32,
    /// Wait before the first retry, doubled for each next one.
    #[serde(with = "duration")]
    pub retry_backoff: Duration,
    /// Most tokens one answer may take (`max_tokens`). A batch's grouping or
    /// a verdict fits in well under 2,000.
    pub max_output_tokens: u32,
    /// Tokens (prompt and answer) spent per clock hour before calls are
    /// refused until the next hour. 0: no hourly limit. A call is refused
    /// when its estimate (prompt bytes / 4 plus `max_output_tokens`) would
    /// pass the budget, so the budget is a ceiling, not a target.
    pub hourly_token_budget: u64,
    /// Tokens spent per UTC day. 0: no daily limit.
    pub daily_token_budget: u64,
    /// Tokens spent per UTC calendar month. 0: no monthly limit.
    pub monthly_token_budget: u64,
    /// Dollars spent per clock hour, by `prices`. 0: no limit. Over any
    /// budget, no LLM call is made and no new agent attempt starts.
    pub hourly_cost_budget: f64,
    /// Dollars per UTC day. 0: no limit.
    pub daily_cost_budget: f64,
    /// Dollars per UTC calendar month. 0: no limit.
    pub monthly_cost_budget: f64,
    /// Price per model, in dollars per million tokens:
    /// `[llm.prices."gpt-4o-mini"] input_per_million = 0.15,
    /// output_per_million = 0.6`. A model without a price costs nothing
    /// (a local server), so cost budgets do not bind it.
    pub prices: std::collections::BTreeMap<String, crate::domain::llm::budget::Price>,
    /// Consecutive failures (errors after retries, or answers that fail
    /// validation) that open the breaker. While open, calls are refused at
    /// once and the stages take their deterministic path.
    pub breaker_failures: u32,
    /// How long the breaker stays open before one probe call is let through.
    #[serde(with = "duration")]
    pub breaker_cooldown: Duration,
    /// A file replacing the built-in `prompts/analyzer.md`. Empty: built-in.
    pub analyzer_prompt: PathBuf,
    /// A file replacing the built-in `prompts/triage.md`. Empty: built-in.
    pub triage_prompt: PathBuf,
    /// A file replacing the built-in `prompts/coder.md` (the coding
    /// agent's instructions and evidence). Empty: built-in.
    pub coder_prompt: PathBuf,
}

impl Default for LlmConfig {
    fn default() -> Self {
        Self {
            base_url: String::new(),
            model: String::new(),
            api_key_env: String::new(),
            timeout: Duration::from_secs(60),
            max_retries: 2,
            retry_backoff: Duration::from_secs(1),
            max_output_tokens: 2000,
            hourly_token_budget: 200_000,
            daily_token_budget: 1_000_000,
            monthly_token_budget: 0,
            hourly_cost_budget: 0.0,
            daily_cost_budget: 0.0,
            monthly_cost_budget: 0.0,
            prices: std::collections::BTreeMap::new(),
            breaker_failures: 5,
            breaker_cooldown: Duration::from_secs(300),
            analyzer_prompt: PathBuf::new(),
            triage_prompt: PathBuf::new(),
            coder_prompt: PathBuf::new(),
        }
    }
}

impl LlmConfig {
    /// Whether an endpoint is configured at all.
    pub fn is_configured(&self) -> bool {
        !self.base_url.trim().is_empty() || !self.model.trim().is_empty()
    }
}

//! The LLM foundation the analyzer, triage and ticket stages are built on.
//!
//! - [`config`]: `[llm]`, an OpenAI-compatible endpoint and its limits.
//! - [`client`]: the client (async-openai over Suture's own reqwest client):
//!   timeouts, retries, token accounting, budgets and the breaker, with a
//!   typed [`client::Refused`] whenever the caller must take the
//!   deterministic path.
//! - [`budget`], [`breaker`]: the pure rules the client applies, tested
//!   without a network.
//! - [`prompt`]: templates from `prompts/` and the renderer that scrubs
//!   untrusted text and fences it as data.
//! - [`parse`]: tolerant extraction and strict validation of answers.
//!
//! Nothing unscrubbed leaves through here: the renderer scrubs every
//! untrusted slot, and the client scrubs both messages again before sending.

pub mod breaker;
pub mod budget;
pub mod client;
pub mod config;
pub mod fence;
pub mod parse;
pub mod prompt;
pub mod repair;

pub use client::{Answer, LlmClient, LlmError, LlmStatus, PersistedControl, Refused};
pub use config::LlmConfig;

use std::sync::Arc;

use crate::store::Store;

/// What the LLM stages share: the client (its budgets and breaker), the
/// scrubber and the checked prompt templates. Built at start, so a bad
/// `[llm]`, `[scrub]` or prompt file stops the start with the key named.
pub struct LlmParts {
    pub client: LlmClient,
    pub scrubber: Arc<crate::scrub::Scrubber>,
    pub analyzer_prompt: prompt::Template,
    pub triage_prompt: prompt::Template,
}

/// Saves the client's budget spend and breaker in the store (durable with
/// the stage's next flush), so a restart neither forgets what was spent nor
/// closes an open breaker.
pub fn persist_state(client: &LlmClient, store: &Store) {
    let Some(state) = client.persisted() else {
        return;
    };
    let saved = serde_json::to_vec(&state)
        .map_err(|e| e.to_string())
        .and_then(|bytes| store.set_llm_state(&bytes).map_err(|e| e.to_string()));
    if let Err(error) = saved {
        tracing::warn!(%error, "cannot save the LLM budget and breaker state");
    }
}

/// Restores what [`persist_state`] saved, at start.
pub fn restore_state(client: &LlmClient, store: &Store) {
    match store.llm_state() {
        Ok(Some(bytes)) => match serde_json::from_slice::<PersistedControl>(&bytes) {
            Ok(saved) => {
                client.restore(&saved);
                tracing::info!(
                    tokens = saved.tokens,
                    breaker_open = saved.breaker_open_until_ms.is_some(),
                    "restored the LLM budget spend and breaker state"
                );
            }
            Err(error) => tracing::warn!(%error, "ignoring an unreadable saved LLM state"),
        },
        Ok(None) => {}
        Err(error) => tracing::warn!(%error, "cannot read the saved LLM state"),
    }
}

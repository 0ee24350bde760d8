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
pub mod parse;
pub mod prompt;

pub use client::{Answer, LlmClient, LlmError, LlmStatus, Refused};
pub use config::LlmConfig;

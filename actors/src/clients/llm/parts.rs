//! What the LLM stages share, built once at start.

use std::sync::Arc;

use super::LlmClient;
use crate::domain::llm::prompt::Template;
use crate::domain::scrub::Scrubber;

/// The client (its budgets and breaker), the scrubber and the checked
/// prompt templates. Built at start, so a bad `[llm]`, `[scrub]` or prompt
/// file stops the start with the key named.
pub struct LlmParts {
    pub client: LlmClient,
    pub scrubber: Arc<Scrubber>,
    pub analyzer_prompt: Template,
    pub triage_prompt: Template,
    pub coder_prompt: Template,
}

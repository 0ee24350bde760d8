//! The records of the control state: what governs whether and how much
//! Suture may act. Kept by the store's `control` tree and read and written
//! only through [`crate::control`].

use serde::{Deserialize, Serialize};

use crate::domain::llm::budget::PersistedBudget;

/// The LLM client's budget spend, breaker and totals, as
/// `LlmClient::persisted` saves them: a restart neither forgets what was
/// spent nor closes an open breaker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PersistedControl {
    pub saved_at_ms: i64,
    pub budget: PersistedBudget,
    pub breaker_failures: u32,
    /// Epoch ms until which the breaker is open.
    pub breaker_open_until_ms: Option<i64>,
    pub calls: u64,
    pub tokens: u64,
}

//! The records of the control state: what governs whether and how much
//! Suture may act. Kept by the store's `control` tree and read and written
//! only through [`crate::control`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

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

/// The kill switch, as the store keeps it: engaged or not, why, by whom,
/// since when.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KillSwitch {
    pub engaged: bool,
    #[serde(default)]
    pub reason: String,
    /// Who flipped it (the admin token's name, or `operator`).
    #[serde(default)]
    pub by: String,
    /// When it was last flipped (epoch ms; 0: never).
    #[serde(default)]
    pub at_ms: i64,
}

/// The kill switch as everything that acts reads it: one flag shared by the
/// guard, the LLM client and the coder, set before an operator's request to
/// engage it is answered, so nothing checked after the answer can act.
#[derive(Debug, Clone, Default)]
pub struct Halt(Arc<AtomicBool>);

impl Halt {
    pub fn engaged(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    pub fn set(&self, engaged: bool) {
        self.0.store(engaged, Ordering::SeqCst);
    }
}

//! The `control` tree: the state that governs whether and how much Suture
//! may act, one JSON value per key. Today the LLM client's budget spend and
//! breaker (`llm`); the kill switch, autonomy level and rate-limit windows
//! join it. Read and written only through [`crate::control`].
//!
//! Writes are made durable by the next [`Store::flush`].

use super::{Store, StoreError};
use crate::domain::control::PersistedControl;

const LLM_KEY: &[u8] = b"llm";
/// Where the LLM state lived before the control tree (in `meta`).
const LEGACY_LLM_KEY: &[u8] = b"llm_state";

impl Store {
    /// The LLM client's saved control state. An unreadable value is an
    /// error for the caller to log, never a reason to stop.
    pub fn llm_control(&self) -> Result<Option<PersistedControl>, StoreError> {
        match self.control.get(LLM_KEY)? {
            Some(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
            None => Ok(None),
        }
    }

    /// Saves the LLM client's control state.
    pub fn set_llm_control(&self, state: &PersistedControl) -> Result<(), StoreError> {
        self.control.insert(LLM_KEY, serde_json::to_vec(state)?)?;
        Ok(())
    }

    /// Moves control state an older build kept in `meta` into `control`
    /// (once: the old key is removed in the same step).
    pub(super) fn migrate_control(&self) -> Result<(), StoreError> {
        if let Some(old) = self.meta.get(LEGACY_LLM_KEY)? {
            if self.control.get(LLM_KEY)?.is_none() {
                self.control.insert(LLM_KEY, old)?;
            }
            self.meta.remove(LEGACY_LLM_KEY)?;
        }
        Ok(())
    }
}

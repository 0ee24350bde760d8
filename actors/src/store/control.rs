//! The `control` tree: the state that governs whether and how much Suture
//! may act, one value per key: the LLM client's budget spend and breaker
//! (`llm`), the kill switch (`kill_switch`), the autonomy level
//! (`autonomy`), rate-limit windows (`rate/<name>`), fix loops
//! (`fixloop/<signature>`), the latest review outcomes (`reviews`) and
//! GitHub webhook delivery ids (`delivery/<id>`). Read and written only
//! through [`crate::control`].
//!
//! Writes are made durable by the next [`Store::flush`].

use super::{Store, StoreError};
use crate::domain::control::{
    AutonomyRecord, FixLoop, KillSwitch, PersistedControl, ReviewHistory,
};

const LLM_KEY: &[u8] = b"llm";
const KILL_SWITCH_KEY: &[u8] = b"kill_switch";
const AUTONOMY_KEY: &[u8] = b"autonomy";
const FIX_LOOP_PREFIX: &[u8] = b"fixloop/";
const REVIEWS_KEY: &[u8] = b"reviews";
const DELIVERY_PREFIX: &[u8] = b"delivery/";

fn fix_loop_key(signature: &str) -> Vec<u8> {
    [FIX_LOOP_PREFIX, signature.as_bytes()].concat()
}

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

    /// The kill switch as last set (disengaged when never set).
    pub fn kill_switch(&self) -> Result<KillSwitch, StoreError> {
        match self.control.get(KILL_SWITCH_KEY)? {
            Some(bytes) => Ok(serde_json::from_slice(&bytes)?),
            None => Ok(KillSwitch::default()),
        }
    }

    /// Records the kill switch (durable with the next flush).
    pub fn set_kill_switch(&self, switch: &KillSwitch) -> Result<(), StoreError> {
        self.control
            .insert(KILL_SWITCH_KEY, serde_json::to_vec(switch)?)?;
        Ok(())
    }

    /// The autonomy level an operator last set, if any.
    pub fn autonomy(&self) -> Result<Option<AutonomyRecord>, StoreError> {
        match self.control.get(AUTONOMY_KEY)? {
            Some(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
            None => Ok(None),
        }
    }

    /// Records the autonomy level (durable with the next flush).
    pub fn set_autonomy(&self, record: &AutonomyRecord) -> Result<(), StoreError> {
        self.control
            .insert(AUTONOMY_KEY, serde_json::to_vec(record)?)?;
        Ok(())
    }

    /// A rate limit's saved state (its theoretical arrival time, ms since
    /// the epoch), if it was ever used.
    pub fn rate_limit_state(&self, name: &str) -> Result<Option<i64>, StoreError> {
        let key = format!("rate/{name}");
        Ok(self
            .control
            .get(key.as_bytes())?
            .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .map(i64::from_be_bytes))
    }

    /// Saves a rate limit's state (durable with the next flush, or sled's
    /// own periodic one).
    pub fn set_rate_limit_state(&self, name: &str, at_ms: i64) -> Result<(), StoreError> {
        let key = format!("rate/{name}");
        self.control.insert(key.as_bytes(), &at_ms.to_be_bytes())?;
        Ok(())
    }

    /// A signature's fix loop (no failures when never recorded).
    pub fn fix_loop(&self, signature: &str) -> Result<FixLoop, StoreError> {
        match self.control.get(fix_loop_key(signature))? {
            Some(bytes) => Ok(serde_json::from_slice(&bytes)?),
            None => Ok(FixLoop::default()),
        }
    }

    /// Records a signature's fix loop (durable with the next flush).
    pub fn set_fix_loop(&self, signature: &str, state: &FixLoop) -> Result<(), StoreError> {
        self.control
            .insert(fix_loop_key(signature), serde_json::to_vec(state)?)?;
        Ok(())
    }

    /// Forgets a signature's fix loop (an operator's reset). Returns what
    /// it was.
    pub fn reset_fix_loop(&self, signature: &str) -> Result<FixLoop, StoreError> {
        match self.control.remove(fix_loop_key(signature))? {
            Some(bytes) => Ok(serde_json::from_slice(&bytes)?),
            None => Ok(FixLoop::default()),
        }
    }

    /// Every tripped fix loop, by signature.
    pub fn tripped_fix_loops(&self) -> Result<Vec<(String, FixLoop)>, StoreError> {
        let mut out = Vec::new();
        for item in self.control.scan_prefix(FIX_LOOP_PREFIX) {
            let (key, value) = item?;
            let state: FixLoop = serde_json::from_slice(&value)?;
            if state.tripped.is_some() {
                let signature = String::from_utf8_lossy(&key[FIX_LOOP_PREFIX.len()..]).into_owned();
                out.push((signature, state));
            }
        }
        Ok(out)
    }

    /// The latest review outcomes (review-fatigue guard).
    pub fn review_history(&self) -> Result<ReviewHistory, StoreError> {
        match self.control.get(REVIEWS_KEY)? {
            Some(bytes) => Ok(serde_json::from_slice(&bytes)?),
            None => Ok(ReviewHistory::default()),
        }
    }

    pub fn set_review_history(&self, history: &ReviewHistory) -> Result<(), StoreError> {
        self.control
            .insert(REVIEWS_KEY, serde_json::to_vec(history)?)?;
        Ok(())
    }

    /// Remembers a webhook delivery id; `false` when it was already
    /// remembered (a replay). Atomic: two deliveries of one id at once
    /// apply once.
    pub fn remember_delivery(&self, delivery: &str, at_ms: i64) -> Result<bool, StoreError> {
        let key = [DELIVERY_PREFIX, delivery.as_bytes()].concat();
        let swapped = self.control.compare_and_swap(
            key,
            None as Option<&[u8]>,
            Some(&at_ms.to_be_bytes()[..]),
        )?;
        Ok(swapped.is_ok())
    }

    /// Forgets delivery ids remembered before `before_ms`.
    pub fn prune_deliveries(&self, before_ms: i64) -> Result<usize, StoreError> {
        let mut removed = 0;
        for item in self.control.scan_prefix(DELIVERY_PREFIX) {
            let (key, value) = item?;
            let at = <[u8; 8]>::try_from(value.as_ref())
                .map(i64::from_be_bytes)
                .unwrap_or(i64::MIN);
            if at < before_ms {
                self.control.remove(key)?;
                removed += 1;
            }
        }
        Ok(removed)
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

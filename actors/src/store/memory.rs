//! The memory of past fixes (`domain::memory`) in sled.
//!
//! - `fix_memory`: ticket id ‖ 0 ‖ attempt (u32 BE) → [`PastFix`] (JSON),
//!   one record per attempt whose outcome is known, updated in place as
//!   the outcome changes (the history is kept in the record).
//!
//! Few records (one per fix a person or production judged): reading all of
//! them for a ticket's lookup is cheap.

use super::{Store, StoreError};
use crate::domain::memory::PastFix;

fn key(ticket: &str, attempt: u32) -> Vec<u8> {
    let mut key = Vec::with_capacity(ticket.len() + 5);
    key.extend_from_slice(ticket.as_bytes());
    key.push(0);
    key.extend_from_slice(&attempt.to_be_bytes());
    key
}

impl Store {
    /// Records `fix`'s outcome, keeping the history of an earlier record of
    /// the same attempt. Durable with the next flush.
    fn remember_fix(&self, fix: PastFix) -> Result<PastFix, StoreError> {
        let key = key(&fix.ticket, fix.attempt);
        let stored = match self.fix_memory.get(&key)? {
            Some(bytes) => {
                let mut known: PastFix = serde_json::from_slice(&bytes)?;
                known.update(fix);
                known
            }
            None => fix,
        };
        self.fix_memory.insert(key, serde_json::to_vec(&stored)?)?;
        Ok(stored)
    }

    /// Records what became of `ticket`'s current fix: `outcome`, with
    /// `words` (already scrubbed) and `at_ms`. Nothing when it has no fix.
    pub fn remember_outcome(
        &self,
        ticket: &crate::domain::tickets::Ticket,
        outcome: crate::domain::memory::FixOutcome,
        words: &str,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        match PastFix::of(ticket, outcome, words, at_ms) {
            Some(fix) => self.remember_fix(fix).map(|_| ()),
            None => Ok(()),
        }
    }

    /// Every remembered fix, in ticket and attempt order.
    pub fn past_fixes(&self) -> Result<Vec<PastFix>, StoreError> {
        self.fix_memory
            .iter()
            .values()
            .map(|v| Ok(serde_json::from_slice(&v?)?))
            .collect()
    }
}

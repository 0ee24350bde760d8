//! Remembering what became of a fix (`domain::memory`), and finding the
//! past fixes a new attempt should know about.

use super::Coder;
use crate::clock::now_ms;
use crate::domain::memory::{FixOutcome, Relevant, relevant};
use crate::domain::tickets::Ticket;

/// Past fixes shown to an agent and on a ticket.
pub const MAX_RELEVANT: usize = 3;

/// Records `ticket`'s fix with `outcome` and `words` (scrubbed here).
/// A failure is logged: memory helps the next attempt, it gates nothing.
pub fn remember(coder: &Coder, ticket: &Ticket, outcome: FixOutcome, words: &str) {
    let words = coder.llm.scrubber.scrub(words);
    if let Err(e) = coder
        .store
        .remember_outcome(ticket, outcome, &words, now_ms())
    {
        tracing::warn!(ticket = %ticket.id, error = %e, "a fix's outcome was not remembered");
    }
}

/// The past fixes relevant to `ticket`, most telling first.
pub fn recall(coder: &Coder, ticket: &Ticket) -> Vec<Relevant> {
    match coder.store.past_fixes() {
        Ok(past) => relevant(&past, ticket, MAX_RELEVANT),
        Err(e) => {
            tracing::warn!(ticket = %ticket.id, error = %e, "past fixes were not read");
            Vec::new()
        }
    }
}

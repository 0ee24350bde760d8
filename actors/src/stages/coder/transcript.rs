//! An attempt's transcript: every step written to the store as it
//! happens (a killed attempt keeps what it did), scrubbed, each entry cut,
//! the whole bounded by `agent.transcript_bytes`.

use std::sync::Arc;

use crate::clock::now_ms;
use crate::domain::coder::attempt::TranscriptEntry;
use crate::domain::scrub::Scrubber;
use crate::domain::text::truncate;
use crate::store::Store;

/// Characters of one entry.
const ENTRY_CHARS: usize = 4_000;

/// Room kept for the closing entries once the budget is nearly spent.
const OUTCOME_RESERVE: usize = 8 * 1024;

pub struct Transcript {
    store: Store,
    scrubber: Arc<Scrubber>,
    ticket: String,
    attempt: u32,
    seq: u32,
    bytes: usize,
    limit: usize,
    /// Entries left out since the budget ran out.
    dropped: u32,
    /// The model call steps are counted in.
    pub step: u32,
}

impl Transcript {
    pub fn new(
        store: Store,
        scrubber: Arc<Scrubber>,
        ticket: &str,
        attempt: u32,
        limit: usize,
    ) -> Self {
        Self {
            store,
            scrubber,
            ticket: ticket.to_string(),
            attempt,
            seq: 0,
            bytes: 0,
            limit: limit.max(OUTCOME_RESERVE * 2),
            dropped: 0,
            step: 0,
        }
    }

    /// Records one step. Past the budget, steps are counted but not kept;
    /// an `outcome` entry is always kept.
    pub fn record(&mut self, kind: &str, text: &str, tokens: Option<u64>) {
        let closing = kind == "outcome";
        let room = if closing {
            self.limit.saturating_sub(self.bytes).max(1024)
        } else {
            self.limit
                .saturating_sub(OUTCOME_RESERVE)
                .saturating_sub(self.bytes)
        };
        if room < 256 && !closing {
            self.dropped += 1;
            return;
        }
        let scrubbed = self.scrubber.scrub(text);
        let mut text = truncate(&scrubbed, ENTRY_CHARS.min(room / 4));
        if closing && self.dropped > 0 {
            text.push_str(&format!(
                "\n[{} steps not kept: the transcript reached agent.transcript_bytes]",
                self.dropped
            ));
        }
        let entry = TranscriptEntry {
            at_ms: now_ms(),
            step: self.step,
            kind: kind.to_string(),
            text,
            tokens,
        };
        self.bytes += entry.text.len() + 64;
        // The audit log gets the step too (cut): the transcript keeps the
        // whole text, the log the order of everything that happened.
        let draft = crate::domain::audit::AuditEntryDraft::new(
            entry.at_ms,
            &format!("agent.{kind}"),
            "coder",
            format!(
                "attempt {} step {}: {}",
                self.attempt, self.step, entry.text
            ),
        )
        .ticket(&self.ticket);
        if let Err(e) = self.store.append_audit(draft) {
            tracing::warn!(ticket = %self.ticket, error = %e, "audit entry not stored");
        }
        match self
            .store
            .append_transcript(&self.ticket, self.attempt, self.seq, &entry)
        {
            Ok(()) => self.seq += 1,
            Err(e) => {
                tracing::warn!(ticket = %self.ticket, error = %e, "transcript entry not stored")
            }
        }
    }
}

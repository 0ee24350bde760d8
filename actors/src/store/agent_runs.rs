//! The coding agent's durable state: its queue of tickets, one lease per
//! ticket (two agents never work one ticket, not even an orphan and its
//! replacement), and every attempt.
//!
//! - `agent_queue`: seq (u64 BE) → ticket id; a ticket is queued once.
//! - `agent_leases`: ticket id → the attempt number holding it.
//! - `agent_attempts`: ticket id ‖ `/` ‖ attempt (u32 BE) → [`AttemptRecord`].
//! - `agent_transcripts`: ticket id ‖ `/` ‖ attempt (u32 BE) ‖ seq (u32 BE)
//!   → [`TranscriptEntry`]: one record per step, so a killed attempt keeps
//!   what it did and no record nears sled's blob threshold.
//! - `agent_cooldowns`: signature id → until (ms, i64 BE): signatures
//!   resting after a failed attempt.
//!
//! Taking a lease and recording the attempt is one transaction, so a crash
//! never leaves one without the other. Writes are durable with the next
//! [`Store::flush`].

use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use super::{Store, StoreError, decode_u64};
use crate::domain::coder::attempt::{AttemptRecord, AttemptState, TranscriptEntry};

fn attempt_key(ticket: &str, attempt: u32) -> Vec<u8> {
    let mut key = Vec::with_capacity(ticket.len() + 5);
    key.extend_from_slice(ticket.as_bytes());
    key.push(b'/');
    key.extend_from_slice(&attempt.to_be_bytes());
    key
}

/// What starting an attempt found.
#[derive(Debug, Clone, PartialEq)]
pub enum LeaseOutcome {
    /// The lease is ours; the attempt is recorded as running.
    Taken(AttemptRecord),
    /// Another attempt holds the ticket.
    Held { by_attempt: u32 },
}

impl Store {
    /// Queues `ticket` for an agent, unless it is already queued.
    pub fn enqueue_agent(&self, ticket: &str) -> Result<bool, StoreError> {
        for entry in self.agent_queue.iter() {
            let (_, value) = entry?;
            if value.as_ref() == ticket.as_bytes() {
                return Ok(false);
            }
        }
        let seq = self.db.generate_id()?;
        self.agent_queue
            .insert(seq.to_be_bytes(), ticket.as_bytes())?;
        Ok(true)
    }

    /// The queued tickets, oldest first.
    pub fn agent_queue(&self) -> Result<Vec<String>, StoreError> {
        self.agent_queue
            .iter()
            .map(|entry| {
                let (_, value) = entry?;
                Ok(String::from_utf8_lossy(&value).into_owned())
            })
            .collect()
    }

    /// Takes `ticket` off the queue.
    pub fn dequeue_agent(&self, ticket: &str) -> Result<(), StoreError> {
        for entry in self.agent_queue.iter() {
            let (key, value) = entry?;
            if value.as_ref() == ticket.as_bytes() {
                self.agent_queue.remove(key)?;
            }
        }
        Ok(())
    }

    /// The next attempt number for `ticket` (1 for the first).
    pub fn next_attempt(&self, ticket: &str) -> Result<u32, StoreError> {
        Ok(self.attempts(ticket)?.last().map_or(1, |a| a.attempt + 1))
    }

    /// Takes the ticket's lease and records `record` (state `Running`) in
    /// one transaction; refused while another attempt holds the lease.
    pub fn start_attempt(&self, record: &AttemptRecord) -> Result<LeaseOutcome, StoreError> {
        let value = serde_json::to_vec(record)?;
        let key = attempt_key(&record.ticket, record.attempt);
        let result =
            (&self.agent_leases, &self.agent_attempts).transaction(|(leases, attempts)| {
                if let Some(holder) = leases.get(record.ticket.as_bytes())? {
                    let by_attempt = decode_u64(&holder).unwrap_or(0) as u32;
                    return Ok(LeaseOutcome::Held { by_attempt });
                }
                leases.insert(
                    record.ticket.as_bytes(),
                    &u64::from(record.attempt).to_be_bytes(),
                )?;
                attempts.insert(key.as_slice(), value.as_slice())?;
                Ok::<_, ConflictableTransactionError<StoreError>>(LeaseOutcome::Taken(
                    record.clone(),
                ))
            });
        result.map_err(|e| match e {
            TransactionError::Abort(e) => e,
            TransactionError::Storage(e) => StoreError::Io(e),
        })
    }

    /// Ends an attempt: its record updated and the ticket's lease released,
    /// in one transaction.
    pub fn finish_attempt(&self, record: &AttemptRecord) -> Result<(), StoreError> {
        let value = serde_json::to_vec(record)?;
        let key = attempt_key(&record.ticket, record.attempt);
        (&self.agent_leases, &self.agent_attempts)
            .transaction(|(leases, attempts)| {
                let held_by_us = leases
                    .get(record.ticket.as_bytes())?
                    .and_then(|v| decode_u64(&v))
                    == Some(u64::from(record.attempt));
                if held_by_us {
                    leases.remove(record.ticket.as_bytes())?;
                }
                attempts.insert(key.as_slice(), value.as_slice())?;
                Ok::<_, ConflictableTransactionError<StoreError>>(())
            })
            .map_err(|e| match e {
                TransactionError::Abort(e) => e,
                TransactionError::Storage(e) => StoreError::Io(e),
            })
    }

    /// Attempt `attempt` at `ticket`, read by its key.
    pub fn attempt(&self, ticket: &str, attempt: u32) -> Result<Option<AttemptRecord>, StoreError> {
        match self.agent_attempts.get(attempt_key(ticket, attempt))? {
            Some(value) => Ok(Some(serde_json::from_slice(&value)?)),
            None => Ok(None),
        }
    }

    /// Every attempt at `ticket`, oldest first.
    pub fn attempts(&self, ticket: &str) -> Result<Vec<AttemptRecord>, StoreError> {
        let mut prefix = ticket.as_bytes().to_vec();
        prefix.push(b'/');
        self.agent_attempts
            .scan_prefix(prefix)
            .map(|entry| {
                let (_, value) = entry?;
                Ok(serde_json::from_slice(&value)?)
            })
            .collect()
    }

    /// Every attempt at every ticket, in ticket order.
    pub fn all_attempts(&self) -> Result<Vec<AttemptRecord>, StoreError> {
        self.agent_attempts
            .iter()
            .values()
            .map(|value| Ok(serde_json::from_slice(&value?)?))
            .collect()
    }

    /// Updates a running attempt's record (its worktree, steps, tokens).
    pub fn save_attempt(&self, record: &AttemptRecord) -> Result<(), StoreError> {
        let value = serde_json::to_vec(record)?;
        self.agent_attempts
            .insert(attempt_key(&record.ticket, record.attempt), value)?;
        Ok(())
    }

    /// Whether another attempt (or none) holds `ticket`'s lease.
    pub fn lease_holder(&self, ticket: &str) -> Result<Option<u32>, StoreError> {
        Ok(self
            .agent_leases
            .get(ticket.as_bytes())?
            .and_then(|v| decode_u64(&v))
            .map(|n| n as u32))
    }

    /// Appends one step to an attempt's transcript, as entry `seq`.
    pub fn append_transcript(
        &self,
        ticket: &str,
        attempt: u32,
        seq: u32,
        entry: &TranscriptEntry,
    ) -> Result<(), StoreError> {
        let mut key = attempt_key(ticket, attempt);
        key.extend_from_slice(&seq.to_be_bytes());
        self.agent_transcripts
            .insert(key, serde_json::to_vec(entry)?)?;
        Ok(())
    }

    /// An attempt's transcript, in order.
    pub fn transcript(
        &self,
        ticket: &str,
        attempt: u32,
    ) -> Result<Vec<TranscriptEntry>, StoreError> {
        self.agent_transcripts
            .scan_prefix(attempt_key(ticket, attempt))
            .map(|entry| {
                let (_, value) = entry?;
                Ok(serde_json::from_slice(&value)?)
            })
            .collect()
    }

    /// Rests `signature` from agents until `until_ms`.
    pub fn set_agent_cooldown(&self, signature: &str, until_ms: i64) -> Result<(), StoreError> {
        self.agent_cooldowns
            .insert(signature.as_bytes(), &until_ms.to_be_bytes())?;
        Ok(())
    }

    /// Until when `signature` rests, if it does at `now_ms`.
    pub fn agent_cooldown(&self, signature: &str, now_ms: i64) -> Result<Option<i64>, StoreError> {
        let until = self
            .agent_cooldowns
            .get(signature.as_bytes())?
            .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .map(i64::from_be_bytes);
        Ok(until.filter(|&until| until > now_ms))
    }

    /// At start: every attempt still `Running` belonged to a sidecar that
    /// stopped. Each is marked interrupted and its lease released; its ticket
    /// is queued again unless an earlier attempt was already interrupted (a
    /// ticket that keeps killing the sidecar is not retried forever).
    /// Returns the interrupted attempts (their worktrees are the caller's
    /// to remove) and whether each was requeued.
    pub fn recover_attempts(&self, now_ms: i64) -> Result<Vec<(AttemptRecord, bool)>, StoreError> {
        let mut running = Vec::new();
        for entry in self.agent_attempts.iter() {
            let (_, value) = entry?;
            let record: AttemptRecord = serde_json::from_slice(&value)?;
            if record.state == AttemptState::Running {
                running.push(record);
            }
        }
        let mut out = Vec::new();
        for mut record in running {
            let interrupted_before = self
                .attempts(&record.ticket)?
                .iter()
                .any(|a| a.state == AttemptState::Interrupted);
            record.end(
                AttemptState::Interrupted,
                now_ms,
                "the sidecar stopped while this attempt ran",
            );
            self.finish_attempt(&record)?;
            let requeue = !interrupted_before;
            if requeue {
                self.enqueue_agent(&record.ticket)?;
            }
            out.push((record, requeue));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StoreConfig;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = StoreConfig {
            path: dir.path().join("db"),
            ..StoreConfig::default()
        };
        let store = Store::open(&config).expect("open");
        (dir, store)
    }

    fn running(ticket: &str, attempt: u32) -> AttemptRecord {
        let mut record = AttemptRecord::running(
            ticket,
            attempt,
            format!("suture/fix-{ticket}-{attempt}"),
            1_000,
        );
        record.worktree = Some(format!("/tmp/wt/{ticket}-{attempt}"));
        record
    }

    #[test]
    fn transcripts_keep_order_per_attempt_and_cooldowns_expire() {
        let (_dir, store) = store();
        for (attempt, seq) in [(1, 0), (1, 1), (2, 0), (1, 2)] {
            let entry = TranscriptEntry {
                at_ms: i64::from(seq),
                step: seq,
                kind: "note".into(),
                text: format!("{attempt}/{seq}"),
                tokens: None,
            };
            store
                .append_transcript("T-1", attempt, seq, &entry)
                .expect("append");
        }
        let texts: Vec<String> = store
            .transcript("T-1", 1)
            .expect("read")
            .into_iter()
            .map(|e| e.text)
            .collect();
        assert_eq!(texts, ["1/0", "1/1", "1/2"]);
        assert_eq!(store.transcript("T-1", 2).expect("read").len(), 1);
        store.set_agent_cooldown("sig", 5_000).expect("cooldown");
        assert_eq!(
            store.agent_cooldown("sig", 4_999).expect("read"),
            Some(5_000)
        );
        assert_eq!(store.agent_cooldown("sig", 5_000).expect("read"), None);
        assert_eq!(store.agent_cooldown("other", 0).expect("read"), None);
    }

    #[test]
    fn a_ticket_is_queued_once_and_leased_to_one_attempt() {
        let (_dir, store) = store();
        assert!(store.enqueue_agent("T-1").expect("enqueue"));
        assert!(!store.enqueue_agent("T-1").expect("enqueue"), "queued once");
        assert!(store.enqueue_agent("T-2").expect("enqueue"));
        assert_eq!(store.agent_queue().expect("queue"), ["T-1", "T-2"]);

        let first = running("T-1", 1);
        assert_eq!(
            store.start_attempt(&first).expect("start"),
            LeaseOutcome::Taken(first.clone())
        );
        assert_eq!(
            store.start_attempt(&running("T-1", 2)).expect("start"),
            LeaseOutcome::Held { by_attempt: 1 },
            "a second agent never works the same ticket"
        );
        let mut done = first.clone();
        done.end(AttemptState::Failed, 2_000, "tests still fail");
        store.finish_attempt(&done).expect("finish");
        assert_eq!(store.next_attempt("T-1").expect("next"), 2);
        assert!(matches!(
            store.start_attempt(&running("T-1", 2)).expect("start"),
            LeaseOutcome::Taken(_)
        ));
        store.dequeue_agent("T-1").expect("dequeue");
        assert_eq!(store.agent_queue().expect("queue"), ["T-2"]);
    }

    #[test]
    fn a_restart_interrupts_running_attempts_and_requeues_each_ticket_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = StoreConfig {
            path: dir.path().join("db"),
            ..StoreConfig::default()
        };
        {
            let store = Store::open(&config).expect("open");
            store.start_attempt(&running("T-5", 1)).expect("start");
            store.flush_blocking().expect("flush");
        }
        let store = Store::open(&config).expect("reopen");
        let recovered = store.recover_attempts(9_000).expect("recover");
        assert_eq!(recovered.len(), 1);
        assert_eq!(recovered[0].0.state, AttemptState::Interrupted);
        assert!(recovered[0].1, "requeued the first time");
        assert_eq!(store.agent_queue().expect("queue"), ["T-5"]);
        assert!(
            matches!(
                store.start_attempt(&running("T-5", 2)).expect("start"),
                LeaseOutcome::Taken(_)
            ),
            "the lease was released"
        );

        // Killed again mid-attempt: interrupted, but not requeued twice.
        store.dequeue_agent("T-5").expect("dequeue");
        let again = store.recover_attempts(10_000).expect("recover");
        assert_eq!(again.len(), 1);
        assert!(!again[0].1, "requeued at most once");
        assert!(store.agent_queue().expect("queue").is_empty());
    }
}

//! Tickets in sled.
//!
//! - `tickets`: ticket id → [`Ticket`] (JSON).
//! - `ticket_index`: `s` ‖ signature id and `c` ‖ crash site → ticket id,
//!   for tickets that are not closed: "is there an open ticket for this
//!   root cause already?" is a key lookup. Closing a ticket drops its keys,
//!   so the next occurrence of a fixed bug opens a new ticket; and
//!   `r` ‖ signature id → the last resolved ticket holding it, so a
//!   regression soon after a fix reopens that ticket instead
//!   (`verify.regression_window`).
//! - `ticket_index` too: `d` ‖ ticket number (8 bytes, big-endian) → ticket
//!   id for every ticket Suture deployed a fix of (`auto_deploy`), so the
//!   dashboard lists every auto-deploy newest first from a reverse prefix
//!   scan instead of reading tickets until it has found enough. A ticket's
//!   `auto_deploy` is never cleared, so the key is never removed; stores
//!   written before the key existed get it at open (see
//!   [`Store::index_auto_deploys`]).
//! - `meta` key `ticket_seq`: the last ticket number handed out.
//!
//! The analyzer's whole outcome for a batch (new tickets, tickets that grew,
//! and the candidates marked analyzed) is one sled transaction: a crash
//! before it leaves the candidates new and the batch is analyzed again; a
//! crash after it leaves nothing to redo. That is what makes ticket creation
//! idempotent across restarts.

use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::{
    ConflictableTransactionError, TransactionError, TransactionalTree, UnabortableTransactionError,
};

use super::audit::mirror_ticket_entries;
use super::{Store, StoreError, decode_u64};
use crate::domain::records::{Candidate, CandidateState};
use crate::domain::tickets::{Ticket, TicketState, TransitionError};

pub(super) const TICKET_SEQ_KEY: &[u8] = b"ticket_seq";

/// `meta` key set once every ticket's auto-deploy key is in `ticket_index`.
pub(super) const AUTO_DEPLOY_INDEXED_KEY: &[u8] = b"auto_deploy_indexed";

/// Prefix of the auto-deploy keys in `ticket_index`.
pub(super) const AUTO_DEPLOY_PREFIX: u8 = b'd';

/// The auto-deploy key of ticket number `number`: big-endian, so the keys
/// sort in ticket order and a reverse scan is newest first.
pub(super) fn auto_deploy_key(number: u64) -> [u8; 9] {
    let mut key = [0u8; 9];
    key[0] = AUTO_DEPLOY_PREFIX;
    key[1..].copy_from_slice(&number.to_be_bytes());
    key
}
/// One ticket the analyzer wants written.
#[derive(Debug, Clone)]
pub enum TicketWrite {
    /// A new root cause. Its `id` is assigned inside the transaction.
    Create(Box<Ticket>),
    /// More of an open ticket's root cause: `apply` adds it. If the ticket
    /// was closed in the meantime, `fallback` is created instead.
    Grow {
        id: String,
        addition: Box<Ticket>,
        fallback: Box<Ticket>,
    },
    /// A resolved ticket's root cause came back within
    /// `verify.regression_window`: `addition` grows it and it is reopened
    /// (escalated: the fix did not hold) with `why`. Grown as usual if it
    /// was reopened in the meantime; `fallback` is created if it was
    /// dismissed.
    Reopen {
        id: String,
        addition: Box<Ticket>,
        fallback: Box<Ticket>,
        why: String,
    },
}

/// The analyzer's outcome for one batch.
#[derive(Debug, Clone, Default)]
pub struct AnalysisCommit {
    /// Each write with the candidates it consumes.
    pub writes: Vec<(TicketWrite, Vec<String>)>,
}

/// What [`Store::commit_analysis`] did: ticket ids created and grown.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnalysisOutcome {
    pub created: Vec<String>,
    pub grown: Vec<String>,
    /// Resolved tickets reopened as regressions (also in `grown`).
    #[serde(default)]
    pub reopened: Vec<String>,
}

/// Why a ticket update was refused.
#[derive(Debug, thiserror::Error)]
pub enum TicketUpdateError {
    #[error("no ticket {0}")]
    NotFound(String),
    #[error(transparent)]
    Transition(#[from] TransitionError),
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

type TxResult<T> = Result<T, ConflictableTransactionError<TicketUpdateError>>;

fn abort<T>(e: TicketUpdateError) -> TxResult<T> {
    Err(ConflictableTransactionError::Abort(e))
}

fn decode_ticket(bytes: &[u8]) -> TxResult<Ticket> {
    serde_json::from_slice(bytes)
        .or_else(|e| abort(TicketUpdateError::Store(StoreError::Decode(e))))
}

fn encode<T: Serialize>(value: &T) -> TxResult<Vec<u8>> {
    serde_json::to_vec(value).or_else(|e| abort(TicketUpdateError::Store(StoreError::Decode(e))))
}

fn index_key(kind: u8, value: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + value.len());
    key.push(kind);
    key.extend_from_slice(value.as_bytes());
    key
}

/// The index keys of a ticket: its signatures and crash sites.
fn index_keys(ticket: &Ticket) -> Vec<Vec<u8>> {
    ticket
        .signature_ids()
        .map(|s| index_key(b's', s))
        .chain(ticket.crash_sites().map(|c| index_key(b'c', c)))
        .collect()
}

fn write_index(
    index: &TransactionalTree,
    ticket: &Ticket,
) -> Result<(), UnabortableTransactionError> {
    if ticket.auto_deploy.is_some() {
        index.insert(
            &auto_deploy_key(ticket_number(&ticket.id)),
            ticket.id.as_bytes(),
        )?;
    }
    let resolved_keys = ticket.signature_ids().map(|s| index_key(b'r', s));
    if ticket.state.is_closed() {
        for key in index_keys(ticket) {
            // Only drop keys that still point here: a newer ticket may own them.
            if index.get(&key)?.as_deref() == Some(ticket.id.as_bytes()) {
                index.remove(key)?;
            }
        }
        if ticket.state == TicketState::Resolved {
            for key in resolved_keys {
                index.insert(key, ticket.id.as_bytes())?;
            }
        }
    } else {
        for key in index_keys(ticket) {
            index.insert(key, ticket.id.as_bytes())?;
        }
        for key in resolved_keys {
            if index.get(&key)?.as_deref() == Some(ticket.id.as_bytes()) {
                index.remove(key)?;
            }
        }
    }
    Ok(())
}

fn map_tx_error(e: TransactionError<TicketUpdateError>) -> TicketUpdateError {
    match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => TicketUpdateError::Store(StoreError::Io(e)),
    }
}

impl Store {
    /// Writes the analyzer's outcome for a batch atomically (see the module doc).
    pub fn commit_analysis(
        &self,
        commit: &AnalysisCommit,
        at_ms: i64,
    ) -> Result<AnalysisOutcome, TicketUpdateError> {
        (
            &self.tickets,
            &self.ticket_index,
            &self.candidates,
            &self.meta,
            &self.audit,
        )
            .transaction(|(tickets, index, candidates, meta, audit)| {
                let mut outcome = AnalysisOutcome::default();
                let mut seq = meta
                    .get(TICKET_SEQ_KEY)?
                    .and_then(|v| decode_u64(&v))
                    .unwrap_or(0);
                for (write, consumed) in &commit.writes {
                    let existing = match write {
                        TicketWrite::Grow { id, .. } | TicketWrite::Reopen { id, .. } => {
                            match tickets.get(id.as_bytes())? {
                                Some(bytes) => Some(decode_ticket(&bytes)?),
                                None => None,
                            }
                        }
                        TicketWrite::Create(_) => None,
                    };
                    let (ticket, audited) = match (write, existing) {
                        (
                            TicketWrite::Grow { addition, .. }
                            | TicketWrite::Reopen { addition, .. },
                            Some(mut ticket),
                        ) if !ticket.state.is_closed() => {
                            let audited = ticket.audit.len();
                            crate::domain::tickets::grow(&mut ticket, addition, at_ms);
                            outcome.grown.push(ticket.id.clone());
                            (ticket, audited)
                        }
                        (TicketWrite::Reopen { addition, why, .. }, Some(mut ticket))
                            if ticket.state == TicketState::Resolved =>
                        {
                            let audited = ticket.audit.len();
                            crate::domain::tickets::grow(&mut ticket, addition, at_ms);
                            ticket.regressions += 1;
                            if let Err(e) =
                                ticket.transition(TicketState::Escalated, at_ms, "analyzer", why)
                            {
                                return abort(TicketUpdateError::Transition(e));
                            }
                            outcome.grown.push(ticket.id.clone());
                            outcome.reopened.push(ticket.id.clone());
                            (ticket, audited)
                        }
                        (TicketWrite::Create(new), _)
                        | (TicketWrite::Grow { fallback: new, .. }, _)
                        | (TicketWrite::Reopen { fallback: new, .. }, _) => {
                            seq += 1;
                            let mut ticket = (**new).clone();
                            ticket.id = format!("T-{seq}");
                            outcome.created.push(ticket.id.clone());
                            (ticket, 0)
                        }
                    };
                    tickets.insert(ticket.id.as_bytes(), encode(&ticket)?)?;
                    write_index(index, &ticket)?;
                    mirror_ticket_entries(audit, &ticket, audited)?;
                    for candidate_id in consumed {
                        let Some(bytes) = candidates.get(candidate_id.as_bytes())? else {
                            continue;
                        };
                        let mut candidate: Candidate = serde_json::from_slice(&bytes)
                            .or_else(|e| abort(TicketUpdateError::Store(StoreError::Decode(e))))?;
                        if candidate.state != CandidateState::New {
                            // Another pass (an actor restarted mid-pass) got
                            // here first: commit nothing, the next pass
                            // takes what is left.
                            return abort(TicketUpdateError::Refused(format!(
                                "candidate {candidate_id} was analyzed by another pass"
                            )));
                        }
                        candidate.state = CandidateState::Analyzed;
                        candidate.ticket = Some(ticket.id.clone());
                        candidates.insert(candidate_id.as_bytes(), encode(&candidate)?)?;
                    }
                }
                meta.insert(TICKET_SEQ_KEY, &seq.to_be_bytes())?;
                Ok(outcome)
            })
            .map_err(map_tx_error)
    }

    /// Applies `change` to a ticket atomically (read, change, write, index).
    /// `change` may run more than once (sled retries on conflict), so it
    /// must only change the ticket it is given.
    pub fn update_ticket<T>(
        &self,
        id: &str,
        change: impl Fn(&mut Ticket) -> Result<T, TicketUpdateError>,
    ) -> Result<(Ticket, T), TicketUpdateError> {
        (&self.tickets, &self.ticket_index, &self.audit)
            .transaction(|(tickets, index, audit)| {
                let Some(bytes) = tickets.get(id.as_bytes())? else {
                    return abort(TicketUpdateError::NotFound(id.to_string()));
                };
                let mut ticket = decode_ticket(&bytes)?;
                let audited = ticket.audit.len();
                let result = match change(&mut ticket) {
                    Ok(result) => result,
                    Err(e) => return abort(e),
                };
                tickets.insert(id.as_bytes(), encode(&ticket)?)?;
                write_index(index, &ticket)?;
                mirror_ticket_entries(audit, &ticket, audited)?;
                Ok((ticket, result))
            })
            .map_err(map_tx_error)
    }

    /// Once per store: the auto-deploy keys of tickets written before the
    /// index had them. Only whether `auto_deploy` is there is decoded.
    /// Returns how many keys were written (0 once done).
    pub(super) fn index_auto_deploys(&self) -> Result<usize, StoreError> {
        if self.meta.get(AUTO_DEPLOY_INDEXED_KEY)?.is_some() {
            return Ok(0);
        }
        #[derive(Deserialize)]
        struct Head {
            id: String,
            #[serde(default)]
            auto_deploy: Option<serde::de::IgnoredAny>,
        }
        let mut written = 0;
        for value in self.tickets.iter().values() {
            let head: Head = serde_json::from_slice(&value?)?;
            if head.auto_deploy.is_some() {
                self.ticket_index
                    .insert(auto_deploy_key(ticket_number(&head.id)), head.id.as_bytes())?;
                written += 1;
            }
        }
        self.meta.insert(AUTO_DEPLOY_INDEXED_KEY, &[1u8])?;
        self.db.flush()?;
        Ok(written)
    }

    pub fn ticket(&self, id: &str) -> Result<Option<Ticket>, StoreError> {
        match self.tickets.get(id.as_bytes())? {
            Some(v) => Ok(Some(serde_json::from_slice(&v)?)),
            None => Ok(None),
        }
    }

    /// The tickets in one of `states`, oldest first. Only a ticket's state
    /// is decoded to decide (the rest of its JSON is skipped unbuilt), so
    /// the coder's periodic looks cost little on a store of thousands of
    /// tickets, most of them in states they do not want.
    pub fn tickets_in(&self, states: &[TicketState]) -> Result<Vec<Ticket>, StoreError> {
        #[derive(Deserialize)]
        struct Head {
            state: TicketState,
        }
        let mut out = Vec::new();
        for value in self.tickets.iter().values() {
            let value = value?;
            let head: Head = serde_json::from_slice(&value)?;
            if states.contains(&head.state) {
                out.push(serde_json::from_slice::<Ticket>(&value)?);
            }
        }
        out.sort_by_key(|t| ticket_number(&t.id));
        Ok(out)
    }

    /// Every ticket, oldest first.
    pub fn tickets(&self) -> Result<Vec<Ticket>, StoreError> {
        let mut out: Vec<Ticket> = self
            .tickets
            .iter()
            .values()
            .map(|v| Ok(serde_json::from_slice(&v?)?))
            .collect::<Result<_, StoreError>>()?;
        out.sort_by_key(|t| ticket_number(&t.id));
        Ok(out)
    }

    /// The open (not closed) ticket that already holds one of these
    /// signatures, else one of these crash sites.
    pub fn open_ticket_for<'a>(
        &self,
        signatures: impl IntoIterator<Item = &'a str>,
        crash_sites: impl IntoIterator<Item = &'a str>,
    ) -> Result<Option<String>, StoreError> {
        let keys = signatures
            .into_iter()
            .map(|s| index_key(b's', s))
            .chain(crash_sites.into_iter().map(|c| index_key(b'c', c)));
        for key in keys {
            if let Some(id) = self.ticket_index.get(key)? {
                return Ok(Some(String::from_utf8_lossy(&id).into_owned()));
            }
        }
        Ok(None)
    }

    /// The resolved ticket that last held one of `signatures` and was
    /// resolved at or after `since_ms`: the ticket a regression reopens.
    pub fn resolved_ticket_for<'a>(
        &self,
        signatures: impl IntoIterator<Item = &'a str>,
        since_ms: i64,
    ) -> Result<Option<Ticket>, StoreError> {
        for signature in signatures {
            let Some(id) = self.ticket_index.get(index_key(b'r', signature))? else {
                continue;
            };
            let id = String::from_utf8_lossy(&id).into_owned();
            if let Some(ticket) = self.ticket(&id)?
                && ticket.state == TicketState::Resolved
                && ticket.resolved_at_ms.is_some_and(|at| at >= since_ms)
            {
                return Ok(Some(ticket));
            }
        }
        Ok(None)
    }

    /// Candidates the analyzer has not taken yet, oldest run first.
    pub fn new_candidates(&self) -> Result<Vec<Candidate>, StoreError> {
        let mut out: Vec<Candidate> = self
            .candidates()?
            .into_iter()
            .filter(|c| c.state == CandidateState::New)
            .collect();
        out.sort_by(|a, b| a.decided_at_ms.cmp(&b.decided_at_ms).then(a.id.cmp(&b.id)));
        Ok(out)
    }
}

/// `T-12` → 12, for ordering; other ids sort last.
pub(super) fn ticket_number(id: &str) -> u64 {
    id.strip_prefix("T-")
        .and_then(|n| n.parse().ok())
        .unwrap_or(u64::MAX)
}

//! Why a stage's pass failed, typed, so the stage (and later the coder and
//! its breakers) can tell a passing hiccup, worth another pass, from a
//! failure that another try will not fix.

use crate::clients::git::RepoError;
use crate::runtime::pass::Panicked;
use crate::store::StoreError;
use crate::store::tickets::TicketUpdateError;

#[derive(Debug, thiserror::Error)]
pub enum StageError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Git(#[from] RepoError),
    #[error(transparent)]
    Ticket(#[from] TicketUpdateError),
    #[error(transparent)]
    Panicked(#[from] Panicked),
}

impl StageError {
    /// Whether the same pass, tried again later, may well succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            StageError::Store(e) => e.is_transient(),
            StageError::Git(e) => e.is_transient(),
            StageError::Ticket(TicketUpdateError::Store(e)) => e.is_transient(),
            // A refused move or a missing ticket is decided, not passing.
            StageError::Ticket(_) => false,
            // A panic is a bug; the next pass may or may not hit it again,
            // and it is retried on the stage's interval, never at once.
            StageError::Panicked(_) => false,
        }
    }
}

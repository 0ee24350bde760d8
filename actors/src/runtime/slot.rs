//! A shared, replaceable actor reference. The supervisor puts a fresh
//! reference here each time it (re)starts a child, so holders never keep
//! talking to a dead actor and nothing looks actors up by global name.

use std::sync::{Arc, RwLock};

use ractor::{ActorRef, ActorStatus};

/// Where the current instance of one child actor can be found.
pub struct ActorSlot<M: ractor::Message>(Arc<RwLock<Option<ActorRef<M>>>>);

impl<M: ractor::Message> Clone for ActorSlot<M> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<M: ractor::Message> Default for ActorSlot<M> {
    fn default() -> Self {
        Self(Arc::new(RwLock::new(None)))
    }
}

impl<M: ractor::Message> ActorSlot<M> {
    /// The current instance, or `None` while it is being restarted. An
    /// instance that has died (or is stopping) but whose supervisor has not
    /// yet reacted is not returned: a message sent to it would be lost with
    /// it. One still in `post_start` is returned: its mailbox already takes
    /// messages and handles them once started (refusing it made requests
    /// right after start fail with "restarting" on a loaded machine).
    pub fn get(&self) -> Option<ActorRef<M>> {
        let actor = self
            .0
            .read()
            .map(|r| r.clone())
            .unwrap_or_else(|p| p.into_inner().clone())?;
        matches!(
            actor.get_status(),
            ActorStatus::Starting | ActorStatus::Running | ActorStatus::Upgrading
        )
        .then_some(actor)
    }

    pub(crate) fn set(&self, actor: Option<ActorRef<M>>) {
        match self.0.write() {
            Ok(mut slot) => *slot = actor,
            Err(poisoned) => *poisoned.into_inner() = actor,
        }
    }

    /// Sends to the running instance; false when there is none or it is gone.
    pub fn cast(&self, message: M) -> bool {
        self.get().is_some_and(|actor| actor.cast(message).is_ok())
    }
}

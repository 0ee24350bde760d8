//! One home for the state that governs action, and the one way operator
//! commands reach the store.
//!
//! - [`Control`]: reads and writes the store's `control` tree (today the
//!   LLM client's budget spend and breaker; next the kill switch, the
//!   autonomy level and rate-limit windows). Stages hold a clone; nothing
//!   else touches that tree.
//! - [`guard::Guard`]: the one permission check every action outside the
//!   sidecar passes (today: shadow mode).
//! - [`actor::ControlActor`]: a supervised child that executes operator
//!   commands (label a ticket, move it) one at a time, audits them on the
//!   ticket, and makes them durable before answering. The HTTP task only
//!   sends a message.

pub mod actor;
pub mod guard;

use std::sync::Arc;

use crate::clock::now_ms;
use crate::domain::control::{
    Autonomy, AutonomyLevel, AutonomyRecord, AutonomySetting, Halt, KillSwitch, PersistedControl,
};
use crate::domain::scrub::Scrubber;
use crate::domain::tickets::{Label, Ticket, TicketState};
use crate::store::Store;
use crate::store::tickets::TicketUpdateError;

/// Reads and writes the control state. Cheap to clone.
#[derive(Clone)]
pub struct Control {
    store: Store,
    scrubber: Arc<Scrubber>,
    halt: Halt,
    autonomy: Autonomy,
}

/// Why the autonomy level was not changed.
#[derive(Debug, thiserror::Error)]
pub enum AutonomyError {
    #[error("a reason is required to change the autonomy level")]
    ReasonRequired,
    #[error("autonomy `deploy` is refused unless autonomy.allow_deploy = true")]
    DeployNotAllowed,
    #[error("the autonomy level could not be stored: {0}")]
    Store(#[from] crate::store::StoreError),
}

/// Why the kill switch was not flipped.
#[derive(Debug, thiserror::Error)]
pub enum KillSwitchError {
    #[error("a reason is required to engage the kill switch")]
    ReasonRequired,
    #[error("the kill switch could not be stored: {0}")]
    Store(#[from] crate::store::StoreError),
}

impl Control {
    /// The control state over `store`; the kill switch starts as the store
    /// last recorded it (an engaged switch survives a restart).
    pub fn new(store: Store, scrubber: Arc<Scrubber>) -> Self {
        let halt = Halt::default();
        match store.kill_switch() {
            Ok(switch) => halt.set(switch.engaged),
            // Unreadable: engaged, the safe reading of a switch nobody can see.
            Err(error) => {
                tracing::error!(%error, "the kill switch is unreadable; it is taken as engaged");
                halt.set(true);
            }
        }
        if halt.engaged() {
            tracing::warn!(
                "the kill switch is engaged: no agent runs, no LLM call and nothing outside the sidecar happens until it is disengaged"
            );
        }
        metrics::gauge!("suture_kill_switch_engaged").set(if halt.engaged() { 1.0 } else { 0.0 });
        Self {
            store,
            scrubber,
            halt,
            autonomy: Autonomy::fixed(AutonomyLevel::Suggest),
        }
    }

    /// Sets the autonomy in force from the configuration's `base`, with the
    /// level an operator last set (kept in the store) winning over the
    /// configured one.
    pub fn with_autonomy(mut self, mut base: AutonomySetting) -> Self {
        match self.store.autonomy() {
            Ok(Some(record)) => {
                tracing::info!(level = record.level.as_str(), by = %record.by, "autonomy level as last set by an operator");
                base.level = record.level;
            }
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(%error, "the stored autonomy level is unreadable; the configured one applies")
            }
        }
        self.autonomy = Autonomy::new(base);
        self
    }

    /// The autonomy everything that acts reads.
    pub fn autonomy(&self) -> Autonomy {
        self.autonomy.clone()
    }

    /// Changes the base autonomy level: stored and flushed, then in force.
    pub async fn set_autonomy(
        &self,
        level: AutonomyLevel,
        reason: &str,
        by: &str,
    ) -> Result<AutonomyRecord, AutonomyError> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(AutonomyError::ReasonRequired);
        }
        if level == AutonomyLevel::Deploy && !self.autonomy.setting().allow_deploy {
            return Err(AutonomyError::DeployNotAllowed);
        }
        let record = AutonomyRecord {
            level,
            reason: reason.chars().take(2000).collect(),
            by: by.to_string(),
            at_ms: now_ms(),
        };
        self.store.set_autonomy(&record)?;
        self.store.flush().await?;
        self.autonomy.set_level(level);
        tracing::warn!(level = level.as_str(), reason = %record.reason, by = %record.by, "autonomy level changed");
        Ok(record)
    }

    /// The flag everything that acts reads.
    pub fn halt(&self) -> Halt {
        self.halt.clone()
    }

    /// Flips the kill switch: stored and flushed first, then the shared
    /// flag set, so it is durable and in force when this returns.
    /// Disengaging needs no reason; engaging does.
    pub async fn set_kill_switch(
        &self,
        engaged: bool,
        reason: &str,
        by: &str,
    ) -> Result<KillSwitch, KillSwitchError> {
        let reason = reason.trim();
        if engaged && reason.is_empty() {
            return Err(KillSwitchError::ReasonRequired);
        }
        let switch = KillSwitch {
            engaged,
            reason: reason.chars().take(2000).collect(),
            by: by.to_string(),
            at_ms: now_ms(),
        };
        if engaged {
            // In force at once; stored before the answer.
            self.halt.set(true);
        }
        self.store.set_kill_switch(&switch)?;
        self.store.flush().await?;
        self.halt.set(engaged);
        metrics::gauge!("suture_kill_switch_engaged").set(if engaged { 1.0 } else { 0.0 });
        metrics::counter!("suture_kill_switch_changes_total", "engaged" => if engaged { "true" } else { "false" }).increment(1);
        tracing::warn!(engaged, reason = %switch.reason, by = %switch.by, "kill switch");
        Ok(switch)
    }

    /// Saves the LLM client's budget spend and breaker (durable with the
    /// stage's next flush), so a restart neither forgets what was spent nor
    /// closes an open breaker. `None` (no LLM configured) saves nothing.
    pub fn save_llm(&self, state: Option<PersistedControl>) {
        let Some(state) = state else {
            return;
        };
        if let Err(error) = self.store.set_llm_control(&state) {
            tracing::warn!(%error, "cannot save the LLM budget and breaker state");
        }
    }

    /// What [`Control::save_llm`] saved, at start. An unreadable value is
    /// logged and ignored: the budget starts afresh rather than the sidecar
    /// refusing to start.
    pub fn restore_llm(&self) -> Option<PersistedControl> {
        match self.store.llm_control() {
            Ok(Some(saved)) => {
                tracing::info!(
                    tokens = saved.tokens,
                    breaker_open = saved.breaker_open_until_ms.is_some(),
                    "restored the LLM budget spend and breaker state"
                );
                Some(saved)
            }
            Ok(None) => None,
            Err(error) => {
                tracing::warn!(%error, "ignoring an unreadable saved LLM state");
                None
            }
        }
    }

    /// Records an operator's label on a ticket's triage verdict.
    pub fn label_ticket(
        &self,
        id: &str,
        correct: bool,
        note: Option<String>,
    ) -> Result<Ticket, TicketUpdateError> {
        let note = note.map(|n| self.scrubber.scrub(&n).into_owned());
        let now = now_ms();
        let (ticket, ()) = self.store.update_ticket(id, |t| {
            if t.disposition.is_none() {
                return Err(TicketUpdateError::Refused(format!(
                    "ticket {id} has not been triaged yet; label it once it has a disposition"
                )));
            }
            t.label = Some(Label {
                correct,
                note: note.clone(),
                at_ms: now,
            });
            t.audit(
                now,
                "operator",
                "label",
                format!(
                    "triage was {}{}",
                    if correct { "correct" } else { "wrong" },
                    note.as_deref()
                        .map(|n| format!(": {n}"))
                        .unwrap_or_default()
                ),
            );
            Ok(())
        })?;
        Ok(ticket)
    }

    /// An operator's state change (dismiss, escalate, resolve).
    pub fn move_ticket(
        &self,
        id: &str,
        to: TicketState,
        reason: &str,
    ) -> Result<Ticket, TicketUpdateError> {
        let reason = self.scrubber.scrub(reason).into_owned();
        let now = now_ms();
        let (ticket, ()) = self.store.update_ticket(id, |t| {
            t.transition(to, now, "operator", &reason)?;
            Ok(())
        })?;
        Ok(ticket)
    }

    /// Makes what was written durable.
    pub async fn flush(&self) -> Result<(), crate::store::StoreError> {
        self.store.flush().await.map(|_| ())
    }
}

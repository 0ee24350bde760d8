//! One home for the state that governs action, and the one way operator
//! commands reach the store.
//!
//! - [`Control`]: reads and writes the store's `control` tree (the kill
//!   switch, the autonomy level, the LLM client's budget spend and breaker,
//!   rate-limit windows, fix loops, the review history, webhook delivery
//!   ids) and appends to the audit log. Stages hold a clone; nothing else
//!   touches that tree.
//! - [`guard::Guard`]: the one permission check every action outside the
//!   sidecar passes (kill switch, autonomy, rate limits; notifications).
//! - [`limits`]: the rate limits, on governor, persisted.
//! - [`breakers`]: the fix-loop breaker and the review-fatigue guard.
//! - [`github_events`]: what GitHub's webhook says about a fix's pull
//!   request, made into ticket changes.
//! - [`actor::ControlActor`]: a supervised child that executes operator
//!   commands (label, move, kill switch, autonomy, breaker resets, webhook
//!   deliveries) one at a time, audits them, and makes them durable before
//!   answering. The HTTP task only sends a message.

pub mod actor;
pub mod breakers;
pub mod github_events;
pub mod guard;
pub mod limits;

use std::sync::Arc;

use crate::clock::now_ms;
use crate::domain::audit::AuditEntryDraft;
use crate::domain::control::{
    Autonomy, AutonomyLevel, AutonomyRecord, AutonomySetting, Caller, Halt, KillSwitch,
    PersistedControl,
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
    audit_config: crate::domain::audit::AuditConfig,
    limits: Arc<limits::RateLimits>,
    notify: Option<guard::NotifySink>,
    /// The review-fatigue guard's (rejections, window).
    fatigue: (usize, usize),
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
            audit_config: crate::domain::audit::AuditConfig::default(),
            limits: Arc::new(limits::RateLimits::unlimited()),
            notify: None,
            fatigue: (0, 0),
        }
    }

    /// Sets the autonomy in force from the configuration's `base`, with the
    /// level an operator last set (kept in the store) winning over the
    /// configured one.
    /// The review-fatigue guard's thresholds (`[autonomy]`).
    pub fn with_fatigue(mut self, rejections: usize, window: usize) -> Self {
        self.fatigue = (rejections, window);
        self
    }

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
        by: &Caller,
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
            by: by.name.clone(),
            at_ms: now_ms(),
        };
        self.store.set_autonomy(&record)?;
        self.audit(
            AuditEntryDraft::new(
                record.at_ms,
                "admin.autonomy",
                &by.name,
                format!("autonomy set to `{}`: {}", level.as_str(), record.reason),
            )
            .peer(by.peer.clone()),
        );
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
        by: &Caller,
    ) -> Result<KillSwitch, KillSwitchError> {
        let reason = reason.trim();
        if engaged && reason.is_empty() {
            return Err(KillSwitchError::ReasonRequired);
        }
        let switch = KillSwitch {
            engaged,
            reason: reason.chars().take(2000).collect(),
            by: by.name.clone(),
            at_ms: now_ms(),
        };
        if engaged {
            // In force at once; stored before the answer.
            self.halt.set(true);
        }
        self.store.set_kill_switch(&switch)?;
        self.audit(
            AuditEntryDraft::new(
                switch.at_ms,
                "admin.kill_switch",
                &by.name,
                if engaged {
                    format!("engaged: {}", switch.reason)
                } else if switch.reason.is_empty() {
                    "disengaged".to_string()
                } else {
                    format!("disengaged: {}", switch.reason)
                },
            )
            .peer(by.peer.clone()),
        );
        self.store.flush().await?;
        self.halt.set(engaged);
        metrics::gauge!("suture_kill_switch_engaged").set(if engaged { 1.0 } else { 0.0 });
        metrics::counter!("suture_kill_switch_changes_total", "engaged" => if engaged { "true" } else { "false" }).increment(1);
        self.guard(false)
            .notify(crate::domain::notify::Notification::new(
                crate::domain::notify::NotificationKind::KillSwitch,
                switch.at_ms,
                if engaged {
                    "Suture's kill switch was engaged"
                } else {
                    "Suture's kill switch was disengaged"
                },
                format!(
                    "by {}{}",
                    switch.by,
                    if switch.reason.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", switch.reason)
                    }
                ),
            ));
        tracing::warn!(engaged, reason = %switch.reason, by = %switch.by, "kill switch");
        Ok(switch)
    }

    /// Sends a notification through the guard (the kill switch holds all
    /// but its own).
    pub fn notify(&self, notification: crate::domain::notify::Notification) {
        self.guard(false).notify(notification);
    }

    /// Appends to the audit log (durable with the next flush), the detail
    /// scrubbed. A failed write is logged, never a reason to stop acting:
    /// the ticket's own trail and the logs still say what happened.
    pub fn audit(&self, mut draft: AuditEntryDraft) {
        draft.detail = self.scrubber.scrub(&draft.detail).into_owned();
        if let Err(error) = self.store.append_audit(draft) {
            tracing::warn!(%error, "audit entry not stored");
        }
    }

    /// Entries of the audit log matching `query`.
    pub fn audit_log(
        &self,
        query: &crate::domain::audit::AuditQuery,
    ) -> Result<Vec<crate::domain::audit::AuditRecord>, crate::store::StoreError> {
        self.store.audit(query)
    }

    /// Builds the rate limits of `config`, restored from the store and
    /// saved to it on every admitted action.
    pub fn with_limits(mut self, config: &crate::domain::control::LimitsConfig) -> Self {
        let store = self.store.clone();
        let restore = |name: &str| match store.rate_limit_state(name) {
            Ok(saved) => saved,
            Err(error) => {
                tracing::warn!(limit = name, %error, "a rate limit's saved state is unreadable; it starts afresh");
                None
            }
        };
        let saver = self.store.clone();
        let save = Arc::new(move |name: &str, at_ms: i64| {
            if let Err(error) = saver.set_rate_limit_state(name, at_ms) {
                tracing::warn!(limit = name, %error, "a rate limit's state was not saved");
            }
        });
        self.limits = Arc::new(limits::RateLimits::new(
            config,
            Arc::new(now_ms),
            restore,
            save,
        ));
        self
    }

    /// Where permitted notifications go.
    pub fn with_notify(mut self, sink: guard::NotifySink) -> Self {
        self.notify = Some(sink);
        self
    }

    /// The one permission check, as every stage holds it: `shadow` is
    /// `tickets.shadow` (the old spelling of the base level, for callers
    /// built without an autonomy setting), then the shared autonomy, kill
    /// switch, rate limits and notifications.
    pub fn guard(&self, shadow: bool) -> guard::Guard {
        let guard = guard::Guard::new(shadow)
            .with_autonomy(self.autonomy())
            .with_halt(self.halt())
            .with_limits(self.limits.clone());
        match &self.notify {
            Some(sink) => guard.with_notify(sink.clone()),
            None => guard,
        }
    }

    /// The audit log's retention (`[audit]`).
    pub fn with_audit_config(mut self, config: crate::domain::audit::AuditConfig) -> Self {
        self.audit_config = config;
        self
    }

    /// Drops audit entries past `[audit]`'s age and size.
    pub fn prune_audit(&self) {
        let config = &self.audit_config;
        let cutoff = now_ms()
            .saturating_sub(i64::try_from(config.retention.as_millis()).unwrap_or(i64::MAX));
        let deliveries = now_ms().saturating_sub(github_events::DELIVERY_MEMORY_MS);
        if let Err(error) = self.store.prune_deliveries(deliveries) {
            tracing::warn!(%error, "old webhook delivery ids not pruned");
        }
        match self.store.prune_audit(cutoff, config.max_entries) {
            Ok(0) => {}
            Ok(removed) => tracing::debug!(removed, "audit entries past retention removed"),
            Err(error) => tracing::warn!(%error, "audit log not pruned"),
        }
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
        label: crate::domain::tickets::LabelInput,
        by: &Caller,
    ) -> Result<Ticket, TicketUpdateError> {
        let correct = label.correct;
        let grouping_correct = label.grouping_correct;
        let note = label.note.map(|n| self.scrubber.scrub(&n).into_owned());
        let now = now_ms();
        let (ticket, ()) = self.store.update_ticket(id, |t| {
            if t.disposition.is_none() {
                return Err(TicketUpdateError::Refused(format!(
                    "ticket {id} has not been triaged yet; label it once it has a disposition"
                )));
            }
            t.label = Some(Label {
                correct,
                grouping_correct,
                note: note.clone(),
                at_ms: now,
            });
            t.audit(
                now,
                &by.name,
                "label",
                format!(
                    "triage was {}{}{}",
                    if correct { "correct" } else { "wrong" },
                    match grouping_correct {
                        Some(true) => ", grouping correct",
                        Some(false) => ", grouping wrong",
                        None => "",
                    },
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
        by: &Caller,
    ) -> Result<Ticket, TicketUpdateError> {
        let reason = self.scrubber.scrub(reason).into_owned();
        let now = now_ms();
        let (ticket, ()) = self.store.update_ticket(id, |t| {
            t.transition(to, now, &by.name, &reason)?;
            Ok(())
        })?;
        Ok(ticket)
    }

    /// Makes what was written durable.
    pub async fn flush(&self) -> Result<(), crate::store::StoreError> {
        self.store.flush().await.map(|_| ())
    }
}

//! The control actor: operator commands, one at a time, durable before the
//! answer. A supervised child like the stages, so a panic in a command is a
//! restart, not a crash of the HTTP task.

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use super::Control;
use crate::domain::tickets::{Ticket, TicketState};
use crate::store::tickets::TicketUpdateError;

pub enum ControlMsg {
    /// Label a ticket's triage verdict right or wrong.
    Label {
        id: String,
        label: crate::domain::tickets::LabelInput,
        by: crate::domain::control::Caller,
        reply: RpcReplyPort<Result<Ticket, TicketUpdateError>>,
    },
    /// Move a ticket (dismiss, escalate, resolve).
    Move {
        id: String,
        to: TicketState,
        reason: String,
        by: crate::domain::control::Caller,
        reply: RpcReplyPort<Result<Ticket, TicketUpdateError>>,
    },
    /// Engage or disengage the kill switch (durable and in force when
    /// answered).
    SetKillSwitch {
        engaged: bool,
        reason: String,
        by: crate::domain::control::Caller,
        reply: RpcReplyPort<Result<crate::domain::control::KillSwitch, super::KillSwitchError>>,
    },
    /// Change the autonomy level (durable and in force when answered).
    SetAutonomy {
        level: crate::domain::control::AutonomyLevel,
        reason: String,
        by: crate::domain::control::Caller,
        reply: RpcReplyPort<Result<crate::domain::control::AutonomyRecord, super::AutonomyError>>,
    },
    /// Resets a signature's fix-loop breaker (durable when answered).
    ResetFixLoop {
        signature: String,
        reason: String,
        by: crate::domain::control::Caller,
        reply: RpcReplyPort<Result<crate::domain::control::FixLoop, crate::store::StoreError>>,
    },
    /// Applies a GitHub webhook delivery to its ticket (durable when
    /// answered).
    GitHubEvent {
        delivery: String,
        event: crate::domain::tickets::github_event::WebhookEvent,
        reply: RpcReplyPort<
            Result<super::github_events::Applied, crate::store::tickets::TicketUpdateError>,
        >,
    },
    /// Drops audit entries past their retention (sent to itself hourly).
    PruneAudit,
    /// Panics inside the handler: lets tests prove supervision works.
    #[doc(hidden)]
    InjectPanic,
}

/// How often audit entries past retention are removed.
const AUDIT_PRUNE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(3600);

pub struct ControlActor;

impl Actor for ControlActor {
    type Msg = ControlMsg;
    type State = Control;
    type Arguments = Control;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        control: Control,
    ) -> Result<Self::State, ActorProcessingErr> {
        // At start too: a sidecar restarted often still prunes.
        myself.send_after(std::time::Duration::from_secs(5), || ControlMsg::PruneAudit);
        Ok(control)
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        control: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            ControlMsg::Label {
                id,
                label,
                by,
                reply,
            } => {
                let result = control.label_ticket(&id, label, &by);
                let _ = reply.send(durable(control, result).await);
            }
            ControlMsg::Move {
                id,
                to,
                reason,
                by,
                reply,
            } => {
                let result = control.move_ticket(&id, to, &reason, &by);
                let _ = reply.send(durable(control, result).await);
            }
            ControlMsg::SetKillSwitch {
                engaged,
                reason,
                by,
                reply,
            } => {
                let _ = reply.send(control.set_kill_switch(engaged, &reason, &by).await);
            }
            ControlMsg::SetAutonomy {
                level,
                reason,
                by,
                reply,
            } => {
                let _ = reply.send(control.set_autonomy(level, &reason, &by).await);
            }
            ControlMsg::ResetFixLoop {
                signature,
                reason,
                by,
                reply,
            } => {
                let _ = reply.send(control.reset_fix_loop(&signature, &reason, &by).await);
            }
            ControlMsg::GitHubEvent {
                delivery,
                event,
                reply,
            } => {
                let _ = reply.send(control.apply_github_event(&delivery, &event).await);
            }
            ControlMsg::PruneAudit => {
                control.prune_audit();
                myself.send_after(AUDIT_PRUNE_INTERVAL, || ControlMsg::PruneAudit);
            }
            ControlMsg::InjectPanic => panic!("injected panic in control"),
        }
        Ok(())
    }
}

/// A successful write is answered only once it is on disk.
async fn durable(
    control: &Control,
    result: Result<Ticket, TicketUpdateError>,
) -> Result<Ticket, TicketUpdateError> {
    let ticket = result?;
    control.flush().await?;
    Ok(ticket)
}

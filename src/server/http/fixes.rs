//! The coding agent's work, for the people who review it: a ticket's fix
//! (diff, tests before and after, a summary of how it was made), approve
//! and reject, and every attempt with its transcript.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::AdminCaller;
use super::common::{store_error, ticket_with_fix};
use super::error::ApiError;
use super::state::AppState;
use super::tickets::{bounded_text, command_error};

/// Transcript steps in a fix's summary: the last ones, where it was decided.
const SUMMARY_STEPS: usize = 12;

/// `GET /v1/tickets/{id}/fix`: the fix waiting for review (or already
/// published): its record on the ticket, the attempt's evidence (diff,
/// tests before, tests only, after, lint) and the transcript's last steps.
pub async fn get_fix(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let store = state.engine.store();
    let (ticket, fix) = ticket_with_fix(&state, &id)?;
    let attempt = store.attempt(&id, fix.attempt).map_err(store_error)?;
    let transcript = store.transcript(&id, fix.attempt).map_err(store_error)?;
    let skip = transcript.len().saturating_sub(SUMMARY_STEPS);
    let summary: Vec<Value> = transcript
        .iter()
        .skip(skip)
        .map(|e| json!({"step": e.step, "kind": e.kind, "text": e.text}))
        .collect();
    Ok(Json(json!({
        "ticket": ticket.id,
        "state": ticket.state,
        "title": ticket.title,
        "fix": fix,
        "evidence": attempt.as_ref().and_then(|a| a.fix.clone()),
        "agent": attempt.as_ref().map(|a| json!({
            "agent": a.agent, "steps": a.steps, "tokens": a.tokens,
            "started_ms": a.started_ms, "ended_ms": a.ended_ms,
        })),
        "transcript_steps": transcript.len(),
        "transcript_tail": summary,
    })))
}

/// `POST /v1/tickets/{id}/fix/approve`: a person approves the fix; it is
/// pushed and opened as a draft pull request when GitHub is configured
/// and Suture may act outside (the answer says why not, otherwise).
pub async fn approve_fix(
    State(state): State<AppState>,
    Path(id): Path<String>,
    caller: AdminCaller,
) -> Result<Json<Value>, ApiError> {
    let outcome = state
        .engine
        .approve_fix(&id, &caller.0)
        .await
        .map_err(command_error)?;
    Ok(Json(json!(outcome)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RejectRequest {
    reason: String,
}

/// `POST /v1/tickets/{id}/fix/reject {"reason": "..."}`: a person rejects
/// the fix; the ticket goes back to `triaged` with the reason recorded.
pub async fn reject_fix(
    State(state): State<AppState>,
    Path(id): Path<String>,
    caller: AdminCaller,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let request: RejectRequest =
        serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest {
            field: "body".into(),
            message: format!("expected {{\"reason\": \"...\"}}: {e}"),
        })?;
    let reason = bounded_text("reason", request.reason.trim().to_string())?;
    let outcome = state
        .engine
        .reject_fix(&id, &reason, &caller.0)
        .await
        .map_err(command_error)?;
    Ok(Json(json!(outcome)))
}

/// `GET /v1/tickets/{id}/attempts`: every attempt at the ticket, oldest
/// first, each with its whole (bounded) transcript.
pub async fn list_attempts(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let store = state.engine.store();
    if store.ticket(&id).map_err(store_error)?.is_none() {
        return Err(ApiError::NotFound(format!("no ticket {id:?}")));
    }
    let mut attempts = Vec::new();
    for attempt in store.attempts(&id).map_err(store_error)? {
        let transcript = store
            .transcript(&id, attempt.attempt)
            .map_err(store_error)?;
        attempts.push(json!({"attempt": attempt, "transcript": transcript}));
    }
    Ok(Json(json!({"ticket": id, "attempts": attempts})))
}

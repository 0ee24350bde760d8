//! The operator's controls. Today the kill switch: `GET` shows it, `POST`
//! flips it. Engaging answers only once the switch is stored and in force
//! (no LLM call, push, pull request, issue or comment starts after the
//! answer) and the running agents have been killed with their processes.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};
use suture_actors::control::KillSwitchError;
use suture_actors::engine::KillSwitchCommandError;

use super::auth::AdminCaller;
use super::common::store_error;
use super::error::ApiError;
use super::state::AppState;
use super::tickets::bounded_text;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KillSwitchRequest {
    engaged: bool,
    #[serde(default)]
    reason: String,
}

/// `GET /v1/admin/kill-switch`: engaged or not, why, by whom, since when.
pub async fn get_kill_switch(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let switch = state
        .engine
        .kill_switch()
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    Ok(Json(json!(switch)))
}

/// `POST /v1/admin/kill-switch {"engaged": true|false, "reason": "..."}`:
/// a reason is required to engage.
pub async fn set_kill_switch(
    State(state): State<AppState>,
    caller: AdminCaller,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let request: KillSwitchRequest =
        serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest {
            field: "body".into(),
            message: format!("expected {{\"engaged\": true|false, \"reason\": \"...\"}}: {e}"),
        })?;
    let reason = bounded_text("reason", request.reason.trim().to_string())?;
    let switch = state
        .engine
        .set_kill_switch(request.engaged, &reason, &caller.0)
        .await
        .map_err(|e| match e {
            KillSwitchCommandError::Refused(KillSwitchError::ReasonRequired) => {
                ApiError::BadRequest {
                    field: "reason".into(),
                    message: "reason: required to engage the kill switch (it is the record of why everything stopped)".into(),
                }
            }
            KillSwitchCommandError::Refused(KillSwitchError::Store(e)) => store_error(e),
            KillSwitchCommandError::Engine(e) => ApiError::Unavailable(e.to_string()),
        })?;
    Ok(Json(json!(switch)))
}

//! The autonomy level: `GET` shows the level in force (and per severity),
//! `POST` changes the base level with a reason; stored before the answer,
//! in force for the next action.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};
use suture_actors::control::AutonomyError;
use suture_actors::domain::control::AutonomyLevel;
use suture_actors::engine::AutonomyCommandError;

use super::auth::AdminCaller;
use super::common::store_error;
use super::error::ApiError;
use super::state::AppState;
use super::tickets::bounded_text;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AutonomyRequest {
    level: String,
    #[serde(default)]
    reason: String,
}

/// `GET /v1/admin/autonomy`.
pub async fn get_autonomy(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let (setting, last_change) = state
        .engine
        .autonomy()
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    Ok(Json(
        json!({"autonomy": setting, "last_change": last_change}),
    ))
}

/// `POST /v1/admin/autonomy {"level": "observe|suggest|pr|deploy", "reason": "..."}`.
pub async fn set_autonomy(
    State(state): State<AppState>,
    caller: AdminCaller,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let expected =
        "expected {\"level\": \"observe\"|\"suggest\"|\"pr\"|\"deploy\", \"reason\": \"...\"}";
    let request: AutonomyRequest =
        serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest {
            field: "body".into(),
            message: format!("{expected}: {e}"),
        })?;
    let level = AutonomyLevel::parse(request.level.trim()).ok_or_else(|| ApiError::BadRequest {
        field: "level".into(),
        message: format!(
            "level: {:?} is not one of observe, suggest, pr, deploy",
            request.level
        ),
    })?;
    let reason = bounded_text("reason", request.reason.trim().to_string())?;
    let record = state
        .engine
        .set_autonomy(level, &reason, &caller.0)
        .await
        .map_err(|e| match e {
            AutonomyCommandError::Refused(AutonomyError::ReasonRequired) => ApiError::BadRequest {
                field: "reason".into(),
                message: "reason: required to change the autonomy level".into(),
            },
            AutonomyCommandError::Refused(e @ AutonomyError::DeployNotAllowed) => {
                ApiError::Conflict(e.to_string())
            }
            AutonomyCommandError::Refused(AutonomyError::Store(e)) => store_error(e),
            AutonomyCommandError::Engine(e) => ApiError::Unavailable(e.to_string()),
        })?;
    Ok(Json(json!(record)))
}

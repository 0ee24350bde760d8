//! The breakers an operator resets: `GET /v1/admin/breakers` lists the
//! tripped fix loops (and the LLM's breaker), `POST
//! /v1/admin/signatures/{id}/reset {"reason": "..."}` resets one
//! signature's fix loop so agents may try it again.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::AdminCaller;
use super::common::store_error;
use super::error::ApiError;
use super::state::AppState;
use super::tickets::bounded_text;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ResetRequest {
    #[serde(default)]
    reason: String,
}

/// `GET /v1/admin/breakers`.
pub async fn list_breakers(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let fix_loops: Vec<Value> = state
        .engine
        .store()
        .tripped_fix_loops()
        .map_err(store_error)?
        .into_iter()
        .map(|(signature, state)| json!({"signature": signature, "failures": state.failures, "tripped": state.tripped}))
        .collect();
    let llm = state.engine.llm().client.status();
    Ok(Json(json!({
        "fix_loops": fix_loops,
        "llm": {"state": llm.breaker, "consecutive_failures": llm.consecutive_failures},
    })))
}

/// `POST /v1/admin/signatures/{id}/reset`.
pub async fn reset_signature(
    State(state): State<AppState>,
    Path(id): Path<String>,
    caller: AdminCaller,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let request: ResetRequest = if body.is_empty() {
        ResetRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest {
            field: "body".into(),
            message: format!("expected {{\"reason\": \"...\"}} or no body: {e}"),
        })?
    };
    let reason = bounded_text("reason", request.reason.trim().to_string())?;
    let id = bounded_text("id", id)?;
    let was = state
        .engine
        .reset_fix_loop(&id, &reason, &caller.0)
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    Ok(Json(json!({
        "signature": id,
        "reset": true,
        "was": {"failures": was.failures, "tripped": was.tripped},
    })))
}

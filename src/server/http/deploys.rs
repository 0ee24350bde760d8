//! `POST /v1/deploys` and `GET /v1/deploys`: deploy markers.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};
use suture_actors::clock::now_ms;
use suture_actors::store::{DeployRecord, DeploySource};

use super::common::{deploy_json, store_error};
use super::error::ApiError;
use super::state::AppState;
use crate::wire::time::{format_rfc3339, parse_timestamp};

#[derive(Deserialize)]
struct DeployRequest {
    revision: String,
    #[serde(default)]
    environment: Option<String>,
    #[serde(default)]
    at: Option<Value>,
}

/// `POST /v1/deploys {revision, environment?, at?}`.
pub(crate) async fn post_deploy(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let request: DeployRequest =
        serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest {
            field: "body".into(),
            message: format!("expected {{\"revision\": \"...\", \"environment\"?, \"at\"?}}: {e}"),
        })?;
    if request.revision.trim().is_empty() {
        return Err(ApiError::BadRequest {
            field: "revision".into(),
            message: "revision must not be empty".into(),
        });
    }
    let received_at_ms = now_ms();
    let at_ms = match &request.at {
        None | Some(Value::Null) => received_at_ms,
        Some(value) => parse_timestamp(value).map_err(|problem| ApiError::BadRequest {
            field: "at".into(),
            message: format!("at: {problem}"),
        })?,
    };
    deploy_fields_in_range(&request, at_ms, received_at_ms)?;
    let deploy = DeployRecord {
        id: suture_actors::domain::event::new_id(),
        revision: request.revision,
        environment: request.environment,
        at_ms,
        received_at_ms,
        source: DeploySource::Marker,
    };
    let stored = state
        .engine
        .record_deploy(deploy)
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    Ok(Json(deploy_json(&stored)))
}

pub(crate) async fn list_deploys(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let deploys = state.engine.store().deploys().map_err(store_error)?;
    Ok(Json(
        json!({ "deploys": deploys.iter().map(deploy_json).collect::<Vec<_>>() }),
    ))
}

/// Sentry's own bounds: a release name is at most 200 characters and an
/// environment 64. A deploy time may be in the past (a marker sent late) but
/// not ahead of this clock by more than the skew events are allowed: a
/// future deploy would open a window no event can fall in yet.
fn deploy_fields_in_range(
    request: &DeployRequest,
    at_ms: i64,
    received_at_ms: i64,
) -> Result<(), ApiError> {
    let bad = |field: &str, message: String| ApiError::BadRequest {
        field: field.into(),
        message,
    };
    if request.revision.chars().count() > 200 {
        return Err(bad("revision", "revision is above 200 characters".into()));
    }
    if request
        .environment
        .as_ref()
        .is_some_and(|e| e.chars().count() > 64)
    {
        return Err(bad(
            "environment",
            "environment is above 64 characters".into(),
        ));
    }
    let latest = received_at_ms.saturating_add(crate::wire::time::MAX_FUTURE_SKEW_MS);
    if at_ms > latest {
        return Err(bad(
            "at",
            format!(
                "at: {} is in the future (this server's clock says {})",
                format_rfc3339(at_ms),
                format_rfc3339(received_at_ms)
            ),
        ));
    }
    Ok(())
}

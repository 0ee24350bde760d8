//! `POST /v1/events`: native JSON ingest.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use serde::Serialize;
use serde_json::{Value, json};
use suture_actors::clock::now_ms;

use super::common::store_durably;
use super::error::ApiError;
use super::state::AppState;
use crate::wire::native::{self, Receipt};

#[derive(Serialize)]
struct Accepted {
    id: String,
    signature: String,
}

/// `POST /v1/events`: 200 only once every event of the request is on disk.
pub(crate) async fn post_events(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let stats = state.engine.stats();
    let result = accept_events(&state, body).await;
    if let Err(error) = &result {
        stats.rejected("http", error.reason(), 1);
    }
    result
}

async fn accept_events(
    state: &AppState,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge(format!(
            "request body above the {}-byte limit",
            state.config.server.max_body_bytes
        )),
        _ => ApiError::BadRequest {
            field: "body".into(),
            message: rejection.body_text(),
        },
    })?;
    let receipt = Receipt {
        source: "http",
        received_at_ms: now_ms(),
        max_event_bytes: state.config.ingest.max_event_bytes,
    };
    let events = native::parse_body(&body, receipt)?;
    let signed: Vec<_> = events.into_iter().map(|e| state.engine.sign(e)).collect();
    let accepted: Vec<Accepted> = signed
        .iter()
        .map(|s| Accepted {
            id: s.event.id.clone(),
            signature: s.signature.id.clone(),
        })
        .collect();
    store_durably(state, signed).await?;
    Ok(Json(json!({ "events": accepted })))
}

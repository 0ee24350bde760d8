//! `POST /v1/events`: native JSON ingest.

use axum::Json;
use axum::extract::State;
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
    headers: axum::http::HeaderMap,
    body: axum::body::Body,
) -> Result<Json<Value>, ApiError> {
    let stats = state.engine.stats();
    let result = accept_events(&state, &headers, body).await;
    if let Err(error) = &result {
        stats.rejected("http", error.reason(), 1);
    }
    result
}

async fn accept_events(
    state: &AppState,
    headers: &axum::http::HeaderMap,
    body: axum::body::Body,
) -> Result<Json<Value>, ApiError> {
    let body = state
        .intake
        .read_body(headers, body, state.config.server.max_body_bytes)
        .await?;
    let receipt = Receipt {
        source: "http",
        received_at_ms: now_ms(),
        max_event_bytes: state.config.ingest.max_event_bytes,
    };
    let events = native::parse_body(&body, receipt)?;
    let most = state.config.server.max_events_per_request;
    if events.len() > most {
        return Err(ApiError::TooLarge(format!(
            "{} events in one request, above the limit of {most}",
            events.len()
        )));
    }
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

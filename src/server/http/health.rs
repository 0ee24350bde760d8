//! `/healthz`, `/readyz`, `/metrics` and `GET /v1/status`.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::common::store_error;
use super::error::ApiError;
use super::state::AppState;
use super::tickets;

pub(crate) async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    if let Some(failure) = state.engine.store().sync_failure() {
        return (StatusCode::SERVICE_UNAVAILABLE, failure);
    }
    if state.engine.ready() {
        (StatusCode::OK, "ready".to_string())
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "starting or restarting".to_string(),
        )
    }
}

/// The queue-depth gauge is read from the queue at scrape time, not set on
/// every request.
pub(crate) async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let ingest = state.engine.ingest();
    metrics::gauge!("suture_ingest_queue_depth").set(ingest.depth() as f64);
    metrics::gauge!("suture_ingest_queue_bytes").set(ingest.depth_bytes() as f64);
    super::outcomes::refresh_gauges(state.engine.store());
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::telemetry::prometheus().render(),
    )
}

/// `GET /v1/status`: what `suture status` prints.
pub(crate) async fn status(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let engine = &state.engine;
    let queue = engine.queue_status().await;
    let supervision = engine.supervision_status().await;
    let signatures = engine.store().signature_count().map_err(store_error)?;
    let tickets = engine.store().tickets().map_err(store_error)?;
    let last_batch = match queue.as_ref().and_then(|q| q.last_batch.clone()) {
        Some(batch) => Some(batch),
        None => engine.store().last_batch().map_err(store_error)?,
    };
    let children = engine.children_status().await;
    let mut body = json!({
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": state.started.elapsed().as_secs(),
        "ready": engine.ready(),
        "events": {
            "accepted": engine.stats().accepted_total(),
            "rejected": engine.stats().rejected_total(),
        },
        "signatures": signatures,
        "store": store_health(&state),
        "ingest": {
            "queue_depth": engine.ingest().depth(),
            "queue_capacity": engine.ingest().capacity(),
            "queue_bytes": engine.ingest().depth_bytes(),
            "queue_byte_capacity": engine.ingest().byte_capacity(),
        },
        "queue": queue,
        "last_batch": last_batch,
        "supervision": supervision,
        "tickets": tickets::ticket_counts(&tickets),
        "llm": engine.llm().client.status(),
        "kill_switch": engine.kill_switch().ok(),
        "autonomy": engine.autonomy().ok().map(|(setting, _)| setting),
    });
    // Each child's own status under its name (null while it restarts).
    if let Value::Object(map) = &mut body {
        for (name, status) in children {
            map.entry(name).or_insert(status);
        }
    }
    Ok(Json(body))
}

/// Whether the store still acknowledges writes, and why not: a failed sync
/// or write (a full disk among them) stops it until a restart.
fn store_health(state: &AppState) -> Value {
    let failure = state.engine.store().sync_failure();
    json!({
        "healthy": failure.is_none(),
        "failure": failure,
        "path": state.engine.store().config().path,
    })
}

/// `GET /v1/admin/store`: entries and bytes per tree, largest first, and
/// sled's size on disk. Scans the whole store, on a blocking thread.
pub(crate) async fn store_stats(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let store = state.engine.store().clone();
    let (trees, on_disk) = tokio::task::spawn_blocking(move || store.tree_stats())
        .await
        .map_err(|e| ApiError::Unavailable(format!("store scan stopped: {e}")))?
        .map_err(store_error)?;
    Ok(Json(json!({"size_on_disk": on_disk, "trees": trees})))
}

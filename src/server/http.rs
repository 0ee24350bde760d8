//! The HTTP API: native ingest, deploy markers, signature queries, health,
//! readiness, metrics and status. The gate's and the tickets' routes live
//! in [`super::gate_api`] and [`super::tickets_api`].

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use suture_actors::EngineHandle;
use suture_actors::clock::now_ms;
use suture_actors::ingest::SubmitError;
use suture_actors::store::SignedEvent;
use suture_actors::store::{DeployRecord, DeploySource};

use super::cors::{self, CorsPolicy};
use super::error::ApiError;
use super::gate_api;
use super::tickets_api;
use crate::config::Config;
use crate::wire::native::{self, Receipt};
use crate::wire::time::{format_rfc3339, parse_timestamp};

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub engine: EngineHandle,
    pub config: Arc<Config>,
    pub started: Instant,
    /// Body timeouts and the decompression pool, shared by the ingest routes.
    pub intake: Arc<super::intake::Intake>,
    /// Session counts waiting to be written (see [`super::sessions`]).
    pub sessions: Arc<super::sessions::SessionBuffer>,
}

/// The router, with the body limit from config.
pub fn router(state: AppState) -> Router {
    let body_limit = state.config.server.max_body_bytes;
    let cors = Arc::new(CorsPolicy::new(&state.config.server.cors_origins));
    // Ingest routes browsers post to: CORS, each with its own body limit.
    let native_ingest = Router::new()
        .route("/v1/events", post(post_events))
        .layer(DefaultBodyLimit::max(body_limit));
    let ingest = native_ingest
        .merge(super::sentry::routes(&state.config))
        .layer(axum::middleware::from_fn_with_state(
            cors,
            cors::allow_origins,
        ));
    let admin = Router::new()
        .route("/v1/deploys", post(post_deploy).get(list_deploys))
        .route("/v1/deploys/{id}", get(gate_api::get_deploy))
        .route("/v1/traffic", post(gate_api::post_traffic))
        .route("/v1/gate/decisions", get(gate_api::list_decisions))
        .route("/v1/gate/candidates", get(gate_api::list_candidates))
        .route("/v1/tickets", get(tickets_api::list_tickets))
        .route("/v1/tickets/{id}", get(tickets_api::get_ticket))
        .route("/v1/tickets/{id}/label", post(tickets_api::label_ticket))
        .route("/v1/tickets/{id}/state", post(tickets_api::move_ticket))
        .route("/v1/report", get(tickets_api::get_report))
        .route("/v1/signatures", get(list_signatures))
        .route("/v1/signatures/{id}", get(get_signature))
        .route("/v1/status", get(status))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/capture.js", get(super::capture::script))
        .layer(DefaultBodyLimit::max(body_limit));
    ingest.merge(admin).with_state(state)
}

#[derive(Serialize)]
struct Accepted {
    id: String,
    signature: String,
}

/// `POST /v1/events`: 200 only once every event of the request is on disk.
async fn post_events(
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

/// Hands signed events to the writer and waits until they are on disk: the
/// one submit path behind every HTTP ingest route, so a 200 means the same
/// everywhere. A full ingest queue is [`ApiError::Busy`] (429).
pub(crate) async fn store_durably(
    state: &AppState,
    signed: Vec<SignedEvent>,
) -> Result<(), ApiError> {
    if signed.is_empty() {
        return Ok(());
    }
    let ack = state.engine.ingest().submit(signed).map_err(|e| match e {
        SubmitError::Full => ApiError::Busy {
            retry_after_secs: 1,
        },
        SubmitError::Closed => ApiError::Unavailable("shutting down; not stored".into()),
    })?;
    match tokio::time::timeout(state.config.server.ack_timeout, ack).await {
        Ok(Ok(Ok(()))) => Ok(()),
        Ok(Ok(Err(error))) => Err(ApiError::Unavailable(format!("{error}; not stored, retry"))),
        Ok(Err(_)) => Err(ApiError::Unavailable(
            "the writer restarted before storing these events; not stored, retry".into(),
        )),
        Err(_) => Err(ApiError::Unavailable(
            "timed out waiting for the store; retry".into(),
        )),
    }
}

#[derive(Deserialize)]
struct DeployRequest {
    revision: String,
    #[serde(default)]
    environment: Option<String>,
    #[serde(default)]
    at: Option<Value>,
}

/// `POST /v1/deploys {revision, environment?, at?}`.
async fn post_deploy(State(state): State<AppState>, body: Bytes) -> Result<Json<Value>, ApiError> {
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
        id: suture_actors::event::new_id(),
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

pub(super) fn deploy_json(deploy: &DeployRecord) -> Value {
    json!({
        "id": deploy.id,
        "revision": deploy.revision,
        "environment": deploy.environment,
        "at": format_rfc3339(deploy.at_ms),
        "source": deploy.source,
    })
}

async fn list_deploys(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let deploys = state.engine.store().deploys().map_err(store_error)?;
    Ok(Json(
        json!({ "deploys": deploys.iter().map(deploy_json).collect::<Vec<_>>() }),
    ))
}

#[derive(Deserialize)]
struct SinceQuery {
    since: Option<String>,
}

/// `GET /v1/signatures?since=` (RFC 3339, epoch ms, or a duration like `1h` meaning "that long ago").
async fn list_signatures(
    State(state): State<AppState>,
    Query(query): Query<SinceQuery>,
) -> Result<Json<Value>, ApiError> {
    let since_ms = since_param(query.since.as_deref())?;
    let records = state
        .engine
        .store()
        .signatures_since(since_ms)
        .map_err(store_error)?;
    let signatures: Vec<Value> = records.iter().map(signature_json).collect();
    Ok(Json(json!({ "signatures": signatures })))
}

/// The `since` query parameter: absent or empty means from the beginning.
pub(super) fn since_param(since: Option<&str>) -> Result<i64, ApiError> {
    match since {
        None | Some("") => Ok(0),
        Some(text) => parse_since(text).ok_or_else(|| ApiError::BadRequest {
            field: "since".into(),
            message: format!(
                "since: {text:?} is not an RFC 3339 time, epoch ms, or a duration like 1h"
            ),
        }),
    }
}

fn parse_since(text: &str) -> Option<i64> {
    if let Ok(ms) = text.parse::<i64>() {
        return Some(ms);
    }
    if let Ok(ago) = suture_actors::config::duration::parse(text) {
        return Some(now_ms() - i64::try_from(ago.as_millis()).ok()?);
    }
    parse_timestamp(&Value::String(text.to_string())).ok()
}

fn signature_json(record: &suture_actors::store::SignatureRecord) -> Value {
    json!({
        "id": record.id,
        "title": record.title,
        "culprit": record.culprit,
        "basis": record.basis,
        "exception_type": record.exception_type,
        "count": record.total,
        "first_seen": format_rfc3339(record.first_seen_ms),
        "last_seen": format_rfc3339(record.last_seen_ms),
        "releases": record.releases,
        "sample_message": record.sample_message,
    })
}

/// `GET /v1/signatures/{id}`: the signature, its hourly series and its samples.
async fn get_signature(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let store = state.engine.store();
    let record = store
        .signature(&id)
        .map_err(store_error)?
        .ok_or_else(|| ApiError::NotFound(format!("no signature {id:?}")))?;
    let hourly: Vec<Value> = store
        .hourly(&id)
        .map_err(store_error)?
        .into_iter()
        .map(|(hour, count)| json!({ "hour": format_rfc3339(hour), "count": count }))
        .collect();
    let samples = store.samples(&id).map_err(store_error)?;
    let mut body = signature_json(&record);
    if let Value::Object(map) = &mut body {
        map.insert("last_message".into(), json!(record.last_message));
        map.insert("hourly".into(), json!(hourly));
        map.insert("samples".into(), json!(samples));
    }
    Ok(Json(body))
}

pub(super) fn store_error(error: suture_actors::store::StoreError) -> ApiError {
    tracing::error!(%error, "store read failed");
    ApiError::Unavailable(error.to_string())
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
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
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    metrics::gauge!("suture_ingest_queue_depth").set(state.engine.ingest().depth() as f64);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::telemetry::prometheus().render(),
    )
}

/// `GET /v1/status`: what `suture status` prints.
async fn status(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let engine = &state.engine;
    let queue = engine.queue_status().await;
    let supervision = engine.supervision_status().await;
    let signatures = engine.store().signature_count().map_err(store_error)?;
    let tickets = engine.store().tickets().map_err(store_error)?;
    let last_batch = match queue.as_ref().and_then(|q| q.last_batch.clone()) {
        Some(batch) => Some(batch),
        None => engine.store().last_batch().map_err(store_error)?,
    };
    Ok(Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": state.started.elapsed().as_secs(),
        "ready": engine.ready(),
        "events": {
            "accepted": engine.stats().accepted_total(),
            "rejected": engine.stats().rejected_total(),
        },
        "signatures": signatures,
        "ingest": {
            "queue_depth": engine.ingest().depth(),
            "queue_capacity": engine.ingest().capacity(),
        },
        "queue": queue,
        "last_batch": last_batch,
        "supervision": supervision,
        "gate": engine.gate_status().await,
        // Null while the actor restarts.
        "analyzer": engine.analyzer_status().await,
        "triage": engine.triage_status().await,
        "tickets": tickets_api::ticket_counts(&tickets),
        "llm": engine.llm().client.status(),
    })))
}

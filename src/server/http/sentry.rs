//! The Sentry-compatible endpoints: `POST /api/{project_id}/envelope/` and
//! the legacy `POST /api/{project_id}/store/`, so an SDK needs only a DSN.
//!
//! A request is authenticated by a project's public key (`X-Sentry-Auth`
//! or `Authorization: Sentry sentry_key=...`, the `sentry_key` query
//! parameter, or the envelope header's `dsn`), decompressed with a bound,
//! framed, and its `event` items stored through the same durable path as
//! `/v1/events`: the 200 comes after the events are on disk. Other items
//! (transactions, sessions, client reports, attachments, ...) are counted,
//! not stored; sessions are the traffic denominator of the regression gate.
//!
//! Refusals follow Sentry: a JSON `{"detail": ...}` body (also in the
//! `X-Sentry-Error` header), 401 without a key, 403 for a key that is not
//! the project's, 413 above the limits, 429 with `Retry-After` and
//! `X-Sentry-Rate-Limits` when the ingest queue sheds load.

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use suture_actors::clock::now_ms;

use super::common::store_durably;
use super::error::ApiError;
use super::state::AppState;
use crate::config::{Config, ProjectConfig};
use crate::server::intake::IntakeError;
use crate::wire::decode::DecodeError;
use crate::wire::native::Receipt;
use crate::wire::sentry::clock::SenderClock;
use crate::wire::sentry::envelope::MAX_HEADER_LINE;
use crate::wire::sentry::limits::{FrameError, frame_within};
use crate::wire::sentry::{
    self, Envelope, SentryEventError, auth, decode_store_body, session_requests_by,
};

/// Where events from these routes say they came from.
const SOURCE: &str = "sentry";

/// The Sentry routes, with the envelope size limit as their body limit.
pub fn routes(config: &Config) -> Router<AppState> {
    Router::new()
        .route("/api/{project_id}/envelope/", post(post_envelope))
        .route("/api/{project_id}/envelope", post(post_envelope))
        .route("/api/{project_id}/store/", post(post_store))
        .route("/api/{project_id}/store", post(post_store))
        .layer(DefaultBodyLimit::max(config.sentry.max_envelope_bytes))
}

/// A refusal, in Sentry's shape.
#[derive(Debug)]
pub enum SentryError {
    /// 401: no public key anywhere.
    Unauthorized(String),
    /// 403: a key, but not one of this project's.
    Forbidden(String),
    /// 400: the envelope or event cannot be read.
    BadRequest(String),
    /// 413: above the envelope or event limit (before or after decompression).
    TooLarge(String),
    /// 408: the body did not arrive within `server.body_timeout`.
    Timeout(String),
    /// 429: the ingest queue is full.
    RateLimited { retry_after_secs: u32 },
    /// 503: not stored; retry.
    Unavailable(String),
}

impl SentryError {
    /// A short label for the rejection metric.
    fn reason(&self) -> &'static str {
        match self {
            SentryError::Unauthorized(_) => "unauthorized",
            SentryError::Forbidden(_) => "forbidden",
            SentryError::BadRequest(_) => "invalid",
            SentryError::TooLarge(_) => "too_large",
            SentryError::Timeout(_) => "timeout",
            SentryError::RateLimited { .. } => "queue_full",
            SentryError::Unavailable(_) => "unavailable",
        }
    }
}

impl From<ApiError> for SentryError {
    fn from(error: ApiError) -> Self {
        match error {
            ApiError::Busy { retry_after_secs } => SentryError::RateLimited { retry_after_secs },
            ApiError::TooLarge(m) => SentryError::TooLarge(m),
            ApiError::BadRequest { message, .. } => SentryError::BadRequest(message),
            ApiError::Timeout(m) => SentryError::Timeout(m),
            // Ingest never yields these two; if it did, the client should retry.
            ApiError::Unavailable(m) | ApiError::NotFound(m) | ApiError::Conflict(m) => {
                SentryError::Unavailable(m)
            }
        }
    }
}

impl From<DecodeError> for SentryError {
    fn from(error: DecodeError) -> Self {
        match error {
            DecodeError::TooLarge { .. } => SentryError::TooLarge(error.to_string()),
            _ => SentryError::BadRequest(error.to_string()),
        }
    }
}

impl From<IntakeError> for SentryError {
    fn from(error: IntakeError) -> Self {
        match error {
            IntakeError::TooLarge { .. } => SentryError::TooLarge(error.to_string()),
            IntakeError::Timeout(_) => SentryError::Timeout(error.to_string()),
            IntakeError::Busy => SentryError::RateLimited {
                retry_after_secs: 1,
            },
            IntakeError::Read(m) => SentryError::BadRequest(m),
            IntakeError::Decode(e) => e.into(),
        }
    }
}

impl From<FrameError> for SentryError {
    fn from(error: FrameError) -> Self {
        match error {
            FrameError::Invalid(_) => SentryError::BadRequest(error.to_string()),
            FrameError::Limit(_) => SentryError::TooLarge(error.to_string()),
        }
    }
}

impl From<SentryEventError> for SentryError {
    fn from(error: SentryEventError) -> Self {
        match error {
            SentryEventError::TooLarge { .. } => SentryError::TooLarge(error.to_string()),
            SentryEventError::Invalid(e) => SentryError::BadRequest(format!("event: {e}")),
        }
    }
}

impl IntoResponse for SentryError {
    fn into_response(self) -> Response {
        let (status, detail) = match &self {
            SentryError::Unauthorized(m) => (StatusCode::UNAUTHORIZED, m.clone()),
            SentryError::Forbidden(m) => (StatusCode::FORBIDDEN, m.clone()),
            SentryError::BadRequest(m) => (StatusCode::BAD_REQUEST, m.clone()),
            SentryError::TooLarge(m) => (StatusCode::PAYLOAD_TOO_LARGE, m.clone()),
            SentryError::Timeout(m) => (StatusCode::REQUEST_TIMEOUT, m.clone()),
            SentryError::RateLimited { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "ingest queue is full; retry later".to_string(),
            ),
            SentryError::Unavailable(m) => (StatusCode::SERVICE_UNAVAILABLE, m.clone()),
        };
        let mut response = (status, Json(json!({ "detail": detail }))).into_response();
        let headers = response.headers_mut();
        if let Ok(value) = HeaderValue::from_str(&detail) {
            headers.insert(HeaderName::from_static("x-sentry-error"), value);
        }
        if let SentryError::RateLimited { retry_after_secs } = self {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            // `retry_after:categories:scope`: no categories means all of
            // them; the whole sidecar is busy, not one key.
            if let Ok(value) = HeaderValue::from_str(&format!("{retry_after_secs}::organization")) {
                headers.insert(HeaderName::from_static("x-sentry-rate-limits"), value);
            }
        }
        response
    }
}

/// `POST /api/{project_id}/envelope/`.
async fn post_envelope(
    State(state): State<AppState>,
    Path(project_id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, SentryError> {
    let result = accept_envelope(&state, &project_id, query.as_deref(), &headers, body).await;
    count_refusal(&state, result)
}

/// `POST /api/{project_id}/store/`: one event, JSON or base64 (optionally zlib).
async fn post_store(
    State(state): State<AppState>,
    Path(project_id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, SentryError> {
    let result = accept_store(&state, &project_id, query.as_deref(), &headers, body).await;
    count_refusal(&state, result)
}

/// Counts a refused request in the rejection metric, by reason.
fn count_refusal<T>(state: &AppState, result: Result<T, SentryError>) -> Result<T, SentryError> {
    if let Err(error) = &result {
        state.engine.stats().rejected(SOURCE, error.reason(), 1);
    }
    result
}

/// The order is the point: the key is checked before the body is
/// decompressed or framed. Without a key in the request, only the first
/// line (the envelope header, at most [`MAX_HEADER_LINE`] bytes) is
/// decompressed to find a `dsn`, so an anonymous compression bomb costs
/// 64 KiB of output, not the 100 MiB envelope limit.
async fn accept_envelope(
    state: &AppState,
    project_id: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Json<Value>, SentryError> {
    let project_id = parse_project_id(project_id)?;
    let request_key = key_from_request(query, headers);
    if let Some(key) = &request_key {
        authorize(&state.config, project_id, key)?;
    }
    let limit = state.config.sentry.max_envelope_bytes;
    let raw = state.intake.read_body(headers, body, limit).await?;
    if request_key.is_none() {
        let missing = || {
            SentryError::Unauthorized(
                "missing authorization information: give X-Sentry-Auth, ?sentry_key= or a dsn in the envelope header".into(),
            )
        };
        // Anything wrong with the header line is "no key": an anonymous
        // request learns nothing more and costs nothing more.
        let line = state
            .intake
            .first_line(headers, raw.clone(), MAX_HEADER_LINE)
            .await
            .map_err(|_| missing())?;
        let key = serde_json::from_slice::<Value>(&line)
            .ok()
            .and_then(|header| header.get("dsn")?.as_str().and_then(auth::key_from_dsn))
            .ok_or_else(missing)?;
        authorize(&state.config, project_id, &key)?;
    }
    let body = state.intake.decode(headers, raw, limit).await?;
    let envelope = frame_within(&body, state.config.sentry.envelope_limits())?;
    let received_at_ms = now_ms();
    let receipt = Receipt {
        source: SOURCE,
        received_at_ms,
        max_event_bytes: state.config.ingest.max_event_bytes,
    };
    let sender_clock = SenderClock::new(envelope.header.get("sent_at"), received_at_ms);
    let mut events = Vec::new();
    let mut sessions = Vec::new();
    for item in &envelope.items {
        metrics::counter!("suture_sentry_items_total", "type" => item_label(&item.item_type))
            .increment(1);
        match item.item_type.as_str() {
            "event" => events.push(sentry::parse_event(
                item.payload,
                envelope.event_id(),
                receipt,
            )?),
            "session" | "sessions" => sessions.extend(session_requests_by(
                &item.item_type,
                item.payload,
                sender_clock,
            )),
            _ => {}
        }
    }
    let reply_id = events
        .first()
        .map(|e| e.id.clone())
        .or_else(|| envelope_event_id(&envelope));
    let signed = events.into_iter().map(|e| state.engine.sign(e)).collect();
    store_durably(state, signed).await?;
    // Counted after the events are stored: a refused envelope is retried,
    // and its sessions must not be counted twice. Summed in memory and
    // written with the next group commit, not one writer call per page load.
    state.engine.ingest().add_sessions(sessions);
    Ok(Json(match reply_id {
        Some(id) => json!({ "id": id }),
        None => json!({}),
    }))
}

async fn accept_store(
    state: &AppState,
    project_id: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Json<Value>, SentryError> {
    let project_id = parse_project_id(project_id)?;
    let key = key_from_request(query, headers).ok_or_else(|| {
        SentryError::Unauthorized(
            "missing authorization information: give X-Sentry-Auth or ?sentry_key=".into(),
        )
    })?;
    authorize(&state.config, project_id, &key)?;
    let limit = state.config.sentry.max_envelope_bytes;
    let raw = state.intake.read_body(headers, body, limit).await?;
    let body = state.intake.decode(headers, raw, limit).await?;
    let max_event_bytes = state.config.ingest.max_event_bytes;
    let json = decode_store_body(&body, max_event_bytes)?;
    let receipt = Receipt {
        source: SOURCE,
        received_at_ms: now_ms(),
        max_event_bytes,
    };
    metrics::counter!("suture_sentry_items_total", "type" => "event").increment(1);
    let event = sentry::parse_event(&json, None, receipt)?;
    let id = event.id.clone();
    store_durably(state, vec![state.engine.sign(event)]).await?;
    Ok(Json(json!({ "id": id })))
}

fn parse_project_id(text: &str) -> Result<u64, SentryError> {
    text.parse().map_err(|_| {
        SentryError::BadRequest(format!("invalid project id {text:?}: expected a number"))
    })
}

/// The key from the auth headers or the query string, when the request has one.
fn key_from_request(query: Option<&str>, headers: &HeaderMap) -> Option<String> {
    let header_key = [
        HeaderName::from_static("x-sentry-auth"),
        header::AUTHORIZATION,
    ]
    .iter()
    .filter_map(|name| headers.get(name)?.to_str().ok())
    .find_map(auth::key_from_auth_header);
    header_key.or_else(|| query.and_then(auth::key_from_query))
}

/// A key is good for a project when the project lists it.
fn authorize<'c>(
    config: &'c Config,
    project_id: u64,
    key: &str,
) -> Result<&'c ProjectConfig, SentryError> {
    match config.project_of_key(key) {
        Some(project) if project.id == project_id => Ok(project),
        Some(_) => Err(SentryError::Forbidden(format!(
            "this key is not valid for project {project_id}"
        ))),
        None => Err(SentryError::Forbidden("unknown public key".into())),
    }
}

fn envelope_event_id(envelope: &Envelope<'_>) -> Option<String> {
    let id = envelope.event_id()?;
    let hex: String = id.chars().filter(|c| *c != '-').collect();
    (hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| hex.to_ascii_lowercase())
}

/// Item types as a bounded set of metric labels (the type is sender-chosen).
fn item_label(item_type: &str) -> &'static str {
    const KNOWN: [&str; 16] = [
        "event",
        "transaction",
        "session",
        "sessions",
        "client_report",
        "attachment",
        "user_report",
        "feedback",
        "profile",
        "profile_chunk",
        "replay_event",
        "replay_recording",
        "check_in",
        "span",
        "log",
        "statsd",
    ];
    KNOWN
        .into_iter()
        .find(|known| *known == item_type)
        .unwrap_or("other")
}

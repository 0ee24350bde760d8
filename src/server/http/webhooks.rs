//! `POST /v1/webhooks/github`: what GitHub says about a fix's pull request
//! (merged, closed, reviewed). Not behind the admin token: GitHub signs
//! each delivery with the webhook's secret (`X-Hub-Signature-256`), and a
//! missing or wrong signature is a 401 that changes nothing. Deliveries are
//! idempotent by `X-GitHub-Delivery`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use suture_actors::clients::github::webhook::{parse_event, signature_valid};

use super::error::ApiError;
use super::state::AppState;

/// Largest delivery accepted: a pull request event with a long body and
/// many labels is tens of KiB; GitHub caps payloads at 25 MiB.
pub const MAX_DELIVERY_BYTES: usize = 5 * 1024 * 1024;

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `POST /v1/webhooks/github`.
pub async fn github(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Some(secret) = &state.github_webhook_secret else {
        return Ok((
            StatusCode::NOT_FOUND,
            Json(
                json!({"error": "the GitHub webhook is off: set the variable github.webhook_secret_env names"}),
            ),
        ));
    };
    if !signature_valid(
        secret.as_bytes(),
        &body,
        header(&headers, "x-hub-signature-256"),
    ) {
        metrics::counter!("suture_github_webhooks_total", "outcome" => "bad_signature")
            .increment(1);
        return Ok((
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "missing or wrong X-Hub-Signature-256"})),
        ));
    }
    let delivery = header(&headers, "x-github-delivery")
        .map(str::trim)
        .filter(|d| !d.is_empty() && d.len() <= 100)
        .ok_or_else(|| ApiError::BadRequest {
            field: "X-GitHub-Delivery".into(),
            message: "X-GitHub-Delivery: required (1 to 100 characters)".into(),
        })?;
    let name = header(&headers, "x-github-event").unwrap_or_default();
    let event = parse_event(name, &body).map_err(|message| ApiError::BadRequest {
        field: "body".into(),
        message,
    })?;
    let applied = state
        .engine
        .github_event(delivery, event)
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    let outcome = match &applied {
        suture_actors::control::github_events::Applied::Duplicate => "duplicate",
        suture_actors::control::github_events::Applied::Ignored { .. } => "ignored",
        suture_actors::control::github_events::Applied::Updated { .. } => "updated",
    };
    metrics::counter!("suture_github_webhooks_total", "outcome" => outcome).increment(1);
    Ok((StatusCode::OK, Json(json!(applied))))
}

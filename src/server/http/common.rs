//! Helpers the route files share: the durable submit path, the JSON of a
//! deploy, the `since` parameter, how a store error becomes a reply, and
//! a ticket with its fix.

use serde_json::{Value, json};
use suture_actors::clock::now_ms;
use suture_actors::domain::tickets::{FixRecord, Ticket};
use suture_actors::stages::ingest::SubmitError;
use suture_actors::store::{DeployRecord, SignedEvent};

use super::error::ApiError;
use super::state::AppState;
use crate::wire::time::{format_rfc3339, parse_timestamp};

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
        SubmitError::Full | SubmitError::FullBytes { .. } => ApiError::Busy {
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

pub(crate) fn deploy_json(deploy: &DeployRecord) -> Value {
    json!({
        "id": deploy.id,
        "revision": deploy.revision,
        "environment": deploy.environment,
        "at": format_rfc3339(deploy.at_ms),
        "source": deploy.source,
    })
}

/// The `since` query parameter: absent or empty means from the beginning.
pub(crate) fn since_param(since: Option<&str>) -> Result<i64, ApiError> {
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

pub(crate) fn store_error(error: suture_actors::store::StoreError) -> ApiError {
    tracing::error!(%error, "store read failed");
    ApiError::Unavailable(error.to_string())
}

/// Ticket `id` and its fix, or the 404 that says which is missing.
pub(crate) fn ticket_with_fix(state: &AppState, id: &str) -> Result<(Ticket, FixRecord), ApiError> {
    let ticket = state
        .engine
        .store()
        .ticket(id)
        .map_err(store_error)?
        .ok_or_else(|| ApiError::NotFound(format!("no ticket {id:?}")))?;
    let fix = ticket.fix.clone().ok_or_else(|| {
        ApiError::NotFound(format!(
            "ticket {id} has no fix (it is {})",
            ticket.state.as_str()
        ))
    })?;
    Ok((ticket, fix))
}

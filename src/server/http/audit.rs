//! The audit log: `GET /v1/audit?since=&ticket=&kind=&limit=`, oldest
//! first. `since` is the `seq` of the last entry a reader has seen (the
//! answer's `next`), so `suture audit --follow` asks again with it and
//! misses nothing.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::Deserialize;
use serde_json::{Value, json};
use suture_actors::domain::audit::AuditQuery;

use super::common::store_error;
use super::error::ApiError;
use super::state::AppState;

/// Entries returned when `limit` is not given.
const DEFAULT_LIMIT: usize = 200;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    #[serde(default)]
    since: u64,
    ticket: Option<String>,
    kind: Option<String>,
    limit: Option<usize>,
}

/// `GET /v1/audit`.
pub async fn list_audit(
    State(state): State<AppState>,
    params: Result<Query<AuditParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::BadRequest {
        field: "query".into(),
        message: format!(
            "expected ?since=<seq>&ticket=<id>&kind=<prefix>&limit=<n>: {}",
            e.body_text()
        ),
    })?;
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > suture_actors::store::audit::MAX_QUERY_LIMIT {
        return Err(ApiError::BadRequest {
            field: "limit".into(),
            message: format!(
                "limit: between 1 and {}",
                suture_actors::store::audit::MAX_QUERY_LIMIT
            ),
        });
    }
    let query = AuditQuery {
        since: params.since,
        ticket: params.ticket.filter(|t| !t.is_empty()),
        kind: params.kind.filter(|k| !k.is_empty()),
        limit,
    };
    let entries = state.engine.store().audit(&query).map_err(store_error)?;
    let next = entries.last().map_or(params.since, |e| e.seq);
    Ok(Json(json!({ "entries": entries, "next": next })))
}

//! `GET /v1/signatures` and `GET /v1/signatures/{id}`.

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::common::{since_param, store_error};
use super::error::ApiError;
use super::state::AppState;
use crate::wire::time::format_rfc3339;

#[derive(Deserialize)]
pub(crate) struct SinceQuery {
    since: Option<String>,
}

/// `GET /v1/signatures?since=` (RFC 3339, epoch ms, or a duration like `1h` meaning "that long ago").
pub(crate) async fn list_signatures(
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
pub(crate) async fn get_signature(
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

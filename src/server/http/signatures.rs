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
    /// Paged: at most this many (up to [`MAX_PAGE`]).
    limit: Option<usize>,
    /// Paged: the `next` of the previous page.
    cursor: Option<String>,
}

/// Most signatures one page returns.
const MAX_PAGE: usize = 1000;

/// `GET /v1/signatures?since=` (RFC 3339, epoch ms, or a duration like `1h`
/// meaning "that long ago"), most recently seen first. With `limit` or
/// `cursor`, one page and its `next` cursor (null at the end): a store of
/// 100,000 signatures answers a page, not all of them.
pub(crate) async fn list_signatures(
    State(state): State<AppState>,
    Query(query): Query<SinceQuery>,
) -> Result<Json<Value>, ApiError> {
    let since_ms = since_param(query.since.as_deref())?;
    if query.limit.is_some() || query.cursor.is_some() {
        let after = match query.cursor.as_deref().filter(|c| !c.is_empty()) {
            None => None,
            Some(text) => Some(parse_cursor(text).ok_or_else(|| ApiError::BadRequest {
                field: "cursor".into(),
                message: format!("cursor: {text:?} is not a `next` this endpoint gave"),
            })?),
        };
        let limit = query.limit.unwrap_or(100).clamp(1, MAX_PAGE);
        let page = state
            .engine
            .store()
            .signatures_page(since_ms, after.as_ref(), limit)
            .map_err(store_error)?;
        let signatures: Vec<Value> = page.items.iter().map(signature_json).collect();
        let next = page.next.map(|(seen, id)| format!("{seen}:{id}"));
        return Ok(Json(json!({ "signatures": signatures, "next": next })));
    }
    let records = state
        .engine
        .store()
        .signatures_since(since_ms)
        .map_err(store_error)?;
    let signatures: Vec<Value> = records.iter().map(signature_json).collect();
    Ok(Json(json!({ "signatures": signatures })))
}

/// `<last seen ms>:<id>`, as `next` spells it.
fn parse_cursor(text: &str) -> Option<(i64, String)> {
    let (seen, id) = text.split_once(':')?;
    Some((seen.parse().ok()?, id.to_string()))
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

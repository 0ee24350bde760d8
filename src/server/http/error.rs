//! Every refusal the HTTP API gives, mapped to a status code in one place.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::wire::native::NativeError;

/// An API error: its status, a message, and the field at fault when there is one.
#[derive(Debug)]
pub enum ApiError {
    /// 400: the payload is wrong; `field` says where.
    BadRequest { field: String, message: String },
    /// 413: too large (an event, or the whole body).
    TooLarge(String),
    /// 408: the request body did not arrive in time.
    Timeout(String),
    /// 429: the ingest queue is full; retry after the given seconds.
    Busy { retry_after_secs: u32 },
    /// 503: shutting down, restarting, or the store failed; nothing was acknowledged.
    Unavailable(String),
    /// 404.
    NotFound(String),
    /// 409: the request is well formed but the resource's state refuses it
    /// (a ticket that cannot make that move, or is not triaged yet).
    Conflict(String),
}

impl ApiError {
    /// A short label for the rejection metric.
    pub fn reason(&self) -> &'static str {
        match self {
            ApiError::BadRequest { .. } => "invalid",
            ApiError::TooLarge(_) => "too_large",
            ApiError::Timeout(_) => "timeout",
            ApiError::Busy { .. } => "queue_full",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::NotFound(_) => "not_found",
            ApiError::Conflict(_) => "conflict",
        }
    }
}

impl From<NativeError> for ApiError {
    fn from(error: NativeError) -> Self {
        match error {
            NativeError::Invalid(e) => ApiError::BadRequest {
                field: e.field.clone(),
                message: e.to_string(),
            },
            NativeError::TooLarge { .. } => ApiError::TooLarge(error.to_string()),
            NativeError::Empty => ApiError::BadRequest {
                field: "body".into(),
                message: error.to_string(),
            },
        }
    }
}

impl From<crate::server::intake::IntakeError> for ApiError {
    fn from(error: crate::server::intake::IntakeError) -> Self {
        use crate::server::intake::IntakeError;
        match error {
            IntakeError::TooLarge { .. } => ApiError::TooLarge(error.to_string()),
            IntakeError::Timeout(_) => ApiError::Timeout(error.to_string()),
            IntakeError::Busy => ApiError::Busy {
                retry_after_secs: 1,
            },
            IntakeError::Read(_) | IntakeError::Decode(_) => ApiError::BadRequest {
                field: "body".into(),
                message: error.to_string(),
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = match &self {
            ApiError::BadRequest { field, message } => (
                StatusCode::BAD_REQUEST,
                json!({ "error": message, "field": field }),
            ),
            ApiError::TooLarge(message) => {
                (StatusCode::PAYLOAD_TOO_LARGE, json!({ "error": message }))
            }
            ApiError::Timeout(message) => {
                (StatusCode::REQUEST_TIMEOUT, json!({ "error": message }))
            }
            ApiError::Busy { retry_after_secs } => (
                StatusCode::TOO_MANY_REQUESTS,
                json!({ "error": "ingest queue is full; retry later", "retry_after": retry_after_secs }),
            ),
            ApiError::Unavailable(message) => {
                (StatusCode::SERVICE_UNAVAILABLE, json!({ "error": message }))
            }
            ApiError::NotFound(message) => (StatusCode::NOT_FOUND, json!({ "error": message })),
            ApiError::Conflict(message) => (StatusCode::CONFLICT, json!({ "error": message })),
        };
        let mut response = (status, Json(body)).into_response();
        if let ApiError::Busy { retry_after_secs } = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        response
    }
}

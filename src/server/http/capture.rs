//! `GET /capture.js`: the browser snippet (`capture.js` beside this file),
//! compiled into the binary so the sidecar serves it with no files to ship.

use axum::http::header;
use axum::response::IntoResponse;

/// The snippet's source.
pub const CAPTURE_JS: &str = include_str!("capture.js");

/// Serves the snippet. Cached for an hour: pages load it on every view, and
/// it changes only with a Suture upgrade.
pub async fn script() -> impl IntoResponse {
    (
        [
            (
                header::CONTENT_TYPE,
                "application/javascript; charset=utf-8",
            ),
            (header::CACHE_CONTROL, "public, max-age=3600"),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        ],
        CAPTURE_JS,
    )
}

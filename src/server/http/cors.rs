//! CORS for the ingest routes, so browser SDKs and the capture snippet can
//! post from a page on another origin. Hand-written (a few headers) rather
//! than a dependency.
//!
//! Preflight `OPTIONS` requests are answered here with 204; other responses
//! get `Access-Control-Allow-Origin` and expose the headers a Sentry SDK
//! reads to back off (`Retry-After`, `X-Sentry-Rate-Limits`).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

/// Headers browsers may send: what Sentry's JS SDK and fetch-based
/// transports use.
const ALLOWED_HEADERS: &str =
    "content-type, content-encoding, authorization, x-sentry-auth, sentry-trace, baggage";
/// Headers a page may read from the reply.
const EXPOSED_HEADERS: &str = "retry-after, x-sentry-rate-limits, x-sentry-error";
/// How long a browser may cache a preflight answer (seconds).
const PREFLIGHT_MAX_AGE: &str = "86400";

/// Which origins may post.
#[derive(Debug, Clone)]
pub struct CorsPolicy {
    any: bool,
    origins: Vec<String>,
}

impl CorsPolicy {
    pub fn new(origins: &[String]) -> Self {
        Self {
            any: origins.iter().any(|o| o == "*"),
            origins: origins
                .iter()
                .map(|o| o.trim_end_matches('/').to_ascii_lowercase())
                .collect(),
        }
    }

    /// The `Access-Control-Allow-Origin` value for a request from `origin`.
    fn allow(&self, origin: Option<&HeaderValue>) -> Option<HeaderValue> {
        if self.any {
            return Some(HeaderValue::from_static("*"));
        }
        let origin = origin?;
        let text = origin.to_str().ok()?.to_ascii_lowercase();
        self.origins.contains(&text).then(|| origin.clone())
    }
}

/// The middleware: answers preflights, decorates every other response.
pub async fn allow_origins(
    State(policy): State<Arc<CorsPolicy>>,
    request: Request,
    next: Next,
) -> Response {
    let allowed = policy.allow(request.headers().get(header::ORIGIN));
    if request.method() == Method::OPTIONS {
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::NO_CONTENT;
        if let Some(origin) = allowed {
            let headers = response.headers_mut();
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("POST, OPTIONS"),
            );
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static(ALLOWED_HEADERS),
            );
            headers.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static(PREFLIGHT_MAX_AGE),
            );
            vary_on_origin(&policy, headers);
        }
        return response;
    }
    let mut response = next.run(request).await;
    if let Some(origin) = allowed {
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSED_HEADERS),
        );
        vary_on_origin(&policy, headers);
    }
    response
}

/// A reply that depends on the `Origin` says so, for caches.
fn vary_on_origin(policy: &CorsPolicy, headers: &mut HeaderMap) {
    if !policy.any {
        headers.append(header::VARY, HeaderValue::from_static("origin"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_or_listed_origins() {
        let any = CorsPolicy::new(&["*".into()]);
        assert_eq!(any.allow(None), Some(HeaderValue::from_static("*")));
        let listed = CorsPolicy::new(&["https://App.example.com/".into()]);
        let page = HeaderValue::from_static("https://app.example.com");
        assert_eq!(listed.allow(Some(&page)), Some(page.clone()));
        let other = HeaderValue::from_static("https://evil.example");
        assert_eq!(listed.allow(Some(&other)), None);
        assert_eq!(listed.allow(None), None);
    }
}

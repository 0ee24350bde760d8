//! Who may use the admin API (everything but ingest, health and metrics):
//! it changes state (labels, moves, deploys, traffic, the kill switch,
//! approving a fix) and shows what exceptions carried.
//!
//! - **With a token** (the variable `admin.token_env` names, default
//!   `SUTURE_ADMIN_TOKEN`): every admin request carries `Authorization:
//!   Bearer <token>`; missing or wrong is a 401 and nothing runs. Compared
//!   in constant time.
//! - **Without one**, the sidecar only starts with its HTTP listener on
//!   loopback, and admin requests must be ones a web page cannot forge:
//!   the `Host` names the listener's own address (`127.0.0.1:<port>`,
//!   `localhost:<port>`, `[::1]:<port>`: a DNS-rebound name is refused), no
//!   `Origin` header and no `Sec-Fetch-Site` other than `none` or
//!   `same-origin` (a page's fetch or form carries them), and a body-bearing
//!   request is `application/json` (a cross-site form cannot be). Refused:
//!   403 with the reason.
//!
//! Admin routes never carry CORS headers, so a browser never hands their
//! answers to another origin.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The admin API's access rule, built at start.
#[derive(Clone)]
pub struct AdminAuth {
    token: Option<Arc<str>>,
    /// The listener's own address, for the `Host` check.
    listener: SocketAddr,
}

impl std::fmt::Debug for AdminAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminAuth")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("listener", &self.listener)
            .finish()
    }
}

/// Why the sidecar cannot start with this admin setup.
#[derive(Debug, thiserror::Error)]
#[error(
    "the admin API would be reachable on {0} without a token: set the variable admin.token_env names (SUTURE_ADMIN_TOKEN by default), or bind server.http_addr to loopback"
)]
pub struct ExposedWithoutToken(SocketAddr);

impl AdminAuth {
    /// `token`: the admin token, when its variable is set and not empty.
    pub fn new(token: Option<String>, listener: SocketAddr) -> Result<Self, ExposedWithoutToken> {
        let token = token
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty());
        if token.is_none() && !listener.ip().is_loopback() {
            return Err(ExposedWithoutToken(listener));
        }
        Ok(Self {
            token: token.map(Arc::from),
            listener,
        })
    }

    /// Whether a token is required.
    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// `Ok` when `headers` may use the admin API, else the status and why.
    pub fn check(&self, method: &Method, headers: &HeaderMap) -> Result<(), (StatusCode, String)> {
        match &self.token {
            Some(token) => {
                let given = headers
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer "))
                    .map(str::trim);
                match given {
                    Some(given) if equal_in_constant_time(given.as_bytes(), token.as_bytes()) => {
                        Ok(())
                    }
                    Some(_) => Err((StatusCode::UNAUTHORIZED, "wrong admin token".into())),
                    None => Err((
                        StatusCode::UNAUTHORIZED,
                        "the admin API needs Authorization: Bearer <token> (the token is in the variable admin.token_env names)".into(),
                    )),
                }
            }
            None => self.check_local(method, headers),
        }
    }

    /// Without a token: only requests no web page can make.
    fn check_local(
        &self,
        method: &Method,
        headers: &HeaderMap,
    ) -> Result<(), (StatusCode, String)> {
        let forbidden = |why: &str| Err((StatusCode::FORBIDDEN, why.to_string()));
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let port = self.listener.port();
        let own = [
            format!("127.0.0.1:{port}"),
            format!("localhost:{port}"),
            format!("[::1]:{port}"),
            self.listener.to_string(),
        ];
        if !own.iter().any(|h| h.eq_ignore_ascii_case(host)) {
            return forbidden(
                "the admin API without a token answers only requests addressed to the listener itself (Host)",
            );
        }
        if headers.contains_key(header::ORIGIN) {
            return forbidden("the admin API without a token does not answer web pages (Origin)");
        }
        let site = headers
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("none");
        if !matches!(site, "none" | "same-origin") {
            return forbidden(
                "the admin API without a token does not answer web pages (Sec-Fetch-Site)",
            );
        }
        let has_body = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
        let json = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.trim_start()
                    .to_ascii_lowercase()
                    .starts_with("application/json")
            });
        if has_body && !json {
            return forbidden("admin requests with a body must be Content-Type: application/json");
        }
        Ok(())
    }
}

/// Compares without leaking where the first difference is.
fn equal_in_constant_time(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The middleware on the admin routes.
pub async fn require_admin(
    State(auth): State<Arc<AdminAuth>>,
    request: Request,
    next: Next,
) -> Response {
    match auth.check(request.method(), request.headers()) {
        Ok(()) => next.run(request).await,
        Err((status, why)) => {
            metrics::counter!("suture_admin_refused_total", "status" => status.as_str().to_string())
                .increment(1);
            let mut response = (status, axum::Json(json!({ "error": why }))).into_response();
            if status == StatusCode::UNAUTHORIZED {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    header::HeaderValue::from_static("Bearer"),
                );
            }
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().expect("header value"));
        }
        map
    }

    fn local() -> AdminAuth {
        AdminAuth::new(None, "127.0.0.1:8787".parse().expect("addr")).expect("loopback")
    }

    #[test]
    fn without_a_token_only_loopback_may_listen() {
        assert!(AdminAuth::new(None, "0.0.0.0:8787".parse().expect("addr")).is_err());
        assert!(AdminAuth::new(Some("  ".into()), "10.0.0.1:8787".parse().expect("addr")).is_err());
        assert!(
            AdminAuth::new(Some("s3cret".into()), "0.0.0.0:8787".parse().expect("addr")).is_ok()
        );
    }

    #[test]
    fn with_a_token_only_the_bearer_passes() {
        let auth = AdminAuth::new(Some("s3cret".into()), "0.0.0.0:8787".parse().expect("addr"))
            .expect("token");
        let post = Method::POST;
        assert!(
            auth.check(&post, &headers(&[("authorization", "Bearer s3cret")]))
                .is_ok()
        );
        for bad in [
            &[][..],
            &[("authorization", "Bearer nope")][..],
            &[("authorization", "s3cret")][..],
        ] {
            let (status, _) = auth.check(&post, &headers(bad)).expect_err("refused");
            assert_eq!(status, StatusCode::UNAUTHORIZED);
        }
    }

    #[test]
    fn without_a_token_web_pages_are_refused() {
        let auth = local();
        let json = ("content-type", "application/json");
        let host = ("host", "127.0.0.1:8787");
        assert!(auth.check(&Method::POST, &headers(&[host, json])).is_ok());
        assert!(
            auth.check(&Method::GET, &headers(&[("host", "localhost:8787")]))
                .is_ok()
        );
        let refused = [
            (
                Method::POST,
                headers(&[("host", "evil.example:8787"), json]),
            ),
            (
                Method::POST,
                headers(&[host, json, ("origin", "https://evil.example")]),
            ),
            (
                Method::GET,
                headers(&[host, ("sec-fetch-site", "cross-site")]),
            ),
            (
                Method::POST,
                headers(&[host, ("content-type", "application/x-www-form-urlencoded")]),
            ),
            (
                Method::POST,
                headers(&[host, ("content-type", "text/plain")]),
            ),
        ];
        for (method, request) in refused {
            let (status, why) = auth.check(&method, &request).expect_err("refused");
            assert_eq!(status, StatusCode::FORBIDDEN, "{why}");
        }
    }

    #[test]
    fn the_comparison_is_exact() {
        assert!(equal_in_constant_time(b"abc", b"abc"));
        assert!(!equal_in_constant_time(b"abc", b"abd"));
        assert!(!equal_in_constant_time(b"abc", b"abcd"));
    }
}

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
//! - **With a dashboard session** (the `suture_session` cookie the
//!   dashboard's login sets, see [`super::dashboard`]), when no
//!   `Authorization` is given: the session's token name, if the request is
//!   the page's own: no cross-site `Sec-Fetch-Site`, an `Origin` (when
//!   present, and always on a state-changing request) naming the `Host`,
//!   and `X-Suture-Dashboard: 1` on a state-changing request (a header a
//!   cross-site page cannot send without a CORS preflight, which admin
//!   routes never answer). The cookie itself is `SameSite=Strict`.
//!
//! Admin routes never carry CORS headers, so a browser never hands their
//! answers to another origin.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use suture_actors::domain::control::Caller;

use super::dashboard::session::Sessions;

/// The dashboard's session cookie.
pub const SESSION_COOKIE: &str = "suture_session";
/// The header the dashboard sends on every state-changing request.
pub const DASHBOARD_HEADER: &str = "x-suture-dashboard";

/// The admin API's access rule, built at start.
#[derive(Clone)]
pub struct AdminAuth {
    /// Each token with its name (the audit log's `by`).
    tokens: Vec<(Arc<str>, Arc<str>)>,
    /// The listener's own address, for the `Host` check.
    listener: SocketAddr,
    /// The dashboard's sessions and login codes.
    sessions: Arc<Sessions>,
    /// Login attempts per address (`POST /login`).
    login_throttle: Arc<super::dashboard::throttle::LoginThrottle>,
}

/// Who a request authenticated as, and how.
#[derive(Debug, Clone)]
pub struct Access {
    pub name: Arc<str>,
    /// Through a dashboard session cookie (not a token or local access).
    pub session: bool,
}

impl std::fmt::Debug for AdminAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminAuth")
            .field(
                "tokens",
                &self.tokens.iter().map(|(name, _)| name).collect::<Vec<_>>(),
            )
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
    /// `token`: the admin token, when its variable is set and not empty
    /// (named `admin`).
    pub fn new(token: Option<String>, listener: SocketAddr) -> Result<Self, ExposedWithoutToken> {
        Self::with_tokens(token.map(|t| ("admin".to_string(), t)), listener)
    }

    /// Named tokens (`admin.tokens`, plus `admin` for `admin.token_env`):
    /// each request is recorded with the name of the token it carried.
    /// Empty tokens are left out.
    pub fn with_tokens(
        tokens: impl IntoIterator<Item = (String, String)>,
        listener: SocketAddr,
    ) -> Result<Self, ExposedWithoutToken> {
        let tokens: Vec<(Arc<str>, Arc<str>)> = tokens
            .into_iter()
            .map(|(name, token)| (name, token.trim().to_string()))
            .filter(|(_, token)| !token.is_empty())
            .map(|(name, token)| (Arc::from(name), Arc::from(token)))
            .collect();
        if tokens.is_empty() && !listener.ip().is_loopback() {
            return Err(ExposedWithoutToken(listener));
        }
        Ok(Self {
            tokens,
            listener,
            sessions: Arc::new(Sessions::new(std::time::Duration::from_secs(8 * 3600))),
            login_throttle: Arc::default(),
        })
    }

    /// The same rule with the dashboard's sessions in `sessions`.
    pub fn with_sessions(mut self, sessions: Arc<Sessions>) -> Self {
        self.sessions = sessions;
        self
    }

    /// The dashboard's sessions and login codes.
    pub fn sessions(&self) -> &Arc<Sessions> {
        &self.sessions
    }

    /// The login page's throttle per address.
    pub fn login_throttle(&self) -> &super::dashboard::throttle::LoginThrottle {
        &self.login_throttle
    }

    /// The name of the token `given` is, if it is one (constant time).
    pub fn token_name(&self, given: &str) -> Option<Arc<str>> {
        let given = given.trim();
        // Every token is compared, so the time taken does not say which matched.
        let mut found = None;
        for (name, token) in &self.tokens {
            if equal_in_constant_time(given.as_bytes(), token.as_bytes()) {
                found = Some(name.clone());
            }
        }
        found
    }

    /// Who `headers` authenticate as: a bearer token, else a dashboard
    /// session, else (without tokens) a local request no page can make.
    pub fn authenticate(
        &self,
        method: &Method,
        headers: &HeaderMap,
    ) -> Result<Access, (StatusCode, String)> {
        if !headers.contains_key(header::AUTHORIZATION) {
            if let Some(id) = session_cookie(headers) {
                return self.check_session(method, headers, id).map(|name| Access {
                    name,
                    session: true,
                });
            }
        }
        self.check(method, headers).map(|name| Access {
            name,
            session: false,
        })
    }

    /// A request carrying a session cookie: a live session, made by the
    /// dashboard's own page.
    fn check_session(
        &self,
        method: &Method,
        headers: &HeaderMap,
        id: &str,
    ) -> Result<Arc<str>, (StatusCode, String)> {
        let Some(name) = self.sessions.lookup(id) else {
            return Err((
                StatusCode::UNAUTHORIZED,
                "the dashboard session has ended; log in again at /login".into(),
            ));
        };
        same_origin(method, headers)?;
        let safe = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
        let marked = headers
            .get(DASHBOARD_HEADER)
            .is_some_and(|v| v.as_bytes() == b"1");
        if !safe && !marked {
            return Err((
                StatusCode::FORBIDDEN,
                format!("a dashboard request that changes state must carry {DASHBOARD_HEADER}: 1"),
            ));
        }
        Ok(name)
    }

    /// Whether a token is required.
    pub fn has_token(&self) -> bool {
        !self.tokens.is_empty()
    }

    /// The caller's name when `headers` may use the admin API (the token's
    /// name, or `local` without tokens), else the status and why.
    pub fn check(
        &self,
        method: &Method,
        headers: &HeaderMap,
    ) -> Result<Arc<str>, (StatusCode, String)> {
        if self.tokens.is_empty() {
            return self
                .check_local(method, headers)
                .map(|()| Arc::from("local"));
        }
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        let Some(given) = given else {
            return Err((
                StatusCode::UNAUTHORIZED,
                "the admin API needs Authorization: Bearer <token> (the token is in the variable admin.token_env names)".into(),
            ));
        };
        self.token_name(given)
            .ok_or_else(|| (StatusCode::UNAUTHORIZED, "wrong admin token".into()))
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

/// The session id in the `Cookie` header, if any.
pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|value| !value.is_empty())
}

/// A browser request is the page's own: `Sec-Fetch-Site` (when sent) says
/// same-origin or none, and `Origin` (when sent; always required on a
/// state-changing request) is `http://` + the `Host` it was sent to.
pub fn same_origin(method: &Method, headers: &HeaderMap) -> Result<(), (StatusCode, String)> {
    let forbidden = |why: &str| Err((StatusCode::FORBIDDEN, why.to_string()));
    let site = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("none");
    if !matches!(site, "none" | "same-origin") {
        return forbidden("the dashboard answers only its own pages (Sec-Fetch-Site)");
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        Some(origin) => {
            let own = origin
                .strip_prefix("http://")
                .is_some_and(|h| !host.is_empty() && h.eq_ignore_ascii_case(host));
            if !own {
                return forbidden("the dashboard answers only its own pages (Origin)");
            }
        }
        None if !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) => {
            return forbidden("a dashboard request that changes state must carry its Origin");
        }
        None => {}
    }
    Ok(())
}

/// Compares without leaking where the first difference is.
fn equal_in_constant_time(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Who made an admin request: set by [`require_admin`] for the handlers
/// (their audit entries name the token and the peer).
#[derive(Debug, Clone)]
pub struct AdminCaller(pub Caller);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for AdminCaller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<AdminCaller>()
            .cloned()
            .unwrap_or_else(|| AdminCaller(Caller::new("operator", None))))
    }
}

/// Marks a request authenticated by a dashboard session (set by
/// [`require_admin`]); some routes (issuing login codes) refuse those.
#[derive(Debug, Clone, Copy)]
pub struct ViaSession;

/// The middleware on the admin routes.
pub async fn require_admin(
    State(auth): State<Arc<AdminAuth>>,
    mut request: Request,
    next: Next,
) -> Response {
    match auth.authenticate(request.method(), request.headers()) {
        Ok(Access { name, session }) => {
            if session {
                request.extensions_mut().insert(ViaSession);
            }
            let peer = request
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|info| info.0.to_string());
            request
                .extensions_mut()
                .insert(AdminCaller(Caller::new(&name, peer)));
            next.run(request).await
        }
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
    fn each_named_token_is_known_by_its_name() {
        let auth = AdminAuth::with_tokens(
            [
                ("admin".to_string(), "s3cret".to_string()),
                ("alice".to_string(), "alice-token".to_string()),
                ("empty".to_string(), " ".to_string()),
            ],
            "0.0.0.0:8787".parse().expect("addr"),
        )
        .expect("tokens");
        let name = |token: &str| {
            auth.check(
                &Method::GET,
                &headers(&[("authorization", &format!("Bearer {token}"))]),
            )
        };
        assert_eq!(name("alice-token").expect("alice").as_ref(), "alice");
        assert_eq!(name("s3cret").expect("admin").as_ref(), "admin");
        assert!(name("").is_err(), "an empty token never matches");
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
    fn a_session_is_the_pages_own_or_refused() {
        let auth = AdminAuth::new(Some("s3cret".into()), "0.0.0.0:8787".parse().expect("addr"))
            .expect("token");
        let id = auth.sessions().create("alice").expect("session");
        let cookie = format!("theme=dark; {SESSION_COOKIE}={id}");
        let host = ("host", "sidecar:8787");
        let origin = ("origin", "http://sidecar:8787");
        let marked = (DASHBOARD_HEADER, "1");
        let ok = |method: Method, pairs: &[(&'static str, &str)]| {
            let mut all = pairs.to_vec();
            all.push(("cookie", &cookie));
            auth.authenticate(&method, &headers(&all))
        };
        let read = ok(Method::GET, &[host]).expect("a read");
        assert_eq!((read.name.as_ref(), read.session), ("alice", true));
        assert!(ok(Method::POST, &[host, origin, marked]).is_ok());
        for (method, pairs) in [
            (Method::POST, vec![host, origin]),
            (Method::POST, vec![host, marked]),
            (
                Method::POST,
                vec![host, ("origin", "http://evil.example"), marked],
            ),
            (Method::GET, vec![host, ("sec-fetch-site", "cross-site")]),
        ] {
            let (status, why) = ok(method, &pairs).expect_err("refused");
            assert_eq!(status, StatusCode::FORBIDDEN, "{why}");
        }
        // A token wins over the cookie; a stale cookie is a 401.
        let bearer = auth
            .authenticate(
                &Method::POST,
                &headers(&[("authorization", "Bearer s3cret"), ("cookie", &cookie)]),
            )
            .expect("the token");
        assert!(!bearer.session);
        auth.sessions().end(&id);
        let (status, _) = ok(Method::GET, &[host]).expect_err("ended");
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn the_comparison_is_exact() {
        assert!(equal_in_constant_time(b"abc", b"abc"));
        assert!(!equal_in_constant_time(b"abc", b"abd"));
        assert!(!equal_in_constant_time(b"abc", b"abcd"));
    }
}

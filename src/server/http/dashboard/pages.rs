//! The dashboard's pages: the login page and its assets (open), the app
//! shell and its assets (a session needed, else a redirect to `/login`),
//! logging in with a token or a one-time code, and logging out.
//!
//! The app is one HTML shell with hash routes (`/#/ticket/T-3`), so every
//! view is the same document and a deep link survives the login redirect
//! (the login page goes back to where it was sent from).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::json;

use super::assets::{self, Asset};
use crate::server::http::auth::{self, AdminAuth, SESSION_COOKIE};

/// `GET /`: the app, or the way to the login page.
pub async fn index(State(auth): State<Arc<AdminAuth>>, headers: HeaderMap) -> Response {
    if !has_session(&auth, &headers) {
        return Redirect::to("/login").into_response();
    }
    serve(&assets::INDEX)
}

/// `GET /dashboard/{file}`: the login page's assets for anyone, the app's
/// only with a session.
pub async fn asset(
    State(auth): State<Arc<AdminAuth>>,
    axum::extract::Path(file): axum::extract::Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(asset) = assets::find(&file) else {
        return (StatusCode::NOT_FOUND, "no such asset").into_response();
    };
    if !asset.public && !has_session(&auth, &headers) {
        return Redirect::to("/login").into_response();
    }
    serve(asset)
}

#[derive(Deserialize)]
pub struct LoginQuery {
    code: Option<String>,
}

/// `GET /login[?code=]`: the login page, or a one-time code from `suture
/// dashboard` traded for a session.
pub async fn login_page(
    State(auth): State<Arc<AdminAuth>>,
    Query(query): Query<LoginQuery>,
) -> Response {
    let Some(code) = query.code.filter(|c| !c.is_empty()) else {
        return serve(&assets::LOGIN);
    };
    match auth.sessions().redeem_code(&code) {
        Some(name) => start_session(&auth, &name, Redirect::to("/").into_response()),
        None => Redirect::to("/login?error=code").into_response(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginRequest {
    token: String,
}

/// `POST /login {"token": "..."}`: an admin token traded for a session
/// named like the token. Only from the login page itself (same origin).
pub async fn login(
    State(auth): State<Arc<AdminAuth>>,
    request: axum::extract::Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let (method, headers) = (&parts.method, &parts.headers);
    if let Err((status, why)) = auth::same_origin(method, headers) {
        return (status, Json(json!({ "error": why }))).into_response();
    }
    // Throttled before the token is looked at (see `throttle`).
    let peer = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    if let Some(peer) = peer
        && let Err(wait) = auth.login_throttle().admit(peer)
    {
        metrics::counter!("suture_admin_refused_total", "status" => "429").increment(1);
        let secs = wait.as_secs().max(1);
        let mut response = (
            StatusCode::TOO_MANY_REQUESTS,
            Json(json!({ "error": format!("too many login attempts from this address; try again in {secs} s") })),
        )
            .into_response();
        if let Ok(value) = HeaderValue::from_str(&secs.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return response;
    }
    let Ok(body) = axum::body::to_bytes(body, 64 * 1024).await else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": "the body is unreadable or over 64 KiB" })),
        )
            .into_response();
    };
    let Ok(request) = serde_json::from_slice::<LoginRequest>(&body) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": "expected {\"token\": \"...\"}" })),
        )
            .into_response();
    };
    if !auth.has_token() {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "error": "no admin token is configured: run `suture dashboard` on this machine for a login link" })),
        )
            .into_response();
    }
    match auth.token_name(&request.token) {
        Some(name) => start_session(
            &auth,
            &name,
            Json(json!({ "name": name.as_ref() })).into_response(),
        ),
        None => {
            metrics::counter!("suture_admin_refused_total", "status" => "401").increment(1);
            (
                StatusCode::UNAUTHORIZED,
                Json(json!({ "error": "wrong admin token" })),
            )
                .into_response()
        }
    }
}

/// `POST /logout`: ends the session and clears the cookie.
pub async fn logout(
    State(auth): State<Arc<AdminAuth>>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    if let Err((status, why)) = auth::same_origin(&method, &headers) {
        return (status, Json(json!({ "error": why }))).into_response();
    }
    if let Some(id) = auth::session_cookie(&headers) {
        auth.sessions().end(id);
    }
    let mut response = Json(json!({ "logged_out": true })).into_response();
    let clear = format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    if let Ok(value) = HeaderValue::from_str(&clear) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

fn has_session(auth: &AdminAuth, headers: &HeaderMap) -> bool {
    auth::session_cookie(headers).is_some_and(|id| auth.sessions().lookup(id).is_some())
}

/// `response` with a new session's cookie: HttpOnly (no script reads it),
/// SameSite=Strict (no other site's request carries it), no Max-Age (it
/// ends with the browser session; the server ends it when idle).
fn start_session(auth: &AdminAuth, name: &str, mut response: Response) -> Response {
    let Some(id) = auth.sessions().create(name) else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "the OS random generator failed; no session was made",
        )
            .into_response();
    };
    tracing::info!(token = name, "dashboard login");
    let cookie = format!("{SESSION_COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/");
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// An asset with its type and the headers every dashboard answer carries:
/// scripts and styles only from this origin, never framed, no referrer (a
/// login link's code must not leak to another site).
fn serve(asset: &Asset) -> Response {
    let mut response = (StatusCode::OK, asset.body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

//! The operator's and reviewer's dashboard, served by the sidecar itself
//! at `/` (docs/dashboard.md): [`assets`] are the embedded files,
//! [`pages`] the login, logout and the app shell, [`session`] the browser
//! sessions and one-time login codes, [`throttle`] the login page's limit
//! per address, [`api`] the JSON the views need beyond the admin API,
//! [`diff`] a fix's diff side by side.
//!
//! The pages are open routes that check the session themselves (a missing
//! one redirects to `/login`); the JSON is admin API, behind the same
//! check as every admin route, which accepts the session cookie in place
//! of a token (see [`super::auth`]).

pub mod api;
pub mod assets;
pub mod diff;
pub mod pages;
pub mod session;
pub mod throttle;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

use super::auth::AdminAuth;
use super::state::AppState;

/// The pages: `/`, `/login`, `/logout`, `/dashboard/{file}`.
pub fn page_routes(auth: Arc<AdminAuth>) -> Router<AppState> {
    Router::new()
        .route("/", get(pages::index))
        .route("/login", get(pages::login_page).post(pages::login))
        .route("/logout", post(pages::logout))
        .route("/dashboard/{file}", get(pages::asset))
        .with_state(auth)
}

/// The dashboard's admin JSON routes (the caller adds the admin check).
pub fn api_routes() -> Router<AppState> {
    Router::new()
        .route("/v1/dashboard/overview", get(api::overview))
        .route("/v1/dashboard/tickets", get(api::tickets))
        .route("/v1/dashboard/tickets/{id}/diff", get(api::fix_diff))
        .route("/v1/dashboard/agents", get(api::agents))
        .route("/v1/dashboard/auto-deploys", get(api::auto_deploys))
        .route(
            "/v1/dashboard/tickets/{id}/deploy-diff",
            get(api::deploy_diff),
        )
        .route("/v1/dashboard/audit", get(api::audit))
        .route("/v1/admin/dashboard/login-code", post(api::login_code))
}

//! The HTTP API, laid out like Relay's `endpoints/`: this file is only the
//! router; [`state`] is what handlers share, [`common`] the helpers they
//! share, [`error`] the one error type, and each route family has its file.
//! Route files depend on `state`, `common` and `error`, never on this file
//! or on each other (but `health`, which counts tickets for the status).
//!
//! Three groups: `ingest` (what browsers and SDKs post to: CORS, per-route
//! body limits), `admin` (deploys, traffic, gate, tickets, fixes, the kill
//! switch, signatures, status: behind [`auth`]), and `open` (health,
//! readiness, metrics, the capture script), plus the dashboard's pages
//! (which check their session themselves, see [`dashboard`]).

pub mod admin;
pub mod audit;
pub mod auth;
pub mod autonomy;
pub mod breakers;
pub mod capture;
pub mod common;
pub mod cors;
pub mod dashboard;
pub mod deploys;
pub mod error;
pub mod events;
pub mod fixes;
pub mod gate;
pub mod health;
mod outcomes;
pub mod sentry;
pub mod signatures;
pub mod state;
pub mod tickets;
pub mod webhooks;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

use cors::CorsPolicy;
pub use state::AppState;

/// The router, with the body limit from config and the admin API's access
/// rule.
pub fn router(state: AppState, admin_auth: Arc<auth::AdminAuth>) -> Router {
    let body_limit = state.config.server.max_body_bytes;
    let cors = Arc::new(CorsPolicy::new(&state.config.server.cors_origins));
    // Ingest routes browsers post to: CORS, each with its own body limit.
    let native_ingest = Router::new()
        .route("/v1/events", post(events::post_events))
        .layer(DefaultBodyLimit::max(body_limit));
    let ingest = native_ingest.merge(sentry::routes(&state.config)).layer(
        axum::middleware::from_fn_with_state(cors, cors::allow_origins),
    );
    let admin = Router::new()
        .route(
            "/v1/deploys",
            post(deploys::post_deploy).get(deploys::list_deploys),
        )
        .route("/v1/deploys/{id}", get(gate::get_deploy))
        .route("/v1/traffic", post(gate::post_traffic))
        .route("/v1/gate/decisions", get(gate::list_decisions))
        .route("/v1/gate/candidates", get(gate::list_candidates))
        .route("/v1/tickets", get(tickets::list_tickets))
        .route("/v1/tickets/{id}", get(tickets::get_ticket))
        .route("/v1/tickets/{id}/label", post(tickets::label_ticket))
        .route("/v1/tickets/{id}/state", post(tickets::move_ticket))
        .route(
            "/v1/admin/autonomy",
            get(autonomy::get_autonomy).post(autonomy::set_autonomy),
        )
        .route(
            "/v1/admin/kill-switch",
            get(admin::get_kill_switch).post(admin::set_kill_switch),
        )
        .route("/v1/tickets/{id}/fix", get(fixes::get_fix))
        .route("/v1/tickets/{id}/fix/approve", post(fixes::approve_fix))
        .route("/v1/tickets/{id}/fix/reject", post(fixes::reject_fix))
        .route("/v1/tickets/{id}/attempts", get(fixes::list_attempts))
        .route("/v1/report", get(tickets::get_report))
        .route("/v1/audit", get(audit::list_audit))
        .route("/v1/admin/breakers", get(breakers::list_breakers))
        .route("/v1/admin/store", get(health::store_stats))
        .route(
            "/v1/admin/signatures/{id}/reset",
            post(breakers::reset_signature),
        )
        .route("/v1/signatures", get(signatures::list_signatures))
        .route("/v1/signatures/{id}", get(signatures::get_signature))
        .route("/v1/status", get(health::status))
        .merge(dashboard::api_routes())
        .layer(axum::middleware::from_fn_with_state(
            admin_auth.clone(),
            auth::require_admin,
        ))
        .layer(DefaultBodyLimit::max(body_limit));
    let open = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/capture.js", get(capture::script))
        .layer(DefaultBodyLimit::max(body_limit))
        // Signed by GitHub with the webhook secret, not the admin token.
        .route(
            "/v1/webhooks/github",
            post(webhooks::github).layer(DefaultBodyLimit::max(webhooks::MAX_DELIVERY_BYTES)),
        );
    ingest
        .merge(admin)
        .merge(open)
        .merge(dashboard::page_routes(admin_auth))
        .with_state(state)
}

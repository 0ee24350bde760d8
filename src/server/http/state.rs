//! The state every handler shares.

use std::sync::Arc;
use std::time::Instant;

use suture_actors::EngineHandle;

use crate::config::Config;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub engine: EngineHandle,
    pub config: Arc<Config>,
    pub started: Instant,
    /// Body timeouts and the decompression pool, shared by the ingest routes.
    pub intake: Arc<crate::server::intake::Intake>,
    /// The GitHub webhook's HMAC secret; `None`: the webhook is off.
    pub github_webhook_secret: Option<Arc<str>>,
    /// The dashboard's sessions and login codes (shared with the admin check).
    pub dashboard_sessions: Arc<super::dashboard::session::Sessions>,
}

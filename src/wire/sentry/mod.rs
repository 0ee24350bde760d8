//! The Sentry protocol's wire formats: envelope framing, the event payload,
//! session counts, the legacy store body, and where the public key is.
//! The HTTP side (routes, auth decisions, replies) is `server::http::sentry`.

pub mod auth;
pub mod envelope;
pub mod event;
pub mod session;
pub mod store_body;

pub use envelope::{Envelope, EnvelopeError, Item, parse_envelope};
pub use event::{SentryEventError, parse_event};
pub use session::session_requests;
pub use store_body::decode_store_body;

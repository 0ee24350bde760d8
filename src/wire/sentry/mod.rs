//! The Sentry protocol's wire formats: envelope framing, the event payload,
//! session counts, the legacy store body, and where the public key is.
//! The HTTP side (routes, auth decisions, replies) is `server::http::sentry`.

pub mod auth;
pub mod clock;
pub mod envelope;
pub mod event;
pub mod limits;
pub mod session;
pub mod store_body;

pub use envelope::{Envelope, EnvelopeError, Item, parse_envelope, parse_envelope_bounded};
pub use event::{SentryEventError, parse_event};
pub use session::{session_requests, session_requests_by};
pub use store_body::decode_store_body;

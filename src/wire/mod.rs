//! Wire formats → [`suture_actors::Event`]. Each format is one module; all of
//! them report problems as a [`WireError`] naming the offending field, which
//! the servers turn into a 400 (HTTP) or a counted drop (UDP).

pub mod datagram;
pub mod decode;
pub mod first_line;
pub mod gelf;
pub mod native;
pub mod sentry;
pub mod time;

/// A payload that cannot become an event, with the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct WireError {
    /// JSON path of the field (`events[2].timestamp`), or `body`.
    pub field: String,
    pub problem: String,
}

impl WireError {
    pub fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            problem: problem.into(),
        }
    }
}

//! Per-envelope caps: how many items, how many of each stored or parsed
//! type, and how large a parsed item may be.
//!
//! The envelope's byte limit alone does not bound the work: 100 MiB of
//! empty items is millions of header maps, and a `sessions` item of that
//! size is a JSON tree ten times larger in memory. Relay caps sessions at
//! 100 per envelope (`limits.max_session_count`) and events at 1 MiB
//! (`max_event_size`); an envelope over a cap is refused whole with 413, as
//! Relay does, so a client never believes part of it was kept.

use super::envelope::{Envelope, EnvelopeError, Item, parse_envelope_bounded};

/// The caps, from `[sentry]` in the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnvelopeLimits {
    /// Items of any type.
    pub max_items: usize,
    /// `event` items (stored).
    pub max_events: usize,
    /// `session` and `sessions` items together (Relay: 100).
    pub max_sessions: usize,
    /// Bytes of one `session` or `sessions` payload (parsed as JSON).
    pub max_session_bytes: usize,
}

/// Why an envelope is over a cap (HTTP 413).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error("more than {limit} items in one envelope")]
    TooManyItems { limit: usize },
    #[error("more than {limit} {kind} items in one envelope")]
    TooManyOfType { kind: &'static str, limit: usize },
    #[error("a {kind} item of {size} bytes is above the {limit}-byte limit")]
    ItemTooLarge {
        kind: &'static str,
        size: usize,
        limit: usize,
    },
}

/// Why an envelope was not framed: unreadable (400) or over a cap (413).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error(transparent)]
    Invalid(#[from] EnvelopeError),
    #[error("envelope above its limits: {0}")]
    Limit(#[from] LimitError),
}

/// Frames `body` and checks every cap.
pub fn frame_within(body: &[u8], limits: EnvelopeLimits) -> Result<Envelope<'_>, FrameError> {
    let envelope = parse_envelope_bounded(body, limits.max_items)?;
    check(&envelope.items, limits)?;
    Ok(envelope)
}

/// Checks the caps on already framed items.
pub fn check(items: &[Item<'_>], limits: EnvelopeLimits) -> Result<(), LimitError> {
    if items.len() > limits.max_items {
        return Err(LimitError::TooManyItems {
            limit: limits.max_items,
        });
    }
    let mut events = 0usize;
    let mut sessions = 0usize;
    for item in items {
        match item.item_type.as_str() {
            "event" => events += 1,
            "session" | "sessions" => {
                sessions += 1;
                if item.payload.len() > limits.max_session_bytes {
                    return Err(LimitError::ItemTooLarge {
                        kind: "session",
                        size: item.payload.len(),
                        limit: limits.max_session_bytes,
                    });
                }
            }
            _ => {}
        }
    }
    if events > limits.max_events {
        return Err(LimitError::TooManyOfType {
            kind: "event",
            limit: limits.max_events,
        });
    }
    if sessions > limits.max_sessions {
        return Err(LimitError::TooManyOfType {
            kind: "session",
            limit: limits.max_sessions,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: EnvelopeLimits = EnvelopeLimits {
        max_items: 10,
        max_events: 1,
        max_sessions: 3,
        max_session_bytes: 64,
    };

    fn body(items: &[(&str, &str)]) -> Vec<u8> {
        let mut out = b"{}\n".to_vec();
        for (kind, payload) in items {
            out.extend_from_slice(format!("{{\"type\":\"{kind}\"}}\n{payload}\n").as_bytes());
        }
        out
    }

    #[test]
    fn within_the_caps_frames() {
        let ok = body(&[
            ("event", "{}"),
            ("session", "{}"),
            ("sessions", "{}"),
            ("attachment", "x"),
        ]);
        assert_eq!(frame_within(&ok, LIMITS).map(|e| e.items.len()), Ok(4));
    }

    #[test]
    fn each_cap_refuses_the_whole_envelope() {
        let many: Vec<(&str, &str)> = vec![("client_report", "{}"); 11];
        assert_eq!(
            frame_within(&body(&many), LIMITS).map(|e| e.items.len()),
            Err(FrameError::Limit(LimitError::TooManyItems { limit: 10 }))
        );
        let two_events = body(&[("event", "{}"), ("event", "{}")]);
        assert!(matches!(
            frame_within(&two_events, LIMITS),
            Err(FrameError::Limit(LimitError::TooManyOfType {
                kind: "event",
                ..
            }))
        ));
        let sessions = body(&[("session", "{}"); 4]);
        assert!(matches!(
            frame_within(&sessions, LIMITS),
            Err(FrameError::Limit(LimitError::TooManyOfType {
                kind: "session",
                ..
            }))
        ));
        let big = "x".repeat(65);
        let big_session = body(&[("sessions", &big)]);
        assert!(matches!(
            frame_within(&big_session, LIMITS),
            Err(FrameError::Limit(LimitError::ItemTooLarge { size: 65, .. }))
        ));
    }

    #[test]
    fn framing_stops_after_one_item_over_the_cap() {
        // A million empty items: framing must not build a million headers.
        let flood = "{\"type\":\"x\",\"length\":0}\n\n".repeat(1_000_000);
        let data = format!("{{}}\n{flood}");
        let framed = parse_envelope_bounded(data.as_bytes(), 10).expect("frames");
        assert_eq!(framed.items.len(), 11);
    }

    #[test]
    fn an_oversized_header_line_is_invalid() {
        let header = format!("{{\"pad\":\"{}\"}}\n", "x".repeat(70_000));
        assert!(matches!(
            frame_within(header.as_bytes(), LIMITS),
            Err(FrameError::Invalid(_))
        ));
    }
}

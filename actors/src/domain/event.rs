//! The event model: one captured exception, normalized from whatever wire format
//! carried it (native JSON, Sentry, GELF). Wire parsing lives in the `suture`
//! shell; everything in the engine works on this one shape.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One stack frame. Frames are ordered oldest call first, crashing frame last
/// (the Sentry convention), whatever order the wire format used.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frame {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lineno: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub colno: Option<u32>,
    /// `None` when the sender did not say; the signature code then guesses
    /// from the path (vendored and standard-library paths are not in-app).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_app: Option<bool>,
}

/// A captured exception, normalized.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// 32 lowercase hex characters (a UUID without dashes, as Sentry uses).
    pub id: String,
    /// When Suture received it, epoch milliseconds.
    pub received_at_ms: i64,
    /// When the sender says it happened, epoch milliseconds (falls back to
    /// `received_at_ms`). Hourly counts are bucketed on this.
    pub timestamp_ms: i64,
    /// Exception class (`TypeError`, `ValueError`, `java.io.IOException`), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exception_type: Option<String>,
    /// The exception message, as sent (untrusted text).
    #[serde(default)]
    pub message: String,
    /// Parsed frames, oldest first, crashing frame last.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub frames: Vec<Frame>,
    /// The raw stack string, when the sender gave one (kept for samples).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_stack: Option<String>,
    /// Logger location for events without a stack (server loggers send these).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// The user as sent (an id string or an object); used for distinct-user counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// An explicit grouping key from the sender; overrides every heuristic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<Vec<String>>,
    /// Where the event came from (`http`, `udp`, `sentry`, `gelf`, ...).
    #[serde(default)]
    pub source: String,
    /// The platform the sender named (`python`, `javascript`, `node`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// The other exceptions of a chain (`raise ... from ...`, an error's
    /// `cause`), root cause first as Sentry orders them. The event's own
    /// type, message and frames are the outermost exception's, the one the
    /// application saw and the one grouping uses; the chain is kept so a
    /// person (or the triage stage) reading a sample sees the whole story.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chain: Vec<ChainedException>,
    /// What happened before the error (Sentry breadcrumbs), as sent. Kept
    /// only in samples: they explain an error, they do not group it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub breadcrumbs: Vec<serde_json::Value>,
    /// Sentry `contexts` (runtime, os, browser, trace, ...), as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contexts: Option<serde_json::Value>,
    /// Free-form extra data (Sentry `extra`, GELF fields with no tag form), as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<serde_json::Value>,
}

/// One exception of a chain other than the event's own.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainedException {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exception_type: Option<String>,
    #[serde(default)]
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    /// Oldest call first, crashing frame last.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub frames: Vec<Frame>,
}

/// A new random event id: 32 lowercase hex characters, laid out as a UUID v4
/// without dashes (the form Sentry uses). Drawn from a fast thread-local
/// generator seeded once from the OS: ids must be unique, not unguessable,
/// and a system call per event is measurable at ingest rates.
pub fn new_id() -> String {
    let mut bits = fastrand::u128(..);
    bits &= !(0xF_u128 << 76);
    bits |= 0x4_u128 << 76; // version 4
    bits &= !(0x3_u128 << 62);
    bits |= 0x2_u128 << 62; // RFC 4122 variant
    format!("{bits:032x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_uuid_v4_hex_and_distinct() {
        let a = new_id();
        let b = new_id();
        assert_eq!(a.len(), 32);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_eq!(&a[12..13], "4", "version nibble");
        assert!(
            matches!(&a[16..17], "8" | "9" | "a" | "b"),
            "variant nibble"
        );
        assert_ne!(a, b);
    }
}

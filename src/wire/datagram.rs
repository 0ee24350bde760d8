//! One UDP datagram (or one reassembled GELF message) → events.
//!
//! The first bytes say what it is: gzip (`1f 8b`) or zlib (`78 xx`)
//! compressed, or plain JSON. A JSON object with GELF's `short_message` is
//! GELF; anything else is Suture's native format (an object or an array).
//! Chunks (`1e 0f`) are reassembled by the listener before they get here.

use serde_json::Value;
use suture_actors::Event;

use super::decode::{self, DecodeError, Encoding};
use super::gelf::{self, GelfMessage, GelfRules};
use super::native::{self, Receipt};

/// What a datagram held.
#[derive(Debug)]
pub enum Datagram {
    /// Events to store (native JSON may hold several).
    Events(Vec<Event>),
    /// A GELF log line that is not an error: counted, not stored.
    Filtered,
}

/// Why a datagram was dropped; `reason()` labels the metric.
#[derive(Debug, thiserror::Error)]
pub enum DatagramError {
    #[error("{0}")]
    Malformed(String),
    #[error("above the {limit}-byte limit per event")]
    TooLarge { limit: usize },
}

impl DatagramError {
    pub fn reason(&self) -> &'static str {
        match self {
            DatagramError::Malformed(_) => "malformed",
            DatagramError::TooLarge { .. } => "too_large",
        }
    }
}

/// Parses one datagram or reassembled message.
pub fn parse_datagram(
    data: &[u8],
    rules: GelfRules,
    receipt: Receipt<'_>,
) -> Result<Datagram, DatagramError> {
    let inflated;
    let data = match decode::sniff(data) {
        Encoding::Identity => data,
        encoding => {
            inflated =
                decode::decode(data, encoding, receipt.max_event_bytes).map_err(|e| match e {
                    DecodeError::TooLarge { limit } => DatagramError::TooLarge { limit },
                    other => DatagramError::Malformed(other.to_string()),
                })?;
            &inflated
        }
    };
    if data.len() > receipt.max_event_bytes {
        return Err(DatagramError::TooLarge {
            limit: receipt.max_event_bytes,
        });
    }
    if data.trim_ascii_start().first() != Some(&b'{') {
        return native::parse_body(data, receipt)
            .map(Datagram::Events)
            .map_err(|e| DatagramError::Malformed(e.to_string()));
    }
    let object = match serde_json::from_slice::<Value>(data) {
        Ok(Value::Object(object)) => object,
        Ok(_) => return Err(DatagramError::Malformed("expected a JSON object".into())),
        Err(e) => return Err(DatagramError::Malformed(format!("invalid JSON: {e}"))),
    };
    if gelf::is_gelf(&object) {
        let receipt = Receipt {
            source: "gelf",
            ..receipt
        };
        return match gelf::parse_gelf(object, rules, receipt) {
            Ok(GelfMessage::Error(event)) => Ok(Datagram::Events(vec![*event])),
            Ok(GelfMessage::Filtered) => Ok(Datagram::Filtered),
            Err(e) => Err(DatagramError::Malformed(e.to_string())),
        };
    }
    native::parse_event(object, "event", receipt)
        .map(|event| Datagram::Events(vec![event]))
        .map_err(|e| DatagramError::Malformed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    const RULES: GelfRules = GelfRules {
        max_level: 3,
        accept_stack_traces: true,
    };
    const RECEIPT: Receipt<'static> = Receipt {
        source: "udp",
        received_at_ms: 1_767_607_200_000,
        max_event_bytes: 4096,
    };

    fn events(data: &[u8]) -> Vec<Event> {
        match parse_datagram(data, RULES, RECEIPT) {
            Ok(Datagram::Events(events)) => events,
            other => panic!("expected events, got {other:?}"),
        }
    }

    #[test]
    fn native_gelf_and_compressed_forms() {
        let gelf = br#"{"version":"1.1","host":"h","short_message":"db down","level":3}"#;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(gelf).expect("write");
        let gz = gz.finish().expect("gzip");
        let mut zl = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        zl.write_all(gelf).expect("write");
        let zl = zl.finish().expect("zlib");
        for data in [&gelf[..], &gz, &zl] {
            let events = events(data);
            assert_eq!(events[0].message, "db down");
            assert_eq!(events[0].source, "gelf");
        }
        let native = events(br#"{"type":"TimeoutError","message":"slow"}"#);
        assert_eq!(native[0].source, "udp");
        assert_eq!(events(br#"[{"message":"a"},{"message":"b"}]"#).len(), 2);
        assert!(matches!(
            parse_datagram(br#"{"short_message":"ok","level":6}"#, RULES, RECEIPT),
            Ok(Datagram::Filtered)
        ));
    }

    #[test]
    fn bad_datagrams_are_errors_not_panics() {
        let bomb = {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            gz.write_all(&vec![b' '; 1 << 20]).expect("write");
            gz.finish().expect("gzip")
        };
        let cases: [(&[u8], &str); 7] = [
            (b"", "malformed"),
            (b"\x1f\x8bgarbage", "malformed"),
            (b"\x78\x9cgarbage", "malformed"),
            (b"{\"short_message\": 1}", "malformed"),
            (b"[1]", "malformed"),
            (b"\"text\"", "malformed"),
            (&bomb, "too_large"),
        ];
        for (data, reason) in cases {
            match parse_datagram(data, RULES, RECEIPT) {
                Err(e) => assert_eq!(e.reason(), reason, "{:?}", String::from_utf8_lossy(data)),
                Ok(other) => panic!("expected {reason}, got {other:?}"),
            }
        }
    }
}

//! Sentry envelope framing (<https://develop.sentry.dev/sdk/envelopes/>).
//!
//! ```text
//! {"event_id":"...","dsn":"..."}\n          envelope header (JSON, one line)
//! {"type":"event","length":41}\n            item header; `length` is optional
//! {"message":"hello","level":"error"}...\n  payload: `length` bytes, or up to the newline
//! ```
//!
//! Parsing only frames the items: it borrows their payloads and leaves each
//! item type to its own parser, so unknown item types cost nothing.

use serde_json::{Map, Value};

/// A framing error, with where it happened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid envelope: {0}")]
pub struct EnvelopeError(pub String);

/// A framed envelope borrowing its payloads from the body.
#[derive(Debug)]
pub struct Envelope<'a> {
    pub header: Map<String, Value>,
    pub items: Vec<Item<'a>>,
}

/// One item: its type, its header, and its payload bytes.
#[derive(Debug)]
pub struct Item<'a> {
    pub item_type: String,
    pub header: Map<String, Value>,
    pub payload: &'a [u8],
}

impl Envelope<'_> {
    /// The envelope header's `event_id`, when it has one.
    pub fn event_id(&self) -> Option<&str> {
        self.header.get("event_id").and_then(Value::as_str)
    }

    /// The envelope header's `dsn`, when it has one.
    pub fn dsn(&self) -> Option<&str> {
        self.header.get("dsn").and_then(Value::as_str)
    }
}

/// Frames an envelope. Items may carry an explicit `length` or end at the
/// next newline; blank lines between items (a trailing newline) are allowed.
pub fn parse_envelope(body: &[u8]) -> Result<Envelope<'_>, EnvelopeError> {
    parse_envelope_bounded(body, usize::MAX)
}

/// Longest header line (the envelope's or an item's) in bytes. SDKs write a
/// few hundred; the cap keeps one header from becoming a huge JSON map.
pub const MAX_HEADER_LINE: usize = 64 * 1024;

/// [`parse_envelope`] that frames at most `max_items + 1` items and stops:
/// a caller that finds more than `max_items` knows the envelope is over its
/// limit without this having allocated a header map per item of a body made
/// of millions of empty items.
pub fn parse_envelope_bounded(
    body: &[u8],
    max_items: usize,
) -> Result<Envelope<'_>, EnvelopeError> {
    let (header_line, mut rest) = split_line(body);
    let header = parse_header(header_line, "envelope header")?;
    let mut items = Vec::new();
    while !rest.is_empty() && items.len() <= max_items {
        let (line, after) = split_line(rest);
        if line.trim_ascii().is_empty() {
            rest = after;
            continue;
        }
        let index = items.len();
        let header = parse_header(line, &format!("item {index} header"))?;
        let item_type = header
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| EnvelopeError(format!("item {index} header has no string `type`")))?
            .to_string();
        let (payload, after_payload) = match header.get("length") {
            None | Some(Value::Null) => split_line(after),
            Some(length) => {
                let length = length
                    .as_u64()
                    .and_then(|l| usize::try_from(l).ok())
                    .ok_or_else(|| {
                        EnvelopeError(format!(
                            "item {index} `length` is not a non-negative integer"
                        ))
                    })?;
                let payload = after.get(..length).ok_or_else(|| {
                    EnvelopeError(format!(
                        "item {index} ({item_type}) says {length} bytes but only {} remain",
                        after.len()
                    ))
                })?;
                let tail = after.get(length..).unwrap_or_default();
                (payload, tail.strip_prefix(b"\n").unwrap_or(tail))
            }
        };
        items.push(Item {
            item_type,
            header,
            payload,
        });
        rest = after_payload;
    }
    Ok(Envelope { header, items })
}

/// The bytes up to the first `\n` (without it, and without a `\r` before
/// it), and the bytes after it.
fn split_line(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == b'\n') {
        Some(at) => {
            let line = data.get(..at).unwrap_or_default();
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            (line, data.get(at + 1..).unwrap_or_default())
        }
        None => (data, &[]),
    }
}

fn parse_header(line: &[u8], what: &str) -> Result<Map<String, Value>, EnvelopeError> {
    if line.len() > MAX_HEADER_LINE {
        return Err(EnvelopeError(format!(
            "{what} is {} bytes, above the {MAX_HEADER_LINE}-byte limit",
            line.len()
        )));
    }
    match serde_json::from_slice::<Value>(line) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(EnvelopeError(format!("{what} is not a JSON object"))),
        Err(e) => Err(EnvelopeError(format!("{what} is not valid JSON: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_with_and_without_length() {
        let body =
            b"{\"event_id\":\"9ec79c33ec9942ab8353589fcb2e04dc\",\"dsn\":\"https://k@h/1\"}\n\
{\"type\":\"attachment\",\"length\":10,\"filename\":\"a.txt\"}\n\xef\xbb\xbfHello\r\n\n\
{\"type\":\"event\"}\n{\"message\":\"hello\"}\n\
{\"type\":\"session\",\"length\":0}\n\n";
        let envelope = parse_envelope(body).expect("valid");
        assert_eq!(
            envelope.event_id(),
            Some("9ec79c33ec9942ab8353589fcb2e04dc")
        );
        assert_eq!(envelope.dsn(), Some("https://k@h/1"));
        let types: Vec<&str> = envelope
            .items
            .iter()
            .map(|i| i.item_type.as_str())
            .collect();
        assert_eq!(types, ["attachment", "event", "session"]);
        assert_eq!(envelope.items[0].payload, b"\xef\xbb\xbfHello\r\n");
        assert_eq!(envelope.items[1].payload, br#"{"message":"hello"}"#);
        assert_eq!(envelope.items[2].payload, b"");
    }

    #[test]
    fn last_item_without_trailing_newline() {
        let envelope = parse_envelope(b"{}\n{\"type\":\"event\"}\n{\"a\":1}").expect("valid");
        assert_eq!(envelope.items[0].payload, br#"{"a":1}"#);
        let envelope = parse_envelope(b"{}").expect("header only");
        assert!(envelope.items.is_empty());
    }

    #[test]
    fn framing_errors_say_where() {
        let cases: [(&[u8], &str); 5] = [
            (b"not json\n", "envelope header"),
            (
                b"{}\n{\"length\":2}\nab\n",
                "item 0 header has no string `type`",
            ),
            (
                b"{}\n{\"type\":\"event\",\"length\":99}\n{}\n",
                "says 99 bytes",
            ),
            (b"{}\n{\"type\":\"event\",\"length\":-1}\n{}\n", "`length`"),
            (b"{}\n{\"type\":\"event\"}\n{}\n[1]\n", "item 1 header"),
        ];
        for (body, expected) in cases {
            let error = parse_envelope(body).expect_err("invalid");
            assert!(
                error.0.contains(expected),
                "{error} should mention {expected}"
            );
        }
    }
}

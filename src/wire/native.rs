//! Suture's native event JSON (`POST /v1/events`, UDP datagrams).
//!
//! One object or an array of them. `message` or `type` is required; the rest
//! is optional. The original design's two payloads are accepted as they are:
//! the browser capture `{type, message, stack, url, timestamp, userAgent}`
//! (and `{type: "promise_rejection", reason, timestamp}`) and the server
//! logger's `{type, message, stacktrace, module, function, timestamp}`.
//! `stacktrace` frames, when given as a list, are oldest call first and the
//! crashing frame last (the Sentry convention).

use std::collections::BTreeMap;

use serde_json::value::RawValue;
use serde_json::{Map, Value};
use suture_actors::domain::signature::infer_exception_type;
use suture_actors::{Event, Frame};

use super::WireError;
use super::time::{parse_timestamp, unless_skewed};

/// Browser capture kinds sent in `type`: they say how the error was caught,
/// not what class it is, so the class is inferred from the message instead.
const CAPTURE_KINDS: [&str; 4] = [
    "error",
    "promise_rejection",
    "unhandledrejection",
    "exception",
];

/// Why a body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NativeError {
    #[error(transparent)]
    Invalid(#[from] WireError),
    #[error("{field} is {size} bytes, above the {limit}-byte limit per event")]
    TooLarge {
        field: String,
        size: usize,
        limit: usize,
    },
    #[error("empty batch: send at least one event")]
    Empty,
}

/// Where the events came from and when, stamped on each.
#[derive(Debug, Clone, Copy)]
pub struct Receipt<'a> {
    pub source: &'a str,
    pub received_at_ms: i64,
    pub max_event_bytes: usize,
}

/// Parses a body holding one event object or an array of them.
pub fn parse_body(body: &[u8], receipt: Receipt<'_>) -> Result<Vec<Event>, NativeError> {
    // One object (every datagram, most requests): parse it once, directly.
    if body.trim_ascii_start().first() == Some(&b'{') {
        if body.len() > receipt.max_event_bytes {
            return Err(NativeError::TooLarge {
                field: "event".into(),
                size: body.len(),
                limit: receipt.max_event_bytes,
            });
        }
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| WireError::new("body", format!("invalid JSON: {e}")))?;
        return match value {
            Value::Object(object) => Ok(vec![parse_event(object, "event", receipt)?]),
            _ => Err(WireError::new("event", "expected a JSON object").into()),
        };
    }
    let raw: &RawValue = serde_json::from_slice(body)
        .map_err(|e| WireError::new("body", format!("invalid JSON: {e}")))?;
    let text = raw.get();
    if text.starts_with('[') {
        let items: Vec<&RawValue> = serde_json::from_str(text)
            .map_err(|e| WireError::new("body", format!("invalid JSON: {e}")))?;
        if items.is_empty() {
            return Err(NativeError::Empty);
        }
        items
            .iter()
            .enumerate()
            .map(|(i, item)| parse_one(item, &format!("events[{i}]"), receipt))
            .collect()
    } else {
        Ok(vec![parse_one(raw, "event", receipt)?])
    }
}

fn parse_one(raw: &RawValue, path: &str, receipt: Receipt<'_>) -> Result<Event, NativeError> {
    let size = raw.get().len();
    if size > receipt.max_event_bytes {
        return Err(NativeError::TooLarge {
            field: path.to_string(),
            size,
            limit: receipt.max_event_bytes,
        });
    }
    let value: Value = serde_json::from_str(raw.get())
        .map_err(|e| WireError::new(path, format!("invalid JSON: {e}")))?;
    let Value::Object(object) = value else {
        return Err(WireError::new(path, "expected a JSON object").into());
    };
    Ok(parse_event(object, path, receipt)?)
}

/// Builds an event from one native JSON object. Fields are moved out of the
/// object, not copied: this runs for every event on the ingest path.
pub fn parse_event(
    object: Map<String, Value>,
    path: &str,
    receipt: Receipt<'_>,
) -> Result<Event, WireError> {
    let mut fields = Fields { object, path };
    let kind = fields.string("type")?;
    let mut message = fields.string("message")?;
    let mut raw_stack = fields.string("stack")?;
    if let Some(reason) = fields.object.remove("reason") {
        let (reason_message, reason_stack) = describe_reason(reason);
        message = message.or(Some(reason_message));
        raw_stack = raw_stack.or(reason_stack);
    }
    if message.is_none() && kind.is_none() {
        return Err(WireError::new(
            format!("{path}.message"),
            "required: give `message` or `type`",
        ));
    }
    let message = message.unwrap_or_default();
    let (frames, logged_stack) = fields.stacktrace()?;
    raw_stack = raw_stack.or(logged_stack);

    let is_capture_kind = kind
        .as_deref()
        .is_some_and(|k| CAPTURE_KINDS.contains(&k.to_ascii_lowercase().as_str()));
    let exception_type = match (&kind, is_capture_kind) {
        (Some(kind), false) => Some(kind.clone()),
        (Some(kind), true)
            if kind.eq_ignore_ascii_case("promise_rejection")
                || kind.eq_ignore_ascii_case("unhandledrejection") =>
        {
            infer_exception_type(&message)
                .map(str::to_string)
                .or_else(|| Some("UnhandledRejection".to_string()))
        }
        // A window `error`: the class is in the message ("Uncaught
        // TypeError: ...") or heads the stack ("TypeError: ...").
        (Some(_), true) => infer_exception_type(&message)
            .or_else(|| {
                raw_stack
                    .as_deref()
                    .and_then(|s| s.lines().next())
                    .and_then(infer_exception_type)
            })
            .map(str::to_string),
        (None, _) => None,
    };

    let timestamp_ms = match fields.object.remove("timestamp") {
        None | Some(Value::Null) => receipt.received_at_ms,
        Some(value) => {
            let ms = parse_timestamp(&value)
                .map_err(|problem| WireError::new(format!("{path}.timestamp"), problem))?;
            unless_skewed(ms, receipt.received_at_ms)
        }
    };

    Ok(Event {
        id: suture_actors::domain::event::new_id(),
        received_at_ms: receipt.received_at_ms,
        timestamp_ms,
        exception_type,
        message,
        frames,
        raw_stack,
        module: fields.string("module")?,
        function: fields.string("function")?,
        url: fields.string("url")?,
        user_agent: fields.string("userAgent")?.or(fields.string("user_agent")?),
        level: fields.string("level")?,
        release: fields.string("release")?,
        environment: fields.string("environment")?,
        service: fields.string("service")?,
        user: fields.user()?,
        tags: fields.tags()?,
        fingerprint: fields.fingerprint()?,
        source: receipt.source.to_string(),
        ..Event::default()
    })
}

/// A promise rejection's reason may be an Error object, a string, or anything.
fn describe_reason(reason: Value) -> (String, Option<String>) {
    match reason {
        Value::String(s) => (s, None),
        Value::Object(o) => {
            let message = o
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| Value::Object(o.clone()).to_string());
            let stack = o.get("stack").and_then(Value::as_str).map(str::to_string);
            (message, stack)
        }
        Value::Null => ("undefined".into(), None),
        other => (other.to_string(), None),
    }
}

/// Typed access to one event object's fields, with errors that name them.
/// Each field is taken out of the object once.
struct Fields<'a> {
    object: Map<String, Value>,
    path: &'a str,
}

impl Fields<'_> {
    fn error(&self, field: &str, problem: impl Into<String>) -> WireError {
        WireError::new(format!("{}.{field}", self.path), problem)
    }

    fn string(&mut self, field: &str) -> Result<Option<String>, WireError> {
        match self.object.remove(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(self.error(field, "expected a string")),
        }
    }

    /// `stacktrace`: a string (a logger's formatted trace), a list of frames,
    /// or an object with `frames` (the Sentry shape).
    fn stacktrace(&mut self) -> Result<(Vec<Frame>, Option<String>), WireError> {
        let frames = match self.object.remove("stacktrace") {
            None | Some(Value::Null) => return Ok((Vec::new(), None)),
            Some(Value::String(s)) => return Ok((Vec::new(), Some(s))),
            Some(Value::Array(frames)) => frames,
            Some(Value::Object(mut o)) => match o.remove("frames") {
                Some(Value::Array(frames)) => frames,
                _ => return Err(self.error("stacktrace.frames", "expected a list of frames")),
            },
            Some(_) => {
                return Err(self.error("stacktrace", "expected a string or a list of frames"));
            }
        };
        let frames = frames
            .iter()
            .enumerate()
            .map(|(i, frame)| self.frame(i, frame))
            .collect::<Result<_, _>>()?;
        Ok((frames, None))
    }

    fn frame(&self, index: usize, value: &Value) -> Result<Frame, WireError> {
        let at = |field: &str| format!("stacktrace[{index}].{field}");
        let Value::Object(o) = value else {
            return Err(self.error(&format!("stacktrace[{index}]"), "expected an object"));
        };
        let text = |field: &str| -> Result<Option<String>, WireError> {
            match o.get(field) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(self.error(&at(field), "expected a string")),
            }
        };
        let number = |field: &str| -> Result<Option<u32>, WireError> {
            match o.get(field) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v
                    .as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .map(Some)
                    .ok_or_else(|| self.error(&at(field), "expected a non-negative integer")),
            }
        };
        let in_app = match o.get("in_app") {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => return Err(self.error(&at("in_app"), "expected true or false")),
        };
        Ok(Frame {
            filename: text("filename")?.or(text("abs_path")?),
            function: text("function")?,
            module: text("module")?,
            lineno: number("lineno")?,
            colno: number("colno")?,
            in_app,
        })
    }

    fn user(&self) -> Result<Option<Value>, WireError> {
        match self.object.get("user") {
            None | Some(Value::Null) => Ok(None),
            Some(v @ (Value::String(_) | Value::Object(_) | Value::Number(_))) => {
                Ok(Some(v.clone()))
            }
            Some(_) => Err(self.error("user", "expected an id string or an object")),
        }
    }

    fn tags(&mut self) -> Result<BTreeMap<String, String>, WireError> {
        let mut tags = BTreeMap::new();
        match self.object.remove("tags") {
            None | Some(Value::Null) => {}
            Some(Value::Object(o)) => {
                for (key, value) in o {
                    let text = match value {
                        Value::String(s) => s,
                        Value::Number(_) | Value::Bool(_) => value.to_string(),
                        _ => {
                            return Err(self.error(
                                &format!("tags.{key}"),
                                "expected a string, number or boolean",
                            ));
                        }
                    };
                    tags.insert(key, text);
                }
            }
            Some(_) => return Err(self.error("tags", "expected an object of strings")),
        }
        Ok(tags)
    }

    fn fingerprint(&mut self) -> Result<Option<Vec<String>>, WireError> {
        match self.object.remove("fingerprint") {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(vec![s])),
            Some(Value::Array(parts)) if !parts.is_empty() => parts
                .iter()
                .enumerate()
                .map(|(i, p)| match p {
                    Value::String(s) => Ok(s.clone()),
                    Value::Number(_) => Ok(p.to_string()),
                    _ => Err(self.error(&format!("fingerprint[{i}]"), "expected a string")),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(self.error("fingerprint", "expected a non-empty list of strings")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECEIPT: Receipt<'static> = Receipt {
        source: "http",
        received_at_ms: 1_767_607_200_000,
        max_event_bytes: 4096,
    };

    fn parse(body: &str) -> Result<Vec<Event>, NativeError> {
        parse_body(body.as_bytes(), RECEIPT)
    }

    #[test]
    fn browser_capture_payload_as_is() {
        let events = parse(
            r#"{"type":"error","message":"Uncaught TypeError: x is undefined","stack":"TypeError: x is undefined\n    at render (https://app.example.com/static/main.js:10:5)","url":"https://app.example.com/cart","timestamp":1767607100000,"userAgent":"Mozilla/5.0"}"#,
        )
        .expect("valid");
        let event = &events[0];
        assert_eq!(
            event.exception_type.as_deref(),
            Some("TypeError"),
            "`error` is a capture kind, not a class: the class comes from the message"
        );
        assert_eq!(event.timestamp_ms, 1_767_607_100_000);
        assert_eq!(event.user_agent.as_deref(), Some("Mozilla/5.0"));
        assert!(
            event
                .raw_stack
                .as_deref()
                .is_some_and(|s| s.contains("render"))
        );
        assert_eq!(event.id.len(), 32);
    }

    #[test]
    fn promise_rejection_payload_as_is() {
        let events = parse(
            r#"{"type":"promise_rejection","reason":"fetch failed","timestamp":1767607100000}"#,
        )
        .expect("valid");
        assert_eq!(events[0].message, "fetch failed");
        assert_eq!(
            events[0].exception_type.as_deref(),
            Some("UnhandledRejection")
        );
        let events = parse(
            r#"{"type":"promise_rejection","reason":{"message":"TypeError: bad","stack":"TypeError: bad\n    at f (a.js:1:1)"}}"#,
        )
        .expect("valid");
        assert_eq!(events[0].exception_type.as_deref(), Some("TypeError"));
        assert!(events[0].raw_stack.is_some());
    }

    #[test]
    fn server_logger_payload_as_is() {
        let events = parse(
            r#"{"type":"ValueError","message":"bad input","stacktrace":"Traceback (most recent call last):\n  File \"app.py\", line 3, in main\nValueError: bad input","module":"app.orders","function":"create","timestamp":"2026-01-05T10:00:00Z"}"#,
        )
        .expect("valid");
        let event = &events[0];
        assert_eq!(event.exception_type.as_deref(), Some("ValueError"));
        assert_eq!(event.module.as_deref(), Some("app.orders"));
        assert!(event.raw_stack.is_some());
        assert_eq!(event.timestamp_ms, 1_767_607_200_000);
    }

    #[test]
    fn frames_as_a_list() {
        let events = parse(
            r#"{"type":"KeyError","message":"'id'","stacktrace":[{"filename":"app/views.py","function":"show","lineno":12,"in_app":true}]}"#,
        )
        .expect("valid");
        assert_eq!(events[0].frames.len(), 1);
        assert_eq!(events[0].frames[0].lineno, Some(12));
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (r#"{"timestamp": 1}"#, "event.message"),
            (r#"{"message": 5}"#, "event.message"),
            (
                r#"[{"message":"a"},{"message":"b","timestamp":"nope"}]"#,
                "events[1].timestamp",
            ),
            (
                r#"{"message":"a","stacktrace":[{"lineno":"x"}]}"#,
                "event.stacktrace[0].lineno",
            ),
            (
                r#"{"message":"a","tags":{"k":{"nested":1}}}"#,
                "event.tags.k",
            ),
            (
                r#"{"message":"a","fingerprint":[{}]}"#,
                "event.fingerprint[0]",
            ),
            (r#"[1]"#, "events[0]"),
            (r#"{"message": "a""#, "body"),
        ];
        for (body, field) in cases {
            match parse(body) {
                Err(NativeError::Invalid(e)) => assert_eq!(e.field, field, "{body}: {e}"),
                other => panic!("{body}: expected an error naming {field}, got {other:?}"),
            }
        }
    }

    #[test]
    fn empty_batch_and_oversized_event() {
        assert_eq!(parse("[]"), Err(NativeError::Empty));
        let big = format!(
            r#"[{{"message":"ok"}},{{"message":"{}"}}]"#,
            "x".repeat(5000)
        );
        assert!(
            matches!(parse(&big), Err(NativeError::TooLarge { field, .. }) if field == "events[1]")
        );
    }

    #[test]
    fn invalid_utf8_is_refused() {
        let body = b"{\"message\": \"\xff\xfe\"}";
        assert!(
            matches!(parse_body(body, RECEIPT), Err(NativeError::Invalid(e)) if e.field == "body")
        );
    }

    #[test]
    fn future_timestamps_are_clock_skew() {
        let events = parse(r#"{"message":"a","timestamp":"2030-01-01T00:00:00Z"}"#).expect("valid");
        assert_eq!(events[0].timestamp_ms, RECEIPT.received_at_ms);
    }
}

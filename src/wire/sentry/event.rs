//! A Sentry event payload (<https://develop.sentry.dev/sdk/data-model/event-payloads/>)
//! → [`Event`].
//!
//! SDKs write these, not people, and each SDK version adds fields: parsing is
//! lenient. A field of an unexpected shape is ignored rather than refused;
//! only a payload that is not a JSON object is an error.
//!
//! Chained exceptions: `exception.values` is ordered root cause first, the
//! exception the application saw (the outermost, most recent) last. That
//! last one names the event and groups it; the others are kept in
//! [`Event::chain`] for the samples. With exception groups, whose values
//! carry `mechanism.exception_id`, the one with id 0 is the top level.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use suture_actors::{ChainedException, Event, Frame};

use crate::wire::WireError;
use crate::wire::native::Receipt;
use crate::wire::time::{parse_timestamp, unless_skewed};

/// What Sentry shows for an event with neither an exception nor a message.
const UNLABELED: &str = "<unlabeled event>";

/// Why an event payload was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SentryEventError {
    #[error("event is {size} bytes, above the {limit}-byte limit per event")]
    TooLarge { size: usize, limit: usize },
    #[error(transparent)]
    Invalid(#[from] WireError),
}

/// Parses one event payload. `envelope_event_id` is the envelope header's
/// id, used when the payload has none.
pub fn parse_event(
    payload: &[u8],
    envelope_event_id: Option<&str>,
    receipt: Receipt<'_>,
) -> Result<Event, SentryEventError> {
    if payload.len() > receipt.max_event_bytes {
        return Err(SentryEventError::TooLarge {
            size: payload.len(),
            limit: receipt.max_event_bytes,
        });
    }
    let object = match serde_json::from_slice::<Value>(payload) {
        Ok(Value::Object(object)) => object,
        Ok(_) => return Err(WireError::new("event", "expected a JSON object").into()),
        Err(e) => return Err(WireError::new("event", format!("invalid JSON: {e}")).into()),
    };
    Ok(event_from_object(object, envelope_event_id, receipt))
}

fn event_from_object(
    mut object: Map<String, Value>,
    envelope_event_id: Option<&str>,
    receipt: Receipt<'_>,
) -> Event {
    let id = take_string(&mut object, "event_id")
        .as_deref()
        .or(envelope_event_id)
        .and_then(normalize_event_id)
        .unwrap_or_else(suture_actors::domain::event::new_id);
    let log_message = log_message(&mut object);
    let mut exceptions = object
        .remove("exception")
        .map(exception_list)
        .unwrap_or_default();
    let outermost = pick_outermost(&exceptions).map(|at| exceptions.remove(at));
    // Message events (and exceptions without frames) may carry the stack
    // at the top level or in the crashed thread.
    let fallback_frames = if outermost.as_ref().is_none_or(|e| e.frames.is_empty()) {
        object
            .get("stacktrace")
            .map(frames_of_stacktrace)
            .filter(|f| !f.is_empty())
            .or_else(|| object.get("threads").map(thread_frames))
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let mut extra = match object.remove("extra") {
        Some(Value::Object(extra)) => extra,
        _ => Map::new(),
    };
    let (exception_type, message, frames, module) = match outermost {
        Some(exception) => {
            let frames = if exception.frames.is_empty() {
                fallback_frames
            } else {
                exception.frames
            };
            if let Some(log_message) = &log_message {
                extra.insert("log_message".into(), Value::String(log_message.clone()));
            }
            let message = match (exception.message.is_empty(), &log_message) {
                (true, Some(log)) => log.clone(),
                _ => exception.message,
            };
            (exception.exception_type, message, frames, exception.module)
        }
        None => {
            let message = log_message.unwrap_or_else(|| UNLABELED.to_string());
            let logger = object
                .get("logger")
                .and_then(Value::as_str)
                .map(str::to_string);
            (None, message, fallback_frames, logger)
        }
    };
    let mut tags = object.remove("tags").map(tags_of).unwrap_or_default();
    for (field, tag) in [
        ("server_name", "server_name"),
        ("logger", "logger"),
        ("transaction", "transaction"),
        ("dist", "dist"),
    ] {
        if let Some(value) = object.get(field).and_then(Value::as_str) {
            tags.entry(tag.to_string())
                .or_insert_with(|| value.to_string());
        }
    }
    let (url, user_agent) = object.get("request").map(request_parts).unwrap_or_default();
    let timestamp_ms = object
        .get("timestamp")
        .and_then(|t| parse_timestamp(t).ok())
        .map_or(receipt.received_at_ms, |ms| {
            unless_skewed(ms, receipt.received_at_ms)
        });
    Event {
        id,
        received_at_ms: receipt.received_at_ms,
        timestamp_ms,
        exception_type,
        message,
        frames,
        raw_stack: None,
        module,
        function: None,
        url,
        user_agent,
        level: take_string(&mut object, "level"),
        release: take_string(&mut object, "release"),
        environment: take_string(&mut object, "environment"),
        service: None,
        user: object
            .remove("user")
            .filter(|u| u.is_object() || u.is_string()),
        tags,
        fingerprint: object.remove("fingerprint").and_then(fingerprint_of),
        source: receipt.source.to_string(),
        platform: take_string(&mut object, "platform"),
        chain: exceptions.into_iter().map(ChainedException::from).collect(),
        breadcrumbs: object
            .remove("breadcrumbs")
            .map(values_of)
            .unwrap_or_default(),
        contexts: object.remove("contexts").filter(Value::is_object),
        extra: (!extra.is_empty()).then_some(Value::Object(extra)),
    }
}

/// Sentry ids are UUIDs, with or without dashes; Suture's are 32 lowercase hex.
fn normalize_event_id(id: &str) -> Option<String> {
    let hex: String = id
        .chars()
        .filter(|c| *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (hex.len() == 32
        && hex.bytes().all(|b| b.is_ascii_hexdigit())
        && hex.bytes().any(|b| b != b'0'))
    .then_some(hex)
}

fn take_string(object: &mut Map<String, Value>, field: &str) -> Option<String> {
    match object.remove(field) {
        Some(Value::String(s)) if !s.is_empty() => Some(s),
        _ => None,
    }
}

/// `logentry` or `message`: a string, or `{formatted}` / `{message, params}`.
fn log_message(object: &mut Map<String, Value>) -> Option<String> {
    let entry = object.remove("logentry");
    let message = object.remove("message");
    [entry, message]
        .into_iter()
        .flatten()
        .find_map(|value| match value {
            Value::String(s) if !s.is_empty() => Some(s),
            Value::Object(entry) => {
                if let Some(formatted) = entry.get("formatted").and_then(Value::as_str) {
                    return Some(formatted.to_string());
                }
                let template = entry.get("message").and_then(Value::as_str)?;
                match entry.get("params") {
                    Some(Value::Array(params)) if !params.is_empty() => {
                        Some(format_params(template, params))
                    }
                    _ => Some(template.to_string()),
                }
            }
            _ => None,
        })
}

/// Substitutes `params` into a printf-style (`%s`, `%d`, `%r`, `%i`, `%f`)
/// or brace-style (`{}`) template, in order, as the logging libraries do.
fn format_params(template: &str, params: &[Value]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut params = params.iter();
    let mut rest = template;
    while let Some(at) = rest.find(['%', '{']) {
        let (before, from) = rest.split_at(at);
        out.push_str(before);
        let placeholder = ["%s", "%d", "%r", "%i", "%f", "{}"]
            .into_iter()
            .find(|p| from.starts_with(p));
        match (placeholder, from.starts_with("%%")) {
            (_, true) => {
                out.push('%');
                rest = from.get(2..).unwrap_or_default();
            }
            (Some(p), false) => {
                match params.next() {
                    Some(Value::String(s)) => out.push_str(s),
                    Some(other) => out.push_str(&other.to_string()),
                    None => out.push_str(p),
                }
                rest = from.get(p.len()..).unwrap_or_default();
            }
            (None, false) => {
                out.push_str(from.get(..1).unwrap_or_default());
                rest = from.get(1..).unwrap_or_default();
            }
        }
    }
    out.push_str(rest);
    out
}

/// One exception of `exception.values`, parsed.
#[derive(Debug, Default)]
struct SentryException {
    exception_type: Option<String>,
    message: String,
    module: Option<String>,
    frames: Vec<Frame>,
    exception_id: Option<u64>,
}

impl From<SentryException> for ChainedException {
    fn from(e: SentryException) -> Self {
        ChainedException {
            exception_type: e.exception_type,
            message: e.message,
            module: e.module,
            frames: e.frames,
        }
    }
}

/// `exception`: `{values: [...]}`, a bare list, or (very old SDKs) one object.
fn exception_list(value: Value) -> Vec<SentryException> {
    let values = match value {
        Value::Object(mut o) => match o.remove("values") {
            Some(Value::Array(values)) => values,
            Some(_) => Vec::new(),
            None => vec![Value::Object(o)],
        },
        Value::Array(values) => values,
        _ => Vec::new(),
    };
    values
        .iter()
        .filter_map(Value::as_object)
        .map(|e| SentryException {
            exception_type: e.get("type").and_then(Value::as_str).map(str::to_string),
            message: e
                .get("value")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            module: e.get("module").and_then(Value::as_str).map(str::to_string),
            frames: e
                .get("stacktrace")
                .map(frames_of_stacktrace)
                .unwrap_or_default(),
            exception_id: e
                .get("mechanism")
                .and_then(|m| m.get("exception_id"))
                .and_then(Value::as_u64),
        })
        .filter(|e| e.exception_type.is_some() || !e.message.is_empty())
        .collect()
}

/// The exception the application saw: the top of an exception group, else the last.
fn pick_outermost(exceptions: &[SentryException]) -> Option<usize> {
    exceptions
        .iter()
        .position(|e| e.exception_id == Some(0))
        .or_else(|| exceptions.len().checked_sub(1))
}

fn frames_of_stacktrace(stacktrace: &Value) -> Vec<Frame> {
    stacktrace
        .get("frames")
        .and_then(Value::as_array)
        .map(|frames| frames.iter().filter_map(frame_of).collect())
        .unwrap_or_default()
}

/// Frames of the crashed thread, else the current one, else the first with a stack.
fn thread_frames(threads: &Value) -> Vec<Frame> {
    let list = threads
        .get("values")
        .or(Some(threads))
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let flag = |name: &str| {
        list.iter()
            .find(|t| t.get(name).and_then(Value::as_bool) == Some(true))
    };
    flag("crashed")
        .or_else(|| flag("current"))
        .or_else(|| list.iter().find(|t| t.get("stacktrace").is_some()))
        .and_then(|t| t.get("stacktrace"))
        .map(frames_of_stacktrace)
        .unwrap_or_default()
}

fn frame_of(value: &Value) -> Option<Frame> {
    let frame = value.as_object()?;
    let text = |field: &str| {
        frame
            .get(field)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let number = |field: &str| {
        frame
            .get(field)
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
    };
    Some(Frame {
        filename: text("filename").or_else(|| text("abs_path")),
        function: text("function"),
        module: text("module"),
        lineno: number("lineno"),
        colno: number("colno"),
        in_app: frame.get("in_app").and_then(Value::as_bool),
    })
}

/// `tags`: an object, or a list of `[key, value]` pairs; scalar values as text.
fn tags_of(value: Value) -> BTreeMap<String, String> {
    let pairs: Vec<(String, Value)> = match value {
        Value::Object(o) => o.into_iter().collect(),
        Value::Array(list) => list
            .into_iter()
            .filter_map(|pair| match pair {
                Value::Array(kv) => match kv.as_slice() {
                    [Value::String(k), v] => Some((k.clone(), v.clone())),
                    _ => None,
                },
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    pairs
        .into_iter()
        .filter_map(|(key, value)| match value {
            Value::String(s) => Some((key, s)),
            Value::Number(_) | Value::Bool(_) => Some((key, value.to_string())),
            _ => None,
        })
        .collect()
}

fn fingerprint_of(value: Value) -> Option<Vec<String>> {
    let parts: Vec<String> = value
        .as_array()?
        .iter()
        .filter_map(|p| match p {
            Value::String(s) => Some(s.clone()),
            Value::Number(_) => Some(p.to_string()),
            _ => None,
        })
        .collect();
    (!parts.is_empty()).then_some(parts)
}

/// `breadcrumbs`: `{values: [...]}` or a bare list.
fn values_of(value: Value) -> Vec<Value> {
    match value {
        Value::Object(mut o) => match o.remove("values") {
            Some(Value::Array(values)) => values,
            _ => Vec::new(),
        },
        Value::Array(values) => values,
        _ => Vec::new(),
    }
}

/// `request.url`, and the `User-Agent` from `request.headers` (an object or pairs).
fn request_parts(request: &Value) -> (Option<String>, Option<String>) {
    let url = request
        .get("url")
        .and_then(Value::as_str)
        .map(str::to_string);
    let is_agent = |name: &str| name.eq_ignore_ascii_case("user-agent");
    let agent = match request.get("headers") {
        Some(Value::Object(headers)) => headers
            .iter()
            .find(|(k, _)| is_agent(k))
            .and_then(|(_, v)| v.as_str()),
        Some(Value::Array(pairs)) => {
            pairs
                .iter()
                .find_map(|pair| match pair.as_array()?.as_slice() {
                    [Value::String(k), Value::String(v)] if is_agent(k) => Some(v.as_str()),
                    _ => None,
                })
        }
        _ => None,
    };
    (url, agent.map(str::to_string))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const RECEIPT: Receipt<'static> = Receipt {
        source: "sentry",
        received_at_ms: 1_767_607_200_000,
        max_event_bytes: 1 << 20,
    };

    fn parse(value: Value) -> Event {
        parse_event(value.to_string().as_bytes(), None, RECEIPT).expect("valid")
    }

    #[test]
    fn python_exception_event() {
        let event = parse(json!({
            "event_id": "9ec79c33-ec99-42ab-8353-589fcb2e04dc",
            "timestamp": "2026-01-05T09:59:00.5Z",
            "platform": "python",
            "level": "error",
            "release": "shop@1.2.3",
            "environment": "production",
            "server_name": "web-1",
            "user": {"id": "42"},
            "tags": {"region": "eu", "retries": 3},
            "contexts": {"runtime": {"name": "CPython"}},
            "breadcrumbs": {"values": [{"message": "GET /orders", "category": "http"}]},
            "request": {"url": "https://shop.example/orders", "headers": {"User-Agent": "curl/8"}},
            "exception": {"values": [{
                "type": "ValueError",
                "value": "bad order 1234",
                "module": "builtins",
                "mechanism": {"type": "excepthook", "handled": false},
                "stacktrace": {"frames": [
                    {"filename": "app.py", "abs_path": "/srv/app.py", "function": "<module>", "lineno": 10, "in_app": true},
                    {"filename": "orders.py", "function": "create", "module": "shop.orders", "lineno": 42, "colno": 3, "in_app": true}
                ]}
            }]}
        }));
        assert_eq!(event.id, "9ec79c33ec9942ab8353589fcb2e04dc");
        assert_eq!(event.timestamp_ms, 1_767_607_140_500);
        assert_eq!(event.exception_type.as_deref(), Some("ValueError"));
        assert_eq!(event.message, "bad order 1234");
        assert_eq!(event.frames.len(), 2);
        assert_eq!(
            event.frames[1].function.as_deref(),
            Some("create"),
            "crashing frame last"
        );
        assert_eq!(event.frames[1].colno, Some(3));
        assert_eq!(event.frames[0].in_app, Some(true));
        assert_eq!(event.release.as_deref(), Some("shop@1.2.3"));
        assert_eq!(event.environment.as_deref(), Some("production"));
        assert_eq!(event.level.as_deref(), Some("error"));
        assert_eq!(event.platform.as_deref(), Some("python"));
        assert_eq!(event.tags["region"], "eu");
        assert_eq!(event.tags["retries"], "3");
        assert_eq!(event.tags["server_name"], "web-1");
        assert_eq!(event.user, Some(json!({"id": "42"})));
        assert_eq!(event.breadcrumbs.len(), 1);
        assert!(event.contexts.is_some());
        assert_eq!(event.url.as_deref(), Some("https://shop.example/orders"));
        assert_eq!(event.user_agent.as_deref(), Some("curl/8"));
        assert!(event.chain.is_empty());
    }

    #[test]
    fn chained_exceptions_group_on_the_outermost_and_keep_the_chain() {
        let event = parse(json!({
            "exception": {"values": [
                {"type": "KeyError", "value": "'sku'", "stacktrace": {"frames": [{"function": "lookup"}]}},
                {"type": "OrderError", "value": "cannot price order", "stacktrace": {"frames": [{"function": "price"}]}}
            ]}
        }));
        assert_eq!(event.exception_type.as_deref(), Some("OrderError"));
        assert_eq!(event.message, "cannot price order");
        assert_eq!(event.frames[0].function.as_deref(), Some("price"));
        assert_eq!(event.chain.len(), 1);
        assert_eq!(event.chain[0].exception_type.as_deref(), Some("KeyError"));
        assert_eq!(event.chain[0].frames[0].function.as_deref(), Some("lookup"));
    }

    #[test]
    fn exception_groups_pick_the_top_level() {
        let event = parse(json!({
            "exception": {"values": [
                {"type": "ExceptionGroup", "value": "many", "mechanism": {"exception_id": 0, "is_exception_group": true}},
                {"type": "ValueError", "value": "one", "mechanism": {"exception_id": 1, "parent_id": 0}}
            ]}
        }));
        assert_eq!(event.exception_type.as_deref(), Some("ExceptionGroup"));
        assert_eq!(event.chain.len(), 1);
    }

    #[test]
    fn message_events_in_every_form() {
        let cases = [
            (json!({"message": "disk almost full"}), "disk almost full"),
            (
                json!({"message": {"formatted": "user 7 logged in"}}),
                "user 7 logged in",
            ),
            (
                json!({"logentry": {"message": "user %s bought %d items (100%%)", "params": ["ann", 3]}}),
                "user ann bought 3 items (100%)",
            ),
            (
                json!({"logentry": {"message": "took {} ms", "params": [12]}}),
                "took 12 ms",
            ),
            (json!({"logentry": {"message": "no params"}}), "no params"),
            (json!({}), UNLABELED),
        ];
        for (payload, expected) in cases {
            let event = parse(payload.clone());
            assert_eq!(event.message, expected, "{payload}");
            assert_eq!(event.exception_type, None);
        }
    }

    #[test]
    fn message_event_with_an_attached_stack_and_a_logger() {
        let event = parse(json!({
            "message": "slow query",
            "logger": "shop.db",
            "level": "warning",
            "threads": {"values": [{"current": true, "stacktrace": {"frames": [{"function": "query"}]}}]}
        }));
        assert_eq!(event.frames.len(), 1);
        assert_eq!(event.module.as_deref(), Some("shop.db"));
        assert_eq!(event.tags["logger"], "shop.db");
    }

    #[test]
    fn lenient_about_odd_fields() {
        let event = parse(json!({
            "event_id": "not-an-id",
            "timestamp": 1_767_607_100.25,
            "tags": [["a", "1"], ["b", 2], ["broken"]],
            "fingerprint": ["{{ default }}", "checkout"],
            "level": 5,
            "user": [1, 2],
            "exception": {"values": [{"type": "E", "stacktrace": {"frames": [
                {"lineno": -1, "colno": "x", "in_app": "yes", "filename": ""},
                "not a frame"
            ]}}]}
        }));
        assert_eq!(event.id.len(), 32);
        assert_eq!(event.timestamp_ms, 1_767_607_100_250);
        assert_eq!(event.tags.len(), 2);
        assert_eq!(event.tags["b"], "2");
        assert_eq!(event.fingerprint.as_ref().map(Vec::len), Some(2));
        assert_eq!(event.level, None);
        assert_eq!(event.user, None);
        assert_eq!(event.frames, vec![Frame::default()]);
        let future = parse(json!({"message": "m", "timestamp": "2099-01-01T00:00:00Z"}));
        assert_eq!(future.timestamp_ms, RECEIPT.received_at_ms);
    }

    #[test]
    fn the_envelope_id_is_the_fallback() {
        let event = parse_event(
            br#"{"message":"m"}"#,
            Some("9ec79c33ec9942ab8353589fcb2e04dc"),
            RECEIPT,
        )
        .expect("valid");
        assert_eq!(event.id, "9ec79c33ec9942ab8353589fcb2e04dc");
    }

    #[test]
    fn refusals() {
        assert!(matches!(
            parse_event(b"[1]", None, RECEIPT),
            Err(SentryEventError::Invalid(_))
        ));
        assert!(matches!(
            parse_event(b"{", None, RECEIPT),
            Err(SentryEventError::Invalid(_))
        ));
        let small = Receipt {
            max_event_bytes: 10,
            ..RECEIPT
        };
        assert!(matches!(
            parse_event(br#"{"message":"too long"}"#, None, small),
            Err(SentryEventError::TooLarge { .. })
        ));
    }
}

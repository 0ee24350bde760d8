//! GELF (Graylog Extended Log Format) messages → [`Event`]s
//! (<https://go2docs.graylog.org/current/getting_in_log_data/gelf.html>).
//!
//! A logger sends every log line, not only errors. Only errors become events:
//! a syslog `level` at or below `max_level` (3, "error", by default), or a
//! message carrying a stack trace (a logged exception at any level). The rest
//! is [`GelfMessage::Filtered`]: counted, not stored.
//!
//! Field mapping:
//!
//! | GELF | event |
//! |---|---|
//! | `short_message` | `message` (when a stack trace names the exception, its message; the log line goes to `extra.log_message`) |
//! | `full_message` (or `_stack_trace`, `_stacktrace`) | `raw_stack`, and `frames` and `exception_type` when it parses as a stack trace |
//! | `level` (syslog 0-7, default 1) | `level`: 0-2 `fatal`, 3 `error`, 4 `warning`, 5-6 `info`, 7 `debug` |
//! | `timestamp` (epoch seconds) | `timestamp_ms` |
//! | `host`, `facility` | tags `host`, `facility` |
//! | `_release`, `_version`, `_app_version` | `release` |
//! | `_environment`, `_env` | `environment` |
//! | `_service`, `_app`, `_application`, `_application_name` | `service` |
//! | `_user_id`, `_user`, `_username` | `user` |
//! | `_logger_name`, `_logger`, `_module` | `module` (groups stackless errors by logger) |
//! | `_function`, `_func`, `_funcName` | `function` |
//! | `_url`, `_request_url` | `url` |
//! | `_exception_type`, `_exception_class` | `exception_type`, when no stack trace names it |
//! | other `_x` with a scalar value | tag `x` |
//! | other `_x`, `file`, `line` | `extra` |

pub mod chunks;

use serde_json::{Map, Value};
use suture_actors::Event;
use suture_actors::domain::stack::parse_stack;

use super::WireError;
use super::native::Receipt;
use super::time::{parse_timestamp, unless_skewed};

/// Which messages count as errors.
#[derive(Debug, Clone, Copy)]
pub struct GelfRules {
    /// Highest syslog level stored (0 emergency ... 3 error ... 7 debug).
    pub max_level: u8,
    /// Whether a message carrying a stack trace is an error whatever its level.
    pub accept_stack_traces: bool,
}

/// A parsed GELF message: an error to store, or a log line to count and drop.
#[derive(Debug)]
pub enum GelfMessage {
    Error(Box<Event>),
    Filtered,
}

/// Whether a JSON object is a GELF message (it has GELF's required `short_message`).
pub fn is_gelf(object: &Map<String, Value>) -> bool {
    object.contains_key("short_message")
}

/// GELF's default level when none is given: 1 (alert).
const DEFAULT_LEVEL: u8 = 1;

/// Fields mapped to event fields, by priority.
const RELEASE: [&str; 3] = ["_release", "_version", "_app_version"];
const ENVIRONMENT: [&str; 2] = ["_environment", "_env"];
const SERVICE: [&str; 4] = ["_service", "_app", "_application", "_application_name"];
const USER: [&str; 3] = ["_user_id", "_user", "_username"];
const MODULE: [&str; 3] = ["_logger_name", "_logger", "_module"];
const FUNCTION: [&str; 3] = ["_function", "_func", "_funcName"];
const URL: [&str; 2] = ["_url", "_request_url"];
const EXCEPTION_TYPE: [&str; 2] = ["_exception_type", "_exception_class"];
const STACK: [&str; 3] = ["full_message", "_stack_trace", "_stacktrace"];

/// Maps one GELF object. Errors name the field at fault.
pub fn parse_gelf(
    mut object: Map<String, Value>,
    rules: GelfRules,
    receipt: Receipt<'_>,
) -> Result<GelfMessage, WireError> {
    let short_message = match object.remove("short_message") {
        Some(Value::String(s)) => s,
        _ => return Err(WireError::new("short_message", "required: a string")),
    };
    let level = match object.remove("level") {
        None | Some(Value::Null) => DEFAULT_LEVEL,
        Some(value) => level_of(&value)
            .ok_or_else(|| WireError::new("level", "expected a syslog level 0-7"))?,
    };
    let stack_text = STACK.iter().find_map(|field| match object.remove(*field) {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s),
        _ => None,
    });
    let parsed = stack_text
        .as_deref()
        .map(parse_stack)
        .filter(|p| !p.frames.is_empty());
    let is_error = level <= rules.max_level || (rules.accept_stack_traces && parsed.is_some());
    if !is_error {
        return Ok(GelfMessage::Filtered);
    }
    let timestamp_ms = match object.remove("timestamp") {
        None | Some(Value::Null) => receipt.received_at_ms,
        Some(value) => {
            let ms =
                parse_timestamp(&value).map_err(|problem| WireError::new("timestamp", problem))?;
            unless_skewed(ms, receipt.received_at_ms)
        }
    };
    let mut take = |names: &[&str]| {
        names
            .iter()
            .find_map(|name| scalar_text(object.remove(*name)?))
    };
    let release = take(&RELEASE);
    let environment = take(&ENVIRONMENT);
    let service = take(&SERVICE);
    let user = take(&USER).map(Value::String);
    let module = take(&MODULE);
    let function = take(&FUNCTION);
    let url = take(&URL);
    let declared_type = take(&EXCEPTION_TYPE);

    let mut extra = Map::new();
    let (exception_type, message, frames) = match parsed {
        Some(stack) => {
            let message = match stack.message {
                Some(m) if stack.exception_type.is_some() && m != short_message => {
                    extra.insert("log_message".into(), Value::String(short_message));
                    m
                }
                _ => short_message,
            };
            (
                stack.exception_type.or(declared_type),
                message,
                stack.frames,
            )
        }
        None => (declared_type, short_message, Vec::new()),
    };

    let mut tags = std::collections::BTreeMap::new();
    for (key, value) in object {
        match key.as_str() {
            "version" | "_id" => {}
            "host" | "facility" => {
                if let Some(text) = scalar_text(value) {
                    tags.insert(key, text);
                }
            }
            _ => match key.strip_prefix('_') {
                Some(name) if !name.is_empty() && is_scalar(&value) => {
                    if let Some(text) = scalar_text(value) {
                        tags.insert(name.to_string(), text);
                    }
                }
                Some(name) if !name.is_empty() => {
                    extra.insert(name.to_string(), value);
                }
                _ => {
                    extra.insert(key, value);
                }
            },
        }
    }
    Ok(GelfMessage::Error(Box::new(Event {
        id: suture_actors::domain::event::new_id(),
        received_at_ms: receipt.received_at_ms,
        timestamp_ms,
        exception_type,
        message,
        frames,
        raw_stack: stack_text,
        module,
        function,
        url,
        level: Some(level_name(level).to_string()),
        release,
        environment,
        service,
        user,
        tags,
        source: receipt.source.to_string(),
        extra: (!extra.is_empty()).then_some(Value::Object(extra)),
        ..Event::default()
    })))
}

/// A syslog level as a number or a numeric string.
fn level_of(value: &Value) -> Option<u8> {
    let level = match value {
        Value::Number(n) => n.as_u64()?,
        Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    u8::try_from(level).ok().filter(|l| *l <= 7)
}

/// Syslog severities in the names Sentry and the native format use.
fn level_name(level: u8) -> &'static str {
    match level {
        0..=2 => "fatal",
        3 => "error",
        4 => "warning",
        5 | 6 => "info",
        _ => "debug",
    }
}

fn is_scalar(value: &Value) -> bool {
    matches!(value, Value::String(_) | Value::Number(_) | Value::Bool(_))
}

fn scalar_text(value: Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s),
        Value::Number(_) | Value::Bool(_) => Some(value.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const RULES: GelfRules = GelfRules {
        max_level: 3,
        accept_stack_traces: true,
    };
    const RECEIPT: Receipt<'static> = Receipt {
        source: "gelf",
        received_at_ms: 1_767_607_200_000,
        max_event_bytes: 1 << 20,
    };

    fn parse(value: Value) -> Result<GelfMessage, WireError> {
        let Value::Object(object) = value else {
            panic!("test payloads are objects")
        };
        parse_gelf(object, RULES, RECEIPT)
    }

    fn error(value: Value) -> Event {
        match parse(value) {
            Ok(GelfMessage::Error(event)) => *event,
            other => panic!("expected an error event, got {other:?}"),
        }
    }

    #[test]
    fn an_error_line_with_fields() {
        let event = error(json!({
            "version": "1.1", "host": "web-1", "short_message": "payment failed for order 1234",
            "timestamp": 1_767_607_100.5, "level": 3, "facility": "shop",
            "_release": "shop@2.0", "_environment": "production", "_service": "checkout",
            "_user_id": 42, "_logger_name": "shop.payments", "_function": "charge",
            "_request_id": "abc", "_attempt": 2, "_ctx": {"a": 1}, "_id": "ignored", "line": 12
        }));
        assert_eq!(event.message, "payment failed for order 1234");
        assert_eq!(event.timestamp_ms, 1_767_607_100_500);
        assert_eq!(event.level.as_deref(), Some("error"));
        assert_eq!(event.release.as_deref(), Some("shop@2.0"));
        assert_eq!(event.environment.as_deref(), Some("production"));
        assert_eq!(event.service.as_deref(), Some("checkout"));
        assert_eq!(event.user, Some(json!("42")));
        assert_eq!(event.module.as_deref(), Some("shop.payments"));
        assert_eq!(event.function.as_deref(), Some("charge"));
        assert_eq!(event.tags["host"], "web-1");
        assert_eq!(event.tags["facility"], "shop");
        assert_eq!(event.tags["request_id"], "abc");
        assert_eq!(event.tags["attempt"], "2");
        assert!(!event.tags.contains_key("id"));
        assert_eq!(event.extra, Some(json!({"ctx": {"a": 1}, "line": 12})));
        assert_eq!(event.source, "gelf");
    }

    #[test]
    fn a_logged_exception_at_warning_level_has_frames() {
        let trace = "Failed to charge\nTraceback (most recent call last):\n  File \"/srv/shop/pay.py\", line 10, in charge\n    gateway.charge(card)\n  File \"/srv/shop/gateway.py\", line 3, in charge\n    raise ValueError(\"card declined\")\nValueError: card declined";
        let event =
            error(json!({"short_message": "Failed to charge", "full_message": trace, "level": 4}));
        assert_eq!(event.exception_type.as_deref(), Some("ValueError"));
        assert_eq!(event.message, "card declined");
        assert_eq!(event.frames.len(), 2);
        assert_eq!(
            event.frames[1].filename.as_deref(),
            Some("/srv/shop/gateway.py")
        );
        assert_eq!(
            event.extra,
            Some(json!({"log_message": "Failed to charge"}))
        );
        assert_eq!(event.raw_stack.as_deref(), Some(trace));
    }

    #[test]
    fn info_lines_are_filtered_unless_configured() {
        for level in [json!(4), json!(6), json!("7")] {
            assert!(matches!(
                parse(
                    json!({"short_message": "GET /health 200", "level": level, "full_message": "no stack here"})
                ),
                Ok(GelfMessage::Filtered)
            ));
        }
        assert!(matches!(
            parse(json!({"short_message": "no level means alert"})),
            Ok(GelfMessage::Error(_))
        ));
        let Value::Object(object) = json!({"short_message": "x", "level": 6}) else {
            unreachable!()
        };
        let all = GelfRules {
            max_level: 7,
            accept_stack_traces: false,
        };
        assert!(matches!(
            parse_gelf(object, all, RECEIPT),
            Ok(GelfMessage::Error(_))
        ));
    }

    #[test]
    fn bad_fields_are_named() {
        for (payload, field) in [
            (json!({"host": "h"}), "short_message"),
            (json!({"short_message": 5}), "short_message"),
            (json!({"short_message": "x", "level": 9}), "level"),
            (json!({"short_message": "x", "level": "high"}), "level"),
            (
                json!({"short_message": "x", "timestamp": "soon"}),
                "timestamp",
            ),
        ] {
            match parse(payload.clone()) {
                Err(e) => assert_eq!(e.field, field, "{payload}"),
                Ok(other) => panic!("{payload}: expected an error, got {other:?}"),
            }
        }
    }
}

//! Timestamps as senders write them: epoch milliseconds, epoch seconds, or RFC 3339.

/// Epoch values below this are taken as seconds: in milliseconds they would
/// be before March 1973, which no live error is.
const SECONDS_THRESHOLD: f64 = 1e11;

/// Timestamps further ahead of the receive time than this are clock skew
/// (Relay's `max_secs_in_future`, 60 s).
pub const MAX_FUTURE_SKEW_MS: i64 = 60 * 1000;

/// The last millisecond RFC 3339 can write with four year digits
/// (9999-12-31T23:59:59.999Z). Later times are refused at the edge, and a
/// stored one is formatted as this, never a panic (humantime's formatter
/// panics past year 9999).
pub const MAX_TIMESTAMP_MS: i64 = 253_402_300_799_999;

/// A sender's timestamp, or the receive time when the sender's clock is
/// more than [`MAX_FUTURE_SKEW_MS`] ahead (an hourly count in the future
/// would never be compared with anything).
pub fn unless_skewed(ms: i64, received_at_ms: i64) -> i64 {
    if ms > received_at_ms.saturating_add(MAX_FUTURE_SKEW_MS) {
        received_at_ms
    } else {
        ms
    }
}

/// Parses epoch ms / epoch seconds (numbers) or RFC 3339 text into epoch ms.
pub fn parse_timestamp(value: &serde_json::Value) -> Result<i64, String> {
    match value {
        serde_json::Value::Number(n) => {
            let v = n.as_f64().ok_or("not a finite number")?;
            if !v.is_finite() || v < 0.0 {
                return Err("must be a non-negative epoch time".into());
            }
            let ms = if v < SECONDS_THRESHOLD { v * 1000.0 } else { v };
            if ms > MAX_TIMESTAMP_MS as f64 {
                return Err("is after the year 9999".into());
            }
            Ok(ms as i64)
        }
        // An offset can put a time of 1970 before the epoch: refused like a
        // negative number (`1970-01-01T00:00:00+01:00` was stored as
        // -3,600,000 ms; caught by the fuzz targets' event invariant).
        serde_json::Value::String(s) => match parse_rfc3339(s)? {
            ms if ms > MAX_TIMESTAMP_MS => Err("is after the year 9999".into()),
            ms if ms < 0 => Err("is before 1970-01-01T00:00:00Z".into()),
            ms => Ok(ms),
        },
        _ => Err("expected epoch milliseconds or an RFC 3339 string".into()),
    }
}

/// RFC 3339 with `Z` or a numeric offset (`+02:00`).
pub fn parse_rfc3339(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let bad = || format!("{text:?} is not an RFC 3339 timestamp");
    let (local, offset_minutes) = split_offset(text).ok_or_else(bad)?;
    let time = humantime::parse_rfc3339_weak(local).map_err(|_| bad())?;
    let ms = time
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| bad())?
        .as_millis();
    let ms = i64::try_from(ms).map_err(|_| bad())?;
    Ok(ms - offset_minutes * 60_000)
}

/// Splits `2026-01-05T10:00:00+02:00` into the local part and the offset in minutes.
fn split_offset(text: &str) -> Option<(&str, i64)> {
    if let Some(local) = text.strip_suffix('Z').or_else(|| text.strip_suffix('z')) {
        return Some((local, 0));
    }
    let tail_start = text.len().checked_sub(6)?;
    let tail = text.get(tail_start..)?;
    let bytes = tail.as_bytes();
    if (bytes[0] == b'+' || bytes[0] == b'-') && bytes[3] == b':' && text.contains('T') {
        let hours: i64 = tail.get(1..3)?.parse().ok()?;
        let minutes: i64 = tail.get(4..6)?.parse().ok()?;
        let sign = if bytes[0] == b'-' { -1 } else { 1 };
        return Some((text.get(..tail_start)?, sign * (hours * 60 + minutes)));
    }
    // No zone: taken as UTC, as most loggers mean it.
    Some((text, 0))
}

/// Formats epoch ms as RFC 3339 UTC with milliseconds.
pub fn format_rfc3339(ms: i64) -> String {
    let ms = ms.clamp(0, MAX_TIMESTAMP_MS);
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms as u64);
    humantime::format_rfc3339_millis(time).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn epoch_ms_seconds_and_text() {
        assert_eq!(
            parse_timestamp(&json!(1_767_607_200_000_i64)),
            Ok(1_767_607_200_000)
        );
        assert_eq!(
            parse_timestamp(&json!(1_767_607_200.5)),
            Ok(1_767_607_200_500)
        );
        assert_eq!(
            parse_timestamp(&json!("2026-01-05T10:00:00Z")),
            Ok(1_767_607_200_000)
        );
        assert_eq!(
            parse_timestamp(&json!("2026-01-05T12:00:00+02:00")),
            Ok(1_767_607_200_000)
        );
        assert_eq!(
            parse_timestamp(&json!("2026-01-05T10:00:00.250Z")),
            Ok(1_767_607_200_250)
        );
        assert!(parse_timestamp(&json!("yesterday")).is_err());
        assert!(parse_timestamp(&json!(true)).is_err());
        assert!(parse_timestamp(&json!(-5)).is_err());
        // Before the epoch once its offset is applied (the fuzz invariant).
        assert!(parse_timestamp(&json!("1970-01-01T00:00:00+01:00")).is_err());
        assert_eq!(parse_timestamp(&json!("1970-01-01T01:00:00+01:00")), Ok(0));
        // Year 10000, as epoch ms and as text: refused, not stored.
        assert!(parse_timestamp(&json!(253_402_300_800_000_i64)).is_err());
        assert!(parse_timestamp(&json!("+10000-01-01T00:00:00Z")).is_err());
        assert!(parse_timestamp(&json!(MAX_TIMESTAMP_MS)).is_ok());
        assert_eq!(
            format_rfc3339(1_767_607_200_000),
            "2026-01-05T10:00:00.000Z"
        );
    }

    #[test]
    fn formatting_any_stored_time_never_panics() {
        for ms in [
            i64::MIN,
            -1,
            0,
            MAX_TIMESTAMP_MS,
            MAX_TIMESTAMP_MS + 1,
            i64::MAX,
        ] {
            let text = format_rfc3339(ms);
            assert!(text.ends_with('Z'), "{ms}: {text}");
        }
        assert_eq!(format_rfc3339(i64::MAX), "9999-12-31T23:59:59.999Z");
    }
}

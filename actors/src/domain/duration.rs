//! Durations written as humans do: `250ms`, `60s`, `10m`, `7d`, `1h 30m`.
//! The serde helper every config section uses (`#[serde(with = "duration")]`).

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serializer, de::Error};

/// Parses `60s`, `10m`, `7d`; a bare number is rejected because its unit
/// would be a guess.
pub fn parse(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|e| format!("invalid duration {text:?} ({e}); write it like 60s, 10m or 7d"))
}

pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&humantime::format_duration(*value).to_string())
}

pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse(&text).map_err(D::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn durations_parse_like_humans_write_them() {
        assert_eq!(parse("60s"), Ok(Duration::from_secs(60)));
        assert_eq!(parse("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse("60").is_err());
        assert!(parse("soon").is_err());
    }
}

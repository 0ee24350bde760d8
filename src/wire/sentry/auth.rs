//! Where a Sentry SDK puts its public key: the `X-Sentry-Auth` (or
//! `Authorization`) header, the `sentry_key` query parameter (browser SDKs,
//! to avoid a CORS preflight), or the envelope header's `dsn`.

/// The `sentry_key` from an auth header such as
/// `Sentry sentry_key=abc, sentry_version=7, sentry_client=sentry.python/2.0`.
pub fn key_from_auth_header(header: &str) -> Option<String> {
    let header = header.trim();
    let fields = match header.get(..7) {
        Some(prefix) if prefix.eq_ignore_ascii_case("sentry ") => header.get(7..)?,
        _ => header,
    };
    fields.split(',').find_map(|field| {
        let (name, value) = field.split_once('=')?;
        (name.trim() == "sentry_key")
            .then(|| value.trim().trim_matches('"').to_string())
            .filter(|key| !key.is_empty())
    })
}

/// The `sentry_key` query parameter, from a raw query string.
pub fn key_from_query(query: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        (name == "sentry_key" && !value.is_empty()).then(|| value.to_string())
    })
}

/// The public key of a DSN (`https://<key>[:<secret>]@host/<project>`).
pub fn key_from_dsn(dsn: &str) -> Option<String> {
    let after_scheme = dsn.split_once("://").map_or(dsn, |(_, rest)| rest);
    let (userinfo, _) = after_scheme.split_once('@')?;
    let key = userinfo.split(':').next()?;
    (!key.is_empty()).then(|| key.to_string())
}

/// The project id of a DSN: its last path segment.
pub fn project_from_dsn(dsn: &str) -> Option<u64> {
    dsn.trim_end_matches('/').rsplit('/').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_header_forms() {
        let header =
            "Sentry sentry_key=abc123, sentry_version=7, sentry_client=sentry.python/2.19.0";
        assert_eq!(key_from_auth_header(header).as_deref(), Some("abc123"));
        assert_eq!(
            key_from_auth_header("sentry sentry_version=7,sentry_key=k2").as_deref(),
            Some("k2")
        );
        assert_eq!(key_from_auth_header("Sentry sentry_version=7"), None);
        assert_eq!(key_from_auth_header("Sentry sentry_key="), None);
        assert_eq!(key_from_auth_header("Bearer xyz"), None);
    }

    #[test]
    fn query_and_dsn() {
        assert_eq!(
            key_from_query("sentry_version=7&sentry_key=abc&sentry_client=x").as_deref(),
            Some("abc")
        );
        assert_eq!(key_from_query("sentry_key="), None);
        assert_eq!(
            key_from_dsn("http://abc@127.0.0.1:8787/1").as_deref(),
            Some("abc")
        );
        assert_eq!(
            key_from_dsn("https://pub:secret@o1.ingest.sentry.io/42").as_deref(),
            Some("pub")
        );
        assert_eq!(key_from_dsn("https://host/1"), None);
        assert_eq!(project_from_dsn("http://abc@127.0.0.1:8787/42"), Some(42));
    }
}

//! When a fix held back from publishing (its push and pull request) is
//! tried again. A fixed poll either spams (a push that fails every time,
//! tried every few minutes for days) or waits too long (a rate limit that
//! admits the pull request in 40 s, tried again after 5 minutes), so the
//! time comes from why it was held:
//!
//! - **the guard refused** (kill switch, autonomy): no time; the manager
//!   tries once the guard permits, which it asks on every tick;
//! - **a rate limit**: the moment the limit admits it again (governor's
//!   `retry_after`, or GitHub's own);
//! - **a failure** (the push, GitHub's answer): an exponential backoff from
//!   [`FIRST_BACKOFF_MS`] doubling up to [`MAX_BACKOFF_MS`], counted by the
//!   failures in a row; a hint from GitHub (`retry-after`, the breaker's
//!   next try) lengthens it, never shortens it.

use std::time::Duration;

/// The first wait after a failed publish.
pub const FIRST_BACKOFF_MS: i64 = 60_000;
/// The longest wait between tries of a failing publish.
pub const MAX_BACKOFF_MS: i64 = 3_600_000;

/// Why a fix was held, as far as its next try is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// The guard refused (kill switch, autonomy): tried once it permits.
    UntilPermitted,
    /// A rate limit admits it again after this long.
    RateLimited(Duration),
    /// The publish failed; GitHub may have said how long to wait.
    Failed { hint: Option<Duration> },
    /// Never by itself (GitHub is not configured): a person acts.
    Never,
}

/// When to try again: the time (`None`: when the guard permits, or never
/// for [`Hold::Never`]) and the failures in a row after this hold.
pub fn next_try(hold: Hold, now_ms: i64, failures_before: u32) -> (Option<i64>, u32) {
    match hold {
        Hold::UntilPermitted | Hold::Never => (None, failures_before),
        Hold::RateLimited(wait) => (Some(now_ms.saturating_add(ceil_ms(wait))), failures_before),
        Hold::Failed { hint } => {
            let failures = failures_before.saturating_add(1);
            let doublings = failures.saturating_sub(1).min(16);
            let backoff = FIRST_BACKOFF_MS
                .saturating_mul(1i64 << doublings)
                .min(MAX_BACKOFF_MS);
            let wait = backoff.max(hint.map_or(0, ceil_ms));
            (Some(now_ms.saturating_add(wait)), failures)
        }
    }
}

/// Whether a held fix whose next try is `retry_at_ms` is due at `now_ms`.
pub fn due(retry_at_ms: Option<i64>, now_ms: i64) -> bool {
    retry_at_ms.is_none_or(|at| now_ms >= at)
}

/// `at_ms` as RFC 3339 to the second, for the trail, the log and the status.
pub fn format_at(at_ms: i64) -> String {
    let at = std::time::UNIX_EPOCH + Duration::from_millis(u64::try_from(at_ms).unwrap_or(0));
    humantime::format_rfc3339_seconds(at).to_string()
}

/// The wait in whole milliseconds, rounded up (a try a millisecond early
/// is refused again), at least one.
fn ceil_ms(wait: Duration) -> i64 {
    let ms = wait.as_nanos().div_ceil(1_000_000).max(1);
    i64::try_from(ms).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_limit_is_tried_when_it_admits_and_is_no_failure() {
        let (at, failures) = next_try(Hold::RateLimited(Duration::from_millis(40_500)), 1_000, 2);
        assert_eq!(at, Some(41_500));
        assert_eq!(failures, 2);
        assert!(!due(at, 41_499));
        assert!(due(at, 41_500));
    }

    #[test]
    fn failures_back_off_doubling_to_an_hour() {
        let mut failures = 0;
        let mut waits = Vec::new();
        for _ in 0..9 {
            let (at, f) = next_try(Hold::Failed { hint: None }, 0, failures);
            failures = f;
            waits.push(at.unwrap_or_default() / 60_000);
        }
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(failures, 9);
        // Many more failures stay at the cap (no overflow).
        assert_eq!(
            next_try(Hold::Failed { hint: None }, 0, u32::MAX).0,
            Some(MAX_BACKOFF_MS)
        );
    }

    #[test]
    fn githubs_hint_lengthens_the_backoff_never_shortens_it() {
        let long = Some(Duration::from_secs(600));
        assert_eq!(next_try(Hold::Failed { hint: long }, 0, 0).0, Some(600_000));
        let short = Some(Duration::from_secs(5));
        assert_eq!(next_try(Hold::Failed { hint: short }, 0, 0).0, Some(60_000));
    }

    #[test]
    fn a_guard_refusal_waits_for_the_guard_not_a_clock() {
        assert_eq!(next_try(Hold::UntilPermitted, 5, 3), (None, 3));
        assert!(due(None, i64::MIN));
    }
}

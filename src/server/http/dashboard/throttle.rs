//! Login attempts at `POST /login`, throttled per peer address: at most
//! [`ATTEMPTS_PER_MINUTE`] a minute (GCRA, `governor`), right or wrong, so
//! guessing a token through the login page costs a minute per handful of
//! guesses. A person logs in a few times a day; a script guessing is
//! answered 429 before its guess is even compared. (The bearer-token API
//! is not throttled this way: automation calls it often, and a token of the
//! recommended length cannot be guessed at any rate.)

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::HashMapStateStore;
use governor::{Quota, RateLimiter};

/// Login attempts per peer address and minute.
pub const ATTEMPTS_PER_MINUTE: u32 = 10;

/// Addresses remembered before the idle ones are dropped.
const MAX_KEYS: usize = 10_000;

pub struct LoginThrottle {
    limiter: RateLimiter<IpAddr, HashMapStateStore<IpAddr>, DefaultClock>,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        let per_minute = NonZeroU32::new(ATTEMPTS_PER_MINUTE).unwrap_or(NonZeroU32::MIN);
        Self {
            limiter: RateLimiter::hashmap(Quota::per_minute(per_minute)),
        }
    }
}

impl LoginThrottle {
    /// Takes one attempt's room for `peer`; when it is spent, how long to
    /// wait for the next.
    pub fn admit(&self, peer: IpAddr) -> Result<(), Duration> {
        if self.limiter.len() > MAX_KEYS {
            self.limiter.retain_recent();
        }
        self.limiter
            .check_key(&peer)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_address_gets_its_own_handful_a_minute() {
        let throttle = LoginThrottle::default();
        let a: IpAddr = "192.0.2.1".parse().expect("ip");
        let b: IpAddr = "192.0.2.2".parse().expect("ip");
        for _ in 0..ATTEMPTS_PER_MINUTE {
            assert!(throttle.admit(a).is_ok());
        }
        let wait = throttle.admit(a).expect_err("spent");
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(60),
            "{wait:?}"
        );
        assert!(throttle.admit(b).is_ok(), "another address is not held");
    }
}

//! The circuit breaker in front of the LLM.
//!
//! Closed: calls go through; `threshold` consecutive failures open it.
//! Open: calls are refused at once until the cool-down has passed. Then
//! one call is let through as a probe (half-open): its success closes the
//! breaker, its failure opens it for another cool-down. A probe that never
//! reports (its task was cancelled) is replaced after one more cool-down,
//! so the breaker cannot stay half-open for ever.
//!
//! A failure is an error after the client's retries or an answer that
//! failed validation: a model that keeps answering nonsense costs tokens
//! and decides nothing, just like one that is down.

use std::time::{Duration, Instant};

use serde::Serialize;

/// The state as `suture status` and the metrics show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    /// The gauge value of `suture_llm_breaker_state`.
    pub fn gauge(self) -> f64 {
        match self {
            BreakerState::Closed => 0.0,
            BreakerState::HalfOpen => 1.0,
            BreakerState::Open => 2.0,
        }
    }
}

#[derive(Debug, Clone)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probe_started: Instant },
}

#[derive(Debug, Clone)]
pub struct Breaker {
    threshold: u32,
    cooldown: Duration,
    state: State,
}

impl Breaker {
    /// `threshold` 0 is taken as 1: a breaker that never opens is no breaker.
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            cooldown,
            state: State::Closed { failures: 0 },
        }
    }

    /// Whether a call may go now; when not, how long until it may.
    pub fn admit(&mut self, now: Instant) -> Result<(), Duration> {
        match self.state {
            State::Closed { .. } => Ok(()),
            State::Open { until } if now < until => Err(until - now),
            State::Open { .. } => {
                self.state = State::HalfOpen { probe_started: now };
                Ok(())
            }
            State::HalfOpen { probe_started } => {
                let expires = probe_started + self.cooldown;
                if now >= expires {
                    self.state = State::HalfOpen { probe_started: now };
                    Ok(())
                } else {
                    Err(expires - now)
                }
            }
        }
    }

    pub fn success(&mut self) {
        self.state = State::Closed { failures: 0 };
    }

    pub fn failure(&mut self, now: Instant) {
        self.state = match self.state {
            State::Closed { failures } if failures + 1 < self.threshold => State::Closed {
                failures: failures + 1,
            },
            _ => State::Open {
                until: now + self.cooldown,
            },
        };
    }

    /// Opens it for `wait` from `now` (never shortening an open breaker):
    /// the server said when to come back (GitHub's `retry-after`).
    pub fn hold_for(&mut self, now: Instant, wait: Duration) {
        let until = now + wait;
        self.state = match self.state {
            State::Open { until: longer } if longer > until => State::Open { until: longer },
            _ => State::Open { until },
        };
    }

    pub fn state(&self) -> BreakerState {
        match self.state {
            State::Closed { .. } => BreakerState::Closed,
            State::Open { .. } => BreakerState::Open,
            State::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// How long it stays open from `now` (a half-open breaker whose probe
    /// is out counts as open for a moment: after a restart the probe is
    /// lost, and the next call probes again).
    pub fn open_for(&self, now: Instant) -> Option<Duration> {
        match self.state {
            State::Closed { .. } => None,
            State::Open { until } => Some(until.saturating_duration_since(now)),
            State::HalfOpen { .. } => Some(Duration::ZERO),
        }
    }

    /// Takes back a saved state: the failure count, or open for `open_for`.
    pub fn restore(&mut self, failures: u32, open_for: Option<Duration>, now: Instant) {
        self.state = match open_for {
            Some(left) => State::Open { until: now + left },
            None => State::Closed {
                failures: failures.min(self.threshold.saturating_sub(1)),
            },
        };
    }

    /// Consecutive failures while closed.
    pub fn failures(&self) -> u32 {
        match self.state {
            State::Closed { failures } => failures,
            _ => self.threshold,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COOL: Duration = Duration::from_secs(60);

    #[test]
    fn opens_after_threshold_consecutive_failures() {
        let t = Instant::now();
        let mut b = Breaker::new(3, COOL);
        b.failure(t);
        b.failure(t);
        b.success();
        b.failure(t);
        b.failure(t);
        assert_eq!(
            b.state(),
            BreakerState::Closed,
            "a success resets the count"
        );
        b.failure(t);
        assert_eq!(b.state(), BreakerState::Open);
        assert_eq!(
            b.admit(t + Duration::from_secs(10)),
            Err(Duration::from_secs(50))
        );
    }

    #[test]
    fn one_probe_after_the_cooldown_then_closed_or_open_again() {
        let t = Instant::now();
        let mut b = Breaker::new(1, COOL);
        b.failure(t);
        assert_eq!(b.admit(t + COOL), Ok(()), "the probe");
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert!(b.admit(t + COOL).is_err(), "one probe at a time");
        b.failure(t + COOL);
        assert_eq!(b.state(), BreakerState::Open);
        assert_eq!(b.admit(t + 2 * COOL), Ok(()));
        b.success();
        assert_eq!(b.state(), BreakerState::Closed);
        assert_eq!(b.admit(t + 2 * COOL), Ok(()));
    }

    #[test]
    fn a_restored_open_breaker_stays_open_for_what_was_left() {
        let t = Instant::now();
        let mut b = Breaker::new(2, COOL);
        b.failure(t);
        b.failure(t);
        let left = b.open_for(t + Duration::from_secs(20));
        assert_eq!(left, Some(Duration::from_secs(40)));
        let mut restored = Breaker::new(2, COOL);
        restored.restore(0, left, t);
        assert_eq!(restored.state(), BreakerState::Open);
        assert!(restored.admit(t + Duration::from_secs(39)).is_err());
        assert_eq!(restored.admit(t + Duration::from_secs(40)), Ok(()));
        let mut counted = Breaker::new(2, COOL);
        counted.restore(1, None, t);
        counted.failure(t);
        assert_eq!(
            counted.state(),
            BreakerState::Open,
            "the saved failure counts"
        );
    }

    #[test]
    fn a_lost_probe_is_replaced_after_a_cooldown() {
        let t = Instant::now();
        let mut b = Breaker::new(1, COOL);
        b.failure(t);
        assert_eq!(b.admit(t + COOL), Ok(()));
        assert_eq!(
            b.admit(t + 2 * COOL),
            Ok(()),
            "the first probe never reported"
        );
    }
}

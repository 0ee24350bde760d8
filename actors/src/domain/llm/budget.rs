//! Token budgets per clock hour and per UTC day.
//!
//! Fixed windows, not sliding ones: "tokens this hour / today" is what an
//! operator reads on a bill and in `suture status`, and a window's spend is
//! one number to persist. A call reserves its estimate when admitted (so
//! calls running at once cannot overshoot together) and is settled at what
//! the response's `usage` says.

use serde::Serialize;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;

/// Bytes per token of the estimate: the usual rule of thumb for English and
/// code.
pub const BYTES_PER_TOKEN: usize = 4;

/// Tokens `bytes` of prompt or answer take, estimated (four bytes per
/// token). One rule for the client's budget reservations and for sizing the
/// coding agent's context, so a context sized to N tokens is reserved as N.
pub fn estimate_tokens(bytes: usize) -> u64 {
    u64::try_from(bytes.div_ceil(BYTES_PER_TOKEN)).unwrap_or(u64::MAX)
}

/// Which budget refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Window {
    Hourly,
    Daily,
}

impl Window {
    pub fn name(self) -> &'static str {
        match self {
            Window::Hourly => "hourly",
            Window::Daily => "daily",
        }
    }
}

/// A refusal: the window, what it has spent, its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverBudget {
    pub window: Window,
    pub spent: u64,
    pub limit: u64,
}

/// An admitted call's estimate, held against the windows it was made in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "settle the reservation with what the call used"]
pub struct Reservation {
    hour: i64,
    day: i64,
    tokens: u64,
}

/// Spend in the current windows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BudgetStatus {
    pub hour_spent: u64,
    pub hour_limit: u64,
    pub day_spent: u64,
    pub day_limit: u64,
}

/// The spend a restart must not forget (else a crash loop resets the budget).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct PersistedBudget {
    pub hour: i64,
    pub hour_spent: u64,
    pub day: i64,
    pub day_spent: u64,
}

#[derive(Debug, Clone)]
pub struct TokenBudget {
    hour_limit: u64,
    day_limit: u64,
    hour: i64,
    hour_spent: u64,
    day: i64,
    day_spent: u64,
}

impl TokenBudget {
    /// Limits of 0 are off.
    pub fn new(hour_limit: u64, day_limit: u64) -> Self {
        Self {
            hour_limit,
            day_limit,
            hour: i64::MIN,
            hour_spent: 0,
            day: i64::MIN,
            day_spent: 0,
        }
    }

    /// Starts a new window when the clock has moved into one.
    fn roll(&mut self, now_ms: i64) {
        let hour = now_ms.div_euclid(HOUR_MS);
        if hour != self.hour {
            self.hour = hour;
            self.hour_spent = 0;
        }
        let day = now_ms.div_euclid(DAY_MS);
        if day != self.day {
            self.day = day;
            self.day_spent = 0;
        }
    }

    /// Whether a call estimated at `estimate` tokens fits both windows;
    /// when it does, the estimate is reserved until [`TokenBudget::settle`].
    pub fn admit(&mut self, now_ms: i64, estimate: u64) -> Result<Reservation, OverBudget> {
        self.roll(now_ms);
        for (window, spent, limit) in [
            (Window::Hourly, self.hour_spent, self.hour_limit),
            (Window::Daily, self.day_spent, self.day_limit),
        ] {
            if limit > 0 && spent.saturating_add(estimate) > limit {
                return Err(OverBudget {
                    window,
                    spent,
                    limit,
                });
            }
        }
        self.hour_spent = self.hour_spent.saturating_add(estimate);
        self.day_spent = self.day_spent.saturating_add(estimate);
        Ok(Reservation {
            hour: self.hour,
            day: self.day,
            tokens: estimate,
        })
    }

    /// Replaces a reservation by what the call used (0 when it failed
    /// before an answer). A window that turned since keeps only the use.
    pub fn settle(&mut self, now_ms: i64, reservation: Reservation, used: u64) {
        self.roll(now_ms);
        if reservation.hour == self.hour {
            self.hour_spent = self.hour_spent.saturating_sub(reservation.tokens);
        }
        if reservation.day == self.day {
            self.day_spent = self.day_spent.saturating_sub(reservation.tokens);
        }
        self.charge(now_ms, used);
    }

    /// Charges what a call used.
    pub fn charge(&mut self, now_ms: i64, tokens: u64) {
        self.roll(now_ms);
        self.hour_spent = self.hour_spent.saturating_add(tokens);
        self.day_spent = self.day_spent.saturating_add(tokens);
    }

    /// What survives a restart: the windows and what they spent
    /// (reservations included: an estimate in flight when the process
    /// died was never settled, and erring high is the safe side).
    pub fn persisted(&self) -> PersistedBudget {
        PersistedBudget {
            hour: self.hour,
            hour_spent: self.hour_spent,
            day: self.day,
            day_spent: self.day_spent,
        }
    }

    /// Takes back a saved spend; windows that have turned since are ignored.
    pub fn restore(&mut self, now_ms: i64, saved: &PersistedBudget) {
        self.roll(now_ms);
        if saved.hour == self.hour {
            self.hour_spent = self.hour_spent.max(saved.hour_spent);
        }
        if saved.day == self.day {
            self.day_spent = self.day_spent.max(saved.day_spent);
        }
    }

    pub fn status(&mut self, now_ms: i64) -> BudgetStatus {
        self.roll(now_ms);
        BudgetStatus {
            hour_spent: self.hour_spent,
            hour_limit: self.hour_limit,
            day_spent: self.day_spent,
            day_limit: self.day_limit,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_767_600_000_000; // 2026-01-05 08:00 UTC

    #[test]
    fn hourly_budget_refuses_then_resets_at_the_next_hour() {
        let mut b = TokenBudget::new(1000, 0);
        let r = b.admit(T0, 100).expect("fits");
        b.settle(T0, r, 600);
        let refused = b.admit(T0 + 1000, 500).unwrap_err();
        assert_eq!(
            refused,
            OverBudget {
                window: Window::Hourly,
                spent: 600,
                limit: 1000
            }
        );
        assert!(b.admit(T0 + 1000, 400).is_ok(), "exactly the limit fits");
        assert!(b.admit(T0 + HOUR_MS, 500).is_ok(), "a new hour");
    }

    #[test]
    fn reservations_stop_concurrent_calls_overshooting() {
        let mut b = TokenBudget::new(1000, 0);
        let first = b.admit(T0, 600).expect("fits");
        assert!(
            b.admit(T0, 600).is_err(),
            "the first call's estimate is held"
        );
        b.settle(T0, first, 100);
        assert_eq!(b.status(T0).hour_spent, 100);
        let second = b.admit(T0, 600).expect("fits after settling");
        b.settle(T0 + HOUR_MS, second, 50);
        assert_eq!(
            b.status(T0 + HOUR_MS).hour_spent,
            50,
            "the old hour's reservation is gone"
        );
    }

    #[test]
    fn daily_budget_spans_hours() {
        let mut b = TokenBudget::new(0, 1500);
        b.charge(T0, 1000);
        b.charge(T0 + HOUR_MS, 400);
        assert_eq!(
            b.admit(T0 + 2 * HOUR_MS, 200).unwrap_err().window,
            Window::Daily
        );
        let next_day = (T0.div_euclid(DAY_MS) + 1) * DAY_MS;
        assert!(b.admit(next_day, 200).is_ok());
        assert_eq!(b.status(next_day).day_spent, 200, "reserved");
    }

    #[test]
    fn a_restored_spend_counts_in_its_own_windows_only() {
        let mut before = TokenBudget::new(1000, 5000);
        before.charge(T0, 900);
        let saved = before.persisted();
        let mut after = TokenBudget::new(1000, 5000);
        after.restore(T0 + 1000, &saved);
        assert!(after.admit(T0 + 1000, 200).is_err(), "same hour: spent");
        let mut later = TokenBudget::new(1000, 5000);
        later.restore(T0 + HOUR_MS, &saved);
        assert_eq!(later.status(T0 + HOUR_MS).hour_spent, 0, "a new hour");
        assert_eq!(later.status(T0 + HOUR_MS).day_spent, 900, "the same day");
    }

    #[test]
    fn zero_limits_are_off() {
        let mut b = TokenBudget::new(0, 0);
        b.charge(T0, u64::MAX);
        assert!(b.admit(T0, u64::MAX).is_ok());
    }
}

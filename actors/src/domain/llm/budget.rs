//! Budgets of tokens and money per clock hour, UTC day and UTC month.
//!
//! Fixed windows, not sliding ones: "spent this hour / today / this month"
//! is what an operator reads on a bill and in `suture status`, and a
//! window's spend is two numbers to persist. A call reserves its estimate
//! when admitted (so calls running at once cannot overshoot together) and
//! is settled at what the response's `usage` says. Money is counted in
//! micro-dollars from the price table (`[llm.prices]`): a price in dollars
//! per million tokens is exactly micro-dollars per token.

use serde::{Deserialize, Serialize};

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

/// A model's price (`[llm.prices."<model>"]`), in dollars per million
/// tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Price {
    pub input_per_million: f64,
    pub output_per_million: f64,
}

impl Price {
    /// What `prompt` and `completion` tokens cost, in micro-dollars,
    /// rounded up.
    pub fn cost(&self, prompt: u64, completion: u64) -> u64 {
        #[allow(
            clippy::cast_precision_loss,
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss
        )]
        let micro = (prompt as f64 * self.input_per_million.max(0.0)
            + completion as f64 * self.output_per_million.max(0.0))
        .ceil();
        if micro.is_finite() && micro > 0.0 {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let micro = micro.min(u64::MAX as f64) as u64;
            micro
        } else {
            0
        }
    }
}

/// Micro-dollars in `usd` dollars (for limits in config).
pub fn micro_usd(usd: f64) -> u64 {
    if usd.is_finite() && usd > 0.0 {
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let micro = (usd * 1e6).round().min(u64::MAX as f64) as u64;
        micro
    } else {
        0
    }
}

/// Dollars in `micro` micro-dollars (for people).
pub fn usd(micro: u64) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let usd = micro as f64 / 1e6;
    usd
}

/// Which budget refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Window {
    Hourly,
    Daily,
    Monthly,
}

impl Window {
    pub const ALL: [Window; 3] = [Window::Hourly, Window::Daily, Window::Monthly];

    pub fn name(self) -> &'static str {
        match self {
            Window::Hourly => "hourly",
            Window::Daily => "daily",
            Window::Monthly => "monthly",
        }
    }

    /// The window holding `now_ms`: hours, days, or months (UTC) since the
    /// epoch.
    pub fn id(self, now_ms: i64) -> i64 {
        match self {
            Window::Hourly => now_ms.div_euclid(HOUR_MS),
            Window::Daily => now_ms.div_euclid(DAY_MS),
            Window::Monthly => {
                let (year, month) = civil_month(now_ms.div_euclid(DAY_MS));
                year * 12 + month - 1
            }
        }
    }
}

/// (year, month 1..=12) of the day `days` after 1970-01-01, by Howard
/// Hinnant's `civil_from_days`.
fn civil_month(days: i64) -> (i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month)
}

/// Tokens and money, spent or allowed (a limit of 0 is off).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spend {
    pub tokens: u64,
    pub micro_usd: u64,
}

impl Spend {
    pub fn tokens(tokens: u64) -> Self {
        Self {
            tokens,
            micro_usd: 0,
        }
    }

    fn add(self, other: Spend) -> Spend {
        Spend {
            tokens: self.tokens.saturating_add(other.tokens),
            micro_usd: self.micro_usd.saturating_add(other.micro_usd),
        }
    }

    fn sub(self, other: Spend) -> Spend {
        Spend {
            tokens: self.tokens.saturating_sub(other.tokens),
            micro_usd: self.micro_usd.saturating_sub(other.micro_usd),
        }
    }
}

/// The limits per window, in [`Window::ALL`] order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BudgetLimits(pub [Spend; 3]);

/// What a refusal names: tokens or dollars.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    Tokens,
    MicroUsd,
}

/// A refusal: the window, the unit, what it has spent, its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverBudget {
    pub window: Window,
    pub unit: Unit,
    pub spent: u64,
    pub limit: u64,
}

impl std::fmt::Display for OverBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.unit {
            Unit::Tokens => write!(
                f,
                "over the {} token budget ({} of {} tokens spent)",
                self.window.name(),
                self.spent,
                self.limit
            ),
            Unit::MicroUsd => write!(
                f,
                "over the {} cost budget (${:.2} of ${:.2} spent)",
                self.window.name(),
                usd(self.spent),
                usd(self.limit)
            ),
        }
    }
}

/// An admitted call's estimate, held against the windows it was made in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "settle the reservation with what the call used"]
pub struct Reservation {
    ids: [i64; 3],
    spend: Spend,
}

/// Spend in the current windows (dollars for people).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BudgetStatus {
    pub hour_spent: u64,
    pub hour_limit: u64,
    pub day_spent: u64,
    pub day_limit: u64,
    pub month_spent: u64,
    pub month_limit: u64,
    pub hour_usd: f64,
    pub hour_usd_limit: f64,
    pub day_usd: f64,
    pub day_usd_limit: f64,
    pub month_usd: f64,
    pub month_usd_limit: f64,
    /// The first window that refuses a call now, if one does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exhausted: Option<String>,
}

/// The spend a restart must not forget (else a crash loop resets the budget).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersistedBudget {
    pub hour: i64,
    pub hour_spent: u64,
    pub day: i64,
    pub day_spent: u64,
    #[serde(default)]
    pub month: i64,
    #[serde(default)]
    pub month_spent: u64,
    #[serde(default)]
    pub hour_micro_usd: u64,
    #[serde(default)]
    pub day_micro_usd: u64,
    #[serde(default)]
    pub month_micro_usd: u64,
}

#[derive(Debug, Clone)]
pub struct TokenBudget {
    limits: BudgetLimits,
    /// Per window: its id and what it spent.
    windows: [(i64, Spend); 3],
}

impl TokenBudget {
    /// Token limits per hour and per day only (0 is off).
    pub fn new(hour_limit: u64, day_limit: u64) -> Self {
        Self::with_limits(BudgetLimits([
            Spend::tokens(hour_limit),
            Spend::tokens(day_limit),
            Spend::default(),
        ]))
    }

    pub fn with_limits(limits: BudgetLimits) -> Self {
        Self {
            limits,
            windows: [(i64::MIN, Spend::default()); 3],
        }
    }

    /// Starts a new window when the clock has moved into one.
    fn roll(&mut self, now_ms: i64) {
        for (window, (id, spent)) in Window::ALL.iter().zip(self.windows.iter_mut()) {
            let now = window.id(now_ms);
            if now != *id {
                *id = now;
                *spent = Spend::default();
            }
        }
    }

    /// The first window and unit over its limit once `extra` is added.
    fn over(&self, extra: Spend) -> Option<OverBudget> {
        for ((window, (_, spent)), limit) in
            Window::ALL.iter().zip(&self.windows).zip(&self.limits.0)
        {
            for (unit, spent, extra, limit) in [
                (Unit::Tokens, spent.tokens, extra.tokens, limit.tokens),
                (
                    Unit::MicroUsd,
                    spent.micro_usd,
                    extra.micro_usd,
                    limit.micro_usd,
                ),
            ] {
                if limit > 0 && spent.saturating_add(extra) > limit {
                    return Some(OverBudget {
                        window: *window,
                        unit,
                        spent,
                        limit,
                    });
                }
            }
        }
        None
    }

    /// Whether a call estimated at `estimate` fits every window; when it
    /// does, the estimate is reserved until [`TokenBudget::settle`].
    pub fn admit(&mut self, now_ms: i64, estimate: Spend) -> Result<Reservation, OverBudget> {
        self.roll(now_ms);
        if let Some(over) = self.over(estimate) {
            return Err(over);
        }
        for (_, spent) in &mut self.windows {
            *spent = spent.add(estimate);
        }
        Ok(Reservation {
            ids: self.windows.map(|(id, _)| id),
            spend: estimate,
        })
    }

    /// Replaces a reservation by what the call used (nothing when it failed
    /// before an answer). A window that turned since keeps only the use.
    pub fn settle(&mut self, now_ms: i64, reservation: Reservation, used: Spend) {
        self.roll(now_ms);
        for ((id, spent), reserved_in) in self.windows.iter_mut().zip(reservation.ids) {
            if *id == reserved_in {
                *spent = spent.sub(reservation.spend);
            }
        }
        self.charge(now_ms, used);
    }

    /// Charges what a call used.
    pub fn charge(&mut self, now_ms: i64, used: Spend) {
        self.roll(now_ms);
        for (_, spent) in &mut self.windows {
            *spent = spent.add(used);
        }
    }

    /// Why no call would be admitted now (a window spent to its limit).
    pub fn exhausted(&mut self, now_ms: i64) -> Option<OverBudget> {
        self.roll(now_ms);
        self.over(Spend {
            tokens: 1,
            micro_usd: 1,
        })
        .filter(|over| over.spent >= over.limit)
    }

    /// What survives a restart: the windows and what they spent
    /// (reservations included: an estimate in flight when the process
    /// died was never settled, and erring high is the safe side).
    pub fn persisted(&self) -> PersistedBudget {
        let [(hour, h), (day, d), (month, m)] = self.windows;
        PersistedBudget {
            hour,
            hour_spent: h.tokens,
            day,
            day_spent: d.tokens,
            month,
            month_spent: m.tokens,
            hour_micro_usd: h.micro_usd,
            day_micro_usd: d.micro_usd,
            month_micro_usd: m.micro_usd,
        }
    }

    /// Takes back a saved spend; windows that have turned since are ignored.
    pub fn restore(&mut self, now_ms: i64, saved: &PersistedBudget) {
        self.roll(now_ms);
        let saved = [
            (saved.hour, saved.hour_spent, saved.hour_micro_usd),
            (saved.day, saved.day_spent, saved.day_micro_usd),
            (saved.month, saved.month_spent, saved.month_micro_usd),
        ];
        for ((id, spent), (saved_id, tokens, micro_usd)) in self.windows.iter_mut().zip(saved) {
            if *id == saved_id {
                spent.tokens = spent.tokens.max(tokens);
                spent.micro_usd = spent.micro_usd.max(micro_usd);
            }
        }
    }

    pub fn status(&mut self, now_ms: i64) -> BudgetStatus {
        let exhausted = self.exhausted(now_ms).map(|over| over.to_string());
        let [(_, h), (_, d), (_, m)] = self.windows;
        let [hl, dl, ml] = self.limits.0;
        BudgetStatus {
            hour_spent: h.tokens,
            hour_limit: hl.tokens,
            day_spent: d.tokens,
            day_limit: dl.tokens,
            month_spent: m.tokens,
            month_limit: ml.tokens,
            hour_usd: usd(h.micro_usd),
            hour_usd_limit: usd(hl.micro_usd),
            day_usd: usd(d.micro_usd),
            day_usd_limit: usd(dl.micro_usd),
            month_usd: usd(m.micro_usd),
            month_usd_limit: usd(ml.micro_usd),
            exhausted,
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
        let r = b.admit(T0, Spend::tokens(100)).expect("fits");
        b.settle(T0, r, Spend::tokens(600));
        let refused = b.admit(T0 + 1000, Spend::tokens(500)).unwrap_err();
        assert_eq!(
            refused,
            OverBudget {
                window: Window::Hourly,
                unit: Unit::Tokens,
                spent: 600,
                limit: 1000
            }
        );
        assert!(
            b.admit(T0 + 1000, Spend::tokens(400)).is_ok(),
            "exactly the limit fits"
        );
        assert!(
            b.admit(T0 + HOUR_MS, Spend::tokens(500)).is_ok(),
            "a new hour"
        );
    }

    #[test]
    fn reservations_stop_concurrent_calls_overshooting() {
        let mut b = TokenBudget::new(1000, 0);
        let first = b.admit(T0, Spend::tokens(600)).expect("fits");
        assert!(
            b.admit(T0, Spend::tokens(600)).is_err(),
            "the first call's estimate is held"
        );
        b.settle(T0, first, Spend::tokens(100));
        assert_eq!(b.status(T0).hour_spent, 100);
        let second = b
            .admit(T0, Spend::tokens(600))
            .expect("fits after settling");
        b.settle(T0 + HOUR_MS, second, Spend::tokens(50));
        assert_eq!(
            b.status(T0 + HOUR_MS).hour_spent,
            50,
            "the old hour's reservation is gone"
        );
    }

    #[test]
    fn daily_budget_spans_hours() {
        let mut b = TokenBudget::new(0, 1500);
        b.charge(T0, Spend::tokens(1000));
        b.charge(T0 + HOUR_MS, Spend::tokens(400));
        assert_eq!(
            b.admit(T0 + 2 * HOUR_MS, Spend::tokens(200))
                .unwrap_err()
                .window,
            Window::Daily
        );
        let next_day = (T0.div_euclid(DAY_MS) + 1) * DAY_MS;
        assert!(b.admit(next_day, Spend::tokens(200)).is_ok());
        assert_eq!(b.status(next_day).day_spent, 200, "reserved");
    }

    #[test]
    fn a_restored_spend_counts_in_its_own_windows_only() {
        let mut before = TokenBudget::new(1000, 5000);
        before.charge(T0, Spend::tokens(900));
        let saved = before.persisted();
        let mut after = TokenBudget::new(1000, 5000);
        after.restore(T0 + 1000, &saved);
        assert!(
            after.admit(T0 + 1000, Spend::tokens(200)).is_err(),
            "same hour: spent"
        );
        let mut later = TokenBudget::new(1000, 5000);
        later.restore(T0 + HOUR_MS, &saved);
        assert_eq!(later.status(T0 + HOUR_MS).hour_spent, 0, "a new hour");
        assert_eq!(later.status(T0 + HOUR_MS).day_spent, 900, "the same day");
    }

    #[test]
    fn zero_limits_are_off() {
        let mut b = TokenBudget::new(0, 0);
        b.charge(T0, Spend::tokens(u64::MAX));
        assert!(b.admit(T0, Spend::tokens(u64::MAX)).is_ok());
    }

    #[test]
    fn money_is_counted_from_the_price_table_and_refused_per_window() {
        let price = Price {
            input_per_million: 2.5,
            output_per_million: 10.0,
        };
        assert_eq!(price.cost(1_000_000, 0), 2_500_000, "$2.50 a million in");
        assert_eq!(price.cost(1, 1), 13, "rounded up");
        let mut b = TokenBudget::with_limits(BudgetLimits([
            Spend::default(),
            Spend {
                tokens: 0,
                micro_usd: micro_usd(1.0),
            },
            Spend::default(),
        ]));
        b.charge(
            T0,
            Spend {
                tokens: 10,
                micro_usd: 900_000,
            },
        );
        let over = b
            .admit(
                T0,
                Spend {
                    tokens: 10,
                    micro_usd: 200_000,
                },
            )
            .unwrap_err();
        assert_eq!((over.window, over.unit), (Window::Daily, Unit::MicroUsd));
        assert_eq!(
            over.to_string(),
            "over the daily cost budget ($0.90 of $1.00 spent)"
        );
        assert!(b.exhausted(T0).is_none(), "room is left for a cheap call");
        b.charge(
            T0,
            Spend {
                tokens: 0,
                micro_usd: 100_000,
            },
        );
        assert!(b.exhausted(T0).is_some());
        assert!(b.status(T0).exhausted.is_some());
    }

    #[test]
    fn the_month_window_turns_on_the_calendar() {
        // 2026-01-31 23:00 UTC and 2026-02-01 00:00 UTC.
        let jan_31 = 1_769_900_400_000;
        let feb_1 = jan_31 + HOUR_MS;
        assert_eq!(civil_month(jan_31.div_euclid(DAY_MS)), (2026, 1));
        assert_eq!(civil_month(feb_1.div_euclid(DAY_MS)), (2026, 2));
        let mut b = TokenBudget::with_limits(BudgetLimits([
            Spend::default(),
            Spend::default(),
            Spend::tokens(100),
        ]));
        b.charge(jan_31, Spend::tokens(100));
        assert_eq!(b.exhausted(jan_31).map(|o| o.window), Some(Window::Monthly));
        assert!(b.exhausted(feb_1).is_none(), "a new month");
        let saved = PersistedBudget {
            month: Window::Monthly.id(feb_1),
            month_spent: 100,
            ..b.persisted()
        };
        let mut restored = TokenBudget::with_limits(b.limits);
        restored.restore(feb_1 + DAY_MS, &saved);
        assert!(
            restored.exhausted(feb_1 + DAY_MS).is_some(),
            "kept across a restart"
        );
    }
}

//! Rate limits on what Suture does (`[limits]`): agent attempts, pull
//! requests, GitHub writes, LLM calls. Each is a `governor` GCRA limiter
//! whose one number of state (the theoretical arrival time) is kept in the
//! store's control tree on every admitted action, so a sidecar in a crash
//! loop cannot reset its limits by restarting.
//!
//! Persisting the state needs it as a wall-clock time, while governor keeps
//! it relative to the limiter's start (its clock's first reading, taken in
//! `RateLimiter::new`). [`EpochClock`] reads the wall clock and remembers
//! its first reading, so [`PersistedState`] converts both ways.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

pub use crate::domain::control::LimitsConfig;
use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::{NotKeyed, StateStore};
use governor::{Quota, RateLimiter};

/// The wall clock as governor reads it (time since the Unix epoch), with
/// its first reading remembered: that reading is the limiter's start.
#[derive(Clone)]
pub struct EpochClock {
    now_ms: Arc<dyn Fn() -> i64 + Send + Sync>,
    first: Arc<OnceLock<Duration>>,
}

impl EpochClock {
    pub fn new(now_ms: Arc<dyn Fn() -> i64 + Send + Sync>) -> Self {
        Self {
            now_ms,
            first: Arc::new(OnceLock::new()),
        }
    }

    fn start(&self) -> Duration {
        *self.first.get_or_init(|| self.read())
    }

    fn read(&self) -> Duration {
        Duration::from_millis(u64::try_from((self.now_ms)()).unwrap_or(0))
    }
}

impl Clock for EpochClock {
    type Instant = Duration;

    fn now(&self) -> Duration {
        let now = self.read();
        self.first.get_or_init(|| now);
        now
    }
}

/// Saves a limiter's state: the theoretical arrival time in ms since the
/// epoch.
pub type Save = Arc<dyn Fn(i64) + Send + Sync>;

/// Saves any limiter's state by its name.
pub type SaveNamed = Arc<dyn Fn(&str, i64) + Send + Sync>;

/// governor's state for one limiter, restored from and saved to the store.
pub struct PersistedState {
    clock: EpochClock,
    /// Relative to the clock's start, as governor wants it; `None` until
    /// the first action (or the restore) sets it.
    tat: Mutex<Option<Nanos>>,
    /// What the store held at start, applied on first use (the start is
    /// known only once governor has read the clock).
    restored_ms: Mutex<Option<i64>>,
    save: Save,
}

impl StateStore for PersistedState {
    type Key = NotKeyed;

    fn measure_and_replace<T, F, E>(&self, _key: &NotKeyed, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        let start = self.clock.start();
        let mut tat = self.tat.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(saved) = self
            .restored_ms
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            let saved = Duration::from_millis(u64::try_from(saved).unwrap_or(0));
            // A time before this start is already past: no state.
            if let Some(relative) = saved.checked_sub(start).filter(|d| !d.is_zero()) {
                *tat = Some(Nanos::from(relative));
            }
        }
        let (result, new) = f(*tat)?;
        *tat = Some(new);
        let absolute = start.saturating_add(Duration::from(new));
        (self.save)(i64::try_from(absolute.as_millis()).unwrap_or(i64::MAX));
        Ok(result)
    }
}

/// One named limit.
pub struct RateLimit {
    name: &'static str,
    /// "6 per hour", for reasons.
    describe: String,
    clock: EpochClock,
    limiter: RateLimiter<NotKeyed, PersistedState, EpochClock, NoOpMiddleware<Duration>>,
}

/// Why an action must wait: which limit, and for how long.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rate limit {name} ({describe}) reached: next in {}s", retry_after.as_secs().max(1))]
pub struct Limited {
    pub name: &'static str,
    pub describe: String,
    pub retry_after: Duration,
}

/// How long a limit's period is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Per {
    Minute,
    Hour,
    Day,
}

impl Per {
    fn period(self) -> Duration {
        Duration::from_secs(match self {
            Per::Minute => 60,
            Per::Hour => 3_600,
            Per::Day => 86_400,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Per::Minute => "minute",
            Per::Hour => "hour",
            Per::Day => "day",
        }
    }
}

impl RateLimit {
    /// `count` per `per`, a burst of `count` allowed (an hour's quota may
    /// be used at once, then refills evenly). `None` when `count` is 0.
    pub fn new(
        name: &'static str,
        count: u32,
        per: Per,
        clock: EpochClock,
        restored_ms: Option<i64>,
        save: Save,
    ) -> Option<Self> {
        let burst = std::num::NonZeroU32::new(count)?;
        let quota = Quota::with_period(per.period() / count)?.allow_burst(burst);
        let state = PersistedState {
            clock: clock.clone(),
            tat: Mutex::new(None),
            restored_ms: Mutex::new(restored_ms),
            save,
        };
        Some(Self {
            name,
            describe: format!("{count} per {}", per.name()),
            limiter: RateLimiter::new(quota, state, clock.clone()),
            clock,
        })
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Takes one action's room, or says how long to wait.
    pub fn check(&self) -> Result<(), Limited> {
        self.limiter.check().map_err(|not_until| Limited {
            name: self.name,
            describe: self.describe.clone(),
            retry_after: not_until.wait_time_from(self.clock.now()),
        })
    }
}

/// Every limit of `[limits]`, built once and shared by every guard.
pub struct RateLimits {
    agent_attempts: Option<RateLimit>,
    prs: Vec<RateLimit>,
    github_writes: Vec<RateLimit>,
    llm_calls: Option<RateLimit>,
    deploys: Option<RateLimit>,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits").finish_non_exhaustive()
    }
}

impl RateLimits {
    /// The limits of `config`, each restored from `restore(name)` and
    /// saved through `save(name, ms)`.
    pub fn new(
        config: &LimitsConfig,
        now_ms: Arc<dyn Fn() -> i64 + Send + Sync>,
        restore: impl Fn(&str) -> Option<i64>,
        save: SaveNamed,
    ) -> Self {
        let make = |name: &'static str, count: u32, per: Per| {
            let save = save.clone();
            RateLimit::new(
                name,
                count,
                per,
                EpochClock::new(now_ms.clone()),
                restore(name),
                Arc::new(move |ms| save(name, ms)),
            )
        };
        Self {
            agent_attempts: make(
                "agent_attempts_per_hour",
                config.agent_attempts_per_hour,
                Per::Hour,
            ),
            prs: [
                make("prs_per_day", config.prs_per_day, Per::Day),
                make("prs_per_hour", config.prs_per_hour, Per::Hour),
            ]
            .into_iter()
            .flatten()
            .collect(),
            github_writes: [
                make(
                    "github_writes_per_hour",
                    config.github_writes_per_hour,
                    Per::Hour,
                ),
                make(
                    "github_writes_per_minute",
                    config.github_writes_per_minute,
                    Per::Minute,
                ),
            ]
            .into_iter()
            .flatten()
            .collect(),
            llm_calls: make(
                "llm_calls_per_minute",
                config.llm_calls_per_minute,
                Per::Minute,
            ),
            deploys: make("deploys_per_hour", config.deploys_per_hour, Per::Hour),
        }
    }

    /// No limits at all (tests, and callers built without a control state).
    pub fn unlimited() -> Self {
        Self {
            agent_attempts: None,
            prs: Vec::new(),
            github_writes: Vec::new(),
            llm_calls: None,
            deploys: None,
        }
    }

    /// Takes room for an agent attempt.
    pub fn agent_attempt(&self) -> Result<(), Limited> {
        check_all(self.agent_attempts.iter())
    }

    /// Takes room for a pull request (a PR and a GitHub write).
    pub fn pull_request(&self) -> Result<(), Limited> {
        check_all(self.prs.iter().chain(&self.github_writes))
    }

    /// Takes room for a GitHub write (an issue, a comment).
    pub fn github_write(&self) -> Result<(), Limited> {
        check_all(self.github_writes.iter())
    }

    /// Takes room for a deploy Suture makes.
    pub fn deploy(&self) -> Result<(), Limited> {
        check_all(self.deploys.iter())
    }

    /// Takes room for an LLM call.
    pub fn llm_call(&self) -> Result<(), Limited> {
        check_all(self.llm_calls.iter())
    }
}

/// Checks the longest period first: when it refuses, the shorter ones
/// have spent nothing. (A shorter one refusing after a longer one admitted
/// costs that longer one a unit: the safe side.)
fn check_all<'a>(limits: impl Iterator<Item = &'a RateLimit>) -> Result<(), Limited> {
    for limit in limits {
        if let Err(limited) = limit.check() {
            metrics::counter!("suture_rate_limited_total", "limit" => limited.name).increment(1);
            return Err(limited);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicI64, Ordering};

    use super::*;

    const T0: i64 = 1_767_600_000_000;

    fn clock(now: &Arc<AtomicI64>) -> EpochClock {
        let now = now.clone();
        EpochClock::new(Arc::new(move || now.load(Ordering::SeqCst)))
    }

    #[test]
    fn a_limit_admits_its_burst_then_refills_evenly() {
        let now = Arc::new(AtomicI64::new(T0));
        let limit =
            RateLimit::new("prs", 3, Per::Hour, clock(&now), None, Arc::new(|_| {})).expect("on");
        for _ in 0..3 {
            assert_eq!(limit.check(), Ok(()));
        }
        let refused = limit.check().expect_err("the fourth waits");
        assert_eq!(refused.retry_after, Duration::from_secs(1_200));
        assert!(refused.to_string().contains("3 per hour"), "{refused}");
        now.fetch_add(1_200_000, Ordering::SeqCst);
        assert_eq!(limit.check(), Ok(()));
        assert!(limit.check().is_err());
    }

    #[test]
    fn a_restart_keeps_what_was_spent() {
        let now = Arc::new(AtomicI64::new(T0));
        let saved = Arc::new(AtomicI64::new(0));
        let save: Save = {
            let saved = saved.clone();
            Arc::new(move |ms| saved.store(ms, Ordering::SeqCst))
        };
        let first =
            RateLimit::new("attempts", 2, Per::Hour, clock(&now), None, save.clone()).expect("on");
        assert_eq!(first.check(), Ok(()));
        assert_eq!(first.check(), Ok(()));
        drop(first);
        // A minute later, a new process: the limit is still spent.
        now.fetch_add(60_000, Ordering::SeqCst);
        let restored = Some(saved.load(Ordering::SeqCst));
        let second =
            RateLimit::new("attempts", 2, Per::Hour, clock(&now), restored, save).expect("on");
        let refused = second.check().expect_err("still spent after the restart");
        assert_eq!(refused.retry_after, Duration::from_secs(1_740));
        // Past the refill it admits again.
        now.fetch_add(1_740_000, Ordering::SeqCst);
        assert_eq!(second.check(), Ok(()));
    }

    #[test]
    fn a_saved_time_long_past_is_no_constraint() {
        let now = Arc::new(AtomicI64::new(T0));
        let limit = RateLimit::new(
            "llm",
            1,
            Per::Minute,
            clock(&now),
            Some(T0 - 3_600_000),
            Arc::new(|_| {}),
        )
        .expect("on");
        assert_eq!(limit.check(), Ok(()));
        assert!(limit.check().is_err());
    }

    #[test]
    fn zero_is_off() {
        let now = Arc::new(AtomicI64::new(T0));
        assert!(RateLimit::new("x", 0, Per::Hour, clock(&now), None, Arc::new(|_| {})).is_none());
    }
}

//! Verification: did a merged fix work in production?
//!
//! Once the deploy that contains a fix's merge commit is known, each of the
//! ticket's signatures is measured over three periods:
//!
//! - **before**: the `gate.baseline` before the regression began (the
//!   ticket's deploy, or the start of the spike's window), what "back to
//!   normal" means;
//! - **regressed**: from the regression's start to the fix's deploy, what
//!   the fix was meant to end;
//! - **after**: from the fix's deploy to now.
//!
//! With the gate's own statistic (the exact conditional test of two Poisson
//! rates, per request when traffic is known, else per hour) two questions
//! are asked of the after period, each at `verify.alpha`:
//!
//! 1. Is its rate still above the rate before the regression? Yes: **still
//!    failing** (the ticket is reopened and escalated, and the fix loop of
//!    its signatures counts a failure).
//! 2. Is its rate below the regressed rate? Yes, and not still failing:
//!    **fixed** (the ticket is resolved with these figures).
//!
//! Neither: **undecided**, with the reason in words, and verification waits
//! for more of the after period. Quiet is not proof: a signature that fired
//! twice an hour can be silent for an hour by chance, and the second test
//! only passes once the silence has lasted long enough to rule that out.
//! After `verify.max_wait` without a verdict the ticket goes to a person.
//!
//! A signature new with the regression has no "before" rate; it is taken
//! as zero events over as much exposure as the regressed period had, so a
//! handful of stragglers after the deploy is not a failure while a steady
//! stream is.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::domain::duration;
use crate::domain::gate::stats::{conditional_poisson_lower_p, conditional_poisson_p};

/// `[verify]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VerifyConfig {
    /// Whether merged fixes are verified (off: a merged fix waits in
    /// `verifying` until a person resolves it).
    pub enabled: bool,
    /// The least time after the fix's deploy before any verdict: the
    /// gate's window, so a fix is judged on as much evidence as the
    /// regression was.
    #[serde(with = "duration")]
    pub window: Duration,
    /// How long verification waits for enough evidence before handing the
    /// ticket to a person (it never closes a ticket on silence alone).
    #[serde(with = "duration")]
    pub max_wait: Duration,
    /// A signature the gate flags again this soon after its ticket was
    /// resolved reopens that ticket as a regression (instead of opening a
    /// new one), and counts against the fix loop of its signatures.
    #[serde(with = "duration")]
    pub regression_window: Duration,
    /// Level of each of the two tests. There are two tests per signature
    /// and a verdict is acted on (a ticket closed, or reopened), so the
    /// level is the gate's.
    pub alpha: f64,
}

impl Default for VerifyConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            window: Duration::from_secs(60 * 60),
            max_wait: Duration::from_secs(3 * 86_400),
            regression_window: Duration::from_secs(7 * 86_400),
            alpha: 0.01,
        }
    }
}

impl VerifyConfig {
    pub fn validate(&self) -> Result<(), String> {
        if !(self.alpha > 0.0 && self.alpha < 0.5) {
            return Err(format!(
                "verify.alpha must be in (0, 0.5), got {}",
                self.alpha
            ));
        }
        if self.window.is_zero() {
            return Err("verify.window must be positive".into());
        }
        if self.max_wait < self.window {
            return Err("verify.max_wait must be at least verify.window".into());
        }
        Ok(())
    }
}

/// Events of one signature over a stretch of time, with its exposure.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Period {
    pub from_ms: i64,
    pub to_ms: i64,
    pub events: u64,
    /// The hours the store could count (per-minute data past its retention
    /// leaves only whole hours).
    pub hours: f64,
    /// Requests in the same time, when traffic is reported throughout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<u64>,
}

impl Period {
    fn rate(&self, unit: Unit) -> f64 {
        let exposure = self.exposure(unit);
        if exposure > 0.0 {
            self.events as f64 / exposure
        } else {
            0.0
        }
    }

    fn exposure(&self, unit: Unit) -> f64 {
        match unit {
            Unit::PerHour => self.hours,
            Unit::PerRequest => self.requests.unwrap_or(0) as f64,
        }
    }
}

/// What the rates are measured against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    PerHour,
    PerRequest,
}

/// The verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Back to the rate before the regression.
    Fixed,
    /// Still above the rate before the regression.
    StillFailing,
    /// Not enough evidence either way yet.
    Undecided,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Fixed => "fixed",
            Outcome::StillFailing => "still_failing",
            Outcome::Undecided => "undecided",
        }
    }
}

/// One signature's figures and verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignatureVerdict {
    pub signature: String,
    pub unit: Unit,
    pub before: Period,
    pub regressed: Period,
    pub after: Period,
    /// p of "after is above before" (small: still failing).
    pub p_elevated: f64,
    /// p of "after is below regressed" (small: the fix lowered it).
    pub p_reduced: f64,
    pub outcome: Outcome,
    pub reason: String,
}

/// A ticket's verification, as the ticket keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    pub outcome: Outcome,
    /// The deploy that took the fix to production.
    pub deploy: String,
    pub checked_at_ms: i64,
    pub reason: String,
    pub signatures: Vec<SignatureVerdict>,
}

/// One signature's three periods, as the store counted them.
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    pub signature: String,
    pub before: Period,
    pub regressed: Period,
    pub after: Period,
    /// Whether the signature existed before the regression began.
    pub seen_before: bool,
}

/// Judges one signature (see the module doc).
pub fn judge_signature(m: &Measured, cfg: &VerifyConfig) -> SignatureVerdict {
    let traffic = [&m.before, &m.regressed, &m.after]
        .iter()
        .all(|p| p.requests.is_some_and(|r| r > 0) || p.hours == 0.0);
    let unit = if traffic && m.after.requests.is_some_and(|r| r > 0) {
        Unit::PerRequest
    } else {
        Unit::PerHour
    };
    let (x_a, e_a) = (m.after.events, m.after.exposure(unit));
    let (x_r, e_r) = (m.regressed.events, m.regressed.exposure(unit));
    // A new signature had no events before; with no history at all, the
    // regressed period's exposure stands in for "zero events for as long".
    let (x_b, e_b) = if !m.seen_before && m.before.events == 0 {
        (0, m.before.exposure(unit).max(e_r))
    } else {
        (m.before.events, m.before.exposure(unit))
    };
    let p_elevated = conditional_poisson_p(x_a, e_a, x_b, e_b);
    let p_reduced = conditional_poisson_lower_p(x_a, e_a, x_r, e_r);
    let per = |p: &Period| describe_rate(p.rate(unit), unit);
    let after = format!(
        "{x_a} events in the {} since the fix's deploy ({})",
        describe_hours(m.after.hours),
        per(&m.after)
    );
    let before = if m.seen_before || m.before.events > 0 {
        format!("{} before the regression", per(&m.before))
    } else {
        "none before the regression (a new error)".to_string()
    };
    let regressed = format!("{} while it was regressed", per(&m.regressed));
    let (outcome, reason) = if e_b > 0.0 && p_elevated < cfg.alpha {
        (
            Outcome::StillFailing,
            format!("still failing: {after}, above {before} (p = {p_elevated:.2e}); {regressed}"),
        )
    } else if p_reduced < cfg.alpha {
        (
            Outcome::Fixed,
            format!(
                "fixed: {after}, down from {regressed} (p = {p_reduced:.2e}) and not above {before}"
            ),
        )
    } else if e_r == 0.0 {
        (
            Outcome::Undecided,
            format!(
                "undecided: {after}; the regressed period has no exposure to compare with (no events or no time between the regression and the fix)"
            ),
        )
    } else {
        (
            Outcome::Undecided,
            format!(
                "undecided: {after}, {regressed}, {before}: not yet enough evidence that the rate fell (p = {p_reduced:.2}) or that it did not (p = {p_elevated:.2}); waiting for more of the period after the deploy"
            ),
        )
    };
    SignatureVerdict {
        signature: m.signature.clone(),
        unit,
        before: m.before,
        regressed: m.regressed,
        after: m.after,
        p_elevated,
        p_reduced,
        outcome,
        reason,
    }
}

/// Judges a ticket: still failing if any signature is, fixed if all are,
/// else undecided. `after_hours` is how long the fix has been deployed:
/// before `verify.window` has passed nothing is decided.
pub fn judge(
    deploy: &str,
    measured: &[Measured],
    after_ms: i64,
    now_ms: i64,
    cfg: &VerifyConfig,
) -> Verification {
    let window_ms = i64::try_from(cfg.window.as_millis()).unwrap_or(i64::MAX);
    let signatures: Vec<SignatureVerdict> =
        measured.iter().map(|m| judge_signature(m, cfg)).collect();
    let (outcome, reason) = if now_ms.saturating_sub(after_ms) < window_ms {
        (
            Outcome::Undecided,
            format!(
                "waiting: the fix has been in production for {} of the {} verification window",
                describe_hours((now_ms - after_ms).max(0) as f64 / 3_600_000.0),
                humantime::format_duration(cfg.window)
            ),
        )
    } else if signatures.is_empty() {
        (
            Outcome::Undecided,
            "the ticket has no signature to measure".to_string(),
        )
    } else if let Some(failing) = signatures
        .iter()
        .find(|s| s.outcome == Outcome::StillFailing)
    {
        (
            Outcome::StillFailing,
            format!("{}: {}", failing.signature, failing.reason),
        )
    } else if signatures.iter().all(|s| s.outcome == Outcome::Fixed) {
        let reasons: Vec<String> = signatures
            .iter()
            .map(|s| format!("{}: {}", s.signature, s.reason))
            .collect();
        (Outcome::Fixed, reasons.join("; "))
    } else {
        let waiting: Vec<String> = signatures
            .iter()
            .filter(|s| s.outcome == Outcome::Undecided)
            .map(|s| format!("{}: {}", s.signature, s.reason))
            .collect();
        (Outcome::Undecided, waiting.join("; "))
    };
    Verification {
        outcome,
        deploy: deploy.to_string(),
        checked_at_ms: now_ms,
        reason,
        signatures,
    }
}

/// The comment GitHub gets: the verdict and a table of the figures. Only
/// Suture's own numbers and signature ids, no event text.
pub fn render_report(v: &Verification) -> String {
    let mut out = format!(
        "**Suture verified this fix in production** (deploy `{}`): {}.\n\n",
        v.deploy,
        match v.outcome {
            Outcome::Fixed => "the error is back to its rate before the regression",
            Outcome::StillFailing => "the error is still above its rate before the regression",
            Outcome::Undecided => "not enough evidence yet",
        }
    );
    out.push_str("| signature | before the regression | regressed | after the fix | verdict |\n");
    out.push_str("|---|---|---|---|---|\n");
    for s in &v.signatures {
        let cell = |p: &Period| {
            format!(
                "{} events / {} ({})",
                p.events,
                describe_hours(p.hours),
                describe_rate(p.rate(s.unit), s.unit)
            )
        };
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} (p = {:.1e}) |\n",
            s.signature,
            cell(&s.before),
            cell(&s.regressed),
            cell(&s.after),
            s.outcome.as_str(),
            if s.outcome == Outcome::StillFailing {
                s.p_elevated
            } else {
                s.p_reduced
            }
        ));
    }
    out
}

fn describe_rate(rate: f64, unit: Unit) -> String {
    match unit {
        Unit::PerHour => format!("{rate:.2}/h"),
        Unit::PerRequest => format!("{:.3} per 1,000 requests", rate * 1_000.0),
    }
}

fn describe_hours(hours: f64) -> String {
    if hours < 1.0 {
        format!("{:.0} min", hours * 60.0)
    } else {
        format!("{hours:.1} h")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

    fn period(events: u64, hours: f64) -> Period {
        Period {
            from_ms: 0,
            to_ms: (hours * H as f64) as i64,
            events,
            hours,
            requests: None,
        }
    }

    fn measured(before: (u64, f64), regressed: (u64, f64), after: (u64, f64)) -> Measured {
        Measured {
            signature: "s1".into(),
            before: period(before.0, before.1),
            regressed: period(regressed.0, regressed.1),
            after: period(after.0, after.1),
            seen_before: before.0 > 0,
        }
    }

    #[test]
    fn a_multiplied_error_back_to_its_old_rate_is_fixed() {
        // 2/h for a week, 8/h for 5 h, then 2 in the 2 h after the fix.
        let v = judge_signature(
            &measured((336, 168.0), (40, 5.0), (4, 2.0)),
            &VerifyConfig::default(),
        );
        assert_eq!(v.outcome, Outcome::Fixed, "{}", v.reason);
        assert!(
            v.reason.contains("2.00/h before the regression"),
            "{}",
            v.reason
        );
    }

    #[test]
    fn an_error_still_at_its_regressed_rate_is_still_failing() {
        let v = judge_signature(
            &measured((336, 168.0), (40, 5.0), (17, 2.0)),
            &VerifyConfig::default(),
        );
        assert_eq!(v.outcome, Outcome::StillFailing, "{}", v.reason);
        assert!(v.p_elevated < 0.01);
    }

    #[test]
    fn a_short_silence_after_a_rare_error_is_not_proof() {
        // A new error that fired twice in its hour: one quiet hour could be
        // chance, a quiet day is not.
        let cfg = VerifyConfig::default();
        let short = judge_signature(&measured((0, 168.0), (2, 1.0), (0, 1.0)), &cfg);
        assert_eq!(short.outcome, Outcome::Undecided, "{}", short.reason);
        let long = judge_signature(&measured((0, 168.0), (2, 1.0), (0, 30.0)), &cfg);
        assert_eq!(long.outcome, Outcome::Fixed, "{}", long.reason);
    }

    #[test]
    fn a_new_error_without_history_is_judged_against_zero() {
        let cfg = VerifyConfig::default();
        // No store history before the regression at all.
        let quiet = judge_signature(&measured((0, 0.0), (120, 2.0), (0, 1.0)), &cfg);
        assert_eq!(quiet.outcome, Outcome::Fixed, "{}", quiet.reason);
        let steady = judge_signature(&measured((0, 0.0), (120, 2.0), (50, 1.0)), &cfg);
        assert_eq!(steady.outcome, Outcome::StillFailing, "{}", steady.reason);
        // A straggler or two after the deploy is neither.
        let stragglers = judge_signature(&measured((0, 0.0), (120, 2.0), (1, 1.0)), &cfg);
        assert_ne!(
            stragglers.outcome,
            Outcome::StillFailing,
            "{}",
            stragglers.reason
        );
    }

    #[test]
    fn per_request_when_traffic_is_known_throughout() {
        let cfg = VerifyConfig::default();
        let mut m = measured((100, 100.0), (60, 2.0), (30, 1.0));
        // Traffic tripled after the deploy: 30 events per hour is the old
        // per-request rate, not a failure.
        m.before.requests = Some(100_000);
        m.regressed.requests = Some(2_000);
        m.after.requests = Some(30_000);
        let v = judge_signature(&m, &cfg);
        assert_eq!(v.unit, Unit::PerRequest);
        assert_eq!(v.outcome, Outcome::Fixed, "{}", v.reason);
        // Without the traffic, the same counts look still elevated.
        m.after.requests = None;
        let v = judge_signature(&m, &cfg);
        assert_eq!(v.unit, Unit::PerHour);
        assert_eq!(v.outcome, Outcome::StillFailing, "{}", v.reason);
    }

    #[test]
    fn nothing_is_decided_inside_the_window_and_one_failure_decides_the_ticket() {
        let cfg = VerifyConfig::default();
        let fixed = measured((336, 168.0), (40, 5.0), (0, 2.0));
        let failing = Measured {
            signature: "s2".into(),
            ..measured((336, 168.0), (40, 5.0), (17, 2.0))
        };
        let early = judge("d2", std::slice::from_ref(&fixed), 0, H / 2, &cfg);
        assert_eq!(early.outcome, Outcome::Undecided);
        assert!(early.reason.contains("waiting"), "{}", early.reason);
        let both = judge("d2", &[fixed.clone(), failing], 0, 2 * H, &cfg);
        assert_eq!(both.outcome, Outcome::StillFailing);
        assert!(
            both.reason.starts_with("s2: still failing"),
            "{}",
            both.reason
        );
        let one = judge("d2", &[fixed], 0, 2 * H, &cfg);
        assert_eq!(one.outcome, Outcome::Fixed);
        assert_eq!(one.deploy, "d2");
    }

    #[test]
    fn the_report_shows_every_period() {
        let v = judge(
            "d2",
            &[measured((336, 168.0), (40, 5.0), (0, 2.0))],
            0,
            2 * H,
            &VerifyConfig::default(),
        );
        let text = render_report(&v);
        assert!(text.contains("deploy `d2`"), "{text}");
        assert!(text.contains("| `s1` | 336 events / 168.0 h (2.00/h) | 40 events / 5.0 h (8.00/h) | 0 events / 2.0 h (0.00/h) | fixed"), "{text}");
    }

    #[test]
    fn the_config_is_checked() {
        assert!(VerifyConfig::default().validate().is_ok());
        let bad = VerifyConfig {
            alpha: 0.0,
            ..VerifyConfig::default()
        };
        assert!(bad.validate().is_err());
    }
}

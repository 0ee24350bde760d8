//! Cold start: judging a deploy when the store holds less history than
//! `gate.min_history` (a sidecar started today).
//!
//! The full test needs a day at least: without it no hour of the day has a
//! match, the baseline's overdispersion cannot be estimated, and every error
//! not yet seen looks new. Refusing to judge, though, means a new user sees
//! nothing on their first day, when the most common regression of all (an
//! error the deploy introduced) is the easiest to recognise. So with short
//! history:
//!
//! * a signature **never seen before the window** (its first event is at or
//!   after the window start) is judged by the new-error rule alone: at least
//!   `new_min_count` events, at least `new_min_users` distinct users when
//!   users are known, and the impact floor. The p-value against the history
//!   there is is reported, not required: against minutes of history it
//!   cannot be small, and the count and user rules are what separate a new
//!   failure from a one-off.
//! * a signature **seen before** is compared with the flat per-hour (or
//!   per-request) rate of the complete clock hours the store holds, with a
//!   negative-binomial tail whose overdispersion is assumed, not estimated
//!   ([`COLD_START_ALPHA`]), plus the sampling uncertainty of the short
//!   baseline's mean; Benjamini–Hochberg across these signatures. Without
//!   traffic the ratio must also reach `spike_min_ratio`, because a few
//!   hours cannot tell a daily cycle from a change.
//! * a signature seen before but with no complete hour of history (all of it
//!   in the deploy's own clock hour, which is in neither side) is left
//!   unjudged, and its reason says so.
//!
//! Every decision carries [`ColdStart`] with the history there was.

use crate::domain::gate::config::GateConfig;
use crate::domain::gate::decide::{
    ColdStart, Decision, ImpactUnit, Method, Verdict, fmt_impact_of, fmt_p, severity_of,
};
use crate::domain::gate::series::SignatureWindow;
use crate::domain::gate::stats;

/// Overdispersion (NB2 alpha) assumed for a known signature when the
/// history is too short to estimate it. 0.3 is the high end of what bursty
/// production signatures show hour to hour (the evaluation's scenarios draw
/// alpha from 0.01 to 0.3); a dispersion estimated from a handful of hours
/// has a standard error as large as itself, and an underestimate makes a
/// tail probability 100x too small. Assuming the high end costs power on
/// small changes, never precision.
pub const COLD_START_ALPHA: f64 = 0.3;

/// Judges one deploy's signatures with short history. `seen_before[i]` says
/// whether signature `i` had an event before the window started (from its
/// first-seen time, which also covers the deploy's own clock hour).
/// Decisions are returned in input order.
pub fn judge_cold_start(
    signatures: &[SignatureWindow],
    seen_before: &[bool],
    history: ColdStart,
    cfg: &GateConfig,
) -> Vec<Decision> {
    let assessed: Vec<Cold> = signatures
        .iter()
        .enumerate()
        .map(|(i, s)| assess(s, seen_before.get(i).copied().unwrap_or(true)))
        .collect();
    // One family: the known signatures that were tested.
    let tested: Vec<usize> = (0..assessed.len())
        .filter(|&i| assessed[i].kind == Kind::Known)
        .collect();
    let p: Vec<f64> = tested.iter().map(|&i| assessed[i].p).collect();
    let q_sub = stats::benjamini_hochberg(&p);
    let mut q: Vec<f64> = assessed.iter().map(|a| a.p).collect();
    for (k, &i) in tested.iter().enumerate() {
        q[i] = q_sub.get(k).copied().unwrap_or(1.0);
    }
    assessed
        .into_iter()
        .zip(q)
        .zip(signatures)
        .map(|((a, q), s)| finish(s, a, q, history, cfg))
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// No event before the window.
    New,
    /// Seen before, tested against the complete hours there are.
    Known,
    /// Seen before, but nothing to compare with.
    Unjudged,
}

/// One signature's numbers before the correction.
struct Cold {
    kind: Kind,
    observed: u64,
    expected: f64,
    p: f64,
    impact: f64,
    impact_unit: ImpactUnit,
    baseline_events: u64,
    baseline_hours: usize,
    traffic_known: bool,
}

fn assess(s: &SignatureWindow, seen_before: bool) -> Cold {
    let observed = s.window.total();
    let minutes = s.window.minutes();
    let n = s.baseline.counts.len();
    // The new-error rule may use the window's requests even when the short
    // baseline has none; a known signature needs both sides.
    let window_requests = s.window.requests.filter(|&r| r > 0);
    let traffic = s.traffic();
    let impact_of = |excess: f64, requests: Option<u64>| -> (f64, ImpactUnit) {
        let e = excess.max(0.0);
        match requests {
            Some(r) => (e / r as f64, ImpactUnit::ShareOfRequests),
            None if minutes > 0 => (e / minutes as f64, ImpactUnit::EventsPerMinute),
            None => (0.0, ImpactUnit::EventsPerMinute),
        }
    };
    let baseline_events = s.baseline.total();
    if !seen_before {
        let (impact, impact_unit) = impact_of(observed as f64, window_requests);
        // Against the history there is, for the reader: the exposure of the
        // complete hours, in the same unit as the window's.
        let (e_w, e_b) = match traffic {
            Some((b, w)) => (w as f64, b.iter().map(|&r| r as f64).sum()),
            None => (minutes as f64 / 60.0, n as f64),
        };
        return Cold {
            kind: Kind::New,
            observed,
            expected: 0.0,
            p: stats::conditional_poisson_p(observed, e_w, 0, e_b),
            impact,
            impact_unit,
            baseline_events,
            baseline_hours: n,
            traffic_known: traffic.is_some(),
        };
    }
    let unjudged = |impact_unit| Cold {
        kind: Kind::Unjudged,
        observed,
        expected: 0.0,
        p: 1.0,
        impact: 0.0,
        impact_unit,
        baseline_events,
        baseline_hours: n,
        traffic_known: traffic.is_some(),
    };
    if n == 0 || baseline_events == 0 || minutes == 0 {
        return unjudged(ImpactUnit::EventsPerMinute);
    }
    let (e_w, e_b) = match traffic {
        Some((b, w)) => (w as f64, b.iter().map(|&r| r as f64).sum::<f64>()),
        None => (minutes as f64 / 60.0, n as f64),
    };
    if !stats::positive(e_b) {
        return unjudged(ImpactUnit::EventsPerMinute);
    }
    let expected = baseline_events as f64 * e_w / e_b;
    // Var(x_b) / x_b^2 for a flat mean over n hours under NB2: 1/x_b + alpha/n.
    let x_b = baseline_events as f64;
    let alpha_eff = COLD_START_ALPHA + 1.0 / x_b + COLD_START_ALPHA / n as f64;
    let (impact, impact_unit) = impact_of(observed as f64 - expected, traffic.map(|t| t.1));
    Cold {
        kind: Kind::Known,
        observed,
        expected,
        p: stats::negbin_upper(observed, expected, alpha_eff),
        impact,
        impact_unit,
        baseline_events,
        baseline_hours: n,
        traffic_known: traffic.is_some(),
    }
}

fn finish(s: &SignatureWindow, a: Cold, q: f64, history: ColdStart, cfg: &GateConfig) -> Decision {
    let floor = match a.impact_unit {
        ImpactUnit::ShareOfRequests => cfg.min_impact_share,
        ImpactUnit::EventsPerMinute => cfg.min_impact_per_minute,
    };
    let impact_txt = fmt_impact_of(a.impact, a.impact_unit);
    let floor_txt = fmt_impact_of(floor, a.impact_unit);
    let ratio = (a.expected > 0.0).then(|| a.observed as f64 / a.expected);
    let users = s.window.distinct_users;
    let history_txt = format!(
        "cold start, {} of history before the window (gate.min_history asks for {})",
        fmt_minutes(history.history_minutes),
        fmt_minutes(history.min_history_minutes)
    );
    let mut failed: Vec<String> = Vec::new();
    let (verdict, method, body) = match a.kind {
        Kind::New => {
            if a.observed < cfg.new_min_count {
                failed.push(format!(
                    "new signature with {} events, fewer than the minimum {}",
                    a.observed, cfg.new_min_count
                ));
            }
            if let Some(u) = users.filter(|&u| u < cfg.new_min_users) {
                failed.push(format!(
                    "new signature seen by {u} distinct users, fewer than the minimum {}",
                    cfg.new_min_users
                ));
            }
            if a.impact < floor {
                failed.push(format!(
                    "excess impact {impact_txt} is below the floor {floor_txt}"
                ));
            }
            let verdict = if failed.is_empty() {
                Verdict::New
            } else {
                Verdict::Pass
            };
            let body = format!(
                "{} events, none before the window{}; judged by the new-error rule (at least {} events{}) \
                 because the history is too short for the significance test; p = {} against the {} complete hours there are (not required)",
                a.observed,
                users
                    .map(|u| format!(", {u} distinct users"))
                    .unwrap_or_default(),
                cfg.new_min_count,
                if users.is_some() {
                    format!(" and {} distinct users", cfg.new_min_users)
                } else {
                    String::new()
                },
                fmt_p(a.p),
                a.baseline_hours,
            );
            (verdict, Method::NewSignature, body)
        }
        Kind::Known => {
            let min_ratio = if a.traffic_known {
                cfg.min_ratio
            } else {
                cfg.min_ratio.max(cfg.spike_min_ratio)
            };
            if q >= cfg.alpha {
                failed.push(format!("q = {} is not below {}", fmt_p(q), cfg.alpha));
            }
            if a.impact < floor {
                failed.push(format!(
                    "excess impact {impact_txt} is below the floor {floor_txt}"
                ));
            }
            let r = ratio.unwrap_or(f64::INFINITY);
            if r < min_ratio {
                failed.push(format!("ratio {r:.2}x is below the minimum {min_ratio}x"));
            }
            let verdict = if failed.is_empty() {
                Verdict::Regression
            } else {
                Verdict::Pass
            };
            let body = format!(
                "{} events vs {:.2} expected{} from the flat {} rate of the {} complete hours there are ({} events); \
                 p = {}, q = {}, with an assumed overdispersion of {COLD_START_ALPHA} and the short baseline's own uncertainty, \
                 because a few hours cannot measure either{}",
                a.observed,
                a.expected,
                ratio.map(|r| format!(" ({r:.2}x)")).unwrap_or_default(),
                if a.traffic_known {
                    "per-request"
                } else {
                    "per-hour"
                },
                a.baseline_hours,
                a.baseline_events,
                fmt_p(a.p),
                fmt_p(q),
                if a.traffic_known {
                    String::new()
                } else {
                    format!(
                        "; traffic unknown, so the ratio must reach {min_ratio}x: short history cannot tell a daily cycle from a change"
                    )
                },
            );
            (verdict, Method::NegativeBinomial, body)
        }
        Kind::Unjudged => {
            failed.push("not judged".to_string());
            let body = format!(
                "{} events; seen before the window, but the store holds no complete clock hour of its history before it \
                 (the deploy's own hour is in neither side), so there is nothing to compare with",
                a.observed
            );
            (Verdict::Pass, Method::NotTested, body)
        }
    };
    let severity = severity_of(a.impact, a.impact_unit, a.observed, ratio, &cfg.severity);
    let head = match (verdict, a.kind) {
        (Verdict::New, _) => "new signature introduced by the deploy",
        (Verdict::Regression, _) => "regression",
        (_, Kind::Unjudged) => "not judged",
        _ => "pass",
    };
    let mut reason = format!(
        "{head} ({history_txt}): {body}; excess impact {impact_txt}, severity {}",
        severity.as_str()
    );
    if verdict == Verdict::Pass && a.kind != Kind::Unjudged && !failed.is_empty() {
        reason.push_str("; not flagged because ");
        reason.push_str(&failed.join(" and "));
    }
    Decision {
        signature: s.signature.clone(),
        observed: a.observed,
        expected: a.expected,
        ratio,
        p: a.p,
        q,
        impact: a.impact,
        impact_unit: a.impact_unit,
        severity,
        verdict,
        method,
        reason,
        cold_start: Some(history),
        dispersion: None,
        recent_expected: Vec::new(),
    }
}

/// "42 min", "5 h 10 min", "2 d 3 h".
fn fmt_minutes(m: u64) -> String {
    match m {
        0..60 => format!("{m} min"),
        60..1440 if m % 60 == 0 => format!("{} h", m / 60),
        60..1440 => format!("{} h {} min", m / 60, m % 60),
        _ if m % 1440 / 60 == 0 => format!("{} d", m / 1440),
        _ => format!("{} d {} h", m / 1440, m % 1440 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HISTORY: ColdStart = ColdStart {
        history_minutes: 42,
        min_history_minutes: 1440,
    };

    fn sig(
        name: &str,
        baseline: Vec<u64>,
        window_total: u64,
        users: Option<u64>,
    ) -> SignatureWindow {
        let mut s = crate::domain::gate::decide::tests::sig(name, baseline, window_total);
        s.window.distinct_users = users;
        s
    }

    #[test]
    fn a_new_error_with_no_history_at_all_is_flagged_and_marked() {
        let s = [sig("key_error", vec![], 60, Some(40))];
        let d = judge_cold_start(&s, &[false], HISTORY, &GateConfig::default());
        assert_eq!(d[0].verdict, Verdict::New, "{}", d[0].reason);
        assert_eq!(d[0].method, Method::NewSignature);
        assert_eq!(d[0].cold_start, Some(HISTORY));
        assert!(
            d[0].reason.contains("cold start, 42 min of history"),
            "{}",
            d[0].reason
        );
        assert!(d[0].reason.contains("40 distinct users"), "{}", d[0].reason);
        // 60 events in 60 minutes, nothing expected: one event a minute.
        assert!((d[0].impact - 1.0).abs() < 1e-12);
        // Serialised with the history it was judged with.
        let v = serde_json::to_value(&d[0]).expect("json");
        assert_eq!(v["cold_start"]["history_minutes"], 42);
    }

    #[test]
    fn the_new_error_rule_still_holds_back_one_offs_and_single_users() {
        let cfg = GateConfig::default();
        let d = judge_cold_start(
            &[
                sig("once", vec![], 3, Some(3)),
                sig("bot", vec![], 60, Some(1)),
                sig("anon", vec![], 8, None),
            ],
            &[false, false, false],
            HISTORY,
            &cfg,
        );
        assert_eq!(d[0].verdict, Verdict::Pass);
        assert!(
            d[0].reason.contains("fewer than the minimum 5"),
            "{}",
            d[0].reason
        );
        assert_eq!(d[1].verdict, Verdict::Pass);
        assert!(d[1].reason.contains("distinct users"), "{}", d[1].reason);
        // Users unknown: the count rule alone, as in the full gate.
        assert_eq!(d[2].verdict, Verdict::New, "{}", d[2].reason);
    }

    #[test]
    fn a_signature_seen_before_with_no_complete_hour_is_left_unjudged_with_the_reason() {
        // Seen earlier in the deploy's own clock hour: no baseline bucket.
        let d = judge_cold_start(
            &[sig("old", vec![], 500, Some(50))],
            &[true],
            HISTORY,
            &GateConfig::default(),
        );
        assert_eq!(d[0].verdict, Verdict::Pass);
        assert_eq!(d[0].method, Method::NotTested);
        assert!(
            d[0].reason.starts_with("not judged (cold start"),
            "{}",
            d[0].reason
        );
        assert!(
            d[0].reason.contains("nothing to compare with"),
            "{}",
            d[0].reason
        );
    }

    #[test]
    fn known_signatures_are_judged_against_the_short_history_with_its_uncertainty() {
        let cfg = GateConfig::default();
        let few = ColdStart {
            history_minutes: 300,
            min_history_minutes: 1440,
        };
        let base = vec![20u64; 4];
        let d = judge_cold_start(
            &[
                sig("steady", base.clone(), 24, None),
                sig("tenfold", base.clone(), 200, None),
                // 2.5x: a regression for the full gate, but without traffic
                // a few hours cannot rule out a daily cycle.
                sig("two_and_a_half", base.clone(), 50, None),
            ],
            &[true, true, true],
            few,
            &cfg,
        );
        assert_eq!(d[0].verdict, Verdict::Pass, "{}", d[0].reason);
        assert!((d[0].expected - 20.0).abs() < 1e-9);
        assert_eq!(d[1].verdict, Verdict::Regression, "{}", d[1].reason);
        assert!(
            d[1].reason.contains("assumed overdispersion"),
            "{}",
            d[1].reason
        );
        assert_eq!(d[2].verdict, Verdict::Pass);
        assert!(d[2].reason.contains("daily cycle"), "{}", d[2].reason);
        // The short baseline's uncertainty is in the tail: the same 2.5x
        // against a long steady history would be far more significant.
        let long = judge_cold_start(&[sig("x", vec![20; 160], 50, None)], &[true], few, &cfg);
        assert!(long[0].p < d[2].p, "{} vs {}", long[0].p, d[2].p);
        assert!(d.iter().all(|d| d.cold_start == Some(few)));
    }

    #[test]
    fn with_traffic_a_known_signature_is_judged_per_request() {
        let mut s = sig("busy", vec![10, 10, 10], 90, None);
        s.baseline.requests = Some(vec![10_000; 3]);
        // Three times the traffic, three times the errors: no change.
        s.window.requests = Some(30_000);
        let d = judge_cold_start(&[s.clone()], &[true], HISTORY, &GateConfig::default());
        assert_eq!(d[0].verdict, Verdict::Pass, "{}", d[0].reason);
        assert_eq!(d[0].impact_unit, ImpactUnit::ShareOfRequests);
        assert!((d[0].expected - 30.0).abs() < 1e-9);
        s.window.counts = vec![5; 60];
        let d = judge_cold_start(&[s], &[true], HISTORY, &GateConfig::default());
        assert_eq!(d[0].verdict, Verdict::Regression, "{}", d[0].reason);
    }

    #[test]
    fn minutes_read_naturally() {
        assert_eq!(fmt_minutes(0), "0 min");
        assert_eq!(fmt_minutes(60), "1 h");
        assert_eq!(fmt_minutes(310), "5 h 10 min");
        assert_eq!(fmt_minutes(1440), "1 d");
        assert_eq!(fmt_minutes(3000), "2 d 2 h");
    }
}

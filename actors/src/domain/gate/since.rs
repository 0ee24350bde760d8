//! Blame the right deploy: a signature that has been at the window's level
//! since the previous deploy is that deploy's regression, not this one's.
//!
//! The baseline compares the window with a week of history, so a signature
//! that deploy D1 raised fivefold an hour ago still looks fivefold at D2,
//! and D2 would be blamed (and a second ticket opened, triaged against the
//! wrong diff). Each flagged `regression` or `new` is therefore also tested
//! against the signature's level in the span between the previous deploy and
//! this window (the same exact conditional test, same exposure; for a
//! signature the gate found overdispersed, the negative-binomial tail with
//! its hour-to-hour alpha plus the span's own sampling uncertainty, since a
//! bursty signature's single hour is often twice its recent average), and
//! keeps its flag only when the window is significantly and materially
//! above that level too: `p < alpha` and a ratio of at least `min_ratio`,
//! or when that level is no higher than the baseline predicts (the previous
//! deploy raised nothing; a short span of a sparse signature cannot prove
//! the window above it). Otherwise it passes with a reason naming the
//! deploy it has been elevated since.
//!
//! Pure: the runner reads the counts since the previous deploy from the
//! store's per-minute data.

use crate::domain::gate::config::GateConfig;
use crate::domain::gate::decide::{Decision, Verdict, fmt_p};
use crate::domain::gate::series::SignatureWindow;
use crate::domain::gate::stats;

/// What the store says about the span since the previous deploy.
#[derive(Debug, Clone, PartialEq)]
pub struct SincePrevious {
    /// The previous deploy's revision (for the reason).
    pub revision: String,
    /// Minutes from the previous deploy's minute to this window's start.
    pub minutes: u32,
    /// Requests served in that span, when the window is judged per request.
    pub requests: Option<u64>,
}

/// Re-judges every flagged `regression`/`new` in `decisions` against its
/// level since the previous deploy. `since_counts[i]` is signature `i`'s
/// event count in that span (aligned with `signatures` and `decisions`).
pub fn apply(
    decisions: &mut [Decision],
    signatures: &[SignatureWindow],
    since_counts: &[u64],
    since: &SincePrevious,
    cfg: &GateConfig,
) {
    if since.minutes == 0 {
        return;
    }
    for ((decision, s), &x_s) in decisions.iter_mut().zip(signatures).zip(since_counts) {
        if !matches!(decision.verdict, Verdict::Regression | Verdict::New) {
            continue;
        }
        let x_w = decision.observed;
        // Per request when both spans have requests, else per hour.
        let (e_w, e_s, unit) = match (s.window.requests, since.requests) {
            (Some(w), Some(r)) if w > 0 && r > 0 => (w as f64, r as f64, "per 1,000 requests"),
            _ => (
                s.window.minutes() as f64 / 60.0,
                f64::from(since.minutes) / 60.0,
                "per hour",
            ),
        };
        let scale = if unit == "per hour" { 1.0 } else { 1000.0 };
        let rate_w = x_w as f64 / e_w * scale;
        let rate_s = x_s as f64 / e_s * scale;
        let p = match decision.dispersion.filter(|a| stats::positive(*a)) {
            // Gamma mixture: the window's hourly frailty plus the
            // uncertainty of the span's rate (CV^2 = 1 / x_s).
            Some(alpha) if x_s > 0 => {
                let alpha = stats::window_alpha(alpha, s.window.minutes());
                stats::negbin_upper(x_w, x_s as f64 * e_w / e_s, alpha + 1.0 / x_s as f64)
            }
            _ => stats::conditional_poisson_p(x_w, e_w, x_s, e_s),
        };
        let ratio = if x_s == 0 {
            f64::INFINITY
        } else {
            rate_w / rate_s
        };
        if p < cfg.alpha && ratio >= cfg.min_ratio {
            continue;
        }
        // Only a level the previous deploy raised is its regression: a span
        // no higher than the baseline predicts (a short span of a sparse or
        // bursty signature that happened to be quiet) says nothing about
        // blame, and waving the flag off would lose this deploy's
        // regression to a previous deploy that did nothing to it.
        let expected_s = decision.expected * e_s / e_w;
        if decision.expected > 0.0 && x_s as f64 <= expected_s {
            decision.reason.push_str(&format!(
                "; kept although not significantly above the level since the previous deploy {}: \
                 that level ({x_s} events in the {} minutes) is no higher than the baseline predicts ({expected_s:.1})",
                since.revision, since.minutes,
            ));
            continue;
        }
        decision.verdict = Verdict::Pass;
        decision.reason.push_str(&format!(
            "; not flagged: already at this level since the previous deploy {} ({x_s} events in the {} minutes since it, \
             {rate_s:.2} {unit} vs {rate_w:.2} in the window, p = {} against that level): \
             a regression of that deploy, not of this one",
            since.revision,
            since.minutes,
            fmt_p(p),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::gate::decide::judge_deploy;

    /// A signature seen by 20 users in the window.
    fn sig(name: &str, baseline: Vec<u64>, window_total: u64) -> SignatureWindow {
        let mut s = crate::domain::gate::decide::tests::sig(name, baseline, window_total);
        s.window.distinct_users = Some(20);
        s
    }

    fn family(extra: Vec<SignatureWindow>) -> Vec<SignatureWindow> {
        let mut v: Vec<SignatureWindow> = (0..50)
            .map(|i| sig(&format!("bg{i}"), vec![20; 168], 20))
            .collect();
        v.extend(extra);
        v
    }

    fn since(minutes: u32) -> SincePrevious {
        SincePrevious {
            revision: "v1".into(),
            minutes,
            requests: None,
        }
    }

    #[test]
    fn a_signature_elevated_since_the_previous_deploy_is_not_flagged_again() {
        // The hour-of-day baseline, under which the three raised hours do
        // not look like burstiness (the whole-week models read a recent
        // level shift as overdispersion and are already less eager here).
        let cfg = GateConfig {
            seasonality: crate::domain::gate::config::Seasonality::HourOfDay,
            alpha: 0.01,
            ..GateConfig::default()
        };
        // 20/h for a week, then 100/h since v1 three hours ago; 100 again
        // in this window.
        let mut base = vec![20u64; 168];
        for b in &mut base[165..] {
            *b = 100;
        }
        let sigs = family(vec![sig("raised", base, 100)]);
        let mut d = judge_deploy(&sigs, &cfg);
        let last = d.len() - 1;
        // Against the week (mostly 20/h) it looks like a regression.
        assert_eq!(d[last].verdict, Verdict::Regression, "{}", d[last].reason);
        let mut counts = vec![20u64 * 3; sigs.len()];
        counts[last] = 300;
        apply(&mut d, &sigs, &counts, &since(180), &cfg);
        assert_eq!(d[last].verdict, Verdict::Pass);
        assert!(
            d[last]
                .reason
                .contains("already at this level since the previous deploy v1"),
            "{}",
            d[last].reason
        );
    }

    #[test]
    fn a_further_rise_after_the_previous_deploy_keeps_its_flag() {
        let cfg = GateConfig::default();
        let sigs = family(vec![sig("again", vec![20; 168], 500), {
            let mut n = sig("new", vec![0; 168], 40);
            n.window.distinct_users = Some(30);
            n
        }]);
        let mut d = judge_deploy(&sigs, &cfg);
        let n = d.len();
        assert_eq!(d[n - 2].verdict, Verdict::Regression);
        assert_eq!(d[n - 1].verdict, Verdict::New);
        // 100/h since v1, 500 in this window; the new one never fired since.
        let mut counts = vec![60u64; sigs.len()];
        counts[n - 2] = 300;
        counts[n - 1] = 0;
        apply(&mut d, &sigs, &counts, &since(180), &cfg);
        assert_eq!(d[n - 2].verdict, Verdict::Regression, "{}", d[n - 2].reason);
        assert_eq!(d[n - 1].verdict, Verdict::New, "{}", d[n - 1].reason);
        assert!(d[..n - 2].iter().all(|d| d.verdict == Verdict::Pass));
    }

    #[test]
    fn a_bursty_signatures_hour_above_its_recent_level_is_not_blamed_on_this_deploy() {
        let cfg = GateConfig::default();
        // Raised to ~100/h three hours ago by v1; this window's hour is a
        // burst at 210 (2.1x the span's average). Poisson would call that a
        // further rise; with the signature's alpha of 0.25 it is one hour's
        // frailty.
        let mut base = vec![20u64; 168];
        for b in &mut base[165..] {
            *b = 100;
        }
        let sigs = family(vec![sig("bursty", base, 210)]);
        let mut d = judge_deploy(&sigs, &cfg);
        let last = d.len() - 1;
        assert_eq!(d[last].verdict, Verdict::Regression, "{}", d[last].reason);
        let mut counts = vec![60u64; sigs.len()];
        counts[last] = 300;
        let mut poisson = d.clone();
        poisson[last].dispersion = None;
        apply(&mut poisson, &sigs, &counts, &since(180), &cfg);
        assert_eq!(poisson[last].verdict, Verdict::Regression);
        d[last].dispersion = Some(0.25);
        apply(&mut d, &sigs, &counts, &since(180), &cfg);
        assert_eq!(d[last].verdict, Verdict::Pass, "{}", d[last].reason);
        assert!(
            d[last].reason.contains("since the previous deploy v1"),
            "{}",
            d[last].reason
        );
    }

    #[test]
    fn a_quiet_span_since_the_previous_deploy_does_not_take_the_blame() {
        let cfg = GateConfig::default();
        // 10/h for a week; 30 in this window (a regression). The ten
        // minutes since v1 held 1 event: far too few to prove this window
        // above that level (p ~ 0.05), and no sign that v1 raised anything.
        let sigs = family(vec![sig("sparse", vec![10; 168], 30)]);
        let mut d = judge_deploy(&sigs, &cfg);
        let last = d.len() - 1;
        assert_eq!(d[last].verdict, Verdict::Regression, "{}", d[last].reason);
        let mut counts = vec![3u64; sigs.len()];
        counts[last] = 1;
        let mut old_rule = d.clone();
        old_rule[last].expected = 0.0;
        apply(&mut old_rule, &sigs, &counts, &since(10), &cfg);
        assert_eq!(
            old_rule[last].verdict,
            Verdict::Pass,
            "the significance test alone waves it off"
        );
        apply(&mut d, &sigs, &counts, &since(10), &cfg);
        assert_eq!(d[last].verdict, Verdict::Regression, "{}", d[last].reason);
        assert!(
            d[last]
                .reason
                .contains("no higher than the baseline predicts"),
            "{}",
            d[last].reason
        );
    }

    #[test]
    fn per_request_when_both_spans_have_traffic() {
        let cfg = GateConfig::default();
        let mut s = sig("busy", vec![10; 168], 100);
        s.baseline.requests = Some(vec![10_000; 168]);
        s.window.requests = Some(10_000);
        let sigs = family(vec![s]);
        let mut d = judge_deploy(&sigs, &cfg);
        let last = d.len() - 1;
        assert_eq!(d[last].verdict, Verdict::Regression, "{}", d[last].reason);
        // Since v1: 100 events over 10,000 requests, the same share.
        let mut counts = vec![0u64; sigs.len()];
        counts[last] = 100;
        let with_traffic = SincePrevious {
            requests: Some(10_000),
            ..since(30)
        };
        apply(&mut d, &sigs, &counts, &with_traffic, &cfg);
        assert_eq!(d[last].verdict, Verdict::Pass);
        assert!(
            d[last].reason.contains("per 1,000 requests"),
            "{}",
            d[last].reason
        );
    }
}

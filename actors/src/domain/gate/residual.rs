//! Residual seasonality: does a signature's rate *per unit of exposure*
//! still vary with the hour of day?
//!
//! When traffic is known, requests already carry the daily cycle: a
//! signature that fails on a fixed share of requests has a flat rate per
//! request, and comparing the window only with the seven baseline hours at
//! the same clock time throws away 161 of the week's 168 hours (and counts
//! the daily cycle twice: once in the exposure, once in the slot). Such a
//! signature is better judged against the whole baseline per request. A
//! signature whose per-request rate has a cycle of its own (a nightly job, a
//! batch import, a cache that expires at midnight) is not: the whole-week
//! rate would under-predict its peak hours and over-predict the rest.
//!
//! This module tells the two apart, per signature, with a Pearson test of
//! the per-slot totals against the flat per-request rate. Each slot total's
//! variance is the Poisson part plus the hour-to-hour overdispersion the
//! baseline shows *within* slots (`Var = mu + alpha mu^2` summed over the
//! slot's hours), so a bursty but unseasonal signature is not mistaken for a
//! seasonal one. Under "no residual seasonality" the statistic is about
//! chi-square with (slots - 1) degrees of freedom.
//!
//! Pure: counts and exposure in, a statistic and its p-value out.

use statrs::function::gamma::checked_gamma_ur;

use crate::domain::gate::stats;

/// Result of the residual-seasonality test of one signature.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Residual {
    /// Pearson statistic of the slot totals against the flat rate.
    pub statistic: f64,
    /// Slots with exposure, minus one (the fitted flat rate).
    pub df: usize,
    /// Upper-tail chi-square p-value: small means the per-exposure rate
    /// depends on the slot.
    pub p: f64,
}

/// Tests whether `counts` (one per baseline bucket), with `exposure` per
/// bucket, have a rate per unit of exposure that depends on `slot_of(i)`
/// (one of `slots` slots, e.g. the hour of day). `alpha` is the NB2
/// overdispersion of single buckets around their slot's rate (estimated
/// from the within-slot residuals, so it does not absorb the seasonality
/// being tested).
///
/// Returns `None` when there is nothing to test: no event, no exposure, or
/// fewer than two slots with exposure.
pub fn test(
    counts: &[u64],
    exposure: &[f64],
    slot_of: impl Fn(usize) -> usize,
    slots: usize,
    alpha: f64,
) -> Option<Residual> {
    if counts.len() != exposure.len() || slots < 2 {
        return None;
    }
    let total_x: f64 = counts.iter().map(|&c| c as f64).sum();
    let total_e: f64 = exposure.iter().sum();
    if !stats::positive(total_x) || !stats::positive(total_e) {
        return None;
    }
    let rate = total_x / total_e;
    let alpha = if alpha.is_finite() {
        alpha.max(0.0)
    } else {
        0.0
    };
    let mut x_s = vec![0.0f64; slots];
    let mut mu_s = vec![0.0f64; slots];
    let mut mu2_s = vec![0.0f64; slots];
    for (i, (&c, &e)) in counts.iter().zip(exposure).enumerate() {
        let s = slot_of(i);
        if s >= slots {
            return None;
        }
        let mu = rate * e;
        x_s[s] += c as f64;
        mu_s[s] += mu;
        mu2_s[s] += mu * mu;
    }
    let mut statistic = 0.0;
    let mut used = 0usize;
    for s in 0..slots {
        let var = mu_s[s] + alpha * mu2_s[s];
        if !stats::positive(var) {
            continue;
        }
        let d = x_s[s] - mu_s[s];
        statistic += d * d / var;
        used += 1;
    }
    if used < 2 {
        return None;
    }
    let df = used - 1;
    Some(Residual {
        statistic,
        df,
        p: chi_square_upper(statistic, df as f64),
    })
}

/// P(X >= x) for X ~ chi-square(df); 1 on degenerate input (no evidence).
pub fn chi_square_upper(x: f64, df: f64) -> f64 {
    if !stats::positive(df) || x.is_nan() {
        return 1.0;
    }
    if x <= 0.0 {
        return 1.0;
    }
    checked_gamma_ur(df / 2.0, x / 2.0)
        .map(|p| p.clamp(0.0, 1.0))
        .unwrap_or(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::gate::scenario::Rng;

    fn hour(i: usize, n: usize) -> usize {
        (n - i) % 24
    }

    /// A week of requests with a strong daily cycle.
    fn traffic(n: usize) -> Vec<f64> {
        (0..n)
            .map(|i| {
                let h = (i % 24) as f64;
                20_000.0 * (1.0 + 0.6 * (2.0 * std::f64::consts::PI * (h - 15.0) / 24.0).cos())
            })
            .collect()
    }

    #[test]
    fn chi_square_tail_hand_values() {
        // chi2(1) at 3.841 is the 5% point; chi2(2) upper tail is exp(-x/2).
        assert!((chi_square_upper(3.841_458_8, 1.0) - 0.05).abs() < 1e-6);
        assert!((chi_square_upper(4.0, 2.0) - (-2.0f64).exp()).abs() < 1e-12);
        assert_eq!(chi_square_upper(0.0, 5.0), 1.0);
        assert_eq!(chi_square_upper(f64::NAN, 5.0), 1.0);
        assert_eq!(chi_square_upper(3.0, 0.0), 1.0);
    }

    #[test]
    fn a_fixed_share_of_requests_shows_no_residual_seasonality() {
        // Errors on 1 request in 1,000 under a 60% daily traffic cycle: the
        // hourly counts are strongly seasonal, the per-request rate is not.
        let n = 168;
        let req = traffic(n);
        let mut rng = Rng::new(5);
        let counts: Vec<u64> = req.iter().map(|&r| rng.poisson(r / 1000.0)).collect();
        let r = test(&counts, &req, |i| hour(i, n), 24, 0.0).expect("testable");
        assert_eq!(r.df, 23);
        assert!(r.p > 0.01, "{r:?}");
        // Per hour (ignoring traffic) the same counts are clearly seasonal.
        let hours = vec![1.0; n];
        let r = test(&counts, &hours, |i| hour(i, n), 24, 0.0).expect("testable");
        assert!(r.p < 1e-6, "{r:?}");
    }

    #[test]
    fn a_nightly_job_is_seasonal_per_request() {
        // A signature that fires mostly between 02:00 and 04:00, whatever
        // the traffic: its per-request rate has its own cycle.
        let n = 168;
        let req = traffic(n);
        let mut rng = Rng::new(9);
        let counts: Vec<u64> = (0..n)
            .map(|i| {
                let base = req[i] / 2000.0;
                let night = if (2..4).contains(&(i % 24)) {
                    60.0
                } else {
                    0.0
                };
                rng.poisson(base + night)
            })
            .collect();
        let r = test(&counts, &req, |i| hour(i, n), 24, 0.0).expect("testable");
        assert!(r.p < 1e-6, "{r:?}");
    }

    #[test]
    fn overdispersion_within_slots_is_not_mistaken_for_seasonality() {
        // Bursty (gamma frailty, alpha 0.3) but with a flat per-request
        // rate: with the bursts ignored the test rejects often, with the
        // within-slot alpha it keeps its level.
        let n = 168;
        let req = traffic(n);
        let mut rng = Rng::new(11);
        let (mut naive, mut aware) = (0, 0);
        let runs = 200;
        for _ in 0..runs {
            let counts: Vec<u64> = req
                .iter()
                .map(|&r| {
                    let frailty = rng.gamma(1.0 / 0.3) * 0.3;
                    rng.poisson(r / 1000.0 * frailty)
                })
                .collect();
            if test(&counts, &req, |i| hour(i, n), 24, 0.0).is_some_and(|r| r.p < 0.05) {
                naive += 1;
            }
            if test(&counts, &req, |i| hour(i, n), 24, 0.3).is_some_and(|r| r.p < 0.05) {
                aware += 1;
            }
        }
        assert!(naive > runs / 2, "{naive}");
        // Nominal 5%: 10 of 200, allow sampling error.
        assert!(aware <= 22, "{aware}");
    }

    #[test]
    fn nothing_to_test() {
        assert_eq!(test(&[0; 48], &[1.0; 48], |i| i % 24, 24, 0.0), None);
        assert_eq!(test(&[3; 48], &[0.0; 48], |i| i % 24, 24, 0.0), None);
        assert_eq!(test(&[3; 48], &[1.0; 47], |i| i % 24, 24, 0.0), None);
        assert_eq!(test(&[3; 48], &[1.0; 48], |_| 0, 1, 0.0), None);
        assert_eq!(test(&[3; 48], &[1.0; 48], |_| 30, 24, 0.0), None);
    }
}

//! The gate's statistics: exact conditional test of two Poisson rates,
//! negative-binomial tail for overdispersed signatures, a method-of-moments
//! dispersion estimate, and the Benjamini–Hochberg correction.
//!
//! Every function is total: degenerate input (zero exposure, NaN) returns the
//! answer that cannot raise a false alarm (p = 1) instead of panicking.

use statrs::distribution::{Binomial, DiscreteCDF, NegativeBinomial, Poisson};

/// Below this the NB overdispersion is treated as zero (Poisson). At
/// alpha = 1e-6 the two tails differ by about 1e-5 relative for the counts
/// the gate sees, while statrs' regularised beta loses that much precision
/// once r = 1/alpha passes about 1e7, so switching here is both harmless and
/// more accurate.
const ALPHA_POISSON: f64 = 1e-6;

/// P(X >= k) for X ~ Binomial(n, p).
///
/// statrs' `sf(k)` is P(X > k), so the upper tail including k is
/// `sf(k - 1)`; k = 0 is certain.
pub fn binomial_upper(k: u64, n: u64, p: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if k > n || p.is_nan() || p <= 0.0 {
        return 0.0;
    }
    if p >= 1.0 {
        return 1.0;
    }
    match Binomial::new(p, n) {
        Ok(b) => clamp01(b.sf(k - 1)),
        Err(_) => 1.0,
    }
}

/// P(X >= k) for X ~ Poisson(mean). Used by the original design's test
/// (`crate::domain::gate::evaluate::plain_poisson`) and as the alpha -> 0 limit of the NB.
pub fn poisson_upper(k: u64, mean: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if mean.is_nan() || mean <= 0.0 {
        return 0.0;
    }
    match Poisson::new(mean) {
        Ok(d) => clamp01(d.sf(k - 1)),
        Err(_) => 1.0,
    }
}

/// P(X >= k) for a negative binomial with the given mean and NB2
/// overdispersion `alpha` (Var X = mean + alpha * mean^2).
///
/// In statrs' parametrisation (failures before the r-th success, success
/// probability p) that is r = 1 / alpha and p = r / (r + mean).
pub fn negbin_upper(k: u64, mean: f64, alpha: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if mean.is_nan() || mean <= 0.0 {
        return 0.0;
    }
    if alpha.is_nan() || alpha <= ALPHA_POISSON {
        return poisson_upper(k, mean);
    }
    let r = 1.0 / alpha;
    let p = r / (r + mean);
    match NegativeBinomial::new(r, p) {
        Ok(d) => clamp01(d.sf(k - 1)),
        Err(_) => 1.0,
    }
}

/// The NB2 overdispersion of a window's total when `alpha` is that of one
/// hour's count and the hours' frailties are independent: the total's
/// variance is `mu + alpha * sum(mu_h^2)`, so its own alpha is
/// `alpha * sum(mu_h^2) / mu^2`, `alpha / H` for `H` equal hours (a
/// partial last hour counts by its share). A window of one hour or less
/// keeps `alpha`: within an hour the frailty is shared.
pub fn window_alpha(alpha: f64, minutes: u64) -> f64 {
    if minutes <= 60 {
        return alpha;
    }
    let full = (minutes / 60) as f64;
    let part = (minutes % 60) as f64 / 60.0;
    alpha * (full + part * part) / ((full + part) * (full + part))
}

/// The exact conditional test comparing two Poisson rates.
///
/// `x_w` events over exposure `e_w` in the window, `x_b` over `e_b` in the
/// baseline (exposures in hours, or in requests when traffic is known).
/// Under H0 (same rate per unit of exposure) and given n = x_w + x_b,
/// x_w ~ Binomial(n, e_w / (e_w + e_b)); the one-sided upper p-value is
/// P(X >= x_w). Conditioning on n removes the unknown common rate, so the
/// baseline's own sampling noise is part of the test instead of being
/// treated as exact. Zero or invalid exposure yields p = 1: no comparison is
/// possible, so no evidence.
pub fn conditional_poisson_p(x_w: u64, e_w: f64, x_b: u64, e_b: f64) -> f64 {
    if !positive(e_w) || !positive(e_b) {
        return 1.0;
    }
    let pi = e_w / (e_w + e_b);
    binomial_upper(x_w, x_w.saturating_add(x_b), pi)
}

/// The lower tail of the same conditional test: the p-value of "the rate
/// in the window is lower than in the reference", P(X <= x_w) for
/// X ~ Binomial(x_w + x_b, e_w / (e_w + e_b)). Verification uses it to ask
/// whether a fix brought a signature's rate down from its regressed level:
/// a few quiet minutes after a signature that fired twice an hour are not
/// evidence, and this says so. Zero or invalid exposure yields p = 1.
pub fn conditional_poisson_lower_p(x_w: u64, e_w: f64, x_b: u64, e_b: f64) -> f64 {
    if !positive(e_w) || !positive(e_b) {
        return 1.0;
    }
    let pi = e_w / (e_w + e_b);
    let n = x_w.saturating_add(x_b);
    clamp01(1.0 - binomial_upper(x_w.saturating_add(1), n, pi))
}

/// Overdispersion of a series of counts against fitted means.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dispersion {
    /// Pearson chi-square / degrees of freedom. About 1 for Poisson data.
    pub index: f64,
    /// Method-of-moments NB2 overdispersion (Var = mu + alpha mu^2), >= 0.
    pub alpha: f64,
    /// Standard error of `alpha` (sandwich estimate from the per-hour
    /// moment contributions).
    pub alpha_se: f64,
    /// Degrees of freedom used (hours with a positive fitted mean minus
    /// fitted parameters).
    pub df: f64,
}

/// Method-of-moments dispersion of `counts` around `fitted` means, where the
/// fitted means used `n_params` parameters estimated from these same counts
/// (1 for a flat rate, one per seasonal slot).
///
/// The residual sum of squares is inflated by n / (n - p) so the fitted
/// parameters do not make the data look tighter than they are; then
/// alpha = (n/(n-p) * sum (x - mu)^2 - sum mu) / sum mu^2, the moment
/// equation of Var = mu + alpha mu^2 summed over hours. Hours with a zero
/// fitted mean carry no information (their counts are zero by
/// construction) and are skipped. Returns `None` when there are no degrees
/// of freedom left.
pub fn dispersion(counts: &[u64], fitted: &[f64], n_params: usize) -> Option<Dispersion> {
    let used = || {
        counts
            .iter()
            .zip(fitted)
            .filter(|&(_, &mu)| positive(mu))
            .map(|(&x, &mu)| (x as f64, mu))
    };
    let n = used().count();
    let (mut rss, mut pearson, mut sum_mu, mut sum_mu2) = (0.0, 0.0, 0.0, 0.0);
    for (x, mu) in used() {
        let d = x - mu;
        rss += d * d;
        pearson += d * d / mu;
        sum_mu += mu;
        sum_mu2 += mu * mu;
    }
    if n <= n_params || sum_mu2 <= 0.0 {
        return None;
    }
    let df = (n - n_params) as f64;
    let inflate = n as f64 / df;
    let alpha_raw = (inflate * rss - sum_mu) / sum_mu2;
    // Each hour contributes a_i = inflate (x - mu)^2 - mu with expectation
    // alpha mu^2; the spread of a_i around that gives the estimator's
    // standard error.
    let spread: f64 = used()
        .map(|(x, mu)| {
            let a = inflate * (x - mu) * (x - mu) - mu - alpha_raw * mu * mu;
            a * a
        })
        .sum();
    Some(Dispersion {
        index: pearson / df,
        alpha: alpha_raw.max(0.0),
        alpha_se: spread.sqrt() / sum_mu2,
        df,
    })
}

/// Benjamini–Hochberg adjusted p-values (q-values), in input order.
///
/// q_(i) = min over j >= i of m p_(j) / j, capped at 1, where p_(1) <= ...
/// <= p_(m). Rejecting q < alpha is the BH step-up procedure at level alpha.
/// NaN p-values are treated as 1 (no evidence).
pub fn benjamini_hochberg(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let clean: Vec<f64> = p
        .iter()
        .map(|&v| if v.is_nan() { 1.0 } else { clamp01(v) })
        .collect();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| clean[a].total_cmp(&clean[b]));
    let mut q = vec![1.0; m];
    let mut running = 1.0f64;
    for (rank0, &idx) in order.iter().enumerate().rev() {
        let v = clean[idx] * m as f64 / (rank0 + 1) as f64;
        running = running.min(v);
        q[idx] = running.min(1.0);
    }
    q
}

/// Tarone's screening for discrete tests, as used by Gilbert (2005) for
/// FDR: which hypotheses can possibly reach significance.
///
/// `p_min[i]` is the smallest p-value test i could produce given its
/// conditioning statistic (for the exact conditional test, pi^n with n the
/// total count; 0 for a continuous-like test). Find the smallest K with
/// #{i : p_min[i] <= alpha / K} <= K; the hypotheses in that set are
/// "testable", the others could not be rejected even alone and are left out
/// of the multiple-testing family. Because p_min depends only on the
/// conditioning statistic, which under H0 carries no information about the
/// conditional p-value, dropping them keeps BH's FDR control (Gilbert 2005,
/// "A modified false discovery rate multiple-comparisons procedure for
/// discrete data") while no longer charging the family for the many sparse
/// signatures that have too few events to ever be significant.
pub fn tarone_testable(p_min: &[f64], alpha: f64) -> Vec<bool> {
    let m = p_min.len();
    for k in 1..=m.max(1) {
        let thr = alpha / k as f64;
        let count = p_min.iter().filter(|&&v| v <= thr).count();
        if count <= k {
            return p_min.iter().map(|&v| v <= thr).collect();
        }
    }
    vec![true; m]
}

/// Benjamini–Hochberg restricted to the Tarone-testable hypotheses; the
/// untestable ones get q = 1.
pub fn benjamini_hochberg_discrete(p: &[f64], p_min: &[f64], alpha: f64) -> Vec<f64> {
    let testable = tarone_testable(p_min, alpha);
    let idx: Vec<usize> = (0..p.len())
        .filter(|&i| testable.get(i).copied().unwrap_or(true))
        .collect();
    let sub: Vec<f64> = idx.iter().map(|&i| p[i]).collect();
    let q_sub = benjamini_hochberg(&sub);
    let mut q = vec![1.0; p.len()];
    for (k, &i) in idx.iter().enumerate() {
        q[i] = q_sub[k];
    }
    q
}

/// Strictly positive and finite (false for NaN).
pub fn positive(v: f64) -> bool {
    v > 0.0 && v.is_finite()
}

fn clamp01(v: f64) -> f64 {
    if v.is_nan() { 1.0 } else { v.clamp(0.0, 1.0) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Independent binomial upper tail: direct sum of pmfs built from
    /// log-factorials accumulated by plain summation (no statrs, no beta
    /// function), to check the beta_reg-based path.
    fn naive_binom_upper(k: u64, n: u64, p: f64) -> f64 {
        let lf: Vec<f64> = (0..=n)
            .scan(0.0f64, |acc, i| {
                if i > 0 {
                    *acc += (i as f64).ln();
                }
                Some(*acc)
            })
            .collect();
        (k..=n)
            .map(|i| {
                let lc = lf[n as usize] - lf[i as usize] - lf[(n - i) as usize];
                (lc + i as f64 * p.ln() + (n - i) as f64 * (1.0 - p).ln()).exp()
            })
            .sum()
    }

    /// Independent NB upper tail: 1 - sum of pmfs below k, each pmf by the
    /// recurrence P(0) = p^r, P(i+1) = P(i) (i + r) / (i + 1) (1 - p).
    fn naive_negbin_upper(k: u64, mean: f64, alpha: f64) -> f64 {
        let r = 1.0 / alpha;
        let p = r / (r + mean);
        let mut pmf = p.powf(r);
        let mut below = 0.0;
        for i in 0..k {
            below += pmf;
            pmf *= (i as f64 + r) / (i as f64 + 1.0) * (1.0 - p);
        }
        1.0 - below
    }

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * a.abs().max(b.abs()) + 1e-300
    }

    #[test]
    fn the_lower_tail_needs_evidence_of_a_drop() {
        // 60 events in an hour of regression, none in the hour after: a drop.
        assert!(conditional_poisson_lower_p(0, 1.0, 60, 1.0) < 1e-12);
        // Two events in an hour, none in the next: could be chance.
        let p = conditional_poisson_lower_p(0, 1.0, 2, 1.0);
        assert!((p - 0.25).abs() < 1e-9, "{p}");
        // The same rate on both sides is no drop at all.
        assert!(conditional_poisson_lower_p(10, 1.0, 10, 1.0) > 0.5);
        // No reference exposure: no evidence.
        assert_eq!(conditional_poisson_lower_p(0, 1.0, 5, 0.0), 1.0);
        // Upper and lower tails of the same split add up to 1 + P(X = x).
        let (up, low) = (
            conditional_poisson_p(3, 2.0, 9, 5.0),
            conditional_poisson_lower_p(3, 2.0, 9, 5.0),
        );
        assert!(up + low > 1.0 && up + low < 1.5, "{up} {low}");
    }

    #[test]
    fn first_event_against_empty_week_is_one_in_169() {
        // Issue text: one event vs an empty 7-day baseline gives p = 1/169.
        // By hand: n = 1, pi = 1/(1+168), P(X >= 1) = pi.
        let p = conditional_poisson_p(1, 1.0, 0, 168.0);
        assert!(close(p, 1.0 / 169.0, 1e-12), "{p}");
        // Two events: pi^2.
        let p2 = conditional_poisson_p(2, 1.0, 0, 168.0);
        assert!(close(p2, 1.0 / (169.0f64 * 169.0), 1e-12), "{p2}");
    }

    #[test]
    fn conditional_test_hand_values() {
        // P(Bin(2, 1/2) >= 1) = 1 - 1/4 = 3/4 (equal exposures, 1 vs 1).
        assert!(close(conditional_poisson_p(1, 1.0, 1, 1.0), 0.75, 1e-12));
        // Exact rational reference values, computed with Python's
        // fractions.Fraction as sum_{i>=k} C(n,i) pi^i (1-pi)^(n-i):
        // x_w = 5, x_b = 10, e_w = 1, e_b = 7 -> n = 15, pi = 1/8:
        //   P = 0.031072935165894933 (Fraction -> float)
        let p = conditional_poisson_p(5, 1.0, 10, 7.0);
        assert!(close(p, 0.031072935165894933, 1e-9), "{p}");
        // x_w = 30, x_b = 70, e_w = 1, e_b = 7 (expected 10, observed 30):
        //   n = 100, pi = 1/8: P = 3.026014086690451e-06 (Fraction -> float)
        let p = conditional_poisson_p(30, 1.0, 70, 7.0);
        assert!(close(p, 3.026014086690451e-06, 1e-9), "{p}");
    }

    #[test]
    fn binomial_tail_matches_naive_sum() {
        for &(k, n, p) in &[
            (0u64, 10u64, 0.3),
            (3, 10, 0.3),
            (10, 10, 0.3),
            (11, 10, 0.3),
            (7, 400, 0.005),
            (60, 500, 1.0 / 8.0),
            (90, 500, 1.0 / 8.0),
        ] {
            let a = binomial_upper(k, n, p);
            let b = if k > n {
                0.0
            } else {
                naive_binom_upper(k, n, p)
            };
            assert!(close(a, b, 1e-9), "k={k} n={n} p={p}: {a} vs {b}");
        }
    }

    #[test]
    fn poisson_tail_hand_values() {
        // P(Poisson(1) >= 1) = 1 - e^-1.
        assert!(close(poisson_upper(1, 1.0), 1.0 - (-1.0f64).exp(), 1e-12));
        // P(Poisson(2) >= 3) = 1 - e^-2 (1 + 2 + 2) = 1 - 5 e^-2.
        assert!(close(
            poisson_upper(3, 2.0),
            1.0 - 5.0 * (-2.0f64).exp(),
            1e-12
        ));
        assert_eq!(poisson_upper(1, 0.0), 0.0);
        assert_eq!(poisson_upper(0, 0.0), 1.0);
    }

    #[test]
    fn negbin_geometric_by_hand() {
        // alpha = 1 -> r = 1 (geometric), mean 1 -> p = 1/2, so
        // P(X >= k) = (1 - p)^k = 2^-k.
        for k in 0..12u64 {
            let v = negbin_upper(k, 1.0, 1.0);
            assert!(close(v, 0.5f64.powi(k as i32), 1e-10), "k={k}: {v}");
        }
        // mean 3, alpha 1 -> p = 1/4: P(X >= 4) = (3/4)^4.
        assert!(close(negbin_upper(4, 3.0, 1.0), 0.75f64.powi(4), 1e-10));
    }

    #[test]
    fn negbin_matches_recurrence_and_tends_to_poisson() {
        for &(k, mean, alpha) in &[
            (5u64, 2.0, 0.3),
            (30, 10.0, 0.05),
            (12, 4.0, 2.0),
            (9, 4.0, 1e-5),
        ] {
            let a = negbin_upper(k, mean, alpha);
            let b = naive_negbin_upper(k, mean, alpha);
            assert!(close(a, b, 1e-8), "{k} {mean} {alpha}: {a} vs {b}");
        }
        // Below ALPHA_POISSON the Poisson tail is used; the true NB tail at
        // alpha = 1e-5 is within 1e-3 relative of it (recurrence above).
        assert_eq!(negbin_upper(9, 4.0, 1e-7), poisson_upper(9, 4.0));
        let a = naive_negbin_upper(9, 4.0, 1e-5);
        assert!(close(a, poisson_upper(9, 4.0), 1e-3));
    }

    #[test]
    fn conditional_test_is_negbin_predictive() {
        // Identity used in docs/gate.md to justify the NB branch: the conditional
        // binomial tail equals the tail of a negative binomial with size
        // x_b + 1 and success probability e_b / (e_b + e_w) (the Bayesian
        // predictive of a Poisson count under a Gamma(x_b + 1, e_b) rate):
        // P(NB(r, q) >= k) = P(Bin(k + r - 1, 1 - q) >= k).
        for &(x_w, x_b, e_w, e_b) in &[
            (5u64, 10u64, 1.0, 7.0),
            (3, 0, 1.0, 168.0),
            (40, 200, 1.0, 7.0),
        ] {
            let cond = conditional_poisson_p(x_w, e_w, x_b, e_b);
            let r = x_b as f64 + 1.0;
            let q = e_b / (e_b + e_w);
            // NB with size r and p = q has mean r (1 - q) / q; alpha = 1/r.
            let mean = r * (1.0 - q) / q;
            let nb = negbin_upper(x_w, mean, 1.0 / r);
            assert!(close(cond, nb, 1e-8), "{cond} vs {nb}");
        }
    }

    #[test]
    fn dispersion_by_hand() {
        // counts 0,2,0,2 around mean 1 (one fitted parameter): rss = 4,
        // n/(n-p) = 4/3, sum mu = 4, sum mu^2 = 4:
        // alpha = (16/3 - 4) / 4 = 1/3; Pearson = 4 / 3 df = 4/3.
        let d = dispersion(&[0, 2, 0, 2], &[1.0; 4], 1);
        let d = d.expect("has degrees of freedom");
        assert!(close(d.alpha, 1.0 / 3.0, 1e-12), "{d:?}");
        assert!(close(d.index, 4.0 / 3.0, 1e-12), "{d:?}");
        // Perfectly even counts are underdispersed: alpha clamps to 0.
        let d = dispersion(&[3, 3, 3, 3], &[3.0; 4], 1).expect("df");
        assert_eq!(d.alpha, 0.0);
        // No degrees of freedom.
        assert!(dispersion(&[1, 2], &[1.0, 2.0], 2).is_none());
    }

    #[test]
    fn bh_by_hand() {
        // Sorted 0.005, 0.01, 0.03, 0.04 with m = 4: m p / rank =
        // 0.02, 0.02, 0.04, 0.04 (already monotone).
        let q = benjamini_hochberg(&[0.01, 0.04, 0.03, 0.005]);
        let want = [0.02, 0.04, 0.04, 0.02];
        for (a, b) in q.iter().zip(want) {
            assert!(close(*a, b, 1e-12), "{q:?}");
        }
        // Step-up: 0.5 * 2 / 2 = 0.5 and 0.01 * 2 / 1 = 0.02.
        assert_eq!(benjamini_hochberg(&[0.5, 0.01]), vec![0.5, 0.02]);
        // Monotone fix-up: 0.04 * 3 / 2 = 0.06 > 0.045 * 3 / 3 = 0.045.
        let q = benjamini_hochberg(&[0.04, 0.045, 0.001]);
        assert!(
            close(q[0], 0.045, 1e-12) && close(q[1], 0.045, 1e-12),
            "{q:?}"
        );
        assert!(benjamini_hochberg(&[]).is_empty());
        assert_eq!(benjamini_hochberg(&[f64::NAN]), vec![1.0]);
    }

    #[test]
    fn tarone_by_hand() {
        // alpha = 0.05, p_min = [0, 0.001, 0.03, 0.2, 1]:
        // K = 1: #{<= 0.05} = 3 > 1; K = 2: #{<= 0.025} = 2 <= 2 -> stop.
        let t = tarone_testable(&[0.0, 0.001, 0.03, 0.2, 1.0], 0.05);
        assert_eq!(t, vec![true, true, false, false, false]);
        // BH over the two testable ones only: p = 0.01, 0.02 with m = 2
        // -> q = 0.02, 0.02 (plain BH over 5 would give 0.05, 0.05).
        let q = benjamini_hochberg_discrete(
            &[0.01, 0.02, 0.03, 0.5, 1.0],
            &[0.0, 0.001, 0.03, 0.2, 1.0],
            0.05,
        );
        assert!(
            close(q[0], 0.02, 1e-12) && close(q[1], 0.02, 1e-12),
            "{q:?}"
        );
        assert_eq!(&q[2..], &[1.0, 1.0, 1.0]);
        assert!(tarone_testable(&[], 0.05).is_empty());
    }

    #[test]
    fn degenerate_exposure_gives_no_evidence() {
        assert_eq!(conditional_poisson_p(10, 0.0, 0, 168.0), 1.0);
        assert_eq!(conditional_poisson_p(10, 1.0, 0, 0.0), 1.0);
        assert_eq!(conditional_poisson_p(10, f64::NAN, 0, 1.0), 1.0);
        assert_eq!(negbin_upper(3, f64::NAN, 0.5), 0.0);
    }

    proptest! {
        #[test]
        fn more_observed_never_raises_p(
            x in 0u64..200, x_b in 0u64..2000, e_w in 0.1f64..10.0, e_b in 1.0f64..500.0
        ) {
            let a = conditional_poisson_p(x, e_w, x_b, e_b);
            let b = conditional_poisson_p(x + 1, e_w, x_b, e_b);
            prop_assert!(b <= a + 1e-12, "{a} -> {b}");
        }

        #[test]
        fn more_observed_never_raises_nb_p(
            x in 0u64..200, mean in 0.01f64..500.0, alpha in 0.0f64..3.0
        ) {
            let a = negbin_upper(x, mean, alpha);
            let b = negbin_upper(x + 1, mean, alpha);
            prop_assert!(b <= a + 1e-12, "{a} -> {b}");
        }

        #[test]
        fn common_exposure_scale_changes_nothing(
            x in 0u64..300, x_b in 0u64..3000, e_w in 0.1f64..10.0,
            e_b in 1.0f64..500.0, scale in 1e-3f64..1e6
        ) {
            // Exposure in hours or in requests: multiplying both by the same
            // factor (e.g. counting requests instead of hours at constant
            // traffic) leaves the test unchanged.
            let a = conditional_poisson_p(x, e_w, x_b, e_b);
            let b = conditional_poisson_p(x, e_w * scale, x_b, e_b * scale);
            prop_assert!(close(a, b, 1e-9), "{a} vs {b}");
        }

        #[test]
        fn more_window_traffic_never_lowers_p(
            x in 0u64..300, x_b in 0u64..3000, e_w in 0.1f64..10.0,
            e_b in 1.0f64..500.0, surge in 1.0f64..20.0
        ) {
            // A traffic surge (more requests in the window, same errors) can
            // only make the window look less suspicious.
            let a = conditional_poisson_p(x, e_w, x_b, e_b);
            let b = conditional_poisson_p(x, e_w * surge, x_b, e_b);
            prop_assert!(b >= a - 1e-12, "{a} -> {b}");
        }

        #[test]
        fn bh_is_bounded_and_order_preserving(p in proptest::collection::vec(0.0f64..1.0, 0..60)) {
            let q = benjamini_hochberg(&p);
            for i in 0..p.len() {
                prop_assert!(q[i] >= p[i] - 1e-15 && q[i] <= 1.0);
                for j in 0..p.len() {
                    if p[i] < p[j] {
                        prop_assert!(q[i] <= q[j] + 1e-15);
                    }
                }
            }
        }
    }

    #[test]
    fn a_longer_window_averages_the_hourly_frailty() {
        assert_eq!(window_alpha(0.3, 60), 0.3);
        assert_eq!(window_alpha(0.3, 45), 0.3);
        assert!((window_alpha(0.3, 240) - 0.075).abs() < 1e-12);
        // Two hours and a half: (1 + 1 + 0.25) / 2.5^2 of the hourly alpha.
        assert!((window_alpha(0.4, 150) - 0.4 * 2.25 / 6.25).abs() < 1e-12);
    }
}

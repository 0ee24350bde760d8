//! Decisions: which signatures a deploy made worse (deploy mode), and which
//! spiked between deploys (continuous mode), each with its explanation.
//!
//! Per signature the gate computes the window's expected count from the
//! baseline (flat, same hour of day or same hour of week; per request when
//! traffic is known, per hour otherwise), a one-sided p-value (the exact
//! conditional Poisson test, or a negative-binomial tail when the baseline is
//! overdispersed), and an impact (excess share of requests, or excess events
//! per minute). The p-values of all signatures judged together are adjusted
//! (Benjamini–Hochberg by default) and a signature passes the gate only when
//! its adjusted p is below alpha AND its impact and ratio clear their floors;
//! brand-new signatures must in addition repeat (minimum count) and reach
//! several users.

use serde::{Deserialize, Serialize};

use crate::domain::gate::config::{Correction, GateConfig, Seasonality, SeverityConfig};
use crate::domain::gate::series::SignatureWindow;
use crate::domain::gate::{residual, stats};

/// What the gate concluded for one signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// A known signature the deploy made significantly and materially worse.
    Regression,
    /// A signature never seen in the baseline that the deploy introduced and
    /// that repeats across users.
    New,
    /// Elevated, but not attributed to a deploy: found by the continuous
    /// batch, or already elevated in the hour before the deploy.
    Spike,
    /// Nothing to act on.
    Pass,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Regression => "regression",
            Verdict::New => "new",
            Verdict::Spike => "spike",
            Verdict::Pass => "pass",
        }
    }

    /// Whether this verdict asks for action (anything but `pass`).
    pub fn flagged(self) -> bool {
        !matches!(self, Verdict::Pass)
    }
}

/// Size of the problem, from impact and ratio (see `SeverityConfig`).
/// Computed for every decision, `pass` included, so a reader can see how
/// large a non-significant change would have been.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

/// Which test produced `p`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Exact conditional binomial test of two Poisson rates.
    ExactPoisson,
    /// Negative-binomial tail (overdispersed baseline).
    NegativeBinomial,
    /// No baseline event at all: conditional test against the empty
    /// baseline, plus the new-signature rule.
    NewSignature,
    /// Nothing to test (empty window or no exposure).
    NotTested,
}

/// Unit of `Decision::impact`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImpactUnit {
    /// (observed - expected) / requests in the window, when traffic is known.
    ShareOfRequests,
    /// (observed - expected) / window minutes, when it is not.
    EventsPerMinute,
}

/// One signature's judgement with everything needed to explain it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub signature: String,
    /// Events in the window.
    pub observed: u64,
    /// Events the baseline predicts for the window (exposure-adjusted).
    pub expected: f64,
    /// Observed / expected; `None` when nothing was expected.
    pub ratio: Option<f64>,
    /// One-sided p-value of the test in `method`.
    pub p: f64,
    /// p adjusted across the signatures judged together (q-value).
    pub q: f64,
    /// Excess impact in `impact_unit`; never negative.
    pub impact: f64,
    pub impact_unit: ImpactUnit,
    pub severity: Severity,
    pub verdict: Verdict,
    pub method: Method,
    /// One sentence a human can check against the numbers above.
    pub reason: String,
    /// Set when the store held less history than `gate.min_history` and the
    /// decision was made by the cold-start rules (`gate::cold`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cold_start: Option<ColdStart>,
    /// The hour-to-hour overdispersion (NB2 alpha, its upper bound) the
    /// negative-binomial tail used, when it was used: later comparisons of
    /// the same window (`gate::since`) need the same burstiness.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dispersion: Option<f64>,
    /// The baseline model's expected count in each of the last
    /// [`RECENT_HOURS`] baseline hours (oldest first; empty when the
    /// signature was not tested against a baseline). `gate::since` needs
    /// what the model predicts for the span since the previous deploy: for
    /// a signature with its own daily cycle, a flat rate would call an
    /// ordinary peak hour before the deploy "raised". Not serialised: it
    /// only serves that comparison, made before the run is stored.
    #[serde(skip)]
    pub recent_expected: Vec<f64>,
}

/// How many of the last baseline hours a [`Decision`] keeps the model's
/// expected counts for: the previous deploy `gate::since` looks back to is
/// at most a day old.
pub const RECENT_HOURS: usize = 26;

/// The history a cold-start decision was made with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColdStart {
    /// Minutes between the store's first event and the window start.
    pub history_minutes: u64,
    /// What `gate.min_history` asks for, in minutes.
    pub min_history_minutes: u64,
}

/// Judge the signatures of one deploy (the window starts at the deploy).
///
/// Verdicts: `regression`, `new`, `spike` (elevated already in the hour
/// before the deploy, when `check_pre_deploy` is on) or `pass`. Decisions are
/// returned in input order.
pub fn judge_deploy(signatures: &[SignatureWindow], cfg: &GateConfig) -> Vec<Decision> {
    let proxies = pooled_proxies(signatures, cfg.seasonality);
    let assessments: Vec<Assessment> = signatures
        .iter()
        .zip(&proxies)
        .map(|(s, p)| assess(&Slices::with_proxy(s, p.as_ref()), cfg.seasonality, cfg))
        .collect();
    let q = adjust(&assessments, cfg.correction, cfg.alpha);
    let pre = if cfg.check_pre_deploy {
        Some(pre_deploy_spikes(signatures, cfg))
    } else {
        None
    };
    assessments
        .into_iter()
        .zip(q)
        .enumerate()
        .map(|(i, (a, q))| {
            let pre_elevated = pre.as_ref().and_then(|v| v.get(i).copied().flatten());
            let rule = Rule {
                alpha: cfg.alpha,
                min_ratio: cfg.min_ratio,
                hit: Verdict::Regression,
                new_hit: Verdict::New,
                pre_elevated,
            };
            finish(&signatures[i], a, q, &rule, cfg)
        })
        .collect()
}

/// Judge one continuous-mode batch (a window between deploys).
///
/// Known signatures are checked for spikes against `spike_seasonality` at
/// `spike_alpha` with `spike_min_ratio`; never-seen signatures by the same
/// new-signature rule as deploys. Everything that passes is marked `spike`:
/// there is no deploy to attribute it to.
pub fn judge_continuous(signatures: &[SignatureWindow], cfg: &GateConfig) -> Vec<Decision> {
    let assessments: Vec<Assessment> = signatures
        .iter()
        .map(|s| assess(&Slices::window(s), cfg.spike_seasonality, cfg))
        .collect();
    let q = adjust(&assessments, cfg.correction, cfg.spike_alpha);
    assessments
        .into_iter()
        .zip(q)
        .enumerate()
        .map(|(i, (a, q))| {
            let rule = Rule {
                alpha: cfg.spike_alpha,
                min_ratio: cfg.spike_min_ratio,
                hit: Verdict::Spike,
                new_hit: Verdict::Spike,
                pre_elevated: None,
            };
            finish(&signatures[i], a, q, &rule, cfg)
        })
        .collect()
}

/// Leave-one-out pooled error counts per baseline hour and in the window,
/// for signatures without traffic under `adaptive`.
fn pooled_proxies(
    signatures: &[SignatureWindow],
    seasonality: Seasonality,
) -> Vec<Option<(Vec<u64>, u64)>> {
    if seasonality != Seasonality::Adaptive || signatures.iter().all(|s| s.traffic().is_some()) {
        return vec![None; signatures.len()];
    }
    let n = signatures
        .iter()
        .map(|s| s.baseline.counts.len())
        .max()
        .unwrap_or(0);
    let mut base = vec![0u64; n];
    let mut win = 0u64;
    for s in signatures.iter().filter(|s| s.baseline.counts.len() == n) {
        for (b, &c) in base.iter_mut().zip(&s.baseline.counts) {
            *b = b.saturating_add(c);
        }
        win = win.saturating_add(s.window.total());
    }
    signatures
        .iter()
        .map(|s| {
            if s.traffic().is_some() || s.baseline.counts.len() != n {
                return None;
            }
            let b: Vec<u64> = base
                .iter()
                .zip(&s.baseline.counts)
                .map(|(&t, &c)| t.saturating_sub(c))
                .collect();
            Some((b, win.saturating_sub(s.window.total())))
        })
        .collect()
}

/// For each signature, `Some((observed, expected))` when the hour right
/// before the window is itself a spike against the baseline that precedes
/// it (continuous-mode rules, including BH across signatures).
fn pre_deploy_spikes(signatures: &[SignatureWindow], cfg: &GateConfig) -> Vec<Option<(u64, f64)>> {
    let assessments: Vec<Option<Assessment>> = signatures
        .iter()
        .map(|s| Slices::pre_hour(s).map(|sl| assess(&sl, cfg.spike_seasonality, cfg)))
        .collect();
    let present: Vec<Assessment> = assessments.iter().flatten().cloned().collect();
    let q = adjust(&present, cfg.correction, cfg.spike_alpha);
    let mut qi = q.into_iter();
    assessments
        .into_iter()
        .map(|a| {
            let a = a?;
            let q = qi.next().unwrap_or(1.0);
            // No impact floor here: the question is only whether the
            // signature was already abnormal before the deploy, not whether
            // that is worth acting on.
            let elevated = if a.is_new {
                q < cfg.spike_alpha && a.observed >= cfg.new_min_count
            } else {
                q < cfg.spike_alpha && a.ratio().is_none_or(|r| r >= cfg.spike_min_ratio)
            };
            elevated.then_some((a.observed, a.expected))
        })
        .collect()
}

/// The data one test looks at: baseline hour buckets ending at the window
/// start, and the window's totals.
struct Slices<'a> {
    counts: &'a [u64],
    /// Hourly requests aligned with `counts`, if traffic is usable.
    requests: Option<&'a [u64]>,
    observed: u64,
    minutes: u64,
    window_requests: Option<u64>,
    users: Option<u64>,
    /// Traffic was supplied but could not be used (misaligned or zero).
    traffic_unusable: bool,
    /// `requests` are not requests but the other signatures' errors (the
    /// pooled proxy when traffic is unknown): exposure only, never impact.
    proxy: bool,
}

impl<'a> Slices<'a> {
    fn window(s: &'a SignatureWindow) -> Self {
        let traffic = s.traffic();
        let supplied = s.baseline.requests.is_some() || s.window.requests.is_some();
        Slices {
            counts: &s.baseline.counts,
            requests: traffic.map(|t| t.0),
            observed: s.window.total(),
            minutes: s.window.minutes(),
            window_requests: traffic.map(|t| t.1),
            users: s.window.distinct_users,
            traffic_unusable: supplied && traffic.is_none(),
            proxy: false,
        }
    }

    /// Like [`Slices::window`], with the pooled errors of the other
    /// signatures as exposure when traffic is unknown.
    fn with_proxy(s: &'a SignatureWindow, proxy: Option<&'a (Vec<u64>, u64)>) -> Self {
        let mut sl = Slices::window(s);
        if let (None, Some((b, w))) = (sl.requests, proxy) {
            if *w > 0 && b.len() == sl.counts.len() && b.iter().any(|&v| v > 0) {
                sl.requests = Some(b);
                sl.window_requests = Some(*w);
                sl.proxy = true;
            }
        }
        sl
    }

    /// The last baseline hour as a 60-minute window, judged against the
    /// baseline hours before it.
    fn pre_hour(s: &'a SignatureWindow) -> Option<Self> {
        let n = s.baseline.counts.len();
        if n < 2 {
            return None;
        }
        let counts = &s.baseline.counts[..n - 1];
        let last = s.baseline.counts[n - 1];
        let req = s.baseline.aligned_requests();
        let (requests, window_requests) = match req {
            Some(r) if r[n - 1] > 0 && r[..n - 1].iter().any(|&v| v > 0) => {
                (Some(&r[..n - 1]), Some(r[n - 1]))
            }
            _ => (None, None),
        };
        Some(Slices {
            counts,
            requests,
            observed: last,
            minutes: 60,
            window_requests,
            users: None,
            traffic_unusable: false,
            proxy: false,
        })
    }
}

/// Everything computed for one signature before the correction.
#[derive(Debug, Clone)]
struct Assessment {
    observed: u64,
    expected: f64,
    p: f64,
    impact: f64,
    impact_unit: ImpactUnit,
    method: Method,
    /// Smallest p this test could give with its conditioning statistic
    /// (Tarone screening); 0 for the NB tail, which conditions on nothing.
    p_min: f64,
    is_new: bool,
    users: Option<u64>,
    /// Which baseline gave `expected`, for the reason.
    baseline: &'static str,
    /// NB2 alpha (upper bound) when the negative-binomial tail was used.
    dispersion: Option<f64>,
    /// The model's expected count in the last [`RECENT_HOURS`] baseline
    /// hours (see [`Decision::recent_expected`]).
    recent_expected: Vec<f64>,
    /// Human-readable notes on how the numbers were obtained.
    notes: Vec<String>,
}

impl Assessment {
    fn ratio(&self) -> Option<f64> {
        (self.expected > 0.0).then(|| self.observed as f64 / self.expected)
    }
}

/// Period in hours of a seasonality mode (`None` = flat).
fn period(s: Seasonality) -> Option<usize> {
    match s {
        Seasonality::None => None,
        Seasonality::HourOfDay | Seasonality::Adaptive => Some(24),
        Seasonality::HourOfWeek => Some(168),
    }
}

fn baseline_name(s: Seasonality, per_request: bool, proxy: bool) -> &'static str {
    match (s, per_request) {
        (Seasonality::None, true) if proxy => "whole baseline per pooled error",
        (Seasonality::None, true) => "whole baseline per request",
        (Seasonality::None, false) => "whole baseline per hour",
        (Seasonality::HourOfDay | Seasonality::Adaptive, _) => "same-hour-of-day baseline",
        (Seasonality::HourOfWeek, _) => "same-hour-of-week baseline",
    }
}

/// The baseline model one signature is judged with: which hours, and per
/// request or per hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Model {
    seasonality: Seasonality,
    /// Requests are the exposure (else hours). Only ever true when traffic
    /// is usable.
    per_request: bool,
}

/// Resolves `adaptive` for one signature; the other modes are taken as
/// configured. With traffic known, the whole baseline is used with the
/// exposure under which the signature's rate shows no hour-of-day pattern
/// (`gate::residual`): per request first (most errors fail a share of
/// requests), else per hour (errors of a flat background job); when both
/// show one, the hour-of-day slots per request. Without traffic, the
/// hour-of-day slots per hour. The choice and its evidence go into `notes`.
fn resolve_model(
    counts: &[u64],
    exposure: &dyn Fn(usize) -> f64,
    per_request: bool,
    proxy: bool,
    seasonality: Seasonality,
    cfg: &GateConfig,
    notes: &mut Vec<String>,
) -> Model {
    let slots = Model {
        seasonality: Seasonality::HourOfDay,
        per_request,
    };
    if seasonality != Seasonality::Adaptive {
        return Model {
            seasonality,
            per_request,
        };
    }
    if !per_request {
        notes.push(
            "traffic unknown: same-hour-of-day baseline, since hourly counts carry the daily cycle"
                .to_string(),
        );
        return slots;
    }
    let n = counts.len();
    if n / 24 < 3 {
        notes.push(format!(
            "{n} baseline hours, fewer than the three days the residual seasonality test needs: same-hour-of-day baseline"
        ));
        return slots;
    }
    let per_hour = |_: usize| 1.0;
    // What the exposure is, for the reasons.
    let (rate, per_unit, carrier) = if proxy {
        (
            "rate per error of the other signatures",
            "per pooled error",
            "traffic unknown, the other signatures' errors carry the daily cycle",
        )
    } else {
        (
            "per-request rate",
            "per request",
            "the requests carry the daily cycle",
        )
    };
    let per_req = residual_of(counts, exposure);
    let tested = |r: &residual::Residual| {
        format!(
            "chi-square {:.1} on {} df, p = {}",
            r.statistic,
            r.df,
            fmt_p(r.p)
        )
    };
    match per_req {
        Some(r) if r.p >= cfg.residual_seasonality_p => {
            notes.push(format!(
                "no hour-of-day pattern in the {rate} (residual seasonality {}): whole baseline {per_unit}, {carrier}",
                tested(&r)
            ));
            return Model {
                seasonality: Seasonality::None,
                per_request: true,
            };
        }
        None => {
            notes.push("residual seasonality not testable: same-hour-of-day baseline".to_string());
            return slots;
        }
        Some(_) => {}
    }
    let per_req = per_req.map(|r| tested(&r)).unwrap_or_default();
    match residual_of(counts, &per_hour) {
        Some(h) if h.p >= cfg.residual_seasonality_p => {
            notes.push(format!(
                "the {rate} varies by hour of day (residual seasonality {per_req} < {}) but the hourly rate does not ({}): whole baseline per hour, an error that does not follow traffic",
                cfg.residual_seasonality_p,
                tested(&h)
            ));
            Model {
                seasonality: Seasonality::None,
                per_request: false,
            }
        }
        _ => {
            notes.push(format!(
                "the {rate} varies by hour of day (residual seasonality {per_req} < {}): same-hour-of-day baseline",
                cfg.residual_seasonality_p
            ));
            slots
        }
    }
}

/// The residual seasonality test of `counts` under `exposure`, with the
/// overdispersion within hour-of-day slots (so the test does not read the
/// seasonality it is looking for as burstiness).
fn residual_of(counts: &[u64], exposure: &dyn Fn(usize) -> f64) -> Option<residual::Residual> {
    let n = counts.len();
    let (fitted, n_params) = fitted_means(counts, exposure, Some(24));
    let alpha = stats::dispersion(counts, &fitted, n_params).map_or(0.0, |d| d.alpha);
    let e: Vec<f64> = (0..n).map(exposure).collect();
    residual::test(counts, &e, |i| slot(i, n, 24), 24, alpha)
}

/// Slot of baseline bucket `i` of `n` under period `p`: buckets in the same
/// slot cover the same clock time modulo the period. Slot 0 holds the
/// buckets exactly k*p hours before the window start.
fn slot(i: usize, n: usize, p: usize) -> usize {
    (n - i) % p
}

fn assess(sl: &Slices<'_>, seasonality: Seasonality, cfg: &GateConfig) -> Assessment {
    let n = sl.counts.len();
    let observed = sl.observed;
    let mut notes = Vec::new();
    if sl.traffic_unusable {
        notes.push("traffic supplied but misaligned or zero, per-hour exposure used".to_string());
    }
    let per_request = sl.requests.is_some() && sl.window_requests.is_some();
    // Exposure of each baseline bucket and of the window.
    let bucket_exposure = |i: usize| -> f64 {
        match sl.requests {
            Some(r) => r[i] as f64,
            None => 1.0,
        }
    };
    let e_w = match sl.window_requests {
        Some(r) if per_request => r as f64,
        _ => sl.minutes as f64 / 60.0,
    };
    let impact_per_request = per_request && !sl.proxy;
    let impact_unit = if impact_per_request {
        ImpactUnit::ShareOfRequests
    } else {
        ImpactUnit::EventsPerMinute
    };
    let not_tested = |notes: Vec<String>| Assessment {
        observed,
        expected: 0.0,
        p: 1.0,
        impact: 0.0,
        impact_unit,
        method: Method::NotTested,
        p_min: 1.0,
        is_new: false,
        users: sl.users,
        baseline: baseline_name(seasonality, per_request, sl.proxy),
        dispersion: None,
        recent_expected: Vec::new(),
        notes,
    };
    if sl.minutes == 0 || n == 0 {
        notes.push("empty window or baseline".to_string());
        return not_tested(notes);
    }
    let impact_of = |excess: f64| -> f64 {
        let e = excess.max(0.0);
        if impact_per_request {
            e / e_w
        } else {
            e / sl.minutes as f64
        }
    };
    let total_b: u64 = sl.counts.iter().fold(0u64, |a, &c| a.saturating_add(c));
    let total_e: f64 = (0..n).map(bucket_exposure).sum();

    if total_b == 0 {
        // Brand-new signature: all the evidence is the empty baseline as a
        // whole (its seasonal subset is just as empty and shorter).
        let p = stats::conditional_poisson_p(observed, e_w, 0, total_e);
        return Assessment {
            observed,
            expected: 0.0,
            p,
            impact: impact_of(observed as f64),
            impact_unit,
            method: Method::NewSignature,
            p_min: p,
            is_new: true,
            users: sl.users,
            baseline: "empty baseline",
            dispersion: None,
            recent_expected: Vec::new(),
            notes,
        };
    }

    let model = resolve_model(
        sl.counts,
        &bucket_exposure,
        per_request,
        sl.proxy,
        seasonality,
        cfg,
        &mut notes,
    );
    let seasonality = model.seasonality;
    // The expected count's exposure: requests, unless the model found the
    // signature's rate flat per hour rather than per request.
    let per_hour = |_: usize| 1.0;
    let bucket_exposure: &dyn Fn(usize) -> f64 = if model.per_request {
        &bucket_exposure
    } else {
        &per_hour
    };
    let e_w = if model.per_request {
        e_w
    } else {
        sl.minutes as f64 / 60.0
    };
    // Baseline buckets that match the window's clock time.
    let window_hours = sl.minutes.div_ceil(60) as usize;
    let matched: Vec<usize> = match period(seasonality) {
        None => (0..n).collect(),
        Some(p) => {
            let wanted: Vec<usize> = (0..window_hours.min(p)).map(|o| (p - o % p) % p).collect();
            (0..n)
                .filter(|&i| wanted.contains(&slot(i, n, p)))
                .collect()
        }
    };
    let matched = if matched.is_empty() {
        notes.push("baseline too short for the seasonal match, flat baseline used".to_string());
        (0..n).collect()
    } else {
        matched
    };
    let x_b: u64 = matched
        .iter()
        .fold(0u64, |a, &i| a.saturating_add(sl.counts[i]));
    let e_b: f64 = matched.iter().map(|&i| bucket_exposure(i)).sum();
    if !stats::positive(e_b) {
        notes.push("no exposure in the matching baseline hours".to_string());
        return not_tested(notes);
    }
    let expected = x_b as f64 * e_w / e_b;

    // Overdispersion of the baseline around its fitted (seasonal,
    // exposure-adjusted) means. The dispersion model uses the configured
    // period when each slot has at least three hours, else the next coarser
    // one, so it never fits one parameter per hour.
    let disp_period = [period(seasonality), Some(24), None]
        .into_iter()
        .find(|p| p.is_none_or(|p| n / p >= 3))
        .flatten();
    let (fitted, n_params) = fitted_means(sl.counts, bucket_exposure, disp_period);
    let disp = stats::dispersion(sl.counts, &fitted, n_params);

    let overdispersed = disp
        .filter(|d| d.index > cfg.dispersion_threshold && d.alpha > 0.0 && x_b > 0)
        .filter(|_| expected > 0.0);
    let dispersion = overdispersed.map(|d| d.alpha + cfg.dispersion_upper_z * d.alpha_se);
    let (p, method, p_min) = match overdispersed {
        Some(d) => {
            // Gamma mixture: process overdispersion plus the sampling
            // uncertainty of the estimated mean (CV^2 of x_b), so the
            // baseline is not treated as exact in this branch either.
            let alpha = d.alpha + cfg.dispersion_upper_z * d.alpha_se;
            let mu2: f64 = matched.iter().map(|&i| fitted[i] * fitted[i]).sum();
            let var_xb = x_b as f64 + alpha * mu2;
            let alpha_eff =
                stats::window_alpha(alpha, sl.minutes) + var_xb / (x_b as f64 * x_b as f64);
            notes.push(format!(
                "negative binomial: baseline overdispersed (dispersion index {:.2} > {:.2}, alpha {:.3} +/- {:.3}, {:.3} used with the upper bound and the baseline's own uncertainty)",
                d.index, cfg.dispersion_threshold, d.alpha, d.alpha_se, alpha_eff
            ));
            (
                stats::negbin_upper(observed, expected, alpha_eff),
                Method::NegativeBinomial,
                0.0,
            )
        }
        None => {
            let n = observed.saturating_add(x_b);
            (
                stats::conditional_poisson_p(observed, e_w, x_b, e_b),
                Method::ExactPoisson,
                stats::conditional_poisson_p(n, e_w, 0, e_b),
            )
        }
    };
    notes.push(format!(
        "{} baseline hours, {} events, {}",
        matched.len(),
        x_b,
        if model.per_request && sl.proxy {
            "the other signatures' errors as exposure (traffic unknown)"
        } else if model.per_request {
            "per-request exposure"
        } else {
            "per-hour exposure"
        }
    ));
    Assessment {
        observed,
        expected,
        p,
        impact: impact_of(observed as f64 - expected),
        impact_unit,
        method,
        p_min,
        is_new: false,
        users: sl.users,
        baseline: baseline_name(seasonality, model.per_request, sl.proxy),
        dispersion,
        recent_expected: fitted[n.saturating_sub(RECENT_HOURS)..].to_vec(),
        notes,
    }
}

/// Fitted mean of every baseline bucket under a seasonal (or flat) rate per
/// unit of exposure, and the number of rates fitted.
fn fitted_means(
    counts: &[u64],
    exposure: &dyn Fn(usize) -> f64,
    period: Option<usize>,
) -> (Vec<f64>, usize) {
    let n = counts.len();
    let slots = period.unwrap_or(1);
    let slot_of = |i: usize| period.map_or(0, |p| slot(i, n, p));
    let mut sum_x = vec![0.0f64; slots];
    let mut sum_e = vec![0.0f64; slots];
    for (i, &c) in counts.iter().enumerate() {
        sum_x[slot_of(i)] += c as f64;
        sum_e[slot_of(i)] += exposure(i);
    }
    let n_params = sum_e.iter().filter(|&&e| e > 0.0).count();
    let fitted = (0..n)
        .map(|i| {
            let s = slot_of(i);
            if sum_e[s] > 0.0 {
                sum_x[s] / sum_e[s] * exposure(i)
            } else {
                0.0
            }
        })
        .collect();
    (fitted, n_params)
}

fn adjust(assessments: &[Assessment], correction: Correction, alpha: f64) -> Vec<f64> {
    let p: Vec<f64> = assessments.iter().map(|a| a.p).collect();
    match correction {
        Correction::Bh => stats::benjamini_hochberg(&p),
        Correction::BhDiscrete => {
            let p_min: Vec<f64> = assessments.iter().map(|a| a.p_min).collect();
            stats::benjamini_hochberg_discrete(&p, &p_min, alpha)
        }
        Correction::None => p,
    }
}

fn impact_floor(a: &Assessment, cfg: &GateConfig) -> f64 {
    match a.impact_unit {
        ImpactUnit::ShareOfRequests => cfg.min_impact_share,
        ImpactUnit::EventsPerMinute => cfg.min_impact_per_minute,
    }
}

/// The pass/fail rule of one mode.
struct Rule {
    alpha: f64,
    min_ratio: f64,
    hit: Verdict,
    new_hit: Verdict,
    pre_elevated: Option<(u64, f64)>,
}

fn severity(a: &Assessment, s: &SeverityConfig) -> Severity {
    severity_of(a.impact, a.impact_unit, a.observed, a.ratio(), s)
}

/// Severity from the impact and the ratio (`None` = nothing expected).
pub(super) fn severity_of(
    impact: f64,
    impact_unit: ImpactUnit,
    observed: u64,
    ratio: Option<f64>,
    s: &SeverityConfig,
) -> Severity {
    let (c, h, m) = match impact_unit {
        ImpactUnit::ShareOfRequests => (s.critical_share, s.high_share, s.medium_share),
        ImpactUnit::EventsPerMinute => (
            s.critical_per_minute,
            s.high_per_minute,
            s.medium_per_minute,
        ),
    };
    let base = if impact >= c {
        Severity::Critical
    } else if impact >= h {
        Severity::High
    } else if impact >= m {
        Severity::Medium
    } else {
        Severity::Low
    };
    let big_ratio = observed > 0 && ratio.is_none_or(|r| r >= s.ratio_bump);
    match (base, big_ratio) {
        (Severity::Low, true) => Severity::Medium,
        (Severity::Medium, true) => Severity::High,
        (b, _) => b,
    }
}

/// p-values: three decimals when readable that way, scientific below.
pub(super) fn fmt_p(v: f64) -> String {
    if v >= 0.001 {
        format!("{v:.3}")
    } else {
        format!("{v:.2e}")
    }
}

fn fmt_impact(a: &Assessment) -> String {
    fmt_impact_of(a.impact, a.impact_unit)
}

pub(super) fn fmt_impact_of(impact: f64, unit: ImpactUnit) -> String {
    match unit {
        ImpactUnit::ShareOfRequests => format!("{:.4}% of requests", impact * 100.0),
        ImpactUnit::EventsPerMinute => format!("{impact:.3} events/min"),
    }
}

fn finish(s: &SignatureWindow, a: Assessment, q: f64, rule: &Rule, cfg: &GateConfig) -> Decision {
    let floor = impact_floor(&a, cfg);
    let floor_txt = match a.impact_unit {
        ImpactUnit::ShareOfRequests => format!("{:.4}%", floor * 100.0),
        ImpactUnit::EventsPerMinute => format!("{floor} events/min"),
    };
    let sig_ok = q < rule.alpha;
    let impact_ok = a.impact >= floor;
    let mut failed: Vec<String> = Vec::new();
    if !sig_ok {
        failed.push(format!("q = {} is not below {}", fmt_p(q), rule.alpha));
    }
    if !impact_ok {
        failed.push(format!(
            "excess impact {} is below the floor {floor_txt}",
            fmt_impact(&a)
        ));
    }
    let verdict = if a.method == Method::NotTested {
        failed.push("not tested".to_string());
        Verdict::Pass
    } else if a.is_new {
        if a.observed < cfg.new_min_count {
            failed.push(format!(
                "new signature with {} events, fewer than the minimum {}",
                a.observed, cfg.new_min_count
            ));
        }
        if let Some(u) = a.users.filter(|&u| u < cfg.new_min_users) {
            failed.push(format!(
                "new signature seen by {u} distinct users, fewer than the minimum {}",
                cfg.new_min_users
            ));
        }
        if failed.is_empty() {
            rule.new_hit
        } else {
            Verdict::Pass
        }
    } else {
        let ratio = a.ratio().unwrap_or(f64::INFINITY);
        if ratio < rule.min_ratio {
            failed.push(format!(
                "ratio {ratio:.2}x is below the minimum {}x",
                rule.min_ratio
            ));
        }
        if failed.is_empty() {
            rule.hit
        } else {
            Verdict::Pass
        }
    };
    // A deploy regression that was already there before the deploy.
    let verdict = match (verdict, rule.pre_elevated) {
        (Verdict::Regression | Verdict::New, Some(_)) => Verdict::Spike,
        (v, _) => v,
    };
    let sev = severity(&a, &cfg.severity);
    let counts = if a.is_new {
        format!(
            "{} events, none in the {}-hour baseline{}",
            a.observed,
            s.baseline.counts.len(),
            a.users
                .map(|u| format!(", {u} distinct users"))
                .unwrap_or_default()
        )
    } else {
        format!(
            "{} events vs {:.2} expected{} from the {}",
            a.observed,
            a.expected,
            a.ratio().map(|r| format!(" ({r:.2}x)")).unwrap_or_default(),
            a.baseline
        )
    };
    let head = match verdict {
        Verdict::Regression => "regression".to_string(),
        Verdict::New => "new signature introduced by the deploy".to_string(),
        Verdict::Spike => match rule.pre_elevated {
            Some((o, e)) => format!(
                "spike, not attributed to the deploy: already elevated in the hour before it ({o} events vs {e:.2} expected)"
            ),
            None if a.is_new => "spike: new signature between deploys".to_string(),
            None => "spike between deploys".to_string(),
        },
        Verdict::Pass => "pass".to_string(),
    };
    let mut reason = format!(
        "{head}: {counts}; p = {}, q = {}; excess impact {}, severity {}",
        fmt_p(a.p),
        fmt_p(q),
        fmt_impact(&a),
        sev.as_str()
    );
    if verdict == Verdict::Pass && !failed.is_empty() {
        reason.push_str("; not flagged because ");
        reason.push_str(&failed.join(" and "));
    }
    if !a.notes.is_empty() {
        reason.push_str(" [");
        reason.push_str(&a.notes.join("; "));
        reason.push(']');
    }
    Decision {
        signature: s.signature.clone(),
        observed: a.observed,
        expected: a.expected,
        ratio: a.ratio(),
        p: a.p,
        q,
        impact: a.impact,
        impact_unit: a.impact_unit,
        severity: sev,
        verdict,
        method: a.method,
        reason,
        cold_start: None,
        dispersion: a.dispersion,
        recent_expected: a.recent_expected,
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::domain::gate::series::{Baseline, Window};
    use proptest::prelude::*;

    /// A signature with the given hourly baseline and `window_total` events
    /// spread over a 60-minute window, no traffic, no users (shared with the
    /// tests of `cold` and `since`).
    pub(crate) fn sig(name: &str, baseline: Vec<u64>, window_total: u64) -> SignatureWindow {
        let mut counts = vec![0u64; 60];
        // Spread the window evenly over its minutes.
        for k in 0..window_total {
            counts[(k % 60) as usize] += 1;
        }
        SignatureWindow {
            signature: name.to_string(),
            baseline: Baseline {
                counts: baseline,
                requests: None,
            },
            window: Window {
                counts,
                requests: None,
                distinct_users: None,
            },
        }
    }

    fn flat(rate: u64) -> Vec<u64> {
        vec![rate; 168]
    }

    fn with_traffic(mut s: SignatureWindow, base: Vec<u64>, window: u64) -> SignatureWindow {
        s.baseline.requests = Some(base);
        s.window.requests = Some(window);
        s
    }

    /// 150 quiet signatures at 20 / h that do not change, plus `extra`.
    fn family(extra: Vec<SignatureWindow>) -> Vec<SignatureWindow> {
        let mut v: Vec<SignatureWindow> = (0..150)
            .map(|i| sig(&format!("bg{i}"), flat(20), 20))
            .collect();
        v.extend(extra);
        v
    }

    fn last(d: &[Decision]) -> &Decision {
        &d[d.len() - 1]
    }

    #[test]
    fn unchanged_signatures_pass() {
        let d = judge_deploy(&family(vec![]), &GateConfig::default());
        assert!(d.iter().all(|d| d.verdict == Verdict::Pass));
        assert!(d.iter().all(|d| (d.expected - 20.0).abs() < 1e-9));
    }

    #[test]
    fn five_fold_regression_is_flagged_with_explanation() {
        let d = judge_deploy(
            &family(vec![sig("boom", flat(20), 100)]),
            &GateConfig::default(),
        );
        let b = last(&d);
        assert_eq!(b.verdict, Verdict::Regression, "{}", b.reason);
        assert_eq!(b.observed, 100);
        assert!((b.expected - 20.0).abs() < 1e-9);
        assert_eq!(b.ratio, Some(5.0));
        assert!(b.q < 0.01 && b.p <= b.q);
        // 80 excess events over 60 minutes.
        assert_eq!(b.impact_unit, ImpactUnit::EventsPerMinute);
        assert!((b.impact - 80.0 / 60.0).abs() < 1e-9);
        assert!(
            b.reason
                .starts_with("regression: 100 events vs 20.00 expected"),
            "{}",
            b.reason
        );
        // Every other signature still passes.
        assert_eq!(d.iter().filter(|d| d.verdict.flagged()).count(), 1);
    }

    #[test]
    fn first_event_of_a_new_signature_is_not_a_regression() {
        let d = judge_deploy(
            &family(vec![sig("once", vec![0; 168], 1)]),
            &GateConfig::default(),
        );
        let b = last(&d);
        assert_eq!(b.method, Method::NewSignature);
        // p is the 1/169, but the minimum-count rule holds it back.
        assert!((b.p - 1.0 / 169.0).abs() < 1e-12);
        assert_eq!(b.verdict, Verdict::Pass);
        assert!(
            b.reason.contains("fewer than the minimum 5"),
            "{}",
            b.reason
        );
    }

    #[test]
    fn new_signature_needs_count_and_users() {
        let cfg = GateConfig::default();
        let mut many = sig("new", vec![0; 168], 30);
        many.window.distinct_users = Some(25);
        let d = judge_deploy(&family(vec![many.clone()]), &cfg);
        assert_eq!(last(&d).verdict, Verdict::New, "{}", last(&d).reason);
        assert_eq!(last(&d).ratio, None);
        // Same burst from one user (a bot retrying) is not a new error.
        many.window.distinct_users = Some(1);
        let d = judge_deploy(&family(vec![many]), &cfg);
        assert_eq!(last(&d).verdict, Verdict::Pass);
        assert!(
            last(&d).reason.contains("distinct users"),
            "{}",
            last(&d).reason
        );
    }

    #[test]
    fn new_error_share_of_requests_is_the_impact() {
        // 0.5% of 20,000 requests = 100 events, traffic known.
        let s = with_traffic(sig("new", vec![0; 168], 100), vec![20_000; 168], 20_000);
        let d = judge_deploy(&family(vec![s]), &GateConfig::default());
        let b = last(&d);
        assert_eq!(b.verdict, Verdict::New);
        assert_eq!(b.impact_unit, ImpactUnit::ShareOfRequests);
        assert!((b.impact - 0.005).abs() < 1e-12);
        // 0.5% of requests is `medium` by impact, raised to `high` by the
        // infinite ratio of a new signature.
        assert_eq!(b.severity, Severity::High);
    }

    #[test]
    fn traffic_surge_is_not_a_regression_when_traffic_is_known() {
        // Errors at 1 per 1,000 requests; the window has 3x the traffic and
        // 3x the errors.
        let base_req = vec![20_000u64; 168];
        let s = with_traffic(sig("surge", flat(20), 60), base_req, 60_000);
        let d = judge_deploy(&family(vec![s.clone()]), &GateConfig::default());
        assert_eq!(last(&d).verdict, Verdict::Pass, "{}", last(&d).reason);
        assert!((last(&d).expected - 60.0).abs() < 1e-9);
        // Without traffic the same counts look like a 3x regression.
        let mut blind = s;
        blind.baseline.requests = None;
        blind.window.requests = None;
        let d = judge_deploy(&family(vec![blind]), &GateConfig::default());
        assert_eq!(last(&d).verdict, Verdict::Regression);
    }

    #[test]
    fn daily_peak_is_expected_with_the_hour_of_day_baseline() {
        // 10 / h except 60 in the hours at the window's time of day.
        let n = 168;
        let base: Vec<u64> = (0..n)
            .map(|i| if (n - i) % 24 == 0 { 60 } else { 10 })
            .collect();
        let s = sig("peak", base, 62);
        let cfg = GateConfig::default();
        let d = judge_deploy(&family(vec![s.clone()]), &cfg);
        assert_eq!(last(&d).verdict, Verdict::Pass, "{}", last(&d).reason);
        assert!((last(&d).expected - 60.0).abs() < 1e-9);
        let flat_cfg = GateConfig {
            seasonality: Seasonality::None,
            ..GateConfig::default()
        };
        let d = judge_deploy(&family(vec![s]), &flat_cfg);
        assert!(last(&d).expected < 13.0);
        // The flat baseline's misfit makes it overdispersed, so the NB tail
        // protects it here; but it expects far too little.
        assert_eq!(last(&d).method, Method::NegativeBinomial);
    }

    /// Requests per hour with a 60% daily cycle; bucket `i` of 168 is
    /// `(168 - i) % 24` hours before the window's clock hour, whose traffic
    /// is the last value returned.
    fn cycling_traffic() -> (Vec<u64>, u64) {
        let at = |h: f64| {
            (20_000.0 * (1.0 + 0.6 * (2.0 * std::f64::consts::PI * (h - 15.0) / 24.0).cos())) as u64
        };
        // The window starts at 15:00, the traffic peak.
        let base = (0..168)
            .map(|i| at((15 + 24 * 7 - (168 - i)) as f64 % 24.0))
            .collect();
        (base, at(15.0))
    }

    #[test]
    fn with_traffic_an_unseasonal_per_request_rate_uses_the_whole_baseline() {
        // One error per 2,000 requests, every hour: the per-request rate is
        // flat, so all 168 hours estimate it (seven would be the same hour).
        let (req, w) = cycling_traffic();
        let counts: Vec<u64> = req.iter().map(|&r| (r + 1_000) / 2_000).collect();
        let expected = w as f64 / 2_000.0;
        let x = (expected * 3.0).round() as u64;
        let s = with_traffic(sig("share", counts, x), req, w);
        let d = judge_deploy(&family(vec![s.clone()]), &GateConfig::default());
        let b = last(&d);
        assert!(
            b.reason.contains("whole baseline per request"),
            "{}",
            b.reason
        );
        assert!(b.reason.contains("168 baseline hours"), "{}", b.reason);
        assert!(
            (b.expected - expected).abs() < 0.1 * expected,
            "{}",
            b.reason
        );
        assert_eq!(b.verdict, Verdict::Regression, "{}", b.reason);
        // The whole week is stronger evidence than its seven matching hours.
        let hod = GateConfig {
            seasonality: Seasonality::HourOfDay,
            ..GateConfig::default()
        };
        let d = judge_deploy(&family(vec![s]), &hod);
        assert!(
            last(&d).reason.contains("7 baseline hours"),
            "{}",
            last(&d).reason
        );
        assert!(b.p < last(&d).p, "{} vs {}", b.p, last(&d).p);
    }

    #[test]
    fn a_nightly_job_keeps_the_hour_of_day_baseline_even_with_traffic() {
        // 2 / h all day and 40 / h in the window's clock hour (a job that
        // runs then), whatever the traffic: 40 in the window is its norm.
        let (req, w) = cycling_traffic();
        let counts: Vec<u64> = (0..168)
            .map(|i| if (168 - i) % 24 == 0 { 40 } else { 2 })
            .collect();
        let s = with_traffic(sig("nightly", counts, 42), req, w);
        let d = judge_deploy(&family(vec![s]), &GateConfig::default());
        let b = last(&d);
        assert!(b.reason.contains("varies by hour of day"), "{}", b.reason);
        assert!(
            b.reason.contains("same-hour-of-day baseline"),
            "{}",
            b.reason
        );
        assert_eq!(b.verdict, Verdict::Pass, "{}", b.reason);
        assert!((b.expected - 40.0).abs() < 1.0, "{}", b.reason);
    }

    #[test]
    fn an_error_flat_per_hour_uses_the_whole_baseline_per_hour() {
        // 10 / h every hour whatever the traffic (a background job's
        // failures): seasonal per request, flat per hour.
        let (req, w) = cycling_traffic();
        let s = with_traffic(sig("cron", flat(10), 11), req, w);
        let d = judge_deploy(&family(vec![s]), &GateConfig::default());
        let b = last(&d);
        assert!(b.reason.contains("whole baseline per hour"), "{}", b.reason);
        assert!((b.expected - 10.0).abs() < 1e-9, "{}", b.reason);
        assert_eq!(b.verdict, Verdict::Pass);
        // Its impact is still a share of the window's requests.
        assert_eq!(b.impact_unit, ImpactUnit::ShareOfRequests);
    }

    #[test]
    fn alone_without_traffic_adaptive_is_the_hour_of_day_baseline() {
        let n = 168;
        let base: Vec<u64> = (0..n)
            .map(|i| if (n - i) % 24 == 0 { 60 } else { 10 })
            .collect();
        let d = judge_deploy(&[sig("peak", base, 62)], &GateConfig::default());
        assert!(d[0].reason.contains("traffic unknown"), "{}", d[0].reason);
        assert!((d[0].expected - 60.0).abs() < 1e-9);
    }

    #[test]
    fn without_traffic_the_other_signatures_errors_are_the_exposure() {
        // No traffic data, and a x3 surge in the window: every signature,
        // all following the same daily cycle, triples. Against their own
        // history each looks like a 3x regression; against the other
        // signatures' errors nothing changed.
        let n = 168;
        let cycle = |i: usize| if (n - i) % 24 < 8 { 30 } else { 10 };
        let sigs: Vec<SignatureWindow> = (0..40)
            .map(|k| sig(&format!("s{k}"), (0..n).map(cycle).collect(), 90))
            .collect();
        let d = judge_deploy(&sigs, &GateConfig::default());
        assert!(
            d.iter().all(|d| d.verdict == Verdict::Pass),
            "{}",
            d[0].reason
        );
        assert!(
            d[0].reason.contains("other signatures' errors"),
            "{}",
            d[0].reason
        );
        assert!((d[0].expected - 90.0).abs() < 1.0, "{}", d[0].reason);
        // The impact is still excess events per minute, not a share.
        assert_eq!(d[0].impact_unit, ImpactUnit::EventsPerMinute);
        let hod = GateConfig {
            seasonality: Seasonality::HourOfDay,
            ..GateConfig::default()
        };
        let d = judge_deploy(&sigs, &hod);
        assert!(d.iter().all(|d| d.verdict == Verdict::Regression));
        // One of them multiplied by 5 while the others stay: flagged.
        let mut one: Vec<SignatureWindow> = (0..40)
            .map(|k| sig(&format!("s{k}"), (0..n).map(cycle).collect(), 30))
            .collect();
        one[7] = sig("s7", (0..n).map(cycle).collect(), 150);
        let d = judge_deploy(&one, &GateConfig::default());
        assert_eq!(d[7].verdict, Verdict::Regression, "{}", d[7].reason);
        assert_eq!(d.iter().filter(|d| d.verdict.flagged()).count(), 1);
    }

    #[test]
    fn overdispersed_baseline_uses_negative_binomial() {
        // Alternating 5 and 35 around a mean of 20: variance 225 >> 20.
        let base: Vec<u64> = (0..168).map(|i| if i % 2 == 0 { 5 } else { 35 }).collect();
        let cfg = GateConfig {
            seasonality: Seasonality::None,
            ..GateConfig::default()
        };
        let d = judge_deploy(&family(vec![sig("bursty", base, 45)]), &cfg);
        let b = last(&d);
        assert_eq!(b.method, Method::NegativeBinomial);
        // 45 vs 20 is nothing unusual for this signature.
        assert_eq!(b.verdict, Verdict::Pass);
        assert!(b.p > 0.01, "{}", b.reason);
        // The same 45 against a Poisson-like baseline is a clear regression.
        let d = judge_deploy(&family(vec![sig("steady", flat(20), 45)]), &cfg);
        assert_eq!(last(&d).method, Method::ExactPoisson);
        assert!(last(&d).p < 1e-5);
    }

    #[test]
    fn already_elevated_before_the_deploy_is_a_spike() {
        let mut base = flat(20);
        base[167] = 200; // outage in the hour before the deploy
        let d = judge_deploy(
            &family(vec![sig("outage", base, 200)]),
            &GateConfig::default(),
        );
        assert_eq!(last(&d).verdict, Verdict::Spike, "{}", last(&d).reason);
        assert!(last(&d).reason.contains("before"));
        let cfg = GateConfig {
            check_pre_deploy: false,
            ..GateConfig::default()
        };
        let mut base = flat(20);
        base[167] = 200;
        let d = judge_deploy(&family(vec![sig("outage", base, 200)]), &cfg);
        assert_eq!(last(&d).verdict, Verdict::Regression);
    }

    #[test]
    fn continuous_mode_marks_spikes() {
        let mut new = sig("new", vec![0; 168], 40);
        new.window.distinct_users = Some(30);
        let d = judge_continuous(
            &family(vec![sig("spiky", flat(20), 200), new]),
            &GateConfig::default(),
        );
        let n = d.len();
        assert_eq!(d[n - 2].verdict, Verdict::Spike);
        assert_eq!(d[n - 1].verdict, Verdict::Spike);
        assert!(d[n - 1].reason.contains("new signature"));
        assert!(d[..n - 2].iter().all(|d| d.verdict == Verdict::Pass));
        // 2.5x is a regression for a deploy but not a spike (min ratio 3).
        let d = judge_continuous(
            &family(vec![sig("meh", flat(20), 50)]),
            &GateConfig::default(),
        );
        assert_eq!(last(&d).verdict, Verdict::Pass);
    }

    #[test]
    fn misaligned_traffic_falls_back_to_hours() {
        let s = with_traffic(sig("x", flat(20), 20), vec![1000; 10], 1000);
        let d = judge_deploy(&[s], &GateConfig::default());
        assert_eq!(d[0].impact_unit, ImpactUnit::EventsPerMinute);
        assert!(d[0].reason.contains("misaligned"));
    }

    #[test]
    fn degenerate_inputs_do_not_panic() {
        let empty = SignatureWindow::default();
        let short = sig("short", vec![3], 5);
        let d = judge_deploy(&[empty.clone(), short.clone()], &GateConfig::default());
        assert_eq!(d.len(), 2);
        assert!(d.iter().all(|d| d.verdict == Verdict::Pass));
        let d = judge_continuous(&[empty, short], &GateConfig::default());
        assert_eq!(d.len(), 2);
        assert!(judge_deploy(&[], &GateConfig::default()).is_empty());
    }

    #[test]
    fn decision_serializes_with_all_fields() -> Result<(), serde_json::Error> {
        let d = judge_deploy(
            &family(vec![sig("boom", flat(20), 100)]),
            &GateConfig::default(),
        );
        let v = serde_json::to_value(last(&d))?;
        for f in [
            "signature",
            "observed",
            "expected",
            "p",
            "q",
            "impact",
            "severity",
            "verdict",
            "reason",
        ] {
            assert!(v.get(f).is_some(), "missing {f}");
        }
        assert_eq!(v["verdict"], "regression");
        // Everything but the model's recent expected counts, which only
        // serve `gate::since` before the run is stored.
        assert!(v.get("recent_expected").is_none());
        let back: Decision = serde_json::from_value(v)?;
        let mut original = last(&d).clone();
        assert!(!original.recent_expected.is_empty());
        original.recent_expected.clear();
        assert_eq!(back, original);
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn more_observed_never_lowers_the_flag(
            base in proptest::collection::vec(0u64..40, 168),
            x in 0u64..150,
            users in proptest::option::of(0u64..10),
        ) {
            let cfg = GateConfig::default();
            let mut a = sig("s", base.clone(), x);
            a.window.distinct_users = users;
            let mut b = sig("s", base, x + 1);
            b.window.distinct_users = users;
            let da = judge_deploy(&family(vec![a]), &cfg);
            let db = judge_deploy(&family(vec![b]), &cfg);
            let (da, db) = (last(&da), last(&db));
            prop_assert!(db.p <= da.p + 1e-12);
            prop_assert!(!da.verdict.flagged() || db.verdict.flagged(), "{} / {}", da.reason, db.reason);
        }

        #[test]
        fn scaling_all_traffic_changes_no_test(
            base in proptest::collection::vec(0u64..40, 168),
            x in 0u64..150,
            req in 1_000u64..50_000,
            scale in 2u64..50,
        ) {
            // Requests counted in different units (or a uniformly busier
            // service with the same errors) give the same expected count
            // and p; only the share-of-requests impact scales.
            let cfg = GateConfig::default();
            let s1 = with_traffic(sig("s", base.clone(), x), vec![req; 168], req);
            let s2 = with_traffic(sig("s", base, x), vec![req * scale; 168], req * scale);
            let d1 = judge_deploy(&family(vec![s1]), &cfg);
            let d2 = judge_deploy(&family(vec![s2]), &cfg);
            let (d1, d2) = (last(&d1), last(&d2));
            prop_assert!((d1.expected - d2.expected).abs() <= 1e-9 * d1.expected.max(1.0));
            prop_assert!((d1.p - d2.p).abs() <= 1e-9 * d1.p.max(1e-300));
            prop_assert!((d1.q - d2.q).abs() <= 1e-9 * d1.q.max(1e-300));
        }
    }
}

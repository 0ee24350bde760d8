//! Scenario generator for the evaluation: one service, one deploy (or one
//! continuous-mode window), its background error signatures and the truth
//! about each of them.
//!
//! The generating model is deliberately richer than the gate's model, so the
//! evaluation measures the gate against data it was not written for:
//!
//! * traffic with a daily cycle (amplitude 30–70%, peak 12:00–20:00), a
//!   weekend dip (50–90% of weekday), 5% hourly noise and occasional
//!   baseline surges; mean 5,000–200,000 requests per hour;
//! * 100–200 background signatures with rates spread log-uniformly from one
//!   event per ~13 days to 100 per hour; 72% scale with traffic, 12% follow
//!   their own smooth daily cycle, 6% are nightly peaks (a job that fails
//!   5–30 times more for 1–4 hours a night, whatever the traffic), 10% are
//!   flat: the last three have a per-request rate that is itself seasonal,
//!   which is what the gate's residual seasonality test must notice; 70%
//!   are overdispersed (hourly gamma frailty, NB2 alpha log-uniform
//!   0.01–0.3); all drift by about 5% a day;
//! * one-off noise signatures that appear only in the window (a bot or one
//!   user, 1–4 events) and rare background signatures whose first event in a
//!   week lands in the window: the original design's "every new error is
//!   significant" false alarms;
//! * deploys (mostly weekday working hours, 10% at night, when the nightly
//!   peaks fire) that change nothing, add a new error (0.01%–2% of
//!   requests, spread over many users), or multiply an existing signature
//!   firing at least once an hour (any of the shapes above, so of varied
//!   volume and seasonality) by one of `ScenarioConfig::factors`
//!   (1.5, 2, 3, 4, 5);
//! * third-party outages unrelated to any deploy: some inside the baseline,
//!   some already in progress when the deploy lands, a few starting inside
//!   the window;
//! * traffic surges (x1.5–4) during the window;
//! * a previous deploy 1–12 hours before this one (30% of deploys), which
//!   in half of the cases multiplied a background signature by 3–5 that
//!   stays raised through the window: flagging that signature again is a
//!   *re-flag* (blaming the wrong deploy), and the level since the previous
//!   deploy (`gate::since`) is what should prevent it.
//!
//! Everything is driven by a seeded xoshiro256** generator; the same seed
//! and index give the same scenario on every platform.

use std::f64::consts::PI;

use serde::{Deserialize, Serialize};

use crate::domain::gate::series::{Baseline, SignatureWindow, Window};
use crate::domain::gate::since::SincePrevious;

/// xoshiro256** seeded through splitmix64 (Blackman & Vigna). Small,
/// fast and good enough for simulation; not for cryptography.
#[derive(Debug, Clone)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    pub fn new(seed: u64) -> Self {
        let mut sm = seed;
        let mut next = || {
            sm = sm.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = sm;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        Rng {
            s: [next(), next(), next(), next()],
        }
    }

    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in (0, 1): never exactly 0, so logs are safe.
    pub fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }

    /// Uniform integer in [0, n); n = 0 gives 0.
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        ((self.uniform() * n as f64) as usize).min(n - 1)
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.uniform() < p
    }

    pub fn log_uniform(&mut self, lo: f64, hi: f64) -> f64 {
        (self.range(lo.ln(), hi.ln())).exp()
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.uniform();
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos()
    }

    /// Gamma(shape, scale 1) by Marsaglia & Tsang, with the u^(1/shape)
    /// boost for shape < 1.
    pub fn gamma(&mut self, shape: f64) -> f64 {
        if shape < 1.0 {
            let u = self.uniform();
            return self.gamma(shape + 1.0) * u.powf(1.0 / shape);
        }
        let d = shape - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            let x = self.normal();
            let v = (1.0 + c * x).powi(3);
            if v <= 0.0 {
                continue;
            }
            let u = self.uniform();
            if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
                return d * v;
            }
        }
    }

    /// Poisson(mean): inversion for small means, Hörmann's PTRS
    /// transformed rejection for mean >= 10.
    pub fn poisson(&mut self, mean: f64) -> u64 {
        if !crate::domain::gate::stats::positive(mean) {
            return 0;
        }
        if mean < 10.0 {
            let mut k = 0u64;
            let mut p = (-mean).exp();
            let mut cdf = p;
            let u = self.uniform();
            while u > cdf && k < 1000 {
                k += 1;
                p *= mean / k as f64;
                cdf += p;
            }
            return k;
        }
        let slam = mean.sqrt();
        let loglam = mean.ln();
        let b = 0.931 + 2.53 * slam;
        let a = -0.059 + 0.02483 * b;
        let inv_alpha = 1.1239 + 1.1328 / (b - 3.4);
        let vr = 0.9277 - 3.6224 / (b - 2.0);
        loop {
            let u = self.uniform() - 0.5;
            let v = self.uniform();
            let us = 0.5 - u.abs();
            let k = ((2.0 * a / us + b) * u + mean + 0.43).floor();
            if us >= 0.07 && v <= vr {
                return k as u64;
            }
            if k < 0.0 || (us < 0.013 && v > us) {
                continue;
            }
            let lhs = (v * inv_alpha / (a / (us * us) + b)).ln();
            let rhs = -mean + k * loglam - statrs::function::gamma::ln_gamma(k + 1.0);
            if lhs <= rhs {
                return k as u64;
            }
        }
    }
}

/// What the deploy did.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    None,
    /// A new signature at this share of requests.
    NewError {
        share: f64,
    },
    /// An existing signature's rate multiplied by `factor`.
    Multiply {
        factor: f64,
    },
}

/// The truth about one signature of a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Truth {
    /// Unchanged by the deploy.
    Background,
    /// One-off noise that appears only in the window (bot / single user).
    Noise,
    /// New error introduced by the deploy.
    InjectedNew {
        share: f64,
        /// True excess events expected in the window.
        excess: f64,
        /// True excess share of the window's requests.
        excess_share: f64,
    },
    /// Existing signature multiplied by the deploy.
    InjectedMultiply {
        factor: f64,
        /// Its baseline rate at mean traffic, events per hour.
        base_rate: f64,
        /// True expected window count had the deploy changed nothing.
        base_mean: f64,
        /// True NB2 overdispersion of its hourly counts.
        alpha: f64,
        excess: f64,
        excess_share: f64,
    },
    /// Raised by the previous deploy and unchanged by this one: flagging it
    /// blames the wrong deploy.
    RaisedBefore { factor: f64 },
    /// Third-party outage, unrelated to the deploy.
    Outage {
        /// Began before the window (so visible in the pre-deploy hour).
        before_window: bool,
    },
}

impl Truth {
    pub fn injected(&self) -> bool {
        matches!(
            self,
            Truth::InjectedNew { .. } | Truth::InjectedMultiply { .. }
        )
    }
}

/// Mix of scenarios. `Default` is the evaluation's main mix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScenarioConfig {
    pub min_signatures: usize,
    pub max_signatures: usize,
    pub baseline_hours: usize,
    pub window_minutes: usize,
    /// Probability the gate is given traffic.
    pub traffic_known: f64,
    /// Probability of a traffic surge in the window when traffic is known.
    pub surge_when_known: f64,
    /// Same when traffic is not known (0 in the main mix: without traffic a
    /// surge is indistinguishable from a regression of everything, and the
    /// requirement is stated for known traffic; see the stress mix).
    pub surge_when_unknown: f64,
    /// Shares of change types: none, new error, multiply.
    pub p_none: f64,
    pub p_new: f64,
    /// Probability an outage is already in progress at the window start.
    pub outage_in_progress: f64,
    /// Probability an outage starts inside the window.
    pub outage_in_window: f64,
    /// Mean number of outages inside the baseline.
    pub outages_in_baseline: f64,
    /// Mean number of one-off noise signatures in the window.
    pub noise_signatures: f64,
    /// Factors a multiplying deploy applies, drawn uniformly.
    pub factors: Vec<f64>,
    /// Probability a deploy lands at night (00:00–05:00), when nightly
    /// peaks fire; the rest are 7/8 weekday working hours, 1/8 any time.
    pub night_deploys: f64,
    /// Share of background signatures that are nightly peaks.
    pub nightly_signatures: f64,
    /// Probability of a previous deploy 1–12 hours before this one (the
    /// gate then also tests each flag against the level since it).
    pub previous_deploy: f64,
    /// Given a previous deploy, the probability that it multiplied a
    /// background signature (firing at least once an hour) by 3–5.
    pub previous_raised: f64,
    /// Hours generated after the first window for the gate's second look
    /// (0: none). Generated only for 60-minute windows.
    pub follow_up_hours: usize,
    /// Probability that the next deploy comes 1–12 hours after this one,
    /// which ends the span a second look can cover.
    pub next_deploy: f64,
}

impl Default for ScenarioConfig {
    fn default() -> Self {
        Self {
            min_signatures: 100,
            max_signatures: 200,
            baseline_hours: 168,
            window_minutes: 60,
            traffic_known: 0.7,
            surge_when_known: 0.2,
            surge_when_unknown: 0.0,
            p_none: 0.4,
            p_new: 0.3,
            outage_in_progress: 0.05,
            outage_in_window: 0.01,
            outages_in_baseline: 1.0,
            noise_signatures: 1.5,
            factors: vec![1.5, 2.0, 3.0, 4.0, 5.0],
            night_deploys: 0.1,
            nightly_signatures: 0.06,
            previous_deploy: 0.3,
            previous_raised: 0.5,
            follow_up_hours: 5,
            next_deploy: 0.3,
        }
    }
}

/// One generated deploy (or continuous window) with its truth.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub seed: u64,
    pub index: u64,
    pub change: Change,
    pub traffic_known: bool,
    pub surge: bool,
    pub signatures: Vec<SignatureWindow>,
    /// Aligned with `signatures`.
    pub truth: Vec<Truth>,
    /// Aligned with `signatures`: the generating parameters, for diagnosis.
    pub detail: Vec<String>,
    /// The previous deploy, when there was one in the last 12 hours, and
    /// each signature's events since it (aligned with `signatures`), as the
    /// runner reads them for `gate::since`.
    pub since: Option<(SincePrevious, Vec<u64>)>,
    /// The hours after the first window, for the gate's second look.
    pub follow_up: Option<FollowUp>,
}

/// What happened after the first window, for the gate's second look: the
/// same signatures (and any that first fired later) over a longer span
/// from the deploy. Drawn from its own random stream, so the first
/// window's scenarios are the same with or without it.
#[derive(Debug, Clone)]
pub struct FollowUp {
    /// Minutes from the deploy the data covers: the first window plus
    /// `follow_up_hours`, or less when the next deploy came first.
    pub minutes: usize,
    /// Requests per hour from the deploy (the first window's hour first).
    pub hour_requests: Vec<u64>,
    /// Aligned with `Scenario::signatures`, then signatures that first
    /// fired after the first window; each window spans `minutes`.
    pub signatures: Vec<SignatureWindow>,
    /// Aligned with `signatures`.
    pub truth: Vec<Truth>,
    /// Each signature's user population, to count distinct users in a
    /// shorter span.
    users: Vec<f64>,
    traffic_known: bool,
}

impl FollowUp {
    /// The signatures over the first `minutes` minutes from the deploy (at
    /// most [`FollowUp::minutes`]), as the gate's second look reads them.
    pub fn span(&self, minutes: usize) -> Vec<SignatureWindow> {
        let minutes = minutes.min(self.minutes);
        let requests: f64 = self
            .hour_requests
            .iter()
            .enumerate()
            .map(|(h, &r)| {
                let covered = minutes.saturating_sub(h * 60).min(60);
                r as f64 * covered as f64 / 60.0
            })
            .sum();
        self.signatures
            .iter()
            .zip(&self.users)
            .map(|(s, &users)| {
                let counts = s.window.counts[..minutes.min(s.window.counts.len())].to_vec();
                let total = counts.iter().sum();
                SignatureWindow {
                    signature: s.signature.clone(),
                    baseline: s.baseline.clone(),
                    window: Window {
                        counts,
                        requests: self.traffic_known.then_some(requests.round() as u64),
                        distinct_users: Some(distinct(users, total)),
                    },
                }
            })
            .collect()
    }
}

/// Traffic model of one service.
struct Traffic {
    mean: f64,
    amp: f64,
    peak: f64,
    weekend: f64,
}

impl Traffic {
    /// Expected requests per hour at absolute minute `t` (minute 0 =
    /// Monday 00:00).
    fn rate(&self, t: f64) -> f64 {
        let hour = (t / 60.0).rem_euclid(24.0);
        let day = ((t / 1440.0).floor() as i64).rem_euclid(7);
        let daily = 1.0 + self.amp * (2.0 * PI * (hour - self.peak) / 24.0).cos();
        let weekly = if day >= 5 { self.weekend } else { 1.0 };
        self.mean * daily * weekly
    }
}

enum Shape {
    Traffic,
    Daily {
        amp: f64,
        peak: f64,
    },
    /// A nightly job: `boost` times the base rate from `start` for `hours`
    /// hours (clock time), the base rate otherwise, whatever the traffic.
    Nightly {
        start: f64,
        hours: f64,
        boost: f64,
    },
    Flat,
}

struct Background {
    rate: f64,
    shape: Shape,
    alpha: f64,
    drift: Vec<f64>,
    users: f64,
}

/// Generate scenario `index` of the stream seeded by `seed`.
pub fn generate(seed: u64, index: u64, cfg: &ScenarioConfig) -> Scenario {
    let mut rng = Rng::new(seed ^ index.wrapping_mul(0xA076_1D64_78BD_642F).rotate_left(17));
    let nb = cfg.baseline_hours;
    let wm = cfg.window_minutes.max(1);
    let traffic = Traffic {
        mean: rng.log_uniform(5_000.0, 200_000.0),
        amp: rng.range(0.3, 0.7),
        peak: rng.range(12.0, 20.0),
        weekend: rng.range(0.5, 0.9),
    };
    // Deploy time: mostly weekday working hours, some at night, some any
    // time.
    let t0 = if rng.chance(cfg.night_deploys) {
        rng.below(7) as f64 * 1440.0 + rng.range(0.0, 5.0 * 60.0)
    } else if rng.chance(0.875) {
        let day = rng.below(5) as f64;
        day * 1440.0 + rng.range(9.0 * 60.0, 18.0 * 60.0)
    } else {
        rng.range(0.0, 7.0 * 1440.0)
    }
    .floor();
    let traffic_known = rng.chance(cfg.traffic_known);
    let surge_p = if traffic_known {
        cfg.surge_when_known
    } else {
        cfg.surge_when_unknown
    };
    let surge = rng.chance(surge_p);
    let surge_factor = if surge { rng.range(1.5, 4.0) } else { 1.0 };

    // Hour buckets: bucket i covers minutes [t0 - (nb - i) * 60, +60);
    // bucket nb is the window (for windows up to an hour; longer windows
    // reuse the same hourly factors).
    let start = |i: usize| t0 - ((nb - i) as f64) * 60.0;
    let mut req_mult: Vec<f64> = (0..nb)
        .map(|_| {
            let surge = if rng.chance(0.005) {
                rng.range(1.5, 3.0)
            } else {
                1.0
            };
            (0.05 * rng.normal()).exp() * surge
        })
        .collect();
    req_mult.push((0.05 * rng.normal()).exp() * surge_factor);
    // Expected traffic per bucket (before noise) and realised requests.
    let req_rate: Vec<f64> = (0..=nb)
        .map(|i| traffic.rate(start(i) + 30.0) * req_mult[i])
        .collect();
    let requests: Vec<u64> = req_rate.iter().map(|&r| rng.poisson(r)).collect();
    let window_requests = (requests[nb] as f64 * wm as f64 / 60.0).round() as u64;

    // The hours after the first window (second look), from their own
    // stream: traffic goes on with its cycle, a surge lasts 1-4 hours.
    let mut fu =
        Rng::new(seed.rotate_left(29) ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5EC0);
    let fh = if wm == 60 { cfg.follow_up_hours } else { 0 };
    let surge_hours = if surge { 1 + fu.below(4) } else { 0 };
    let fu_req_rate: Vec<f64> = (1..=fh)
        .map(|h| {
            let boost = if h < surge_hours { surge_factor } else { 1.0 };
            traffic.rate(t0 + 60.0 * h as f64 + 30.0) * (0.05 * fu.normal()).exp() * boost
        })
        .collect();
    let fu_requests: Vec<u64> = fu_req_rate.iter().map(|&r| fu.poisson(r)).collect();

    let change = {
        let u = rng.uniform();
        if u < cfg.p_none {
            Change::None
        } else if u < cfg.p_none + cfg.p_new {
            Change::NewError {
                share: rng.log_uniform(1e-4, 2e-2),
            }
        } else {
            Change::Multiply {
                factor: cfg
                    .factors
                    .get(rng.below(cfg.factors.len()))
                    .copied()
                    .unwrap_or(3.0),
            }
        }
    };

    let n_sig = cfg.min_signatures + rng.below(cfg.max_signatures - cfg.min_signatures + 1);
    let days = nb.div_ceil(24) + 2;
    let bgs: Vec<Background> = (0..n_sig)
        .map(|_| {
            let rate = 10f64.powf(rng.range(-2.5, 2.0));
            let shape = {
                let u = rng.uniform();
                let own = 0.90 - cfg.nightly_signatures;
                if u < own * 0.857 {
                    Shape::Traffic
                } else if u < own {
                    Shape::Daily {
                        amp: rng.range(0.3, 0.9),
                        peak: rng.range(0.0, 24.0),
                    }
                } else if u < 0.90 {
                    Shape::Nightly {
                        start: rng.range(0.0, 4.0),
                        hours: rng.range(1.0, 4.0),
                        boost: rng.log_uniform(5.0, 30.0),
                    }
                } else {
                    Shape::Flat
                }
            };
            let alpha = if rng.chance(0.3) {
                0.0
            } else {
                rng.log_uniform(0.01, 0.3)
            };
            let mut level = 0.0;
            let drift = (0..days)
                .map(|_| {
                    level += 0.05 * rng.normal();
                    level
                })
                .collect();
            Background {
                rate,
                shape,
                alpha,
                drift,
                users: rng.log_uniform(20.0, 100_000.0),
            }
        })
        .collect();

    // Which background signature the deploy multiplies: one firing at
    // least once an hour on average.
    let eligible: Vec<usize> = (0..n_sig).filter(|&j| bgs[j].rate >= 1.0).collect();
    let multiplied = match change {
        Change::Multiply { .. } if !eligible.is_empty() => {
            Some(eligible[rng.below(eligible.len())])
        }
        _ => None,
    };
    let change = if matches!(change, Change::Multiply { .. }) && multiplied.is_none() {
        Change::None
    } else {
        change
    };

    // A previous deploy `prev_hours` before this one, and the signature it
    // raised (never the one this deploy multiplies).
    let prev_hours = rng
        .chance(cfg.previous_deploy)
        .then(|| 1 + rng.below(12.min(nb.saturating_sub(1)).max(1)));
    let raised: Option<(usize, f64)> = match prev_hours {
        Some(_) if rng.chance(cfg.previous_raised) => {
            let others: Vec<usize> = eligible
                .iter()
                .copied()
                .filter(|&j| multiplied != Some(j))
                .collect();
            (!others.is_empty()).then(|| (others[rng.below(others.len())], rng.range(3.0, 5.0)))
        }
        _ => None,
    };

    let known = |v: Vec<u64>| if traffic_known { Some(v) } else { None };
    let mut signatures = Vec::with_capacity(n_sig + 4);
    let mut truth = Vec::with_capacity(n_sig + 4);
    let mut detail = Vec::with_capacity(n_sig + 4);

    // Per signature (aligned with `signatures`, then later ones): the
    // minute counts from the deploy over the follow-up span, the user
    // population, and the truth over that span.
    let mut long: Vec<Vec<u64>> = Vec::with_capacity(n_sig + 4);
    let mut long_users: Vec<f64> = Vec::with_capacity(n_sig + 4);

    for (j, bg) in bgs.iter().enumerate() {
        // Expected events per hour at minute `t` with `req` requests that
        // hour, without frailty.
        let mean_at_t = |t: f64, req: f64| -> f64 {
            let day_idx = ((t - (t0 - nb as f64 * 60.0)) / 1440.0).floor().max(0.0) as usize;
            let drift = bg.drift[day_idx.min(bg.drift.len() - 1)].exp();
            let shape = match bg.shape {
                Shape::Traffic => req / traffic.mean,
                Shape::Daily { amp, peak } => {
                    let hour = (t / 60.0).rem_euclid(24.0);
                    1.0 + amp * (2.0 * PI * (hour - peak) / 24.0).cos()
                }
                Shape::Nightly {
                    start,
                    hours,
                    boost,
                } => {
                    let hour = (t / 60.0).rem_euclid(24.0);
                    if hour >= start && hour < start + hours {
                        boost
                    } else {
                        1.0
                    }
                }
                Shape::Flat => 1.0,
            };
            bg.rate * shape * drift
        };
        let mean_at = |i: usize| mean_at_t(start(i) + 30.0, req_rate[i]);
        let frailty = |rng: &mut Rng| {
            if bg.alpha > 0.0 {
                rng.gamma(1.0 / bg.alpha) * bg.alpha
            } else {
                1.0
            }
        };
        // Raised by the previous deploy from its hour on.
        let raise = match (raised, prev_hours) {
            (Some((r, factor)), Some(h)) if r == j => Some((factor, nb - h)),
            _ => None,
        };
        let raise_at = |i: usize| match raise {
            Some((factor, from)) if i >= from => factor,
            _ => 1.0,
        };
        let counts: Vec<u64> = (0..nb)
            .map(|i| {
                let f = frailty(&mut rng);
                rng.poisson(mean_at(i) * f * raise_at(i))
            })
            .collect();
        let mut w_mean = mean_at(nb) * wm as f64 / 60.0 * raise_at(nb);
        let mut multiplier = raise_at(nb);
        let mut t = match raise {
            Some((factor, _)) => Truth::RaisedBefore { factor },
            None => Truth::Background,
        };
        if multiplied == Some(j) {
            if let Change::Multiply { factor } = change {
                let excess = w_mean * (factor - 1.0);
                t = Truth::InjectedMultiply {
                    factor,
                    base_rate: bg.rate,
                    base_mean: w_mean,
                    alpha: bg.alpha,
                    excess,
                    excess_share: excess / window_requests.max(1) as f64,
                };
                w_mean *= factor;
                multiplier *= factor;
            }
        }
        let f = frailty(&mut rng);
        let window = per_minute(&mut rng, w_mean * f, wm);
        let total: u64 = window.iter().sum();
        let mut span = window.clone();
        for (h, &req) in (1..=fh).zip(&fu_req_rate) {
            let mean = mean_at_t(t0 + 60.0 * h as f64 + 30.0, req) * multiplier;
            let f = frailty(&mut fu);
            span.extend(per_minute(&mut fu, mean * f, 60));
        }
        long.push(span);
        long_users.push(bg.users);
        signatures.push(SignatureWindow {
            signature: format!("bg-{j:03}"),
            baseline: Baseline {
                counts,
                requests: known(requests[..nb].to_vec()),
            },
            window: Window {
                counts: window,
                requests: traffic_known.then_some(window_requests),
                distinct_users: Some(distinct(bg.users, total)),
            },
        });
        truth.push(t);
        detail.push(format!(
            "rate {:.3}/h, {}, alpha {:.3}, drift {:.3}..{:.3}",
            bg.rate,
            match bg.shape {
                Shape::Traffic => "traffic-coupled".to_string(),
                Shape::Daily { amp, peak } =>
                    format!("own daily cycle amp {amp:.2} peak {peak:.1}h"),
                Shape::Nightly {
                    start,
                    hours,
                    boost,
                } => format!("nightly peak x{boost:.1} from {start:.1}h for {hours:.1}h"),
                Shape::Flat => "flat".to_string(),
            },
            bg.alpha,
            bg.drift.first().copied().unwrap_or(0.0),
            bg.drift.last().copied().unwrap_or(0.0),
        ));
    }

    // New error from the deploy: a share of requests, many users.
    if let Change::NewError { share } = change {
        let excess = share * window_requests as f64;
        let window = per_minute(&mut rng, excess, wm);
        let total: u64 = window.iter().sum();
        let users = rng.log_uniform(50.0, 100_000.0);
        let mut span = window.clone();
        for &req in &fu_requests {
            span.extend(per_minute(&mut fu, share * req as f64, 60));
        }
        long.push(span);
        long_users.push(users);
        signatures.push(SignatureWindow {
            signature: "deploy-new".to_string(),
            baseline: Baseline {
                counts: vec![0; nb],
                requests: known(requests[..nb].to_vec()),
            },
            window: Window {
                counts: window,
                requests: traffic_known.then_some(window_requests),
                distinct_users: Some(distinct(users, total)),
            },
        });
        truth.push(Truth::InjectedNew {
            share,
            excess,
            excess_share: share,
        });
        detail.push("deploy new error".to_string());
    }

    // One-off noise: a bot or a single user hitting a weird path.
    let n_noise = rng.poisson(cfg.noise_signatures);
    for k in 0..n_noise {
        let events = 1 + rng.below(4) as u64;
        let mut window = vec![0u64; wm];
        let at = rng.below(wm);
        window[at] = events;
        let mut span = window.clone();
        span.resize(wm + 60 * fh, 0);
        long.push(span);
        long_users.push(1.0);
        signatures.push(SignatureWindow {
            signature: format!("noise-{k}"),
            baseline: Baseline {
                counts: vec![0; nb],
                requests: known(requests[..nb].to_vec()),
            },
            window: Window {
                counts: window,
                requests: traffic_known.then_some(window_requests),
                distinct_users: Some(1),
            },
        });
        truth.push(Truth::Noise);
        detail.push("noise".to_string());
    }

    // Third-party outages: a dependency fails for 20 minutes to 3 hours and
    // one signature (existing or a dedicated one) fires 20-500 times an hour.
    let mut outages: Vec<(f64, f64, bool)> = Vec::new(); // (start, end, touches window)
    for _ in 0..rng.poisson(cfg.outages_in_baseline) {
        let s = t0 - rng.range(2.0 * 60.0, nb as f64 * 60.0);
        let d = rng.range(20.0, 180.0);
        outages.push((s, (s + d).min(t0 - 60.0), false));
    }
    if rng.chance(cfg.outage_in_progress) {
        let s = t0 - rng.range(10.0, 120.0);
        outages.push((s, t0 + rng.range(30.0, 180.0), true));
    }
    if rng.chance(cfg.outage_in_window) {
        let s = t0 + rng.range(0.0, wm as f64 - 10.0);
        outages.push((s, s + rng.range(20.0, 180.0), true));
    }
    for (k, &(s, e, touches)) in outages.iter().enumerate() {
        let rate = rng.log_uniform(20.0, 500.0);
        let overlap = |a: f64, b: f64| ((e.min(b) - s.max(a)).max(0.0)) / 60.0;
        let extra_b: Vec<u64> = (0..nb)
            .map(|i| rng.poisson(rate * overlap(start(i), start(i) + 60.0)))
            .collect();
        let extra_w: Vec<u64> = (0..wm)
            .map(|m| {
                let a = t0 + m as f64;
                rng.poisson(rate * overlap(a, a + 1.0))
            })
            .collect();
        let before = s < t0;
        // The outage's events after the first window (second look).
        let after_w: Vec<u64> = (wm..wm + 60 * fh)
            .map(|m| {
                let a = t0 + m as f64;
                fu.poisson(rate * overlap(a, a + 1.0))
            })
            .collect();
        let target = if rng.chance(0.5) && n_sig > 0 {
            Some(rng.below(n_sig))
        } else {
            None
        };
        match target {
            Some(j) if multiplied != Some(j) => {
                let sw = &mut signatures[j];
                for (c, x) in sw.baseline.counts.iter_mut().zip(&extra_b) {
                    *c += x;
                }
                for (c, x) in sw.window.counts.iter_mut().zip(&extra_w) {
                    *c += x;
                }
                for (c, x) in long[j].iter_mut().zip(extra_w.iter().chain(&after_w)) {
                    *c += x;
                }
                let total = sw.window.total();
                sw.window.distinct_users = Some(distinct(5_000.0, total));
                if touches {
                    truth[j] = Truth::Outage {
                        before_window: before,
                    };
                }
            }
            _ => {
                let total: u64 = extra_w.iter().sum();
                if total == 0 && extra_b.iter().all(|&x| x == 0) {
                    continue;
                }
                long.push(extra_w.iter().chain(&after_w).copied().collect());
                long_users.push(5_000.0);
                signatures.push(SignatureWindow {
                    signature: format!("outage-{k}"),
                    baseline: Baseline {
                        counts: extra_b,
                        requests: known(requests[..nb].to_vec()),
                    },
                    window: Window {
                        counts: extra_w,
                        requests: traffic_known.then_some(window_requests),
                        distinct_users: Some(distinct(5_000.0, total)),
                    },
                });
                detail.push("dedicated outage signature".to_string());
                truth.push(if touches {
                    Truth::Outage {
                        before_window: before,
                    }
                } else {
                    Truth::Background
                });
            }
        }
    }

    // What the runner would read since the previous deploy: the last
    // `prev_hours` baseline hours of every signature.
    let since = prev_hours.map(|h| {
        let from = nb - h;
        let counts = signatures
            .iter()
            .map(|s| s.baseline.counts[from..].iter().sum())
            .collect();
        let previous = SincePrevious {
            revision: "previous".to_string(),
            minutes: u32::try_from(h * 60).unwrap_or(u32::MAX),
            requests: traffic_known.then(|| requests[from..nb].iter().sum()),
        };
        (previous, counts)
    });

    let follow_up = (fh > 0).then(|| {
        let extra = FollowUpExtras {
            rng: &mut fu,
            cfg,
            first_minutes: wm,
            hours: fh,
            baseline_hours: nb,
            multiplied,
        };
        extra.finish(long, long_users, &signatures, &truth, traffic_known)
    });
    let follow_up = follow_up.map(|mut f| {
        f.hour_requests = std::iter::once(requests[nb]).chain(fu_requests).collect();
        for s in &mut f.signatures {
            s.baseline.requests = known(requests[..nb].to_vec());
        }
        f
    });

    Scenario {
        seed,
        index,
        change,
        traffic_known,
        surge,
        signatures,
        truth,
        detail,
        since,
        follow_up,
    }
}

/// What first happens after the first window: one-off noise every hour,
/// outages starting later, and the next deploy cutting the span short.
struct FollowUpExtras<'a> {
    rng: &'a mut Rng,
    cfg: &'a ScenarioConfig,
    first_minutes: usize,
    hours: usize,
    baseline_hours: usize,
    multiplied: Option<usize>,
}

impl FollowUpExtras<'_> {
    fn finish(
        self,
        mut long: Vec<Vec<u64>>,
        mut users: Vec<f64>,
        first: &[SignatureWindow],
        first_truth: &[Truth],
        traffic_known: bool,
    ) -> FollowUp {
        let rng = self.rng;
        let span = self.first_minutes + 60 * self.hours;
        let mut signatures: Vec<SignatureWindow> = first.to_vec();
        let mut truth = first_truth.to_vec();
        let empty = |name: String| SignatureWindow {
            signature: name,
            baseline: Baseline {
                counts: vec![0; self.baseline_hours],
                requests: None,
            },
            window: Window::default(),
        };
        for h in 1..=self.hours {
            let hour_start = self.first_minutes + 60 * (h - 1);
            for k in 0..rng.poisson(self.cfg.noise_signatures) {
                let mut counts = vec![0u64; span];
                counts[hour_start + rng.below(60)] = 1 + rng.below(4) as u64;
                signatures.push(empty(format!("noise-h{h}-{k}")));
                truth.push(Truth::Noise);
                long.push(counts);
                users.push(1.0);
            }
            if rng.chance(self.cfg.outage_in_window) {
                let s = hour_start as f64 + rng.range(0.0, 50.0);
                let e = s + rng.range(20.0, 180.0);
                let rate = rng.log_uniform(20.0, 500.0);
                let events: Vec<u64> = (0..span)
                    .map(|m| {
                        let covered = ((m as f64 + 1.0).min(e) - (m as f64).max(s)).max(0.0);
                        rng.poisson(rate * covered / 60.0)
                    })
                    .collect();
                let n_first = first.len();
                let target = (rng.chance(0.5) && n_first > 0).then(|| rng.below(n_first));
                match target {
                    Some(j) if self.multiplied != Some(j) && !first_truth[j].injected() => {
                        for (c, x) in long[j].iter_mut().zip(&events) {
                            *c += x;
                        }
                        truth[j] = Truth::Outage {
                            before_window: false,
                        };
                        users[j] = users[j].max(5_000.0);
                    }
                    _ => {
                        signatures.push(empty(format!("outage-h{h}")));
                        truth.push(Truth::Outage {
                            before_window: false,
                        });
                        long.push(events);
                        users.push(5_000.0);
                    }
                }
            }
        }
        let minutes = if rng.chance(self.cfg.next_deploy) {
            (rng.range(60.0, 720.0).floor() as usize).min(span)
        } else {
            span
        };
        for (s, counts) in signatures.iter_mut().zip(long) {
            s.window.counts = counts;
        }
        FollowUp {
            minutes,
            hour_requests: Vec::new(),
            signatures,
            truth,
            users,
            traffic_known,
        }
    }
}

/// Spread a window's expected count over its minutes (Poisson per minute,
/// so the total is Poisson with the given mean).
fn per_minute(rng: &mut Rng, mean: f64, minutes: usize) -> Vec<u64> {
    let m = mean / minutes as f64;
    (0..minutes).map(|_| rng.poisson(m)).collect()
}

/// Expected distinct users among `events` events drawn uniformly from a
/// population of `users`.
fn distinct(users: f64, events: u64) -> u64 {
    let u = users.max(1.0);
    let d = u * (1.0 - (1.0 - 1.0 / u).powf(events as f64));
    (d.round() as u64).clamp(u64::from(events > 0), events)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poisson_sampler_has_the_right_mean_and_variance() {
        let mut rng = Rng::new(42);
        for &mean in &[0.3, 4.0, 25.0, 800.0] {
            let n = 20_000;
            let xs: Vec<f64> = (0..n).map(|_| rng.poisson(mean) as f64).collect();
            let m = xs.iter().sum::<f64>() / n as f64;
            let v = xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1) as f64;
            // Standard error of the mean is sqrt(mean / n); allow 5 of them.
            assert!(
                (m - mean).abs() < 5.0 * (mean / n as f64).sqrt(),
                "{mean}: {m}"
            );
            assert!((v / mean - 1.0).abs() < 0.1, "{mean}: var {v}");
        }
    }

    #[test]
    fn gamma_sampler_has_the_right_mean_and_variance() {
        let mut rng = Rng::new(7);
        for &shape in &[0.5, 3.0, 30.0] {
            let n = 20_000;
            let xs: Vec<f64> = (0..n).map(|_| rng.gamma(shape)).collect();
            let m = xs.iter().sum::<f64>() / n as f64;
            let v = xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1) as f64;
            assert!((m / shape - 1.0).abs() < 0.05, "{shape}: {m}");
            assert!((v / shape - 1.0).abs() < 0.1, "{shape}: {v}");
        }
    }

    #[test]
    fn generation_is_deterministic_and_consistent() {
        let cfg = ScenarioConfig::default();
        let a = generate(3, 11, &cfg);
        let b = generate(3, 11, &cfg);
        assert_eq!(a.signatures, b.signatures);
        assert_eq!(a.signatures.len(), a.truth.len());
        for s in &a.signatures {
            assert_eq!(s.baseline.counts.len(), cfg.baseline_hours);
            assert_eq!(s.window.counts.len(), cfg.window_minutes);
        }
        assert!(a.signatures.len() >= cfg.min_signatures);
    }
}

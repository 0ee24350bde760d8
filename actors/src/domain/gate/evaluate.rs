//! Two-gate comparison on generated scenarios: (a) the original design's
//! plain Poisson test and (b) the gate in `crate::domain::gate::decide`, on the same data.
//!
//! A signature counts as flagged for a deploy when the plain test says
//! p < 0.05, and when the gate's verdict is `regression` or `new` (a `spike`
//! verdict is explicitly not attributed to the deploy). A flag is true when
//! the deploy injected that signature's change; anything else flagged is a
//! false flag, whatever caused it (noise, drift, seasonality, an outage).

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::domain::gate::config::GateConfig;
use crate::domain::gate::decide::{self, Verdict};
use crate::domain::gate::scenario::{self, Change, Scenario, ScenarioConfig, Truth};
use crate::domain::gate::series::SignatureWindow;
use crate::domain::gate::{second_look, since, stats};

/// Level of the original design's test.
pub const PLAIN_ALPHA: f64 = 0.05;

/// An injected change is "material" when its true excess reaches one
/// request in 10,000 (traffic known) or 0.1 extra events per minute (traffic
/// unknown). Fixed here, independently of the gate's configuration, so the
/// recall target cannot be moved by tuning the gate's floors.
pub const MATERIAL_SHARE: f64 = 1e-4;
pub const MATERIAL_PER_MINUTE: f64 = 0.1;

/// p-value the oracle needs: about what BH at 1% needs over the ~100
/// testable signatures of a deploy.
pub const ORACLE_P: f64 = 1e-4;

/// The original design, faithfully: the 7-day baseline's hourly rate is
/// taken as the exact Poisson mean (flat, per hour, no traffic), the window
/// count is tested one-sided at p < 0.05 with no correction, and a signature
/// with no baseline event gets p = (e_w / (e_w + e_b))^x, i.e. 1/169 for its
/// first event (as the issue states), so it is flagged on that first event.
/// Returns p per signature.
pub fn plain_poisson(signatures: &[SignatureWindow]) -> Vec<f64> {
    signatures
        .iter()
        .map(|s| {
            let x = s.window.total();
            let e_w = s.window.minutes() as f64 / 60.0;
            let e_b = s.baseline.counts.len() as f64;
            let x_b = s.baseline.total();
            if e_b <= 0.0 || e_w <= 0.0 {
                return 1.0;
            }
            if x_b == 0 {
                return stats::conditional_poisson_p(x, e_w, 0, e_b);
            }
            stats::poisson_upper(x, x_b as f64 / e_b * e_w)
        })
        .collect()
}

/// Counts for one gate.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Tally {
    pub true_flags: u64,
    pub false_flags: u64,
    /// False flags on third-party outage signatures (subset of false_flags).
    pub outage_flags: u64,
    /// False flags in no-change deploys, total and by condition.
    pub none_false_flags: u64,
    pub none_false_known: u64,
    pub none_false_unknown: u64,
    pub none_false_surge: u64,
    /// Recall strata: (detected, injected).
    pub new_big: (u64, u64),
    pub new_small_material: (u64, u64),
    pub new_immaterial: (u64, u64),
    pub mult_ge3_material: (u64, u64),
    /// Material >= 3x regressions that an oracle knowing the true pre-deploy
    /// mean and overdispersion detects (NB tail p < ORACLE_P): the part of
    /// the target any test could reach on this data.
    pub mult_ge3_oracle: (u64, u64),
    /// The oracle's own recall on material >= 3x.
    pub oracle_ge3_material: (u64, u64),
    pub mult_ge3_immaterial: (u64, u64),
    pub mult_lt3_material: (u64, u64),
    pub mult_lt3_immaterial: (u64, u64),
    /// Signatures a previous deploy raised, flagged again by this one
    /// (subset of false_flags), and how many there were.
    pub reflags: (u64, u64),
}

impl Tally {
    pub fn precision(&self) -> f64 {
        ratio(self.true_flags, self.true_flags + self.false_flags)
    }

    /// Recall over the target population: new errors >= 0.5% of requests
    /// and material regressions of 3x or more.
    pub fn target_recall(&self) -> (u64, u64) {
        (
            self.new_big.0 + self.mult_ge3_material.0,
            self.new_big.1 + self.mult_ge3_material.1,
        )
    }

    pub fn all_recall(&self) -> (u64, u64) {
        let s = [
            self.new_big,
            self.new_small_material,
            self.new_immaterial,
            self.mult_ge3_material,
            self.mult_ge3_immaterial,
            self.mult_lt3_material,
            self.mult_lt3_immaterial,
        ];
        s.iter().fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
    }
}

/// Continuous-mode figures (gate only; the original design has none).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ContinuousTally {
    pub batches: u64,
    /// Outage signatures active in the window: (flagged as spike, total).
    pub outages: (u64, u64),
    /// Spikes on signatures that were not an outage.
    pub false_spikes: u64,
}

/// The whole evaluation.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Report {
    pub seed: u64,
    pub deploys: u64,
    pub none_deploys: u64,
    pub none_known: u64,
    pub none_unknown: u64,
    pub none_surge: u64,
    pub new_deploys: u64,
    pub multiply_deploys: u64,
    pub signatures: u64,
    pub plain: Tally,
    pub gate: Tally,
    pub continuous: ContinuousTally,
    /// Deploys with a previous deploy in the last 12 hours.
    pub with_previous: u64,
    /// The gate's re-flags before the level-since-the-previous-deploy rule
    /// (`gate::since`) is applied: what the rule prevents.
    pub reflags_without_since: u64,
    /// Deploys judged a second time over a longer span.
    pub second_looks: u64,
    /// Flags the second look added (the first look had not flagged them):
    /// true, false, and false in no-change deploys.
    pub second_look_true: u64,
    pub second_look_false: u64,
    pub second_look_none_false: u64,
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        f64::NAN
    } else {
        a as f64 / b as f64
    }
}

fn material(t: &Truth, traffic_known: bool, window_minutes: f64) -> bool {
    let (excess, share) = match *t {
        Truth::InjectedNew {
            excess,
            excess_share,
            ..
        }
        | Truth::InjectedMultiply {
            excess,
            excess_share,
            ..
        } => (excess, excess_share),
        _ => return false,
    };
    if traffic_known {
        share >= MATERIAL_SHARE
    } else {
        excess / window_minutes >= MATERIAL_PER_MINUTE
    }
}

fn bump(cell: &mut (u64, u64), hit: bool) {
    cell.1 += 1;
    if hit {
        cell.0 += 1;
    }
}

/// Counts one deploy's flags. `truth` is the scenario's truth over what was
/// judged: the first window's, or the second look's span (which adds the
/// signatures that first fired later).
fn tally(t: &mut Tally, sc: &Scenario, truth: &[Truth], flagged: &[bool], window_minutes: f64) {
    for (i, (truth, &hit)) in truth.iter().zip(flagged).enumerate() {
        match *truth {
            Truth::InjectedNew { share, .. } => {
                let cell = if share >= 0.005 {
                    &mut t.new_big
                } else if material(truth, sc.traffic_known, window_minutes) {
                    &mut t.new_small_material
                } else {
                    &mut t.new_immaterial
                };
                bump(cell, hit);
            }
            Truth::InjectedMultiply {
                factor,
                base_mean,
                alpha,
                ..
            } => {
                let m = material(truth, sc.traffic_known, window_minutes);
                if factor >= 3.0 && m {
                    let x = sc.signatures.get(i).map_or(0, |s| s.window.total());
                    let oracle = stats::negbin_upper(x, base_mean, alpha) < ORACLE_P;
                    bump(&mut t.oracle_ge3_material, oracle);
                    if oracle {
                        bump(&mut t.mult_ge3_oracle, hit);
                    }
                }
                let cell = match (factor >= 3.0, m) {
                    (true, true) => &mut t.mult_ge3_material,
                    (true, false) => &mut t.mult_ge3_immaterial,
                    (false, true) => &mut t.mult_lt3_material,
                    (false, false) => &mut t.mult_lt3_immaterial,
                };
                bump(cell, hit);
            }
            Truth::RaisedBefore { .. } => bump(&mut t.reflags, hit),
            _ => {}
        }
        if hit {
            if truth.injected() {
                t.true_flags += 1;
            } else {
                t.false_flags += 1;
                if matches!(truth, Truth::Outage { .. }) {
                    t.outage_flags += 1;
                }
                if sc.change == Change::None {
                    t.none_false_flags += 1;
                    if sc.traffic_known {
                        t.none_false_known += 1;
                    } else {
                        t.none_false_unknown += 1;
                    }
                    if sc.surge {
                        t.none_false_surge += 1;
                    }
                }
            }
        }
    }
}

/// Generate `deploys` scenarios from `seed` and judge each with both gates.
pub fn evaluate(seed: u64, deploys: u64, scen: &ScenarioConfig, cfg: &GateConfig) -> Report {
    let mut r = Report {
        seed,
        deploys,
        ..Report::default()
    };
    let wm = scen.window_minutes as f64;
    for i in 0..deploys {
        let sc = scenario::generate(seed, i, scen);
        r.signatures += sc.signatures.len() as u64;
        match sc.change {
            Change::None => {
                r.none_deploys += 1;
                if sc.traffic_known {
                    r.none_known += 1;
                } else {
                    r.none_unknown += 1;
                }
                if sc.surge {
                    r.none_surge += 1;
                }
            }
            Change::NewError { .. } => r.new_deploys += 1,
            Change::Multiply { .. } => r.multiply_deploys += 1,
        }
        let plain: Vec<bool> = plain_poisson(&sc.signatures)
            .iter()
            .map(|&p| p < PLAIN_ALPHA)
            .collect();
        tally(&mut r.plain, &sc, &sc.truth, &plain, wm);
        let mut decisions = decide::judge_deploy(&sc.signatures, cfg);
        if let Some((previous, counts)) = &sc.since {
            r.with_previous += 1;
            r.reflags_without_since += decisions
                .iter()
                .zip(&sc.truth)
                .filter(|(d, t)| matches!(t, Truth::RaisedBefore { .. }) && attributed(d.verdict))
                .count() as u64;
            since::apply(&mut decisions, &sc.signatures, counts, previous, cfg);
        }
        let mut gate: Vec<bool> = decisions.iter().map(|d| attributed(d.verdict)).collect();
        let truth = match second_look_flags(&sc, &decisions, cfg) {
            Some((second, truth)) => {
                r.second_looks += 1;
                gate.resize(truth.len(), false);
                for (i, &hit) in second.iter().enumerate() {
                    if hit {
                        gate[i] = true;
                        if truth[i].injected() {
                            r.second_look_true += 1;
                        } else {
                            r.second_look_false += 1;
                            if sc.change == Change::None {
                                r.second_look_none_false += 1;
                            }
                        }
                    }
                }
                truth
            }
            None => &sc.truth,
        };
        tally(&mut r.gate, &sc, truth, &gate, wm);
        if sc.change == Change::None {
            // With nothing deployed the window is an ordinary batch window.
            r.continuous.batches += 1;
            for (d, t) in decide::judge_continuous(&sc.signatures, cfg)
                .iter()
                .zip(&sc.truth)
            {
                let spike = d.verdict == Verdict::Spike;
                if matches!(t, Truth::Outage { .. }) {
                    bump(&mut r.continuous.outages, spike);
                } else if matches!(t, Truth::RaisedBefore { .. }) {
                    // Really elevated (by the previous deploy): the runner's
                    // cooldown decides whether it is a new candidate.
                } else if spike {
                    r.continuous.false_spikes += 1;
                }
            }
        }
    }
    r
}

/// What counts as the gate flagging a signature for this deploy.
/// The second look's flags over the scenario's follow-up span (cut at the
/// next deploy) and the truth over that span, when the gate has a second
/// look and the span is longer than the first window.
fn second_look_flags<'a>(
    sc: &'a Scenario,
    first: &[decide::Decision],
    cfg: &GateConfig,
) -> Option<(Vec<bool>, &'a [Truth])> {
    let (decisions, truth) = second_look_decisions(sc, first, cfg)?;
    Some((
        decisions.iter().map(|d| attributed(d.verdict)).collect(),
        truth,
    ))
}

/// The second look's decisions over the scenario's follow-up span, with the
/// truth over that span (see [`second_look_flags`]).
pub fn second_look_decisions<'a>(
    sc: &'a Scenario,
    first: &[decide::Decision],
    cfg: &GateConfig,
) -> Option<(Vec<decide::Decision>, &'a [Truth])> {
    let follow_up = sc.follow_up.as_ref()?;
    let first_minutes = sc.signatures.first()?.window.minutes();
    let minutes = (cfg.second_look_minutes()? as usize).min(follow_up.minutes);
    if minutes as u64 <= first_minutes {
        return None;
    }
    let span = follow_up.span(minutes);
    let mut decisions = second_look::judge(&span, first, first_minutes, cfg);
    if let Some((previous, counts)) = &sc.since {
        let mut counts = counts.clone();
        counts.resize(span.len(), 0);
        since::apply(
            &mut decisions,
            &span,
            &counts,
            previous,
            &second_look::level(cfg),
        );
    }
    Some((decisions, &follow_up.truth))
}

fn attributed(v: Verdict) -> bool {
    matches!(v, Verdict::Regression | Verdict::New)
}

fn pct(c: (u64, u64)) -> String {
    if c.1 == 0 {
        "   n/a          ".to_string()
    } else {
        format!("{:>6.3} ({:>4}/{:<4})", ratio(c.0, c.1), c.0, c.1)
    }
}

impl Report {
    /// The comparison table, as printed by `examples/gate_eval.rs`.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let p = &self.plain;
        let g = &self.gate;
        let _ = writeln!(
            s,
            "seed {}: {} deploys ({} no-change [{} traffic known, {} unknown, {} with surge], {} new error, {} multiply), {} signatures judged",
            self.seed,
            self.deploys,
            self.none_deploys,
            self.none_known,
            self.none_unknown,
            self.none_surge,
            self.new_deploys,
            self.multiply_deploys,
            self.signatures
        );
        let _ = writeln!(s);
        let _ = writeln!(s, "| metric | plain Poisson (original) | new gate |");
        let _ = writeln!(s, "| --- | --- | --- |");
        let row = |s: &mut String, name: &str, a: String, b: String| {
            let _ = writeln!(s, "| {name} | {a} | {b} |");
        };
        row(
            &mut s,
            "precision (true flags / all flags)",
            format!(
                "{:.3} ({}/{})",
                p.precision(),
                p.true_flags,
                p.true_flags + p.false_flags
            ),
            format!(
                "{:.3} ({}/{})",
                g.precision(),
                g.true_flags,
                g.true_flags + g.false_flags
            ),
        );
        row(
            &mut s,
            "**recall, target** (new >= 0.5% or material >= 3x)",
            pct(p.target_recall()),
            pct(g.target_recall()),
        );
        row(
            &mut s,
            "recall, new error >= 0.5% of requests",
            pct(p.new_big),
            pct(g.new_big),
        );
        row(
            &mut s,
            "recall, material multiply >= 3x",
            pct(p.mult_ge3_material),
            pct(g.mult_ge3_material),
        );
        row(
            &mut s,
            "recall, material >= 3x that an oracle detects (true mean and dispersion, p < 1e-4)",
            pct(p.mult_ge3_oracle),
            pct(g.mult_ge3_oracle),
        );
        row(
            &mut s,
            "(the oracle's own recall on material >= 3x)",
            pct(p.oracle_ge3_material),
            pct(g.oracle_ge3_material),
        );
        row(
            &mut s,
            "recall, new error 0.01%-0.5% (material)",
            pct(p.new_small_material),
            pct(g.new_small_material),
        );
        row(
            &mut s,
            "recall, material multiply 1.5x-2x",
            pct(p.mult_lt3_material),
            pct(g.mult_lt3_material),
        );
        row(
            &mut s,
            "recall, immaterial multiply >= 3x",
            pct(p.mult_ge3_immaterial),
            pct(g.mult_ge3_immaterial),
        );
        row(
            &mut s,
            "recall, immaterial multiply 1.5x-2x",
            pct(p.mult_lt3_immaterial),
            pct(g.mult_lt3_immaterial),
        );
        row(
            &mut s,
            "recall, immaterial new error",
            pct(p.new_immaterial),
            pct(g.new_immaterial),
        );
        row(
            &mut s,
            "recall, all injected",
            pct(p.all_recall()),
            pct(g.all_recall()),
        );
        let per = |n: u64, d: u64| format!("{:.3} ({n}/{d})", ratio(n, d));
        row(
            &mut s,
            "**false flags per no-change deploy**",
            per(p.none_false_flags, self.none_deploys),
            per(g.none_false_flags, self.none_deploys),
        );
        row(
            &mut s,
            "  ... traffic known",
            per(p.none_false_known, self.none_known),
            per(g.none_false_known, self.none_known),
        );
        row(
            &mut s,
            "  ... traffic unknown",
            per(p.none_false_unknown, self.none_unknown),
            per(g.none_false_unknown, self.none_unknown),
        );
        row(
            &mut s,
            "  ... with a traffic surge (traffic known)",
            per(p.none_false_surge, self.none_surge),
            per(g.none_false_surge, self.none_surge),
        );
        row(
            &mut s,
            "false flags per deploy, all deploys",
            per(p.false_flags, self.deploys),
            per(g.false_flags, self.deploys),
        );
        row(
            &mut s,
            "  ... of which on third-party outages",
            per(p.outage_flags, self.deploys),
            per(g.outage_flags, self.deploys),
        );
        row(
            &mut s,
            "re-flags: a signature the previous deploy raised, flagged again",
            pct(p.reflags),
            pct(g.reflags),
        );
        let c = &self.continuous;
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "second look: {} deploys judged again over the longer span; it added {} true flags and {} false ({} in no-change deploys, {:.3} per no-change deploy)",
            self.second_looks,
            self.second_look_true,
            self.second_look_false,
            self.second_look_none_false,
            ratio(self.second_look_none_false, self.none_deploys)
        );
        let _ = writeln!(
            s,
            "deploys with a previous deploy in the last 12 h: {}; the gate's re-flags before the level-since-the-previous-deploy rule: {}, after: {}",
            self.with_previous, self.reflags_without_since, g.reflags.0
        );
        let _ = writeln!(
            s,
            "continuous mode (gate only, no-change windows as batches): outage signatures caught as spike {}, false spikes per batch {:.3} ({}/{})",
            pct(c.outages).trim(),
            ratio(c.false_spikes, c.batches),
            c.false_spikes,
            c.batches
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_flags_first_event_of_new_signature() {
        let s = SignatureWindow {
            signature: "x".into(),
            baseline: crate::domain::gate::series::Baseline {
                counts: vec![0; 168],
                requests: None,
            },
            window: crate::domain::gate::series::Window {
                counts: {
                    let mut v = vec![0; 60];
                    v[3] = 1;
                    v
                },
                requests: None,
                distinct_users: None,
            },
        };
        let p = plain_poisson(&[s]);
        assert!((p[0] - 1.0 / 169.0).abs() < 1e-12);
        assert!(p[0] < PLAIN_ALPHA);
    }

    #[test]
    fn small_evaluation_runs() {
        let r = evaluate(1, 5, &ScenarioConfig::default(), &GateConfig::default());
        assert_eq!(r.deploys, 5);
        assert!(r.signatures >= 500);
        assert!(r.render().contains("false flags per no-change deploy"));
    }
}

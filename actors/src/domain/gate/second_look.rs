//! The second look: a deploy judged again over a longer span.
//!
//! One hour is often too little evidence. A signature that fires three
//! times an hour shows a 3x regression as nine events, which a quiet hour
//! followed by a burst also produces; a bursty signature (NB2 alpha 0.3)
//! shows a 3x change as 1.5x in one hour about as often as a normal hour
//! shows as 2x. Over four hours the count is four times larger and the
//! hourly bursts average out (the window's alpha is a quarter of the
//! hour's, [`stats::window_alpha`]), so a change the first window could not
//! separate from noise becomes clear.
//!
//! The second look runs the first look's whole judgement (baseline model,
//! correction across signatures, floors, the pre-deploy check) over the
//! span from the deploy to `gate.second_look` later, or to the next deploy
//! when that comes first, at its own level `gate.second_look_alpha`. Two
//! rules are its own:
//!
//! * a signature the first look already flagged is not flagged again (one
//!   change, one candidate);
//! * the rise must start with the deploy (the onset check): a third-party
//!   outage that begins two hours after the deploy raises the span's count
//!   as much as a regression would, but puts almost none of it in the first
//!   hour. Under "the deploy multiplied the rate", the first window holds
//!   the level seen after it times the first window's share of the
//!   expected count; when it holds significantly fewer (p < [`ONSET_P`],
//!   with the signature's burstiness), the rise began later and is
//!   reported as a `spike`, not attributed to the deploy.
//!
//! Pure: the runner reads the span from the store, the evaluation from the
//! scenario generator.

use std::collections::HashMap;

use crate::domain::gate::config::GateConfig;
use crate::domain::gate::decide::{self, Decision, Verdict, fmt_p};
use crate::domain::gate::series::SignatureWindow;
use crate::domain::gate::stats;

/// Level of the onset check. Strict, because it can only take a flag away:
/// a regression of a bursty signature may have a quiet first hour by
/// chance, while an outage that starts later leaves the first hour at the
/// baseline against tens or hundreds of events after it, far below this.
pub const ONSET_P: f64 = 0.001;

/// Judges `span` (every signature's window from the deploy over the longer
/// span, baselines as in the first look) after the first look's `first`
/// decisions (matched by signature; a signature missing there first fired
/// after the first window). `first_window_minutes` is the first look's
/// window. Decisions are in `span`'s order.
pub fn judge(
    span: &[SignatureWindow],
    first: &[Decision],
    first_window_minutes: u64,
    cfg: &GateConfig,
) -> Vec<Decision> {
    let cfg = level(cfg);
    let first: HashMap<&str, &Decision> = first.iter().map(|d| (d.signature.as_str(), d)).collect();
    let mut decisions = decide::judge_deploy(span, &cfg);
    for (decision, s) in decisions.iter_mut().zip(span) {
        if !matches!(decision.verdict, Verdict::Regression | Verdict::New) {
            continue;
        }
        let earlier = first.get(decision.signature.as_str()).copied();
        if earlier.is_some_and(|d| matches!(d.verdict, Verdict::Regression | Verdict::New)) {
            decision.verdict = Verdict::Pass;
            decision
                .reason
                .push_str("; already flagged by the deploy's first look");
            continue;
        }
        let onset = Onset::of(s, decision, earlier, first_window_minutes);
        if onset.p < ONSET_P {
            decision.verdict = Verdict::Spike;
            decision.reason.push_str(&format!(
                "; not attributed to the deploy: the rise began later ({} of the {} events in the first {} minutes, \
                 where the level after them puts about {:.0} there, p = {})",
                onset.first,
                onset.first + onset.later,
                onset.first_minutes,
                onset.expected_first,
                fmt_p(onset.p)
            ));
        } else {
            decision.reason.push_str(&format!(
                "; second look over the {} minutes since the deploy (the first {} held {} of the {} events, \
                 consistent with a rise from the deploy on)",
                s.window.minutes(),
                onset.first_minutes,
                onset.first,
                onset.first + onset.later
            ));
        }
    }
    decisions
}

/// The onset check's figures for one signature.
struct Onset {
    first: u64,
    later: u64,
    first_minutes: u64,
    /// What the first window would hold at the level seen after it.
    expected_first: f64,
    /// P(the first window holds at most `first`) at that level.
    p: f64,
}

impl Onset {
    /// Under "the deploy multiplied the rate", the first window's count is
    /// the level seen after it, scaled by the first window's share of the
    /// expected count (the baseline model's: the daily cycle, traffic), with
    /// the first hour's own burstiness (the gate's alpha for the signature)
    /// and the uncertainty of that later level (`1 / later`). A signature
    /// never seen before has no model: the share of the time is used.
    fn of(
        s: &SignatureWindow,
        decision: &Decision,
        earlier: Option<&Decision>,
        first_window_minutes: u64,
    ) -> Onset {
        let minutes = s.window.minutes();
        let first_minutes = first_window_minutes.min(minutes);
        let first: u64 = s
            .window
            .counts
            .iter()
            .take(usize::try_from(first_minutes).unwrap_or(usize::MAX))
            .sum();
        let later = s.window.total().saturating_sub(first);
        let share = match earlier {
            Some(e) if stats::positive(e.expected) && e.expected < decision.expected => {
                e.expected / decision.expected
            }
            _ => first_minutes as f64 / minutes.max(1) as f64,
        };
        let later_minutes = minutes.saturating_sub(first_minutes);
        let mut onset = Onset {
            first,
            later,
            first_minutes,
            expected_first: 0.0,
            p: 1.0,
        };
        if later == 0 || later_minutes == 0 || share >= 1.0 {
            return onset;
        }
        onset.expected_first = later as f64 * share / (1.0 - share);
        let hourly = decision.dispersion.unwrap_or(0.0);
        let alpha = hourly + stats::window_alpha(hourly, later_minutes) + 1.0 / later as f64;
        onset.p = 1.0 - stats::negbin_upper(first.saturating_add(1), onset.expected_first, alpha);
        onset
    }
}

/// The configuration the second look judges with: the first look's, at
/// `second_look_alpha` (also for the level-since-the-previous-deploy rule,
/// which reads `alpha`).
pub fn level(cfg: &GateConfig) -> GateConfig {
    GateConfig {
        alpha: cfg.second_look_alpha,
        min_ratio: cfg.second_look_min_ratio,
        ..cfg.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::gate::series::{Baseline, Window};

    /// A week at `rate` per hour, then `window` per-minute counts.
    fn sig(name: &str, rate: u64, window: Vec<u64>) -> SignatureWindow {
        SignatureWindow {
            signature: name.to_string(),
            baseline: Baseline {
                counts: vec![rate; 168],
                requests: None,
            },
            window: Window {
                counts: window,
                requests: None,
                distinct_users: Some(50),
            },
        }
    }

    /// 240 minutes with `per_hour[h]` events spread over hour `h`.
    fn hours(per_hour: [u64; 4]) -> Vec<u64> {
        let mut v = vec![0u64; 240];
        for (h, &n) in per_hour.iter().enumerate() {
            for k in 0..n {
                v[h * 60 + (k as usize * 7) % 60] += 1;
            }
        }
        v
    }

    /// The first look: the span's first hour.
    fn first_look(span: &[SignatureWindow]) -> Vec<Decision> {
        let hour: Vec<SignatureWindow> = span
            .iter()
            .map(|s| {
                let mut s = s.clone();
                s.window.counts.truncate(60);
                s
            })
            .collect();
        decide::judge_deploy(&hour, &GateConfig::default())
    }

    fn family(extra: SignatureWindow) -> Vec<SignatureWindow> {
        let mut v: Vec<SignatureWindow> = (0..40)
            .map(|i| sig(&format!("bg{i}"), 20, hours([20, 20, 20, 20])))
            .collect();
        v.push(extra);
        v
    }

    #[test]
    fn a_sparse_threefold_rise_is_flagged_over_four_hours() {
        // 6/h before; 14, 18, 20, 18 after: one hour of 14 is not enough
        // evidence, four hours of 70 against 24 expected is.
        let span = family(sig("sparse", 6, hours([14, 18, 20, 18])));
        let cfg = GateConfig::default();
        let first = first_look(&span);
        assert_eq!(first[40].verdict, Verdict::Pass, "{}", first[40].reason);
        let second = judge(&span, &first, 60, &cfg);
        assert_eq!(
            second[40].verdict,
            Verdict::Regression,
            "{}",
            second[40].reason
        );
        assert!(
            second[40]
                .reason
                .contains("second look over the 240 minutes")
        );
        assert!(second[..40].iter().all(|d| d.verdict == Verdict::Pass));
    }

    #[test]
    fn a_rise_that_began_hours_after_the_deploy_is_not_the_deploys() {
        // An outage from the third hour on: as many events as a regression,
        // none of the excess in the first hour.
        let span = family(sig("outage", 3, hours([3, 2, 60, 60])));
        let d = judge(&span, &first_look(&span), 60, &GateConfig::default());
        assert_eq!(d[40].verdict, Verdict::Spike, "{}", d[40].reason);
        assert!(
            d[40].reason.contains("the rise began later"),
            "{}",
            d[40].reason
        );
    }

    #[test]
    fn what_the_first_look_flagged_is_not_flagged_twice() {
        let span = family(sig("loud", 3, hours([40, 40, 40, 40])));
        let first = first_look(&span);
        assert_eq!(first[40].verdict, Verdict::Regression);
        let d = judge(&span, &first, 60, &GateConfig::default());
        assert_eq!(d[40].verdict, Verdict::Pass);
        assert!(
            d[40]
                .reason
                .contains("already flagged by the deploy's first look")
        );
    }
}

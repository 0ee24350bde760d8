//! Evaluation harness: generates scenarios and prints the comparison of the
//! original plain Poisson design and the new gate.
//!
//! ```text
//! cargo run --release -j1 --example gate_eval -- [--seed N] [--deploys N] [--config gate.json] [--json] [--misses]
//! ```
//!
//! Defaults: the reporting seed 20260501 and 1000 deploys, then a stress mix
//! (traffic surges with no traffic data) on 200 deploys. Seeds 1 and 2 were
//! used for tuning (see GATE.md); the reporting seed was not looked at while
//! tuning.

use std::process::ExitCode;
use std::time::Instant;

use suture_actors::domain::gate::config::GateConfig;
use suture_actors::domain::gate::decide::{self, Verdict};
use suture_actors::domain::gate::evaluate::{self, evaluate};
use suture_actors::domain::gate::scenario::{self, Change, ScenarioConfig, Truth};
use suture_actors::domain::gate::since;

/// The seed GATE.md's table comes from.
const REPORT_SEED: u64 = 20260501;

fn main() -> ExitCode {
    let mut seed = REPORT_SEED;
    let mut deploys = 1000u64;
    let mut cfg = GateConfig::default();
    let mut json = false;
    let mut misses = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let parsed = match a.as_str() {
            "--seed" => args.next().and_then(|v| v.parse().ok()).map(|v| seed = v),
            "--deploys" => args
                .next()
                .and_then(|v| v.parse().ok())
                .map(|v| deploys = v),
            "--json" => {
                json = true;
                Some(())
            }
            "--misses" => {
                misses = true;
                Some(())
            }
            "--config" => args
                .next()
                .and_then(|path| match std::fs::read_to_string(&path) {
                    Ok(text) => match serde_json::from_str::<GateConfig>(&text) {
                        Ok(c) => {
                            cfg = c;
                            Some(())
                        }
                        Err(e) => {
                            eprintln!("{path}: {e}");
                            None
                        }
                    },
                    Err(e) => {
                        eprintln!("{path}: {e}");
                        None
                    }
                }),
            _ => None,
        };
        if parsed.is_none() {
            eprintln!(
                "usage: gate_eval [--seed N] [--deploys N] [--config gate.json] [--json] [--misses]"
            );
            return ExitCode::from(2);
        }
    }

    let started = Instant::now();
    let main_mix = ScenarioConfig::default();
    if misses {
        print_misses(seed, deploys, &main_mix, &cfg);
        return ExitCode::SUCCESS;
    }
    let report = evaluate(seed, deploys, &main_mix, &cfg);
    let stress_mix = ScenarioConfig {
        traffic_known: 0.0,
        surge_when_unknown: 1.0,
        p_none: 1.0,
        p_new: 0.0,
        ..ScenarioConfig::default()
    };
    let stress = evaluate(seed ^ 0x5EED, deploys / 3, &stress_mix, &cfg);
    if json {
        let out = serde_json::json!({ "main": report, "stress_surge_without_traffic": stress, "config": cfg });
        match serde_json::to_string_pretty(&out) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
        }
        return ExitCode::SUCCESS;
    }
    println!("## Main mix\n");
    println!("{}", report.render());
    println!(
        "## Stress: no-change deploys with a x1.5-4 traffic surge and no traffic data ({} deploys)\n",
        stress.deploys
    );
    println!(
        "false flags per deploy: plain Poisson {:.3}, new gate {:.3}",
        stress.plain.none_false_flags as f64 / stress.none_deploys.max(1) as f64,
        stress.gate.none_false_flags as f64 / stress.none_deploys.max(1) as f64
    );
    println!("\nelapsed {:.1}s", started.elapsed().as_secs_f64());
    ExitCode::SUCCESS
}

/// Every material >= 3x multiplication the gate did not flag, and every
/// false flag on a no-change deploy, with the generating parameters and the
/// gate's reason: what the tuning looked at.
fn print_misses(seed: u64, deploys: u64, scen: &ScenarioConfig, cfg: &GateConfig) {
    for i in 0..deploys {
        let sc = scenario::generate(seed, i, scen);
        let mut decisions = decide::judge_deploy(&sc.signatures, cfg);
        if let Some((previous, counts)) = &sc.since {
            since::apply(&mut decisions, &sc.signatures, counts, previous, cfg);
        }
        let second = evaluate::second_look_decisions(&sc, &decisions, cfg);
        for (k, ((d, t), detail)) in decisions.iter().zip(&sc.truth).zip(&sc.detail).enumerate() {
            let later = second.as_ref().and_then(|(s, _)| s.get(k));
            let flagged_later =
                later.is_some_and(|d| matches!(d.verdict, Verdict::Regression | Verdict::New));
            let flagged = matches!(d.verdict, Verdict::Regression | Verdict::New) || flagged_later;
            let d = if flagged_later { later.unwrap_or(d) } else { d };
            let t = if flagged_later {
                second.as_ref().and_then(|(_, t)| t.get(k)).unwrap_or(t)
            } else {
                t
            };
            let show = match *t {
                Truth::InjectedMultiply { factor, .. } => factor >= 3.0 && !flagged,
                Truth::RaisedBefore { .. } => flagged,
                _ => flagged && !t.injected() && sc.change == Change::None,
            };
            if show {
                println!(
                    "#{i} known={} {:?} [{detail}]\n    {}",
                    sc.traffic_known, t, d.reason
                );
                if let Some(later) = later.filter(|_| !flagged_later) {
                    println!("    second look: {}", later.reason);
                }
            }
        }
        // Signatures that first fired after the first window.
        if let Some((later, truth)) = &second {
            for (d, t) in later.iter().zip(truth.iter()).skip(decisions.len()) {
                if matches!(d.verdict, Verdict::Regression | Verdict::New)
                    && sc.change == Change::None
                {
                    println!(
                        "#{i} known={} {:?} [later]\n    second look: {}",
                        sc.traffic_known, t, d.reason
                    );
                }
            }
        }
    }
}

//! Synthetic replay streams, for the replay tests and the replay benchmark:
//! background errors with a daily cycle and hour-to-hour overdispersion,
//! per-minute traffic that follows the same cycle, and deploy markers that
//! either change nothing, add a new error, or multiply an existing one.
//!
//! The truth of each deploy is returned beside the stream, so a test can
//! check what the gate flags against what was injected.

use std::io::Write;

use serde_json::json;
use suture_actors::domain::gate::scenario::Rng;

use crate::wire::time::format_rfc3339;

const MS_PER_MINUTE: i64 = 60_000;

/// What a generated stream looks like.
#[derive(Debug, Clone)]
pub struct StreamSpec {
    pub seed: u64,
    /// Stream start (epoch ms, a minute boundary is best).
    pub start_ms: i64,
    pub days: u32,
    /// Mean background events per second over the day.
    pub events_per_second: f64,
    /// Distinct background signatures.
    pub signatures: usize,
    /// Requests per minute at the daily mean; 0 writes no traffic lines.
    pub requests_per_minute: u64,
    /// Deploys, evenly spread over the stream after `first_deploy_hours`.
    pub deploys: u32,
    pub first_deploy_hours: u32,
    /// Events per minute of an injected new error.
    pub new_error_per_minute: f64,
    /// Factor applied to a background signature by a multiplying deploy.
    pub multiply_by: f64,
    /// Shape of the hourly gamma frailty on each background rate: the
    /// hour-to-hour coefficient of variation is `1/sqrt(shape)` (8: 35%,
    /// strongly overdispersed as real error counts are; 50: 14%).
    pub frailty_shape: f64,
}

impl Default for StreamSpec {
    fn default() -> Self {
        Self {
            seed: 1,
            start_ms: 1_767_225_600_000, // 2026-01-01T00:00:00Z
            days: 7,
            events_per_second: 10.0,
            signatures: 40,
            requests_per_minute: 6_000,
            deploys: 6,
            first_deploy_hours: 48,
            new_error_per_minute: 1.0,
            multiply_by: 5.0,
            frailty_shape: 8.0,
        }
    }
}

impl StreamSpec {
    /// Four days at 0.5 events/s over 12 signatures with mild overdispersion:
    /// the replay tests' stream (about 200,000 lines).
    pub fn small(seed: u64) -> Self {
        Self {
            seed,
            days: 4,
            events_per_second: 0.5,
            signatures: 12,
            requests_per_minute: 3_000,
            deploys: 6,
            first_deploy_hours: 30,
            new_error_per_minute: 0.5,
            multiply_by: 5.0,
            frailty_shape: 50.0,
            ..Self::default()
        }
    }
}

/// What a deploy did.
#[derive(Debug, Clone, PartialEq)]
pub enum Injected {
    Nothing,
    /// A never-seen error starting at the deploy; its message.
    NewError(String),
    /// A background signature's rate multiplied from the deploy; its message.
    Multiplied(String),
}

#[derive(Debug, Clone)]
pub struct DeployTruth {
    pub revision: String,
    pub at_ms: i64,
    pub injected: Injected,
}

struct Background {
    kind: &'static str,
    message: String,
    function: String,
    per_minute: f64,
    /// Hourly gamma frailty (overdispersion).
    frailty: f64,
    multiplied_from: Option<i64>,
}

/// Handler names for background signatures (real code has names, and the
/// signer rightly treats `handler_1` and `handler_11` as one function with
/// a generated suffix).
const HANDLERS: [&str; 20] = [
    "checkout", "login", "search", "render", "upload", "invoice", "profile", "settings", "cart",
    "payment", "shipping", "review", "export", "import", "notify", "schedule", "report", "audit",
    "billing", "signup",
];

/// Functions where injected new errors are thrown, one per new error.
const FEATURES: [&str; 8] = [
    "applyCoupon",
    "addToWishlist",
    "redeemGiftCard",
    "splitPayment",
    "trackParcel",
    "rateProduct",
    "inviteFriend",
    "pauseSubscription",
];

const KINDS: [&str; 5] = [
    "TypeError",
    "ValueError",
    "KeyError",
    "TimeoutError",
    "ConnectionError",
];

/// Writes the stream as JSON lines; returns the deploys' truth and the
/// number of lines written.
pub fn write_stream(
    spec: &StreamSpec,
    out: &mut impl Write,
) -> std::io::Result<(Vec<DeployTruth>, u64)> {
    let mut rng = Rng::new(spec.seed);
    let minutes = i64::from(spec.days) * 24 * 60;
    let total_weight: f64 = (1..=spec.signatures).map(|i| 1.0 / i as f64).sum();
    let mut background: Vec<Background> = (1..=spec.signatures)
        .map(|i| Background {
            kind: KINDS[i % KINDS.len()],
            message: format!(
                "background failure in {} ({} variant)",
                HANDLERS[i % HANDLERS.len()],
                KINDS[i % KINDS.len()]
            ),
            function: format!(
                "{}{}",
                HANDLERS[i % HANDLERS.len()],
                ["Handler", "Job", "Task", "Worker"][(i / HANDLERS.len()) % 4]
            ),
            // Zipf-like rates: a few loud signatures, a long quiet tail.
            per_minute: spec.events_per_second * 60.0 * (1.0 / i as f64) / total_weight,
            frailty: 1.0,
            multiplied_from: None,
        })
        .collect();
    let mut truths = Vec::new();
    let span = minutes - i64::from(spec.first_deploy_hours) * 60;
    let step = if spec.deploys > 0 {
        span / i64::from(spec.deploys)
    } else {
        0
    };
    let mut deploy_minutes: Vec<(i64, usize)> = (0..spec.deploys as usize)
        .map(|d| {
            (
                i64::from(spec.first_deploy_hours) * 60 + step * d as i64 + step / 2,
                d,
            )
        })
        .collect();
    deploy_minutes.reverse();
    let mut new_errors: Vec<(String, i64)> = Vec::new();
    let mut lines = 0u64;
    let mut line = Vec::with_capacity(512);
    for minute in 0..minutes {
        let minute_ms = spec.start_ms + minute * MS_PER_MINUTE;
        let hour_of_day = (minute / 60) % 24;
        // Daily cycle: quiet at night, busy mid-afternoon.
        let season = 1.0 + 0.6 * ((hour_of_day as f64 - 9.0) / 24.0 * std::f64::consts::TAU).sin();
        if minute % 60 == 0 {
            for b in &mut background {
                b.frailty = rng.gamma(spec.frailty_shape) / spec.frailty_shape;
            }
        }
        if deploy_minutes.last().is_some_and(|(m, _)| *m == minute) {
            if let Some((_, index)) = deploy_minutes.pop() {
                let revision = format!("rev{index:03}");
                let injected = match index % 3 {
                    0 => Injected::Nothing,
                    1 => {
                        let message = format!("new failure introduced by {revision}");
                        new_errors.push((message.clone(), minute));
                        Injected::NewError(message)
                    }
                    _ => {
                        // Multiply a mid-rate signature, not the loudest.
                        let target = (3 + index) % background.len().max(1);
                        let b = &mut background[target];
                        b.multiplied_from = Some(minute);
                        Injected::Multiplied(b.message.clone())
                    }
                };
                truths.push(DeployTruth {
                    revision: revision.clone(),
                    at_ms: minute_ms,
                    injected,
                });
                write_line(
                    out,
                    &mut line,
                    &json!({"at": format_rfc3339(minute_ms), "deploy": {"revision": revision, "environment": "production"}}),
                )?;
                lines += 1;
            }
        }
        let mut events: Vec<(i64, serde_json::Value)> = Vec::new();
        for b in &background {
            let factor = if b.multiplied_from.is_some_and(|from| minute >= from) {
                spec.multiply_by
            } else {
                1.0
            };
            let count = rng.poisson(b.per_minute * season * b.frailty * factor);
            for _ in 0..count {
                let at = minute_ms + (rng.uniform() * 59_999.0) as i64;
                let user = format!("user-{}", rng.below(5_000));
                events.push((at, json!({
                    "type": b.kind,
                    "message": format!("{} (request {})", b.message, rng.below(1_000_000)),
                    "stack": format!("{}: {}\n    at {} (/srv/app/{}.js:{}:7)\n    at dispatch (/srv/app/router.js:88:12)", b.kind, b.message, b.function, b.function, 10 + rng.below(5)),
                    "user": user,
                })));
            }
        }
        for (n, (message, from)) in new_errors.iter().enumerate() {
            if minute >= *from {
                for _ in 0..rng.poisson(spec.new_error_per_minute * season) {
                    let at = minute_ms + (rng.uniform() * 59_999.0) as i64;
                    events.push((at, json!({
                        "type": "RangeError",
                        "message": message,
                        "stack": format!("RangeError: {message}\n    at {f} (/srv/app/{f}.js:42:9)\n    at dispatch (/srv/app/router.js:88:12)", f = FEATURES[n % FEATURES.len()]),
                        "user": format!("user-{}", rng.below(5_000)),
                    })));
                }
            }
        }
        events.sort_by_key(|(at, _)| *at);
        for (at, event) in events {
            write_line(
                out,
                &mut line,
                &json!({"at": format_rfc3339(at), "event": event}),
            )?;
            lines += 1;
        }
        if spec.requests_per_minute > 0 {
            let requests = (spec.requests_per_minute as f64 * season).round() as u64;
            write_line(
                out,
                &mut line,
                &json!({"at": format_rfc3339(minute_ms + MS_PER_MINUTE - 1), "traffic": {"requests": requests}}),
            )?;
            lines += 1;
        }
    }
    Ok((truths, lines))
}

fn write_line(
    out: &mut impl Write,
    buf: &mut Vec<u8>,
    value: &serde_json::Value,
) -> std::io::Result<()> {
    buf.clear();
    serde_json::to_writer(&mut *buf, value)?;
    buf.push(b'\n');
    out.write_all(buf)
}

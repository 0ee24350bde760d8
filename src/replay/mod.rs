//! `suture replay FILE.jsonl`: the regression gate over a recorded stream,
//! in simulated time, with a temporary store.
//!
//! The same code as the live sidecar runs on each part of the stream: native
//! event parsing and signing, the store's group commit (hourly and
//! per-minute counts, releases as deploys, the debounce queue's pending
//! set), the debounce rule, and the gate runner. What differs is the clock
//! (each line's `at`) and the grouping of commits: events are committed per
//! simulated minute instead of per flush, the debounce rule is checked and
//! the gate ticks at each minute boundary, and nothing is flushed (the store
//! is thrown away).
//!
//! Input, one JSON object per line, in time order:
//! `{"at": T, "event": {...}}`, `{"at": T, "deploy": {"revision": ..., "environment"?}}`,
//! `{"at": T, "traffic": {"requests": N, "release"?}}` (requests since the
//! previous traffic line).

pub mod generate;

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use suture_actors::config::{Durability, GateConfig};
use suture_actors::domain::debounce::Debouncer;
use suture_actors::domain::gate::config::millis;
use suture_actors::domain::gate::decide::Verdict;
use suture_actors::domain::signature::{SignatureBasis, Signer};
use suture_actors::stages::gate::runner::GateRunner;
use suture_actors::store::{
    DeployRecord, DeploySource, GateRun, JudgedSignature, RecordCache, RunKind, SignedEvent, Store,
    TrafficRecord, minute_of, minute_start_ms,
};

use crate::config::Config;
use crate::wire::native::{self, Receipt};
use crate::wire::time::{format_rfc3339, parse_timestamp};

/// Lines parsed (and events signed) per chunk, in parallel, before the
/// chunk is applied in order.
const CHUNK_LINES: usize = 32_768;
const MS_PER_MINUTE: i64 = 60_000;

/// What a replay found, as `--json` prints it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ReplayReport {
    pub deploys: Vec<DeployReport>,
    pub spikes: Vec<SpikeReport>,
    pub stats: ReplayStats,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DeployReport {
    pub revision: String,
    pub at: String,
    /// `marker` or `release`.
    pub source: DeploySource,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub flagged: Vec<FlaggedReport>,
    /// Every other signature judged in the window, with the reason it was
    /// not flagged (pre-deploy spikes included), so "why not?" has an answer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_flagged: Vec<FlaggedReport>,
    /// The second look (`gate.second_look`), when the stream went on long
    /// enough after the deploy for it: what it flagged that the first hour
    /// had not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub second_look: Option<SecondLookReport>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SecondLookReport {
    /// The span judged, from the deploy (cut at the next deploy).
    pub minutes: u32,
    pub flagged: Vec<FlaggedReport>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FlaggedReport {
    pub signature: String,
    pub sample_message: String,
    pub observed: u64,
    pub expected: f64,
    pub p: f64,
    pub q: f64,
    pub impact: f64,
    pub verdict: Verdict,
    pub severity: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SpikeReport {
    pub at: String,
    pub signature: String,
    pub sample_message: String,
    pub observed: u64,
    pub expected: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ReplayStats {
    pub lines: u64,
    pub events: u64,
    /// Events the live server would have refused (400), skipped here.
    pub invalid_events: u64,
    pub deploys: u64,
    pub traffic_lines: u64,
    pub batches: u64,
    pub runs: u64,
    pub seconds: f64,
}

/// A chunk's line count and its parsed lines, in order.
type ParsedChunk = (usize, Vec<(i64, Option<Item>)>);

/// One input line, parsed. Nearly every line is an event, so the event is
/// not boxed: boxing would add an allocation per line to save memory on
/// the rare deploy and traffic lines.
#[allow(clippy::large_enum_variant)]
enum Item {
    Event(SignedEvent),
    InvalidEvent,
    Deploy {
        revision: String,
        environment: Option<String>,
    },
    Traffic {
        requests: u64,
        release: Option<String>,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    at: Value,
    #[serde(default)]
    event: Option<Map<String, Value>>,
    #[serde(default)]
    deploy: Option<DeployLine>,
    #[serde(default)]
    traffic: Option<TrafficLine>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeployLine {
    revision: String,
    #[serde(default)]
    environment: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TrafficLine {
    requests: u64,
    #[serde(default)]
    release: Option<String>,
}

/// Replays `input` with the gate configured by `config`.
pub fn replay(input: impl Read + Send, config: &Config) -> anyhow::Result<ReplayReport> {
    let started = std::time::Instant::now();
    let dir = tempfile::tempdir().context("cannot create a temporary store directory")?;
    let mut store_config = config.store.clone();
    store_config.path = dir.path().join("data");
    store_config.durability = Durability::Flush;
    store_config.cache_mb = store_config.cache_mb.max(256);
    let store = Store::open(&store_config)?;
    let signer = Signer::new(&config.signature)?;
    let signers = ChunkSigners {
        unlearned: signer.clone().with_templates(None),
        learning: signer,
    };
    let mut sim = Simulation::new(store, &config.gate, &config.queue)?;

    // Reading, parsing and signing (on every core) run ahead of applying
    // (one thread, in order) by at most two chunks.
    let (chunks_tx, chunks_rx) = std::sync::mpsc::sync_channel::<anyhow::Result<ParsedChunk>>(2);
    let line_no = std::thread::scope(|scope| -> anyhow::Result<u64> {
        let signers = &signers;
        scope.spawn(move || {
            let mut reader = BufReader::with_capacity(1 << 20, input);
            let mut line_no: u64 = 0;
            loop {
                let parsed = read_chunk(&mut reader, CHUNK_LINES).and_then(|lines| {
                    let first_line = line_no + 1;
                    line_no += lines.len() as u64;
                    Ok((
                        lines.len(),
                        parse_chunk(&lines, first_line, signers, config)?,
                    ))
                });
                let done = matches!(&parsed, Ok((0, _)) | Err(_));
                if chunks_tx.send(parsed).is_err() || done {
                    break;
                }
            }
        });
        let mut lines = 0u64;
        for parsed in chunks_rx {
            let (count, items) = parsed?;
            if count == 0 {
                break;
            }
            lines += count as u64;
            for (at_ms, item) in items {
                sim.apply(at_ms, item)?;
            }
        }
        Ok(lines)
    })?;
    sim.stats.lines = line_no;
    sim.finish()?;
    let mut report = sim.report()?;
    report.stats.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Replays a file (`-` for stdin).
pub fn replay_path(path: &Path, config: &Config) -> anyhow::Result<ReplayReport> {
    if path == Path::new("-") {
        return replay(std::io::stdin(), config);
    }
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    replay(file, config)
}

fn read_chunk(reader: &mut impl BufRead, max: usize) -> anyhow::Result<Vec<String>> {
    let mut lines = Vec::with_capacity(max.min(1024));
    let mut line = String::new();
    while lines.len() < max {
        line.clear();
        if reader
            .read_line(&mut line)
            .context("cannot read the input")?
            == 0
        {
            break;
        }
        lines.push(std::mem::take(&mut line));
    }
    Ok(lines)
}

/// The signers of [`parse_chunk`]: the same configuration, one without
/// templates (shared by the parsing threads), one with.
struct ChunkSigners {
    unlearned: Signer,
    learning: Signer,
}

/// Parses and signs a chunk on every core, keeping line order.
///
/// Message-only events are signed by learned log templates, and what a
/// signer learns depends on the order it sees lines in: signed on several
/// threads at once, they could be numbered differently run to run. So the
/// threads sign without templates, and the events whose grouping read the
/// message are signed again here, in line order, with the templates: a
/// replay is deterministic, and sees the templates a live sidecar fed the
/// same stream would learn.
fn parse_chunk(
    lines: &[String],
    first_line: u64,
    signers: &ChunkSigners,
    config: &Config,
) -> anyhow::Result<Vec<(i64, Option<Item>)>> {
    let mut items = parse_chunk_unlearned(lines, first_line, &signers.unlearned, config)?;
    let signer = &signers.learning;
    if signer.templates().is_some() {
        for (_, item) in &mut items {
            if let Some(Item::Event(signed)) = item {
                if signed.signature.basis != SignatureBasis::Frames {
                    signed.signature = signer.sign(&signed.event);
                }
            }
        }
    }
    Ok(items)
}

/// [`parse_chunk`]'s parallel part, with the signer without templates.
fn parse_chunk_unlearned(
    lines: &[String],
    first_line: u64,
    signer: &Signer,
    config: &Config,
) -> anyhow::Result<Vec<(i64, Option<Item>)>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per = lines.len().div_ceil(threads).max(1);
    let max_event_bytes = config.ingest.max_event_bytes;
    std::thread::scope(|scope| {
        let handles: Vec<_> = lines
            .chunks(per)
            .enumerate()
            .map(|(i, part)| {
                let first = first_line + (i * per) as u64;
                scope.spawn(move || {
                    part.iter()
                        .enumerate()
                        .map(|(j, text)| {
                            parse_line(text, signer, max_event_bytes)
                                .with_context(|| format!("line {}", first + j as u64))
                        })
                        .collect::<anyhow::Result<Vec<_>>>()
                })
            })
            .collect();
        let mut out = Vec::with_capacity(lines.len());
        for handle in handles {
            match handle.join() {
                Ok(part) => out.extend(part?),
                Err(_) => bail!("a parser thread panicked"),
            }
        }
        Ok(out)
    })
}

/// One line to (its time, its item); blank lines are `None`.
fn parse_line(
    text: &str,
    signer: &Signer,
    max_event_bytes: usize,
) -> anyhow::Result<(i64, Option<Item>)> {
    if text.trim().is_empty() {
        return Ok((i64::MIN, None));
    }
    let line: Line = serde_json::from_str(text).context("invalid JSON line")?;
    let at_ms = parse_timestamp(&line.at).map_err(|e| anyhow::anyhow!("at: {e}"))?;
    let item = match (line.event, line.deploy, line.traffic) {
        (Some(object), None, None) => {
            let receipt = Receipt {
                source: "replay",
                received_at_ms: at_ms,
                max_event_bytes,
            };
            match native::parse_event(object, "event", receipt) {
                Ok(event) => {
                    let signature = signer.sign(&event);
                    Item::Event(SignedEvent { event, signature })
                }
                Err(_) => Item::InvalidEvent,
            }
        }
        (None, Some(deploy), None) => Item::Deploy {
            revision: deploy.revision,
            environment: deploy.environment,
        },
        (None, None, Some(traffic)) => Item::Traffic {
            requests: traffic.requests,
            release: traffic.release,
        },
        _ => bail!("expected exactly one of \"event\", \"deploy\", \"traffic\""),
    };
    Ok((at_ms, Some(item)))
}

/// The sidecar in simulated time.
struct Simulation {
    store: Store,
    runner: GateRunner,
    debouncer: Debouncer,
    cache: RecordCache,
    gate: GateConfig,
    /// Events of the current simulated minute, committed when it ends.
    pending: Vec<SignedEvent>,
    /// The simulated clock: the latest `at` seen (it never goes back).
    now_ms: i64,
    /// The minute whose end triggers the next commit and tick.
    minute: Option<u32>,
    /// tokio instants for the debounce rule: `base` is simulated `base_ms`.
    base: tokio::time::Instant,
    base_ms: i64,
    runs: Vec<GateRun>,
    stats: ReplayStats,
}

impl Simulation {
    fn new(
        store: Store,
        gate: &GateConfig,
        queue: &suture_actors::config::QueueConfig,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            runner: GateRunner::new(store.clone(), gate.clone(), 0)?,
            store,
            debouncer: Debouncer::new(queue),
            cache: RecordCache::default(),
            gate: gate.clone(),
            pending: Vec::new(),
            now_ms: i64::MIN,
            minute: None,
            base: tokio::time::Instant::now(),
            base_ms: i64::MIN,
            runs: Vec::new(),
            stats: ReplayStats::default(),
        })
    }

    fn instant(&self, ms: i64) -> tokio::time::Instant {
        let offset = u64::try_from(ms.saturating_sub(self.base_ms)).unwrap_or(0);
        self.base + Duration::from_millis(offset)
    }

    fn apply(&mut self, at_ms: i64, item: Option<Item>) -> anyhow::Result<()> {
        let Some(item) = item else {
            return Ok(());
        };
        if self.base_ms == i64::MIN {
            self.base_ms = at_ms;
        }
        self.advance(at_ms)?;
        match item {
            Item::Event(signed) => {
                self.stats.events += 1;
                self.pending.push(signed);
            }
            Item::InvalidEvent => self.stats.invalid_events += 1,
            Item::Deploy {
                revision,
                environment,
            } => {
                self.stats.deploys += 1;
                self.store.record_deploy(&DeployRecord {
                    id: suture_actors::domain::event::new_id(),
                    revision,
                    environment,
                    at_ms,
                    received_at_ms: at_ms,
                    source: DeploySource::Marker,
                })?;
            }
            Item::Traffic { requests, release } => {
                self.stats.traffic_lines += 1;
                self.store.record_traffic(&TrafficRecord {
                    at_ms,
                    requests,
                    release,
                })?;
            }
        }
        Ok(())
    }

    /// Moves the clock to `at_ms`, closing every minute that ends on the way.
    fn advance(&mut self, at_ms: i64) -> anyhow::Result<()> {
        self.now_ms = self.now_ms.max(at_ms);
        let target = minute_of(self.now_ms);
        let Some(mut minute) = self.minute else {
            self.minute = Some(target);
            return Ok(());
        };
        while minute < target {
            minute += 1;
            self.end_of_minute(minute_start_ms(minute))?;
            // Skip quiet stretches in one step once nothing is pending.
            if self.pending.is_empty() && self.debouncer.is_empty() && minute < target {
                let next_tick = minute_start_ms(target);
                self.tick(next_tick)?;
                minute = target;
            }
        }
        self.minute = Some(minute);
        Ok(())
    }

    /// What the live sidecar does during a minute, done at its end: commit
    /// the minute's events, hand on a batch if the debounce rule says so,
    /// and let the gate judge what is due.
    fn end_of_minute(&mut self, now_ms: i64) -> anyhow::Result<()> {
        if !self.pending.is_empty() {
            let events = std::mem::take(&mut self.pending);
            let summary = self.store.commit(&events, now_ms, &mut self.cache)?;
            self.debouncer.record(
                summary.changed.into_iter().map(|(id, _)| id),
                self.instant(now_ms),
            );
        }
        if let Some(reason) = self.debouncer.due(self.instant(now_ms)) {
            if self.store.take_pending_batch(reason, now_ms)?.is_some() {
                self.stats.batches += 1;
            }
            self.debouncer.clear();
        }
        self.tick(now_ms)
    }

    fn tick(&mut self, now_ms: i64) -> anyhow::Result<()> {
        let runs = self.runner.tick(now_ms)?;
        self.stats.runs += runs.len() as u64;
        self.runs.extend(runs);
        Ok(())
    }

    /// The stream ended: commit the last minute, hand on what is pending,
    /// and run the clock on until every deploy window has closed.
    fn finish(&mut self) -> anyhow::Result<()> {
        if self.minute.is_none() {
            return Ok(());
        }
        let end = minute_start_ms(minute_of(self.now_ms) + 1);
        self.end_of_minute(end)?;
        if self
            .store
            .take_pending_batch(suture_actors::store::HandoffReason::Debounce, end)?
            .is_some()
        {
            self.stats.batches += 1;
        }
        self.debouncer.clear();
        let close = end
            .saturating_add(millis(self.gate.window))
            .saturating_add(millis(self.gate.settle))
            .saturating_add(MS_PER_MINUTE);
        self.tick(close)
    }

    fn report(&self) -> anyhow::Result<ReplayReport> {
        let mut report = ReplayReport {
            stats: self.stats.clone(),
            ..ReplayReport::default()
        };
        let mut runs: Vec<&GateRun> = self.runs.iter().collect();
        runs.sort_by_key(|r| (r.window_start_ms, r.judged_at_ms));
        let second_looks: std::collections::HashMap<&str, SecondLookReport> = runs
            .iter()
            .filter(|r| r.kind == RunKind::SecondLook)
            .filter_map(|r| {
                let deploy = r.deploy.as_ref()?;
                Some((
                    deploy.id.as_str(),
                    SecondLookReport {
                        minutes: r.window_minutes,
                        flagged: r
                            .decisions
                            .iter()
                            .filter(|j| attributed(j.decision.verdict))
                            .map(flagged_report)
                            .collect(),
                    },
                ))
            })
            .collect();
        for run in runs {
            if let (RunKind::Deploy, Some(deploy)) = (run.kind, &run.deploy) {
                report.deploys.push(DeployReport {
                    revision: deploy.revision.clone(),
                    at: format_rfc3339(deploy.at_ms),
                    source: deploy.source,
                    note: run.note.clone(),
                    flagged: run
                        .decisions
                        .iter()
                        .filter(|j| attributed(j.decision.verdict))
                        .map(flagged_report)
                        .collect(),
                    not_flagged: run
                        .decisions
                        .iter()
                        .filter(|j| !attributed(j.decision.verdict))
                        .map(flagged_report)
                        .collect(),
                    second_look: second_looks.get(deploy.id.as_str()).cloned(),
                });
            }
            for j in run
                .decisions
                .iter()
                .filter(|j| j.candidate && j.decision.verdict == Verdict::Spike)
            {
                report.spikes.push(SpikeReport {
                    at: format_rfc3339(
                        run.window_start_ms + i64::from(run.window_minutes) * MS_PER_MINUTE,
                    ),
                    signature: j.decision.signature.clone(),
                    sample_message: j.sample_message.clone(),
                    observed: j.decision.observed,
                    expected: j.decision.expected,
                });
            }
        }
        Ok(report)
    }
}

/// Whether a deploy's verdict attributes the change to the deploy.
fn attributed(verdict: Verdict) -> bool {
    matches!(verdict, Verdict::Regression | Verdict::New)
}

fn flagged_report(j: &JudgedSignature) -> FlaggedReport {
    FlaggedReport {
        signature: j.decision.signature.clone(),
        sample_message: j.sample_message.clone(),
        observed: j.decision.observed,
        expected: j.decision.expected,
        p: j.decision.p,
        q: j.decision.q,
        impact: j.decision.impact,
        verdict: j.decision.verdict,
        severity: j.decision.severity.as_str().to_string(),
        reason: j.decision.reason.clone(),
    }
}

/// The human form of a replay report; `explain` adds every signature that
/// was judged and not flagged, with the reason.
pub fn render(report: &ReplayReport, explain: bool) -> String {
    let mut out = String::new();
    for deploy in &report.deploys {
        out.push_str(&format!(
            "deploy {} at {} ({}): {} flagged\n",
            deploy.revision,
            deploy.at,
            match deploy.source {
                DeploySource::Marker => "marker",
                DeploySource::Release => "new release",
            },
            deploy.flagged.len()
        ));
        if let Some(note) = &deploy.note {
            out.push_str(&format!("  {note}\n"));
        }
        let shown = deploy
            .flagged
            .iter()
            .chain(deploy.not_flagged.iter().filter(|_| explain));
        render_flags(&mut out, shown, explain);
        if let Some(look) = &deploy.second_look {
            out.push_str(&format!(
                "  second look over {} min: {} more flagged\n",
                look.minutes,
                look.flagged.len()
            ));
            render_flags(&mut out, look.flagged.iter(), explain);
        }
    }
    for s in &report.spikes {
        out.push_str(&format!(
            "spike at {} {} {} observed, {:.2} expected: {}\n",
            s.at,
            s.signature,
            s.observed,
            s.expected,
            one_line(&s.sample_message, 80)
        ));
    }
    let st = &report.stats;
    out.push_str(&format!(
        "replayed {} lines ({} events, {} invalid, {} deploy markers, {} traffic lines) in {:.1}s; {} batches, {} gate runs\n",
        st.lines, st.events, st.invalid_events, st.deploys, st.traffic_lines, st.seconds, st.batches, st.runs
    ));
    out
}

/// One line per decision (and its reason with `explain`).
fn render_flags<'a>(
    out: &mut String,
    flags: impl Iterator<Item = &'a FlaggedReport>,
    explain: bool,
) {
    for f in flags {
        out.push_str(&format!(
            "  {:<10} {} {:>6} observed, {:>8.2} expected, q={:.2e}, severity {}: {}\n",
            f.verdict.as_str(),
            f.signature,
            f.observed,
            f.expected,
            f.q,
            f.severity,
            one_line(&f.sample_message, 80)
        ));
        if explain {
            out.push_str(&format!("             {}\n", one_line(&f.reason, 400)));
        }
    }
}

/// A message on one line, cut to `max` characters (messages are untrusted
/// text: no control characters reach the terminal).
fn one_line(text: &str, max: usize) -> String {
    let mut out: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(max)
        .collect();
    if text.chars().count() > max {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Message-only lines of two kinds that share a leaf of the template
    /// tree: which one is numbered first depends on the order they are
    /// learned in. A chunk must sign them as one signer reading the stream
    /// in order does, however its lines are spread over threads: here the
    /// first kind comes just before the middle line and the second right
    /// at it, where a second thread would start (and number it first).
    #[test]
    fn chunks_sign_log_lines_as_one_signer_in_line_order() {
        let names = ["alice", "bob", "carol", "dave"];
        let lines: Vec<String> = (0..4000usize)
            .map(|n| {
                let name = names[n % names.len()];
                let message = match n {
                    1999 => format!("request failed: upstream {name} refused the connection"),
                    2000.. if n % 2 == 0 => {
                        format!("request failed: client {name} sent bad header")
                    }
                    _ => format!("cache miss for key {name}"),
                };
                serde_json::json!({
                    "at": 1_767_225_600_000_i64 + n as i64,
                    "event": {"type": "Error", "message": message},
                })
                .to_string()
            })
            .collect();
        let config = Config::default();
        let signer = Signer::new(&config.signature).expect("signer");
        let signers = ChunkSigners {
            unlearned: signer.clone().with_templates(None),
            learning: signer,
        };
        let items = parse_chunk(&lines, 1, &signers, &config).expect("parses");

        let sequential = Signer::new(&config.signature).expect("signer");
        let mut kinds_seen = std::collections::HashSet::new();
        for (line, (_, item)) in lines.iter().zip(items) {
            let Some(Item::Event(signed)) = item else {
                panic!("an event: {line}");
            };
            assert_eq!(signed.signature, sequential.sign(&signed.event), "{line}");
            kinds_seen.insert(signed.signature.id);
        }
        assert_eq!(kinds_seen.len(), 3);
    }
}

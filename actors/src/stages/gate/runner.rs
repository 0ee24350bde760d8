//! The gate over the store: judges each deploy once its window has closed,
//! each batch the debounce queue hands on between deploys, stores every run
//! with its decisions, and makes the flagged signatures candidates for the
//! analyzer.
//!
//! Everything here is synchronous and takes the time as an argument, so the
//! live actor (wall clock) and `suture replay` (simulated time) run the same
//! code. Writes are not flushed here: the caller flushes after a tick.

use std::collections::{HashMap, HashSet};

use crate::domain::gate::cold;
use crate::domain::gate::config::{GateConfig, millis};
use crate::domain::gate::decide::{self, Decision, Verdict};
use crate::domain::gate::{second_look, since};
use crate::store::gate_input::{self as source, Gathered};
use crate::store::{
    BatchRecord, CandidateState, DeployRecord, GateRun, JudgedSignature, RunKind, SignatureRecord,
    Store, StoreError, minute_of, minute_start_ms,
};

/// How far back the previous deploy may be for its span to be compared
/// with (`since`): a day of per-minute data is one range scan, and a level
/// that has held for a day is in the baseline's recent hours anyway.
const SINCE_PREVIOUS_REACH_MS: i64 = 86_400_000;

/// Work between two prunes of per-minute data and old runs.
const PRUNE_EVERY_MS: i64 = 3_600_000;

/// Judged batches kept for inspection; older ones are removed by the
/// hourly prune (a busy service hands on a batch every few seconds, and
/// each is read once).
const KEEP_JUDGED_BATCHES: u64 = 1000;

/// The gate's state between ticks.
pub struct GateRunner {
    store: Store,
    cfg: GateConfig,
    /// When each signature was last flagged (for the spike cooldown).
    recently_flagged: HashMap<String, i64>,
    /// Signatures with a candidate still waiting for the analyzer.
    awaiting: HashSet<String>,
    last_prune_ms: i64,
}

impl GateRunner {
    /// Restores the spike cooldowns from the runs stored in the last cooldown.
    pub fn new(store: Store, cfg: GateConfig, now_ms: i64) -> Result<Self, StoreError> {
        let mut recently_flagged: HashMap<String, i64> = HashMap::new();
        let since = now_ms.saturating_sub(millis(cfg.spike_cooldown));
        for run in store.runs_since(since, usize::MAX)? {
            for judged in run.flagged() {
                let at = recently_flagged
                    .entry(judged.decision.signature.clone())
                    .or_insert(run.judged_at_ms);
                *at = (*at).max(run.judged_at_ms);
            }
        }
        let awaiting = store
            .candidates()?
            .into_iter()
            .filter(|c| c.state == CandidateState::New)
            .map(|c| c.signature)
            .collect();
        Ok(Self {
            store,
            cfg,
            recently_flagged,
            awaiting,
            last_prune_ms: i64::MIN,
        })
    }

    pub fn config(&self) -> &GateConfig {
        &self.cfg
    }

    /// Judges what is due at `now_ms`: deploys whose window (plus
    /// `settle`) has closed and that have no run yet, then every batch after
    /// the stored cursor. Returns the runs it stored.
    pub fn tick(&mut self, now_ms: i64) -> Result<Vec<GateRun>, StoreError> {
        let mut runs = Vec::new();
        if !self.cfg.enabled {
            return Ok(runs);
        }
        // Only deploys whose runs are kept: an older deploy's run is pruned,
        // and it must not be judged again.
        let deploys = self
            .store
            .deploys_between(self.runs_kept_from(now_ms), i64::MAX)?;
        let window_ms = millis(self.cfg.window);
        let settle_ms = millis(self.cfg.settle);
        for deploy in &deploys {
            let closes = deploy.at_ms.saturating_add(window_ms);
            if closes.saturating_add(settle_ms) > now_ms || self.store.has_deploy_run(&deploy.id)? {
                continue;
            }
            runs.push(self.judge_deploy(deploy, now_ms)?);
        }
        // Deploys come oldest first: the next one is the first later entry.
        for (i, deploy) in deploys.iter().enumerate() {
            let next = deploys[i + 1..]
                .iter()
                .find(|d| d.at_ms > deploy.at_ms)
                .map(|d| d.at_ms);
            if let Some(run) = self.second_look_due(deploy, next, now_ms)? {
                runs.push(run);
            }
        }
        let cursor = self.store.gate_batch_cursor()?;
        for batch in self.store.batches_after(cursor)? {
            let open_window = deploys.iter().any(|d| {
                d.at_ms <= batch.handed_at_ms
                    && batch.handed_at_ms < d.at_ms.saturating_add(window_ms)
            });
            // Inside a deploy's window the deploy's judgement covers these
            // signatures; judging them twice would double-count one change.
            if !open_window {
                if let Some(run) = self.judge_batch(&batch, now_ms)? {
                    runs.push(run);
                }
            }
            self.store.set_gate_batch_cursor(batch.seq)?;
        }
        if now_ms.saturating_sub(self.last_prune_ms) >= PRUNE_EVERY_MS {
            self.prune(now_ms)?;
            self.last_prune_ms = now_ms;
        }
        Ok(runs)
    }

    /// Judges one deploy's window and stores the run.
    pub fn judge_deploy(
        &mut self,
        deploy: &DeployRecord,
        now_ms: i64,
    ) -> Result<GateRun, StoreError> {
        let start_ms = minute_start_ms(minute_of(deploy.at_ms));
        let retention_ms = millis(self.cfg.minute_retention);
        let gathered = if now_ms.saturating_sub(start_ms) > retention_ms {
            Gathered {
                note: Some(format!(
                    "not judged: the window's per-minute data had passed gate.minute_retention ({}) when the gate got to it",
                    humantime::format_duration(self.cfg.minute_retention)
                )),
                ..Gathered::default()
            }
        } else {
            source::gather(&self.store, start_ms, &self.cfg, None)?
        };
        let decisions = match gathered.cold_start {
            Some(history) => cold::judge_cold_start(
                &gathered.signatures,
                &gathered.seen_before,
                history,
                &self.cfg,
            ),
            None => decide::judge_deploy(&gathered.signatures, &self.cfg),
        };
        let mut decisions = decisions;
        self.apply_since(deploy, start_ms, &gathered, &mut decisions, &self.cfg)?;
        let run = GateRun {
            id: format!("deploy:{}", deploy.id),
            kind: RunKind::Deploy,
            deploy: Some(deploy.clone()),
            batch_seq: None,
            ..self.finish_run(&gathered, decisions, start_ms, now_ms)?
        };
        self.store_run(&run)?;
        Ok(run)
    }

    /// Judges `deploy` again over `gate.second_look` (cut at the next
    /// deploy, at `next_ms`) once that span (plus `settle`) has passed, its
    /// first look is stored and its second is not; `None` when nothing is
    /// due. A span no longer than the first window (the next deploy came
    /// within it) has no second look: the next deploy's own judgement
    /// covers what follows.
    fn second_look_due(
        &mut self,
        deploy: &DeployRecord,
        next_ms: Option<i64>,
        now_ms: i64,
    ) -> Result<Option<GateRun>, StoreError> {
        let Some(look_minutes) = self.cfg.second_look_minutes() else {
            return Ok(None);
        };
        let start_ms = minute_start_ms(minute_of(deploy.at_ms));
        let mut end_ms = start_ms.saturating_add(i64::from(look_minutes) * 60_000);
        if let Some(next) = next_ms {
            end_ms = end_ms.min(minute_start_ms(minute_of(next)));
        }
        let minutes = u32::try_from(end_ms.saturating_sub(start_ms) / 60_000).unwrap_or(0);
        let settled = end_ms.saturating_add(millis(self.cfg.settle)) <= now_ms;
        // Past the per-minute retention the span can no longer be read
        // (a store upgraded with old deploys, or a long outage).
        let readable = now_ms.saturating_sub(start_ms) <= millis(self.cfg.minute_retention);
        if minutes <= self.cfg.window_minutes()
            || !settled
            || !readable
            || self.store.has_second_look(&deploy.id)?
        {
            return Ok(None);
        }
        let Some(first) = self.store.deploy_run(&deploy.id)? else {
            return Ok(None);
        };
        let mut gathered = source::gather_minutes(&self.store, start_ms, minutes, &self.cfg, None)?;
        let decisions = if gathered.cold_start.is_some() {
            gathered.note = Some(
                "not judged again: the store held less history than gate.min_history at the deploy, \
                 and the cold-start rules judge the first window only"
                    .to_string(),
            );
            gathered.signatures.clear();
            Vec::new()
        } else {
            let earlier: Vec<Decision> =
                first.decisions.iter().map(|j| j.decision.clone()).collect();
            let mut decisions = second_look::judge(
                &gathered.signatures,
                &earlier,
                u64::from(first.window_minutes),
                &self.cfg,
            );
            let look_cfg = second_look::level(&self.cfg);
            self.apply_since(deploy, start_ms, &gathered, &mut decisions, &look_cfg)?;
            decisions
        };
        let run = GateRun {
            id: format!("second-look:{}", deploy.id),
            kind: RunKind::SecondLook,
            deploy: Some(deploy.clone()),
            batch_seq: None,
            window_minutes: minutes,
            ..self.finish_run(&gathered, decisions, start_ms, now_ms)?
        };
        self.store_run(&run)?;
        Ok(Some(run))
    }

    /// Re-judges `decisions`' flags against the level since the previous
    /// deploy ([`since::apply`] at `cfg`'s level), when there is one.
    fn apply_since(
        &self,
        deploy: &DeployRecord,
        start_ms: i64,
        gathered: &Gathered,
        decisions: &mut [Decision],
        cfg: &GateConfig,
    ) -> Result<(), StoreError> {
        if let Some((previous, counts)) = self.since_previous(deploy, start_ms, gathered)? {
            since::apply(decisions, &gathered.signatures, &counts, &previous, cfg);
        }
        Ok(())
    }

    /// The span from the previous deploy (within [`SINCE_PREVIOUS_REACH_MS`]
    /// and the per-minute retention) to this window, and each signature's
    /// events in it, for [`since::apply`].
    fn since_previous(
        &self,
        deploy: &DeployRecord,
        start_ms: i64,
        gathered: &Gathered,
    ) -> Result<Option<(since::SincePrevious, Vec<u64>)>, StoreError> {
        if gathered.signatures.is_empty() {
            return Ok(None);
        }
        let reach_ms = millis(self.cfg.minute_retention).min(SINCE_PREVIOUS_REACH_MS);
        // Only the deploys within reach are read, not every deploy.
        let previous = self
            .store
            .deploys_between(deploy.at_ms.saturating_sub(reach_ms), deploy.at_ms)?
            .into_iter()
            .filter(|d| d.id != deploy.id)
            .max_by_key(|d| d.at_ms);
        let Some(previous) = previous else {
            return Ok(None);
        };
        let from = minute_of(previous.at_ms);
        let minutes = minute_of(start_ms).saturating_sub(from);
        if minutes == 0 {
            return Ok(None);
        }
        let series = self.store.window(from, minutes)?;
        let counts = gathered
            .signatures
            .iter()
            .map(|s| {
                series
                    .get(&s.signature)
                    .map_or(0, |w| w.counts.iter().sum::<u64>())
            })
            .collect();
        let requests = if gathered.traffic_known {
            Some(self.store.traffic_minutes(from, minutes)?).filter(|&r| r > 0)
        } else {
            None
        };
        Ok(Some((
            since::SincePrevious {
                revision: previous.revision,
                minutes,
                requests,
            },
            counts,
        )))
    }

    /// Judges the batch's signatures over the window that ends at the batch
    /// (continuous mode). `None` when none of them fired in that window.
    pub fn judge_batch(
        &mut self,
        batch: &BatchRecord,
        now_ms: i64,
    ) -> Result<Option<GateRun>, StoreError> {
        let end_minute = minute_of(batch.handed_at_ms);
        let start_minute = end_minute.saturating_sub(self.cfg.window_minutes());
        let start_ms = minute_start_ms(start_minute);
        let only: Vec<String> = batch.entries.iter().map(|e| e.signature.clone()).collect();
        let gathered = source::gather(&self.store, start_ms, &self.cfg, Some(&only))?;
        if gathered.signatures.is_empty() && gathered.note.is_none() {
            return Ok(None);
        }
        let decisions = decide::judge_continuous(&gathered.signatures, &self.cfg);
        let run = GateRun {
            id: format!("batch:{}", batch.seq),
            kind: RunKind::Continuous,
            deploy: None,
            batch_seq: Some(batch.seq),
            ..self.finish_run(&gathered, decisions, start_ms, now_ms)?
        };
        self.store_run(&run)?;
        Ok(Some(run))
    }

    /// The parts of a run every kind shares (the caller names it).
    fn finish_run(
        &mut self,
        gathered: &Gathered,
        decisions: Vec<Decision>,
        start_ms: i64,
        now_ms: i64,
    ) -> Result<GateRun, StoreError> {
        Ok(GateRun {
            id: String::new(),
            kind: RunKind::Continuous,
            deploy: None,
            batch_seq: None,
            window_start_ms: start_ms,
            window_minutes: self.cfg.window_minutes(),
            baseline_hours: gathered.baseline_hours,
            judged_at_ms: now_ms,
            traffic_known: gathered.traffic_known,
            note: gathered.note.clone(),
            decisions: self.explain(gathered, decisions, now_ms)?,
        })
    }

    /// Adds what a reader needs to each decision and chooses the candidates:
    /// every flagged decision, except a spike of a signature that already
    /// has a candidate waiting for the analyzer or was flagged within the
    /// last `spike_cooldown`. The cooldown slides: a signature that stays
    /// elevated is one incident (one candidate), however many batches or
    /// hours it spans, and a deploy's regression is not flagged again as a
    /// spike by the batches after it. A deploy's verdicts are always
    /// candidates: each deploy is its own suspect.
    fn explain(
        &mut self,
        gathered: &Gathered,
        decisions: Vec<Decision>,
        now_ms: i64,
    ) -> Result<Vec<JudgedSignature>, StoreError> {
        let cooldown_ms = millis(self.cfg.spike_cooldown);
        let mut out = Vec::with_capacity(decisions.len());
        for (mut decision, input) in decisions.into_iter().zip(&gathered.signatures) {
            // The model's recent expected counts served the since rule,
            // which has run; they are not stored, so the run returned is
            // the run a reader loads back.
            decision.recent_expected = Vec::new();
            let record: Option<SignatureRecord> = self.store.signature(&decision.signature)?;
            let mut candidate = decision.verdict.flagged();
            if candidate
                && decision.verdict == Verdict::Spike
                && self.awaiting.contains(&decision.signature)
            {
                candidate = false;
                decision
                    .reason
                    .push_str("; a candidate for this signature is already waiting for analysis");
                self.recently_flagged
                    .insert(decision.signature.clone(), now_ms);
            }
            if candidate {
                let last = self
                    .recently_flagged
                    .insert(decision.signature.clone(), now_ms);
                if let Some(at) = last.filter(|at| now_ms.saturating_sub(*at) < cooldown_ms) {
                    if decision.verdict == Verdict::Spike {
                        candidate = false;
                        decision.reason.push_str(&format!(
                            "; still elevated, flagged {} ago (gate.spike_cooldown): no new candidate",
                            humantime::format_duration(std::time::Duration::from_secs(
                                u64::try_from(now_ms.saturating_sub(at) / 1000).unwrap_or(0)
                            ))
                        ));
                    }
                }
            }
            if candidate {
                self.awaiting.insert(decision.signature.clone());
            }
            out.push(JudgedSignature {
                title: record.as_ref().map(|r| r.title.clone()).unwrap_or_default(),
                sample_message: record.map(|r| r.sample_message).unwrap_or_default(),
                distinct_users: input.window.distinct_users,
                candidate,
                decision,
            });
        }
        Ok(out)
    }

    fn store_run(&self, run: &GateRun) -> Result<(), StoreError> {
        let candidates = self.store.record_run(run)?;
        let kind = match run.kind {
            RunKind::Deploy => "deploy",
            RunKind::SecondLook => "second_look",
            RunKind::Continuous => "continuous",
        };
        metrics::counter!("suture_gate_runs_total", "kind" => kind).increment(1);
        for judged in run.flagged() {
            metrics::counter!(
                "suture_gate_flagged_total",
                "verdict" => judged.decision.verdict.as_str()
            )
            .increment(1);
        }
        if run.kind != RunKind::Continuous || !candidates.is_empty() {
            self.audit_run(run, kind);
            tracing::info!(
                run = %run.id,
                signatures = run.decisions.len(),
                flagged = run.flagged().count(),
                candidates = candidates.len(),
                note = run.note.as_deref().unwrap_or(""),
                "gate judged a window"
            );
        }
        Ok(())
    }

    /// The audit log's account of a run: what was judged, what was flagged
    /// and why (signature ids and the decisions' own reasons: numbers, no
    /// exception text).
    fn audit_run(&self, run: &GateRun, kind: &str) {
        let flagged: Vec<String> = run
            .flagged()
            .map(|j| {
                format!(
                    "{} {}: {}",
                    j.decision.signature,
                    j.decision.verdict.as_str(),
                    j.decision.reason
                )
            })
            .collect();
        let mut detail = format!(
            "{}: {} signatures judged, {} flagged",
            run.id,
            run.decisions.len(),
            flagged.len()
        );
        if let Some(note) = &run.note {
            detail.push_str(&format!(" ({note})"));
        }
        for line in &flagged {
            detail.push_str("; ");
            detail.push_str(line);
        }
        let draft = crate::domain::audit::AuditEntryDraft::new(
            run.judged_at_ms,
            &format!("gate.{kind}"),
            "gate",
            detail,
        );
        if let Err(error) = self.store.append_audit(draft) {
            tracing::warn!(%error, "audit entry for a gate run not stored");
        }
    }

    /// Deploys at or after this time keep their runs and are the ones the
    /// gate considers ([`GateConfig::runs_kept`]).
    fn runs_kept_from(&self, now_ms: i64) -> i64 {
        now_ms.saturating_sub(millis(self.cfg.runs_kept()))
    }

    fn prune(&mut self, now_ms: i64) -> Result<(), StoreError> {
        let keep_minutes_from = minute_of(now_ms.saturating_sub(millis(self.cfg.minute_retention)));
        let minutes = self.store.prune_minutes(keep_minutes_from)?;
        let runs = self
            .store
            .prune_spike_runs(now_ms.saturating_sub(millis(self.cfg.decision_retention)))?
            + self.store.prune_deploy_runs(self.runs_kept_from(now_ms))?;
        let cursor = self.store.gate_batch_cursor()?;
        let batches = self.store.prune_batches(cursor, KEEP_JUDGED_BATCHES)?;
        let cooldown_ms = millis(self.cfg.spike_cooldown);
        self.recently_flagged
            .retain(|_, at| now_ms.saturating_sub(*at) < cooldown_ms);
        if minutes + runs + batches > 0 {
            tracing::debug!(minutes, runs, batches, "pruned old gate data");
        }
        Ok(())
    }
}

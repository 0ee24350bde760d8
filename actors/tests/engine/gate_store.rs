//! The gate over a real sled store: what the writer records for it
//! (per-minute counts with users, traffic, releases as deploys), and what the
//! runner judges, stores and hands on as candidates.

use std::time::Duration;

use suture_actors::config::{Durability, StoreConfig};
use suture_actors::domain::event::Event;
use suture_actors::domain::gate::config::GateConfig;
use suture_actors::domain::gate::decide::Verdict;
use suture_actors::domain::signature::{SignatureConfig, Signer};
use suture_actors::stages::gate::runner::GateRunner;
use suture_actors::store::{
    DeployRecord, DeploySource, HandoffReason, RecordCache, RunKind, SignedEvent, Store,
    TrafficRecord, minute_of,
};

const HOUR: i64 = 3_600_000;
const MINUTE: i64 = 60_000;
/// 2026-01-05T00:00:00Z, a Monday.
const T0: i64 = 1_767_571_200_000;

struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
    signer: Signer,
    cache: RecordCache,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = StoreConfig {
            path: dir.path().join("data"),
            durability: Durability::Flush,
            ..StoreConfig::default()
        };
        Self {
            store: Store::open(&config).expect("store opens"),
            signer: Signer::new(&SignatureConfig::default()).expect("signer"),
            cache: RecordCache::default(),
            _dir: dir,
        }
    }

    /// Commits one event of `kind` at `at_ms` (one commit per call: the
    /// commit grouping does not matter to the counts).
    fn event(&mut self, kind: &str, at_ms: i64, user: Option<&str>, release: Option<&str>) {
        let event = Event {
            id: suture_actors::domain::event::new_id(),
            received_at_ms: at_ms,
            timestamp_ms: at_ms,
            exception_type: Some(kind.to_string()),
            message: format!("{kind} happened"),
            user: user.map(|u| serde_json::json!({ "id": u })),
            release: release.map(str::to_string),
            source: "test".into(),
            ..Event::default()
        };
        let signature = self.signer.sign(&event);
        self.store
            .commit(&[SignedEvent { event, signature }], at_ms, &mut self.cache)
            .expect("commit");
    }

    fn signature_of(&self, kind: &str) -> String {
        let event = Event {
            exception_type: Some(kind.to_string()),
            message: format!("{kind} happened"),
            ..Event::default()
        };
        self.signer.sign(&event).id
    }

    /// `per_hour` events of `kind` every hour from `from` for `hours`, spread
    /// over the hour.
    fn background(&mut self, kind: &str, from: i64, hours: i64, per_hour: i64) {
        for h in 0..hours {
            for i in 0..per_hour {
                let at = from + h * HOUR + i * (HOUR / per_hour);
                self.event(kind, at, Some(&format!("user{}", i % 7)), None);
            }
        }
    }

    fn deploy(&self, revision: &str, at_ms: i64) -> DeployRecord {
        self.store
            .record_deploy(&DeployRecord {
                id: format!("d-{revision}"),
                revision: revision.into(),
                environment: None,
                at_ms,
                received_at_ms: at_ms,
                source: DeploySource::Marker,
            })
            .expect("deploy recorded")
    }
}

/// The first look only: the second look has its own tests below.
fn gate() -> GateConfig {
    GateConfig {
        settle: Duration::from_secs(60),
        second_look: Duration::ZERO,
        ..GateConfig::default()
    }
}

/// With the second look (six hours, the default), and a floor of 0.05
/// events a minute so a sparse signature's rise counts as material.
fn gate_with_second_look() -> GateConfig {
    GateConfig {
        settle: Duration::from_secs(60),
        min_impact_per_minute: 0.05,
        ..GateConfig::default()
    }
}

/// Events of `kind` at `per_hour[h]` in hour `h` from `from`, spread over
/// each hour, by seven users.
fn hours_of(f: &mut Fixture, kind: &str, from: i64, per_hour: &[i64]) {
    for (h, &n) in per_hour.iter().enumerate() {
        for i in 0..n {
            let at = from + h as i64 * HOUR + i * (HOUR / n) + MINUTE / 2;
            f.event(kind, at, Some(&format!("user{}", i % 7)), None);
        }
    }
}

#[test]
fn a_sparse_regression_the_first_hour_cannot_show_is_flagged_by_the_second_look() {
    let mut f = Fixture::new();
    f.background("Steady", T0, 72, 6);
    f.background("Sparse", T0, 72, 2);
    let deploy = f.deploy("v2", T0 + 72 * HOUR);
    // The deploy makes Sparse fire four times as often from its second hour
    // on (a code path reached gradually); five in the first hour is
    // within what 2/h does now and then.
    f.background("Steady", deploy.at_ms, 7, 6);
    hours_of(&mut f, "Sparse", deploy.at_ms, &[5, 8, 8, 8, 8, 8]);
    let mut runner = GateRunner::new(f.store.clone(), gate_with_second_look(), T0).expect("runner");

    let first = runner.tick(deploy.at_ms + HOUR + 2 * MINUTE).expect("tick");
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].kind, RunKind::Deploy);
    assert_eq!(first[0].flagged().count(), 0, "{:#?}", first[0]);
    assert!(
        runner
            .tick(deploy.at_ms + 5 * HOUR)
            .expect("tick")
            .is_empty(),
        "the second look waits for its whole span"
    );

    let second = runner
        .tick(deploy.at_ms + 6 * HOUR + 2 * MINUTE)
        .expect("tick");
    assert_eq!(second.len(), 1);
    let run = &second[0];
    assert_eq!(run.kind, RunKind::SecondLook);
    assert_eq!(run.id, format!("second-look:{}", deploy.id));
    assert_eq!(run.window_minutes, 360);
    let flagged: Vec<_> = run.flagged().collect();
    assert_eq!(flagged.len(), 1, "{run:#?}");
    assert_eq!(flagged[0].decision.signature, f.signature_of("Sparse"));
    assert_eq!(flagged[0].decision.verdict, Verdict::Regression);
    assert_eq!(flagged[0].decision.observed, 45);
    assert!(
        flagged[0]
            .decision
            .reason
            .contains("second look over the 360 minutes"),
        "{}",
        flagged[0].decision.reason
    );
    let candidates = f.store.candidates().expect("candidates");
    assert_eq!(candidates.len(), 1);
    assert_eq!(candidates[0].deploy_id.as_deref(), Some(deploy.id.as_str()));
    assert_eq!(candidates[0].run, run.id);
    assert_eq!(
        f.store.second_look_run(&deploy.id).expect("read"),
        Some(run.clone())
    );

    // Judged once: neither a later tick nor a restarted runner judges again.
    assert!(
        runner
            .tick(deploy.at_ms + 7 * HOUR)
            .expect("tick")
            .is_empty()
    );
    let mut restarted =
        GateRunner::new(f.store.clone(), gate_with_second_look(), T0).expect("runner");
    assert!(
        restarted
            .tick(deploy.at_ms + 7 * HOUR)
            .expect("tick")
            .is_empty()
    );
    assert_eq!(f.store.candidates().expect("candidates").len(), 1);
}

#[test]
fn the_second_look_ends_at_the_next_deploy_and_leaves_later_rises_alone() {
    let mut f = Fixture::new();
    f.background("Steady", T0, 72, 6);
    f.background("Dependency", T0, 72, 2);
    let first = f.deploy("v2", T0 + 72 * HOUR);
    let next = f.deploy("v3", first.at_ms + 3 * HOUR);
    f.background("Steady", first.at_ms, 4, 6);
    // A dependency fails two hours after v2: quiet in v2's first hour and
    // most of its second, then 60 an hour.
    hours_of(&mut f, "Dependency", first.at_ms, &[2, 2, 60]);
    let mut runner = GateRunner::new(f.store.clone(), gate_with_second_look(), T0).expect("runner");
    let runs = runner.tick(next.at_ms + 2 * MINUTE).expect("tick");
    let look = runs
        .iter()
        .find(|r| r.kind == RunKind::SecondLook)
        .expect("v2's second look is due when v3 lands");
    assert_eq!(look.window_minutes, 180, "cut at the next deploy");
    let dependency = look
        .decisions
        .iter()
        .find(|j| j.decision.signature == f.signature_of("Dependency"))
        .expect("judged");
    assert_eq!(
        dependency.decision.verdict,
        Verdict::Spike,
        "{}",
        dependency.decision.reason
    );
    assert!(dependency.decision.reason.contains("the rise began later"));
    assert!(
        f.store
            .candidates()
            .expect("candidates")
            .iter()
            .all(|c| c.verdict != Verdict::Regression && c.verdict != Verdict::New),
        "nothing is blamed on v2"
    );
}

#[test]
fn minute_counts_keep_users_up_to_the_cap() {
    let mut f = Fixture::new();
    let at = T0 + 10 * MINUTE;
    for i in 0..40 {
        f.event("Boom", at + i, Some(&format!("u{i}")), None);
    }
    f.event("Boom", at + 100, Some("u1"), None);
    f.event("Boom", at + MINUTE, None, None);
    let window = f.store.window(minute_of(at), 2).expect("window");
    let series = &window[&f.signature_of("Boom")];
    assert_eq!(series.counts, vec![41, 1]);
    assert_eq!(
        series.users.len(),
        suture_actors::store::gate::MAX_USERS_PER_MINUTE
    );
}

#[test]
fn traffic_is_exposure_only_when_it_covers_the_baseline() {
    let f = Fixture::new();
    let hour = (T0 / HOUR) as u32;
    for h in 2..5 {
        f.store
            .record_traffic(&TrafficRecord {
                at_ms: T0 + h * HOUR + 5 * MINUTE,
                requests: 100,
                release: None,
            })
            .expect("traffic");
    }
    assert_eq!(f.store.traffic_hours(hour, 5).expect("read"), None);
    assert_eq!(
        f.store.traffic_hours(hour + 2, 3).expect("read"),
        Some(vec![100, 100, 100])
    );
    assert_eq!(
        f.store
            .traffic_minutes(minute_of(T0 + 2 * HOUR), 60)
            .expect("read"),
        100
    );
}

#[test]
fn a_new_release_is_a_deploy_and_its_marker_the_same_deploy() {
    let mut f = Fixture::new();
    f.event("Boom", T0, None, Some("v1"));
    assert!(
        f.store.deploys().expect("deploys").is_empty(),
        "the first release is the starting state"
    );
    f.event("Boom", T0 + HOUR, None, Some("v2"));
    f.event("Boom", T0 + HOUR + 5, None, Some("v2"));
    let deploys = f.store.deploys().expect("deploys");
    assert_eq!(deploys.len(), 1);
    assert_eq!(deploys[0].revision, "v2");
    assert_eq!(deploys[0].source, DeploySource::Release);
    assert_eq!(deploys[0].at_ms, T0 + HOUR);
    // CI's marker for v2 arrives ten minutes later: the same deploy.
    let marker = f.deploy("v2", T0 + HOUR + 10 * MINUTE);
    assert_eq!(marker.id, deploys[0].id);
    assert_eq!(f.store.deploys().expect("deploys").len(), 1);
}

#[test]
fn a_release_is_a_deploy_when_received_once_per_environment() {
    let mut f = Fixture::new();
    f.event("Boom", T0, None, Some("v1"));
    let received = T0 + 3 * HOUR;
    let mut commit = |environment: &str, timestamp_ms: i64| {
        let event = Event {
            id: suture_actors::domain::event::new_id(),
            received_at_ms: received,
            // The sender says the event happened a week earlier.
            timestamp_ms,
            exception_type: Some("Boom".into()),
            message: "Boom happened".into(),
            release: Some("v2".into()),
            environment: Some(environment.into()),
            source: "test".into(),
            ..Event::default()
        };
        let signature = f.signer.sign(&event);
        f.store
            .commit(&[SignedEvent { event, signature }], received, &mut f.cache)
            .expect("commit");
    };
    commit("staging", received - 7 * 24 * HOUR);
    commit("production", received - 7 * 24 * HOUR);
    commit("production", received);
    let deploys = f.store.deploys().expect("deploys");
    let mut seen: Vec<_> = deploys
        .iter()
        .map(|d| (d.environment.as_deref(), d.at_ms))
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [(Some("production"), received), (Some("staging"), received)],
        "one deploy per environment, at the time it was received, not the forged timestamp"
    );
}

#[test]
fn a_deploy_that_adds_an_error_is_flagged_and_one_that_does_not_is_not() {
    let mut f = Fixture::new();
    f.background("Steady", T0, 72, 6);
    let quiet = f.deploy("quiet", T0 + 48 * HOUR + 10 * MINUTE);
    let broken = f.deploy("broken", T0 + 72 * HOUR + 10 * MINUTE);
    f.background("Steady", T0 + 72 * HOUR, 2, 6);
    for i in 0..20 {
        let at = broken.at_ms + i * 2 * MINUTE;
        f.event("Broken", at, Some(&format!("user{}", i % 5)), None);
    }
    let mut runner = GateRunner::new(f.store.clone(), gate(), T0).expect("runner");
    // Before the broken deploy's window has closed and settled: only the quiet one.
    let runs = runner.tick(broken.at_ms + HOUR).expect("tick");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].id, format!("deploy:{}", quiet.id));
    assert_eq!(runs[0].flagged().count(), 0, "{:#?}", runs[0]);

    let runs = runner.tick(broken.at_ms + HOUR + 2 * MINUTE).expect("tick");
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    assert_eq!(run.kind, RunKind::Deploy);
    let flagged: Vec<_> = run.flagged().collect();
    assert_eq!(flagged.len(), 1, "{run:#?}");
    assert_eq!(flagged[0].decision.signature, f.signature_of("Broken"));
    assert_eq!(flagged[0].decision.verdict, Verdict::New);
    assert_eq!(flagged[0].decision.observed, 20);
    assert_eq!(flagged[0].distinct_users, Some(5));
    assert_eq!(flagged[0].sample_message, "Broken happened");
    assert!(
        run.decisions
            .iter()
            .any(|d| d.decision.signature == f.signature_of("Steady")
                && d.decision.verdict == Verdict::Pass)
    );

    // Stored: the run, and exactly one candidate; a later tick judges nothing again.
    assert_eq!(
        f.store.deploy_run(&broken.id).expect("read"),
        Some(run.clone())
    );
    let candidates = f.store.candidates().expect("candidates");
    assert_eq!(candidates.len(), 1);
    assert_eq!(candidates[0].deploy_id.as_deref(), Some(broken.id.as_str()));
    assert_eq!(candidates[0].verdict, Verdict::New);
    assert!(
        runner
            .tick(broken.at_ms + 3 * HOUR)
            .expect("tick")
            .is_empty()
    );
}

#[test]
fn a_new_error_with_one_user_is_not_enough() {
    let mut f = Fixture::new();
    f.background("Steady", T0, 30, 6);
    let deploy = f.deploy("r1", T0 + 30 * HOUR);
    for i in 0..20 {
        f.event("Retry", deploy.at_ms + i * MINUTE, Some("same-user"), None);
    }
    let mut runner = GateRunner::new(f.store.clone(), gate(), T0).expect("runner");
    let runs = runner.tick(deploy.at_ms + 2 * HOUR).expect("tick");
    let retry = runs[0]
        .decisions
        .iter()
        .find(|d| d.decision.signature == f.signature_of("Retry"))
        .expect("judged");
    assert_eq!(retry.decision.verdict, Verdict::Pass);
    assert!(
        retry.decision.reason.contains("user"),
        "{}",
        retry.decision.reason
    );
}

#[test]
fn a_young_store_judges_a_deploy_by_the_cold_start_rules() {
    let mut f = Fixture::new();
    f.background("Steady", T0, 3, 6);
    f.background("Doubling", T0, 3, 10);
    let deploy = f.deploy("early", T0 + 3 * HOUR);
    f.background("Boom", T0 + 3 * HOUR, 1, 30);
    f.background("Steady", T0 + 3 * HOUR, 1, 6);
    f.background("Doubling", T0 + 3 * HOUR, 1, 20);
    let mut runner = GateRunner::new(f.store.clone(), gate(), T0).expect("runner");
    let runs = runner.tick(deploy.at_ms + 2 * HOUR).expect("tick");
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    assert!(
        run.note.as_deref().unwrap_or("").starts_with("cold start"),
        "{:?}",
        run.note
    );
    let verdict_of = |kind: &str| {
        let id = f.signature_of(kind);
        let judged = run
            .decisions
            .iter()
            .find(|d| d.decision.signature == id)
            .unwrap_or_else(|| panic!("{kind} judged"));
        let cold = judged.decision.cold_start.expect("marked cold_start");
        assert_eq!(cold.history_minutes, 180);
        assert_eq!(cold.min_history_minutes, 1440);
        (judged.decision.verdict, judged.decision.reason.clone())
    };
    let (boom, reason) = verdict_of("Boom");
    assert_eq!(boom, Verdict::New, "{reason}");
    assert!(reason.contains("3 h of history"), "{reason}");
    // Known signatures are judged against the three hours there are: an
    // unchanged one passes, and a doubling without traffic is below the 3x
    // that short history asks for.
    let (steady, reason) = verdict_of("Steady");
    assert_eq!(steady, Verdict::Pass, "{reason}");
    let (doubling, reason) = verdict_of("Doubling");
    assert_eq!(doubling, Verdict::Pass, "{reason}");
    assert!(reason.contains("daily cycle"), "{reason}");
    let candidates = f.store.candidates().expect("candidates");
    assert_eq!(candidates.len(), 1);
    assert_eq!(candidates[0].signature, f.signature_of("Boom"));
}

#[test]
fn min_history_zero_judges_the_first_deploy_of_a_store() {
    let mut f = Fixture::new();
    // Twenty minutes of history, all in the deploy's own clock hour.
    f.background("Steady", T0 + 10 * MINUTE, 1, 3);
    let deploy = f.deploy("first", T0 + 30 * MINUTE);
    for i in 0..60 {
        f.event(
            "KeyError",
            deploy.at_ms + i * MINUTE / 2,
            Some(&format!("user{}", i % 40)),
            None,
        );
    }
    f.event("Steady", deploy.at_ms + 5 * MINUTE, Some("u1"), None);
    let cfg = GateConfig {
        min_history: Duration::ZERO,
        ..gate()
    };
    let mut runner = GateRunner::new(f.store.clone(), cfg, T0).expect("runner");
    let runs = runner.tick(deploy.at_ms + 2 * HOUR).expect("tick");
    let run = &runs[0];
    let key_error = run
        .decisions
        .iter()
        .find(|d| d.decision.signature == f.signature_of("KeyError"))
        .expect("judged");
    assert_eq!(
        key_error.decision.verdict,
        Verdict::New,
        "{}",
        key_error.decision.reason
    );
    assert!(key_error.candidate);
    assert_eq!(key_error.distinct_users, Some(40));
    let steady = run
        .decisions
        .iter()
        .find(|d| d.decision.signature == f.signature_of("Steady"))
        .expect("judged");
    assert_eq!(steady.decision.verdict, Verdict::Pass);
    assert!(
        steady.decision.reason.starts_with("not judged"),
        "{}",
        steady.decision.reason
    );
}

#[test]
fn a_spike_between_deploys_is_one_candidate_however_many_batches() {
    let mut f = Fixture::new();
    f.background("Steady", T0, 48, 6);
    f.background("Flaky", T0, 48, 2);
    let mut runner = GateRunner::new(f.store.clone(), gate(), T0).expect("runner");
    // A third-party outage: Flaky goes from 2/h to 120/h for three hours,
    // and the debounce queue hands on a batch every 20 minutes.
    let start = T0 + 48 * HOUR;
    let mut spike_candidates = 0;
    for step in 0..9 {
        let from = start + step * 20 * MINUTE;
        for i in 0..40 {
            f.event("Flaky", from + i * 30_000, Some(&format!("u{i}")), None);
        }
        f.event("Steady", from, None, None);
        let batch = f
            .store
            .take_pending_batch(HandoffReason::MaxWait, from + 20 * MINUTE)
            .expect("batch")
            .expect("something pending");
        let runs = runner.tick(batch.handed_at_ms).expect("tick");
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].kind, RunKind::Continuous);
        for judged in runs[0].flagged() {
            assert_eq!(judged.decision.signature, f.signature_of("Flaky"));
            assert_eq!(judged.decision.verdict, Verdict::Spike);
            if judged.candidate {
                spike_candidates += 1;
            }
        }
    }
    assert_eq!(spike_candidates, 1);
    let candidates = f.store.candidates().expect("candidates");
    assert_eq!(candidates.len(), 1);
    assert_eq!(candidates[0].verdict, Verdict::Spike);
    assert_eq!(candidates[0].deploy_id, None);
    let runs = f.store.runs_since(0, 100).expect("runs");
    assert_eq!(runs.len(), 9, "every batch's decisions are stored");
}

#[test]
fn judged_batches_are_pruned_but_numbering_and_unjudged_batches_survive() {
    let mut f = Fixture::new();
    let take = |f: &mut Fixture, at: i64| {
        f.event("Steady", at, None, None);
        f.store
            .take_pending_batch(HandoffReason::MaxWait, at + MINUTE)
            .expect("batch")
            .expect("something pending")
            .seq
    };
    let seqs: Vec<u64> = (0..5).map(|i| take(&mut f, T0 + i * HOUR)).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5]);
    // Judged through 4, keep the newest 2 judged: 1 and 2 go.
    assert_eq!(f.store.prune_batches(4, 2).expect("prune"), 2);
    let left: Vec<u64> = f
        .store
        .batches_after(0)
        .expect("read")
        .iter()
        .map(|b| b.seq)
        .collect();
    assert_eq!(left, [3, 4, 5], "unjudged batch 5 stays");
    // Everything judged and keep 0: the last batch still stays, so the
    // next one is numbered after it (the gate's cursor is 5).
    assert_eq!(f.store.prune_batches(5, 0).expect("prune"), 2);
    assert_eq!(f.store.last_batch().expect("last").map(|b| b.seq), Some(5));
    assert_eq!(take(&mut f, T0 + 6 * HOUR), 6);
    assert_eq!(f.store.batches_after(5).expect("read").len(), 1);
}

#[test]
fn forged_releases_make_at_most_the_hourly_cap_of_deploys() {
    let mut f = Fixture::new();
    f.event("Boom", T0, None, Some("v0"));
    // A release a minute for two hours, all in the default environment
    // (release_deploys_per_hour = 6).
    for i in 1..=120 {
        f.event(
            "Boom",
            T0 + HOUR + i * MINUTE,
            None,
            Some(&format!("forged-{i}")),
        );
    }
    let deploys = f.store.deploys().expect("deploys");
    let hours: Vec<i64> = deploys.iter().map(|d| (d.at_ms - T0) / HOUR).collect();
    assert_eq!(
        hours.iter().filter(|&&h| h == 1).count(),
        6,
        "six in the first hour: {hours:?}"
    );
    assert!(
        deploys.len() <= 13,
        "at most six an hour over two hours: {hours:?}"
    );
    // A marker is the operator's word and is not capped.
    let marker = f.deploy("v-real", T0 + HOUR + 30 * MINUTE);
    assert!(
        f.store
            .deploys()
            .expect("deploys")
            .iter()
            .any(|d| d.id == marker.id)
    );
}

#[test]
fn a_deploy_run_past_decision_retention_is_pruned_and_not_judged_again() {
    let mut f = Fixture::new();
    f.background("Steady", T0, 48, 6);
    let deploy = f.deploy("v2", T0 + 48 * HOUR + 10 * MINUTE);
    let mut runner = GateRunner::new(f.store.clone(), gate(), T0).expect("runner");
    let runs = runner.tick(deploy.at_ms + 2 * HOUR).expect("tick");
    assert!(
        runs.iter().any(|r| r.kind == RunKind::Deploy),
        "judged once"
    );
    assert!(f.store.deploy_run(&deploy.id).expect("read").is_some());

    let later = deploy.at_ms + 31 * 24 * HOUR;
    let runs = runner.tick(later).expect("tick a month later");
    assert!(runs.is_empty(), "nothing judged again: {runs:?}");
    assert!(
        f.store.deploy_run(&deploy.id).expect("read").is_none(),
        "run pruned"
    );
    assert!(
        f.store.deploy(&deploy.id).expect("read").is_some(),
        "the deploy stays"
    );
    let runs = runner.tick(later + 2 * HOUR).expect("next tick");
    assert!(runs.is_empty(), "still not judged again: {runs:?}");
}

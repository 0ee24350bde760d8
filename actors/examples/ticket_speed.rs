//! How long the ticket stages take on the deterministic path, with a real
//! git repository: an analyzer batch of 20 gated signatures (store reads,
//! scrubbing, frame resolution, grouping, one transaction and flush), then
//! a triage pass over the tickets it made (the deploy's diff read with git
//! once per pass, frames matched against it). An LLM call, when configured,
//! adds its own seconds on top; this is what Suture itself costs.
//!
//! `cargo run --release -p suture-actors --example ticket_speed [files]`
//! (`files`: the repository's size, 2000 by default). Prints the median of
//! 7 runs, each on a fresh store.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use suture_actors::clients::git::{Repo, RepoConfig};
use suture_actors::config::{Durability, StoreConfig};
use suture_actors::control::Control;
use suture_actors::domain::analyzer::AnalyzerConfig;
use suture_actors::domain::event::{Event, Frame};
use suture_actors::domain::gate::decide::{Decision, ImpactUnit, Method, Severity, Verdict};
use suture_actors::domain::llm::prompt::{PromptKind, Template};
use suture_actors::domain::scrub::Scrubber;
use suture_actors::domain::signature::{SignatureConfig, Signer};
use suture_actors::domain::triage::TriageConfig;
use suture_actors::stages::analyzer::{AnalyzerContext, analyze_once};
use suture_actors::stages::triage::{TriageContext, triage_once};
use suture_actors::store::{
    DeployRecord, DeploySource, GateRun, JudgedSignature, RecordCache, RunKind, SignedEvent, Store,
};
use suture_actors::{clients::llm::LlmClient, clients::llm::LlmParts};

const SIGNATURES: usize = 20;
const RUNS: usize = 7;

fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=b", "-c", "user.email=b@example.com"])
        .args(["-c", "commit.gpgsign=false"])
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?} failed");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A repository of `files` modules; the second commit changes 30 of them.
fn repository(dir: &Path, files: usize) -> (String, String) {
    git(dir, &["init", "-q"]);
    let write = |version: &str, every: usize| {
        for i in (0..files).step_by(every) {
            let path = dir.join(format!("src/mod{}/file{i}.py", i % 40));
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            let body: String = (0..80)
                .map(|l| format!("x_{l} = {version}  # line {l}\n"))
                .collect();
            std::fs::write(path, body).expect("write");
        }
    };
    write("1", 1);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "base"]);
    let base = git(dir, &["rev-parse", "HEAD"]);
    write("2", (files / 30).max(1));
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "deploy"]);
    (base, git(dir, &["rev-parse", "HEAD"]))
}

fn parts() -> Arc<LlmParts> {
    Arc::new(LlmParts {
        client: LlmClient::disabled(),
        scrubber: Arc::new(Scrubber::builtin()),
        analyzer_prompt: Template::load(PromptKind::Analyzer, Path::new("")).expect("built-in"),
        triage_prompt: Template::load(PromptKind::Triage, Path::new("")).expect("built-in"),
        coder_prompt: Template::load(PromptKind::Coder, Path::new("")).expect("built-in"),
    })
}

/// A fresh store with 20 gated signatures attributed to the deploy.
fn store(dir: &Path, base: &str, head: &str, files: usize) -> Store {
    let store = Store::open(&StoreConfig {
        path: dir.join("data"),
        durability: Durability::Fsync,
        ..StoreConfig::default()
    })
    .expect("store");
    let signer = Signer::new(&SignatureConfig::default()).expect("signer");
    let mut cache = RecordCache::default();
    let t0 = 1_767_571_200_000;
    for (revision, at) in [(base, t0 - 86_400_000), (head, t0)] {
        store
            .record_deploy(&DeployRecord {
                id: format!("d-{}", &revision[..8]),
                revision: revision.into(),
                environment: None,
                at_ms: at,
                received_at_ms: at,
                source: DeploySource::Marker,
            })
            .expect("deploy");
    }
    let mut judged = Vec::new();
    for s in 0..SIGNATURES {
        let i = (s * 97) % files;
        let frames = (0..15)
            .map(|depth| Frame {
                filename: Some(format!("/srv/app/src/mod{}/file{}.py", (i + depth) % 40, i)),
                function: Some(format!("f{depth}")),
                lineno: Some(10 + depth as u32),
                in_app: Some(depth > 3),
                ..Frame::default()
            })
            .collect();
        let event = Event {
            id: suture_actors::domain::event::new_id(),
            received_at_ms: t0,
            timestamp_ms: t0,
            exception_type: Some(format!("Error{s}")),
            message: format!("request {s} failed for user{s}@example.com: value out of range"),
            frames,
            breadcrumbs: (0..10)
                .map(
                    |b| serde_json::json!({"category": "http", "message": format!("GET /api/{b}")}),
                )
                .collect(),
            source: "bench".into(),
            ..Event::default()
        };
        let signature = signer.sign(&event);
        let id = signature.id.clone();
        store
            .commit(&[SignedEvent { event, signature }], t0, &mut cache)
            .expect("commit");
        judged.push(JudgedSignature {
            decision: Decision {
                signature: id,
                observed: 40,
                expected: 2.0,
                ratio: Some(20.0),
                p: 1e-9,
                q: 1e-8,
                impact: 0.5,
                impact_unit: ImpactUnit::EventsPerMinute,
                severity: Severity::High,
                verdict: Verdict::New,
                method: Method::ExactPoisson,
                reason: "new".into(),
                cold_start: None,
                dispersion: None,
                recent_expected: Vec::new(),
            },
            title: format!("Error{s}"),
            sample_message: String::new(),
            distinct_users: Some(10),
            candidate: true,
        });
    }
    let deploy = store.deploys().expect("deploys").pop();
    store
        .record_run(&GateRun {
            id: format!("deploy:d-{}", &head[..8]),
            kind: RunKind::Deploy,
            deploy,
            batch_seq: None,
            window_start_ms: t0,
            window_minutes: 60,
            baseline_hours: 168,
            judged_at_ms: t0 + 3_600_000,
            traffic_known: false,
            note: None,
            decisions: judged,
        })
        .expect("run");
    store.flush_blocking().expect("flush");
    store
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let files: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    let repo_dir = tempfile::tempdir().expect("tempdir");
    let (base, head) = repository(repo_dir.path(), files);
    let repo = Repo::open(&RepoConfig {
        path: repo_dir.path().to_path_buf(),
        ..RepoConfig::default()
    })
    .await
    .expect("repo")
    .expect("configured");
    let (mut analyze_ms, mut triage_ms, mut tickets) = (Vec::new(), Vec::new(), 0);
    for _ in 0..RUNS {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = store(dir.path(), &base, &head, files);
        let llm = parts();
        let analyzer = AnalyzerContext {
            config: AnalyzerConfig::default(),
            shadow: true,
            store: store.clone(),
            llm: llm.clone(),
            repo: Some(repo.clone()),
            control: Control::new(store.clone(), llm.scrubber.clone()),
            regression_window_ms: 7 * 86_400_000,
            fix_loop_failures: 3,
        };
        let start = Instant::now();
        let report = analyze_once(&analyzer).await.expect("analyzed");
        analyze_ms.push(start.elapsed().as_secs_f64() * 1000.0);
        tickets = report.outcome.created.len();
        let triage = TriageContext {
            config: TriageConfig {
                max_per_pass: SIGNATURES,
                ..TriageConfig::default()
            },
            shadow: true,
            control: Control::new(store.clone(), llm.scrubber.clone()),
            store,
            llm,
            repo: Some(repo.clone()),
            github: None,
            guard: suture_actors::control::guard::Guard::new(true),
        };
        let start = Instant::now();
        let pass = triage_once(&triage).await.expect("triaged");
        triage_ms.push(start.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(pass.triaged.len(), tickets);
    }
    println!(
        "repository: {files} files, deploy changed {} of them",
        files.div_ceil((files / 30).max(1))
    );
    println!(
        "analyzer batch: {SIGNATURES} signatures -> {tickets} tickets: median {:.1} ms (fsync store)",
        median(analyze_ms)
    );
    println!(
        "triage pass: {tickets} tickets (one diff, one file list): median {:.1} ms",
        median(triage_ms)
    );
}

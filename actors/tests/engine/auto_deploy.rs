//! Suture deploying its own fix (`[deploy]`), with real parts: py-shop as
//! a real repository, the merge through octocrab against the GitHub
//! stand-in, real deploy and rollback commands (shell scripts writing what
//! they were told), real events in sled, and the gate itself judging the
//! canary window.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use suture_actors::clock::now_ms;
use suture_actors::domain::coder::config::CommandLine;
use suture_actors::domain::control::{AutonomyLevel, AutonomySetting};
use suture_actors::domain::deploy::DeployConfig;
use suture_actors::domain::event::Event;
use suture_actors::domain::memory::FixOutcome;
use suture_actors::domain::tickets::{FixRecord, TicketState};
use suture_actors::stages::coder::Coder;
use suture_actors::stages::coder::deploy::run_due;
use suture_actors::store::{RecordCache, SignedEvent};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::coder_agent::{Error, Scene, agent_config};
use crate::tickets_pipeline::frame;
use crate::verify::{Errors, control, deploy, github_calls};

const H: i64 = 3_600_000;
const DAY: i64 = 24 * H;

/// A `pr_open` ticket whose ready pull request #7 Suture may merge; the
/// error regressed with deploy `d-1` five hours ago (revision `before`).
struct Ready {
    scene: Scene,
    id: String,
    signature: String,
    before: String,
    merge: String,
    coder: Coder,
    out: tempfile::TempDir,
}

async fn ready(deploy_enabled: bool) -> Result<Ready, Error> {
    ready_as(deploy_enabled, true).await
}

/// [`ready`], its pull request opened ready for review or as a draft.
async fn ready_as(deploy_enabled: bool, pr_ready: bool) -> Result<Ready, Error> {
    let scene = Scene::new(Vec::new(), true).await?;
    let (before, merge) = scene.merge_fix()?;
    let server = scene.github.as_ref().ok_or("GitHub stand-in")?;
    Mock::given(method("PUT"))
        .and(path("/repos/acme/py-shop/pulls/7/merge"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"sha": merge, "merged": true, "message": "merged"})),
        )
        .mount(server)
        .await;
    let now = now_ms();
    let regressed_at = now - 5 * H;
    let mut errors = Errors::new()?;
    let signature = errors.signature();
    errors
        .store(&scene, regressed_at - 7 * DAY, regressed_at, 84)
        .await?;
    errors.store(&scene, regressed_at, now - H, 80).await?;
    scene
        .store
        .record_deploy(&deploy("d-1", &before, regressed_at))?;
    let id = scene.ticket("'coupon'")?;
    let fix: FixRecord = serde_json::from_value(json!({
        "attempt": 1, "branch": format!("suture/fix-{id}-1"), "commit": "c", "base": before,
        "files": ["shop/orders.py"], "tests": "passed", "review": {"state": "approved", "at_ms": 1},
        "pull_request": {"number": 7, "url": "https://github.example/acme/py-shop/pull/7",
            "created_at_ms": now - H, "ready": pr_ready}
    }))?;
    let sig = signature.clone();
    scene.store.update_ticket(&id, |t| {
        t.state = TicketState::PrOpen;
        t.fix = Some(fix.clone());
        t.signatures[0].signature = sig.clone();
        Ok(())
    })?;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let control = control(&scene, &seen).with_autonomy(AutonomySetting {
        level: AutonomyLevel::Deploy,
        by_severity: Default::default(),
        allow_deploy: true,
    });
    let out = tempfile::tempdir()?;
    let dir = out.path().display();
    let mut coder = scene.coder(agent_config(), false).await?;
    coder.guard = control.guard(false);
    coder.halt = control.halt();
    coder.control = control;
    coder.deploy = DeployConfig {
        enabled: deploy_enabled,
        command: CommandLine::Shell(format!(
            "printf %s \"$SUTURE_DEPLOY_REVISION\" > {dir}/deployed && echo deployed"
        )),
        rollback_command: CommandLine::Shell(format!(
            "printf '%s -> %s' \"$SUTURE_ROLLBACK_FROM\" \"$SUTURE_ROLLBACK_TO\" > {dir}/rolled-back"
        )),
        canary_window: Duration::from_secs(3),
        ..DeployConfig::default()
    };
    Ok(Ready {
        scene,
        id,
        signature,
        before,
        merge,
        coder,
        out,
    })
}

/// A brand-new error from four users, a dozen times, timestamped now.
async fn new_error(scene: &Scene) -> Result<(), Error> {
    let signer = suture_actors::domain::signature::Signer::new(&Default::default())?;
    let now = now_ms();
    let events: Vec<SignedEvent> = (0..12)
        .map(|i| {
            let event = Event {
                id: suture_actors::domain::event::new_id(),
                received_at_ms: now,
                timestamp_ms: now + i,
                exception_type: Some("TypeError".into()),
                message: "cannot read 'total' of undefined".into(),
                frames: vec![frame("/srv/py-shop/shop/cart.py", "checkout", 12)],
                user: Some(json!({"id": format!("u{}", i % 4)})),
                source: "test".into(),
                ..Event::default()
            };
            let signature = signer.sign(&event);
            SignedEvent { event, signature }
        })
        .collect();
    scene
        .store
        .commit(&events, now, &mut RecordCache::default())?;
    scene.store.flush().await?;
    Ok(())
}

/// Waits until the deploy command ran and the canary began.
async fn wait_deployed(r: &Ready) -> Result<(), Error> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ticket = r.scene.store.ticket(&r.id)?.ok_or("ticket")?;
        if ticket
            .auto_deploy
            .as_ref()
            .is_some_and(|d| d.deployed_at_ms.is_some())
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("never deployed: {:?}", ticket.audit).into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn trail(r: &Ready) -> Result<Vec<String>, Error> {
    Ok(r.scene
        .store
        .ticket(&r.id)?
        .ok_or("ticket")?
        .audit
        .iter()
        .map(|a| a.action.clone())
        .collect())
}

#[tokio::test]
async fn a_canary_in_which_the_gate_flags_a_new_error_rolls_back_and_escalates() -> Result<(), Error>
{
    let r = ready(true).await?;
    let coder = r.coder.clone();
    let run = tokio::spawn(async move { run_due(&coder).await });
    // Once deployed, a new error starts: the canary must see it.
    wait_deployed(&r).await?;
    new_error(&r.scene).await?;
    assert_eq!(run.await??, 1);

    let ticket = r.scene.store.ticket(&r.id)?.ok_or("ticket")?;
    assert_eq!(ticket.state, TicketState::Escalated);
    let outcome = ticket
        .auto_deploy
        .as_ref()
        .and_then(|d| d.outcome.clone())
        .unwrap_or_default();
    assert!(
        outcome.starts_with("rolled back: the gate flagged"),
        "{outcome}"
    );
    let deployed = std::fs::read_to_string(r.out.path().join("deployed"))?;
    assert_eq!(deployed, r.merge, "the deploy command got the merge commit");
    let rolled = std::fs::read_to_string(r.out.path().join("rolled-back"))?;
    assert_eq!(rolled, format!("{} -> {}", r.merge, r.before));
    let merged = ticket
        .fix
        .as_ref()
        .and_then(|f| f.pull_request.as_ref())
        .and_then(|p| p.merged.as_ref())
        .ok_or("merged")?;
    assert_eq!(
        (merged.commit.as_str(), merged.by.as_str()),
        (r.merge.as_str(), "suture")
    );
    assert!(
        r.scene.store.fix_loop(&r.signature)?.tripped.is_some(),
        "the fix loop is tripped"
    );
    assert_eq!(
        r.scene.store.past_fixes()?[0].outcome,
        FixOutcome::RolledBack
    );
    let actions = trail(&r)?;
    for step in [
        "deploy_started",
        "deploy_merged",
        "deploy_deploy_command",
        "deploy_deployed",
        "deploy_rollback_command",
        "deploy_outcome",
    ] {
        assert!(actions.iter().any(|a| a == step), "{step} in {actions:?}");
    }
    let calls = github_calls(&r.scene).await;
    assert!(
        calls.contains(&"PUT /repos/acme/py-shop/pulls/7/merge".to_string()),
        "{calls:?}"
    );
    // The rollback is a deploy too, back to the old revision.
    assert!(
        r.scene
            .store
            .deploys()?
            .iter()
            .any(|d| d.id.contains("rollback") && d.revision == r.before)
    );
    Ok(())
}

#[tokio::test]
async fn a_quiet_canary_passes_and_verification_takes_over() -> Result<(), Error> {
    let r = ready(true).await?;
    assert_eq!(run_due(&r.coder).await?, 1);
    let ticket = r.scene.store.ticket(&r.id)?.ok_or("ticket")?;
    assert_eq!(ticket.state, TicketState::Verifying);
    let progress = ticket.auto_deploy.as_ref().ok_or("progress")?;
    assert_eq!(progress.outcome.as_deref(), Some("passed"));
    let deployed = ticket
        .fix
        .as_ref()
        .and_then(|f| f.pull_request.as_ref())
        .and_then(|p| p.merged.as_ref())
        .and_then(|m| m.deployed.as_ref())
        .ok_or("the deploy is recorded for verification")?;
    assert_eq!(deployed.revision, r.merge);
    assert!(!r.out.path().join("rolled-back").exists());
    // Done once: the next run does nothing.
    assert_eq!(run_due(&r.coder).await?, 0);
    Ok(())
}

#[tokio::test]
async fn without_deploy_enabled_nothing_is_merged_and_the_engine_refuses_the_autonomy()
-> Result<(), Error> {
    let r = ready(false).await?;
    assert_eq!(run_due(&r.coder).await?, 0);
    let ticket = r.scene.store.ticket(&r.id)?.ok_or("ticket")?;
    assert_eq!(ticket.state, TicketState::PrOpen);
    assert!(ticket.auto_deploy.is_none());
    assert!(
        github_calls(&r.scene)
            .await
            .iter()
            .all(|c| !c.starts_with("PUT")),
        "no merge"
    );
    assert!(!r.out.path().join("deployed").exists());

    // The sidecar refuses to start with autonomy `deploy` and no [deploy].
    let dir = tempfile::tempdir()?;
    let mut config = suture_actors::config::EngineConfig::default();
    config.store.path = dir.path().join("db");
    config.autonomy.level = Some(AutonomyLevel::Deploy);
    config.autonomy.allow_deploy = true;
    match suture_actors::engine::Engine::start(config).await {
        Ok(_) => Err("the engine started with autonomy deploy and deploy.enabled = false".into()),
        Err(e) => {
            assert!(e.to_string().contains("deploy.enabled is false"), "{e}");
            Ok(())
        }
    }
}

#[tokio::test]
async fn the_kill_switch_stops_an_auto_deploy_in_its_canary() -> Result<(), Error> {
    let r = ready(true).await?;
    let coder = r.coder.clone();
    let run = tokio::spawn(async move { run_due(&coder).await });
    wait_deployed(&r).await?;
    r.coder.halt.set(true);
    run.await??;
    let ticket = r.scene.store.ticket(&r.id)?.ok_or("ticket")?;
    let outcome = ticket
        .auto_deploy
        .as_ref()
        .and_then(|d| d.outcome.clone())
        .unwrap_or_default();
    assert!(outcome.starts_with("stopped: the kill switch"), "{outcome}");
    assert_eq!(ticket.state, TicketState::Escalated);
    assert!(
        !r.out.path().join("rolled-back").exists(),
        "nothing more is done once the switch is engaged"
    );
    Ok(())
}

#[tokio::test]
async fn a_draft_opened_before_autonomy_became_deploy_is_marked_ready_merged_and_deployed()
-> Result<(), Error> {
    let r = ready_as(true, false).await?;
    let server = r.scene.github.as_ref().ok_or("GitHub stand-in")?;
    Mock::given(method("GET"))
        .and(path("/repos/acme/py-shop/pulls/7"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "number": 7, "node_id": "PR_kwDOseven", "draft": true, "state": "open",
            "merged": false, "head": {"ref": format!("suture/fix-{}-1", r.id)}
        })))
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path("/graphql"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": {"markPullRequestReadyForReview": {"pullRequest": {"isDraft": false}}}
        })))
        .mount(server)
        .await;
    // Opened at autonomy `pr`, as a draft: nothing happens at `pr`.
    let autonomy = r.coder.control.autonomy();
    autonomy.set_level(AutonomyLevel::Pr);
    assert_eq!(run_due(&r.coder).await?, 0);
    // The kill switch engaged at `deploy`: still nothing, not even marked ready.
    autonomy.set_level(AutonomyLevel::Deploy);
    r.coder.halt.set(true);
    assert_eq!(run_due(&r.coder).await?, 0);
    assert!(
        github_calls(&r.scene)
            .await
            .iter()
            .all(|c| c != "POST /graphql" && !c.starts_with("PUT")),
        "nothing asked of GitHub while the kill switch is engaged"
    );
    // Released at `deploy`: the draft is marked ready, merged, deployed.
    r.coder.halt.set(false);
    assert_eq!(run_due(&r.coder).await?, 1);
    let ticket = r.scene.store.ticket(&r.id)?.ok_or("ticket")?;
    let progress = ticket.auto_deploy.as_ref().ok_or("progress")?;
    assert_eq!(
        progress.outcome.as_deref(),
        Some("passed"),
        "{:?}",
        ticket.audit
    );
    let pull = ticket
        .fix
        .as_ref()
        .and_then(|f| f.pull_request.as_ref())
        .ok_or("pull request")?;
    assert!(pull.ready, "recorded as ready");
    assert_eq!(
        pull.merged.as_ref().map(|m| m.commit.as_str()),
        Some(r.merge.as_str())
    );
    let calls = github_calls(&r.scene).await;
    let ready_at = calls.iter().position(|c| c == "POST /graphql");
    let merged_at = calls
        .iter()
        .position(|c| c == "PUT /repos/acme/py-shop/pulls/7/merge");
    assert!(
        matches!((ready_at, merged_at), (Some(a), Some(b)) if a < b),
        "marked ready, then merged: {calls:?}"
    );
    let asked = server
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .find(|q| q.url.path() == "/graphql")
        .ok_or("the GraphQL request")?;
    let body: serde_json::Value = serde_json::from_slice(&asked.body)?;
    assert_eq!(body["variables"]["id"], "PR_kwDOseven");
    assert!(
        body["query"]
            .as_str()
            .is_some_and(|q| q.contains("markPullRequestReadyForReview"))
    );
    assert!(trail(&r)?.iter().any(|a| a == "deploy_ready"));
    assert_eq!(
        std::fs::read_to_string(r.out.path().join("deployed"))?,
        r.merge
    );
    Ok(())
}

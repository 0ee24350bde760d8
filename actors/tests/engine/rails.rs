//! The safety rails around the coding agent, with the same real parts as
//! `coder_agent` (py-shop as a real repository, pytest, the coder manager,
//! async-openai against the scripted stub, octocrab against a GitHub
//! stand-in): rate limits and budgets under a burst of 50 tickets, the
//! fix-loop breaker and its reset, webhooks that are down, and the audit
//! log of a whole run.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use suture_actors::clients::llm::{LlmClient, LlmConfig, LlmParts};
use suture_actors::clients::notify::Notifier;
use suture_actors::control::Control;
use suture_actors::control::guard::{Action, Refusal};
use suture_actors::domain::audit::AuditQuery;
use suture_actors::domain::coder::attempt::AttemptState;
use suture_actors::domain::control::{AutonomyLevel, AutonomySetting, Caller, LimitsConfig};
use suture_actors::domain::gate::decide::Severity;
use suture_actors::domain::llm::prompt::{PromptKind, Template};
use suture_actors::domain::notify::{
    Notification, NotificationKind, NotifyConfig, WebhookConfig, WebhookFormat,
};
use suture_actors::domain::scrub::Scrubber;
use suture_actors::domain::tickets::TicketState;
use suture_actors::stages::coder::{Coder, CoderMsg};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::coder_agent::{Error, Scene, agent_config, fix_reply, tool};
use crate::common::openai_stub::Reply;

/// Creates `count` triaged fix candidates of the same production error.
fn tickets(scene: &Scene, count: usize) -> Result<Vec<String>, Error> {
    (0..count).map(|_| scene.ticket("'coupon'")).collect()
}

/// Attempts made on any of `ids`.
fn attempts(scene: &Scene, ids: &[String]) -> Result<usize, Error> {
    let mut total = 0;
    for id in ids {
        total += scene.store.attempts(id)?.len();
    }
    Ok(total)
}

/// Waits until `count` attempts have ended (none running).
async fn wait_for_ended(scene: &Scene, ids: &[String], count: usize) -> Result<(), Error> {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let mut ended = 0;
        let mut running = 0;
        for id in ids {
            for attempt in scene.store.attempts(id)? {
                if attempt.state == AttemptState::Running {
                    running += 1;
                } else {
                    ended += 1;
                }
            }
        }
        if ended >= count && running == 0 {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("{ended} attempts ended, {running} running after 180 s").into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A control state over the scene's store at autonomy `pr`.
fn pr_control(scene: &Scene) -> Control {
    Control::new(scene.store.clone(), Arc::new(Scrubber::builtin())).with_autonomy(
        AutonomySetting {
            level: AutonomyLevel::Pr,
            by_severity: Default::default(),
            allow_deploy: false,
        },
    )
}

/// The control state of a scene, with `limits`, and its notifications
/// collected in `seen`.
fn control(scene: &Scene, limits: &LimitsConfig, seen: &Arc<Mutex<Vec<Notification>>>) -> Control {
    let seen = seen.clone();
    pr_control(scene)
        .with_limits(limits)
        .with_notify(Arc::new(move |n| {
            seen.lock().unwrap_or_else(|p| p.into_inner()).push(n)
        }))
}

fn kinds(seen: &Arc<Mutex<Vec<Notification>>>) -> Vec<NotificationKind> {
    seen.lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .map(|n| n.kind)
        .collect()
}

/// A coder for `scene` obeying `control`'s guard, at autonomy `pr`.
async fn coder_under(
    scene: &Scene,
    control: &Control,
    agent: suture_actors::domain::coder::config::AgentConfig,
) -> Result<Coder, Error> {
    let mut coder = scene.coder(agent, false).await?;
    coder.guard = control.guard(false);
    coder.control = control.clone();
    Ok(coder)
}

#[tokio::test]
async fn rate_limits_hold_under_a_burst_of_50_tickets_and_survive_a_restart() -> Result<(), Error> {
    let script = vec![Reply::answer(&fix_reply()?), Reply::answer(&fix_reply()?)];
    let scene = Scene::new(script, true).await?;
    let ids = tickets(&scene, 50)?;
    let limits = LimitsConfig {
        agent_attempts_per_hour: 2,
        prs_per_hour: 1,
        ..LimitsConfig::default()
    };
    let seen = Arc::new(Mutex::new(Vec::new()));
    let control = control(&scene, &limits, &seen);
    let agent = suture_actors::domain::coder::config::AgentConfig {
        max_concurrent: 4,
        ..agent_config()
    };
    let manager = scene
        .start(coder_under(&scene, &control, agent.clone()).await?)
        .await?;
    wait_for_ended(&scene, &ids, 2).await?;
    // Nudges do not start more: the hour's room is spent.
    for _ in 0..3 {
        manager.cast(CoderMsg::Nudge)?;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let status = ractor::call!(manager, CoderMsg::Status)?;
    assert_eq!(attempts(&scene, &ids)?, 2, "{status:?}");
    assert_eq!(
        scene.store.agent_queue()?.len(),
        48,
        "the rest wait, not lost"
    );
    let waiting = status.waiting.unwrap_or_default();
    assert!(waiting.contains("agent_attempts_per_hour"), "{waiting}");

    // Both attempts fixed it; one pull request fits the hour, the other
    // fix waits in review with the reason.
    let server = scene.github.as_ref().ok_or("github")?;
    let deadline = Instant::now() + Duration::from_secs(60);
    let (opened, held) = loop {
        let mut opened = Vec::new();
        let mut held = Vec::new();
        for id in &ids {
            let ticket = scene.store.ticket(id)?.ok_or("ticket gone")?;
            match (
                ticket.state,
                ticket.fix.as_ref().and_then(|f| f.held.clone()),
            ) {
                (TicketState::PrOpen, _) => opened.push(id.clone()),
                (TicketState::Review, Some(why)) => held.push(why),
                _ => {}
            }
        }
        if opened.len() + held.len() == 2 || Instant::now() > deadline {
            break (opened, held);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!((opened.len(), held.len()), (1, 1), "{opened:?} {held:?}");
    assert!(held[0].contains("prs_per_hour"), "{}", held[0]);
    let pulls = server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.method.as_str() == "POST" && r.url.path() == "/repos/acme/py-shop/pulls")
        .count();
    assert_eq!(pulls, 1, "GitHub got one pull request");
    manager.stop(None);

    // A crash loop cannot reset the limits: a new control state over the
    // same store refuses at once.
    let again =
        Control::new(scene.store.clone(), Arc::new(Scrubber::builtin())).with_limits(&limits);
    match again
        .guard(false)
        .admit_for(Action::RunAgent, Severity::High)
    {
        Err(Refusal::RateLimited { limited, .. }) => {
            assert_eq!(limited.name, "agent_attempts_per_hour");
            assert!(
                limited.retry_after > Duration::from_secs(60 * 20),
                "{limited}"
            );
        }
        other => panic!("the restarted limit admitted: {other:?}"),
    }
    assert!(
        again
            .guard(false)
            .admit_for(Action::OpenPullRequest, Severity::High)
            .is_err(),
        "the pull request limit too"
    );
    Ok(())
}

#[tokio::test]
async fn an_exhausted_budget_starts_no_attempt_and_says_so() -> Result<(), Error> {
    // The one call reports 150,000 tokens against an hourly budget of 100,000.
    let costly = Reply::Answer {
        content: fix_reply()?,
        prompt_tokens: 150_000,
        completion_tokens: 100,
    };
    let scene = Scene::new(vec![costly], false).await?;
    let ids = tickets(&scene, 50)?;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let control = control(&scene, &LimitsConfig::default(), &seen);
    let mut coder = coder_under(&scene, &control, agent_config()).await?;
    let scrubber = Arc::new(Scrubber::builtin());
    let client = LlmClient::with_env(
        &LlmConfig {
            base_url: scene.stub.base_url.clone(),
            model: "stub-model".into(),
            timeout: Duration::from_secs(20),
            max_retries: 0,
            hourly_token_budget: 100_000,
            ..LlmConfig::default()
        },
        scrubber.clone(),
        |_| None,
    )?;
    let guard = control.guard(false);
    client.attach_notify(Arc::new(move |n| guard.notify(n)));
    coder.llm = Arc::new(LlmParts {
        client,
        scrubber,
        analyzer_prompt: Template::load(PromptKind::Analyzer, Path::new(""))?,
        triage_prompt: Template::load(PromptKind::Triage, Path::new(""))?,
        coder_prompt: Template::load(PromptKind::Coder, Path::new(""))?,
    });
    let manager = scene.start(coder).await?;
    wait_for_ended(&scene, &ids, 1).await?;
    for _ in 0..3 {
        manager.cast(CoderMsg::Nudge)?;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let status = ractor::call!(manager, CoderMsg::Status)?;
    assert_eq!(attempts(&scene, &ids)?, 1, "{status:?}");
    let waiting = status.waiting.unwrap_or_default();
    assert!(waiting.contains("hourly token budget"), "{waiting}");
    assert_eq!(scene.store.agent_queue()?.len(), 49);
    assert!(
        kinds(&seen).contains(&NotificationKind::BudgetExhausted),
        "{:?}",
        kinds(&seen)
    );
    manager.stop(None);
    Ok(())
}

#[tokio::test]
async fn the_fix_loop_breaker_trips_and_needs_a_reset() -> Result<(), Error> {
    let give_up = || {
        Reply::ToolCalls(vec![tool(
            "give_up",
            json!({"reason": "the bug is not in this repository"}),
        )])
    };
    let scene = Scene::new(vec![give_up(), give_up(), give_up()], false).await?;
    let ids = tickets(&scene, 3)?;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let control = control(&scene, &LimitsConfig::default(), &seen);
    let agent = suture_actors::domain::coder::config::AgentConfig {
        fix_loop_failures: 2,
        cooldown: Duration::ZERO,
        max_concurrent: 1,
        ..agent_config()
    };
    let manager = scene
        .start(coder_under(&scene, &control, agent).await?)
        .await?;
    wait_for_ended(&scene, &ids, 2).await?;
    for _ in 0..3 {
        manager.cast(CoderMsg::Nudge)?;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(attempts(&scene, &ids)?, 2, "the breaker stops the third");
    let tripped = scene.store.fix_loop("sig-coupon")?;
    assert_eq!(tripped.failures, 2);
    let reason = tripped
        .tripped
        .as_ref()
        .ok_or("not tripped")?
        .reason
        .clone();
    assert!(reason.contains("2 failed agent attempts"), "{reason}");
    assert!(kinds(&seen).contains(&NotificationKind::BreakerTripped));
    let log = scene.store.audit(&AuditQuery {
        kind: Some("breaker".into()),
        limit: 10,
        ..AuditQuery::default()
    })?;
    assert_eq!(log.len(), 1, "{log:?}");

    // An operator resets it: the third ticket gets its attempt.
    let operator = Caller::new("alice", Some("127.0.0.1:5000".into()));
    control
        .reset_fix_loop("sig-coupon", "the vendored client was upgraded", &operator)
        .await?;
    assert!(scene.store.fix_loop("sig-coupon")?.tripped.is_none());
    manager.cast(CoderMsg::Nudge)?;
    wait_for_ended(&scene, &ids, 3).await?;
    assert_eq!(attempts(&scene, &ids)?, 3);
    let reset = scene.store.audit(&AuditQuery {
        kind: Some("admin".into()),
        limit: 10,
        ..AuditQuery::default()
    })?;
    assert_eq!(reset.len(), 1, "{reset:?}");
    assert_eq!(reset[0].actor, "alice");
    assert_eq!(reset[0].peer.as_deref(), Some("127.0.0.1:5000"));
    assert!(
        reset[0].detail.contains("vendored client"),
        "{}",
        reset[0].detail
    );
    manager.stop(None);
    Ok(())
}

#[tokio::test]
async fn a_webhook_receiver_that_hangs_holds_up_nothing_and_the_other_one_is_told()
-> Result<(), Error> {
    let hanging = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(600)))
        .mount(&hanging)
        .await;
    let working = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&working)
        .await;
    let urls = [
        ("HANGING_HOOK", hanging.uri()),
        ("SLACK_HOOK", format!("{}/slack", working.uri())),
    ];
    let config = NotifyConfig {
        webhooks: vec![
            WebhookConfig {
                url_env: "HANGING_HOOK".into(),
                ..WebhookConfig::default()
            },
            WebhookConfig {
                url_env: "SLACK_HOOK".into(),
                format: WebhookFormat::Slack,
                events: vec![NotificationKind::PrOpened],
            },
        ],
        queue: 4,
        timeout: Duration::from_secs(30),
        max_retries: 0,
        ..NotifyConfig::default()
    };
    let notifier = Notifier::start(
        &config,
        |name| {
            urls.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone())
        },
        Arc::new(|_| Ok(())),
    )?;
    // A full queue drops instead of waiting: a thousand sends return.
    let started = Instant::now();
    for n in 0..1_000 {
        notifier.send(Notification::new(
            NotificationKind::FixCandidate,
            n,
            "t",
            "x",
        ));
    }
    let sending = started.elapsed();

    let scene = Scene::new(vec![Reply::answer(&fix_reply()?)], true).await?;
    let id = scene.ticket("'coupon'")?;
    let sink = notifier.clone();
    let control = pr_control(&scene).with_notify(Arc::new(move |n| sink.send(n)));
    let manager = scene
        .start(coder_under(&scene, &control, agent_config()).await?)
        .await?;
    let ticket = scene
        .wait_for(
            &id,
            &[
                TicketState::PrOpen,
                TicketState::Escalated,
                TicketState::Review,
            ],
        )
        .await?;
    assert_eq!(ticket.state, TicketState::PrOpen, "{:?}", ticket.audit);

    // The working receiver got the pull request, in Slack's format.
    let deadline = Instant::now() + Duration::from_secs(30);
    let body: Value = loop {
        let received = working.received_requests().await.unwrap_or_default();
        if let Some(request) = received.iter().find(|r| r.url.path() == "/slack") {
            break serde_json::from_slice(&request.body)?;
        }
        assert!(Instant::now() < deadline, "the Slack receiver got nothing");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let text = body["text"].as_str().unwrap_or_default();
    assert!(text.contains("draft pull request"), "{text}");
    assert!(text.contains(&id), "{text}");
    // Printed, not asserted: the time a thousand sends took.
    println!("1000 sends to a hanging receiver returned in {sending:?}");
    manager.stop(None);
    Ok(())
}

#[tokio::test]
async fn a_merged_fix_is_found_in_the_first_deploy_that_contains_it() -> Result<(), Error> {
    use suture_actors::domain::tickets::FixRecord;
    use suture_actors::store::{DeployRecord, DeploySource};

    let scene = Scene::new(Vec::new(), false).await?;
    let id = scene.ticket("'coupon'")?;
    let (before, merge) = scene.merge_fix()?;
    let fix: FixRecord = serde_json::from_value(json!({
        "attempt": 1, "branch": format!("suture/fix-{id}-1"), "commit": "c", "base": before,
        "files": ["shop/orders.py"], "tests": "passed", "review": {"state": "pending"},
        "pull_request": {"number": 7, "url": "u", "created_at_ms": 1,
            "merged": {"commit": merge, "by": "maria", "at_ms": 1_000}}
    }))?;
    scene.store.update_ticket(&id, |t| {
        t.state = TicketState::Verifying;
        t.fix = Some(fix.clone());
        Ok(())
    })?;
    let deploy = |id: &str, revision: &str, at_ms: i64| DeployRecord {
        id: id.into(),
        revision: revision.into(),
        environment: Some("production".into()),
        at_ms,
        received_at_ms: at_ms,
        source: DeploySource::default(),
    };
    // Before the merge landed in a build, then the build that has it.
    scene
        .store
        .record_deploy(&deploy("d-old", &before, 2_000))?;
    let with_fix = scene.store.record_deploy(&deploy("d-new", &merge, 3_000))?;
    scene
        .store
        .record_deploy(&deploy("d-later", &merge, 4_000))?;

    let coder = scene.coder(agent_config(), true).await?;
    assert_eq!(
        suture_actors::stages::coder::manager::note_deployed_fixes(&coder).await?,
        1
    );
    let ticket = scene.store.ticket(&id)?.ok_or("ticket")?;
    let deployed = ticket
        .fix
        .and_then(|f| f.pull_request)
        .and_then(|p| p.merged)
        .and_then(|m| m.deployed)
        .ok_or("no deploy recorded")?;
    assert_eq!(deployed.deploy, with_fix.id);
    assert!(ticket.audit.iter().any(|a| a.action == "fix_deployed"));
    assert_eq!(
        suture_actors::stages::coder::manager::note_deployed_fixes(&coder).await?,
        0,
        "found once"
    );
    Ok(())
}

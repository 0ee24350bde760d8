//! Fixes held back from publishing, with real parts: py-shop as a real
//! repository with a bare remote, a fix commit on its own branch, a real
//! sled store, the real coder manager, the guard's real governor limits,
//! octocrab against the GitHub stand-in.
//!
//! A held fix is tried again when why it was held says it can succeed: a
//! rate limit at the moment the limit admits it again (governor's own
//! answer), a failure on a doubling backoff, a guard refusal once the
//! guard permits; never on a fixed poll. The ticket, its trail and the
//! manager's status say when.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use suture_actors::clock::now_ms;
use suture_actors::control::guard::{Action, Guard};
use suture_actors::control::limits::{LimitsConfig, RateLimits};
use suture_actors::domain::coder::attempt::{AttemptRecord, AttemptState, FixEvidence};
use suture_actors::domain::coder::retry::FIRST_BACKOFF_MS;
use suture_actors::domain::gate::decide::Severity;
use suture_actors::domain::tickets::{FixRecord, Ticket, TicketState};
use suture_actors::stages::coder::publish::{Published, publish_fix};
use suture_actors::stages::coder::{CoderMsg, CoderStatus};

use crate::coder_agent::{Error, Scene, agent_config};
use crate::common::github_stub::pull_requests_asked;

/// A fix commit for ticket `id`'s attempt `attempt` on its own branch in
/// the project (as an attempt leaves it), its attempt recorded as
/// succeeded with evidence; returns the ticket's view of the fix.
pub(crate) fn plant_fix(scene: &Scene, id: &str, attempt: u32) -> Result<FixRecord, Error> {
    let repo = &scene.project.repo;
    let base = repo.git(&["rev-parse", "HEAD"])?;
    let branch = format!("suture/fix-{id}-{attempt}");
    repo.git(&["checkout", "-q", "-b", &branch])?;
    std::fs::write(
        scene.project.path().join(format!("FIX-{attempt}.md")),
        format!("fix attempt {attempt}\n"),
    )?;
    repo.git(&["add", "-A"])?;
    repo.git(&[
        "commit",
        "-q",
        "-m",
        &format!("Fix {id}, attempt {attempt}"),
    ])?;
    let commit = repo.git(&["rev-parse", "HEAD"])?;
    repo.git(&["checkout", "-q", "main"])?;
    let summary = json!({"command": "pytest", "exit_code": 0, "timed_out": false,
        "passed": 3, "failed": 0, "errors": 0, "skipped": 0, "duration_ms": 10, "output_tail": ""});
    let evidence: FixEvidence = serde_json::from_value(json!({
        "commit": commit, "base": base, "diff": "+fix\n", "files": [format!("FIX-{attempt}.md")],
        "added": 1, "removed": 0, "tests_before": summary, "tests_after": summary,
        "judgement": "the tests pass"
    }))?;
    let mut record = AttemptRecord::running(id, attempt, branch.clone(), now_ms());
    record.fix = Some(Box::new(evidence));
    scene.store.start_attempt(&record)?;
    record.end(AttemptState::Succeeded, now_ms(), "a fix passed the tests");
    scene.store.finish_attempt(&record)?;
    Ok(serde_json::from_value(json!({
        "attempt": attempt, "branch": branch, "commit": commit, "base": base,
        "files": [format!("FIX-{attempt}.md")], "tests": "the tests pass",
        "review": {"state": "pending"}
    }))?)
}

/// Ticket `id` waiting in review with `fix`.
fn in_review(scene: &Scene, id: &str, fix: &FixRecord) -> Result<(), Error> {
    scene.store.update_ticket(id, |t| {
        t.state = TicketState::Review;
        t.fix = Some(fix.clone());
        Ok(())
    })?;
    Ok(())
}

fn fix_of(scene: &Scene, id: &str) -> Result<(Ticket, FixRecord), Error> {
    let ticket = scene.store.ticket(id)?.ok_or("ticket")?;
    let fix = ticket.fix.clone().ok_or("fix")?;
    Ok((ticket, fix))
}

/// Limits of one pull request an hour (nothing else limited).
fn one_pr_an_hour() -> Arc<RateLimits> {
    let config = LimitsConfig {
        agent_attempts_per_hour: 0,
        prs_per_hour: 1,
        prs_per_day: 0,
        github_writes_per_minute: 0,
        github_writes_per_hour: 0,
        llm_calls_per_minute: 0,
        deploys_per_hour: 0,
    };
    Arc::new(RateLimits::new(
        &config,
        Arc::new(now_ms),
        |_| None,
        Arc::new(|_, _| {}),
    ))
}

#[tokio::test]
async fn a_rate_limited_fix_is_tried_when_the_limit_admits_it() -> Result<(), Error> {
    let scene = Scene::new(Vec::new(), true).await?;
    let id = scene.ticket("'coupon'")?;
    let fix = plant_fix(&scene, &id, 1)?;
    in_review(&scene, &id, &fix)?;
    let mut coder = scene.coder(agent_config(), false).await?;
    coder.guard = Guard::new(false).with_limits(one_pr_an_hour());
    // The hour's pull request is spent elsewhere.
    coder
        .guard
        .admit_for(Action::OpenPullRequest, Severity::High)?;
    let before = now_ms();
    let published = publish_fix(&coder, &id, "coder").await;
    let after = now_ms();
    assert!(matches!(published, Published::Held(_)), "{published:?}");
    let (ticket, held) = fix_of(&scene, &id)?;
    // The limit's own answer: the hour's room comes back an hour after it
    // was taken; not five minutes, not never.
    let at = held.retry_at_ms.ok_or("a time to try again")?;
    assert!(
        at >= before + 3_590_000 && at <= after + 3_600_000,
        "{at} against {before}..{after}"
    );
    assert_eq!(held.publish_failures, 0, "a rate limit is not a failure");
    let reason = held.held.clone().unwrap_or_default();
    assert!(reason.contains("tried again at 20"), "{reason}");
    let trail = ticket.audit.last().ok_or("trail")?;
    assert_eq!(trail.action, "fix_held");
    assert!(trail.detail.contains("tried again at"), "{}", trail.detail);
    Ok(())
}

#[tokio::test]
async fn a_failing_publish_backs_off_and_the_manager_waits_for_its_time() -> Result<(), Error> {
    let scene = Scene::new(Vec::new(), true).await?;
    let id = scene.ticket("'coupon'")?;
    let fix = plant_fix(&scene, &id, 1)?;
    in_review(&scene, &id, &fix)?;
    // A remote that does not exist: every push fails.
    let mut broken = scene.coder(agent_config(), false).await?;
    broken.repo_config.remote = "nowhere".into();
    let mut waits = Vec::new();
    for failures in 1..=3u32 {
        let before = now_ms();
        let published = publish_fix(&broken, &id, "coder").await;
        assert!(matches!(published, Published::Held(_)), "{published:?}");
        let (_, held) = fix_of(&scene, &id)?;
        assert_eq!(held.publish_failures, failures);
        let at = held.retry_at_ms.ok_or("a time to try again")?;
        waits.push((at - before) / 1_000);
        assert!(held.held.unwrap_or_default().contains("the push of"));
    }
    // 60 s, 120 s, 240 s (each measured from just before its try).
    for (wait, want) in waits.iter().zip([60, 120, 240]) {
        assert!(
            (want - 2..=want).contains(wait),
            "{waits:?} should double from {}",
            FIRST_BACKOFF_MS / 1_000
        );
    }

    // The manager, with the remote repaired: not due yet, so not tried,
    // and its status says when it will be.
    let coder = scene.coder(agent_config(), false).await?;
    let manager = scene.start(coder).await?;
    let status: CoderStatus = wait_for_status(&manager, |s| !s.held.is_empty()).await?;
    assert_eq!(status.held[0].ticket, id);
    assert!(status.held[0].retry_at.is_some(), "{:?}", status.held);
    // Another look, answered after it: a publish it began is either still
    // running (the status names it) or done (the ticket moved). Neither.
    manager.cast(CoderMsg::Tick)?;
    let status = ractor::call!(manager, CoderMsg::Status)?;
    assert_eq!(status.republishing, None, "not tried before its time");
    assert_eq!(fix_of(&scene, &id)?.0.state, TicketState::Review);
    let server = scene.github.as_ref().ok_or("GitHub stand-in")?;
    assert!(pull_requests_asked(server, "acme/py-shop").await.is_empty());
    // Its time comes: the next look publishes it, once.
    scene.store.update_ticket(&id, |t| {
        if let Some(f) = t.fix.as_mut() {
            f.retry_at_ms = Some(now_ms() - 1);
        }
        Ok(())
    })?;
    manager.cast(CoderMsg::Tick)?;
    let deadline = Instant::now() + Duration::from_secs(60);
    let opened = loop {
        let (ticket, fix) = fix_of(&scene, &id)?;
        if ticket.state == TicketState::PrOpen {
            break fix;
        }
        if Instant::now() > deadline {
            return Err(format!("not published: {:?}", ticket.audit).into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(opened.pull_request.as_ref().map(|p| p.number), Some(7));
    assert_eq!(opened.publish_failures, 0, "the count starts over");
    assert_eq!(opened.retry_at_ms, None);
    assert_eq!(pull_requests_asked(server, "acme/py-shop").await.len(), 1);
    manager.stop(None);
    Ok(())
}

/// The manager's status once `ready` accepts it.
pub(crate) async fn wait_for_status(
    manager: &ractor::ActorRef<CoderMsg>,
    ready: impl Fn(&CoderStatus) -> bool,
) -> Result<CoderStatus, Error> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = ractor::call!(manager, CoderMsg::Status)?;
        if ready(&status) {
            return Ok(status);
        }
        if Instant::now() > deadline {
            return Err(format!("status never ready: {status:?}").into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

//! Closing the loop, with real parts: py-shop as a real repository whose
//! merge commit a deploy must contain, real events in a real sled store
//! timed around the regression and the fix, octocrab against the GitHub
//! stand-in, the analyzer on real gate candidates, and a real agent
//! attempt whose prompt must carry the memory of a rejected fix.
//!
//! - a merged fix, deployed, and the error back to its old rate → resolved
//!   with the figures, the pull request and issue told, the issue closed;
//! - still at its regressed rate → reopened (escalated), the fix loop
//!   counted, a person notified;
//! - too little evidence → waits, saying why (never closed on silence);
//! - flagged again three days after resolution → the ticket reopened as a
//!   regression; ten days after → a new ticket;
//! - a pull request closed unmerged → remembered with the reviewer's words,
//!   which the next attempt at the same crash site is shown.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use suture_actors::clock::now_ms;
use suture_actors::control::Control;
use suture_actors::domain::control::{AutonomyLevel, AutonomySetting};
use suture_actors::domain::event::Event;
use suture_actors::domain::gate::decide::Severity;
use suture_actors::domain::memory::FixOutcome;
use suture_actors::domain::notify::{Notification, NotificationKind};
use suture_actors::domain::scrub::Scrubber;
use suture_actors::domain::signature::{SignatureConfig, Signer};
use suture_actors::domain::tickets::github_event::WebhookEvent;
use suture_actors::domain::tickets::{FixRecord, TicketState};
use suture_actors::domain::verify::Outcome;
use suture_actors::stages::analyzer::analyze_once;
use suture_actors::stages::coder::manager::note_deployed_fixes;
use suture_actors::stages::coder::verify::verify_deployed_fixes;
use suture_actors::stages::coder::{Coder, CoderMsg};
use suture_actors::store::{DeployRecord, DeploySource, RecordCache, SignedEvent};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::coder_agent::{Error, Scene, agent_config};
use crate::common::openai_stub::Reply;
use crate::tickets_pipeline::{Fixture, frame};

const H: i64 = 3_600_000;
const DAY: i64 = 24 * H;

/// A control state at autonomy `pr` whose notifications land in `seen`.
pub(crate) fn control(scene: &Scene, seen: &Arc<Mutex<Vec<Notification>>>) -> Control {
    let seen = seen.clone();
    Control::new(scene.store.clone(), Arc::new(Scrubber::builtin()))
        .with_autonomy(AutonomySetting {
            level: AutonomyLevel::Pr,
            by_severity: Default::default(),
            allow_deploy: false,
        })
        .with_notify(Arc::new(move |n| {
            seen.lock().unwrap_or_else(|p| p.into_inner()).push(n)
        }))
}

/// py-shop's production error, as events at the given times.
pub(crate) struct Errors {
    signer: Signer,
    cache: RecordCache,
}

impl Errors {
    pub(crate) fn new() -> Result<Self, Error> {
        Ok(Self {
            signer: Signer::new(&SignatureConfig::default())?,
            cache: RecordCache::default(),
        })
    }

    fn event(at_ms: i64) -> Event {
        Event {
            id: suture_actors::domain::event::new_id(),
            received_at_ms: at_ms,
            timestamp_ms: at_ms,
            exception_type: Some("KeyError".into()),
            message: "'coupon'".into(),
            frames: vec![frame("/srv/py-shop/shop/orders.py", "order_total", 44)],
            source: "test".into(),
            ..Event::default()
        }
    }

    /// The signature id of the error.
    pub(crate) fn signature(&self) -> String {
        self.signer.sign(&Self::event(0)).id
    }

    /// `count` events evenly over `[from_ms, to_ms)`, each in the middle
    /// of its share (none on a boundary).
    pub(crate) async fn store(
        &mut self,
        scene: &Scene,
        from_ms: i64,
        to_ms: i64,
        count: i64,
    ) -> Result<(), Error> {
        let step = (to_ms - from_ms) / count.max(1);
        let events: Vec<SignedEvent> = (0..count)
            .map(|i| {
                let event = Self::event(from_ms + step / 2 + i * step);
                let signature = self.signer.sign(&event);
                SignedEvent { event, signature }
            })
            .collect();
        scene.store.commit(&events, now_ms(), &mut self.cache)?;
        scene.store.flush().await?;
        Ok(())
    }
}

pub(crate) fn deploy(id: &str, revision: &str, at_ms: i64) -> DeployRecord {
    DeployRecord {
        id: id.into(),
        revision: revision.into(),
        environment: Some("production".into()),
        at_ms,
        received_at_ms: at_ms,
        source: DeploySource::Marker,
    }
}

/// A scene with one ticket whose fix (pull request #7, for issue #5) was
/// merged and deployed: the regression began with deploy `d-1` seven hours
/// ago, the fix went out with `d-fix` three hours ago. Before the
/// regression the error fired about once every two hours for a week;
/// while regressed, 20 an hour. `after` events follow the fix.
struct Deployed {
    scene: Scene,
    id: String,
    signature: String,
    coder: Coder,
    seen: Arc<Mutex<Vec<Notification>>>,
}

async fn deployed(after: i64, regressed_per_hour: i64) -> Result<Deployed, Error> {
    let scene = Scene::new(Vec::new(), true).await?;
    let server = scene.github.as_ref().ok_or("GitHub stand-in")?;
    for (verb, route) in [
        ("POST", "/repos/acme/py-shop/issues/7/comments"),
        ("POST", "/repos/acme/py-shop/issues/5/comments"),
        ("PATCH", "/repos/acme/py-shop/issues/5"),
    ] {
        Mock::given(method(verb))
            .and(path(route))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 1})))
            .mount(server)
            .await;
    }
    let now = now_ms();
    let (regressed_at, fixed_at) = (now - 7 * H, now - 3 * H);
    let mut errors = Errors::new()?;
    let signature = errors.signature();
    errors
        .store(&scene, regressed_at - 7 * DAY, regressed_at, 84)
        .await?;
    errors
        .store(&scene, regressed_at, fixed_at, 4 * regressed_per_hour)
        .await?;
    if after > 0 {
        errors
            .store(&scene, fixed_at, now - 2 * 60_000, after)
            .await?;
    }

    let id = scene.ticket("'coupon'")?;
    let (before, merge) = scene.merge_fix()?;
    scene
        .store
        .record_deploy(&deploy("d-1", &before, regressed_at))?;
    scene
        .store
        .record_deploy(&deploy("d-fix", &merge, fixed_at))?;
    let fix: FixRecord = serde_json::from_value(json!({
        "attempt": 1, "branch": format!("suture/fix-{id}-1"), "commit": "c", "base": before,
        "files": ["shop/orders.py"], "tests": "passed", "review": {"state": "approved", "at_ms": 1},
        "pull_request": {"number": 7, "url": "https://github.example/acme/py-shop/pull/7",
            "created_at_ms": 1,
            "merged": {"commit": merge, "by": "maria", "at_ms": fixed_at - 10 * 60_000}}
    }))?;
    let sig = signature.clone();
    scene.store.update_ticket(&id, |t| {
        t.state = TicketState::Verifying;
        t.fix = Some(fix.clone());
        t.signatures[0].signature = sig.clone();
        t.github = Some(suture_actors::domain::tickets::ExternalIssue {
            number: 5,
            url: "https://github.example/acme/py-shop/issues/5".into(),
            created_at_ms: 1,
        });
        Ok(())
    })?;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let control = control(&scene, &seen);
    let mut coder = scene.coder(agent_config(), false).await?;
    coder.guard = control.guard(false);
    coder.control = control;
    assert_eq!(note_deployed_fixes(&coder).await?, 1, "d-fix has the merge");
    Ok(Deployed {
        scene,
        id,
        signature,
        coder,
        seen,
    })
}

/// The GitHub stand-in's requests, as `VERB path`.
pub(crate) async fn github_calls(scene: &Scene) -> Vec<String> {
    let Some(server) = scene.github.as_ref() else {
        return Vec::new();
    };
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|r| format!("{} {}", r.method, r.url.path()))
        .collect()
}

#[tokio::test]
async fn a_deployed_fix_with_the_error_back_to_its_old_rate_is_resolved_and_reported()
-> Result<(), Error> {
    let d = deployed(1, 20).await?;
    assert_eq!(verify_deployed_fixes(&d.coder).await?, 1);
    let ticket = d.scene.store.ticket(&d.id)?.ok_or("ticket")?;
    assert_eq!(ticket.state, TicketState::Resolved);
    let v = ticket.verification.as_ref().ok_or("figures")?;
    assert_eq!(v.outcome, Outcome::Fixed, "{}", v.reason);
    assert_eq!(v.deploy, "d-fix");
    let s = &v.signatures[0];
    assert_eq!(s.signature, d.signature);
    // The week's first event opens the store's history inside an hour
    // whose per-minute data is past retention: whole hours only there.
    assert!((83..=84).contains(&s.before.events), "{:?}", s.before);
    assert_eq!((s.regressed.events, s.after.events), (80, 1));
    assert!(
        s.regressed.hours > 3.9 && s.regressed.hours < 4.1,
        "{:?}",
        s.regressed
    );
    assert!(s.p_reduced < 0.01);
    assert!(ticket.resolved_at_ms.is_some());
    // GitHub was told: the figures on the pull request and the issue, and
    // the issue closed.
    let calls = github_calls(&d.scene).await;
    for call in [
        "POST /repos/acme/py-shop/issues/7/comments",
        "POST /repos/acme/py-shop/issues/5/comments",
        "PATCH /repos/acme/py-shop/issues/5",
    ] {
        assert!(calls.iter().any(|c| c == call), "{call} in {calls:?}");
    }
    let server = d.scene.github.as_ref().ok_or("stand-in")?;
    let requests = server.received_requests().await.unwrap_or_default();
    let comment = requests
        .iter()
        .find(|r| r.url.path().ends_with("/issues/7/comments"))
        .ok_or("a comment")?;
    let body: serde_json::Value = serde_json::from_slice(&comment.body)?;
    let text = body["body"].as_str().unwrap_or_default();
    assert!(
        text.contains("deploy `d-fix`") && text.contains("80 events"),
        "{text}"
    );
    assert!(ticket.audit.iter().any(|a| a.action == "verify_reported"));
    // Reported once: a second look tells GitHub nothing more.
    assert_eq!(verify_deployed_fixes(&d.coder).await?, 0);
    assert_eq!(github_calls(&d.scene).await.len(), calls.len());
    let memory = d.scene.store.past_fixes()?;
    assert_eq!(memory.len(), 1);
    assert_eq!(memory[0].outcome, FixOutcome::Verified);
    Ok(())
}

#[tokio::test]
async fn a_deployed_fix_that_did_not_work_is_reopened_escalated_and_counted() -> Result<(), Error> {
    let d = deployed(60, 20).await?;
    assert_eq!(verify_deployed_fixes(&d.coder).await?, 1);
    let ticket = d.scene.store.ticket(&d.id)?.ok_or("ticket")?;
    assert_eq!(ticket.state, TicketState::Escalated);
    let v = ticket.verification.as_ref().ok_or("figures")?;
    assert_eq!(v.outcome, Outcome::StillFailing, "{}", v.reason);
    assert!(v.reason.contains("still failing"), "{}", v.reason);
    assert_eq!(d.scene.store.fix_loop(&d.signature)?.failures, 1);
    let seen = d.seen.lock().unwrap_or_else(|p| p.into_inner()).clone();
    assert!(
        seen.iter().any(|n| n.kind == NotificationKind::Escalation),
        "{seen:?}"
    );
    assert_eq!(
        d.scene.store.past_fixes()?[0].outcome,
        FixOutcome::FailedInProduction
    );
    // Nothing was closed on GitHub.
    let calls = github_calls(&d.scene).await;
    assert!(!calls.iter().any(|c| c.starts_with("PATCH")), "{calls:?}");
    Ok(())
}

#[tokio::test]
async fn too_little_evidence_waits_and_says_why() -> Result<(), Error> {
    // A rare error: one event an hour while regressed; quiet for the
    // three hours since the fix could be chance.
    let d = deployed(0, 1).await?;
    assert_eq!(verify_deployed_fixes(&d.coder).await?, 0);
    let ticket = d.scene.store.ticket(&d.id)?.ok_or("ticket")?;
    assert_eq!(ticket.state, TicketState::Verifying);
    let v = ticket.verification.as_ref().ok_or("figures kept")?;
    assert_eq!(v.outcome, Outcome::Undecided);
    assert!(v.reason.contains("not yet enough evidence"), "{}", v.reason);
    assert!(ticket.audit.iter().any(|a| a.action == "verify_waiting"));
    assert!(
        github_calls(&d.scene)
            .await
            .iter()
            .all(|c| !c.contains("/issues/5"))
    );
    Ok(())
}

#[tokio::test]
async fn a_signature_flagged_again_soon_after_resolution_reopens_its_ticket()
-> Result<(), Box<dyn std::error::Error>> {
    let mut f = Fixture::new();
    let llm = f.parts(suture_actors::clients::llm::LlmClient::disabled());
    let sig = f.error(
        "KeyError",
        "'coupon'",
        vec![frame("/srv/app/shop/orders.py", "order_total", 44)],
    );
    let flag = |f: &Fixture, n: i64| {
        let d = f.deploy_at(&format!("{n:08x}{:032}", 0), now_ms() - 2 * H + n);
        f.flag(
            &format!("deploy:{}", d.id),
            Some(d),
            &[(&sig, Severity::High)],
        );
    };
    let resolve = |f: &Fixture, id: &str, ago_ms: i64| -> Result<(), Box<dyn std::error::Error>> {
        f.store.update_ticket(id, |t| {
            t.state = TicketState::Resolved;
            t.resolved_at_ms = Some(now_ms() - ago_ms);
            Ok(())
        })?;
        Ok(())
    };
    flag(&f, 1);
    analyze_once(&f.analyzer(llm.clone())).await?;
    let first = f.store.tickets()?.remove(0);
    // Resolved three days ago (simulated), flagged again: reopened.
    resolve(&f, &first.id, 3 * DAY)?;
    flag(&f, 2);
    analyze_once(&f.analyzer(llm.clone())).await?;
    let tickets = f.store.tickets()?;
    assert_eq!(tickets.len(), 1, "no new ticket");
    let reopened = &tickets[0];
    assert_eq!(reopened.state, TicketState::Escalated);
    assert_eq!(reopened.regressions, 1);
    let line = reopened.audit.last().ok_or("trail")?;
    assert!(line.detail.contains("regression"), "{}", line.detail);
    assert!(line.detail.contains("3days"), "{}", line.detail);
    assert_eq!(f.store.fix_loop(&sig)?.failures, 1);
    // Resolved ten days ago: past the regression window, a new ticket.
    resolve(&f, &first.id, 10 * DAY)?;
    flag(&f, 3);
    analyze_once(&f.analyzer(llm)).await?;
    let tickets = f.store.tickets()?;
    assert_eq!(tickets.len(), 2, "a new ticket");
    assert_eq!(tickets[0].regressions, 1, "the old one untouched");
    assert_eq!(tickets[1].state, TicketState::Open);
    Ok(())
}

#[tokio::test]
async fn a_rejected_pull_request_is_remembered_and_shown_to_the_next_attempt() -> Result<(), Error>
{
    // The next attempt gives up at once: only its prompt matters here.
    let scene = Scene::new(vec![Reply::answer("I cannot tell; giving up.")], false).await?;
    let first = scene.ticket("'coupon'")?;
    let fix: FixRecord = serde_json::from_value(json!({
        "attempt": 1, "branch": format!("suture/fix-{first}-1"), "commit": "c", "base": "b",
        "files": ["shop/orders.py"], "tests": "passed", "review": {"state": "pending"},
        "pull_request": {"number": 7, "url": "https://github.example/acme/py-shop/pull/7",
            "created_at_ms": 1}
    }))?;
    scene.store.update_ticket(&first, |t| {
        t.state = TicketState::PrOpen;
        t.fix = Some(fix.clone());
        Ok(())
    })?;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let control = control(&scene, &seen);
    let head = format!("suture/fix-{first}-1");
    control
        .apply_github_event(
            "delivery-1",
            &WebhookEvent::Review {
                number: 7,
                head: head.clone(),
                state: "changes_requested".into(),
                body:
                    "Defaulting the coupon hides bad orders: validate it in the checkout handler."
                        .into(),
                by: "li".into(),
            },
        )
        .await?;
    control
        .apply_github_event(
            "delivery-2",
            &WebhookEvent::PullRequestClosed {
                number: 7,
                head,
                merge_commit: None,
                by: "li".into(),
            },
        )
        .await?;
    let memory = scene.store.past_fixes()?;
    assert_eq!(memory.len(), 1);
    assert_eq!(memory[0].outcome, FixOutcome::Rejected);
    assert!(
        memory[0]
            .words
            .contains("validate it in the checkout handler"),
        "{}",
        memory[0].words
    );

    // The next ticket at the same crash site: its attempt is told.
    let second = scene.ticket("'coupon'")?;
    let mut coder = scene.coder(agent_config(), false).await?;
    coder.guard = control.guard(false);
    coder.control = control;
    let manager = scene.start(coder).await?;
    manager.cast(CoderMsg::Nudge)?;
    let deadline = Instant::now() + Duration::from_secs(180);
    while scene.stub.requests().is_empty() {
        if Instant::now() > deadline {
            return Err(format!("no attempt on {second} reached the model").into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let prompt = scene.stub.requests()[0].body.clone();
    assert!(
        prompt.contains("validate it in the checkout handler"),
        "the reviewer's words reach the next attempt"
    );
    assert!(
        prompt.contains(&format!("{first} attempt 1 in PR #7: rejected")),
        "the past fix is named in Suture's words"
    );
    assert!(prompt.contains("relevant by signature") || prompt.contains("relevant by crash_site"));
    // The revision the review asked for was called off by the closing, and
    // the rejected ticket got no attempt of its own.
    let rejected = scene.store.ticket(&first)?.ok_or("ticket")?;
    let revision = rejected
        .fix_revision
        .as_ref()
        .ok_or("the revision request")?;
    assert!(
        revision
            .outcome
            .as_deref()
            .is_some_and(|o| o.starts_with("cancelled")),
        "{revision:?}"
    );
    assert!(scene.store.attempts(&first)?.is_empty());
    manager.stop(None);
    Ok(())
}

#[tokio::test]
async fn without_a_webhook_polling_learns_reviews_and_closings_once() -> Result<(), Error> {
    let scene = Scene::new(Vec::new(), true).await?;
    let id = scene.ticket("'coupon'")?;
    let head = format!("suture/fix-{id}-1");
    let fix: FixRecord = serde_json::from_value(json!({
        "attempt": 1, "branch": head, "commit": "c", "base": "b",
        "files": ["shop/orders.py"], "tests": "passed", "review": {"state": "approved", "at_ms": 1},
        "pull_request": {"number": 7, "url": "https://github.example/acme/py-shop/pull/7",
            "created_at_ms": 1}
    }))?;
    scene.store.update_ticket(&id, |t| {
        t.state = TicketState::PrOpen;
        t.fix = Some(fix.clone());
        Ok(())
    })?;
    let server = scene.github.as_ref().ok_or("GitHub stand-in")?;
    for (route, body) in [
        (
            "/repos/acme/py-shop/pulls/7",
            json!({"number": 7, "state": "closed", "merged": false, "merge_commit_sha": null,
                "head": {"ref": head}}),
        ),
        (
            "/repos/acme/py-shop/issues/7",
            json!({"number": 7, "closed_by": {"login": "li"}}),
        ),
        (
            "/repos/acme/py-shop/pulls/7/reviews",
            json!([{"id": 99, "state": "CHANGES_REQUESTED", "user": {"login": "li"},
                "body": "Defaulting hides bad orders: validate in the handler."}]),
        ),
    ] {
        Mock::given(method("GET"))
            .and(path(route))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .mount(server)
            .await;
    }
    let seen = Arc::new(Mutex::new(Vec::new()));
    let control = control(&scene, &seen);
    let mut coder = scene.coder(agent_config(), false).await?;
    coder.control = control;
    assert_eq!(
        suture_actors::stages::coder::poll::poll_pull_requests(&coder).await?,
        2,
        "the review, then the closing"
    );
    let ticket = scene.store.ticket(&id)?.ok_or("ticket")?;
    assert_eq!(ticket.state, TicketState::Triaged);
    let reason = match ticket.fix.as_ref().map(|f| &f.review) {
        Some(suture_actors::domain::tickets::FixReview::Rejected { reason, .. }) => reason.clone(),
        other => return Err(format!("not rejected: {other:?}").into()),
    };
    assert!(
        reason.contains("closed unmerged by li") && reason.contains("validate in the handler"),
        "{reason}"
    );
    assert_eq!(scene.store.past_fixes()?[0].outcome, FixOutcome::Rejected);
    // Read again: nothing new is applied (the ticket is no longer pr_open,
    // and the same deliveries are remembered).
    assert_eq!(
        suture_actors::stages::coder::poll::poll_pull_requests(&coder).await?,
        0
    );
    let trail = scene.store.ticket(&id)?.ok_or("ticket")?.audit;
    assert_eq!(
        trail.iter().filter(|a| a.action == "pr_review").count(),
        1,
        "{trail:?}"
    );
    Ok(())
}

#[tokio::test]
async fn changes_requested_at_pr_autonomy_get_one_revision_on_the_same_pull_request()
-> Result<(), Error> {
    let fix =
        std::fs::read_to_string(crate::coder_fixtures::fixture("py-shop").join("fix.edits.txt"))?;
    let scene = Scene::new(vec![Reply::answer(&fix), Reply::answer(&fix)], true).await?;
    let server = scene.github.as_ref().ok_or("GitHub stand-in")?;
    Mock::given(method("POST"))
        .and(path("/repos/acme/py-shop/issues/7/comments"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 1})))
        .mount(server)
        .await;
    // The revision's comment is looked for before it is posted.
    Mock::given(method("GET"))
        .and(path("/repos/acme/py-shop/issues/7/comments"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(server)
        .await;
    let id = scene.ticket("'coupon'")?;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let control = control(&scene, &seen);
    let mut coder = scene.coder(agent_config(), false).await?;
    coder.guard = control.guard(false);
    coder.control = control.clone();
    let manager = scene.start(coder).await?;
    let opened = scene
        .wait_for(&id, &[TicketState::PrOpen, TicketState::Escalated])
        .await?;
    assert_eq!(opened.state, TicketState::PrOpen, "{:?}", opened.audit);
    let first = opened.fix.clone().ok_or("a fix")?;

    // The reviewer asks for changes: one revision is queued.
    let review = WebhookEvent::Review {
        number: 7,
        head: first.branch.clone(),
        state: "changes_requested".into(),
        body: "Also cover an order whose coupon is null, not only a missing one.".into(),
        by: "li".into(),
    };
    control.apply_github_event("review-1", &review).await?;
    let queued = scene.store.ticket(&id)?.ok_or("ticket")?;
    assert!(queued.fix_revision.is_some(), "{:?}", queued.audit);
    manager.cast(CoderMsg::Nudge)?;

    // The revision runs, and its fix replaces the first on the same branch.
    let deadline = Instant::now() + Duration::from_secs(180);
    let revised = loop {
        let t = scene.store.ticket(&id)?.ok_or("ticket")?;
        let done = t.fix_revision.as_ref().is_some_and(|r| r.outcome.is_some());
        if done && t.state != TicketState::Fixing {
            break t;
        }
        if Instant::now() > deadline {
            return Err(format!("no revision: {:?}", t.audit).into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(revised.state, TicketState::PrOpen, "{:?}", revised.audit);
    let outcome = revised
        .fix_revision
        .as_ref()
        .and_then(|r| r.outcome.clone())
        .unwrap_or_default();
    assert!(outcome.starts_with("pushed"), "{outcome}");
    let second = revised.fix.clone().ok_or("the revised fix")?;
    assert_eq!(second.attempt, first.attempt + 1);
    assert_eq!(
        second.pull_request.as_ref().map(|p| p.number),
        Some(7),
        "the same pull request"
    );
    let bare = scene.remote.path().to_string_lossy().into_owned();
    let remote_tip = scene.project.repo.git(&[
        "--git-dir",
        &bare,
        "rev-parse",
        &format!("refs/heads/{}", first.branch),
    ])?;
    assert_eq!(
        remote_tip, second.commit,
        "the PR's branch holds the revision"
    );
    // The revision's prompt carried the review.
    let prompts = scene.stub.requests();
    let last = prompts.last().ok_or("a prompt")?;
    assert!(
        last.body.contains("coupon is null"),
        "the review reaches the revision"
    );
    // One pull request opened in all, and it was told about the revision.
    let calls = github_calls(&scene).await;
    assert_eq!(
        calls
            .iter()
            .filter(|c| *c == "POST /repos/acme/py-shop/pulls")
            .count(),
        1,
        "{calls:?}"
    );
    assert!(calls.contains(&"POST /repos/acme/py-shop/issues/7/comments".to_string()));
    // A second request for changes gets no second revision.
    let again = WebhookEvent::Review {
        number: 7,
        head: first.branch.clone(),
        state: "changes_requested".into(),
        body: "Still not right.".into(),
        by: "li".into(),
    };
    control.apply_github_event("review-2", &again).await?;
    let after = scene.store.ticket(&id)?.ok_or("ticket")?;
    assert_eq!(
        after
            .audit
            .iter()
            .filter(|a| a.action == "revision_requested")
            .count(),
        1
    );
    manager.stop(None);
    Ok(())
}

//! A pushed revision comments on its pull request once, whatever the
//! sidecar's stops: real git (py-shop with a bare remote, the revision
//! force-pushed onto the pull request's branch), a real sled store, the
//! real coder manager's start-up recovery and ticks, octocrab against a
//! GitHub stand-in that keeps the comments it was given.
//!
//! Each stop is staged in the store as a stop leaves it:
//! - pushed, not recorded: the ticket still `fixing`, the attempt ended;
//! - commented, the comment not recorded: the intent still set, the
//!   comment on GitHub;
//! - recorded, not commented: the intent set, no comment on GitHub.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use suture_actors::clients::github::MarkerKey;
use suture_actors::clients::github::marker::KEY_BYTES;
use suture_actors::clock::now_ms;
use suture_actors::domain::tickets::{FixRevision, PullRequestRef, Ticket, TicketState};
use wiremock::matchers::path;
use wiremock::{Mock, Request, Respond, ResponseTemplate};

use crate::coder_agent::{Error, Scene, agent_config};
use crate::held_fixes::plant_fix;

/// Pull request #7's comments, as GitHub would keep them.
#[derive(Clone, Default)]
struct Comments {
    kept: Arc<Mutex<Vec<String>>>,
    posted: Arc<Mutex<usize>>,
}

impl Comments {
    fn kept(&self) -> Vec<String> {
        self.kept.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn posted(&self) -> usize {
        *self.posted.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// As if GitHub never got one.
    fn forget(&self) {
        self.kept.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

impl Respond for Comments {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if request.method.as_str() == "POST" {
            let body: serde_json::Value =
                serde_json::from_slice(&request.body).unwrap_or(serde_json::Value::Null);
            let text = body["body"].as_str().unwrap_or_default().to_string();
            self.kept
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(text);
            *self.posted.lock().unwrap_or_else(|p| p.into_inner()) += 1;
            return ResponseTemplate::new(201).set_body_json(json!({"id": 1}));
        }
        let listed: Vec<serde_json::Value> = self
            .kept()
            .into_iter()
            .map(|body| json!({"body": body, "user": {"login": "suture-bot"}}))
            .collect();
        ResponseTemplate::new(200).set_body_json(listed)
    }
}

async fn wait_until(
    scene: &Scene,
    id: &str,
    what: &str,
    done: impl Fn(&Ticket) -> bool,
) -> Result<Ticket, Error> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ticket = scene.store.ticket(id)?.ok_or("ticket")?;
        if done(&ticket) {
            return Ok(ticket);
        }
        if Instant::now() > deadline {
            return Err(format!("{what}: {:?}", ticket.audit).into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The coder of one start of the sidecar: its GitHub client holds the
/// installation's marker key, as the engine restores it from the store.
async fn coder(scene: &Scene) -> Result<suture_actors::stages::coder::Coder, Error> {
    let coder = scene.coder(agent_config(), false).await?;
    coder
        .github
        .as_ref()
        .ok_or("GitHub")?
        .set_marker_key(MarkerKey::from_bytes(&[7; KEY_BYTES]));
    Ok(coder)
}

fn owes(ticket: &Ticket) -> bool {
    ticket.fix_revision.as_ref().is_some_and(|r| r.comment_due)
}

/// Sets the intent to comment again, as a stop before clearing it leaves it.
fn still_owed(scene: &Scene, id: &str) -> Result<(), Error> {
    scene.store.update_ticket(id, |t| {
        if let Some(r) = t.fix_revision.as_mut() {
            r.comment_due = true;
        }
        Ok(())
    })?;
    Ok(())
}

#[tokio::test]
async fn a_pushed_revision_comments_once_across_stops_at_every_step() -> Result<(), Error> {
    let scene = Scene::new(Vec::new(), true).await?;
    let comments = Comments::default();
    let server = scene.github.as_ref().ok_or("GitHub stand-in")?;
    Mock::given(path("/repos/acme/py-shop/issues/7/comments"))
        .respond_with(comments.clone())
        .mount(server)
        .await;
    let id = scene.ticket("'coupon'")?;
    let first = plant_fix(&scene, &id, 1)?;
    let second = plant_fix(&scene, &id, 2)?;
    let repo = &scene.project.repo;
    let pull = PullRequestRef {
        number: 7,
        url: "https://github.example/acme/py-shop/pull/7".into(),
        created_at_ms: now_ms() - 60_000,
        ready: false,
        merged: None,
    };
    // The revision attempt ended with a fix, and the sidecar stopped right
    // after force-pushing it onto the pull request's branch: the ticket
    // is still `fixing`.
    repo.git(&["push", "-q", "origin", &first.branch])?;
    repo.git(&[
        "push",
        "-q",
        "-f",
        "origin",
        &format!("{}:{}", second.branch, first.branch),
    ])?;
    let revision = FixRevision {
        requested_by: "li".into(),
        words: "Also cover a null coupon.".into(),
        requested_at_ms: now_ms() - 30_000,
        pull_request: pull.clone(),
        branch: first.branch.clone(),
        attempt: Some(2),
        outcome: None,
        comment_due: false,
    };
    scene.store.update_ticket(&id, |t| {
        t.state = TicketState::Fixing;
        let mut fix = first.clone();
        fix.pull_request = Some(pull.clone());
        t.fix = Some(fix);
        t.fix_revision = Some(revision.clone());
        Ok(())
    })?;
    let marker = format!("<!-- suture-ticket: {id} revision 2 ");

    // Pushed, not recorded: the start settles it: pushed again (a no-op),
    // recorded, commented once.
    let manager = scene.start(coder(&scene).await?).await?;
    let settled = wait_until(&scene, &id, "the revision settled and commented", |t| {
        t.state == TicketState::PrOpen && !owes(t)
    })
    .await?;
    assert_eq!(
        settled.fix.as_ref().map(|f| f.commit.as_str()),
        Some(second.commit.as_str())
    );
    let bare = scene.remote.path().to_string_lossy().into_owned();
    let tip = repo.git(&[
        "--git-dir",
        &bare,
        "rev-parse",
        &format!("refs/heads/{}", first.branch),
    ])?;
    assert_eq!(
        tip, second.commit,
        "the pull request's branch holds the revision"
    );
    assert_eq!(comments.posted(), 1);
    assert!(
        comments.kept()[0]
            .lines()
            .any(|l| l.starts_with(&marker) && l.ends_with(" -->")),
        "{:?}",
        comments.kept()
    );
    manager.stop_and_wait(None, None).await?;

    // Commented, the comment not recorded: the next start finds it on
    // GitHub and posts nothing.
    still_owed(&scene, &id)?;
    let manager = scene.start(coder(&scene).await?).await?;
    let found = wait_until(&scene, &id, "the owed comment found", |t| !owes(t)).await?;
    assert_eq!(comments.posted(), 1, "not posted twice");
    assert!(
        found
            .audit
            .iter()
            .any(|a| a.action == "revision_comment" && a.detail.contains("already had")),
        "{:?}",
        found.audit
    );
    manager.stop_and_wait(None, None).await?;

    // Recorded, not commented, and someone pasted a marker without the
    // installation's tag: it does not count; the next start posts, once.
    comments.forget();
    comments
        .kept
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(format!(
            "looks done to me\n{marker}00000000000000000000000000000000 -->"
        ));
    still_owed(&scene, &id)?;
    let manager = scene.start(coder(&scene).await?).await?;
    wait_until(&scene, &id, "the owed comment posted", |t| !owes(t)).await?;
    assert_eq!(comments.posted(), 2);
    assert_eq!(comments.kept().len(), 2, "the forged one and Suture's");
    manager.stop_and_wait(None, None).await?;

    // Nothing owed: a further start says nothing more.
    let manager = scene.start(coder(&scene).await?).await?;
    let status = crate::held_fixes::wait_for_status(&manager, |_| true).await?;
    assert!(status.enabled);
    assert_eq!(comments.posted(), 2);
    manager.stop_and_wait(None, None).await?;
    Ok(())
}

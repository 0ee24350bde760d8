//! What an attempt starts from, besides the repository: the ticket (as
//! triage leaves it: a deploy blamed, a stack of in-app frames mapped to
//! repository paths, the deploy's diff named) and the model's reply (a
//! one-line fix and a regression test, in SEARCH/REPLACE blocks), plus the
//! built-in prompt, scrubber and guardrails a default configuration has.

use std::path::{Path, PathBuf};

use serde_json::json;
use suture_actors::clients::git::{Repo, RepoConfig};
use suture_actors::domain::coder::config::AgentConfig;
use suture_actors::domain::coder::guardrails::Guardrails;
use suture_actors::domain::llm::prompt::{PromptKind, Template};
use suture_actors::domain::scrub::Scrubber;
use suture_actors::domain::tickets::Ticket;

use crate::generate::{Error, Generated};

/// The ticket's id: its branches are `suture/fix-T-1-<attempt>`.
pub const TICKET: &str = "T-1";

/// Everything the attempt's steps read.
pub struct Scene {
    pub repo: Repo,
    /// Where worktrees are made (beside the repository, as
    /// `<store.path>.worktrees` is in the sidecar).
    pub worktrees: PathBuf,
    pub ticket: Ticket,
    /// The model's reply with the fix.
    pub reply: String,
    pub template: Template,
    pub scrubber: Scrubber,
    pub guardrails: Guardrails,
    pub config: AgentConfig,
    pub test_command: String,
    /// In-app frames on the ticket's stack.
    pub stack_len: usize,
}

impl Scene {
    pub async fn new(generated: &Generated, worktrees: &Path) -> Result<Scene, Error> {
        let repo = Repo::open(&RepoConfig {
            path: generated.root.clone(),
            ..RepoConfig::default()
        })
        .await?
        .ok_or("no repository")?;
        let config = AgentConfig::default();
        Ok(Scene {
            repo,
            worktrees: worktrees.to_path_buf(),
            ticket: ticket(generated)?,
            reply: reply(generated),
            template: Template::load(PromptKind::Coder, Path::new(""))?,
            scrubber: Scrubber::builtin(),
            guardrails: Guardrails::new(&config.guardrails)?,
            config,
            test_command: "python -m pytest -q -rA".into(),
            stack_len: generated.stack.len(),
        })
    }
}

/// A triaged fix candidate: a `KeyError` at the crash site, under three
/// callers and two library frames, blamed on the deploy.
fn ticket(generated: &Generated) -> Result<Ticket, Error> {
    let mut frames = vec![
        json!({"file": "/usr/lib/python3.12/site-packages/gunicorn/workers/sync.py", "function": "handle_request", "line": 178, "in_app": false}),
        json!({"file": "/usr/lib/python3.12/site-packages/flask/app.py", "function": "dispatch_request", "line": 880, "in_app": false}),
    ];
    frames.extend(generated.stack.iter().map(|f| {
        json!({
            "file": format!("/srv/shop/{}", f.path),
            "function": f.function,
            "line": f.line,
            "in_app": true,
            "repo_path": f.path,
        })
    }));
    let crash = generated.stack.last().ok_or("no stack")?;
    let ticket: Ticket = serde_json::from_value(json!({
        "id": TICKET,
        "state": "triaged",
        "disposition": "fix_candidate",
        "title": format!("KeyError: 'price' in {}", crash.function),
        "root_cause": format!("{} reads item[\"price\"], which orders imported from the legacy API omit.", crash.function),
        "severity": "high",
        "suggested_fix": "Skip items without a price, and cap the limit at one.",
        "files": [crash.path],
        "deploy_id": "d-1",
        "revision": generated.head,
        "signatures": [{
            "signature": "sig-price",
            "title": format!("KeyError in {}", crash.function),
            "exception_type": "KeyError",
            "message": "KeyError: 'price' (order 48213 for jane.doe@example.com)",
            "frames": frames,
            "crash_site": format!("{} in {}", crash.path, crash.function),
            "total_events": 60,
            "first_seen_ms": 1_000,
            "last_seen_ms": 2_000,
            "gate": []
        }],
        "grouping": {"method": "deterministic", "batch_size": 1},
        "triage": {
            "method": "deterministic",
            "confidence": 0.8,
            "reasoning": "The crash site's line changed in the deploy.",
            "diff": {
                "from": generated.deploy_parent,
                "to": generated.head,
                "from_source": "parent",
                "files": [],
                "truncated": false
            },
            "decided_at_ms": 1_500
        },
        "events": 60,
        "shadow": false,
        "created_at_ms": 1_000,
        "updated_at_ms": 1_000,
        "audit": []
    }))?;
    Ok(ticket)
}

/// What a model answers: prose, the fix at the crash site, a regression
/// test appended to the site's test file.
fn reply(generated: &Generated) -> String {
    let crash = generated.stack.last().map_or("", |f| f.path.as_str());
    let function = generated.stack.last().map_or("", |f| f.function.as_str());
    let search = generated.crash_lines.join("\n");
    let mut fixed = generated.crash_lines.clone();
    if let Some(limit) = fixed.last_mut() {
        *limit = format!(
            "{}  # at least one item",
            limit.replace("limit = ", "limit = 1 + ")
        );
    }
    let test = &generated.crash_test;
    format!(
        "The limit can reach zero and items may lack a price; I keep the limit positive and add a regression test.\n\n\
         {crash}\n```python\n<<<<<<< SEARCH\n{search}\n=======\n{}\n>>>>>>> REPLACE\n```\n\n\
         {test}\n```python\n<<<<<<< SEARCH\n=======\n\n\ndef test_{function}_without_price_regression():\n    assert {function}({{\"items\": [{{\"quantity\": 1}}]}}) == 0\n>>>>>>> REPLACE\n```\n",
        fixed.join("\n")
    )
}

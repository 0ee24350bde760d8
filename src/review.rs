//! `suture review`: the review queue in the terminal. Lists the fixes
//! waiting for a person, shows one (what broke, the tests before and
//! after, the diff), and approves or rejects it through the sidecar's API.

use std::time::Duration;

use serde_json::{Value, json};

/// An approval pushes a branch and opens a pull request.
const APPROVE_DEADLINE: Duration = Duration::from_secs(150);

/// What `suture review` was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReviewAction {
    List,
    Show(String),
    Approve(String),
    Reject { ticket: String, reason: String },
}

/// Runs one review action against the sidecar at `base`.
pub async fn run(base: &str, action: ReviewAction, json_out: bool) -> anyhow::Result<()> {
    let url = |path: &str| format!("{}{path}", base.trim_end_matches('/'));
    let (reply, render): (Value, fn(&Value) -> String) = match &action {
        ReviewAction::List => (
            crate::client::request("GET", &url("/v1/tickets?state=review"), None).await?,
            render_queue,
        ),
        ReviewAction::Show(id) => (
            crate::client::request("GET", &url(&format!("/v1/tickets/{id}/fix")), None).await?,
            render_fix,
        ),
        ReviewAction::Approve(id) => (
            crate::client::request_within(
                "POST",
                &url(&format!("/v1/tickets/{id}/fix/approve")),
                Some(&json!({})),
                APPROVE_DEADLINE,
            )
            .await?,
            render_outcome,
        ),
        ReviewAction::Reject { ticket, reason } => (
            crate::client::request(
                "POST",
                &url(&format!("/v1/tickets/{ticket}/fix/reject")),
                Some(&json!({ "reason": reason })),
            )
            .await?,
            render_outcome,
        ),
    };
    if json_out {
        println!("{}", serde_json::to_string_pretty(&reply)?);
    } else {
        print!("{}", render(&reply));
    }
    Ok(())
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or("-")
}

/// The queue: one line per fix waiting.
pub fn render_queue(list: &Value) -> String {
    let tickets = list["tickets"].as_array().cloned().unwrap_or_default();
    if tickets.is_empty() {
        return "no fix is waiting for review\n".into();
    }
    let mut out = format!("{} fix(es) waiting for review:\n", tickets.len());
    for t in &tickets {
        out.push_str(&format!(
            "  {:<8} {:<8} {}\n",
            text(&t["id"]),
            text(&t["severity"]),
            text(&t["title"])
        ));
    }
    out.push_str(
        "`suture review <ticket>` shows one; --approve or --reject \"<reason>\" decides.\n",
    );
    out
}

/// One fix: the ticket, the verdict on the tests, the runs, the diff.
pub fn render_fix(fix: &Value) -> String {
    let record = &fix["fix"];
    let evidence = &fix["evidence"];
    let mut out = format!(
        "{} ({}): {}\nbranch {} at {}\n",
        text(&fix["ticket"]),
        text(&fix["state"]),
        text(&fix["title"]),
        text(&record["branch"]),
        text(&record["commit"]),
    );
    if let Some(held) = record["held"].as_str() {
        out.push_str(&format!("not published: {held}\n"));
    }
    if let Some(url) = record["pull_request"]["url"].as_str() {
        out.push_str(&format!("pull request: {url}\n"));
    }
    out.push_str(&format!("\n{}\n\n", text(&evidence["judgement"])));
    for (name, key) in [
        ("before the fix", "tests_before"),
        ("new tests only", "tests_only"),
        ("with the fix", "tests_after"),
    ] {
        let run = &evidence[key];
        if run.is_null() {
            continue;
        }
        out.push_str(&format!(
            "  {name:<15} exit {:<4} {} passed, {} failed, {} errors\n",
            run["exit_code"]
                .as_i64()
                .map_or_else(|| "-".to_string(), |c| c.to_string()),
            run["passed"],
            run["failed"],
            run["errors"]
        ));
    }
    let agent = &fix["agent"];
    out.push_str(&format!(
        "\nagent {}: {} model calls, {} tokens\n\n",
        text(&agent["agent"]),
        agent["steps"],
        agent["tokens"]
    ));
    out.push_str(text(&evidence["diff"]));
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

/// What approve or reject did.
pub fn render_outcome(outcome: &Value) -> String {
    let mut out = format!(
        "{} is now {}",
        text(&outcome["ticket"]),
        text(&outcome["state"])
    );
    if let Some(url) = outcome["pull_request"].as_str() {
        out.push_str(&format!(": draft pull request {url}"));
    }
    if let Some(held) = outcome["held"].as_str() {
        out.push_str(&format!(" (not published: {held})"));
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_lists_waiting_fixes_or_says_there_are_none() {
        assert_eq!(
            render_queue(&json!({"tickets": []})),
            "no fix is waiting for review\n"
        );
        let list = json!({"tickets": [{"id": "T-3", "severity": "high", "title": "KeyError in order_total"}]});
        let text = render_queue(&list);
        assert!(text.contains("1 fix(es) waiting"), "{text}");
        assert!(
            text.contains("T-3") && text.contains("KeyError in order_total"),
            "{text}"
        );
    }

    #[test]
    fn a_fix_shows_tests_and_diff() {
        let fix = json!({
            "ticket": "T-3", "state": "review", "title": "KeyError",
            "fix": {"branch": "suture/fix-T-3-1", "commit": "abc", "held": "shadow mode"},
            "evidence": {
                "judgement": "tests pass: all 13 tests pass",
                "tests_before": {"exit_code": 0, "passed": 12, "failed": 0, "errors": 0},
                "tests_after": {"exit_code": 0, "passed": 13, "failed": 0, "errors": 0},
                "diff": "diff --git a/x b/x\n"
            },
            "agent": {"agent": "built-in", "steps": 3, "tokens": 760}
        });
        let text = render_fix(&fix);
        for part in [
            "suture/fix-T-3-1",
            "not published: shadow mode",
            "tests pass",
            "13 passed",
            "diff --git",
            "760 tokens",
        ] {
            assert!(text.contains(part), "{part} missing:\n{text}");
        }
        assert!(!text.contains("new tests only"), "{text}");
    }

    #[test]
    fn outcomes_say_where_the_ticket_went() {
        let opened =
            json!({"ticket": "T-3", "state": "pr_open", "pull_request": "https://x/pull/7"});
        assert_eq!(
            render_outcome(&opened),
            "T-3 is now pr_open: draft pull request https://x/pull/7\n"
        );
        let held = json!({"ticket": "T-3", "state": "review", "held": "shadow mode"});
        assert!(render_outcome(&held).contains("not published: shadow mode"));
    }
}

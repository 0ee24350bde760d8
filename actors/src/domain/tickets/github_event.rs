//! What a GitHub webhook delivery tells Suture about a fix's pull request
//! (read by `clients::github::webhook`, applied by the control state).

/// What a delivery says, as far as Suture cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookEvent {
    /// A pull request was closed; `merge_commit` when it was merged.
    PullRequestClosed {
        number: u64,
        head: String,
        merge_commit: Option<String>,
        by: String,
    },
    /// A review was submitted (`approved`, `changes_requested`,
    /// `commented`).
    Review {
        number: u64,
        head: String,
        state: String,
        body: String,
        by: String,
    },
    /// Anything else (pings, other actions): acknowledged, nothing done.
    Ignored(String),
}

/// The ticket a fix branch (`suture/fix-<ticket>-<attempt>`) belongs to.
pub fn ticket_of_branch(head: &str) -> Option<String> {
    let rest = head.strip_prefix("suture/fix-")?;
    let (ticket, attempt) = rest.rsplit_once('-')?;
    attempt.parse::<u32>().ok()?;
    (!ticket.is_empty()).then(|| ticket.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fix_branch_names_its_ticket() {
        assert_eq!(
            ticket_of_branch("suture/fix-T-12-2").as_deref(),
            Some("T-12")
        );
        assert_eq!(ticket_of_branch("feature/x"), None);
        assert_eq!(ticket_of_branch("suture/fix-T-1-x"), None);
    }
}

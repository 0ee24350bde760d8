//! Learning what happened to a fix's pull request without a webhook: every
//! `github.poll_interval` the pull requests of `pr_open` tickets are read
//! through octocrab (state, merge, reviews) and what changed is applied
//! exactly as the webhook's deliveries are (`Control::apply_github_event`),
//! each under a delivery id derived from what it reports
//! (`poll-review-<id>`, `poll-pull-<n>-closed`): a review or a closing is
//! applied once however often it is read.

use super::Coder;
use crate::domain::tickets::TicketState;
use crate::domain::tickets::github_event::WebhookEvent;
use crate::store::StoreError;

/// Reads every open fix's pull request once; returns the deliveries that
/// changed a ticket.
pub async fn poll_pull_requests(coder: &Coder) -> Result<usize, StoreError> {
    let Some(github) = coder.github.as_ref() else {
        return Ok(0);
    };
    let open: Vec<u64> = coder
        .store
        .tickets_in(&[TicketState::PrOpen])?
        .into_iter()
        .filter_map(|t| t.fix?.pull_request.map(|p| p.number))
        .collect();
    let mut applied = 0;
    for number in open {
        let state = match github.pull_request_state(number).await {
            Ok(state) => state,
            Err(error) => {
                tracing::warn!(pull = number, %error, "pull request not polled");
                continue;
            }
        };
        let reviews = github
            .pull_request_reviews(number)
            .await
            .unwrap_or_else(|error| {
                tracing::warn!(pull = number, %error, "reviews not polled");
                Vec::new()
            });
        let mut deliveries: Vec<(String, WebhookEvent)> = reviews
            .into_iter()
            .filter(|r| !r.state.eq_ignore_ascii_case("pending"))
            .map(|r| {
                (
                    format!("poll-review-{}", r.id),
                    WebhookEvent::Review {
                        number,
                        head: state.head.clone(),
                        state: r.state.to_ascii_lowercase(),
                        body: r.body,
                        by: r.by,
                    },
                )
            })
            .collect();
        // Reviews first: a closing quotes the latest one.
        if state.closed {
            deliveries.push((
                format!("poll-pull-{number}-closed"),
                WebhookEvent::PullRequestClosed {
                    number,
                    head: state.head.clone(),
                    merge_commit: state.merge_commit.clone(),
                    by: if state.by.is_empty() {
                        "someone on GitHub".into()
                    } else {
                        state.by.clone()
                    },
                },
            ));
        }
        for (delivery, event) in deliveries {
            match coder.control.apply_github_event(&delivery, &event).await {
                Ok(crate::control::github_events::Applied::Updated { .. }) => applied += 1,
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(pull = number, %delivery, %error, "a polled change was not applied")
                }
            }
        }
    }
    Ok(applied)
}

//! Draft pull requests for the coding agent's fixes.
//!
//! Idempotent by branch: every attempt has its own branch
//! (`suture/fix-<ticket>-<attempt>`), so before creating a pull request
//! the client lists the repository's pull requests whose head is that
//! branch, open or closed, and returns the one it finds. A sidecar that
//! crashed between the push and recording the pull request's number
//! finds it again instead of opening a second one.

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

use super::{CUT_NOTE, GitHub, GitHubError, MAX_BODY_BYTES, MAX_TITLE_BYTES, cut, merge_labels};

/// A pull request to open.
#[derive(Debug, Clone)]
pub struct PullDraft {
    /// The fix's branch (in the same repository).
    pub head: String,
    /// The branch it targets (`repo.base_branch`).
    pub base: String,
    pub title: String,
    pub body: String,
    /// Added to the configured labels.
    pub labels: Vec<String>,
    /// Open it ready for review instead of as a draft (Suture will merge
    /// it itself: autonomy `deploy`).
    pub ready: bool,
}

/// An opened (or found) pull request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRef {
    pub number: u64,
    pub url: String,
    /// Whether this call created it.
    pub created: bool,
}

#[derive(Serialize)]
struct PullQuery<'a> {
    head: &'a str,
    state: &'static str,
    per_page: u32,
}

#[derive(Deserialize)]
struct ListedPull {
    number: u64,
    html_url: String,
}

#[derive(Serialize)]
struct NewPull<'a> {
    title: &'a str,
    head: &'a str,
    base: &'a str,
    body: &'a str,
    draft: bool,
    maintainer_can_modify: bool,
}

#[derive(Serialize)]
struct NewLabels<'a> {
    labels: &'a [String],
}

impl GitHub {
    /// The draft pull request of `draft.head`: the existing one when there
    /// is one, else a new draft with the configured labels plus the
    /// draft's. Safe to call again after any failure.
    pub async fn ensure_pull_request(&self, draft: &PullDraft) -> Result<PullRef, GitHubError> {
        let result = self.guarded(self.find_or_open_pull(draft)).await;
        let outcome = match &result {
            Ok(pull) if pull.created => "created",
            Ok(_) => "found",
            Err(_) => "failed",
        };
        metrics::counter!("suture_github_calls_total", "op" => "ensure_pull_request", "outcome" => outcome)
            .increment(1);
        match &result {
            Ok(pull) => {
                tracing::info!(head = %draft.head, number = pull.number, url = %pull.url, created = pull.created, "fix pull request")
            }
            Err(error) => {
                tracing::warn!(head = %draft.head, %error, retryable = error.is_retryable(), "fix pull request not opened")
            }
        }
        result
    }

    async fn find_or_open_pull(&self, draft: &PullDraft) -> Result<PullRef, GitHubError> {
        if draft.head.trim().is_empty() || draft.base.trim().is_empty() {
            return Err(GitHubError::Invalid {
                message: "a pull request needs a head and a base branch".into(),
            });
        }
        let api = self.api()?;
        let head = format!("{}:{}", self.inner.owner, draft.head);
        let listed: Vec<ListedPull> = api
            .get(
                self.route("pulls"),
                Some(&PullQuery {
                    head: &head,
                    state: "all",
                    per_page: 10,
                }),
            )
            .await
            .map_err(|e| self.classify(e))?;
        if let Some(pull) = listed.into_iter().next() {
            return Ok(PullRef {
                number: pull.number,
                url: pull.html_url,
                created: false,
            });
        }
        let title = cut(draft.title.trim(), MAX_TITLE_BYTES, "…");
        let body = cut(draft.body.trim_end(), MAX_BODY_BYTES, CUT_NOTE);
        let created: ListedPull = api
            .post(
                self.route("pulls"),
                Some(&NewPull {
                    title: &title,
                    head: &draft.head,
                    base: &draft.base,
                    body: &body,
                    draft: !draft.ready,
                    maintainer_can_modify: true,
                }),
            )
            .await
            .map_err(|e| self.classify(e))?;
        let labels = merge_labels(&self.inner.labels, &draft.labels);
        if !labels.is_empty() {
            // Labels go through the issues API (a pull request is an issue).
            // A failure here leaves an unlabelled pull request: logged, not
            // retried (a retry would find the pull request and skip this).
            let labelled: Result<IgnoredAny, _> = api
                .post(
                    self.route(&format!("issues/{}/labels", created.number)),
                    Some(&NewLabels { labels: &labels }),
                )
                .await;
            if let Err(e) = labelled {
                tracing::warn!(number = created.number, error = %self.classify(e), "the fix pull request's labels were not set");
            }
        }
        Ok(PullRef {
            number: created.number,
            url: created.html_url,
            created: true,
        })
    }
}

/// What polling reads of a fix's pull request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullState {
    pub number: u64,
    pub head: String,
    /// Closed (merged or not).
    pub closed: bool,
    pub merge_commit: Option<String>,
    /// Who merged it, or who closed it unmerged (when GitHub says).
    pub by: String,
}

/// A review of a pull request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullReview {
    pub id: u64,
    /// `APPROVED`, `CHANGES_REQUESTED`, `COMMENTED`, ...
    pub state: String,
    pub body: String,
    pub by: String,
}

#[derive(Deserialize)]
struct Login {
    #[serde(default)]
    login: String,
}

#[derive(Deserialize)]
struct HeadRef {
    #[serde(rename = "ref")]
    name: String,
}

#[derive(Deserialize)]
struct PullFields {
    number: u64,
    state: String,
    #[serde(default)]
    merged: bool,
    #[serde(default)]
    merge_commit_sha: Option<String>,
    #[serde(default)]
    merged_by: Option<Login>,
    head: HeadRef,
}

#[derive(Deserialize)]
struct IssueFields {
    #[serde(default)]
    closed_by: Option<Login>,
}

#[derive(Deserialize)]
struct ReviewFields {
    id: u64,
    #[serde(default)]
    state: String,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    user: Option<Login>,
}

#[derive(Serialize)]
struct Page {
    per_page: u32,
}

impl GitHub {
    /// Pull request `number`'s state, for polling when no webhook is
    /// configured. Closed unmerged, who closed it comes from the issues API.
    pub async fn pull_request_state(&self, number: u64) -> Result<PullState, GitHubError> {
        let result = self
            .guarded(async {
                let api = self.api()?;
                let pull: PullFields = api
                    .get(self.route(&format!("pulls/{number}")), None::<&()>)
                    .await
                    .map_err(|e| self.classify(e))?;
                let closed = pull.state == "closed";
                let by = if pull.merged {
                    pull.merged_by.map(|l| l.login).unwrap_or_default()
                } else if closed {
                    let issue: IssueFields = api
                        .get(self.route(&format!("issues/{number}")), None::<&()>)
                        .await
                        .map_err(|e| self.classify(e))?;
                    issue.closed_by.map(|l| l.login).unwrap_or_default()
                } else {
                    String::new()
                };
                Ok(PullState {
                    number: pull.number,
                    head: pull.head.name,
                    closed,
                    merge_commit: pull
                        .merged
                        .then_some(pull.merge_commit_sha)
                        .flatten()
                        .filter(|c| !c.is_empty()),
                    by,
                })
            })
            .await;
        let outcome = if result.is_ok() { "ok" } else { "failed" };
        metrics::counter!("suture_github_calls_total", "op" => "pull_request_state", "outcome" => outcome)
            .increment(1);
        result
    }

    /// The reviews of pull request `number`, oldest first (the first 100).
    pub async fn pull_request_reviews(&self, number: u64) -> Result<Vec<PullReview>, GitHubError> {
        let result = self
            .guarded(async {
                let reviews: Vec<ReviewFields> = self
                    .api()?
                    .get(
                        self.route(&format!("pulls/{number}/reviews")),
                        Some(&Page { per_page: 100 }),
                    )
                    .await
                    .map_err(|e| self.classify(e))?;
                Ok(reviews
                    .into_iter()
                    .map(|r| PullReview {
                        id: r.id,
                        state: r.state,
                        body: r.body.unwrap_or_default(),
                        by: r.user.map(|u| u.login).unwrap_or_default(),
                    })
                    .collect())
            })
            .await;
        let outcome = if result.is_ok() { "ok" } else { "failed" };
        metrics::counter!("suture_github_calls_total", "op" => "pull_request_reviews", "outcome" => outcome)
            .increment(1);
        result
    }
}

#[derive(Serialize)]
struct MergeRequest<'a> {
    merge_method: &'static str,
    commit_title: &'a str,
}

#[derive(Deserialize)]
struct MergeAnswer {
    sha: String,
}

impl GitHub {
    /// Merges pull request `number` (a merge commit, so reverting it is
    /// one `git revert -m 1`); returns the merge commit. GitHub refuses a
    /// draft, a conflict or a failing required check (405, 409): the error
    /// says so and nothing changed.
    pub async fn merge_pull_request(
        &self,
        number: u64,
        title: &str,
    ) -> Result<String, GitHubError> {
        let result = self
            .guarded(async {
                let answer: MergeAnswer = self
                    .api()?
                    .put(
                        self.route(&format!("pulls/{number}/merge")),
                        Some(&MergeRequest {
                            merge_method: "merge",
                            commit_title: title,
                        }),
                    )
                    .await
                    .map_err(|e| self.classify(e))?;
                Ok(answer.sha)
            })
            .await;
        let outcome = if result.is_ok() { "ok" } else { "failed" };
        metrics::counter!("suture_github_calls_total", "op" => "merge_pull_request", "outcome" => outcome)
            .increment(1);
        result
    }
}

/// What marking a pull request ready needs of it.
#[derive(Deserialize)]
struct DraftFields {
    node_id: String,
    #[serde(default)]
    draft: bool,
}

impl GitHub {
    /// Marks pull request `number` ready for review, so it can be merged
    /// (GitHub merges no draft): a fix opened as a draft before autonomy
    /// became `deploy`. REST cannot turn a draft ready, so this reads the
    /// pull request's node id over REST and asks GraphQL's
    /// `markPullRequestReadyForReview` (at `<api_url>/graphql`, as octocrab
    /// sends it: github.com's endpoint; GitHub Enterprise Server serves
    /// GraphQL at `/api/graphql`, so there a draft waits for a person).
    /// A pull request already ready (a person marked it) is left as it is.
    /// Returns whether it was a draft.
    pub async fn mark_ready_for_review(&self, number: u64) -> Result<bool, GitHubError> {
        let result = self
            .guarded(async {
                let api = self.api()?;
                let pull: DraftFields = api
                    .get(self.route(&format!("pulls/{number}")), None::<&()>)
                    .await
                    .map_err(|e| self.classify(e))?;
                if !pull.draft {
                    return Ok(false);
                }
                let query = serde_json::json!({
                    "query": "mutation($id: ID!) { markPullRequestReadyForReview(input: {pullRequestId: $id}) { pullRequest { isDraft } } }",
                    "variables": {"id": pull.node_id},
                });
                let answer: serde_json::Value =
                    api.graphql(&query).await.map_err(|e| self.classify(e))?;
                let still_draft = answer
                    .pointer("/markPullRequestReadyForReview/pullRequest/isDraft")
                    .and_then(serde_json::Value::as_bool);
                match still_draft {
                    Some(false) => Ok(true),
                    _ => Err(GitHubError::Other {
                        message: format!(
                            "GitHub did not mark pull request #{number} ready: {}",
                            cut(&answer.to_string(), 300, "…")
                        ),
                    }),
                }
            })
            .await;
        let outcome = if result.is_ok() { "ok" } else { "failed" };
        metrics::counter!("suture_github_calls_total", "op" => "mark_ready_for_review", "outcome" => outcome)
            .increment(1);
        result
    }
}

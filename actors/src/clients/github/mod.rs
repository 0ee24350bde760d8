//! GitHub issues for Suture's tickets, through octocrab.
//!
//! Shaped by one failure: Suture crashing after GitHub created an issue but
//! before the ticket stage recorded its number. Retried naively, that
//! opens the same issue twice, and a sidecar that restarts often would
//! litter the repository. So:
//!
//! - **Idempotent by marker.** Every issue body ends with
//!   [`GitHub::marker`], `<!-- suture-ticket: {id} {tag} -->` (invisible
//!   when GitHub renders it), where the tag is an HMAC of the id under the
//!   installation's key ([`marker`]: exception text cannot forge it, and
//!   two sidecars on one repository never match each other's).
//!   [`GitHub::ensure_issue`] first lists the issues
//!   carrying the first configured label, open and closed, newest first,
//!   at most [`SEARCH_PAGES`] pages of [`PER_PAGE`], and returns the one
//!   that has the marker as a whole line; only when none does it create one.
//!   Only issues the token's own user created count (`creator=` in the
//!   listing, and checked on each issue): a marker is visible in a public
//!   issue's source, and anyone may copy it into an issue of their own.
//!   The user is asked once (`GET /user`) and kept; a token that may not
//!   ask (a GitHub App's installation token answers 403) falls back to any
//!   creator, with a warning, the HMAC still keeping markers unforgeable. It
//!   lists rather than using the search API because search is eventually
//!   consistent: an issue created seconds ago may not be indexed yet, and
//!   seconds ago is exactly the crash window. Newest first, because an
//!   issue left by a crash is among the newest; the page bound caps the
//!   cost of a genuinely new ticket at [`SEARCH_PAGES`] requests.
//! - **Labels.** The configured labels go on every issue, the draft's
//!   (`severity:high`, `suture:fix-candidate`) after them. The first
//!   configured label doubles as the filter for the lookup above, so an
//!   issue someone strips of it is no longer found (and a ticket whose
//!   number was never recorded would get a second issue). GitHub silently
//!   drops the labels of a new issue when the token's user cannot push to
//!   the repository; that is logged as a warning when it happens.
//! - **What it never does:** close, reopen, edit, relabel, lock or delete
//!   an issue, or edit a comment. Once opened, an issue belongs to the
//!   people working it; Suture only opens issues and adds comments (a
//!   recurrence, a deploy that fixed or broke it). A closed issue carrying
//!   the marker is returned as it is, not reopened: whoever closed it
//!   decided something, and a comment is the way to tell them it is back.
//! - **No retries here.** Errors are typed and [`GitHubError::is_retryable`]
//!   says which are worth another try (timeouts, connection errors, rate
//!   limits with their wait, 5xx); the ticket stage owns the schedule.
//!   Because `ensure_issue` is idempotent, retrying it is safe;
//!   retrying [`GitHub::comment`] after a timeout may post it twice.
//! - **One HTTP stack.** octocrab runs on a reqwest client of Suture's own
//!   (`build_with_reqwest`), the same stack as the LLM client: rustls with
//!   ring as the only crypto provider, a total timeout per request (a hung
//!   GitHub fails after `github.timeout`, never hangs the caller), and
//!   `HTTPS_PROXY` honoured.
//! - **The token** is read from the environment once, sent only to
//!   `api_url`'s host (reqwest drops it on a redirect to another host),
//!   and never printed: not by `Debug`, not in errors.

mod config;
pub mod marker;
mod pulls;
pub mod webhook;

pub use pulls::{PullDraft, PullRef};

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use octocrab::{Octocrab, Page};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

pub use config::{GitHubConfig, GitHubConfigError};
pub use marker::MarkerKey;

/// Issues asked for per listing page: GitHub's maximum, so the lookup
/// needs the fewest requests.
pub const PER_PAGE: u32 = 100;

/// Listing pages [`GitHub::ensure_issue`] reads before concluding a ticket
/// has no issue: the 1,000 newest issues with the first label. An issue a
/// crash left behind is among the newest few; ten pages also cover a store
/// restored from a backup weeks old, and bound a new ticket's cost at ten
/// requests (of the 5,000 a token has per hour).
pub const SEARCH_PAGES: u32 = 10;

/// GitHub refuses longer titles (422). Counted in bytes, which is never
/// more lenient than GitHub's characters.
const MAX_TITLE_BYTES: usize = 256;
/// GitHub refuses longer issue and comment bodies (422, "maximum is 65536
/// characters"). Bytes again: an over-long body would fail on every retry.
const MAX_BODY_BYTES: usize = 65_536;
/// Ticket ids are Suture's own short keys; the bound keeps the marker small.
const MAX_TICKET_ID_BYTES: usize = 200;
/// How much of GitHub's error text an error keeps.
const MAX_MESSAGE_CHARS: usize = 500;
/// What GitHub asks clients to wait after a secondary rate limit that says
/// nothing more ("wait for at least one minute before retrying").
const DEFAULT_RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);

/// What the ticket stage wants opened for one ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueDraft {
    /// The ticket's id in Suture's store; the marker is built from it.
    pub ticket_id: String,
    pub title: String,
    /// Markdown. The marker line is appended; do not add it.
    pub body: String,
    /// Labels beyond the configured ones, e.g. `severity:high`.
    pub labels: Vec<String>,
}

/// An issue Suture opened (or found again).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct IssueRef {
    pub number: u64,
    /// The page a human opens (`html_url`), not the API URL.
    pub url: String,
}

/// Why a GitHub call failed.
#[derive(Debug, thiserror::Error)]
pub enum GitHubError {
    /// Any other HTTP error status; GitHub's message, cut to 500 characters.
    #[error("GitHub answered HTTP {status}: {message}")]
    Http { status: u16, message: String },
    /// 401 or 403 that is not a rate limit: the token is wrong, expired,
    /// or lacks access. `hint` says what to check.
    #[error("GitHub refused the token (HTTP {status}: {message}); {hint}")]
    Unauthorized {
        status: u16,
        message: String,
        hint: String,
    },
    /// 429, or 403 with GitHub's rate-limit signs. `retry_after` is
    /// GitHub's `retry-after`, else the time until `x-ratelimit-reset` when
    /// the limit is spent, else the minute GitHub asks for.
    #[error("GitHub rate limit reached ({message}); retry after {}", humantime::format_duration(*.retry_after))]
    RateLimited {
        retry_after: Duration,
        message: String,
    },
    /// No complete answer within `github.timeout`.
    #[error("GitHub did not answer within github.timeout")]
    Timeout,
    /// DNS, TCP, TLS, or the connection dropping mid-answer.
    #[error("cannot reach GitHub: {message}")]
    Connection { message: String },
    /// A draft or comment GitHub would refuse whatever the retries: a
    /// ticket id unfit for the marker, an empty comment.
    #[error("invalid GitHub request: {message}")]
    Invalid { message: String },
    /// Anything else: an answer that is not what the API documents, the
    /// client failing to build.
    #[error("GitHub client error: {message}")]
    Other { message: String },
    /// Not tried: the breaker is open (GitHub down, or its rate limit).
    #[error("the GitHub circuit breaker is open (next try in {}s)", .retry_in.as_secs().max(1))]
    BreakerOpen { retry_in: Duration },
}

impl GitHubError {
    /// Whether trying again later can succeed: timeouts, connection errors,
    /// rate limits (after `retry_after`), 408 and 5xx. Not 401/403 (a human
    /// must fix the token), 404/410/422 (the repository, or the request).
    pub fn is_retryable(&self) -> bool {
        match self {
            GitHubError::Timeout
            | GitHubError::Connection { .. }
            | GitHubError::RateLimited { .. }
            | GitHubError::BreakerOpen { .. } => true,
            GitHubError::Http { status, .. } => *status == 408 || *status >= 500,
            GitHubError::Unauthorized { .. }
            | GitHubError::Invalid { .. }
            | GitHubError::Other { .. } => false,
        }
    }

    /// How long GitHub (or the breaker guarding it) said to wait, when it
    /// said: a rate limit's `retry-after`, the breaker's next try.
    pub fn retry_hint(&self) -> Option<Duration> {
        match self {
            GitHubError::RateLimited { retry_after, .. } => Some(*retry_after),
            GitHubError::BreakerOpen { retry_in } => Some(*retry_in),
            _ => None,
        }
    }
}

/// The GitHub client. Cheap to clone; clones share one connection pool.
#[derive(Clone)]
pub struct GitHub {
    inner: Arc<Inner>,
}

struct Inner {
    owner: String,
    name: String,
    /// `owner/name`, for messages.
    repo: String,
    api_url: String,
    token_env: String,
    token: Token,
    /// The configured labels, trimmed; never empty.
    labels: Vec<String>,
    /// The first of them: the filter the marker lookup lists by.
    find_label: String,
    timeout: Duration,
    http: reqwest::Client,
    /// Built on first use: octocrab spawns its request worker onto the
    /// current tokio runtime, so building it in [`GitHub::new`] would tie
    /// construction (and config checks) to a runtime.
    api: OnceLock<Octocrab>,
    /// The installation's marker key: random until [`GitHub::set_marker_key`]
    /// gives the one kept in the store (the engine does, at start).
    marker_key: std::sync::RwLock<MarkerKey>,
    /// Opens after `github.breaker_failures` failures that say GitHub is
    /// down, or for a rate limit's `retry-after`.
    breaker: std::sync::Mutex<crate::domain::llm::breaker::Breaker>,
    /// Tells people the breaker opened.
    notify: std::sync::RwLock<Option<crate::domain::notify::NotifyFn>>,
    /// The token's user's login, asked once; `Some(None)` when GitHub
    /// would not say (then markers are matched in issues by anyone).
    me: tokio::sync::OnceCell<Option<String>>,
}

/// The token, with a `Debug` that does not show it.
struct Token(String);

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Debug for GitHub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.inner;
        f.debug_struct("GitHub")
            .field("repo", &c.repo)
            .field("api_url", &c.api_url)
            .field("labels", &c.labels)
            .field("token_env", &c.token_env)
            .field("token", &c.token)
            .field("timeout", &c.timeout)
            .finish()
    }
}

/// Query of `GET /repos/{owner}/{repo}/issues`.
#[derive(Serialize)]
struct ListQuery<'a> {
    labels: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    creator: Option<&'a str>,
    state: &'static str,
    sort: &'static str,
    direction: &'static str,
    per_page: u32,
    page: u32,
}

/// The fields of a listed issue the lookup reads. Deliberately not
/// octocrab's full `Issue` model: Enterprise versions and API changes add
/// and drop fields, and none of the others matter here.
#[derive(Deserialize)]
struct ListedIssue {
    number: u64,
    html_url: String,
    #[serde(default)]
    body: Option<String>,
    /// Present on pull requests, which the issues listing includes.
    #[serde(default)]
    pull_request: Option<IgnoredAny>,
    /// Who opened it.
    #[serde(default)]
    user: Option<Login>,
}

/// A user as the API names one (`GET /user`, an issue's `user`).
#[derive(Deserialize)]
struct Login {
    login: String,
}

/// Whether `user` is the token's own user `me`; anyone when `me` could not
/// be told (a token that may not read `/user`).
fn by_me(user: Option<&Login>, me: Option<&str>) -> bool {
    me.is_none_or(|me| user.is_some_and(|u| u.login.eq_ignore_ascii_case(me)))
}

#[derive(Serialize)]
struct NewIssue<'a> {
    title: &'a str,
    body: &'a str,
    labels: &'a [String],
}

#[derive(Deserialize)]
struct CreatedIssue {
    number: u64,
    html_url: String,
    /// What GitHub actually put on it, checked for the first label;
    /// `None` when the answer leaves them out.
    #[serde(default)]
    labels: Option<Vec<LabelName>>,
}

#[derive(Deserialize)]
struct LabelName {
    name: String,
}

#[derive(Serialize)]
struct NewComment<'a> {
    body: &'a str,
}

#[derive(Serialize)]
struct CommentQuery<'a> {
    since: &'a str,
    per_page: u32,
    page: u32,
}

/// The fields of a listed comment [`GitHub::comment_once`] reads.
#[derive(Deserialize)]
struct ListedComment {
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    user: Option<Login>,
}

impl GitHub {
    /// The client `config` describes, or `None` when `config.repo` is
    /// empty. The token is read from the environment here, once; a named
    /// variable that is unset or empty is an error, not a silent
    /// anonymous client (which could only read, and at 60 requests an hour).
    /// Needs no tokio runtime; the first request must run in one.
    pub fn new(config: &GitHubConfig) -> Result<Option<GitHub>, GitHubConfigError> {
        Self::with_env(config, |name| std::env::var(name).ok())
    }

    /// [`GitHub::new`] with the environment given, for tests.
    pub fn with_env(
        config: &GitHubConfig,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<GitHub>, GitHubConfigError> {
        if !config.is_configured() {
            return Ok(None);
        }
        let error = |key, message: String| GitHubConfigError { key, message };
        let repo = config.repo.trim();
        let Some((owner, name)) = split_repo(repo) else {
            return Err(error(
                "repo",
                format!(
                    "{repo:?} is not owner/name (e.g. \"acme/shop\"; letters, digits, '-', '_' and '.')"
                ),
            ));
        };
        let api_url = config.api_url.trim().trim_end_matches('/');
        if !(api_url.starts_with("http://") || api_url.starts_with("https://")) {
            return Err(error(
                "api_url",
                format!(
                    "{api_url:?} must start with http:// or https:// (https://api.github.com, or https://HOST/api/v3 for GitHub Enterprise)"
                ),
            ));
        }
        if Octocrab::builder().base_uri(api_url).is_err() {
            return Err(error("api_url", format!("{api_url:?} is not a valid URL")));
        }
        let labels: Vec<String> = config
            .labels
            .iter()
            .map(|label| label.trim().to_string())
            .collect();
        let Some(find_label) = labels.first().cloned() else {
            return Err(error(
                "labels",
                "must name at least one label: the first is how Suture finds its own issues again"
                    .to_string(),
            ));
        };
        if labels.iter().any(String::is_empty) {
            return Err(error("labels", "a label is empty".to_string()));
        }
        if find_label.contains(',') {
            return Err(error(
                "labels",
                format!(
                    "the first label {find_label:?} has a comma; GitHub's issue filter would read it as two labels"
                ),
            ));
        }
        if config.timeout.is_zero() {
            return Err(error("timeout", "must be more than 0".to_string()));
        }
        let token_env = config.token_env.trim();
        if token_env.is_empty() {
            return Err(error(
                "token_env",
                "must name the environment variable holding the token (e.g. GITHUB_TOKEN)"
                    .to_string(),
            ));
        }
        let token = env(token_env).unwrap_or_default();
        let token = token.trim();
        if token.is_empty() {
            return Err(error(
                "token_env",
                format!("the environment variable {token_env} is not set or empty"),
            ));
        }
        // octocrab puts the token in a header and panics on one that is not
        // a valid header value; refuse it here, naming its variable.
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(error(
                "token_env",
                format!("the token in {token_env} has spaces or control characters"),
            ));
        }
        let http = super::http_client(config.timeout).map_err(|e| {
            error(
                "timeout",
                format!("cannot build the HTTP client: {}", chain_message(&e)),
            )
        })?;
        let key = MarkerKey::generate().map_err(|_| {
            error(
                "repo",
                "cannot generate the issue marker key: the system's random source failed".into(),
            )
        })?;
        Ok(Some(GitHub {
            inner: Arc::new(Inner {
                owner: owner.to_string(),
                name: name.to_string(),
                repo: repo.to_string(),
                api_url: api_url.to_string(),
                token_env: token_env.to_string(),
                token: Token(token.to_string()),
                labels,
                find_label,
                timeout: config.timeout,
                http,
                api: OnceLock::new(),
                marker_key: std::sync::RwLock::new(MarkerKey::from_bytes(&key)),
                breaker: std::sync::Mutex::new(crate::domain::llm::breaker::Breaker::new(
                    config.breaker_failures,
                    config.breaker_cooldown,
                )),
                notify: std::sync::RwLock::new(None),
                me: tokio::sync::OnceCell::new(),
            }),
        }))
    }

    /// Uses the installation's key for markers from now on (the key kept in
    /// the store, so markers survive restarts).
    /// Sends a notification when the breaker opens.
    pub fn attach_notify(&self, notify: crate::domain::notify::NotifyFn) {
        *self.inner.notify.write().unwrap_or_else(|p| p.into_inner()) = Some(notify);
    }

    /// Runs one GitHub operation behind the breaker: refused at once while
    /// it is open; failures that say GitHub is down count toward opening
    /// it, a rate limit holds it open for GitHub's `retry-after`.
    pub(crate) async fn guarded<T>(
        &self,
        op: impl std::future::Future<Output = Result<T, GitHubError>>,
    ) -> Result<T, GitHubError> {
        let admitted = self
            .inner
            .breaker
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .admit(std::time::Instant::now());
        if let Err(retry_in) = admitted {
            return Err(GitHubError::BreakerOpen { retry_in });
        }
        let result = op.await;
        let opened = {
            let mut breaker = self.inner.breaker.lock().unwrap_or_else(|p| p.into_inner());
            let was_open = breaker.state() == crate::domain::llm::breaker::BreakerState::Open;
            match &result {
                Ok(_) => breaker.success(),
                Err(GitHubError::RateLimited { retry_after, .. }) => {
                    breaker.hold_for(std::time::Instant::now(), *retry_after);
                }
                Err(e) if e.is_retryable() => breaker.failure(std::time::Instant::now()),
                // The request's fault, not GitHub's health.
                Err(_) => {}
            }
            let open = breaker.state() == crate::domain::llm::breaker::BreakerState::Open;
            metrics::gauge!("suture_github_breaker_state").set(breaker.state().gauge());
            (!was_open && open).then(|| breaker.failures())
        };
        if let (Some(failures), Err(error)) = (opened, &result) {
            tracing::warn!(%error, failures, "the GitHub circuit breaker opened");
            metrics::counter!("suture_breaker_trips_total", "breaker" => "github").increment(1);
            let notify = self
                .inner
                .notify
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            if let Some(notify) = notify {
                notify(crate::domain::notify::Notification::new(
                    crate::domain::notify::NotificationKind::BreakerTripped,
                    crate::clock::now_ms(),
                    "The GitHub circuit breaker opened",
                    format!("GitHub writes wait and are retried later: {error}"),
                ));
            }
        }
        result
    }

    pub fn set_marker_key(&self, key: MarkerKey) {
        *self
            .inner
            .marker_key
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = key;
    }

    /// The line appended to every issue body Suture opens for `ticket_id`,
    /// and searched for to find the issue again.
    pub fn marker(&self, ticket_id: &str) -> String {
        self.inner
            .marker_key
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .marker(ticket_id)
    }

    /// `owner/name`.
    pub fn repo(&self) -> &str {
        &self.inner.repo
    }

    /// The API root requests go to, without a trailing `/`.
    pub fn api_url(&self) -> &str {
        &self.inner.api_url
    }

    /// The issue for `draft.ticket_id`: the existing one, open or closed,
    /// if an issue with the first configured label carries the ticket's
    /// marker (see the module docs for how far it looks); otherwise a new
    /// one with the draft's title, its body plus the marker line, and the
    /// configured labels plus the draft's. Safe to call again after any
    /// failure, including a crash after GitHub created the issue.
    pub async fn ensure_issue(&self, draft: &IssueDraft) -> Result<IssueRef, GitHubError> {
        let result = self.guarded(self.find_or_create(draft)).await;
        let outcome = match &result {
            Ok((_, Found::Existing)) => "found",
            Ok((_, Found::Created)) => "created",
            Err(_) => "failed",
        };
        metrics::counter!("suture_github_calls_total", "op" => "ensure_issue", "outcome" => outcome)
            .increment(1);
        match result {
            Ok((issue, Found::Existing)) => {
                tracing::info!(ticket = %draft.ticket_id, issue = issue.number, "ticket's GitHub issue found by its marker");
                Ok(issue)
            }
            Ok((issue, Found::Created)) => {
                tracing::info!(ticket = %draft.ticket_id, issue = issue.number, url = %issue.url, "opened a GitHub issue");
                Ok(issue)
            }
            Err(error) => {
                tracing::warn!(ticket = %draft.ticket_id, %error, retryable = error.is_retryable(), "GitHub issue not opened");
                Err(error)
            }
        }
    }

    /// Adds a comment to issue `number`, e.g. "recurred: +120 events after
    /// deploy X". Bodies longer than GitHub accepts are cut. Not
    /// idempotent: a retry after a timeout may post the comment twice.
    pub async fn comment(&self, number: u64, body: &str) -> Result<(), GitHubError> {
        let result = self.guarded(self.post_comment(number, body)).await;
        let outcome = if result.is_ok() { "ok" } else { "failed" };
        metrics::counter!("suture_github_calls_total", "op" => "comment", "outcome" => outcome)
            .increment(1);
        if let Err(error) = &result {
            tracing::warn!(issue = number, %error, retryable = error.is_retryable(), "GitHub comment not added");
        }
        result
    }

    /// Adds a comment to issue (or pull request) `number` unless one made
    /// by the token's user since `since_ms` already holds `marker` (a line
    /// such as `<!-- suture-revision: T-4 attempt 2 -->`, appended to the
    /// body): safe to call again after a crash, a lost answer or a lost
    /// record of the first call, so a caller that records its intent before
    /// and calls this on every retry comments once. Reads at most
    /// [`SEARCH_PAGES`] pages of the comments since `since_ms`. Returns
    /// whether it posted.
    pub async fn comment_once(
        &self,
        number: u64,
        body: &str,
        marker: &str,
        since_ms: i64,
    ) -> Result<bool, GitHubError> {
        let result = self
            .guarded(async {
                if self.has_comment(number, marker, since_ms).await? {
                    return Ok(false);
                }
                self.post_comment(number, &marked_body(body, marker))
                    .await
                    .map(|()| true)
            })
            .await;
        let outcome = match &result {
            Ok(true) => "ok",
            Ok(false) => "found",
            Err(_) => "failed",
        };
        metrics::counter!("suture_github_calls_total", "op" => "comment_once", "outcome" => outcome)
            .increment(1);
        if let Err(error) = &result {
            tracing::warn!(issue = number, %error, retryable = error.is_retryable(), "GitHub comment not added");
        }
        result
    }

    /// Whether a comment on `number` since `since_ms`, by the token's user
    /// (by anyone when that cannot be told), holds `marker` on a line of
    /// its own.
    async fn has_comment(
        &self,
        number: u64,
        marker: &str,
        since_ms: i64,
    ) -> Result<bool, GitHubError> {
        let me = self.me().await?;
        let api = self.api()?;
        let route = self.route(&format!("issues/{number}/comments"));
        let since = humantime::format_rfc3339_seconds(
            std::time::UNIX_EPOCH
                + Duration::from_millis(
                    u64::try_from(since_ms.saturating_sub(60_000)).unwrap_or(0),
                ),
        )
        .to_string();
        for page in 1..=SEARCH_PAGES {
            let query = CommentQuery {
                since: &since,
                per_page: PER_PAGE,
                page,
            };
            let listed: Vec<ListedComment> = api
                .get(&route, Some(&query))
                .await
                .map_err(|e| self.classify(e))?;
            let found = listed.iter().any(|c| {
                by_me(c.user.as_ref(), me)
                    && c.body
                        .as_deref()
                        .is_some_and(|b| marker::body_has_marker(b, marker))
            });
            if found {
                return Ok(true);
            }
            if listed.len() < PER_PAGE as usize {
                break;
            }
        }
        Ok(false)
    }

    async fn find_or_create(&self, draft: &IssueDraft) -> Result<(IssueRef, Found), GitHubError> {
        check_ticket_id(&draft.ticket_id)?;
        let marker = self.marker(&draft.ticket_id);
        if let Some(issue) = self.find(&marker).await? {
            return Ok((issue, Found::Existing));
        }
        let title = issue_title(&draft.title, &draft.ticket_id);
        let body = marked_body(&draft.body, &marker);
        let labels = merge_labels(&self.inner.labels, &draft.labels);
        let created: CreatedIssue = self
            .api()?
            .post(
                self.route("issues"),
                Some(&NewIssue {
                    title: &title,
                    body: &body,
                    labels: &labels,
                }),
            )
            .await
            .map_err(|e| self.classify(e))?;
        // GitHub silently drops the labels of a new issue when the token's
        // user may not push to the repository. The issue exists, so this is
        // no error (a retry would open another), but without the first
        // label the marker lookup cannot see it: say so, loudly.
        let find_label = &self.inner.find_label;
        if let Some(got) = &created.labels {
            if !got.iter().any(|l| l.name.eq_ignore_ascii_case(find_label)) {
                tracing::warn!(
                    issue = created.number,
                    label = %find_label,
                    "GitHub dropped the issue's labels (the token's user cannot set labels: it needs push or triage access to {}); Suture cannot find this issue again by its marker",
                    self.inner.repo
                );
            }
        }
        Ok((
            IssueRef {
                number: created.number,
                url: created.html_url,
            },
            Found::Created,
        ))
    }

    /// The token's user's login, asked once. A refusal that will not
    /// change (a GitHub App's token may not read `/user`) is kept as
    /// `None`; a retryable failure is returned, and asked again next time.
    async fn me(&self) -> Result<Option<&str>, GitHubError> {
        let me = self
            .inner
            .me
            .get_or_try_init(|| async {
                match self.api()?.get::<Login, _, ()>("/user", None).await {
                    Ok(user) => Ok(Some(user.login)),
                    Err(e) => {
                        let error = self.classify(e);
                        if error.is_retryable() {
                            return Err(error);
                        }
                        tracing::warn!(%error, "cannot tell which GitHub user the token is (GET /user): ticket markers are matched in issues by any creator");
                        Ok(None)
                    }
                }
            })
            .await?;
        Ok(me.as_deref())
    }

    /// The newest issue (not pull request) labelled with the first label,
    /// created by the token's user, whose body holds `marker`, among the
    /// first [`SEARCH_PAGES`] pages.
    async fn find(&self, marker: &str) -> Result<Option<IssueRef>, GitHubError> {
        let me = self.me().await?;
        let api = self.api()?;
        let route = self.route("issues");
        for page in 1..=SEARCH_PAGES {
            let query = ListQuery {
                labels: &self.inner.find_label,
                creator: me,
                state: "all",
                sort: "created",
                direction: "desc",
                per_page: PER_PAGE,
                page,
            };
            let listed: Page<ListedIssue> = api
                .get(&route, Some(&query))
                .await
                .map_err(|e| self.classify(e))?;
            let hit = listed.items.into_iter().find(|issue| {
                // Checked again on the issue: an Enterprise version that
                // ignores `creator=` must not widen the match.
                issue.pull_request.is_none()
                    && by_me(issue.user.as_ref(), me)
                    && issue
                        .body
                        .as_deref()
                        .is_some_and(|b| marker::body_has_marker(b, marker))
            });
            if let Some(issue) = hit {
                return Ok(Some(IssueRef {
                    number: issue.number,
                    url: issue.html_url,
                }));
            }
            // GitHub's `Link` header names a next page exactly when there is one.
            if listed.next.is_none() {
                return Ok(None);
            }
        }
        tracing::warn!(
            label = %self.inner.find_label,
            pages = SEARCH_PAGES,
            "marker not among the newest labelled issues; opening a new issue (an older one, if any, is not seen)"
        );
        Ok(None)
    }

    /// Closes issue `number` as completed (a fix verified in production).
    /// Idempotent: closing a closed issue changes nothing.
    pub async fn close_issue(&self, number: u64) -> Result<(), GitHubError> {
        let result = self
            .guarded(async {
                let _: IgnoredAny = self
                    .api()?
                    .patch(
                        self.route(&format!("issues/{number}")),
                        Some(&serde_json::json!({"state": "closed", "state_reason": "completed"})),
                    )
                    .await
                    .map_err(|e| self.classify(e))?;
                Ok(())
            })
            .await;
        let outcome = if result.is_ok() { "ok" } else { "failed" };
        metrics::counter!("suture_github_calls_total", "op" => "close_issue", "outcome" => outcome)
            .increment(1);
        if let Err(error) = &result {
            tracing::warn!(issue = number, %error, retryable = error.is_retryable(), "GitHub issue not closed");
        }
        result
    }

    async fn post_comment(&self, number: u64, body: &str) -> Result<(), GitHubError> {
        if body.trim().is_empty() {
            return Err(GitHubError::Invalid {
                message: "the comment is empty".to_string(),
            });
        }
        let body = cut(body, MAX_BODY_BYTES, CUT_NOTE);
        let _: IgnoredAny = self
            .api()?
            .post(
                self.route(&format!("issues/{number}/comments")),
                Some(&NewComment { body: &body }),
            )
            .await
            .map_err(|e| self.classify(e))?;
        Ok(())
    }

    /// The token, for `git push` (through an askpass helper, never argv).
    pub fn push_token(&self) -> &str {
        &self.inner.token.0
    }

    fn route(&self, rest: &str) -> String {
        format!("/repos/{}/{}/{rest}", self.inner.owner, self.inner.name)
    }

    fn api(&self) -> Result<&Octocrab, GitHubError> {
        if let Some(api) = self.inner.api.get() {
            return Ok(api);
        }
        let api = Octocrab::builder()
            .personal_token(self.inner.token.0.clone())
            .base_uri(self.inner.api_url.as_str())
            .and_then(|builder| builder.build_with_reqwest(self.inner.http.clone()))
            .map_err(|e| GitHubError::Other {
                message: format!("cannot build the GitHub client: {}", chain_message(&e)),
            })?;
        // Two first calls racing both build one; the loser's is dropped.
        Ok(self.inner.api.get_or_init(|| api))
    }

    /// Maps octocrab's error to Suture's, with hints that name the key or
    /// the variable to check.
    fn classify(&self, error: octocrab::Error) -> GitHubError {
        if let octocrab::Error::GitHub { source, .. } = &error {
            return self.status_error(source);
        }
        let mut reqwest_error = None;
        let mut next: Option<&(dyn std::error::Error + 'static)> = Some(&error);
        while let Some(e) = next {
            if let Some(r) = e.downcast_ref::<reqwest::Error>() {
                if r.is_timeout() {
                    return GitHubError::Timeout;
                }
                reqwest_error.get_or_insert(r);
            }
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
            {
                return GitHubError::Timeout;
            }
            next = e.source();
        }
        // From reqwest's error on: octocrab's wrappers add only their names.
        match reqwest_error {
            Some(r) if r.is_decode() => GitHubError::Other {
                message: chain_message(r),
            },
            Some(r) => GitHubError::Connection {
                message: chain_message(r),
            },
            None => GitHubError::Other {
                message: chain_message(&error),
            },
        }
    }

    fn status_error(&self, e: &octocrab::GitHubError) -> GitHubError {
        let status = e.status_code.as_u16();
        let message: String = e.message.chars().take(MAX_MESSAGE_CHARS).collect();
        let header = |name: &str| {
            e.headers
                .as_ref()
                .and_then(|h| h.get(name))
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
        };
        let spent = header("x-ratelimit-remaining") == Some("0");
        let retry_header = header("retry-after").and_then(|v| v.parse::<u64>().ok());
        let rate_limited = status == 429
            || (status == 403
                && (spent
                    || retry_header.is_some()
                    || message.to_ascii_lowercase().contains("rate limit")));
        if rate_limited {
            // GitHub's order: `retry-after`; else, when the limit is spent,
            // its reset time; else at least a minute.
            let until_reset = e.rate_limit_reset.filter(|_| spent).map(|reset| {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                Duration::from_secs(reset.saturating_sub(now).max(1))
            });
            let retry_after = retry_header
                .map(Duration::from_secs)
                .or(until_reset)
                .unwrap_or(DEFAULT_RATE_LIMIT_WAIT);
            return GitHubError::RateLimited {
                retry_after,
                message,
            };
        }
        let c = &self.inner;
        match status {
            401 => GitHubError::Unauthorized {
                status,
                message,
                hint: format!(
                    "the token in {} is wrong, expired or revoked (github.token_env names the variable)",
                    c.token_env
                ),
            },
            403 => GitHubError::Unauthorized {
                status,
                message,
                hint: format!(
                    "the token in {} lacks access to {}: it needs `Issues: read and write` on it (fine-grained token) or the `repo` scope (classic; `public_repo` for a public repository), and an organization with SSO must have authorized it",
                    c.token_env, c.repo
                ),
            },
            404 => GitHubError::Http {
                status,
                message: format!(
                    "{message} (is github.repo `{}` right, and can the token in {} see it? GitHub answers 404 for a private repository a token cannot read)",
                    c.repo, c.token_env
                ),
            },
            _ => GitHubError::Http { status, message },
        }
    }
}

enum Found {
    Existing,
    Created,
}

/// `owner/name`, each part GitHub's characters, nothing else.
fn split_repo(repo: &str) -> Option<(&str, &str)> {
    let (owner, name) = repo.split_once('/')?;
    let fine = |part: &str| {
        !part.is_empty()
            && part != "."
            && part != ".."
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    };
    (fine(owner) && fine(name)).then_some((owner, name))
}

/// A ticket id the marker can carry: it must not end the HTML comment
/// early or span lines, or the lookup would never match it again.
fn check_ticket_id(ticket_id: &str) -> Result<(), GitHubError> {
    let problem = if ticket_id.trim().is_empty() {
        Some("is empty")
    } else if ticket_id.len() > MAX_TICKET_ID_BYTES {
        Some("is longer than 200 bytes")
    } else if ticket_id.contains("-->") {
        Some("contains `-->`, which would end the marker's HTML comment")
    } else if ticket_id.chars().any(char::is_control) {
        Some("contains control characters")
    } else {
        None
    };
    match problem {
        Some(problem) => Err(GitHubError::Invalid {
            message: format!("ticket id {ticket_id:?} {problem}"),
        }),
        None => Ok(()),
    }
}

const CUT_NOTE: &str = "\n\n… (cut: longer than GitHub accepts)";

/// The title, cut to GitHub's limit; a blank one becomes the ticket id
/// (GitHub refuses blank titles, and that refusal would repeat forever).
fn issue_title(title: &str, ticket_id: &str) -> String {
    let title = title.trim();
    if title.is_empty() {
        return format!("Suture ticket {ticket_id}");
    }
    cut(title, MAX_TITLE_BYTES, "…")
}

/// The body, cut so that it and the marker line fit GitHub's limit: the
/// marker must survive, or the issue (or comment) could not be found again.
fn marked_body(body: &str, marker: &str) -> String {
    let room = MAX_BODY_BYTES.saturating_sub(marker.len() + 2);
    let body = cut(body.trim_end(), room, CUT_NOTE);
    if body.is_empty() {
        marker.to_string()
    } else {
        format!("{body}\n\n{marker}")
    }
}

/// `text` if it fits in `max` bytes, else its longest prefix (on a
/// character boundary) that fits together with `note`, followed by `note`.
fn cut(text: &str, max: usize, note: &str) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let room = max.saturating_sub(note.len());
    let end = text
        .char_indices()
        .map(|(i, c)| i + c.len_utf8())
        .take_while(|&end| end <= room)
        .last()
        .unwrap_or(0);
    format!("{}{note}", &text[..end])
}

/// The configured labels, then the draft's, trimmed, without blanks or
/// repeats (GitHub label names are case-insensitive).
fn merge_labels(configured: &[String], extra: &[String]) -> Vec<String> {
    let mut labels: Vec<String> = Vec::with_capacity(configured.len() + extra.len());
    for label in configured.iter().chain(extra) {
        let label = label.trim();
        if !label.is_empty() && !labels.iter().any(|l| l.eq_ignore_ascii_case(label)) {
            labels.push(label.to_string());
        }
    }
    labels
}

/// An error and its causes, one line, repeats dropped (wrappers often
/// print their cause again), cut to 500 characters.
fn chain_message(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(error);
    while let Some(e) = next {
        let text = e.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ").chars().take(MAX_MESSAGE_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_with_token(name: &str) -> Option<String> {
        (name == "GITHUB_TOKEN").then(|| "ghp_test".to_string())
    }

    fn config(repo: &str) -> GitHubConfig {
        GitHubConfig {
            repo: repo.to_string(),
            ..GitHubConfig::default()
        }
    }

    #[test]
    fn no_repo_means_no_client_and_no_token_needed() {
        let built = GitHub::with_env(&GitHubConfig::default(), |_| None).expect("valid");
        assert!(built.is_none());
    }

    #[test]
    fn builds_without_a_runtime() {
        let built = GitHub::with_env(&config("acme/shop"), env_with_token).expect("valid");
        let github = built.expect("configured");
        assert_eq!(github.repo(), "acme/shop");
        assert_eq!(github.api_url(), "https://api.github.com");
    }

    #[test]
    fn repo_must_be_owner_slash_name() {
        for bad in [
            "acme",
            "acme/",
            "/shop",
            "acme/shop/x",
            "acme/sh op",
            "../shop",
            "a/b?c",
        ] {
            let err = GitHub::with_env(&config(bad), env_with_token).expect_err(bad);
            assert_eq!(err.key, "repo", "{bad}");
            assert!(
                err.to_string()
                    .starts_with("invalid configuration: key `github.repo`")
            );
        }
        for good in ["acme/shop", "a-b/c.d_e", "Acme42/.github"] {
            assert!(
                GitHub::with_env(&config(good), env_with_token).is_ok(),
                "{good}"
            );
        }
    }

    #[test]
    fn api_url_labels_timeout_and_token_are_checked() {
        let mut c = config("acme/shop");
        c.api_url = "ftp://x".into();
        assert_eq!(
            GitHub::with_env(&c, env_with_token).unwrap_err().key,
            "api_url"
        );
        c.api_url = "https://".into();
        assert_eq!(
            GitHub::with_env(&c, env_with_token).unwrap_err().key,
            "api_url"
        );

        let mut c = config("acme/shop");
        c.labels = vec!["suture".into(), " ".into()];
        assert_eq!(
            GitHub::with_env(&c, env_with_token).unwrap_err().key,
            "labels"
        );
        c.labels = vec!["a,b".into()];
        assert_eq!(
            GitHub::with_env(&c, env_with_token).unwrap_err().key,
            "labels"
        );

        let mut c = config("acme/shop");
        c.timeout = Duration::ZERO;
        assert_eq!(
            GitHub::with_env(&c, env_with_token).unwrap_err().key,
            "timeout"
        );

        let c = config("acme/shop");
        let err = GitHub::with_env(&c, |_| Some("tok en".into())).unwrap_err();
        assert_eq!(err.key, "token_env");
        assert!(
            !err.to_string().contains("tok en"),
            "the token is not echoed"
        );
        let mut c = config("acme/shop");
        c.token_env = " ".into();
        assert_eq!(
            GitHub::with_env(&c, env_with_token).unwrap_err().key,
            "token_env"
        );
    }

    #[test]
    fn marker_is_an_html_comment_with_the_id() {
        let key = MarkerKey::from_bytes(&[3; marker::KEY_BYTES]);
        assert!(key.marker("t-42").starts_with("<!-- suture-ticket: t-42 "));
        // The tag keeps one id's marker from matching a longer id's.
        assert!(!key.marker("t-420").contains(&key.marker("t-42")));
    }

    #[test]
    fn ticket_ids_that_would_break_the_marker_are_refused() {
        assert!(check_ticket_id("01HZX-abc").is_ok());
        assert!(check_ticket_id("a--b").is_ok());
        for bad in ["", "  ", "a-->b", "a\nb", &"x".repeat(201)] {
            let err = check_ticket_id(bad).expect_err(bad);
            assert!(!err.is_retryable());
        }
    }

    #[test]
    fn bodies_are_cut_but_keep_the_marker() {
        let marker = MarkerKey::from_bytes(&[3; marker::KEY_BYTES]).marker("t-1");
        assert_eq!(
            marked_body("hello\n", &marker),
            format!("hello\n\n{marker}")
        );
        let long = "é".repeat(MAX_BODY_BYTES);
        let body = marked_body(&long, &marker);
        assert!(body.len() <= MAX_BODY_BYTES);
        assert!(body.ends_with(&marker));
        assert!(body.contains("(cut: longer than GitHub accepts)"));
    }

    #[test]
    fn titles_are_cut_and_never_blank() {
        assert_eq!(issue_title("  ", "t-1"), "Suture ticket t-1");
        let title = issue_title(&"ü".repeat(300), "t-1");
        assert!(title.len() <= MAX_TITLE_BYTES);
        assert!(title.ends_with('…'));
    }

    #[test]
    fn labels_merge_configured_first_without_repeats() {
        let merged = merge_labels(
            &["suture".into(), "bot".into()],
            &["severity:high".into(), "Suture".into(), " ".into()],
        );
        assert_eq!(merged, ["suture", "bot", "severity:high"]);
    }

    #[test]
    fn retryable_errors() {
        assert!(GitHubError::Timeout.is_retryable());
        assert!(
            GitHubError::Http {
                status: 502,
                message: String::new()
            }
            .is_retryable()
        );
        assert!(
            !GitHubError::Http {
                status: 422,
                message: String::new()
            }
            .is_retryable()
        );
        assert!(
            GitHubError::RateLimited {
                retry_after: Duration::from_secs(1),
                message: String::new()
            }
            .is_retryable()
        );
    }
}

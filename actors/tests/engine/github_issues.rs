//! The GitHub client against a stub GitHub (wiremock): what it sends, how
//! it finds its own issues again, and how GitHub's failures come back.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use suture_actors::clients::github::{
    GitHub, GitHubConfig, GitHubError, IssueDraft, IssueRef, MarkerKey, PER_PAGE, SEARCH_PAGES,
};
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const TOKEN: &str = "ghp_s3cretTokenValue";
const ISSUES: &str = "/repos/acme/shop/issues";

fn config(api_url: &str) -> GitHubConfig {
    GitHubConfig {
        repo: "acme/shop".to_string(),
        api_url: api_url.to_string(),
        labels: vec!["suture".to_string(), "bot".to_string()],
        timeout: Duration::from_secs(5),
        ..GitHubConfig::default()
    }
}

/// The installation key of the tests' sidecar (a restart keeps it).
const KEY: [u8; 32] = [7; 32];

fn client(config: &GitHubConfig) -> GitHub {
    let github = GitHub::with_env(config, |name| {
        (name == "GITHUB_TOKEN").then(|| TOKEN.to_string())
    })
    .expect("valid config")
    .expect("a repo is configured");
    github.set_marker_key(MarkerKey::from_bytes(&KEY));
    github
}

/// The tests' sidecar's marker for `ticket_id`.
fn marker(ticket_id: &str) -> String {
    MarkerKey::from_bytes(&KEY).marker(ticket_id)
}

fn draft(ticket_id: &str) -> IssueDraft {
    IssueDraft {
        ticket_id: ticket_id.to_string(),
        title: "TypeError in checkout after deploy 4f2a".to_string(),
        body: "120 events since deploy `4f2a`.".to_string(),
        labels: vec!["severity:high".to_string(), "suture".to_string()],
    }
}

fn listed(number: u64, body: &str, state: &str) -> Value {
    json!({
        "number": number,
        "html_url": format!("https://github.com/acme/shop/issues/{number}"),
        "state": state,
        "title": format!("issue {number}"),
        "body": body,
        "labels": [{ "name": "suture" }],
    })
}

/// A page of `n` labelled issues, none of them Suture's ticket `t-1`.
fn unrelated(first_number: u64, n: u64) -> Vec<Value> {
    (first_number..first_number + n)
        .map(|i| listed(i, &marker(&format!("other-{i}")), "open"))
        .collect()
}

fn next_link(server: &MockServer, page: u32) -> String {
    format!(
        "<{}{ISSUES}?labels=suture&state=all&page={page}>; rel=\"next\"",
        server.uri()
    )
}

async fn posts(server: &MockServer) -> Vec<Request> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.method.as_str() == "POST")
        .collect()
}

/// The GitHub of the restart test: issues created by POST are listed by GET.
#[derive(Clone, Default)]
struct FakeIssues(Arc<Mutex<Vec<Value>>>);

impl Respond for FakeIssues {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut issues = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if request.method.as_str() == "POST" {
            let sent: Value = request.body_json().unwrap_or(Value::Null);
            let number = issues.len() as u64 + 1;
            let issue = listed(number, sent["body"].as_str().unwrap_or(""), "open");
            issues.insert(0, issue.clone());
            ResponseTemplate::new(201).set_body_json(issue)
        } else {
            ResponseTemplate::new(200).set_body_json(Value::Array(issues.clone()))
        }
    }
}

#[tokio::test]
async fn creates_the_issue_with_title_body_marker_labels_and_token() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(ISSUES))
        .and(query_param("labels", "suture"))
        .and(query_param("state", "all"))
        .and(query_param("sort", "created"))
        .and(query_param("direction", "desc"))
        .and(query_param("per_page", PER_PAGE.to_string()))
        .and(query_param("page", "1"))
        .and(header("authorization", format!("Bearer {TOKEN}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(ISSUES))
        .and(header("authorization", format!("Bearer {TOKEN}")))
        .and(body_json(json!({
            "title": "TypeError in checkout after deploy 4f2a",
            "body": format!("120 events since deploy `4f2a`.\n\n{}", marker("t-1")),
            "labels": ["suture", "bot", "severity:high"],
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(listed(7, "", "open")))
        .expect(1)
        .mount(&server)
        .await;

    let issue = client(&config(&server.uri()))
        .ensure_issue(&draft("t-1"))
        .await
        .expect("created");
    assert_eq!(
        issue,
        IssueRef {
            number: 7,
            url: "https://github.com/acme/shop/issues/7".to_string()
        }
    );
}

#[tokio::test]
async fn a_restart_finds_the_issue_by_its_marker_instead_of_opening_another() {
    let server = MockServer::start().await;
    let fake = FakeIssues::default();
    fake.0.lock().expect("fresh lock").extend(unrelated(100, 3));
    Mock::given(path(ISSUES))
        .respond_with(fake.clone())
        .mount(&server)
        .await;

    // Suture opens the issue, then crashes before recording its number.
    let first = client(&config(&server.uri()))
        .ensure_issue(&draft("t-1"))
        .await
        .expect("created");
    // The restarted sidecar (a new client) is asked again for the same ticket.
    let again = client(&config(&server.uri()))
        .ensure_issue(&draft("t-1"))
        .await
        .expect("found");
    assert_eq!(again, first);
    assert_eq!(posts(&server).await.len(), 1, "one issue, not two");
    // Another ticket still gets its own.
    let other = client(&config(&server.uri()))
        .ensure_issue(&draft("t-10"))
        .await
        .expect("created");
    assert_ne!(
        other.number, first.number,
        "t-1's marker does not match t-10"
    );
}

#[tokio::test]
async fn finds_an_existing_issue_and_skips_pull_requests_with_the_marker() {
    let server = MockServer::start().await;
    let mut pull = listed(9, &format!("fix\n{}", marker("t-1")), "open");
    pull["pull_request"] = json!({ "url": "https://api.github.com/repos/acme/shop/pulls/9" });
    let body = format!("text\n\n{}", marker("t-1"));
    Mock::given(method("GET"))
        .and(path(ISSUES))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            pull,
            listed(5, "no marker here", "open"),
            listed(4, &body, "open"),
        ])))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;

    let issue = client(&config(&server.uri()))
        .ensure_issue(&draft("t-1"))
        .await
        .expect("found");
    assert_eq!(issue.number, 4);
    assert_eq!(issue.url, "https://github.com/acme/shop/issues/4");
}

/// `listed`, opened by `login`.
fn listed_by(number: u64, body: &str, login: &str) -> Value {
    let mut issue = listed(number, body, "open");
    issue["user"] = json!({ "login": login });
    issue
}

/// A marker is in a public issue's source: copied into an issue someone
/// else opened, it must not stand for the ticket. Only issues the token's
/// user created count; the user is asked once.
#[tokio::test]
async fn a_marker_copied_into_someone_elses_issue_is_not_taken() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/user"))
        .and(header("authorization", format!("Bearer {TOKEN}")))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"login": "suture-bot", "id": 1})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let copied = format!("looks familiar?\n\n{}", marker("t-1"));
    let own = format!("text\n\n{}", marker("t-2"));
    // The listing is asked for the token's user's issues; this one also
    // answers with the copy, as a server ignoring `creator=` would.
    Mock::given(method("GET"))
        .and(path(ISSUES))
        .and(query_param("creator", "suture-bot"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            listed_by(8, &copied, "mallory"),
            listed_by(6, &own, "Suture-Bot"),
        ])))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(ISSUES))
        .respond_with(ResponseTemplate::new(201).set_body_json(listed(9, "", "open")))
        .expect(1)
        .mount(&server)
        .await;

    let github = client(&config(&server.uri()));
    let t1 = github.ensure_issue(&draft("t-1")).await.expect("created");
    assert_eq!(t1.number, 9, "mallory's copy is not t-1's issue: a new one");
    let t2 = github.ensure_issue(&draft("t-2")).await.expect("found");
    assert_eq!(t2.number, 6, "the token's user's own issue is found");
}

/// A token that may not read `/user` (a GitHub App's installation token
/// gets 403) still finds its issues, by marker alone.
#[tokio::test]
async fn without_the_user_the_marker_alone_finds_the_issue() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/user"))
        .respond_with(
            ResponseTemplate::new(403)
                .set_body_json(json!({"message": "Resource not accessible by integration"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let body = format!("text\n\n{}", marker("t-1"));
    Mock::given(method("GET"))
        .and(path(ISSUES))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!([listed_by(4, &body, "app[bot]")])),
        )
        .expect(2)
        .mount(&server)
        .await;
    let github = client(&config(&server.uri()));
    for _ in 0..2 {
        let issue = github.ensure_issue(&draft("t-1")).await.expect("found");
        assert_eq!(issue.number, 4);
    }
    let listings = server.received_requests().await.unwrap_or_default();
    assert!(
        listings
            .iter()
            .filter(|r| r.url.path() == ISSUES)
            .all(|r| !r.url.query().unwrap_or("").contains("creator")),
        "no creator filter without a user"
    );
}

#[tokio::test]
async fn a_closed_issue_with_the_marker_is_still_found() {
    let server = MockServer::start().await;
    let body = format!("text\n\n{}", marker("t-1"));
    Mock::given(method("GET"))
        .and(path(ISSUES))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([listed(3, &body, "closed")])))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;

    let issue = client(&config(&server.uri()))
        .ensure_issue(&draft("t-1"))
        .await
        .expect("found");
    assert_eq!(issue.number, 3);
}

#[tokio::test]
async fn follows_the_pages_to_a_marker_on_page_two() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(ISSUES))
        .and(query_param("page", "1"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("link", next_link(&server, 2).as_str())
                .set_body_json(unrelated(200, u64::from(PER_PAGE))),
        )
        .expect(1)
        .mount(&server)
        .await;
    let body = format!("text\n\n{}", marker("t-1"));
    Mock::given(method("GET"))
        .and(path(ISSUES))
        .and(query_param("page", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([listed(12, &body, "open")])))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;

    let issue = client(&config(&server.uri()))
        .ensure_issue(&draft("t-1"))
        .await
        .expect("found");
    assert_eq!(issue.number, 12);
}

#[tokio::test]
async fn the_search_stops_after_the_page_bound_and_creates() {
    let server = MockServer::start().await;
    // Every page says another follows; none holds the marker.
    for page in 1..=SEARCH_PAGES + 1 {
        Mock::given(method("GET"))
            .and(path(ISSUES))
            .and(query_param("page", page.to_string()))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("link", next_link(&server, page + 1).as_str())
                    .set_body_json(unrelated(u64::from(page) * 1000, 3)),
            )
            .expect(u64::from(page <= SEARCH_PAGES))
            .mount(&server)
            .await;
    }
    Mock::given(method("POST"))
        .and(path(ISSUES))
        .respond_with(ResponseTemplate::new(201).set_body_json(listed(77, "", "open")))
        .expect(1)
        .mount(&server)
        .await;

    let issue = client(&config(&server.uri()))
        .ensure_issue(&draft("t-1"))
        .await
        .expect("created");
    assert_eq!(issue.number, 77);
}

#[tokio::test]
async fn github_enterprise_api_url_with_a_path_prefix() {
    let server = MockServer::start().await;
    let body = format!("text\n\n{}", marker("t-1"));
    Mock::given(method("GET"))
        .and(path(format!("/api/v3{ISSUES}")))
        .and(header("authorization", format!("Bearer {TOKEN}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([listed(2, &body, "open")])))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/api/v3{ISSUES}/2/comments")))
        .and(header("authorization", format!("Bearer {TOKEN}")))
        .and(body_json(
            json!({ "body": "recurred: +120 events after deploy 9c1d" }),
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({ "id": 1 })))
        .expect(1)
        .mount(&server)
        .await;

    // Written the way the docs suggest, trailing slash and all.
    let github = client(&config(&format!("{}/api/v3/", server.uri())));
    assert_eq!(github.api_url(), format!("{}/api/v3", server.uri()));
    let issue = github.ensure_issue(&draft("t-1")).await.expect("found");
    assert_eq!(issue.number, 2);
    github
        .comment(issue.number, "recurred: +120 events after deploy 9c1d")
        .await
        .expect("commented");
}

#[tokio::test]
async fn comments_go_to_the_issue() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("{ISSUES}/7/comments")))
        .and(body_json(
            json!({ "body": "recurred: +120 events after deploy X" }),
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({ "id": 99 })))
        .expect(1)
        .mount(&server)
        .await;
    let github = client(&config(&server.uri()));
    github
        .comment(7, "recurred: +120 events after deploy X")
        .await
        .expect("commented");
    let empty = github.comment(7, "  ").await.expect_err("empty comment");
    assert!(matches!(empty, GitHubError::Invalid { .. }));
    assert!(!empty.is_retryable());
}

#[tokio::test]
async fn unauthorized_says_which_variable_holds_the_token_and_never_shows_it() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "message": "Bad credentials",
            "documentation_url": "https://docs.github.com/rest",
        })))
        .mount(&server)
        .await;
    let error = client(&config(&server.uri()))
        .ensure_issue(&draft("t-1"))
        .await
        .expect_err("401");
    assert!(
        matches!(error, GitHubError::Unauthorized { status: 401, .. }),
        "{error:?}"
    );
    assert!(!error.is_retryable());
    let text = error.to_string();
    assert!(text.contains("Bad credentials"), "{text}");
    assert!(text.contains("GITHUB_TOKEN"), "{text}");
    assert!(!text.contains(TOKEN), "{text}");
    assert!(posts(&server).await.is_empty());
}

#[tokio::test]
async fn forbidden_hints_at_the_scopes_the_token_needs() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "message": "Resource not accessible by personal access token",
        })))
        .mount(&server)
        .await;
    let error = client(&config(&server.uri()))
        .ensure_issue(&draft("t-1"))
        .await
        .expect_err("403");
    assert!(
        matches!(error, GitHubError::Unauthorized { status: 403, .. }),
        "{error:?}"
    );
    let text = error.to_string();
    assert!(text.contains("Issues: read and write"), "{text}");
    assert!(text.contains("acme/shop"), "{text}");
}

#[tokio::test]
async fn a_server_error_is_an_http_error_worth_retrying() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(500).set_body_string("upstream broke"))
        .mount(&server)
        .await;
    let error = client(&config(&server.uri()))
        .ensure_issue(&draft("t-1"))
        .await
        .expect_err("500");
    assert!(
        matches!(&error, GitHubError::Http { status: 500, message } if message.contains("upstream broke")),
        "{error:?}"
    );
    assert!(error.is_retryable());
}

#[tokio::test]
async fn a_missing_repository_is_not_retried_and_says_what_to_check() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({ "message": "Not Found" })))
        .mount(&server)
        .await;
    let error = client(&config(&server.uri()))
        .ensure_issue(&draft("t-1"))
        .await
        .expect_err("404");
    assert!(
        matches!(error, GitHubError::Http { status: 404, .. }),
        "{error:?}"
    );
    assert!(!error.is_retryable());
    assert!(
        error.to_string().contains("github.repo `acme/shop`"),
        "{error}"
    );
}

#[tokio::test]
async fn rate_limits_say_how_long_to_wait() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "30")
                .set_body_json(json!({ "message": "API rate limit exceeded" })),
        )
        .mount(&server)
        .await;
    let error = client(&config(&server.uri()))
        .ensure_issue(&draft("t-1"))
        .await
        .expect_err("429");
    assert!(
        matches!(error, GitHubError::RateLimited { retry_after, .. } if retry_after == Duration::from_secs(30)),
        "{error:?}"
    );
    assert!(error.is_retryable());

    // The primary limit: 403 with the remaining count at 0 and a reset time.
    let server = MockServer::start().await;
    let reset = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
        + 120;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(403)
                .insert_header("x-ratelimit-remaining", "0")
                .insert_header("x-ratelimit-reset", reset.to_string().as_str())
                .set_body_json(json!({ "message": "API rate limit exceeded for user ID 1." })),
        )
        .mount(&server)
        .await;
    let error = client(&config(&server.uri()))
        .ensure_issue(&draft("t-1"))
        .await
        .expect_err("403 rate limit");
    let GitHubError::RateLimited { retry_after, .. } = error else {
        panic!("not a rate limit: {error:?}");
    };
    assert!(
        retry_after > Duration::from_secs(100) && retry_after <= Duration::from_secs(120),
        "{retry_after:?}"
    );
}

#[tokio::test]
async fn failures_open_the_breaker_and_a_rate_limit_holds_it_for_retry_after() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(502).set_body_string("bad gateway"))
        .mount(&server)
        .await;
    let github = client(&GitHubConfig {
        breaker_failures: 2,
        breaker_cooldown: Duration::from_secs(300),
        ..config(&server.uri())
    });
    for _ in 0..2 {
        let error = github.ensure_issue(&draft("t-1")).await.expect_err("502");
        assert!(
            matches!(error, GitHubError::Http { status: 502, .. }),
            "{error:?}"
        );
    }
    let sent = server.received_requests().await.unwrap_or_default().len();
    let error = github.comment(3, "recurred").await.expect_err("open");
    assert!(
        matches!(error, GitHubError::BreakerOpen { .. }),
        "{error:?}"
    );
    assert!(error.is_retryable());
    assert_eq!(
        server.received_requests().await.unwrap_or_default().len(),
        sent,
        "an open breaker sends nothing"
    );

    // A client error says nothing about GitHub's health.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({ "message": "Not Found" })))
        .mount(&server)
        .await;
    let github = client(&GitHubConfig {
        breaker_failures: 1,
        ..config(&server.uri())
    });
    for _ in 0..2 {
        let error = github.ensure_issue(&draft("t-1")).await.expect_err("404");
        assert!(
            matches!(error, GitHubError::Http { status: 404, .. }),
            "{error:?}"
        );
    }

    // GitHub's retry-after is obeyed by every later write.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "90")
                .set_body_json(json!({ "message": "secondary rate limit" })),
        )
        .mount(&server)
        .await;
    let github = client(&config(&server.uri()));
    let error = github.ensure_issue(&draft("t-1")).await.expect_err("429");
    assert!(
        matches!(error, GitHubError::RateLimited { .. }),
        "{error:?}"
    );
    match github.ensure_issue(&draft("t-2")).await {
        Err(GitHubError::BreakerOpen { retry_in }) => {
            assert!(retry_in > Duration::from_secs(80), "{retry_in:?}");
        }
        other => panic!("not held for retry-after: {other:?}"),
    }
}

#[tokio::test]
async fn a_hung_github_times_out_after_the_configured_timeout() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!([]))
                .set_delay(Duration::from_secs(30)),
        )
        .mount(&server)
        .await;
    let mut config = config(&server.uri());
    config.timeout = Duration::from_millis(500);
    let started = Instant::now();
    let error = client(&config)
        .ensure_issue(&draft("t-1"))
        .await
        .expect_err("timeout");
    let took = started.elapsed();
    assert!(matches!(error, GitHubError::Timeout), "{error:?}");
    assert!(error.is_retryable());
    // At least the timeout; far below the server's 30 s, with room for a
    // loaded machine.
    assert!(
        took >= Duration::from_millis(450) && took < Duration::from_secs(15),
        "{took:?}"
    );
}

#[tokio::test]
async fn an_unreachable_github_is_a_connection_error_worth_retrying() {
    // A port nobody listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let error = client(&config(&format!("http://127.0.0.1:{port}")))
        .ensure_issue(&draft("t-1"))
        .await
        .expect_err("refused");
    assert!(matches!(error, GitHubError::Connection { .. }), "{error:?}");
    assert!(error.is_retryable());
}

#[test]
fn configuration_errors_name_the_key() {
    let with_token = |name: &str| (name == "GITHUB_TOKEN").then(|| TOKEN.to_string());
    let mut bad_repo = config("https://api.github.com");
    bad_repo.repo = "acme".to_string();
    let error = GitHub::with_env(&bad_repo, with_token).expect_err("bad repo");
    assert!(
        error
            .to_string()
            .starts_with("invalid configuration: key `github.repo`:"),
        "{error}"
    );

    let error =
        GitHub::with_env(&config("https://api.github.com"), |_| None).expect_err("no token");
    assert_eq!(error.key, "token_env");
    assert!(
        error.to_string().contains("GITHUB_TOKEN is not set"),
        "{error}"
    );
    let error = GitHub::with_env(&config("https://api.github.com"), |_| Some(" ".into()))
        .expect_err("empty token");
    assert_eq!(error.key, "token_env");

    let mut no_labels = config("https://api.github.com");
    no_labels.labels.clear();
    let error = GitHub::with_env(&no_labels, with_token).expect_err("no labels");
    assert!(
        error
            .to_string()
            .starts_with("invalid configuration: key `github.labels`:"),
        "{error}"
    );

    let mut bad_url = config("api.github.com");
    bad_url.api_url = "api.github.com".to_string();
    let error = GitHub::with_env(&bad_url, with_token).expect_err("no scheme");
    assert_eq!(error.key, "api_url");

    let unconfigured = GitHubConfig::default();
    assert!(
        GitHub::with_env(&unconfigured, |_| None)
            .expect("no repo is fine")
            .is_none()
    );
}

#[test]
fn debug_never_prints_the_token() {
    let github = client(&config("https://api.github.com"));
    let printed = format!("{github:?} {github:#?}");
    assert!(!printed.contains(TOKEN), "{printed}");
    assert!(printed.contains("acme/shop"), "{printed}");
    assert!(printed.contains("GITHUB_TOKEN"), "{printed}");
}

/// Exception text ends up in issue bodies: a marker quoted in it, or one
/// without the installation's tag, or another installation's, must not be
/// taken for the ticket's issue.
#[tokio::test]
async fn forged_and_foreign_markers_are_not_found() {
    let server = MockServer::start().await;
    let quoted = format!("KeyError: '{}'", marker("t-1"));
    let untagged = "text\n\n<!-- suture-ticket: t-1 -->".to_string();
    let foreign = format!("text\n\n{}", MarkerKey::from_bytes(&[9; 32]).marker("t-1"));
    Mock::given(method("GET"))
        .and(path(ISSUES))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            listed(3, &quoted, "open"),
            listed(2, &untagged, "open"),
            listed(1, &foreign, "open"),
        ])))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(ISSUES))
        .respond_with(ResponseTemplate::new(201).set_body_json(listed(4, "", "open")))
        .expect(1)
        .mount(&server)
        .await;
    let issue = client(&config(&server.uri()))
        .ensure_issue(&draft("t-1"))
        .await
        .expect("created");
    assert_eq!(issue.number, 4, "a new issue, none of the forged ones");
}

//! A GitHub stand-in (wiremock) that opens one pull request: no pull
//! request for the branch yet, then the new one, and its labels. Shared by
//! the engine's coder tests and the shell's dashboard test (by `#[path]`).

use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A stand-in for `repo` (`owner/name`) that answers pull request
/// `number` at `url`.
pub async fn pull_request_stand_in(repo: &str, number: u64, url: &str) -> MockServer {
    let server = MockServer::start().await;
    let pulls = format!("/repos/{repo}/pulls");
    Mock::given(method("GET"))
        .and(path(pulls.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(pulls.as_str()))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(json!({"number": number, "html_url": url})),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(
            format!("/repos/{repo}/issues/{number}/labels").as_str(),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&server)
        .await;
    server
}

/// The bodies of the pull requests `server` was asked to open for `repo`.
pub async fn pull_requests_asked(server: &MockServer, repo: &str) -> Vec<serde_json::Value> {
    let pulls = format!("/repos/{repo}/pulls");
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.method.as_str() == "POST" && r.url.path() == pulls)
        .map(|r| serde_json::from_slice(&r.body).unwrap_or(serde_json::Value::Null))
        .collect()
}

//! A minimal HTTP client for the CLI commands that talk to a running sidecar.

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// Sends a request and returns the JSON reply; non-2xx replies are errors
/// carrying the server's message.
pub async fn request(method: &str, url: &str, body: Option<&Value>) -> anyhow::Result<Value> {
    request_within(method, url, body, std::time::Duration::from_secs(10)).await
}

/// [`request`] with its own deadline (an approval pushes and opens a pull
/// request, which takes longer than a read).
pub async fn request_within(
    method: &str,
    url: &str,
    body: Option<&Value>,
    deadline: std::time::Duration,
) -> anyhow::Result<Value> {
    if url.starts_with("https://") {
        bail!("{url}: the CLI speaks plain HTTP to a local sidecar; use http://");
    }
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let payload = body.map(|b| b.to_string()).unwrap_or_default();
    let mut builder = hyper::Request::builder();
    // The admin token, from the variable the sidecar's default
    // `admin.token_env` names; never on the command line.
    if let Some(token) = std::env::var("SUTURE_ADMIN_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty())
    {
        builder = builder.header("authorization", format!("Bearer {}", token.trim()));
    }
    let request = builder
        .method(method)
        .uri(url)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(payload)))
        .with_context(|| format!("invalid URL {url}"))?;
    let response = tokio::time::timeout(deadline, client.request(request))
        .await
        .with_context(|| format!("{url}: no answer within {}s", deadline.as_secs()))?
        .with_context(|| format!("cannot reach {url} (is `suture serve` running?)"))?;
    let status = response.status();
    let bytes = response.into_body().collect().await?.to_bytes();
    let value: Value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    if !status.is_success() {
        let message = value
            .get("error")
            .and_then(Value::as_str)
            .map_or_else(|| value.to_string(), str::to_string);
        bail!("{url}: {status}: {message}");
    }
    Ok(value)
}

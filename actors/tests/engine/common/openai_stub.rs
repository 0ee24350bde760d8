//! An OpenAI-compatible stub server for the LLM tests: `POST
//! /v1/chat/completions` on a loopback ephemeral port, answering from a
//! script and recording every request (body and `Authorization` header), so
//! tests go through async-openai's real client and real HTTP.
#![allow(dead_code)] // each test binary uses its own part of the stub

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

/// One scripted reply.
#[derive(Clone)]
pub enum Reply {
    /// A completion whose message is `content`, with this `usage`.
    Answer {
        content: String,
        prompt_tokens: u32,
        completion_tokens: u32,
    },
    /// A completion without `usage` (as some local servers send).
    AnswerWithoutUsage(String),
    /// An HTTP error status with a plain-text body.
    Status(u16),
    /// Waits, then answers `content`.
    Slow(Duration, String),
    /// Answers what the function makes of the request's system and user
    /// messages (a stand-in model that reads the prompt).
    Respond(Responder),
    /// Function calls (name, JSON arguments), with no text: the coding
    /// agent's tools.
    ToolCalls(Vec<(String, String)>),
    /// Never answers in time (the caller's timeout fires first).
    Hang,
    /// HTTP 200 with exactly this body as JSON's content type: garbage
    /// (not JSON, or JSON that is not a completion).
    Raw(String),
}

/// A scripted model: (system, user) → answer.
pub type Responder = Arc<dyn Fn(&str, &str) -> String + Send + Sync>;

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reply::Answer { content, .. } => write!(f, "Answer({content:?})"),
            Reply::AnswerWithoutUsage(c) => write!(f, "AnswerWithoutUsage({c:?})"),
            Reply::Status(code) => write!(f, "Status({code})"),
            Reply::Slow(d, c) => write!(f, "Slow({d:?}, {c:?})"),
            Reply::Respond(_) => f.write_str("Respond(..)"),
            Reply::ToolCalls(calls) => write!(f, "ToolCalls({calls:?})"),
            Reply::Hang => f.write_str("Hang"),
            Reply::Raw(body) => write!(f, "Raw({body:?})"),
        }
    }
}

impl Reply {
    /// A completion of `content` costing 100 prompt and 20 completion tokens.
    pub fn answer(content: &str) -> Self {
        Reply::Answer {
            content: content.to_string(),
            prompt_tokens: 100,
            completion_tokens: 20,
        }
    }
}

/// A recorded request.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub body: String,
    pub authorization: Option<String>,
}

#[derive(Default)]
struct State {
    script: Mutex<VecDeque<Reply>>,
    /// What every request gets once the script is spent (`None`: a 500).
    otherwise: Mutex<Option<Reply>>,
    recorded: Mutex<Vec<Recorded>>,
}

pub struct Stub {
    /// What `llm.base_url` should be: `http://127.0.0.1:PORT/v1`.
    pub base_url: String,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl Stub {
    pub async fn start(script: Vec<Reply>) -> Self {
        Self::start_on("127.0.0.1:0", script).await
    }

    /// [`Stub::start`] on a given address (a port that refused connections
    /// until now: the LLM coming back).
    pub async fn start_on(addr: &str, script: Vec<Reply>) -> Self {
        let state = Arc::new(State::default());
        state.script.lock().expect("lock").extend(script);
        let app = Router::new()
            .route("/v1/chat/completions", post(completions))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            base_url: format!("http://{addr}/v1"),
            state,
            task,
        }
    }

    /// Adds replies to the end of the script.
    pub fn push(&self, replies: impl IntoIterator<Item = Reply>) {
        self.state.script.lock().expect("lock").extend(replies);
    }

    /// What every request gets once the script is spent: a model that
    /// stays broken (or works again) for as long as a test needs.
    pub fn otherwise(&self, reply: Reply) {
        *self.state.otherwise.lock().expect("lock") = Some(reply);
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.recorded.lock().expect("lock").clone()
    }
}

impl Drop for Stub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn completions(
    axum::extract::State(state): axum::extract::State<Arc<State>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let messages: Vec<String> = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["messages"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .map(|m| m["content"].as_str().unwrap_or_default().to_string())
        .collect();
    state.recorded.lock().expect("lock").push(Recorded {
        body,
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    });
    let scripted = state.script.lock().expect("lock").pop_front();
    let reply = scripted.or_else(|| state.otherwise.lock().expect("lock").clone());
    match reply {
        None => (StatusCode::INTERNAL_SERVER_ERROR, "script exhausted").into_response(),
        // 5xx as plain text (OpenAI does not promise JSON there), 4xx as
        // OpenAI's error object.
        Some(Reply::Status(code)) if code >= 500 => (
            StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            "scripted failure",
        )
            .into_response(),
        Some(Reply::Status(code)) => (
            StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST),
            axum::Json(serde_json::json!({
                "error": {"message": "scripted failure", "type": "invalid_request_error", "param": null, "code": null}
            })),
        )
            .into_response(),
        Some(Reply::Answer {
            content,
            prompt_tokens,
            completion_tokens,
        }) => completion(&content, Some((prompt_tokens, completion_tokens))),
        Some(Reply::AnswerWithoutUsage(content)) => completion(&content, None),
        Some(Reply::Respond(model)) => {
            let system = messages.first().map(String::as_str).unwrap_or_default();
            let user = messages.get(1).map(String::as_str).unwrap_or_default();
            completion(&model(system, user), Some((200, 50)))
        }
        Some(Reply::ToolCalls(calls)) => tool_calls(&calls),
        Some(Reply::Hang) => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            completion("too late", None)
        }
        Some(Reply::Raw(body)) => (
            StatusCode::OK,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response(),
        Some(Reply::Slow(delay, content)) => {
            tokio::time::sleep(delay).await;
            completion(&content, Some((10, 10)))
        }
    }
}

/// A completion that calls functions, as OpenAI sends it.
fn tool_calls(calls: &[(String, String)]) -> Response {
    let calls: Vec<serde_json::Value> = calls
        .iter()
        .enumerate()
        .map(|(n, (name, arguments))| {
            serde_json::json!({
                "id": format!("call_{n}"),
                "type": "function",
                "function": {"name": name, "arguments": arguments}
            })
        })
        .collect();
    axum::Json(serde_json::json!({
        "id": "chatcmpl-stub",
        "object": "chat.completion",
        "created": 1_767_600_000,
        "model": "stub-model",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": null, "tool_calls": calls},
            "finish_reason": "tool_calls"
        }],
        "usage": {"prompt_tokens": 300, "completion_tokens": 20, "total_tokens": 320}
    }))
    .into_response()
}

fn completion(content: &str, usage: Option<(u32, u32)>) -> Response {
    let mut body = serde_json::json!({
        "id": "chatcmpl-stub",
        "object": "chat.completion",
        "created": 1_767_600_000,
        "model": "stub-model",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content},
            "finish_reason": "stop"
        }]
    });
    if let Some((p, c)) = usage {
        body["usage"] = serde_json::json!({
            "prompt_tokens": p,
            "completion_tokens": c,
            "total_tokens": p + c
        });
    }
    axum::Json(body).into_response()
}

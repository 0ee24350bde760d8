//! The LLM client through async-openai's real HTTP client against an
//! OpenAI-compatible stub: retries, timeouts, the breaker, budgets, and
//! that no planted secret ever reaches the endpoint.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use crate::common::openai_stub::{Reply, Stub};
use suture_actors::clients::llm::Clock;
use suture_actors::clients::llm::{LlmClient, LlmConfig, LlmError, Refused};
use suture_actors::domain::llm::breaker::BreakerState;
use suture_actors::domain::llm::budget::{OverBudget, Unit, Window};
use suture_actors::domain::llm::parse::{ParseError, parse_analyzer};
use suture_actors::domain::llm::prompt::{
    Boundary, ExceptionView, PromptKind, RenderedPrompt, Template, render_analyzer,
};
use suture_actors::domain::scrub::Scrubber;

const VALID: &str = r#"{"groups": [{"root_cause": "user is undefined before login", "severity": "high", "affected_exceptions": [0], "suggested_fix": "guard user", "files_likely_involved": ["src/cart.js"]}]}"#;

fn config(stub: &Stub) -> LlmConfig {
    LlmConfig {
        base_url: stub.base_url.clone(),
        model: "stub-model".into(),
        timeout: Duration::from_secs(5),
        max_retries: 2,
        retry_backoff: Duration::from_millis(10),
        max_output_tokens: 100,
        breaker_failures: 3,
        breaker_cooldown: Duration::from_millis(300),
        ..LlmConfig::default()
    }
}

fn client(config: &LlmConfig) -> LlmClient {
    LlmClient::with_env(config, Arc::new(Scrubber::builtin()), |_| None).expect("valid config")
}

fn prompt() -> RenderedPrompt {
    RenderedPrompt {
        system: "Group these.".into(),
        user: "Exception 0: TypeError".into(),
    }
}

fn analyzer(text: &str) -> Result<suture_actors::domain::llm::parse::AnalyzerAnswer, ParseError> {
    parse_analyzer(text, 1)
}

#[tokio::test]
async fn a_valid_answer_in_a_code_fence_is_accepted_and_counted() {
    let stub = Stub::start(vec![Reply::answer(&format!(
        "Sure:\n```json\n{VALID}\n```"
    ))])
    .await;
    let llm = client(&config(&stub));
    let answer = llm.ask(&prompt(), analyzer).await.expect("answer");
    assert_eq!(answer.value.groups.len(), 1);
    assert_eq!(answer.attempts, 1);
    assert_eq!(answer.usage.total(), 120);
    let status = llm.status();
    assert_eq!((status.calls, status.tokens), (1, 120));
    assert_eq!(status.budget.expect("budget").hour_spent, 120);
    let body: serde_json::Value =
        serde_json::from_str(&stub.requests()[0].body).expect("JSON request");
    assert_eq!(body["model"], "stub-model");
    assert_eq!(body["messages"][0]["role"], "system");
    assert_eq!(body["max_tokens"], 100);
}

#[tokio::test]
async fn server_errors_are_retried_then_succeed() {
    let stub = Stub::start(vec![
        Reply::Status(500),
        Reply::Status(503),
        Reply::answer(VALID),
    ])
    .await;
    let llm = client(&config(&stub));
    let answer = llm
        .ask(&prompt(), analyzer)
        .await
        .expect("third attempt answers");
    assert_eq!(answer.attempts, 3);
    assert_eq!(stub.requests().len(), 3);
    assert_eq!(llm.status().breaker, BreakerState::Closed);
}

#[tokio::test]
async fn retries_stop_at_max_and_client_errors_are_not_retried() {
    let stub = Stub::start(vec![
        Reply::Status(500),
        Reply::Status(500),
        Reply::Status(500),
        Reply::Status(400),
    ])
    .await;
    let llm = client(&config(&stub));
    match llm.ask(&prompt(), analyzer).await {
        Err(LlmError::Http {
            status: 500,
            attempts: 3,
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
    match llm.ask(&prompt(), analyzer).await {
        Err(LlmError::Http {
            status: 400,
            attempts: 1,
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(stub.requests().len(), 4);
}

#[tokio::test]
async fn a_slow_server_times_out_per_attempt() {
    // Far slower than any stall of a loaded machine, so the time taken
    // tells a timeout per attempt from a wait for the answer.
    let slow = Reply::Slow(Duration::from_secs(30), VALID.into());
    let stub = Stub::start(vec![slow.clone(), slow]).await;
    let llm = client(&LlmConfig {
        timeout: Duration::from_millis(200),
        max_retries: 1,
        ..config(&stub)
    });
    let started = Instant::now();
    match llm.ask(&prompt(), analyzer).await {
        Err(LlmError::Timeout { attempts: 2 }) => {}
        other => panic!("{other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_slow_answer_within_the_timeout_is_fine() {
    let stub = Stub::start(vec![Reply::Slow(Duration::from_millis(100), VALID.into())]).await;
    let llm = client(&config(&stub));
    assert!(llm.ask(&prompt(), analyzer).await.is_ok());
}

#[tokio::test]
async fn the_breaker_opens_after_failures_and_recovers_after_the_cooldown() {
    let stub = Stub::start(vec![
        Reply::Status(500),
        Reply::Status(500),
        Reply::Status(500),
    ])
    .await;
    // The breaker reads the wall clock: a cool-down long enough that a
    // loaded machine cannot outlast it between the failure and the refusal.
    let llm = client(&LlmConfig {
        max_retries: 0,
        breaker_cooldown: Duration::from_secs(2),
        ..config(&stub)
    });
    for _ in 0..3 {
        assert!(matches!(
            llm.ask(&prompt(), analyzer).await,
            Err(LlmError::Http { .. })
        ));
    }
    assert_eq!(llm.status().breaker, BreakerState::Open);
    let retry_in = match llm.ask(&prompt(), analyzer).await {
        Err(LlmError::Refused(Refused::BreakerOpen { retry_in })) => retry_in,
        other => panic!("{other:?}"),
    };
    assert_eq!(stub.requests().len(), 3, "an open breaker sends nothing");
    assert!(retry_in <= Duration::from_secs(2), "{retry_in:?}");

    // Once the time the refusal named has passed, a probe is let through.
    tokio::time::sleep(retry_in).await;
    stub.push([Reply::answer(VALID)]);
    llm.ask(&prompt(), analyzer)
        .await
        .expect("the probe goes through");
    assert_eq!(llm.status().breaker, BreakerState::Closed);
    assert_eq!(llm.status().consecutive_failures, 0);
}

#[tokio::test]
async fn invalid_answers_count_as_failures_and_open_the_breaker() {
    let stub = Stub::start(vec![
        Reply::answer("I am not sure what you mean."),
        Reply::answer("{\"groups\": [{\"root_cause\": \"x\", \"severity\": \"urgent\", \"affected_exceptions\": [0], \"suggested_fix\": \"\"}]}"),
        Reply::answer("```json\n{\"groups\": [{\"root_cause\": \"x\", \"severity\": \"low\", \"affected_exceptions\": [7], \"suggested_fix\": \"\"}]}\n```"),
    ])
    .await;
    let llm = client(&config(&stub));
    match llm.ask(&prompt(), analyzer).await {
        Err(LlmError::Invalid {
            error: ParseError::NoJson,
            raw,
            usage,
        }) => {
            assert_eq!(raw, "I am not sure what you mean.");
            assert_eq!(usage.total(), 120, "an invalid answer still cost tokens");
        }
        other => panic!("{other:?}"),
    }
    for _ in 0..2 {
        assert!(matches!(
            llm.ask(&prompt(), analyzer).await,
            Err(LlmError::Invalid { .. })
        ));
    }
    assert_eq!(llm.status().breaker, BreakerState::Open);
    assert_eq!(llm.status().tokens, 360);
}

#[tokio::test]
async fn budgets_refuse_and_reset_with_the_window() {
    let stub = Stub::start(vec![]).await;
    let now = Arc::new(AtomicI64::new(1_767_600_000_000));
    let clock_now = now.clone();
    let clock: Clock = Arc::new(move || clock_now.load(Ordering::SeqCst));
    let llm = client(&LlmConfig {
        hourly_token_budget: 1000,
        daily_token_budget: 1500,
        ..config(&stub)
    })
    .with_clock(clock);
    let costly = |tokens| Reply::Answer {
        content: VALID.into(),
        prompt_tokens: tokens,
        completion_tokens: 0,
    };
    stub.push([costly(950)]);
    llm.ask(&prompt(), analyzer).await.expect("within budget");
    match llm.ask(&prompt(), analyzer).await {
        Err(LlmError::Refused(Refused::OverBudget(OverBudget {
            window: Window::Hourly,
            unit: Unit::Tokens,
            spent: 950,
            limit: 1000,
        }))) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(stub.requests().len(), 1, "a refused call sends nothing");

    now.fetch_add(3_600_000, Ordering::SeqCst);
    stub.push([costly(450)]);
    llm.ask(&prompt(), analyzer).await.expect("a new hour");
    match llm.ask(&prompt(), analyzer).await {
        Err(LlmError::Refused(Refused::OverBudget(OverBudget {
            window: Window::Daily,
            spent: 1400,
            ..
        }))) => {}
        other => panic!("{other:?}"),
    }

    now.fetch_add(86_400_000, Ordering::SeqCst);
    stub.push([Reply::AnswerWithoutUsage(VALID.into())]);
    let answer = llm.ask(&prompt(), analyzer).await.expect("a new day");
    assert!(
        answer.usage.estimated && answer.usage.total() > 0,
        "{:?}",
        answer.usage
    );
}

#[tokio::test]
async fn planted_secrets_never_reach_the_endpoint() {
    let stub = Stub::start(vec![Reply::answer(VALID), Reply::answer(VALID)]).await;
    let llm = client(&config(&stub));
    let secrets = [
        "sk-proj-4fGh7JkL9mNpQrStUvWx2yZa",
        "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789",
        "AKIAIOSFODNN7EXAMPLE",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dozjgNryP4J3jVmNHl0w5N",
        "Sup3rS3cretPw",
        "jane.doe@example.com",
        "4111 1111 1111 1111",
        "10.20.30.40",
        "MIIEpAIBAAKCAQEA7bq",
        "hunter2hunter",
    ];
    let view = ExceptionView {
        signature: "9f1c0d2e3a4b5c6d".into(),
        gate: "new: 42 events".into(),
        exception_type: "ConnectionError".into(),
        message: format!(
            "connect postgres://app:{}@{}:5432 failed for {} with key {} card {}",
            secrets[4], secrets[7], secrets[5], secrets[0], secrets[6]
        ),
        stack: format!(
            "  at Db.connect (src/db.js:10:5)\n  token={}\n  Authorization: Bearer {}",
            secrets[1], secrets[3]
        ),
        breadcrumbs: format!(
            "aws {}\n-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n{{\"password\": \"{}\"}}",
            secrets[2], secrets[8], secrets[9]
        ),
    };
    let template =
        Template::load(PromptKind::Analyzer, std::path::Path::new("")).expect("built-in");
    let rendered = render_analyzer(
        &template,
        &Scrubber::builtin(),
        Boundary::random(),
        std::slice::from_ref(&view),
    )
    .expect("renders");
    llm.ask(&rendered, analyzer).await.expect("answer");

    // A caller that skips the renderer is scrubbed by the client too.
    let raw = RenderedPrompt {
        system: "system".into(),
        user: format!("{}\n{}\n{}", view.message, view.stack, view.breadcrumbs),
    };
    llm.ask(&raw, analyzer).await.expect("answer");

    let requests = stub.requests();
    assert_eq!(requests.len(), 2);
    for request in requests {
        for secret in secrets {
            assert!(
                !request.body.contains(secret),
                "{secret} reached the endpoint"
            );
        }
        assert!(
            request.body.contains("[REDACTED:"),
            "placeholders were sent instead"
        );
    }
}

#[tokio::test]
async fn the_api_key_comes_from_the_named_variable() {
    let stub = Stub::start(vec![Reply::answer(VALID), Reply::answer(VALID)]).await;
    let keyed = LlmConfig {
        api_key_env: "SUTURE_TEST_LLM_KEY".into(),
        ..config(&stub)
    };
    let env = |name: &str| (name == "SUTURE_TEST_LLM_KEY").then(|| "test-key-123".to_string());
    let llm = LlmClient::with_env(&keyed, Arc::new(Scrubber::builtin()), env).expect("valid");
    llm.ask(&prompt(), analyzer).await.expect("answer");
    assert_eq!(
        stub.requests()[0].authorization.as_deref(),
        Some("Bearer test-key-123")
    );

    // No variable named: no key, and OPENAI_API_KEY is never picked up.
    let llm = client(&config(&stub));
    llm.ask(&prompt(), analyzer).await.expect("answer");
    let auth = stub.requests()[1].authorization.clone().unwrap_or_default();
    assert_eq!(auth.trim(), "Bearer");
}

#[tokio::test]
async fn bad_llm_config_names_the_key() {
    let scrubber = Arc::new(Scrubber::builtin());
    let base = LlmConfig {
        base_url: "http://127.0.0.1:9/v1".into(),
        model: "m".into(),
        ..LlmConfig::default()
    };
    let unset = LlmConfig {
        api_key_env: "SUTURE_TEST_UNSET".into(),
        ..base.clone()
    };
    let error = LlmClient::with_env(&unset, scrubber.clone(), |_| None)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("llm.api_key_env") && error.contains("SUTURE_TEST_UNSET"),
        "{error}"
    );
    let no_model = LlmConfig {
        model: String::new(),
        ..base.clone()
    };
    let error = LlmClient::with_env(&no_model, scrubber.clone(), |_| None)
        .unwrap_err()
        .to_string();
    assert!(error.contains("llm.model"), "{error}");
    let bad_url = LlmConfig {
        base_url: "localhost:8080".into(),
        ..base.clone()
    };
    let error = LlmClient::with_env(&bad_url, scrubber.clone(), |_| None)
        .unwrap_err()
        .to_string();
    assert!(error.contains("llm.base_url"), "{error}");
    let bad_key = LlmConfig {
        api_key_env: "K".into(),
        ..base
    };
    let error = LlmClient::with_env(&bad_key, scrubber, |_| Some("a b\n".into()))
        .unwrap_err()
        .to_string();
    assert!(error.contains("llm.api_key_env"), "{error}");
}

#[tokio::test]
async fn without_llm_config_every_call_is_refused_as_not_configured() {
    let llm = LlmClient::with_env(&LlmConfig::default(), Arc::new(Scrubber::builtin()), |_| {
        None
    })
    .expect("empty config is valid");
    assert!(!llm.is_configured());
    assert_eq!(
        llm.ask(&prompt(), analyzer).await.unwrap_err(),
        LlmError::Refused(Refused::NotConfigured)
    );
    assert!(!llm.status().configured);
}

#[tokio::test]
async fn connection_refused_is_retried_then_reported() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let llm = client(&LlmConfig {
        base_url: format!("http://127.0.0.1:{port}/v1"),
        model: "m".into(),
        max_retries: 1,
        retry_backoff: Duration::from_millis(10),
        ..LlmConfig::default()
    });
    match llm.ask(&prompt(), analyzer).await {
        Err(LlmError::Connection { attempts: 2, .. }) => {}
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn the_kill_switch_refuses_every_call_and_nothing_is_sent() {
    let stub = Stub::start(vec![Reply::answer("{}")]).await;
    let llm = client(&config(&stub));
    let halt = suture_actors::domain::control::Halt::default();
    llm.attach_halt(halt.clone());
    halt.set(true);
    let refused = llm.ask(&prompt(), analyzer).await;
    assert!(
        matches!(refused, Err(LlmError::Refused(Refused::KillSwitch))),
        "{refused:?}"
    );
    assert!(
        stub.requests().is_empty(),
        "a call left while the switch was engaged"
    );
    // Disengaged, calls go out again.
    halt.set(false);
    let _ = llm.ask(&prompt(), analyzer).await;
    assert_eq!(stub.requests().len(), 1);
}

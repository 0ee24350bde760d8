//! The LLM client: one chat completion, within every limit Suture sets.
//!
//! Built on async-openai (so OpenAI, Ollama, llama.cpp's server and vLLM
//! all work by `base_url` alone) with Suture's own `reqwest::Client`,
//! because async-openai's default client has no timeout, and with
//! async-openai's built-in retry layer replaced by the loop here, which
//! also retries timeouts and reports to the breaker.
//!
//! A call is either answered, refused ([`Refused`]: not configured, over
//! budget, breaker open; the caller takes its deterministic path at once),
//! or failed after its retries. Refusals and failures are logged and
//! counted (`suture_llm_*`), never silent.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::middleware::ReqwestService;
use async_openai::types::chat::{ChatCompletionRequestMessage, CreateChatCompletionRequestArgs};
use serde::Serialize;

mod chat;
pub mod config;
mod parts;
pub mod repair;

pub use crate::domain::control::PersistedControl;
pub use chat::{ChatMessage, ToolCall, ToolSpec, Turn};
pub use config::LlmConfig;
pub use parts::LlmParts;

use crate::domain::llm::breaker::{Breaker, BreakerState};
use crate::domain::llm::budget::{
    BudgetLimits, BudgetStatus, OverBudget, Price, Spend, TokenBudget, Window, estimate_tokens,
    micro_usd,
};
use crate::domain::llm::parse::ParseError;
use crate::domain::llm::prompt::RenderedPrompt;
use crate::domain::scrub::Scrubber;

/// Why a call was not even tried. The caller takes its deterministic path.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refused {
    #[error("no LLM is configured (llm.base_url and llm.model are empty)")]
    NotConfigured,
    #[error("{0}")]
    OverBudget(OverBudget),
    #[error("the LLM circuit breaker is open (next probe in {retry_in:?})")]
    BreakerOpen { retry_in: Duration },
    #[error("the kill switch is engaged")]
    KillSwitch,
    #[error("over the LLM call rate limit (next call in {retry_in:?})")]
    RateLimited { retry_in: Duration },
}

impl Refused {
    /// The `reason` label of `suture_llm_refused_total`.
    pub fn reason(&self) -> &'static str {
        match self {
            Refused::NotConfigured => "not_configured",
            Refused::OverBudget(OverBudget {
                window: Window::Hourly,
                ..
            }) => "over_budget_hourly",
            Refused::OverBudget(OverBudget {
                window: Window::Daily,
                ..
            }) => "over_budget_daily",
            Refused::OverBudget(OverBudget {
                window: Window::Monthly,
                ..
            }) => "over_budget_monthly",
            Refused::BreakerOpen { .. } => "breaker_open",
            Refused::KillSwitch => "kill_switch",
            Refused::RateLimited { .. } => "rate_limited",
        }
    }
}

/// Why a call produced no usable answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LlmError {
    #[error("LLM call refused: {0}")]
    Refused(#[from] Refused),
    #[error("LLM call timed out ({attempts} attempts)")]
    Timeout { attempts: u32 },
    #[error("LLM connection failed ({attempts} attempts): {message}")]
    Connection { attempts: u32, message: String },
    #[error("LLM endpoint answered HTTP {status} ({attempts} attempts): {message}")]
    Http {
        status: u16,
        attempts: u32,
        message: String,
    },
    #[error("LLM response unusable: {0}")]
    Response(String),
    /// The model answered, but not what the prompt asked for. `raw` is kept
    /// for the audit trail.
    #[error("LLM answer invalid: {error}")]
    Invalid {
        error: ParseError,
        raw: String,
        usage: Usage,
    },
}

impl LlmError {
    /// Whether the endpoint, not the model's answer, failed: it timed out,
    /// refused the connection, answered 429 or 5xx, sent something that is
    /// not a completion, or the breaker or rate limit held the call back.
    /// Such a failure says nothing about the question, so a caller that can
    /// wait (triage) asks again later instead of deciding without the model.
    /// Not an outage: no LLM configured, a spent budget, the kill switch
    /// (each a decision that holds for hours), and an answer that failed
    /// validation (the model did answer, and would likely answer the same).
    pub fn is_outage(&self) -> bool {
        match self {
            LlmError::Timeout { .. } | LlmError::Connection { .. } | LlmError::Response(_) => true,
            LlmError::Http { status, .. } => *status == 429 || *status >= 500,
            LlmError::Refused(Refused::BreakerOpen { .. } | Refused::RateLimited { .. }) => true,
            LlmError::Refused(_) | LlmError::Invalid { .. } => false,
        }
    }
}

/// Tokens one call used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// True when the server sent no `usage` and the count is estimated
    /// (bytes / 4), as some local servers do.
    pub estimated: bool,
}

impl Usage {
    pub fn total(&self) -> u64 {
        self.prompt_tokens.saturating_add(self.completion_tokens)
    }
}

/// A validated answer, with what it cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer<T> {
    pub value: T,
    /// The model's text as received (for the audit trail).
    pub raw: String,
    pub usage: Usage,
    /// HTTP attempts made (1 without retries).
    pub attempts: u32,
}

/// Why `[llm]` cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid configuration: key `llm.{key}`: {message}")]
pub struct LlmConfigError {
    pub key: &'static str,
    pub message: String,
}

/// What `suture status` and the admin API show.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LlmStatus {
    pub configured: bool,
    pub base_url: String,
    pub model: String,
    pub breaker: BreakerState,
    pub consecutive_failures: u32,
    pub budget: Option<BudgetStatus>,
    pub calls: u64,
    pub tokens: u64,
    /// Money spent since the store began, by the price table.
    pub cost_usd: f64,
    /// The last failed call's error (refusals are not calls), and when.
    pub last_error: Option<String>,
    pub last_error_ms: Option<i64>,
    /// When a call last returned a valid answer.
    pub last_ok_ms: Option<i64>,
    /// The breaker is not closed, or the last call failed: the stages are
    /// on their deterministic path or waiting for the model.
    pub degraded: bool,
}

/// Milliseconds since the epoch; replaceable in tests to move budgets' windows.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The client. Cheap to clone; every clone shares the budgets and the breaker.
#[derive(Clone)]
pub struct LlmClient {
    inner: Option<Arc<Configured>>,
}

struct Configured {
    api: Client<OpenAIConfig>,
    base_url: String,
    model: String,
    max_output_tokens: u32,
    max_retries: u32,
    retry_backoff: Duration,
    scrubber: Arc<Scrubber>,
    control: Mutex<Control>,
}

/// Where the client's notifications go (the guard's notification check
/// included): a budget spent, the breaker opened.
pub type Notify = crate::domain::notify::NotifyFn;

/// The budget limits of `[llm]`: tokens and dollars per hour, day, month.
fn budget_limits(config: &LlmConfig) -> BudgetLimits {
    BudgetLimits([
        Spend {
            tokens: config.hourly_token_budget,
            micro_usd: micro_usd(config.hourly_cost_budget),
        },
        Spend {
            tokens: config.daily_token_budget,
            micro_usd: micro_usd(config.daily_cost_budget),
        },
        Spend {
            tokens: config.monthly_token_budget,
            micro_usd: micro_usd(config.monthly_cost_budget),
        },
    ])
}

/// Takes room for one call under the rate limit, or says how long to wait.
pub type RateGate = Arc<dyn Fn() -> Result<(), Duration> + Send + Sync>;

/// Longest a call waits for room under the rate limit before it is refused
/// (a per-minute limit never asks for more).
const MAX_RATE_WAIT: Duration = Duration::from_secs(60);

struct Control {
    /// The model's price (`[llm.prices]`; none: money is not counted).
    price: Price,
    /// Tells people when a budget is spent or the breaker opens.
    notify: Option<Notify>,
    /// The budget refusal last notified, so a spent window is said once.
    notified_exhausted: Option<(Window, crate::domain::llm::budget::Unit, i64)>,
    /// The kill switch: engaged, every call is refused.
    halt: crate::domain::control::Halt,
    /// `[limits] llm_calls_per_minute`, as the control state keeps it.
    rate: Option<RateGate>,
    clock: Clock,
    budget: TokenBudget,
    breaker: Breaker,
    calls: u64,
    tokens: u64,
    /// Money spent since the store began, in micro-dollars.
    micro_usd: u64,
    /// The last failed call (error, epoch ms) and the last good one.
    last_error: Option<(String, i64)>,
    last_ok_ms: Option<i64>,
}

impl std::fmt::Debug for LlmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.inner {
            None => f.write_str("LlmClient(not configured)"),
            Some(c) => write!(f, "LlmClient({} at {})", c.model, c.base_url),
        }
    }
}

impl LlmClient {
    /// A client that refuses every call with [`Refused::NotConfigured`].
    pub fn disabled() -> Self {
        Self { inner: None }
    }

    /// The client `config` describes, or [`LlmClient::disabled`] when it
    /// names no endpoint. The API key is read from the environment here,
    /// once; a named variable that is unset is an error, not a silent
    /// keyless client.
    pub fn new(config: &LlmConfig, scrubber: Arc<Scrubber>) -> Result<Self, LlmConfigError> {
        Self::with_env(config, scrubber, |name| std::env::var(name).ok())
    }

    /// [`LlmClient::new`] with the environment given, for tests.
    pub fn with_env(
        config: &LlmConfig,
        scrubber: Arc<Scrubber>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, LlmConfigError> {
        if !config.is_configured() {
            return Ok(Self::disabled());
        }
        let error = |key, message: &str| LlmConfigError {
            key,
            message: message.to_string(),
        };
        let base_url = config.base_url.trim().trim_end_matches('/').to_string();
        if base_url.is_empty() {
            return Err(error("base_url", "required when llm.model is set"));
        }
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(error("base_url", "must start with http:// or https://"));
        }
        let model = config.model.trim().to_string();
        if model.is_empty() {
            return Err(error("model", "required when llm.base_url is set"));
        }
        if config.timeout.is_zero() {
            return Err(error("timeout", "must be more than 0"));
        }
        let api_key = if config.api_key_env.trim().is_empty() {
            String::new()
        } else {
            let name = config.api_key_env.trim();
            let key = env(name).unwrap_or_default();
            if key.trim().is_empty() {
                return Err(LlmConfigError {
                    key: "api_key_env",
                    message: format!("the environment variable {name} is not set or empty"),
                });
            }
            // async-openai puts the key in a header and panics on one that is
            // not a valid header value; refuse it here, with its variable named.
            if !key.trim().bytes().all(|b| b.is_ascii_graphic()) {
                return Err(LlmConfigError {
                    key: "api_key_env",
                    message: format!("the key in {name} has spaces or control characters"),
                });
            }
            key.trim().to_string()
        };
        let http = crate::clients::http_client(config.timeout)
            .map_err(|e| error("timeout", &format!("cannot build the HTTP client: {e}")))?;
        // With an explicit (maybe empty) key, async-openai does not fall back
        // to OPENAI_API_KEY: a local server never receives a hosted key.
        let openai = OpenAIConfig::new()
            .with_api_base(base_url.clone())
            .with_api_key(api_key);
        let api = Client::build(http.clone(), openai).with_http_service(ReqwestService::new(http));
        Ok(Self {
            inner: Some(Arc::new(Configured {
                api,
                base_url,
                model,
                max_output_tokens: config.max_output_tokens,
                max_retries: config.max_retries,
                retry_backoff: config.retry_backoff,
                scrubber,
                control: Mutex::new(Control {
                    halt: crate::domain::control::Halt::default(),
                    rate: None,
                    clock: Arc::new(crate::clock::now_ms),
                    budget: TokenBudget::with_limits(budget_limits(config)),
                    price: config
                        .prices
                        .get(config.model.trim())
                        .copied()
                        .unwrap_or_default(),
                    notify: None,
                    notified_exhausted: None,
                    breaker: Breaker::new(config.breaker_failures, config.breaker_cooldown),
                    calls: 0,
                    tokens: 0,
                    micro_usd: 0,
                    last_error: None,
                    last_ok_ms: None,
                }),
            })),
        })
    }

    /// Replaces the clock the budgets read (tests move it across windows).
    pub fn with_clock(self, clock: Clock) -> Self {
        if let Some(c) = &self.inner {
            c.lock().clock = clock;
        }
        self
    }

    pub fn is_configured(&self) -> bool {
        self.inner.is_some()
    }

    /// Sends the client's notifications (budget spent, breaker opened) to
    /// `notify`.
    pub fn attach_notify(&self, notify: Notify) {
        if let Some(c) = &self.inner {
            c.lock().notify = Some(notify);
        }
    }

    /// Why no call would be admitted now: a budget window spent to its
    /// limit. The coder starts no attempt while this says one is.
    pub fn budget_exhausted(&self) -> Option<String> {
        let c = self.inner.as_ref()?;
        let mut control = c.lock();
        let now = (control.clock)();
        let over = control.budget.exhausted(now)?;
        notify_exhausted(&mut control, now);
        Some(over.to_string())
    }

    /// Makes every call take room under `rate` first, waiting up to a
    /// minute for it (the engine attaches `[limits] llm_calls_per_minute`).
    pub fn attach_rate_limit(&self, rate: RateGate) {
        if let Some(c) = &self.inner {
            c.lock().rate = Some(rate);
        }
    }

    /// Makes every call obey the kill switch `halt` (the engine does, at
    /// start; every clone shares it).
    pub fn attach_halt(&self, halt: crate::domain::control::Halt) {
        if let Some(c) = &self.inner {
            c.lock().halt = halt;
        }
    }

    /// Sends `prompt`, checks the answer with `parse`, and returns it.
    /// Errors after the retries and answers `parse` rejects both count as
    /// failures for the breaker; only a valid answer closes it.
    ///
    /// Dropping the future mid-call keeps its budget reservation until the
    /// window turns (a ceiling errs on the safe side); stages run calls in
    /// spawned tasks that finish, as the architecture asks anyway.
    pub async fn ask<T>(
        &self,
        prompt: &RenderedPrompt,
        parse: impl FnOnce(&str) -> Result<T, ParseError>,
    ) -> Result<Answer<T>, LlmError> {
        let Some(c) = &self.inner else {
            return Err(refuse(Refused::NotConfigured));
        };
        // Second line of defence: the renderer scrubbed the untrusted
        // slots; this catches anything a caller built some other way. Piece
        // by piece between the data fences, never across one: a rule that
        // took a fence line would let a forged fence close the block.
        let system = crate::domain::llm::fence::scrub_between_fences(&c.scrubber, &prompt.system);
        let user = crate::domain::llm::fence::scrub_between_fences(&c.scrubber, &prompt.user);
        let messages = [ChatMessage::System(system), ChatMessage::User(user)];
        let (value, reply) = c.call(&messages, &[], |reply| parse(&reply.text)).await?;
        Ok(Answer {
            value,
            raw: reply.text,
            usage: reply.usage,
            attempts: reply.attempts,
        })
    }

    /// One turn of a conversation with tools (the coding agent's loop):
    /// the model answers with text, tool calls, or both. Within the same
    /// budgets, breaker and retries as [`LlmClient::ask`]; the caller keeps
    /// the conversation and its own caps. System and user messages are
    /// scrubbed between their data fences; tool results (repository files,
    /// test output) are scrubbed whole.
    pub async fn chat(
        &self,
        messages: &[ChatMessage],
        tools: &[ToolSpec],
    ) -> Result<Turn, LlmError> {
        let Some(c) = &self.inner else {
            return Err(refuse(Refused::NotConfigured));
        };
        let scrubbed: Vec<ChatMessage> = messages.iter().map(|m| m.scrubbed(&c.scrubber)).collect();
        let ((), reply) = c.call(&scrubbed, tools, |_| Ok(())).await?;
        Ok(reply)
    }

    /// The control state a restart must keep: budget spend, breaker, totals.
    /// `None` when no LLM is configured.
    pub fn persisted(&self) -> Option<PersistedControl> {
        let c = self.inner.as_ref()?;
        let control = c.lock();
        let now_ms = (control.clock)();
        let now = Instant::now();
        Some(PersistedControl {
            saved_at_ms: now_ms,
            budget: control.budget.persisted(),
            breaker_failures: control.breaker.failures(),
            breaker_open_until_ms: control.breaker.open_for(now).map(|left| {
                now_ms.saturating_add(i64::try_from(left.as_millis()).unwrap_or(i64::MAX))
            }),
            calls: control.calls,
            tokens: control.tokens,
            micro_usd: control.micro_usd,
        })
    }

    /// Takes back what [`LlmClient::persisted`] saved, at start.
    pub fn restore(&self, saved: &PersistedControl) {
        let Some(c) = &self.inner else { return };
        let mut control = c.lock();
        let now_ms = (control.clock)();
        control.budget.restore(now_ms, &saved.budget);
        let open_for = saved.breaker_open_until_ms.map(|until| {
            Duration::from_millis(u64::try_from(until.saturating_sub(now_ms)).unwrap_or(0))
        });
        control
            .breaker
            .restore(saved.breaker_failures, open_for, Instant::now());
        control.calls = control.calls.max(saved.calls);
        control.tokens = control.tokens.max(saved.tokens);
        control.micro_usd = control.micro_usd.max(saved.micro_usd);
        publish_breaker(&control.breaker);
    }

    /// What `usage` cost at the configured `[llm.prices]`, in micro-dollars
    /// (0 when not configured or not priced).
    pub fn cost_of(&self, usage: &Usage) -> u64 {
        self.inner.as_ref().map_or(0, |c| {
            c.lock()
                .price
                .cost(usage.prompt_tokens, usage.completion_tokens)
        })
    }

    /// The state for `suture status`.
    pub fn status(&self) -> LlmStatus {
        match &self.inner {
            None => LlmStatus {
                configured: false,
                base_url: String::new(),
                model: String::new(),
                breaker: BreakerState::Closed,
                consecutive_failures: 0,
                budget: None,
                calls: 0,
                tokens: 0,
                cost_usd: 0.0,
                last_error: None,
                last_error_ms: None,
                last_ok_ms: None,
                degraded: false,
            },
            Some(c) => {
                let mut control = c.lock();
                let now = (control.clock)();
                let breaker = control.breaker.state();
                let last_failed = match (&control.last_error, control.last_ok_ms) {
                    (Some((_, failed)), Some(ok)) => *failed >= ok,
                    (Some(_), None) => true,
                    (None, _) => false,
                };
                LlmStatus {
                    configured: true,
                    base_url: c.base_url.clone(),
                    model: c.model.clone(),
                    breaker,
                    degraded: breaker != BreakerState::Closed || last_failed,
                    last_error: control.last_error.as_ref().map(|(e, _)| e.clone()),
                    last_error_ms: control.last_error.as_ref().map(|(_, at)| *at),
                    last_ok_ms: control.last_ok_ms,
                    consecutive_failures: control.breaker.failures(),
                    budget: Some(control.budget.status(now)),
                    calls: control.calls,
                    tokens: control.tokens,
                    cost_usd: crate::domain::llm::budget::usd(control.micro_usd),
                }
            }
        }
    }
}

impl Configured {
    fn lock(&self) -> MutexGuard<'_, Control> {
        // The guarded state is plain counters: a panic elsewhere leaves it usable.
        self.control.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One admitted call: budget and breaker first, then the completion,
    /// then `check` on the reply (a rejection counts as a failure for the
    /// breaker), then the bookkeeping and metrics.
    async fn call<T>(
        &self,
        messages: &[ChatMessage],
        tools: &[ToolSpec],
        check: impl FnOnce(&Turn) -> Result<T, ParseError>,
    ) -> Result<(T, Turn), LlmError> {
        self.wait_for_room().await?;
        let sent_bytes: usize = messages.iter().map(ChatMessage::len).sum();
        let prompt_estimate = estimate_tokens(sent_bytes);
        let output_cap = u64::from(self.max_output_tokens);
        let reservation = {
            let mut control = self.lock();
            if control.halt.engaged() {
                return Err(refuse(Refused::KillSwitch));
            }
            let now = (control.clock)();
            let estimate = Spend {
                tokens: prompt_estimate.saturating_add(output_cap),
                micro_usd: control.price.cost(prompt_estimate, output_cap),
            };
            // Budget first: a refused call must not take the half-open probe.
            let reservation = match control.budget.admit(now, estimate) {
                Ok(reservation) => reservation,
                Err(over) => {
                    notify_exhausted(&mut control, now);
                    return Err(refuse(Refused::OverBudget(over)));
                }
            };
            if let Err(retry_in) = control.breaker.admit(Instant::now()) {
                control.budget.settle(now, reservation, Spend::default());
                return Err(refuse(Refused::BreakerOpen { retry_in }));
            }
            publish_breaker(&control.breaker);
            reservation
        };
        // Checked before taking the lock: the caller's parser is not held
        // up behind other calls' bookkeeping, nor they behind it.
        let result = self
            .complete(messages, tools, sent_bytes)
            .await
            .map(|turn| (check(&turn), turn));
        let mut control = self.lock();
        control.calls += 1;
        let now = (control.clock)();
        let used = result.as_ref().map_or(Spend::default(), |(_, turn)| Spend {
            tokens: turn.usage.total(),
            micro_usd: control
                .price
                .cost(turn.usage.prompt_tokens, turn.usage.completion_tokens),
        });
        control.budget.settle(now, reservation, used);
        control.tokens = control.tokens.saturating_add(used.tokens);
        control.micro_usd = control.micro_usd.saturating_add(used.micro_usd);
        metrics::counter!("suture_llm_cost_micro_usd_total").increment(used.micro_usd);
        let was_open = control.breaker.state() == BreakerState::Open;
        let outcome = match result {
            Ok((Ok(value), turn)) => {
                control.breaker.success();
                count_tokens(&turn.usage);
                Ok((value, turn))
            }
            Ok((Err(error), turn)) => {
                control.breaker.failure(Instant::now());
                count_tokens(&turn.usage);
                Err(LlmError::Invalid {
                    error,
                    raw: turn.text,
                    usage: turn.usage,
                })
            }
            Err(error) => {
                control.breaker.failure(Instant::now());
                Err(error)
            }
        };
        publish_breaker(&control.breaker);
        if !was_open && control.breaker.state() == BreakerState::Open {
            notify(
                &control,
                crate::domain::notify::Notification::new(
                    crate::domain::notify::NotificationKind::BreakerTripped,
                    (control.clock)(),
                    "The LLM circuit breaker opened",
                    format!(
                        "{} consecutive failures; LLM calls are refused until the cooldown ends and the stages take their deterministic path",
                        control.breaker.failures()
                    ),
                ),
            );
        }
        let now = (control.clock)();
        publish_budget(&mut control.budget, now);
        let label = match &outcome {
            Ok(_) => "ok",
            Err(LlmError::Invalid { .. }) => "invalid",
            Err(_) => "failed",
        };
        match &outcome {
            Ok(_) => control.last_ok_ms = Some(now),
            Err(e) => control.last_error = Some((e.to_string(), now)),
        }
        metrics::counter!("suture_llm_calls_total", "outcome" => label).increment(1);
        if let Err(e) = &outcome {
            tracing::warn!(error = %e, breaker = ?control.breaker.state(), "LLM call failed; the caller takes the deterministic path");
        }
        outcome
    }

    /// Waits for room under the call rate limit (never holding the lock
    /// while it waits); refuses when the wait would pass [`MAX_RATE_WAIT`].
    async fn wait_for_room(&self) -> Result<(), LlmError> {
        loop {
            let rate = self.lock().rate.clone();
            let Some(rate) = rate else {
                return Ok(());
            };
            match rate() {
                Ok(()) => return Ok(()),
                Err(retry_in) if retry_in <= MAX_RATE_WAIT => {
                    tracing::debug!(?retry_in, "LLM call waits for the rate limit");
                    tokio::time::sleep(retry_in.max(Duration::from_millis(10))).await;
                }
                Err(retry_in) => return Err(refuse(Refused::RateLimited { retry_in })),
            }
        }
    }

    /// One chat completion, retried on timeouts, connection errors, 429 and
    /// 5xx with exponential backoff.
    async fn complete(
        &self,
        messages: &[ChatMessage],
        tools: &[ToolSpec],
        sent_bytes: usize,
    ) -> Result<Turn, LlmError> {
        let wire: Vec<ChatCompletionRequestMessage> =
            messages.iter().map(ChatMessage::to_wire).collect();
        let mut args = CreateChatCompletionRequestArgs::default();
        args.model(self.model.clone())
            .messages(wire)
            .temperature(0.0_f32)
            .max_tokens(self.max_output_tokens);
        if !tools.is_empty() {
            args.tools(tools.iter().map(ToolSpec::to_wire).collect::<Vec<_>>());
        }
        let request = args
            .build()
            .map_err(|e| LlmError::Response(format!("cannot build the request: {e}")))?;
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let error = match self.api.chat().create(request.clone()).await {
                Ok(response) => {
                    let message = response
                        .choices
                        .into_iter()
                        .next()
                        .map(|choice| choice.message)
                        .ok_or_else(|| LlmError::Response("no message in the response".into()))?;
                    let tool_calls = chat::tool_calls_from_wire(message.tool_calls);
                    let text = match message.content {
                        Some(text) => text,
                        None if !tool_calls.is_empty() => String::new(),
                        None => {
                            return Err(LlmError::Response("no message in the response".into()));
                        }
                    };
                    let answered: usize = text.len()
                        + tool_calls
                            .iter()
                            .map(|t| t.name.len() + t.arguments.len())
                            .sum::<usize>();
                    let usage = match response.usage {
                        Some(u) => Usage {
                            prompt_tokens: u64::from(u.prompt_tokens),
                            completion_tokens: u64::from(u.completion_tokens),
                            estimated: false,
                        },
                        None => Usage {
                            prompt_tokens: estimate_tokens(sent_bytes),
                            completion_tokens: estimate_tokens(answered),
                            estimated: true,
                        },
                    };
                    return Ok(Turn {
                        text,
                        tool_calls,
                        usage,
                        attempts,
                    });
                }
                Err(e) => classify(e, attempts),
            };
            let retryable = match &error {
                LlmError::Timeout { .. } | LlmError::Connection { .. } => true,
                LlmError::Http { status, .. } => *status == 429 || *status >= 500,
                _ => false,
            };
            if !retryable || attempts > self.max_retries {
                return Err(error);
            }
            metrics::counter!("suture_llm_retries_total").increment(1);
            let delay = self
                .retry_backoff
                .saturating_mul(2u32.saturating_pow(attempts - 1))
                .min(Duration::from_secs(60));
            tracing::info!(error = %error, ?delay, attempt = attempts, "LLM call failed; retrying");
            tokio::time::sleep(delay).await;
        }
    }
}

/// Maps async-openai's error to Suture's, with the attempts so far.
fn classify(error: OpenAIError, attempts: u32) -> LlmError {
    match error {
        OpenAIError::Reqwest(e) if e.is_timeout() => LlmError::Timeout { attempts },
        OpenAIError::Reqwest(e) if e.is_builder() => LlmError::Response(e.to_string()),
        OpenAIError::Reqwest(e) => LlmError::Connection {
            attempts,
            message: e.to_string(),
        },
        OpenAIError::ApiError(e) => LlmError::Http {
            status: e.status_code.as_u16(),
            attempts,
            message: e.api_error.message.chars().take(500).collect(),
        },
        other => LlmError::Response(other.to_string().chars().take(500).collect()),
    }
}

fn notify(control: &Control, notification: crate::domain::notify::Notification) {
    if let Some(notify) = &control.notify {
        notify(notification);
    }
}

/// Tells people once per spent window that a budget refuses calls.
fn notify_exhausted(control: &mut Control, now_ms: i64) {
    let Some(over) = control.budget.exhausted(now_ms) else {
        return;
    };
    let key = (over.window, over.unit, over.window.id(now_ms));
    if control.notified_exhausted == Some(key) {
        return;
    }
    control.notified_exhausted = Some(key);
    notify(
        control,
        crate::domain::notify::Notification::new(
            crate::domain::notify::NotificationKind::BudgetExhausted,
            now_ms,
            "An LLM budget is spent",
            format!("{over}: no LLM call and no new agent attempt until the window turns"),
        ),
    );
}

fn refuse(refused: Refused) -> LlmError {
    metrics::counter!("suture_llm_refused_total", "reason" => refused.reason()).increment(1);
    match &refused {
        Refused::NotConfigured => tracing::debug!("{refused}; deterministic path"),
        _ => tracing::warn!("{refused}; deterministic path"),
    }
    LlmError::Refused(refused)
}

fn count_tokens(usage: &Usage) {
    metrics::counter!("suture_llm_tokens_total", "kind" => "prompt").increment(usage.prompt_tokens);
    metrics::counter!("suture_llm_tokens_total", "kind" => "completion")
        .increment(usage.completion_tokens);
}

fn publish_breaker(breaker: &Breaker) {
    metrics::gauge!("suture_llm_breaker_state").set(breaker.state().gauge());
}

fn publish_budget(budget: &mut TokenBudget, now_ms: i64) {
    let status = budget.status(now_ms);
    #[allow(clippy::cast_precision_loss)]
    {
        metrics::gauge!("suture_llm_budget_spent_tokens", "window" => "hourly")
            .set(status.hour_spent as f64);
        metrics::gauge!("suture_llm_budget_spent_tokens", "window" => "daily")
            .set(status.day_spent as f64);
    }
}

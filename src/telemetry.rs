//! Logging and the Prometheus recorder.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// Installs the tracing subscriber once (later calls are no-ops, so tests
/// that start several servers in one process do not fail).
pub fn init_logging(config: &LogConfig) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only on a terminal: escape codes in a log file or a journal
    // are noise to whoever greps it.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let _ = match config.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// The process-wide Prometheus recorder, installed on first use. The
/// `metrics` facade has one global recorder, so servers in one process share it.
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        // Fails only if another recorder was installed first; then ours just renders nothing.
        let _ = metrics::set_global_recorder(recorder);
        describe();
        handle
    })
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "suture_events_accepted_total",
        "Events durably stored, by source."
    );
    describe_counter!(
        "suture_events_rejected_total",
        "Events refused, by source and reason."
    );
    describe_counter!(
        "suture_udp_datagrams_dropped_total",
        "Datagrams dropped, by reason."
    );
    describe_gauge!(
        "suture_ingest_queue_depth",
        "Submissions waiting for the writer."
    );
    describe_gauge!(
        "suture_queue_pending_signatures",
        "Signatures in the debounce queue's pending batch."
    );
    describe_histogram!(
        "suture_commit_batch_events",
        "Events written under one group-commit flush."
    );
    describe_histogram!(
        "suture_commit_write_seconds",
        "Time to write one group commit's events to the store (before the flush)."
    );
    describe_histogram!(
        "suture_commit_flush_seconds",
        "Time to flush one group commit to disk."
    );
    describe_histogram!(
        "suture_ingest_wait_seconds",
        "Time a submission waited in the ingest queue for the writer."
    );
    describe_counter!(
        "suture_queue_batches_total",
        "Batches handed on by the debounce queue, by reason."
    );
    describe_counter!(
        "suture_actor_restarts_total",
        "Actor restarts by the supervisor, by actor."
    );
    describe_counter!(
        "suture_llm_calls_total",
        "LLM calls made, by outcome (ok, invalid answer, failed after retries)."
    );
    describe_counter!(
        "suture_llm_retries_total",
        "LLM attempts retried after a timeout, connection error, 429 or 5xx."
    );
    describe_counter!(
        "suture_llm_refused_total",
        "LLM calls refused before sending, by reason (not_configured, over_budget_hourly, over_budget_daily, breaker_open)."
    );
    describe_counter!(
        "suture_llm_tokens_total",
        "Tokens the LLM endpoint reported, by kind (prompt, completion)."
    );
    describe_gauge!(
        "suture_llm_breaker_state",
        "LLM circuit breaker: 0 closed, 1 half-open, 2 open."
    );
    describe_gauge!(
        "suture_llm_budget_spent_tokens",
        "Tokens spent in the current LLM budget window, by window (hourly, daily)."
    );
}

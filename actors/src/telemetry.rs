//! What Suture counts, described once, and the internal events that count.
//!
//! - [`METRICS`]: every metric either crate records, with its kind and
//!   description. The shell's Prometheus recorder describes exactly these,
//!   and a test fails when a `metrics::counter!`/`gauge!`/`histogram!` in
//!   the code names a metric missing here, or this lists one nothing records.
//! - Internal events (Vector's `internal_events`): a small struct per thing
//!   worth counting whose `emit()` logs and increments together, so the log
//!   and the metric cannot disagree. [`Stats`] does the same for the totals
//!   `suture status` reads.

use std::sync::atomic::{AtomicU64, Ordering};

/// A metric's kind, as Prometheus describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    Counter,
    Gauge,
    Histogram,
}

/// One metric: its name, kind and what it means.
#[derive(Debug, Clone, Copy)]
pub struct MetricDef {
    pub name: &'static str,
    pub kind: MetricKind,
    pub help: &'static str,
}

const fn counter(name: &'static str, help: &'static str) -> MetricDef {
    MetricDef {
        name,
        kind: MetricKind::Counter,
        help,
    }
}

const fn gauge(name: &'static str, help: &'static str) -> MetricDef {
    MetricDef {
        name,
        kind: MetricKind::Gauge,
        help,
    }
}

const fn histogram(name: &'static str, help: &'static str) -> MetricDef {
    MetricDef {
        name,
        kind: MetricKind::Histogram,
        help,
    }
}

/// Every metric Suture records, in loop order.
pub const METRICS: &[MetricDef] = &[
    counter(
        "suture_events_accepted_total",
        "Events durably stored, by source.",
    ),
    counter(
        "suture_events_rejected_total",
        "Events refused, by source and reason.",
    ),
    counter(
        "suture_udp_datagrams_dropped_total",
        "Datagrams dropped, by reason.",
    ),
    counter(
        "suture_gelf_chunks_dropped_total",
        "GELF chunks dropped during reassembly, by reason.",
    ),
    counter(
        "suture_gelf_filtered_total",
        "GELF messages below the configured level, not stored.",
    ),
    counter(
        "suture_sentry_items_total",
        "Sentry envelope items received, by type and outcome.",
    ),
    counter(
        "suture_sentry_sessions_total",
        "Sentry session updates counted as traffic.",
    ),
    counter(
        "suture_sentry_sessions_unrecorded_total",
        "Sentry session updates that could not be recorded as traffic.",
    ),
    counter(
        "suture_ingest_duplicates_total",
        "Events acknowledged but not stored again: their id was stored within the dedup window.",
    ),
    counter(
        "suture_release_deploys_refused_total",
        "New releases seen in events not made deploys: store.release_deploys_per_hour reached.",
    ),
    counter(
        "suture_store_sync_failures_total",
        "Failed syncs of the store; after one, nothing is acknowledged until a restart.",
    ),
    gauge(
        "suture_log_templates",
        "Log templates learned; message-only events are signed by them.",
    ),
    counter(
        "suture_log_template_leaves_saved_total",
        "Leaves of the log-template tree written with a group commit.",
    ),
    counter(
        "suture_log_template_fallbacks_total",
        "Message-only events grouped by their masked message because the template bounds were reached.",
    ),
    gauge(
        "suture_ingest_queue_depth",
        "Submissions waiting for the writer.",
    ),
    gauge(
        "suture_ingest_queue_bytes",
        "Bytes of events (their JSON size) waiting for the writer; bounded by ingest.queue_bytes.",
    ),
    histogram(
        "suture_ingest_wait_seconds",
        "Time a submission waited in the ingest queue for the writer.",
    ),
    histogram(
        "suture_commit_batch_events",
        "Events written under one group-commit flush.",
    ),
    histogram(
        "suture_commit_write_seconds",
        "Time to write one group commit's events to the store (before the flush).",
    ),
    histogram(
        "suture_commit_flush_seconds",
        "Time to flush one group commit to disk.",
    ),
    counter(
        "suture_commit_failures_total",
        "Group commits that failed (their submissions were answered 503).",
    ),
    gauge(
        "suture_queue_pending_signatures",
        "Signatures in the debounce queue's pending batch.",
    ),
    counter(
        "suture_queue_batches_total",
        "Batches handed on by the debounce queue, by reason.",
    ),
    counter(
        "suture_gate_runs_total",
        "Gate runs stored, by kind (deploy, continuous).",
    ),
    counter(
        "suture_gate_flagged_total",
        "Signatures the gate flagged, by verdict.",
    ),
    counter(
        "suture_analyzer_batches_total",
        "Analyzer batches committed, by grouping method.",
    ),
    counter("suture_tickets_created_total", "Tickets opened."),
    counter(
        "suture_tickets_triaged_total",
        "Tickets triaged, by disposition and method.",
    ),
    counter(
        "suture_llm_calls_total",
        "LLM calls made, by outcome (ok, invalid answer, failed after retries).",
    ),
    counter(
        "suture_llm_retries_total",
        "LLM attempts retried after a timeout, connection error, 429 or 5xx.",
    ),
    counter(
        "suture_llm_refused_total",
        "LLM calls refused before sending, by reason (not_configured, over_budget_hourly, over_budget_daily, breaker_open).",
    ),
    counter(
        "suture_llm_tokens_total",
        "Tokens the LLM endpoint reported, by kind (prompt, completion).",
    ),
    gauge(
        "suture_llm_breaker_state",
        "LLM circuit breaker: 0 closed, 1 half-open, 2 open.",
    ),
    gauge(
        "suture_llm_budget_spent_tokens",
        "Tokens spent in the current LLM budget window, by window (hourly, daily).",
    ),
    counter(
        "suture_github_calls_total",
        "GitHub API calls, by operation and outcome.",
    ),
    counter(
        "suture_admin_refused_total",
        "Admin API requests refused (401: no or wrong token; 403: a request a web page could make, without a token), by status.",
    ),
    gauge(
        "suture_kill_switch_engaged",
        "1 while the kill switch is engaged (no agent, no LLM call, nothing outside the sidecar).",
    ),
    counter(
        "suture_kill_switch_changes_total",
        "Kill switch flips, by the state set.",
    ),
    counter(
        "suture_notifications_total",
        "Webhook notifications, by kind and outcome (sent, failed after retries, dropped on a full queue, refused by the kill switch).",
    ),
    counter(
        "suture_rate_limited_total",
        "Actions that waited for a rate limit ([limits]), by limit.",
    ),
    counter(
        "suture_breaker_trips_total",
        "Breakers tripped, by breaker (fix_loop, review_fatigue, github).",
    ),
    counter(
        "suture_verifications_total",
        "Looks at a deployed fix's signatures, by outcome (fixed, still_failing, undecided).",
    ),
    counter(
        "suture_fixes_verified_total",
        "Tickets resolved because their fix was verified in production.",
    ),
    counter(
        "suture_fixes_failed_in_production_total",
        "Merged fixes whose error kept its regressed rate after the deploy.",
    ),
    counter(
        "suture_fix_regressions_total",
        "Resolved tickets reopened because the gate flagged their error again.",
    ),
    counter(
        "suture_auto_deploys_total",
        "Suture's own deploys of fixes, by outcome (passed, rolled_back, failed, stopped).",
    ),
    gauge(
        "suture_fix_success_ratio",
        "Fixes verified in production over agent attempts made (refreshed at most once a minute).",
    ),
    gauge(
        "suture_fixes",
        "Fixes by outcome (attempted, proven, merged, verified, failed_in_production, regressed).",
    ),
    gauge(
        "suture_time_to_resolution_seconds",
        "Time per stage (first_seen_to_ticket, ticket_to_pull_request, pull_request_to_merged, merged_to_verified, first_seen_to_verified), by quantile 0.5 and 0.9.",
    ),
    gauge(
        "suture_deduplication_accuracy_ratio",
        "Tickets whose grouping operators labelled right, over those labelled.",
    ),
    gauge(
        "suture_false_positive_ratio",
        "Triaged tickets dismissed or whose fix-candidate call was labelled wrong, over those triaged.",
    ),
    gauge(
        "suture_auto_deploy_ratio",
        "Merges made by Suture over all merged fixes.",
    ),
    gauge(
        "suture_tokens_per_ticket",
        "LLM tokens (grouping, triage, the agent) per ticket.",
    ),
    gauge(
        "suture_cost_usd_per_merged_pr",
        "The agent's LLM spend per merged pull request, in dollars.",
    ),
    gauge(
        "suture_github_breaker_state",
        "The GitHub client's breaker: 0 closed, 1 half-open, 2 open.",
    ),
    counter(
        "suture_llm_cost_micro_usd_total",
        "Money spent on LLM calls by the price table ([llm.prices]), in micro-dollars.",
    ),
    counter(
        "suture_github_webhooks_total",
        "GitHub webhook deliveries, by outcome (updated, ignored, duplicate, bad_signature).",
    ),
    counter(
        "suture_audit_entries_total",
        "Entries appended to the audit log (ticket entries mirrored in their transaction are not counted).",
    ),
    counter(
        "suture_agent_attempts_total",
        "Coding agent attempts, by outcome (started, fixed, failed).",
    ),
    counter(
        "suture_agent_publish_total",
        "Fixes published or held back, by outcome (opened, push_failed, pr_failed).",
    ),
    counter(
        "suture_actor_restarts_total",
        "Actor restarts by the supervisor, by actor.",
    ),
    counter(
        "suture_stage_pass_failures_total",
        "Stage passes that failed, by stage and whether the failure is transient.",
    ),
];

/// The supervisor restarted a child.
pub struct ActorRestarted {
    pub actor: &'static str,
}

impl ActorRestarted {
    pub fn emit(self) {
        tracing::warn!(child = self.actor, "restarted");
        metrics::counter!("suture_actor_restarts_total", "actor" => self.actor).increment(1);
    }
}

/// A stage's pass failed; it is retried on the stage's interval.
pub struct PassFailed<'a> {
    pub stage: &'static str,
    pub error: &'a dyn std::error::Error,
    pub transient: bool,
}

impl PassFailed<'_> {
    pub fn emit(self) {
        tracing::error!(
            stage = self.stage,
            error = %self.error,
            transient = self.transient,
            "pass failed; retrying next interval"
        );
        metrics::counter!(
            "suture_stage_pass_failures_total",
            "stage" => self.stage,
            "transient" => if self.transient { "true" } else { "false" }
        )
        .increment(1);
    }
}

/// Running totals since start.
#[derive(Debug, Default)]
pub struct Stats {
    accepted: AtomicU64,
    rejected: AtomicU64,
}

impl Stats {
    /// Events made durable, by where they came from (`http`, `udp`, ...).
    pub fn accepted(&self, source: &str, events: u64) {
        self.accepted.fetch_add(events, Ordering::Relaxed);
        metrics::counter!("suture_events_accepted_total", "source" => source.to_string())
            .increment(events);
    }

    /// Events refused, by source and a short machine-readable reason.
    pub fn rejected(&self, source: &'static str, reason: &'static str, events: u64) {
        self.rejected.fetch_add(events, Ordering::Relaxed);
        metrics::counter!("suture_events_rejected_total", "source" => source, "reason" => reason)
            .increment(events);
    }

    pub fn accepted_total(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    pub fn rejected_total(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }
}

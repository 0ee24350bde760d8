//! The JSON the dashboard's views need beyond the admin API: aggregates
//! (exception volume, tickets by state, gate runs), pages of tickets and
//! audit entries walked newest first with a cursor, the live state of the
//! running agents, a fix's diff side by side, and the one-time login code
//! `suture dashboard` asks for. Behind the admin check like every admin
//! route; each read touches a page's worth of the store (see
//! `suture_actors::store::views`).

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Value, json};
use suture_actors::clock::now_ms;
use suture_actors::domain::audit::AuditQuery;
use suture_actors::domain::tickets::{Disposition, Ticket, TicketState};
use suture_actors::store::gate::minute_of;
use suture_actors::store::hour_of;

use super::diff::side_by_side;
use crate::server::http::auth::{AdminCaller, ViaSession};
use crate::server::http::common::{store_error, ticket_with_fix};
use crate::server::http::error::ApiError;
use crate::server::http::state::AppState;
use crate::wire::time::format_rfc3339;

/// Hours the overview's volume chart and the sparklines span.
const HOURS: u32 = 24;
/// Tickets on one page by default, and at most.
const PAGE: usize = 50;
const MAX_PAGE: usize = 200;
/// Tickets one page may read while filtering before it answers short with
/// a cursor (see `Store::tickets_page`).
const PAGE_BUDGET: usize = 2_000;
/// The transcript steps that are the agent doing something (a tool call,
/// a test run, the external agent's run): the agents view's "last tool call".
const ACTING_KINDS: [&str; 3] = ["tool_call", "tests", "external"];
/// Gate runs the overview and the deploys view look at.
const RUNS: usize = 200;

fn bad_query(e: QueryRejection, expected: &str) -> ApiError {
    ApiError::BadRequest {
        field: "query".into(),
        message: format!("expected {expected}: {}", e.body_text()),
    }
}

/// `GET /v1/dashboard/overview`: the numbers and the chart of the first
/// view.
pub async fn overview(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let engine = &state.engine;
    let store = engine.store();
    let now = now_ms();
    // Hourly buckets of the per-minute totals, ending with the current hour.
    let this_hour_minute = minute_of(now) - minute_of(now) % 60;
    let from_minute = this_hour_minute.saturating_sub((HOURS - 1) * 60);
    let minutes = store
        .minute_totals(from_minute, HOURS * 60)
        .map_err(store_error)?;
    let hourly: Vec<u64> = minutes.chunks(60).map(|c| c.iter().sum()).collect();
    let day_ago = now - i64::from(HOURS) * 3_600_000;
    let runs = store.runs_since(day_ago, RUNS).map_err(store_error)?;
    let flagged: usize = runs
        .iter()
        .map(|r| {
            r.decisions
                .iter()
                .filter(|d| d.decision.verdict.flagged())
                .count()
        })
        .sum();
    let tally = store.ticket_tally().map_err(store_error)?;
    let coder = engine.coder_status().await;
    Ok(Json(json!({
        "volume": {
            "from": format_rfc3339(suture_actors::store::minute_start_ms(from_minute)),
            "bucket_minutes": 60,
            "counts": hourly,
        },
        "events": {
            "accepted": engine.stats().accepted_total(),
            "rejected": engine.stats().rejected_total(),
        },
        "signatures": store.signature_count().map_err(store_error)?,
        "gate": {
            "runs": runs.len(),
            "flagged": flagged,
            "since": format_rfc3339(day_ago),
        },
        "tickets": {
            "total": tally.total,
            "by_state": tally.by_state,
            "by_disposition": tally.by_disposition,
            "by_severity": tally.by_severity,
        },
        "agents": coder.map(|c| json!({
            "running": c.running.len(),
            "queued": c.queued,
            "halted": c.halted,
            "fixed": c.fixed,
            "failed": c.failed,
            "enabled": c.enabled,
            "waiting": c.waiting,
        })),
        "llm": engine.llm().client.status(),
        "kill_switch": engine.kill_switch().ok(),
        "autonomy": engine.autonomy().ok().map(|(setting, _)| setting),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketsQuery {
    state: Option<String>,
    disposition: Option<String>,
    severity: Option<String>,
    /// Words that must all appear in the title, root cause or id.
    q: Option<String>,
    /// The cursor: tickets numbered below it.
    before: Option<u64>,
    limit: Option<usize>,
}

/// `GET /v1/dashboard/tickets?state=&disposition=&severity=&q=&before=&limit=`:
/// tickets newest first, each with its root cause, first and last seen and
/// a sparkline of its signatures' events per hour; `next` is the `before`
/// of the following page (null at the end).
pub async fn tickets(
    State(state): State<AppState>,
    query: Result<Query<TicketsQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query
        .map_err(|e| bad_query(e, "?state=&disposition=&severity=&q=&before=<n>&limit=<n>"))?;
    let wanted_state = parse_filter("state", query.state.as_deref(), TicketState::parse)?;
    let wanted_disposition = parse_filter(
        "disposition",
        query.disposition.as_deref(),
        Disposition::parse,
    )?;
    let severity = query.severity.filter(|s| !s.is_empty());
    let words: Vec<String> = query
        .q
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_lowercase)
        .collect();
    let limit = query.limit.unwrap_or(PAGE).clamp(1, MAX_PAGE);
    let store = state.engine.store();
    let page = store
        .tickets_page(query.before, limit, PAGE_BUDGET, |t| {
            wanted_state.is_none_or(|s| t.state == s)
                && wanted_disposition.is_none_or(|d| t.disposition == Some(d))
                && severity.as_deref().is_none_or(|s| t.severity.as_str() == s)
                && matches_words(t, &words)
        })
        .map_err(store_error)?;
    let now_hour = hour_of(now_ms());
    let from_hour = now_hour.saturating_sub(HOURS - 1);
    let mut rows = Vec::with_capacity(page.items.len());
    for ticket in &page.items {
        let mut spark = vec![0u64; HOURS as usize];
        for signature in &ticket.signatures {
            let series = store
                .hourly_range(&signature.signature, from_hour, HOURS)
                .map_err(store_error)?;
            for (slot, count) in spark.iter_mut().zip(series) {
                *slot += count;
            }
        }
        rows.push(ticket_row(ticket, spark));
    }
    Ok(Json(json!({ "tickets": rows, "next": page.next })))
}

fn parse_filter<T>(
    field: &str,
    text: Option<&str>,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<Option<T>, ApiError> {
    match text {
        None | Some("") => Ok(None),
        Some(text) => parse(text).map(Some).ok_or_else(|| ApiError::BadRequest {
            field: field.into(),
            message: format!("{field}: {text:?} is not known"),
        }),
    }
}

fn matches_words(ticket: &Ticket, words: &[String]) -> bool {
    if words.is_empty() {
        return true;
    }
    let haystack = format!("{} {} {}", ticket.id, ticket.title, ticket.root_cause).to_lowercase();
    words.iter().all(|w| haystack.contains(w.as_str()))
}

fn ticket_row(ticket: &Ticket, spark: Vec<u64>) -> Value {
    let first = ticket.signatures.iter().map(|s| s.first_seen_ms).min();
    let last = ticket.signatures.iter().map(|s| s.last_seen_ms).max();
    let mut row = json!(ticket.summary());
    if let Value::Object(map) = &mut row {
        map.insert("root_cause".into(), json!(ticket.root_cause));
        map.insert("first_seen".into(), json!(first.map(format_rfc3339)));
        map.insert("last_seen".into(), json!(last.map(format_rfc3339)));
        map.insert("sparkline".into(), json!(spark));
        map.insert(
            "fix".into(),
            json!(ticket.fix.as_ref().map(|f| json!({
                "attempt": f.attempt,
                "files": f.files,
                "tests": f.tests,
                "held": f.held,
                "pull_request": f.pull_request,
            }))),
        );
        if let Some(reason) = ticket.audit.last() {
            map.insert(
                "last_entry".into(),
                json!({"action": reason.action, "detail": reason.detail, "actor": reason.actor}),
            );
        }
    }
    row
}

/// `GET /v1/dashboard/tickets/{id}/diff`: the fix's diff, side by side.
pub async fn fix_diff(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (_, fix) = ticket_with_fix(&state, &id)?;
    let evidence = state
        .engine
        .store()
        .attempt(&id, fix.attempt)
        .map_err(store_error)?
        .and_then(|a| a.fix)
        .ok_or_else(|| ApiError::NotFound(format!("ticket {id}: the fix's evidence is gone")))?;
    // A stored diff is git's own output; one the parser cannot read is
    // shown as nothing rather than failing the ticket's page.
    let (files, problem) = match side_by_side(&evidence.diff) {
        Ok(files) => (files, None),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    Ok(Json(json!({
        "ticket": id,
        "commit": evidence.commit,
        "base": evidence.base,
        "added": evidence.added,
        "removed": evidence.removed,
        "files": files,
        "problem": problem,
    })))
}

/// `GET /v1/dashboard/tickets/{id}/deploy-diff`: the diff of the deploy
/// triage blamed, read from the service's repository and scrubbed, side by
/// side, with triage's suspect lines to highlight. 404 without a diff on
/// the ticket; 409 without a repository or when it does not know the
/// revisions any more.
pub async fn deploy_diff(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let ticket = state
        .engine
        .store()
        .ticket(&id)
        .map_err(store_error)?
        .ok_or_else(|| ApiError::NotFound(format!("no ticket {id:?}")))?;
    let triage = ticket.triage.as_ref();
    let summary = triage
        .and_then(|t| t.diff.as_ref())
        .ok_or_else(|| ApiError::NotFound(format!("ticket {id} has no deploy diff")))?;
    let repo = state
        .engine
        .repo()
        .ok_or_else(|| ApiError::Conflict("no repository is configured (repo.path)".into()))?;
    let diff = repo
        .diff(&summary.from, &summary.to)
        .await
        .map_err(|e| ApiError::Conflict(format!("the deploy's diff could not be read: {e}")))?;
    let patch = state.engine.llm().scrubber.scrub(&diff.patch);
    let (files, problem) = match side_by_side(&patch) {
        Ok(files) => (files, None),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    let suspects: Vec<Value> = triage
        .map(|t| t.suspect_lines.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|s| json!({"file": s.file, "line": s.line}))
        .collect();
    Ok(Json(json!({
        "ticket": id,
        "from": diff.from,
        "to": diff.to,
        "truncated": diff.truncated,
        "files": files,
        "problem": problem,
        "suspects": suspects,
    })))
}

/// `GET /v1/dashboard/agents`: each running attempt with its step, tokens,
/// time so far and last tool call (from its transcript, written as it
/// happens), and the queue.
pub async fn agents(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let Some(status) = state.engine.coder_status().await else {
        return Ok(Json(json!({ "available": false, "running": [] })));
    };
    let store = state.engine.store();
    let now = now_ms();
    let mut running = Vec::new();
    for attempt in &status.running {
        let transcript = store
            .transcript(&attempt.ticket, attempt.attempt)
            .map_err(store_error)?;
        let record = store
            .attempt(&attempt.ticket, attempt.attempt)
            .map_err(store_error)?;
        let tokens: u64 = transcript.iter().filter_map(|e| e.tokens).sum();
        let last = transcript.last();
        let tool = transcript
            .iter()
            .rev()
            .find(|e| ACTING_KINDS.contains(&e.kind.as_str()));
        running.push(json!({
            "ticket": attempt.ticket,
            "attempt": attempt.attempt,
            "branch": attempt.branch,
            "agent": record.as_ref().map(|r| r.agent.clone()),
            "started": format_rfc3339(attempt.started_ms),
            "elapsed_ms": now.saturating_sub(attempt.started_ms),
            "step": last.map_or(0, |e| e.step),
            "tokens": tokens.max(record.as_ref().map_or(0, |r| r.tokens)),
            "last": last.map(|e| json!({"kind": e.kind, "text": cut(&e.text, 300)})),
            "last_tool": tool.map(|e| json!({"kind": e.kind, "text": cut(&e.text, 300)})),
        }));
    }
    Ok(Json(json!({
        "available": true,
        "enabled": status.enabled,
        "disabled_reason": status.disabled_reason,
        "halted": status.halted,
        "max_concurrent": status.max_concurrent,
        "queued": status.queued,
        "waiting": status.waiting,
        "started": status.started,
        "fixed": status.fixed,
        "failed": status.failed,
        "running": running,
    })))
}

/// Auto-deploys on one page of the list, at most.
const AUTO_DEPLOY_PAGE: usize = 20;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoDeployParams {
    before: Option<u64>,
}

/// `GET /v1/dashboard/auto-deploys?before=`: Suture's own deploys of fixes
/// (`[deploy]`), newest ticket first: the merge, the deploy marker, the
/// canary window and its result. Every one is reachable: a page is read
/// from the store's auto-deploy index (see `Store::auto_deploy_tickets`),
/// [`AUTO_DEPLOY_PAGE`] at a time, and `next` is the `before` of the
/// following page.
pub async fn auto_deploys(
    State(state): State<AppState>,
    params: Result<Query<AutoDeployParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(params) = params.map_err(|e| bad_query(e, "?before=<n>"))?;
    let page = state
        .engine
        .store()
        .auto_deploy_tickets(params.before, AUTO_DEPLOY_PAGE)
        .map_err(store_error)?;
    let items: Vec<Value> = page
        .items
        .iter()
        .filter_map(|t| {
            let d = t.auto_deploy.as_ref()?;
            let pull = t.fix.as_ref().and_then(|f| f.pull_request.as_ref());
            Some(json!({
                "ticket": t.id,
                "title": t.title,
                "state": t.state,
                "severity": t.severity,
                "pull_request": pull.map(|p| json!({"number": p.number, "url": p.url})),
                "merge_commit": d.merge_commit,
                "previous_revision": d.previous_revision,
                "deploy": d.deploy,
                "started": format_rfc3339(d.started_ms),
                "deployed": d.deployed_at_ms.map(format_rfc3339),
                "canary_until": d.canary_until_ms.map(format_rfc3339),
                "outcome": d.outcome,
            }))
        })
        .collect();
    Ok(Json(json!({ "auto_deploys": items, "next": page.next })))
}

fn cut(text: &str, chars: usize) -> String {
    match text.char_indices().nth(chars) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    before: Option<u64>,
    ticket: Option<String>,
    kind: Option<String>,
    actor: Option<String>,
    limit: Option<usize>,
}

/// `GET /v1/dashboard/audit?before=&ticket=&kind=&actor=&limit=`: the
/// audit log newest first (`/v1/audit` is oldest first, for followers);
/// `next` is the `before` of the following page.
pub async fn audit(
    State(state): State<AppState>,
    params: Result<Query<AuditParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(params) =
        params.map_err(|e| bad_query(e, "?before=<seq>&ticket=&kind=&actor=&limit=<n>"))?;
    let limit = params.limit.unwrap_or(100).clamp(1, 1000);
    let query = AuditQuery {
        since: 0,
        ticket: params.ticket.filter(|t| !t.is_empty()),
        kind: params.kind.filter(|k| !k.is_empty()),
        limit,
    };
    let actor = params.actor.filter(|a| !a.is_empty());
    let entries = state
        .engine
        .store()
        .audit_newest(&query, params.before, actor.as_deref())
        .map_err(store_error)?;
    let next = (entries.len() == limit)
        .then(|| entries.last().map(|e| e.seq))
        .flatten();
    Ok(Json(json!({ "entries": entries, "next": next })))
}

/// `POST /v1/admin/dashboard/login-code`: a one-time code for the
/// dashboard's login link, named like the caller's token; what `suture
/// dashboard` prints. Refused to a dashboard session (a session cannot
/// mint itself new ones).
pub async fn login_code(
    State(state): State<AppState>,
    caller: AdminCaller,
    via_session: Option<Extension<ViaSession>>,
) -> Result<Json<Value>, Response> {
    if via_session.is_some() {
        let why =
            "login codes are for `suture dashboard` with a token, not for a dashboard session";
        return Err((StatusCode::FORBIDDEN, Json(json!({ "error": why }))).into_response());
    }
    let code = state
        .dashboard_sessions
        .issue_code(&caller.0.name)
        .ok_or_else(|| {
            ApiError::Busy {
                retry_after_secs: 1,
            }
            .into_response()
        })?;
    Ok(Json(json!({
        "code": code,
        "path": format!("/login?code={code}"),
        "expires_in_seconds": super::session::CODE_TTL.as_secs(),
        "name": caller.0.name,
    })))
}

//! The operator's surface for tickets: list and read them, label triage's
//! verdict (what `suture report` measures precision and recall against),
//! dismiss, escalate or resolve them, and the report itself.
//!
//! Reads go to sled inline, as the gate API's do: a ticket is a few
//! kilobytes of JSON and there are hundreds, not millions. Writes are one
//! sled transaction each (through [`suture_actors::EngineHandle`]) and are
//! flushed before the 200, so an acknowledged label survives a crash.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{Value, json};
use suture_actors::domain::tickets::report::report;
use suture_actors::domain::tickets::{Disposition, Ticket, TicketState};
use suture_actors::engine::CommandError;
use suture_actors::store::tickets::TicketUpdateError;

use super::auth::AdminCaller;
use super::common::store_error;
use super::error::ApiError;
use super::state::AppState;

/// Tickets listed by default, newest first: a screen's worth and more.
const DEFAULT_LIMIT: usize = 100;
/// Most tickets one list returns. A summary is a few hundred bytes, so this
/// bounds a reply to well under a megabyte.
const MAX_LIMIT: usize = 1000;
/// Longest note or reason, in characters: a paragraph. They land in the
/// ticket's audit trail (and a GitHub issue), not a place for a log dump.
const MAX_TEXT_CHARS: usize = 2000;

/// The dispositions, in the order error messages list them.
const DISPOSITIONS: [Disposition; 3] = [
    Disposition::FixCandidate,
    Disposition::External,
    Disposition::Noise,
];

/// The states an operator may move a ticket to. The others (`triaged`,
/// `fixing`, `pr_open`) are the pipeline's and the coding agent's moves:
/// setting them by hand would claim work nobody is doing.
const OPERATOR_STATES: [TicketState; 3] = [
    TicketState::Dismissed,
    TicketState::Escalated,
    TicketState::Resolved,
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketsQuery {
    state: Option<String>,
    disposition: Option<String>,
    limit: Option<usize>,
    /// The cursor: only tickets numbered below it (the `next` of a page).
    before: Option<u64>,
}

/// `GET /v1/tickets?state=&disposition=&limit=&before=`: summaries, newest
/// first, how many tickets match the filters (before the limit), and
/// `next`, the `before` of the following page (null at the end). With
/// `before`, only that page is read (no `total`): the way through 10,000
/// tickets without decoding all of them per request.
pub async fn list_tickets(
    State(state): State<AppState>,
    query: Result<Query<TicketsQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest {
        field: "query".into(),
        message: format!(
            "expected ?state=&disposition=&limit=<1..{MAX_LIMIT}>&before=<n>: {}",
            e.body_text()
        ),
    })?;
    let wanted_state = match query.state.as_deref() {
        None | Some("") => None,
        Some(text) => Some(
            TicketState::parse(text).ok_or_else(|| ApiError::BadRequest {
                field: "state".into(),
                message: format!(
                    "state: {text:?} is not one of {}",
                    names(TicketState::ALL.iter().map(|s| s.as_str()))
                ),
            })?,
        ),
    };
    let wanted_disposition = match query.disposition.as_deref() {
        None | Some("") => None,
        Some(text) => Some(
            Disposition::parse(text).ok_or_else(|| ApiError::BadRequest {
                field: "disposition".into(),
                message: format!(
                    "disposition: {text:?} is not one of {}",
                    names(DISPOSITIONS.iter().map(|d| d.as_str()))
                ),
            })?,
        ),
    };
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let keep = |t: &Ticket| {
        wanted_state.is_none_or(|s| t.state == s)
            && wanted_disposition.is_none_or(|d| t.disposition == Some(d))
    };
    if let Some(before) = query.before {
        let page = state
            .engine
            .store()
            .tickets_page(Some(before), limit, usize::MAX, keep)
            .map_err(store_error)?;
        let summaries: Vec<_> = page.items.iter().map(|t| t.summary()).collect();
        return Ok(Json(json!({ "tickets": summaries, "next": page.next })));
    }
    let tickets = state.engine.store().tickets().map_err(store_error)?;
    let matching: Vec<&Ticket> = tickets.iter().rev().filter(|t| keep(t)).collect();
    let summaries: Vec<_> = matching.iter().take(limit).map(|t| t.summary()).collect();
    // The last ticket shown is where the next page starts below.
    let next = (matching.len() > limit)
        .then(|| matching.get(limit - 1))
        .flatten()
        .and_then(|t| t.id.strip_prefix("T-")?.parse::<u64>().ok());
    Ok(Json(json!({
        "tickets": summaries,
        "total": matching.len(),
        "next": next,
    })))
}

/// `GET /v1/tickets/{id}`: the whole ticket (evidence, grouping, triage,
/// label, audit trail).
/// The ticket with, under `memory`, the past fixes relevant to it (the
/// same signature or crash site, or a similar root cause) and what became
/// of them.
pub async fn get_ticket(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let store = state.engine.store();
    let ticket = store
        .ticket(&id)
        .map_err(store_error)?
        .ok_or_else(|| ApiError::NotFound(format!("no ticket {id:?}")))?;
    let memory = suture_actors::domain::memory::relevant(
        &store.past_fixes().map_err(store_error)?,
        &ticket,
        suture_actors::stages::coder::memory::MAX_RELEVANT,
    );
    let mut body = serde_json::to_value(&ticket)
        .map_err(|e| ApiError::Unavailable(format!("the ticket could not be encoded: {e}")))?;
    if let Some(fields) = body.as_object_mut() {
        fields.insert(
            "memory".into(),
            serde_json::to_value(&memory).map_err(|e| {
                ApiError::Unavailable(format!("the ticket could not be encoded: {e}"))
            })?,
        );
    }
    Ok(Json(body))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LabelRequest {
    correct: bool,
    #[serde(default)]
    grouping_correct: Option<bool>,
    #[serde(default)]
    note: Option<String>,
}

/// `POST /v1/tickets/{id}/label {"correct": bool, "grouping_correct"?:
/// bool, "note"?: string}`: an operator's judgement of triage's
/// disposition and, optionally, of the grouping (do these errors share one
/// root cause?). 409 until the ticket has been triaged (there is nothing
/// to judge yet). A second label replaces the first; both stay in the
/// audit trail.
pub async fn label_ticket(
    State(state): State<AppState>,
    Path(id): Path<String>,
    caller: AdminCaller,
    body: Bytes,
) -> Result<Json<Ticket>, ApiError> {
    let request: LabelRequest =
        serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest {
            field: "body".into(),
            message: format!("expected {{\"correct\": true|false, \"grouping_correct\"?: true|false, \"note\"?: \"...\"}}: {e}"),
        })?;
    let note = match request.note {
        Some(note) if !note.trim().is_empty() => {
            Some(bounded_text("note", note.trim().to_string())?)
        }
        _ => None,
    };
    let ticket = state
        .engine
        .label_ticket(
            &id,
            suture_actors::domain::tickets::LabelInput {
                correct: request.correct,
                grouping_correct: request.grouping_correct,
                note,
            },
            &caller.0,
        )
        .await
        .map_err(command_error)?;
    Ok(Json(ticket))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StateRequest {
    state: String,
    reason: String,
}

/// `POST /v1/tickets/{id}/state {"state": "dismissed"|"escalated"|"resolved",
/// "reason": string}`: an operator's move. The reason is required because
/// it is the only record of why a ticket stopped (or jumped) its course.
pub async fn move_ticket(
    State(state): State<AppState>,
    Path(id): Path<String>,
    caller: AdminCaller,
    body: Bytes,
) -> Result<Json<Ticket>, ApiError> {
    let expected =
        "expected {\"state\": \"dismissed\"|\"escalated\"|\"resolved\", \"reason\": \"...\"}";
    let request: StateRequest =
        serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest {
            field: "body".into(),
            message: format!("{expected}: {e}"),
        })?;
    let allowed = names(OPERATOR_STATES.iter().map(|s| s.as_str()));
    let to = TicketState::parse(&request.state)
        .filter(|s| OPERATOR_STATES.contains(s))
        .ok_or_else(|| ApiError::BadRequest {
            field: "state".into(),
            message: format!(
                "state: {:?} is not one of {allowed}; operators may only dismiss, escalate or resolve a ticket (the pipeline and the coding agent make the other moves)",
                request.state
            ),
        })?;
    let reason = request.reason.trim();
    if reason.is_empty() {
        return Err(ApiError::BadRequest {
            field: "reason".into(),
            message: "reason must not be empty: it is the audit trail's record of why".into(),
        });
    }
    let reason = bounded_text("reason", reason.to_string())?;
    let ticket = state
        .engine
        .move_ticket(&id, to, &reason, &caller.0)
        .await
        .map_err(command_error)?;
    Ok(Json(ticket))
}

/// `GET /v1/report`: triage's precision and recall against the labels, and
/// the LLM client's spend.
pub async fn get_report(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let tickets = state.engine.store().tickets().map_err(store_error)?;
    let outcomes = super::outcomes::current(state.engine.store()).map_err(store_error)?;
    Ok(Json(json!({
        "triage": report(&tickets),
        "outcomes": outcomes,
        "llm": state.engine.llm().client.status(),
    })))
}

/// The `tickets` object of `/v1/status`: counts per state and per
/// disposition (every value present, zeros included, so a reader sees the
/// whole set), in one pass over the tickets.
pub fn ticket_counts(tickets: &[Ticket]) -> Value {
    let mut by_state: BTreeMap<&str, u64> =
        TicketState::ALL.iter().map(|s| (s.as_str(), 0)).collect();
    let mut by_disposition: BTreeMap<&str, u64> =
        DISPOSITIONS.iter().map(|d| (d.as_str(), 0)).collect();
    for ticket in tickets {
        *by_state.entry(ticket.state.as_str()).or_default() += 1;
        if let Some(d) = ticket.disposition {
            *by_disposition.entry(d.as_str()).or_default() += 1;
        }
    }
    json!({
        "total": tickets.len(),
        "by_state": by_state,
        "by_disposition": by_disposition,
    })
}

/// `text`, refused when longer than [`MAX_TEXT_CHARS`].
pub(super) fn bounded_text(field: &str, text: String) -> Result<String, ApiError> {
    let chars = text.chars().count();
    if chars > MAX_TEXT_CHARS {
        return Err(ApiError::BadRequest {
            field: field.into(),
            message: format!("{field}: {chars} characters; at most {MAX_TEXT_CHARS} are kept"),
        });
    }
    Ok(text)
}

/// A refused or undelivered operator command as the API answers it.
pub(super) fn command_error(error: CommandError) -> ApiError {
    use suture_actors::stages::coder::review::ReviewError;
    match error {
        CommandError::Ticket(e) => update_error(e),
        CommandError::Engine(e) => ApiError::Unavailable(e.to_string()),
        CommandError::Review(e @ ReviewError::NotFound(_)) => ApiError::NotFound(e.to_string()),
        CommandError::Review(e @ ReviewError::ReasonRequired) => ApiError::BadRequest {
            field: "reason".into(),
            message: e.to_string(),
        },
        CommandError::Review(e @ (ReviewError::Store(_) | ReviewError::Unavailable)) => {
            ApiError::Unavailable(e.to_string())
        }
        CommandError::Review(e @ ReviewError::NotInReview { .. }) => {
            ApiError::Conflict(e.to_string())
        }
    }
}

/// A refused update as the API answers it.
fn update_error(error: TicketUpdateError) -> ApiError {
    match error {
        TicketUpdateError::NotFound(id) => ApiError::NotFound(format!("no ticket {id:?}")),
        TicketUpdateError::Transition(e) => ApiError::Conflict(e.to_string()),
        TicketUpdateError::Refused(message) => ApiError::Conflict(message),
        TicketUpdateError::Store(e) => store_error(e),
    }
}

fn names<'a>(values: impl Iterator<Item = &'a str>) -> String {
    values.collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use suture_actors::domain::tickets::TransitionError;

    use super::*;

    #[test]
    fn refused_updates_map_to_their_status() {
        let status = |e| match update_error(e) {
            ApiError::NotFound(_) => 404,
            ApiError::Conflict(_) => 409,
            ApiError::Unavailable(_) => 503,
            _ => 0,
        };
        assert_eq!(status(TicketUpdateError::NotFound("T-9".into())), 404);
        assert_eq!(
            status(TicketUpdateError::Refused("not triaged".into())),
            409
        );
        let transition = TransitionError {
            id: "T-1".into(),
            from: TicketState::Dismissed,
            to: TicketState::Escalated,
        };
        assert_eq!(status(TicketUpdateError::Transition(transition)), 409);
    }

    #[test]
    fn notes_and_reasons_are_bounded_in_characters_not_bytes() {
        // 2000 two-byte characters are 4000 bytes and still within the limit.
        assert!(bounded_text("note", "é".repeat(MAX_TEXT_CHARS)).is_ok());
        match bounded_text("reason", "x".repeat(MAX_TEXT_CHARS + 1)) {
            Err(ApiError::BadRequest { field, message }) => {
                assert_eq!(field, "reason");
                assert!(message.contains("at most 2000"), "{message}");
            }
            other => panic!("expected a 400, got {other:?}"),
        }
    }

    #[test]
    fn counts_list_every_state_and_disposition() {
        let counts = ticket_counts(&[]);
        assert_eq!(counts["total"], 0);
        assert_eq!(
            counts["by_state"].as_object().map(|m| m.len()),
            Some(TicketState::ALL.len())
        );
        assert_eq!(counts["by_disposition"]["noise"], 0);
    }
}

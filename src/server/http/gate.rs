//! The regression gate's HTTP API: traffic reports (its exposure), a
//! deploy with its judgement, the decisions of every run, and the candidates
//! handed to the analyzer.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{Value, json};
use suture_actors::clock::now_ms;
use suture_actors::store::{GateRun, TrafficRecord};

use super::common::{deploy_json, since_param, store_error};
use super::error::ApiError;
use super::state::AppState;
use crate::wire::time::{format_rfc3339, parse_timestamp};

/// Runs listed by default, newest first.
const DEFAULT_LIMIT: usize = 100;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TrafficRequest {
    requests: u64,
    #[serde(default)]
    at: Option<Value>,
    #[serde(default)]
    release: Option<String>,
}

/// `POST /v1/traffic {requests, at?, release?}`: requests served since the
/// previous report, the regression gate's exposure. 200 once durable.
pub async fn post_traffic(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let request: TrafficRequest =
        serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest {
            field: "body".into(),
            message: format!(
                "expected {{\"requests\": <non-negative integer>, \"at\"?, \"release\"?}}: {e}"
            ),
        })?;
    let at_ms = match &request.at {
        None | Some(Value::Null) => now_ms(),
        Some(value) => parse_timestamp(value).map_err(|problem| ApiError::BadRequest {
            field: "at".into(),
            message: format!("at: {problem}"),
        })?,
    };
    let traffic = TrafficRecord {
        at_ms,
        requests: request.requests,
        release: request.release,
    };
    state
        .engine
        .record_traffic(traffic)
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    Ok(Json(json!({
        "requests": request.requests,
        "at": format_rfc3339(at_ms),
    })))
}

/// `GET /v1/deploys/{id}`: the deploy and, once its window has closed and
/// settled, the gate's run with every decision; before that, when it will be
/// judged.
pub async fn get_deploy(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let store = state.engine.store();
    let deploy = store
        .deploy(&id)
        .map_err(store_error)?
        .ok_or_else(|| ApiError::NotFound(format!("no deploy {id:?}")))?;
    let mut body = deploy_json(&deploy);
    let gate = match store.deploy_run(&id).map_err(store_error)? {
        Some(run) => run_json(&run, false),
        None => {
            let cfg = &state.config.gate;
            // Saturating: a stored time may be anything (written before the
            // edge checked it), and a reader must never panic on it.
            let due = deploy
                .at_ms
                .saturating_add(suture_actors::domain::gate::config::millis(cfg.window))
                .saturating_add(suture_actors::domain::gate::config::millis(cfg.settle));
            let kept_from = now_ms()
                .saturating_sub(suture_actors::domain::gate::config::millis(cfg.runs_kept()));
            let status = if !cfg.enabled {
                "gate_disabled"
            } else if deploy.at_ms < kept_from {
                // Judged once; its run is past gate.decision_retention.
                "run_pruned"
            } else {
                "window_open"
            };
            json!({"status": status, "judged_after": format_rfc3339(due)})
        }
    };
    // The second look (gate.second_look), once it has judged the longer span.
    let second_look = store
        .second_look_run(&id)
        .map_err(store_error)?
        .map(|run| run_json(&run, false));
    if let Value::Object(map) = &mut body {
        map.insert("gate".into(), gate);
        if let Some(second_look) = second_look {
            map.insert("second_look".into(), second_look);
        }
    }
    Ok(Json(body))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionsQuery {
    since: Option<String>,
    /// `all` (default), `flagged`, or one verdict.
    verdict: Option<String>,
    limit: Option<usize>,
}

/// `GET /v1/gate/decisions?since=&verdict=&limit=`: runs newest first, each
/// with its decisions (filtered by verdict when asked).
pub async fn list_decisions(
    State(state): State<AppState>,
    Query(query): Query<DecisionsQuery>,
) -> Result<Json<Value>, ApiError> {
    let since_ms = since_param(query.since.as_deref())?;
    let filter = query.verdict.as_deref().unwrap_or("all");
    if !["all", "flagged", "regression", "new", "spike", "pass"].contains(&filter) {
        return Err(ApiError::BadRequest {
            field: "verdict".into(),
            message: format!(
                "verdict: {filter:?} is not one of all, flagged, regression, new, spike, pass"
            ),
        });
    }
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, 10_000);
    let runs = state
        .engine
        .store()
        .runs_since(since_ms, limit)
        .map_err(store_error)?;
    let runs: Vec<Value> = runs
        .iter()
        .filter_map(|run| {
            let mut run = run.clone();
            run.decisions.retain(|d| match filter {
                "all" => true,
                "flagged" => d.decision.verdict.flagged(),
                verdict => d.decision.verdict.as_str() == verdict,
            });
            (filter == "all" || !run.decisions.is_empty()).then(|| run_json(&run, true))
        })
        .collect();
    Ok(Json(json!({ "runs": runs })))
}

/// `GET /v1/gate/candidates`: signatures that passed the gate, for the analyzer.
pub async fn list_candidates(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let candidates = state.engine.store().candidates().map_err(store_error)?;
    Ok(Json(json!({ "candidates": candidates })))
}

/// A run as the API shows it: times in RFC 3339, the deploy summarised.
fn run_json(run: &GateRun, with_deploy: bool) -> Value {
    let mut value = json!({
        "id": run.id,
        "kind": run.kind,
        "window_start": format_rfc3339(run.window_start_ms),
        "window_minutes": run.window_minutes,
        "baseline_hours": run.baseline_hours,
        "judged_at": format_rfc3339(run.judged_at_ms),
        "traffic_known": run.traffic_known,
        "note": run.note,
        "decisions": run.decisions,
    });
    if let (true, Some(deploy), Value::Object(map)) = (with_deploy, &run.deploy, &mut value) {
        map.insert("deploy".into(), deploy_json(deploy));
    }
    value
}

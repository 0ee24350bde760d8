//! The command line: `suture serve | deploy | replay | dsn | status |
//! report | review | dashboard | ...`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use serde_json::{Value, json};

use crate::config::Config;

#[derive(Debug, Parser)]
#[command(
    name = "suture",
    version,
    about = "A self-healing sidecar: captures exceptions, finds what a deploy broke."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the sidecar (HTTP and UDP listeners, the actor tree, the store).
    Serve {
        /// Configuration file; when not given, ./config.toml if present, else built-in defaults.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Tell a running sidecar that a deploy happened.
    Deploy {
        /// The deployed revision (a commit SHA or a version).
        #[arg(long)]
        revision: String,
        #[arg(long)]
        environment: Option<String>,
        /// When it happened (RFC 3339); default now.
        #[arg(long)]
        at: Option<String>,
        /// The sidecar's base URL.
        #[arg(long, default_value = DEFAULT_URL, env = "SUTURE_URL")]
        url: String,
    },
    /// Run the regression gate over a recorded stream (JSON lines) in
    /// simulated time, with a temporary store, and print what it flags.
    Replay {
        /// The stream: one JSON object per line (`-` for stdin).
        file: PathBuf,
        /// Configuration file (its [gate], [queue] and [signature] apply);
        /// when not given, ./config.toml if present, else built-in defaults.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Print one JSON document instead of text.
        #[arg(long)]
        json: bool,
        /// Text output: also list every signature judged and not flagged,
        /// with the gate's reason.
        #[arg(long)]
        explain: bool,
    },
    /// Print the DSN to paste into a Sentry SDK, from the configuration.
    Dsn {
        /// The project's id (default: the first project in the configuration).
        #[arg(long)]
        project: Option<u64>,
        /// Configuration file; when not given, ./config.toml if present, else built-in defaults.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Print a running sidecar's state.
    Status {
        #[arg(long, default_value = DEFAULT_URL, env = "SUTURE_URL")]
        url: String,
        /// Print the raw JSON.
        #[arg(long)]
        json: bool,
    },
    /// The review queue: list the fixes waiting for a person, show one,
    /// approve it (pushed and opened as a draft pull request when GitHub is
    /// configured and shadow mode is off) or reject it with a reason.
    Review {
        /// The ticket whose fix to show (or decide on); none lists the queue.
        ticket: Option<String>,
        #[arg(long, conflicts_with = "reject", requires = "ticket")]
        approve: bool,
        /// Reject the fix, saying why (recorded on the ticket).
        #[arg(long, value_name = "REASON", requires = "ticket")]
        reject: Option<String>,
        #[arg(long, default_value = DEFAULT_URL, env = "SUTURE_URL")]
        url: String,
        /// Print the raw JSON.
        #[arg(long)]
        json: bool,
    },
    /// The kill switch: `on --reason "..."` stops every agent, LLM call and
    /// action outside the sidecar at once (capture and tickets go on);
    /// `off` resumes; `status` shows it.
    KillSwitch {
        #[arg(value_enum)]
        action: KillSwitchAction,
        /// Why (required for `on`).
        #[arg(long)]
        reason: Option<String>,
        #[arg(long, default_value = DEFAULT_URL, env = "SUTURE_URL")]
        url: String,
    },
    /// The autonomy level: `status`, or `set <observe|suggest|pr|deploy>
    /// --reason "..."`.
    Autonomy {
        #[arg(value_enum)]
        action: AutonomyAction,
        /// The level for `set`.
        level: Option<String>,
        /// Why (required for `set`).
        #[arg(long)]
        reason: Option<String>,
        #[arg(long, default_value = DEFAULT_URL, env = "SUTURE_URL")]
        url: String,
    },
    /// The audit log: every decision and action, oldest first. `--follow`
    /// keeps printing new entries; `--jsonl` prints one JSON object a line.
    Audit {
        /// Only entries after this seq (the last one seen).
        #[arg(long, default_value_t = 0)]
        since: u64,
        /// Only entries about this ticket.
        #[arg(long)]
        ticket: Option<String>,
        /// Only entries of this kind or under it (`admin`, `agent.tool_call`).
        #[arg(long)]
        kind: Option<String>,
        /// Entries per request.
        #[arg(long, default_value_t = 200)]
        limit: usize,
        #[arg(long)]
        follow: bool,
        #[arg(long)]
        jsonl: bool,
        #[arg(long, default_value = DEFAULT_URL, env = "SUTURE_URL")]
        url: String,
    },
    /// Print a one-time login link for the dashboard (valid two minutes,
    /// single use), asked of the running sidecar with the admin token.
    Dashboard {
        #[arg(long, default_value = DEFAULT_URL, env = "SUTURE_URL")]
        url: String,
    },
    /// Print how good triage has been against operators' labels, the
    /// tickets per state and disposition, and what the LLM has cost.
    Report {
        #[arg(long, default_value = DEFAULT_URL, env = "SUTURE_URL")]
        url: String,
        /// Print the raw JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print what each store tree holds (entries and bytes, largest
    /// first): where a growing store's space goes. Scans the whole store.
    StoreStats {
        #[arg(long, default_value = DEFAULT_URL, env = "SUTURE_URL")]
        url: String,
        /// Print the raw JSON.
        #[arg(long)]
        json: bool,
    },
}

const DEFAULT_URL: &str = "http://127.0.0.1:8787";

/// `suture autonomy status|set`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AutonomyAction {
    Status,
    Set,
}

/// `suture kill-switch on|off|status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KillSwitchAction {
    On,
    Off,
    Status,
}

/// Runs one command to completion.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve { config } => serve(config).await,
        Command::Dsn { project, config } => {
            let (config, _) = load_config(config)?;
            println!("{}", dsn(&config, project)?);
            Ok(())
        }
        Command::Deploy {
            revision,
            environment,
            at,
            url,
        } => {
            let body = json!({ "revision": revision, "environment": environment, "at": at });
            let reply =
                crate::client::request("POST", &endpoint(&url, "/v1/deploys"), Some(&body)).await?;
            println!(
                "deploy {} recorded at {} (id {})",
                reply["revision"].as_str().unwrap_or("?"),
                reply["at"].as_str().unwrap_or("?"),
                reply["id"].as_str().unwrap_or("?")
            );
            Ok(())
        }
        Command::Replay {
            file,
            config,
            json,
            explain,
        } => {
            let (config, _) = load_config(config)?;
            let report =
                tokio::task::spawn_blocking(move || crate::replay::replay_path(&file, &config))
                    .await??;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", crate::replay::render(&report, explain));
            }
            Ok(())
        }
        Command::Status { url, json } => {
            let status = crate::client::request("GET", &endpoint(&url, "/v1/status"), None).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                print!("{}", render_status(&status));
            }
            Ok(())
        }
        Command::Review {
            ticket,
            approve,
            reject,
            url,
            json,
        } => {
            use crate::review::ReviewAction;
            let action = match (ticket, approve, reject) {
                (None, _, _) => ReviewAction::List,
                (Some(ticket), true, _) => ReviewAction::Approve(ticket),
                (Some(ticket), false, Some(reason)) => ReviewAction::Reject { ticket, reason },
                (Some(ticket), false, None) => ReviewAction::Show(ticket),
            };
            crate::review::run(&url, action, json).await
        }
        Command::Autonomy {
            action,
            level,
            reason,
            url,
        } => {
            let target = endpoint(&url, "/v1/admin/autonomy");
            let reply = match (action, level) {
                (AutonomyAction::Status, _) => crate::client::request("GET", &target, None).await?,
                (AutonomyAction::Set, None) => {
                    anyhow::bail!(
                        "which level? suture autonomy set <observe|suggest|pr|deploy> --reason \"...\""
                    )
                }
                (AutonomyAction::Set, Some(level)) => {
                    let body = json!({"level": level, "reason": reason.unwrap_or_default()});
                    crate::client::request("POST", &target, Some(&body)).await?
                }
            };
            println!("{}", serde_json::to_string_pretty(&reply)?);
            Ok(())
        }
        Command::Dashboard { url } => {
            let reply = crate::client::request(
                "POST",
                &endpoint(&url, "/v1/admin/dashboard/login-code"),
                None,
            )
            .await?;
            let path = reply["path"].as_str().ok_or_else(|| {
                anyhow::anyhow!("the sidecar answered without a login path: {reply}")
            })?;
            println!("{}", endpoint(&url, path));
            eprintln!(
                "open it within {}s; it works once and logs the browser in as {:?}",
                reply["expires_in_seconds"].as_u64().unwrap_or(0),
                reply["name"].as_str().unwrap_or("?")
            );
            Ok(())
        }
        Command::KillSwitch {
            action,
            reason,
            url,
        } => {
            let target = endpoint(&url, "/v1/admin/kill-switch");
            let reply = match action {
                KillSwitchAction::Status => crate::client::request("GET", &target, None).await?,
                KillSwitchAction::On | KillSwitchAction::Off => {
                    let engaged = action == KillSwitchAction::On;
                    if engaged && reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
                        anyhow::bail!(
                            "a reason is required: suture kill-switch on --reason \"...\""
                        );
                    }
                    let body = json!({"engaged": engaged, "reason": reason.unwrap_or_default()});
                    crate::client::request("POST", &target, Some(&body)).await?
                }
            };
            print!("{}", render_kill_switch(&reply));
            Ok(())
        }
        Command::Audit {
            since,
            ticket,
            kind,
            limit,
            follow,
            jsonl,
            url,
        } => {
            let args = crate::audit::AuditArgs {
                since,
                ticket,
                kind,
                limit: limit.clamp(1, 5_000),
                follow,
                jsonl,
            };
            crate::audit::run(&url, args).await
        }
        Command::StoreStats { url, json } => {
            let stats =
                crate::client::request("GET", &endpoint(&url, "/v1/admin/store"), None).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&stats)?);
            } else {
                print!("{}", render_store_stats(&stats));
            }
            Ok(())
        }
        Command::Report { url, json } => {
            let report = crate::client::request("GET", &endpoint(&url, "/v1/report"), None).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", render_report(&report));
            }
            Ok(())
        }
    }
}

/// Loads `--config`, or `./config.toml` when present, else the defaults.
fn load_config(path: Option<PathBuf>) -> anyhow::Result<(Config, PathBuf)> {
    let (path, required) = match path {
        Some(path) => (path, true),
        None => (PathBuf::from("config.toml"), false),
    };
    Ok((Config::load(&path, required)?, path))
}

/// `http://<key>@<server.http_addr>/<project id>`. An unspecified bind
/// address (`0.0.0.0`) is printed as loopback, which is where a sidecar's
/// own service reaches it.
pub fn dsn(config: &Config, project: Option<u64>) -> anyhow::Result<String> {
    let chosen = match project {
        Some(id) => config.projects.iter().find(|p| p.id == id),
        None => config.projects.first(),
    };
    let Some(chosen) = chosen else {
        let known: Vec<String> = config.projects.iter().map(|p| p.id.to_string()).collect();
        anyhow::bail!(
            "no project {} in the configuration (projects: {})",
            project.map_or("at all".to_string(), |id| id.to_string()),
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        );
    };
    let key = chosen
        .keys
        .first()
        .ok_or_else(|| anyhow::anyhow!("project {} has no keys", chosen.id))?;
    let mut addr = config.server.http_addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    Ok(format!("http://{key}@{addr}/{}", chosen.id))
}

async fn serve(path: Option<PathBuf>) -> anyhow::Result<()> {
    let (config, path) = load_config(path)?;
    crate::telemetry::init_logging(&config.log);
    if !path.exists() {
        tracing::info!("no {} found; using built-in defaults", path.display());
    }
    let running = crate::server::start(config).await?;
    running.run_until_signal().await
}

fn endpoint(base: &str, path: &str) -> String {
    format!("{}{path}", base.trim_end_matches('/'))
}

/// The kill switch in one line.
pub fn render_kill_switch(switch: &Value) -> String {
    let since = switch["at_ms"]
        .as_i64()
        .filter(|at| *at > 0)
        .map(crate::wire::time::format_rfc3339)
        .unwrap_or_else(|| "-".into());
    if switch["engaged"] == Value::Bool(true) {
        format!(
            "kill switch ENGAGED since {since} by {}: {}\n",
            text(&switch["by"]),
            text(&switch["reason"])
        )
    } else {
        format!("kill switch off (last change {since})\n")
    }
}

/// The human form of `GET /v1/status`.
pub fn render_status(status: &Value) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "suture {}  up {}s  ready: {}\n",
        text(&status["version"]),
        text(&status["uptime_seconds"]),
        text(&status["ready"])
    ));
    out.push_str(&format!(
        "events     accepted {}  rejected {}\n",
        text(&status["events"]["accepted"]),
        text(&status["events"]["rejected"])
    ));
    out.push_str(&format!("signatures {}\n", text(&status["signatures"])));
    out.push_str(&format!(
        "ingest     queue {}/{}\n",
        text(&status["ingest"]["queue_depth"]),
        text(&status["ingest"]["queue_capacity"])
    ));
    let queue = &status["queue"];
    out.push_str(&format!(
        "queue      pending {} signatures, due in {} ms, {} batches handed on since start\n",
        text(&queue["pending_signatures"]),
        text(&queue["due_in_ms"]),
        text(&queue["batches_handed"])
    ));
    let batch = &status["last_batch"];
    if batch.is_null() {
        out.push_str("last batch none yet\n");
    } else {
        let entries = batch["entries"].as_array().map_or(0, Vec::len);
        out.push_str(&format!(
            "last batch #{} ({}), {} signatures, at {}\n",
            text(&batch["seq"]),
            text(&batch["reason"]),
            entries,
            batch["handed_at_ms"]
                .as_i64()
                .map(crate::wire::time::format_rfc3339)
                .unwrap_or_default()
        ));
    }
    let gate = &status["gate"];
    if gate["enabled"] == Value::Bool(false) {
        out.push_str("gate       disabled\n");
    } else if !gate.is_null() {
        out.push_str(&format!(
            "gate       {} runs, {} candidates since start, last tick {}{}\n",
            text(&gate["runs"]),
            text(&gate["candidates"]),
            gate["last_tick_ms"]
                .as_i64()
                .map(crate::wire::time::format_rfc3339)
                .unwrap_or_else(|| "-".into()),
            gate["last_error"]
                .as_str()
                .map(|e| format!(", last error: {e}"))
                .unwrap_or_default()
        ));
    }
    if let Some(analyzer) = status.get("analyzer") {
        out.push_str(&render_analyzer(analyzer));
    }
    if let Some(triage) = status.get("triage") {
        out.push_str(&render_triage(triage));
    }
    if let Some(tickets) = status.get("tickets") {
        out.push_str(&format!("tickets    {}\n", ticket_counts(tickets)));
    }
    if let Some(coder) = status.get("coder") {
        out.push_str(&render_coder(coder));
    }
    out.push_str(&llm_line(&status["llm"]));
    if status["kill_switch"]["engaged"] == Value::Bool(true) {
        out.push_str(&render_kill_switch(&status["kill_switch"]));
    }
    if let Some(restarts) = status["supervision"]["restarts"]
        .as_object()
        .filter(|r| !r.is_empty())
    {
        let list: Vec<String> = restarts.iter().map(|(k, v)| format!("{k} {v}")).collect();
        out.push_str(&format!("restarts   {}\n", list.join(", ")));
    }
    out
}

/// A JSON value as one word: strings bare, null as `-`.
fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Epoch milliseconds as RFC 3339, `-` when absent.
fn time(v: &Value) -> String {
    v.as_i64()
        .map(crate::wire::time::format_rfc3339)
        .unwrap_or_else(|| "-".into())
}

/// The analyzer's line of `suture status` (null: restarting).
fn render_analyzer(analyzer: &Value) -> String {
    if analyzer.is_null() {
        return "analyzer   restarting\n".to_string();
    }
    let method = match (
        analyzer["last_method"].as_str(),
        analyzer["last_fallback_reason"].as_str(),
    ) {
        (Some(m), Some(why)) => format!(" by {m} ({why})"),
        (Some(m), None) => format!(" by {m}"),
        (None, _) => String::new(),
    };
    format!(
        "analyzer   {} batches, {} tickets opened, {} grown, last batch {}{method}{}\n",
        text(&analyzer["batches"]),
        text(&analyzer["tickets_created"]),
        text(&analyzer["tickets_grown"]),
        time(&analyzer["last_batch_ms"]),
        last_error(&analyzer["last_error"]),
    )
}

/// Triage's line of `suture status` (null: restarting).
/// The coding agent's line: running attempts, the queue, outcomes.
fn render_coder(coder: &Value) -> String {
    if coder["enabled"] == Value::Bool(false) {
        return format!("coder      off: {}\n", text(&coder["disabled_reason"]));
    }
    let running: Vec<String> = coder["running"]
        .as_array()
        .map(|r| {
            r.iter()
                .map(|a| format!("{}#{}", text(&a["ticket"]), text(&a["attempt"])))
                .collect()
        })
        .unwrap_or_default();
    format!(
        "coder      {} running{} of {}, {} queued; {} fixed, {} failed since start{}\n",
        running.len(),
        if running.is_empty() {
            String::new()
        } else {
            format!(" ({})", running.join(", "))
        },
        text(&coder["max_concurrent"]),
        text(&coder["queued"]),
        text(&coder["fixed"]),
        text(&coder["failed"]),
        last_error(&coder["last_error"])
    )
}

fn render_triage(triage: &Value) -> String {
    if triage.is_null() {
        return "triage     restarting\n".to_string();
    }
    let mode = match (
        triage["shadow"].as_bool() == Some(true),
        triage["github"].as_bool() == Some(true),
    ) {
        (true, _) => "shadow mode",
        (false, true) => "publishing to GitHub",
        (false, false) => "no GitHub configured",
    };
    format!(
        "triage     {} triaged, {} published, {mode}, last pass {}{}\n",
        text(&triage["triaged"]),
        text(&triage["published"]),
        time(&triage["last_pass_ms"]),
        last_error(&triage["last_error"]),
    )
}

fn last_error(error: &Value) -> String {
    error
        .as_str()
        .map(|e| format!(", last error: {e}"))
        .unwrap_or_default()
}

/// Ticket states in the order a ticket lives them, for listing counts.
const STATE_ORDER: [&str; 9] = [
    "open",
    "triaged",
    "fixing",
    "review",
    "pr_open",
    "verifying",
    "resolved",
    "escalated",
    "dismissed",
];
const DISPOSITION_ORDER: [&str; 3] = ["fix_candidate", "external", "noise"];

/// The non-zero counts of a `{name: count}` object, in `order` (names not
/// in it after, as they come): `triaged 2, dismissed 1`.
fn nonzero_counts(map: &Value, order: &[&str]) -> String {
    let Some(map) = map.as_object() else {
        return "-".to_string();
    };
    let mut names: Vec<&str> = order
        .iter()
        .copied()
        .filter(|n| map.contains_key(*n))
        .collect();
    names.extend(
        map.keys()
            .map(String::as_str)
            .filter(|k| !order.contains(k)),
    );
    let parts: Vec<String> = names
        .into_iter()
        .filter_map(|n| match map.get(n).and_then(Value::as_u64) {
            Some(0) | None => None,
            Some(count) => Some(format!("{n} {count}")),
        })
        .collect();
    if parts.is_empty() {
        "none".to_string()
    } else {
        parts.join(", ")
    }
}

/// `/v1/status`'s `tickets` object in one line.
fn ticket_counts(tickets: &Value) -> String {
    match tickets["total"].as_u64() {
        Some(0) => "none yet".to_string(),
        _ => format!(
            "{} ({}; {})",
            text(&tickets["total"]),
            nonzero_counts(&tickets["by_state"], &STATE_ORDER),
            nonzero_counts(&tickets["by_disposition"], &DISPOSITION_ORDER)
        ),
    }
}

/// The LLM client's line: model, breaker, calls, tokens and budgets.
fn llm_line(llm: &Value) -> String {
    if llm["configured"].as_bool() == Some(true) {
        let budget = &llm["budget"];
        let usd = |v: &Value| format!("${:.2}", v.as_f64().unwrap_or(0.0));
        let mut line = format!(
            "llm        {} breaker {}, {} calls, {} tokens, {}; this hour {}/{}, today {}/{}, this month {}/{} tokens; {}/{}/{} spent this hour/day/month\n",
            text(&llm["model"]),
            text(&llm["breaker"]),
            text(&llm["calls"]),
            text(&llm["tokens"]),
            usd(&llm["cost_usd"]),
            text(&budget["hour_spent"]),
            text(&budget["hour_limit"]),
            text(&budget["day_spent"]),
            text(&budget["day_limit"]),
            text(&budget["month_spent"]),
            text(&budget["month_limit"]),
            usd(&budget["hour_usd"]),
            usd(&budget["day_usd"]),
            usd(&budget["month_usd"]),
        );
        if let Some(over) = budget["exhausted"].as_str() {
            line.push_str(&format!(
                "           {over}: no LLM call, no new agent attempt\n"
            ));
        }
        line
    } else if !llm.is_null() {
        "llm        not configured (deterministic grouping and triage)\n".to_string()
    } else {
        String::new()
    }
}

/// Below this many labels the report warns that its ratios are anecdotes:
/// with 20 labels one wrong call still moves precision by five points.
const MIN_MEANINGFUL_LABELS: u64 = 20;

/// The human form of `GET /v1/report`.
/// `suture store-stats` as text: one line a tree.
pub fn render_store_stats(stats: &Value) -> String {
    let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
    let mut out = format!(
        "store on disk: {:.1} MiB\n{:<24} {:>10} {:>12}\n",
        mib(stats["size_on_disk"].as_u64().unwrap_or(0)),
        "tree",
        "entries",
        "bytes"
    );
    for tree in stats["trees"].as_array().into_iter().flatten() {
        let bytes =
            tree["key_bytes"].as_u64().unwrap_or(0) + tree["value_bytes"].as_u64().unwrap_or(0);
        out.push_str(&format!(
            "{:<24} {:>10} {:>12}\n",
            tree["name"].as_str().unwrap_or("?"),
            tree["entries"].as_u64().unwrap_or(0),
            bytes
        ));
    }
    out
}

pub fn render_report(report: &Value) -> String {
    let triage = &report["triage"];
    let mut out = String::new();
    out.push_str(&format!(
        "tickets    {} ({}; {})\n",
        text(&triage["tickets"]),
        nonzero_counts(&triage["by_state"], &STATE_ORDER),
        nonzero_counts(&triage["by_disposition"], &DISPOSITION_ORDER)
    ));
    let overall = &triage["overall"];
    out.push_str(&format!(
        "labels     {} triaged, {} labeled, {} unlabeled\n",
        text(&triage["triaged"]),
        text(&overall["labeled"]),
        text(&triage["unlabeled"])
    ));
    out.push_str("\ntriage against the labels (positive = fix_candidate)\n");
    out.push_str(&format!(
        "  {:<14} {:>9} {:>6} {:>4} {:>4} {:>4} {:>4} {:>7}\n",
        "", "precision", "recall", "TP", "FP", "FN", "TN", "labeled"
    ));
    out.push_str(&score_row("overall", overall));
    if let Some(methods) = triage["by_method"].as_object() {
        for (method, scores) in methods {
            out.push_str(&score_row(method, scores));
        }
    }
    let labeled = overall["labeled"].as_u64().unwrap_or(0);
    if labeled < MIN_MEANINGFUL_LABELS {
        out.push_str(&format!(
            "warning: only {labeled} labeled ticket(s); below {MIN_MEANINGFUL_LABELS} these ratios are anecdotes, not rates (label with POST /v1/tickets/{{id}}/label)\n"
        ));
    }
    out.push('\n');
    out.push_str(&outcomes_section(&report["outcomes"]));
    out.push_str(&llm_line(&report["llm"]));
    out.push_str(&format!(
        "tokens     {} recorded on tickets\n",
        text(&triage["ticket_tokens"])
    ));
    out
}

/// The design's metrics: fixes, time to resolution, accuracy, cost.
fn outcomes_section(o: &Value) -> String {
    if o.is_null() {
        return String::new();
    }
    let share = |v: &Value| match v["ratio"].as_f64() {
        Some(r) => format!(
            "{:.0}% ({} of {})",
            r * 100.0,
            text(&v["count"]),
            text(&v["of"])
        ),
        None => "n/a (none yet)".to_string(),
    };
    let fixes = &o["fixes"];
    let mut out = format!(
        "fixes      {} attempts, {} proven, {} merged, {} verified, {} failed in production, {} regressed; success rate {}\n",
        text(&fixes["attempts"]),
        text(&fixes["proven"]),
        text(&fixes["merged"]),
        text(&fixes["verified"]),
        text(&fixes["failed_in_production"]),
        text(&fixes["regressions"]),
        fixes["success_rate"]
            .as_f64()
            .map_or_else(|| "n/a".to_string(), |r| format!("{:.0}%", r * 100.0))
    );
    if let Some(stages) = o["time_to_resolution"].as_object() {
        for (stage, d) in stages {
            let at = |v: &Value| {
                v.as_i64().map_or_else(
                    || "n/a".to_string(),
                    |ms| {
                        humantime::format_duration(std::time::Duration::from_secs(
                            u64::try_from(ms / 1000).unwrap_or(0),
                        ))
                        .to_string()
                    },
                )
            };
            out.push_str(&format!(
                "  {:<24} median {}, p90 {} ({} tickets)\n",
                stage.replace('_', " "),
                at(&d["median_ms"]),
                at(&d["p90_ms"]),
                text(&d["count"])
            ));
        }
    }
    out.push_str(&format!(
        "grouping   {} right (operator labels)\nfalse pos. {} of triaged tickets\nauto-merge {} of merged fixes\n",
        share(&o["deduplication_accuracy"]),
        share(&o["false_positives"]),
        share(&o["auto_deploys"])
    ));
    let cost = &o["cost"];
    let per = |v: &Value, dollars: bool| match v.as_f64() {
        Some(x) if dollars => format!("${x:.2}"),
        Some(x) => format!("{x:.0}"),
        None => "n/a".to_string(),
    };
    out.push_str(&format!(
        "cost       {} tokens, agent ${:.2}; per ticket {} tokens / {}; per merged PR {} tokens / {}\n",
        text(&cost["tokens"]),
        cost["agent_usd"].as_f64().unwrap_or(0.0),
        per(&cost["tokens_per_ticket"], false),
        per(&cost["usd_per_ticket"], true),
        per(&cost["tokens_per_merged_pr"], false),
        per(&cost["usd_per_merged_pr"], true)
    ));
    if let Some(days) = o["volume"]["daily"].as_array()
        && !days.is_empty()
    {
        let counts: Vec<String> = days.iter().map(|d| text(&d[1])).collect();
        out.push_str(&format!(
            "volume     events per day, last {} days with events: {}\n",
            days.len(),
            counts.join(" ")
        ));
    }
    out.push('\n');
    out
}

/// One row of the precision/recall table.
fn score_row(name: &str, scores: &Value) -> String {
    let ratio = |v: &Value| {
        v.as_f64()
            .map_or_else(|| "n/a".to_string(), |r| format!("{r:.2}"))
    };
    format!(
        "  {:<14} {:>9} {:>6} {:>4} {:>4} {:>4} {:>4} {:>7}\n",
        name,
        ratio(&scores["precision"]),
        ratio(&scores["recall"]),
        text(&scores["true_positives"]),
        text(&scores["false_positives"]),
        text(&scores["false_negatives"]),
        text(&scores["true_negatives"]),
        text(&scores["labeled"])
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ProjectConfig;

    #[test]
    fn status_shows_the_gate() {
        let status = serde_json::json!({
            "gate": {"enabled": true, "runs": 2, "candidates": 1, "last_tick_ms": 0, "last_error": null}
        });
        let text = render_status(&status);
        assert!(
            text.contains(
                "gate       2 runs, 1 candidates since start, last tick 1970-01-01T00:00:00.000Z\n"
            ),
            "{text}"
        );
        let off = render_status(&serde_json::json!({"gate": {"enabled": false}}));
        assert!(off.contains("gate       disabled"), "{off}");
    }

    #[test]
    fn status_shows_the_ticket_stages() {
        let status = serde_json::json!({
            "analyzer": {"running": false, "last_batch_ms": 0, "batches": 2,
                "tickets_created": 3, "tickets_grown": 1, "last_method": "deterministic",
                "last_fallback_reason": "no LLM configured", "last_error": null},
            "triage": {"running": false, "shadow": true, "github": false, "last_pass_ms": 0,
                "triaged": 3, "published": 0, "last_error": "T-2: boom"},
            "tickets": {"total": 3,
                "by_state": {"dismissed": 1, "open": 0, "triaged": 2},
                "by_disposition": {"external": 2, "fix_candidate": 1, "noise": 0}},
        });
        let text = render_status(&status);
        assert!(
            text.contains(
                "analyzer   2 batches, 3 tickets opened, 1 grown, last batch 1970-01-01T00:00:00.000Z by deterministic (no LLM configured)\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "triage     3 triaged, 0 published, shadow mode, last pass 1970-01-01T00:00:00.000Z, last error: T-2: boom\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("tickets    3 (triaged 2, dismissed 1; fix_candidate 1, external 2)\n"),
            "{text}"
        );
        let restarting = render_status(&serde_json::json!({
            "analyzer": null, "triage": null, "tickets": {"total": 0}
        }));
        assert!(
            restarting.contains("analyzer   restarting\n"),
            "{restarting}"
        );
        assert!(
            restarting.contains("triage     restarting\n"),
            "{restarting}"
        );
        assert!(restarting.contains("tickets    none yet\n"), "{restarting}");
        // An older server without these keys: no lines, no noise.
        let old = render_status(&serde_json::json!({}));
        assert!(
            !old.contains("analyzer") && !old.contains("tickets"),
            "{old}"
        );
    }

    #[test]
    fn report_shows_scores_counts_and_spend() {
        let scores = |labeled, tp, fp, fnn, tn, p: Option<f64>, r: Option<f64>| {
            serde_json::json!({"labeled": labeled, "true_positives": tp, "false_positives": fp,
                "false_negatives": fnn, "true_negatives": tn, "precision": p, "recall": r})
        };
        let report = serde_json::json!({
            "triage": {
                "tickets": 4, "triaged": 3, "unlabeled": 1,
                "by_state": {"open": 1, "triaged": 2, "dismissed": 1},
                "by_disposition": {"external": 2, "fix_candidate": 1},
                "overall": scores(2, 1, 0, 1, 0, Some(1.0), Some(0.5)),
                "by_method": {
                    "deterministic": scores(1, 0, 0, 1, 0, None, Some(0.0)),
                    "llm": scores(1, 1, 0, 0, 0, Some(1.0), Some(1.0)),
                },
                "ticket_tokens": 900,
            },
            "llm": {"configured": true, "model": "m1", "breaker": "closed", "calls": 4,
                "tokens": 1200, "cost_usd": 0.0123, "budget": {"hour_spent": 1200, "hour_limit": 50000,
                "day_spent": 1200, "day_limit": 500000, "month_spent": 1200, "month_limit": 0,
                "hour_usd": 0.0123, "day_usd": 0.0123, "month_usd": 2.5,
                "exhausted": "over the monthly cost budget ($2.50 of $2.50 spent)"}},
        });
        let text = render_report(&report);
        for line in [
            "tickets    4 (open 1, triaged 2, dismissed 1; fix_candidate 1, external 2)\n",
            "labels     3 triaged, 2 labeled, 1 unlabeled\n",
            "  overall             1.00   0.50    1    0    1    0       2\n",
            "  deterministic        n/a   0.00    0    0    1    0       1\n",
            "  llm                 1.00   1.00    1    0    0    0       1\n",
            "warning: only 2 labeled ticket(s); below 20",
            "llm        m1 breaker closed, 4 calls, 1200 tokens, $0.01; this hour 1200/50000, today 1200/500000, this month 1200/0 tokens; $0.01/$0.01/$2.50 spent this hour/day/month\n",
            "over the monthly cost budget ($2.50 of $2.50 spent): no LLM call, no new agent attempt\n",
            "tokens     900 recorded on tickets\n",
        ] {
            assert!(text.contains(line), "missing {line:?} in:\n{text}");
        }
        let mut many = report.clone();
        many["triage"]["overall"]["labeled"] = serde_json::json!(20);
        many["llm"] = serde_json::json!({"configured": false});
        let text = render_report(&many);
        assert!(!text.contains("warning"), "{text}");
        assert!(text.contains("llm        not configured"), "{text}");
    }

    #[test]
    fn report_shows_the_design_metrics() {
        let report = serde_json::json!({
            "triage": {"tickets": 2, "overall": {}},
            "outcomes": {
                "volume": {"hourly": [[0, 3]], "daily": [[0, 40], [86_400_000, 12]]},
                "deduplication_accuracy": {"of": 4, "count": 3, "ratio": 0.75},
                "fixes": {"attempts": 5, "proven": 3, "pull_requests": 3, "merged": 2,
                    "verified": 1, "failed_in_production": 1, "regressions": 0, "success_rate": 0.2},
                "time_to_resolution": {"first_seen_to_verified": {"count": 1,
                    "median_ms": 5_400_000, "p90_ms": 7_200_000}},
                "auto_deploys": {"of": 2, "count": 0, "ratio": 0.0},
                "false_positives": {"of": 0, "count": 0, "ratio": null},
                "cost": {"tokens": 9000, "agent_usd": 1.5, "tokens_per_ticket": 4500.0,
                    "usd_per_ticket": 0.75, "tokens_per_merged_pr": null, "usd_per_merged_pr": null}
            },
            "llm": {"configured": false},
        });
        let text = render_report(&report);
        for line in [
            "fixes      5 attempts, 3 proven, 2 merged, 1 verified, 1 failed in production, 0 regressed; success rate 20%\n",
            "  first seen to verified   median 1h 30m, p90 2h (1 tickets)\n",
            "grouping   75% (3 of 4) right (operator labels)\n",
            "false pos. n/a (none yet) of triaged tickets\n",
            "auto-merge 0% (0 of 2) of merged fixes\n",
            "cost       9000 tokens, agent $1.50; per ticket 4500 tokens / $0.75; per merged PR n/a tokens / n/a\n",
            "volume     events per day, last 2 days with events: 40 12\n",
        ] {
            assert!(text.contains(line), "missing {line:?} in:\n{text}");
        }
    }

    #[test]
    fn dsn_from_the_configuration() {
        let mut config = Config::default();
        assert_eq!(
            dsn(&config, None).expect("default project"),
            "http://5e17c0de5e17c0de5e17c0de5e17c0de@127.0.0.1:8787/1"
        );
        config.server.http_addr = "0.0.0.0:9000".parse().expect("addr");
        config.projects.push(ProjectConfig {
            id: 7,
            name: "web".into(),
            keys: vec!["abc".into()],
        });
        assert_eq!(
            dsn(&config, Some(7)).expect("project 7"),
            "http://abc@127.0.0.1:9000/7"
        );
        let error = dsn(&config, Some(9)).expect_err("no project 9").to_string();
        assert!(error.contains("projects: 1, 7"), "{error}");
    }
}

//! The command line: `suture serve | deploy | status | dsn`.

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
}

const DEFAULT_URL: &str = "http://127.0.0.1:8787";

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

/// The human form of `GET /v1/status`.
pub fn render_status(status: &Value) -> String {
    let text = |v: &Value| match v {
        Value::Null => "-".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
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
    let llm = &status["llm"];
    if llm["configured"].as_bool() == Some(true) {
        let budget = &llm["budget"];
        out.push_str(&format!(
            "llm        {} breaker {}, {} calls, {} tokens; this hour {}/{}, today {}/{}\n",
            text(&llm["model"]),
            text(&llm["breaker"]),
            text(&llm["calls"]),
            text(&llm["tokens"]),
            text(&budget["hour_spent"]),
            text(&budget["hour_limit"]),
            text(&budget["day_spent"]),
            text(&budget["day_limit"])
        ));
    } else if !llm.is_null() {
        out.push_str("llm        not configured (deterministic grouping and triage)\n");
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

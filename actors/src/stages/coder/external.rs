//! One run of an external coding agent (`agent.command`: Aider, a wrapper
//! script, any CLI that edits files in a directory and exits).
//!
//! The contract (docs/coder.md, "External agents"):
//!
//! - the command is an argv template ([`template`]): `{workdir}` is the
//!   attempt's worktree (also the working directory), `{task_file}` a
//!   Markdown file describing the task, written under the run's scratch
//!   folder, never in the worktree;
//! - it runs contained ([`crate::runtime::sandbox`]): stdin closed, its own
//!   process group killed at its end and at `agent.timeout`, output bounded,
//!   `agent.network`;
//! - its environment is built here and is all it gets: [`base_env`] with
//!   `HOME` in the scratch folder, `agent.env`, `SUTURE_TICKET`,
//!   `SUTURE_TASK_FILE`, and the LLM endpoint only when the caller passes
//!   one (`agent.pass_llm_env`). The GitHub and admin tokens never reach an
//!   agent;
//! - the exit is reported, not judged: a non-zero exit or a timeout is the
//!   caller's failed attempt, and an exit 0 proves nothing (Aider exits 0
//!   when its edits did not apply). The caller takes the worktree's diff
//!   and runs the tests.

mod template;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::domain::coder::config::{AgentConfig, NetworkPolicy};
use crate::runtime::sandbox::{self, Contained, ContainedOutcome, Network, SandboxError, base_env};

/// Variables Suture sets itself; `agent.env` may not name them.
const RESERVED: &[&str] = &["HOME", "TMPDIR", "SUTURE_TICKET", "SUTURE_TASK_FILE"];

/// The agent's git identity, in its own `~/.gitconfig`. With a fresh `HOME`
/// git knows no identity, and Aider then writes a placeholder one into the
/// repository's config, which a worktree shares with the service's
/// checkout. Hooks off, as for Suture's own commits (`Worktree::commit`).
const AGENT_GITCONFIG: &str = "[user]\n\tname = Suture agent\n\temail = suture-agent@localhost\n\
                               [core]\n\thooksPath = /dev/null\n";

/// How external agents run (`[agent]`).
#[derive(Clone)]
pub struct ExternalAgent {
    /// `agent.command`: the argv template.
    pub command: Vec<String>,
    /// `agent.timeout`: past this the agent and everything it started are killed.
    pub timeout: Duration,
    /// `agent.network`.
    pub network: Network,
    /// Most bytes of the agent's output kept for the transcript.
    pub output_limit: usize,
    /// `agent.env`: extra variables, e.g. `LITELLM_LOCAL_MODEL_COST_MAP`,
    /// or a `PATH` that finds the agent's tools. Set after the base (so
    /// `PATH`, `LANG`, `LC_ALL` may be overridden), before the LLM
    /// variables (which win). Not checked for secrets: a key written here
    /// reaches the agent, as the operator asked.
    pub extra_env: Vec<(String, String)>,
}

/// `agent.env` by name only: its values may be keys.
impl std::fmt::Debug for ExternalAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExternalAgent")
            .field("command", &self.command)
            .field("timeout", &self.timeout)
            .field("network", &self.network)
            .field("output_limit", &self.output_limit)
            .field(
                "extra_env",
                &self
                    .extra_env
                    .iter()
                    .map(|(k, _)| k.as_str())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// The LLM endpoint handed to an agent (`agent.pass_llm_env = true`), as
/// the variables OpenAI-compatible clients read.
#[derive(Clone)]
pub struct LlmEnv {
    /// `OPENAI_API_BASE` and `OPENAI_BASE_URL`, e.g. `http://127.0.0.1:8080/v1`.
    pub base_url: String,
    /// `SUTURE_LLM_MODEL`.
    pub model: String,
    /// `OPENAI_API_KEY`, only when there is one.
    pub api_key: Option<String>,
}

impl std::fmt::Debug for LlmEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmEnv")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// One run's inputs.
#[derive(Debug)]
pub struct ExternalTask<'a> {
    pub ticket: &'a str,
    /// The attempt's worktree: `{workdir}` and the working directory.
    pub workdir: &'a Path,
    /// The task, written to `{task_file}`.
    pub task_markdown: &'a str,
    /// A folder for this run, outside the worktree: the task file and the
    /// agent's `HOME` (`home/`, with `home/tmp` its `TMPDIR`).
    pub scratch: &'a Path,
    pub llm: Option<LlmEnv>,
}

/// What the agent did.
#[derive(Debug, Clone)]
pub struct ExternalOutcome {
    pub contained: ContainedOutcome,
    /// The argv as run (placeholders replaced).
    pub argv: Vec<String>,
    /// Where the task was written.
    pub task_file: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum ExternalError {
    /// `[agent]` is wrong; nothing was run.
    #[error("{0}")]
    Config(String),
    /// The run could not be prepared (scratch folder, task file).
    #[error("{what}: {source}")]
    Setup {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// The scratch folder is inside the worktree: the task file and the
    /// agent's home would end up in the fix's diff.
    #[error("the agent's scratch folder {scratch} is inside the worktree {workdir}")]
    ScratchInWorktree { scratch: PathBuf, workdir: PathBuf },
    /// The agent could not be started (not found, not executable).
    #[error("external agent: {0}")]
    Sandbox(#[from] SandboxError),
}

impl ExternalAgent {
    /// The external agent `[agent]` describes: `command`, `timeout` (the
    /// whole attempt's), `network`, `env`; its output is kept up to
    /// `transcript_bytes`, where it ends up.
    pub fn from_config(config: &AgentConfig) -> Self {
        ExternalAgent {
            command: config.command.clone(),
            timeout: config.timeout,
            network: match config.network {
                NetworkPolicy::None => Network::None,
                NetworkPolicy::Host => Network::Host,
            },
            output_limit: config.transcript_bytes,
            extra_env: config
                .env
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }

    /// Checks the configuration: a command with only known placeholders, a
    /// timeout, and `agent.env` names that are names and not Suture's own.
    pub fn validate(&self) -> Result<(), String> {
        template::check(&self.command)?;
        if self.timeout.is_zero() {
            return Err("agent.timeout must be more than 0".into());
        }
        for (name, value) in &self.extra_env {
            if name.is_empty() || name.contains(['=', '\0']) {
                return Err(format!("agent.env: `{name}` is not a variable name"));
            }
            if RESERVED.contains(&name.as_str()) {
                return Err(format!("agent.env: {name} is set by Suture"));
            }
            if value.contains('\0') {
                return Err(format!("agent.env.{name} holds a NUL byte"));
            }
        }
        Ok(())
    }

    /// Writes the task, runs the agent in `task.workdir`, and reports how it
    /// ended. `Err` only when it could not run at all.
    pub async fn run(&self, task: ExternalTask<'_>) -> Result<ExternalOutcome, ExternalError> {
        self.validate().map_err(ExternalError::Config)?;
        create_dir(task.scratch)?;
        check_outside(task.scratch, task.workdir)?;
        let home = task.scratch.join("home");
        create_dir(&home)?;
        write(&home.join(".gitconfig"), AGENT_GITCONFIG)?;
        let task_file = task.scratch.join("task.md");
        write(&task_file, task.task_markdown)?;

        let workdir = utf8(task.workdir, "the worktree")?;
        let task_file_text = utf8(&task_file, "the task file")?;
        let argv = template::expand(
            &self.command,
            &template::Values {
                workdir,
                task_file: task_file_text,
            },
        );
        let env = self.env(&home, task.ticket, task_file_text, task.llm.as_ref());
        tracing::info!(
            ticket = task.ticket,
            program = argv.first().map(String::as_str).unwrap_or_default(),
            network = self.network.as_str(),
            llm_env = task.llm.is_some(),
            "external agent starting"
        );
        let contained = sandbox::run(Contained {
            argv: argv.clone(),
            cwd: task.workdir.to_path_buf(),
            env,
            timeout: self.timeout,
            network: self.network,
            output_limit: self.output_limit,
        })
        .await?;
        tracing::info!(
            ticket = task.ticket,
            exit = %contained.exit,
            elapsed_ms = u64::try_from(contained.elapsed.as_millis()).unwrap_or(u64::MAX),
            network_isolated = contained.network_isolated,
            "external agent ended"
        );
        Ok(ExternalOutcome {
            contained,
            argv,
            task_file,
        })
    }

    /// The agent's whole environment, in the order documented on the type.
    fn env(
        &self,
        home: &Path,
        ticket: &str,
        task_file: &str,
        llm: Option<&LlmEnv>,
    ) -> Vec<(String, String)> {
        let mut env = base_env(home);
        let mut set = |name: &str, value: &str| match env.iter_mut().find(|(k, _)| k == name) {
            Some(slot) => slot.1 = value.to_string(),
            None => env.push((name.to_string(), value.to_string())),
        };
        for (name, value) in &self.extra_env {
            set(name, value);
        }
        set("SUTURE_TICKET", ticket);
        set("SUTURE_TASK_FILE", task_file);
        if let Some(llm) = llm {
            set("OPENAI_API_BASE", &llm.base_url);
            set("OPENAI_BASE_URL", &llm.base_url);
            set("SUTURE_LLM_MODEL", &llm.model);
            if let Some(key) = &llm.api_key {
                set("OPENAI_API_KEY", key);
            }
        }
        env
    }
}

fn create_dir(dir: &Path) -> Result<(), ExternalError> {
    std::fs::create_dir_all(dir).map_err(|source| ExternalError::Setup {
        what: format!("create {}", dir.display()),
        source,
    })
}

fn write(path: &Path, text: &str) -> Result<(), ExternalError> {
    std::fs::write(path, text).map_err(|source| ExternalError::Setup {
        what: format!("write {}", path.display()),
        source,
    })
}

/// Refuses a scratch folder inside the worktree (compared as real paths,
/// so a symlink does not hide it).
fn check_outside(scratch: &Path, workdir: &Path) -> Result<(), ExternalError> {
    let real = |path: &Path| {
        path.canonicalize().map_err(|source| ExternalError::Setup {
            what: format!("resolve {}", path.display()),
            source,
        })
    };
    let (scratch, workdir) = (real(scratch)?, real(workdir)?);
    if scratch.starts_with(&workdir) {
        return Err(ExternalError::ScratchInWorktree { scratch, workdir });
    }
    Ok(())
}

fn utf8<'a>(path: &'a Path, what: &str) -> Result<&'a str, ExternalError> {
    path.to_str().ok_or_else(|| {
        ExternalError::Config(format!(
            "the path of {what} is not UTF-8: {}",
            path.display()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(command: &[&str]) -> ExternalAgent {
        ExternalAgent {
            command: command.iter().map(|s| s.to_string()).collect(),
            timeout: Duration::from_secs(60),
            network: Network::Host,
            output_limit: 64 * 1024,
            extra_env: Vec::new(),
        }
    }

    #[test]
    fn validate_refuses_what_cannot_run() {
        assert_eq!(agent(&["aider", "{task_file}"]).validate(), Ok(()));
        let error = agent(&["aider", "--model", "{model}"]).validate();
        assert!(
            error
                .as_ref()
                .is_err_and(|e| e.contains("unknown placeholder {model}")),
            "{error:?}"
        );
        assert!(agent(&[]).validate().is_err());
        let mut zero = agent(&["aider"]);
        zero.timeout = Duration::ZERO;
        assert!(zero.validate().is_err());
        for (name, expected) in [
            ("HOME", "agent.env: HOME is set by Suture"),
            (
                "SUTURE_TASK_FILE",
                "agent.env: SUTURE_TASK_FILE is set by Suture",
            ),
            ("A=B", "agent.env: `A=B` is not a variable name"),
            ("", "agent.env: `` is not a variable name"),
        ] {
            let mut bad = agent(&["aider"]);
            bad.extra_env = vec![(name.into(), "x".into())];
            assert_eq!(bad.validate(), Err(expected.to_string()));
        }
    }

    #[test]
    fn from_config_takes_the_agent_section() {
        let config = AgentConfig {
            command: vec!["aider".into(), "{task_file}".into()],
            network: NetworkPolicy::Host,
            env: [("A".to_string(), "1".to_string())].into(),
            ..AgentConfig::default()
        };
        let agent = ExternalAgent::from_config(&config);
        assert_eq!(agent.command, config.command);
        assert_eq!(agent.network, Network::Host);
        assert_eq!(agent.timeout, config.timeout);
        assert_eq!(agent.output_limit, config.transcript_bytes);
        assert_eq!(agent.extra_env, [("A".to_string(), "1".to_string())]);
        let default = ExternalAgent::from_config(&AgentConfig::default());
        assert_eq!(default.network, Network::None);
    }

    #[test]
    fn the_environment_is_the_documented_one() {
        let mut a = agent(&["aider"]);
        a.extra_env = vec![
            ("LITELLM_LOCAL_MODEL_COST_MAP".into(), "True".into()),
            ("PATH".into(), "/opt/aider/bin:/usr/bin".into()),
            ("OPENAI_API_KEY".into(), "from-agent-env".into()),
        ];
        let home = Path::new("/s/home");
        let names = |env: &[(String, String)]| -> Vec<String> {
            env.iter().map(|(k, _)| k.clone()).collect()
        };
        let get = |env: &[(String, String)], name: &str| {
            env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        };

        let without = a.env(home, "T-3", "/s/task.md", None);
        assert_eq!(
            names(&without),
            [
                "PATH",
                "HOME",
                "TMPDIR",
                "LANG",
                "LC_ALL",
                "LITELLM_LOCAL_MODEL_COST_MAP",
                "OPENAI_API_KEY",
                "SUTURE_TICKET",
                "SUTURE_TASK_FILE"
            ]
        );
        assert_eq!(
            get(&without, "PATH").as_deref(),
            Some("/opt/aider/bin:/usr/bin")
        );
        assert_eq!(get(&without, "SUTURE_TICKET").as_deref(), Some("T-3"));

        let llm = LlmEnv {
            base_url: "http://127.0.0.1:9/v1".into(),
            model: "m".into(),
            api_key: Some("sk-passed".into()),
        };
        let with = a.env(home, "T-3", "/s/task.md", Some(&llm));
        assert_eq!(get(&with, "OPENAI_API_KEY").as_deref(), Some("sk-passed"));
        assert_eq!(
            get(&with, "OPENAI_API_BASE").as_deref(),
            Some("http://127.0.0.1:9/v1")
        );
        assert_eq!(
            get(&with, "OPENAI_BASE_URL").as_deref(),
            Some("http://127.0.0.1:9/v1")
        );
        assert_eq!(get(&with, "SUTURE_LLM_MODEL").as_deref(), Some("m"));

        let keyless = LlmEnv {
            api_key: None,
            ..llm.clone()
        };
        let plain = agent(&["aider"]).env(home, "T-3", "/s/task.md", Some(&keyless));
        assert_eq!(get(&plain, "OPENAI_API_KEY"), None);
        assert!(!format!("{llm:?}").contains("sk-passed"));
    }
}

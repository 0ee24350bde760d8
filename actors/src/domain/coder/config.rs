//! `[agent]`: how the coding agent works, and the command lines it runs.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::guardrails::GuardrailConfig;
use crate::domain::duration;

/// A command the sidecar runs in a worktree: an argv list run as it is, or
/// one string run by `sh -c` (the form people write test commands in).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CommandLine {
    Shell(String),
    Argv(Vec<String>),
}

/// None: `""`, as `config.toml` spells it.
impl Default for CommandLine {
    fn default() -> Self {
        CommandLine::Shell(String::new())
    }
}

impl CommandLine {
    pub fn is_empty(&self) -> bool {
        match self {
            CommandLine::Shell(line) => line.trim().is_empty(),
            CommandLine::Argv(argv) => argv.is_empty(),
        }
    }

    /// The argv to execute (`sh -c <line>` for the string form).
    pub fn argv(&self) -> Vec<String> {
        match self {
            CommandLine::Shell(line) => vec!["sh".into(), "-c".into(), line.clone()],
            CommandLine::Argv(argv) => argv.clone(),
        }
    }

    /// For messages and the transcript.
    pub fn display(&self) -> String {
        match self {
            CommandLine::Shell(line) => line.clone(),
            CommandLine::Argv(argv) => argv.join(" "),
        }
    }
}

/// Whether commands run by the agent (tests, external agents) may use the
/// network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkPolicy {
    /// A network namespace of their own, with no interface up (needs root
    /// and `unshare`; without them the command runs with the host's
    /// network and the transcript says so).
    None,
    /// The host's network.
    Host,
}

/// `[agent]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentConfig {
    /// Whether fix candidates get a coding agent. It also needs `repo.path`,
    /// `repo.test_command`, and an LLM (`[llm]`) or an external `command`.
    pub enabled: bool,
    /// Agents working at once; the rest wait in a durable queue.
    pub max_concurrent: usize,
    /// Attempts at one ticket, an interrupted one included.
    pub max_attempts: u32,
    /// Times the built-in agent may propose a fix that the guardrails or the
    /// tests refuse, with the reasons sent back, before it gives up.
    pub max_rounds: u32,
    /// Model calls per attempt.
    pub max_steps: u32,
    /// Tokens (prompt and answer) per attempt.
    pub max_tokens: u64,
    /// Longest an attempt may take, tests and model included (the original
    /// design's escalation timeout).
    #[serde(with = "duration")]
    pub timeout: Duration,
    /// Longest one tool call may take (a read, a search, a diff).
    #[serde(with = "duration")]
    pub tool_timeout: Duration,
    /// Bytes of one tool result sent to the model (head and tail kept).
    pub tool_output_bytes: usize,
    /// Tokens of context (evidence, diff, outlines) in the first message.
    pub max_context_tokens: usize,
    /// An external agent CLI, as an argv list with `{workdir}` and
    /// `{task_file}` placeholders. Empty: the built-in agent.
    pub command: Vec<String>,
    /// Give the external agent the LLM's base URL, model and key
    /// (`OPENAI_API_BASE`, `OPENAI_BASE_URL`, `OPENAI_API_KEY`,
    /// `SUTURE_LLM_MODEL`).
    pub pass_llm_env: bool,
    /// Extra environment variables for the external agent.
    pub env: BTreeMap<String, String>,
    /// Network for tests and external agents.
    pub network: NetworkPolicy,
    /// After a failed attempt, the ticket's signatures get no agent for
    /// this long.
    #[serde(with = "duration")]
    pub cooldown: Duration,
    /// The fix-loop breaker: this many failed attempts on one signature
    /// (across its tickets) stop further attempts on it until an operator
    /// resets it (`POST /v1/admin/signatures/{id}/reset`). 0: off.
    pub fix_loop_failures: u32,
    /// Tokens all of a ticket's attempts may spend together; past it no
    /// new attempt starts on the ticket (it is escalated). 0: no cap.
    pub max_tokens_per_ticket: u64,
    /// Where worktrees are made. Empty: `<store.path>/worktrees`.
    pub worktrees: PathBuf,
    /// The fix commit's author.
    pub author_name: String,
    pub author_email: String,
    /// The trailer naming the ticket in the commit message.
    pub trailer: String,
    /// Bytes of transcript kept per attempt.
    pub transcript_bytes: usize,
    /// The rules every final diff must pass.
    pub guardrails: GuardrailConfig,
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_concurrent: 1,
            max_attempts: 2,
            max_rounds: 3,
            max_steps: 30,
            max_tokens: 200_000,
            timeout: Duration::from_secs(15 * 60),
            tool_timeout: Duration::from_secs(30),
            tool_output_bytes: 16 * 1024,
            max_context_tokens: 12_000,
            command: Vec::new(),
            pass_llm_env: false,
            env: BTreeMap::new(),
            network: NetworkPolicy::None,
            cooldown: Duration::from_secs(24 * 3600),
            fix_loop_failures: 3,
            max_tokens_per_ticket: 600_000,
            worktrees: PathBuf::new(),
            author_name: "Suture".into(),
            author_email: "suture@localhost".into(),
            trailer: "Suture-Ticket".into(),
            transcript_bytes: 256 * 1024,
            guardrails: GuardrailConfig::default(),
        }
    }
}

/// A setting that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration: key `agent.{key}`: {message}")]
pub struct AgentConfigError {
    pub key: &'static str,
    pub message: String,
}

impl AgentConfig {
    /// Checks what serde cannot.
    pub fn validate(&self) -> Result<(), AgentConfigError> {
        let error = |key, message: &str| {
            Err(AgentConfigError {
                key,
                message: message.to_string(),
            })
        };
        if self.max_concurrent == 0 {
            return error("max_concurrent", "must be at least 1");
        }
        if self.max_attempts == 0 {
            return error("max_attempts", "must be at least 1");
        }
        if self.max_steps == 0 || self.max_rounds == 0 {
            return error("max_steps", "max_steps and max_rounds must be at least 1");
        }
        if self.timeout.is_zero() || self.tool_timeout.is_zero() {
            return error("timeout", "timeout and tool_timeout must be more than 0");
        }
        if self.tool_output_bytes < 256 {
            return error("tool_output_bytes", "must be at least 256");
        }
        if self.author_name.trim().is_empty() || !self.author_email.contains('@') {
            return error(
                "author_email",
                "an author name and an e-mail address are needed",
            );
        }
        let trailer_ok = !self.trailer.is_empty()
            && self
                .trailer
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !trailer_ok {
            return error("trailer", "letters, digits and '-' only");
        }
        for name in self.env.keys() {
            let ok = !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !name.starts_with(|c: char| c.is_ascii_digit());
            if !ok {
                return error("env", "variable names are letters, digits and '_'");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_take_both_forms() {
        let shell: CommandLine = serde_json::from_str(r#""python -m pytest -q""#).expect("shell");
        assert_eq!(shell.argv(), ["sh", "-c", "python -m pytest -q"]);
        let argv: CommandLine = serde_json::from_str(r#"["npm", "test"]"#).expect("argv");
        assert_eq!(argv.argv(), ["npm", "test"]);
        assert!(CommandLine::default().is_empty());
        assert!(CommandLine::Shell("  ".into()).is_empty());
    }

    #[test]
    fn defaults_are_valid_and_bad_values_name_their_key() {
        AgentConfig::default().validate().expect("defaults");
        let zero = AgentConfig {
            max_concurrent: 0,
            ..AgentConfig::default()
        };
        assert_eq!(zero.validate().expect_err("zero").key, "max_concurrent");
        let trailer = AgentConfig {
            trailer: "Suture Ticket:".into(),
            ..AgentConfig::default()
        };
        assert_eq!(trailer.validate().expect_err("trailer").key, "trailer");
    }
}

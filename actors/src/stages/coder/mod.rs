//! The coding agent: for each fix candidate, one agent in its own git
//! worktree writes a fix, proves it with the service's own tests, and
//! hands it to a person (a draft pull request, or Suture's review queue).
//!
//! - [`manager`]: the supervised child `coder`. Keeps the durable queue,
//!   takes each ticket's lease, spawns at most `agent.max_concurrent`
//!   agents linked to itself, and cleans up after any that stops without
//!   finishing (killed, panicked) and after a sidecar that stopped
//!   mid-attempt.
//! - [`agent`]: one attempt's actor, owning the attempt's task.
//! - [`attempt`]: the attempt from worktree to ticket state.
//! - [`builtin`] and [`tools`]: the built-in agent on async-openai;
//!   [`external`]: an agent CLI (`agent.command`).
//! - [`prove`] and [`validate`]: guardrails, tests before and after, the
//!   regression test, the lint.
//! - [`publish`]: push and draft pull request, behind the guard;
//!   [`review`]: approve and reject from the review queue.
//! - [`workspace`], [`transcript`]: the worktree's files, the attempt's
//!   record of every step.
//!
//! The rules are in `docs/coder.md`.

pub mod agent;
pub mod attempt;
pub mod builtin;
pub mod deploy;
pub mod external;
pub mod manager;
pub mod memory;
pub mod poll;
pub mod prove;
pub mod publish;
pub mod review;
pub mod revise;
pub mod tools;
pub mod transcript;
pub mod validate;
pub mod verify;
pub mod workspace;

use std::path::PathBuf;
use std::sync::Arc;

use crate::clients::git::{Repo, RepoConfig};
use crate::clients::github::GitHub;
use crate::clients::llm::LlmParts;
use crate::control::guard::Guard;
use crate::domain::coder::config::AgentConfig;
use crate::domain::coder::guardrails::Guardrails;
use crate::store::Store;

pub use manager::{CoderArgs, CoderManager, CoderMsg, CoderStatus};

/// The LLM endpoint as an external agent is told it
/// (`agent.pass_llm_env`).
#[derive(Clone, Default)]
pub struct LlmEndpoint {
    pub base_url: String,
    pub model: String,
    pub api_key: Option<String>,
}

impl std::fmt::Debug for LlmEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmEndpoint")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Everything an attempt works with. Cheap to clone.
#[derive(Clone)]
pub struct Coder {
    pub config: AgentConfig,
    pub repo_config: RepoConfig,
    pub store: Store,
    pub repo: Option<Repo>,
    pub llm: Arc<LlmParts>,
    pub llm_env: LlmEndpoint,
    pub github: Option<GitHub>,
    /// Asked before a push and a pull request.
    pub guard: Guard,
    /// The breakers (fix loop, review fatigue) and the audit log.
    pub control: crate::control::Control,
    /// The kill switch: engaged, no agent starts.
    pub halt: crate::domain::control::Halt,
    pub guardrails: Arc<Guardrails>,
    /// Where worktrees are made (see [`attempt::worktrees_folder`]).
    pub worktrees: PathBuf,
    /// Why agents do not run, when they do not (printed at start, in
    /// the status).
    pub disabled: Option<String>,
    /// `[verify]`: how merged fixes are verified in production.
    pub verify: crate::domain::verify::VerifyConfig,
    /// `[gate]`: the baseline, window and retention verification measures with.
    pub gate: crate::domain::gate::config::GateConfig,
    /// How often pull requests are polled: `None` when a webhook secret is
    /// set (GitHub tells Suture) or `github.poll_interval` is zero.
    pub poll_every: Option<std::time::Duration>,
    /// `[deploy]`: whether and how Suture merges and deploys fixes.
    pub deploy: crate::domain::deploy::DeployConfig,
}

impl Coder {
    /// Why agents cannot run with this configuration, if they cannot.
    pub fn disabled_reason(
        config: &AgentConfig,
        repo_config: &RepoConfig,
        repo: bool,
        llm: bool,
    ) -> Option<String> {
        if !config.enabled {
            return Some("agent.enabled is false".into());
        }
        if !repo {
            return Some("no repository is configured (repo.path)".into());
        }
        if repo_config.test_command.is_empty() {
            return Some(
                "repo.test_command is empty: a fix nobody tested is not handed to a reviewer"
                    .into(),
            );
        }
        if config.command.is_empty() && !llm {
            return Some(
                "no LLM is configured ([llm]) and no external agent (agent.command)".into(),
            );
        }
        None
    }
}

//! Clients of the outside world, each with timeouts and typed errors:
//! the [`llm`] (async-openai), [`git`] (subprocesses under a deadline) and
//! [`github`] (octocrab). They share one reqwest client and one TLS stack.

pub mod git;
pub mod github;
pub mod llm;

//! The coding agent's pure parts: what the agent actor (I/O, the LLM loop,
//! git) runs its decisions through.
//!
//! - [`edits`]: SEARCH/REPLACE blocks read from a model's reply, and
//!   [`apply`]: those blocks applied to file contents in memory (exact, then
//!   whitespace-tolerant; ambiguous or missing matches name the block).
//! - [`path`]: the one gate an untrusted repository path goes through.
//! - [`diff`]: `git diff` output parsed into files, modes and hunk lines,
//!   and [`guardrails`]: the rules every final diff must pass, whatever
//!   wrote it (paths, size, binaries, symlinks, tests not weakened).
//! - [`reports`]: test results read from JUnit XML, pytest's `-rA` summary
//!   or TAP, and [`tests_outcome`]: whether a fix passes (no new failures)
//!   and whether its regression test fails before and passes after.
//!
//! - [`attempt`]: one attempt at a ticket, as the store keeps it, and
//!   [`config`]: `[agent]`.
//! - [`context`]: what the agent is told (the coder prompt filled with the
//!   ticket's evidence, sized to its context budget), from the pieces
//!   [`outline`] (a file's classes and functions by line) and [`related`]
//!   (tests found by name) find.
//! - [`pull_request`]: a fix's pull request title and body.
//!
//! The user-facing rules are in `docs/coder.md`.

pub mod apply;
pub mod attempt;
pub mod config;
pub mod context;
pub mod diff;
pub mod edits;
pub mod guardrails;
pub mod outline;
pub mod path;
pub mod pull_request;
pub mod related;
pub mod reports;
pub mod retry;
pub mod tests_outcome;

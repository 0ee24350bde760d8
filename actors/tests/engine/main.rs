//! The engine's integration tests, one binary: the grouping corpus, property
//! tests, paused-clock queue tests, the store, the LLM and GitHub clients
//! against local stand-ins, real git repositories, the tickets pipeline,
//! external coding agents (a fake one, a stuck one, the real Aider), and
//! the layer rule.

mod auto_deploy;
mod coder_agent;
mod coder_context;
mod coder_fixtures;
mod common;
mod external_agent;
mod gate_store;
mod github_issues;
mod grouping_corpus;
mod held_fixes;
mod layers;
mod llm_client;
mod queue_timing;
mod rails;
mod repo_git;
mod revision_comments;
mod signature_props;
mod store_open;
mod template_restart;
mod tickets_pipeline;
mod tickets_redeploy;
mod verify;
mod worktrees;

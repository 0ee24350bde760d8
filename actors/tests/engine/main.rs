//! The engine's integration tests, one binary: the grouping corpus, property
//! tests, paused-clock queue tests, the store, the LLM and GitHub clients
//! against local stand-ins, real git repositories, the tickets pipeline,
//! and the layer rule.

mod coder_context;
mod coder_fixtures;
mod common;
mod gate_store;
mod github_issues;
mod grouping_corpus;
mod layers;
mod llm_client;
mod queue_timing;
mod repo_git;
mod signature_props;
mod store_open;
mod tickets_pipeline;
mod worktrees;

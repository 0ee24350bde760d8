//! Helpers shared by the engine's integration tests.

pub mod github_stub;
pub mod openai_stub;

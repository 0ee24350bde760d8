//! The stages of the loop, one supervised actor each, in loop order:
//! [`ingest`] (the single writer) → [`queue`] (debounce) → [`gate`] →
//! [`analyzer`] → [`triage`] → [`coder`]. A stage may send to a *later*
//! stage only.
//! Long work (git, the LLM) runs in tasks the actor owns (see
//! [`crate::runtime::pass`]) and reports back by message; a pass fails with
//! a typed [`error::StageError`].

pub mod analyzer;
pub mod coder;
pub mod dedup;
pub mod error;
pub mod gate;
pub mod ingest;
pub mod queue;
pub mod traffic;
pub mod triage;

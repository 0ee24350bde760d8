//! Suture's engine: the supervised actor tree and the domain it runs.
//!
//! ```text
//!  servers ──(bounded channel)──► [ingest] ── group commit ──► sled
//!                                    │ changed signatures
//!                                    ▼
//!                                 [queue]  debounce, max wait, max batch ──► batches
//! ```
//!
//! - [`event`]: the normalized event every wire format becomes.
//! - [`signature`], [`stack`]: grouping, as pure functions (unit tested, benchmarked).
//! - [`store`]: the sled trees and what a commit writes.
//! - [`ingest`]: the bounded edge channel and the single writer behind it.
//! - [`debounce`] (pure rule) and [`queue`] (its actor).
//! - [`supervisor`]: the root that starts, restarts and escalates.
//! - [`engine`]: start, stop, and the typed handle the servers keep.
//! - [`gate`]: the regression gate's statistics and its evaluation harness
//!   and the gate actor that feeds it from the store.
//! - [`scrub`]: secrets out of untrusted text before anything leaves the machine.
//! - [`llm`]: the LLM client (budgets, breaker, retries), prompts and answer
//!   parsing the analyzer and triage stages are built on.
//! - [`analyzer`]: gated candidates grouped by root cause into tickets.
//! - [`triage`]: whether a deploy's diff caused a ticket's errors.
//! - [`tickets`]: the ticket model, its state machine and `suture report`.
//! - [`repo`]: what a deploy changed, read from the service's git checkout.
//! - [`github`]: GitHub issues for tickets, idempotent by a marker in the body.
//!
//! Nothing here knows about HTTP: the `suture` shell translates wire formats
//! into [`event::Event`]s and talks to the engine through [`engine::EngineHandle`].

pub mod analyzer;
pub mod clock;
pub mod config;
pub mod debounce;
pub mod dedup;
pub mod engine;
pub mod event;
pub mod gate;
pub mod github;
pub mod ingest;
pub mod llm;
pub mod pass;
pub mod queue;
pub mod repo;
pub mod scrub;
pub mod signature;
pub mod slot;
pub mod stack;
pub mod stats;
pub mod store;
pub mod supervisor;
pub mod tickets;
pub mod triage;

pub use engine::{Engine, EngineError, EngineHandle};
pub use event::{ChainedException, Event, Frame};

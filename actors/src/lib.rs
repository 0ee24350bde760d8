//! Suture's engine: the supervised actor tree and the domain it runs.
//!
//! ```text
//!  servers ──(bounded channel)──► [ingest] ── group commit ──► sled
//!                                    │ changed signatures
//!                                    ▼
//!                                 [queue]  debounce, max wait, max batch ──► batches
//!                                    ▼
//!                                 [gate]   deploy windows vs baseline, spikes ──► candidates
//!                                    ▼
//!                                 [analyzer] root causes ──► tickets
//!                                    ▼
//!                                 [triage]  did the deploy's diff cause it? ──► GitHub issues
//! ```
//!
//! # Layers
//!
//! The folders say what a module is:
//!
//! - [`engine`]: the runtime. Starts and stops the tree, the root supervisor
//!   and its table of children, the typed handle the shell keeps, owned pass
//!   tasks, the one way operator commands reach the store.
//! - [`stages`]: one supervised actor per box of the loop, in loop order
//!   (ingest, queue, gate, analyzer, triage).
//! - [`domain`]: the pure rules the stages run (events, signatures, stacks,
//!   the gate's statistics, grouping, triage rules, tickets, prompts and
//!   answer parsing, the scrubber, diffs) and the records the store keeps.
//!   No tokio, ractor, sled, network or wall clock.
//! - [`store`]: the one place that knows the on-disk layout (sled trees,
//!   keys, group commit, the control tree).
//! - [`clients`]: the outside world (LLM, git, GitHub), with timeouts and
//!   typed errors.
//! - [`telemetry`], [`clock`], [`config`]: counters and the catalogue of
//!   metrics, the wall clock, and the configuration aggregate.
//!
//! # The dependency rule
//!
//! ```text
//! engine  → stages, store, clients, domain, telemetry, clock, config
//! stages  → store, clients, domain, telemetry, clock, config
//!           (+ the Msg type of a *later* stage: gate → analyzer → triage)
//! store   → domain, telemetry, clock, config
//! clients → domain, telemetry, clock
//! domain  → std, serde, regex, statrs, xxhash, humantime only
//!           (one exception: domain/debounce.rs takes tokio::time::Instant
//!           so the queue's tests can run on a paused clock)
//! config  → the config sections of every layer (a sink: nothing but the
//!           engine's start reads the aggregate)
//! ```
//!
//! `actors/tests/engine/layers.rs` enforces it: a forbidden import fails the
//! test with its `file:line`.
//!
//! Nothing here knows about HTTP: the `suture` shell translates wire formats
//! into [`Event`]s and talks to the engine through [`EngineHandle`].

pub mod clients;
pub mod clock;
pub mod config;
pub mod control;
pub mod domain;
pub mod engine;
pub mod runtime;
pub mod stages;
pub mod store;
pub mod telemetry;

pub use domain::event::{ChainedException, Event, Frame};
pub use engine::{Engine, EngineError, EngineHandle};

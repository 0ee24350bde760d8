//! The pure rules the stages run: no tokio, ractor, sled, network or wall
//! clock (time is an argument), so each is unit tested, benchmarked and
//! fuzzed alone. The one allowed exception is [`debounce`], which takes
//! `tokio::time::Instant` so the queue's tests can run on a paused clock.

pub mod analyzer;
pub mod audit;
pub mod coder;
pub mod control;
pub mod debounce;
pub mod deploy;
pub mod diff;
pub mod duration;
pub mod event;
pub mod gate;
pub mod llm;
pub mod memory;
pub mod notify;
pub mod outcomes;
pub mod records;
pub mod scrub;
pub mod signature;
pub mod stack;
pub mod template;
pub mod text;
pub mod tickets;
pub mod triage;
pub mod verify;

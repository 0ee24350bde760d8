//! The regression gate: which error signatures a deploy really made worse,
//! and which spiked between deploys, with an explanation for each. See
//! docs/gate.md for the method, the defaults and the evaluation.
//!
//! - pure statistics: [`series`] (input), [`stats`], [`decide`], [`config`],
//!   [`cold`] (short history), [`since`] (the level since the previous deploy);
//!   [`scenario`] and [`evaluate`] are the evaluation harness;
//! - over the store: [`source`] reads a window's input, [`runner`] judges
//!   due deploys and batches and stores runs and candidates (time is an
//!   argument, so `suture replay` runs it in simulated time);
//! - [`actor`]: the supervised actor that ticks the runner on the wall clock.

pub mod actor;
pub mod cold;
pub mod config;
pub mod decide;
pub mod evaluate;
pub mod runner;
pub mod scenario;
pub mod series;
pub mod since;
pub mod source;
pub mod stats;

//! The regression gate's pure rules: which error signatures a deploy really
//! made worse, and which spiked between deploys, with an explanation for
//! each. See docs/gate.md for the method, the defaults and the evaluation.
//!
//! - [`series`] (input), [`stats`], [`decide`], [`config`];
//! - [`cold`]: judging a deploy on a store younger than `gate.min_history`;
//! - [`since`]: a flag tested against the level since the previous deploy;
//! - [`residual`]: whether a signature's per-request rate has its own daily
//!   cycle (whole baseline per request, or hour-of-day slots);
//! - [`second_look`]: each deploy judged again over a longer span;
//! - [`scenario`] and [`evaluate`]: the evaluation harness.
//!
//! The runner over the store and the actor that ticks it on the wall clock
//! are [`crate::stages::gate`].

pub mod cold;
pub mod config;
pub mod decide;
pub mod evaluate;
pub mod residual;
pub mod scenario;
pub mod second_look;
pub mod series;
pub mod since;
pub mod stats;

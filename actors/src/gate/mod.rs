//! The regression gate's statistical core of Suture's regression gate: which error signatures a
//! deploy really made worse, and which spiked between deploys, with an
//! explanation for each. Pure functions, no I/O; see docs/gate.md for the method,
//! the defaults and the evaluation.

pub mod config;
pub mod decide;
pub mod evaluate;
pub mod scenario;
pub mod series;
pub mod stats;

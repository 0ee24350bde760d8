//! Suture's shell: the CLI, config loading, and the HTTP and UDP servers that
//! translate wire formats into events for the engine (`suture-actors`).

pub mod audit;
pub mod cli;
pub mod client;
pub mod config;
pub mod memory;
pub mod replay;
pub mod review;
pub mod server;
pub mod telemetry;
pub mod wire;

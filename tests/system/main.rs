//! The shell's integration tests, one binary (one link of the whole graph
//! instead of one per file): each module starts the real server or the
//! real binary on loopback ports and a fresh store.

mod coder_restart;
mod common;
mod dashboard;
mod durability;
mod fault_disk;
mod fault_llm;
mod gate_http;
mod gelf_ingest;
mod http_ingest;
mod replay;
mod sentry_ingest;
mod supervision;
mod tickets_http;
mod udp_ingest;

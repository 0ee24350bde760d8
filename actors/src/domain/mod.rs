//! Pure rules of the engine's stages: no tokio, ractor, sled, network or
//! wall clock, so they are unit tested, benchmarked and fuzzed alone.

pub mod coder;

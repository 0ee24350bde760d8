//! The LLM's pure side: prompt templates and their renderer (untrusted text
//! scrubbed and fenced as data), tolerant parsing and strict validation of
//! answers, and the budget and breaker rules the client applies (time is an
//! argument, so they are tested without a clock or a network).
//!
//! The client itself is [`crate::clients::llm`].

pub mod breaker;
pub mod budget;
pub mod fence;
pub mod parse;
pub mod prompt;

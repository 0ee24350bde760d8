//! Online log-template mining for message-only events (a Drain-style miner).
//!
//! GELF loggers send error lines without stack traces, so the only thing to
//! group them by is the message. Masking known id shapes alone leaves every
//! line whose variable part has no recognisable shape (a user name, a file
//! name, a state word) in a group of its own. The miner learns templates
//! from the lines instead, following Drain (He et al., ICWS 2017), on the
//! message as the signer's masks left it:
//!
//! 1. **Pre-masking** ([`token`]): words holding a mask placeholder or a
//!    digit, paths and URLs are variables before the tree sees them.
//! 2. **Fixed-depth prefix tree**: lines are routed by token count, then by
//!    their leading [`TemplateConfig::prefix_tokens`] tokens (a variable
//!    routes to the wildcard branch), to a small leaf of templates
//!    ([`leaf`]).
//! 3. **Matching, similarity and wildcard merging**: in the leaf, a template
//!    that already matches the whole line takes it; else the line joins the
//!    template that shares the largest fraction of its known tokens
//!    position by position, if that reaches [`TemplateConfig::similarity`],
//!    and the positions that differ become `<*>`; else it founds a template.
//!
//! A template's id is its leaf and its ordinal there ([`TemplateId`]): it
//! does not move when the template widens, nor with the arrival order of
//! other leaves' lines. [`TemplateSet`] holds the templates for every
//! signing thread and tracks what the store has not saved yet, so ids
//! survive restarts (see `docs/grouping.md` for why the save rides in the
//! same group commit as the events).
//!
//! One configuration serves every system (see `docs/grouping.md` for the
//! Loghub-2k figures): nothing here is tuned per log source.
//!
//! Pure: no clock, no I/O.

pub mod leaf;
pub mod set;
pub mod token;

pub use set::{Restored, SavedLeaf, TemplateId, TemplateSet};
pub use token::WILDCARD;

/// The miner's one configuration. Only the bounds are operators' to change
/// (`[signature]` in `config.toml`); the rest is the method.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateConfig {
    /// Fraction of a line's known tokens (position by position) that must
    /// equal a template's for the line to join it. Drain's usual 0.4–0.5:
    /// below it, unrelated lines of the same length merge; above it, a
    /// template with two variables in four tokens never forms.
    pub similarity: f64,
    /// Leading tokens used to route a line in the tree (Drain's depth − 2).
    pub prefix_tokens: usize,
    /// Most tokens looked at: longer lines are cut (bounds work and memory on
    /// hostile input; the tail of a very long line rarely names its kind).
    pub max_tokens: usize,
    /// Most templates kept. Past it, a line that needs a new template gets
    /// none (the signer groups it by its masked message), and templates
    /// already learned keep their ids: none is ever evicted.
    pub max_templates: usize,
    /// Most templates in one leaf: bounds the work of placing one line
    /// (each template of its leaf is compared with it) whatever the input.
    pub max_leaf_templates: usize,
    /// Most memory the templates take, in bytes (their slots, text and keys,
    /// roughly): hostile lines of 64 long words would otherwise make each
    /// template a few KiB.
    pub max_bytes: usize,
}

impl Default for TemplateConfig {
    fn default() -> Self {
        Self {
            similarity: 0.5,
            prefix_tokens: 2,
            max_tokens: 64,
            max_templates: 50_000,
            max_leaf_templates: 256,
            max_bytes: 64 << 20,
        }
    }
}

#[cfg(test)]
mod tests;

//! `[analyzer]`: how often gated candidates are grouped, and how much of
//! each is shown.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::domain::duration;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnalyzerConfig {
    /// How often the analyzer looks for new candidates. The gate already
    /// hands them on in debounced batches; this only bounds how long a
    /// candidate waits when the gate's nudge was missed (a restart).
    #[serde(with = "duration")]
    pub interval: Duration,
    /// Most signatures grouped in one LLM call. Twenty exceptions with their
    /// stacks fit a prompt of a few thousand tokens; more dilutes the
    /// model's attention. The rest wait for the next batch, seconds later.
    pub max_batch: usize,
    /// Stack frames kept per sample, innermost first. Twenty covers the
    /// application's part of almost every stack; the rest is framework.
    pub max_frames: usize,
    /// Breadcrumbs kept per sample, the latest. Ten show what the user did
    /// just before the error.
    pub max_breadcrumbs: usize,
}

impl Default for AnalyzerConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(10),
            max_batch: 20,
            max_frames: 20,
            max_breadcrumbs: 10,
        }
    }
}

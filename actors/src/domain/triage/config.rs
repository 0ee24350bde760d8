//! `[triage]`: what makes a ticket a fix candidate.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::domain::duration;
use crate::domain::gate::decide::Severity;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TriageConfig {
    /// How often open tickets are looked for (the analyzer also nudges
    /// triage as soon as it opens one).
    #[serde(with = "duration")]
    pub interval: Duration,
    /// A spike (elevated, no deploy to blame) becomes a fix candidate at this
    /// gate severity or above; below, it is recorded as noise. `high`: a
    /// spike is often the world (an upstream outage, a bot); only a large one
    /// is worth an agent's attempt before a person has looked.
    pub spike_fix_severity: Severity,
    /// A frame within this many lines of a changed line counts as on it:
    /// the line that throws is often just below the line that changed.
    pub line_slack: u32,
    /// Most tickets triaged per pass; the rest wait seconds for the next.
    pub max_per_pass: usize,
    /// How long a ticket stays open waiting for an LLM that is down, slow,
    /// or answering something that is not a completion, counted from the
    /// ticket's creation. Within it the ticket is asked about again on
    /// each pass; past it, it takes the deterministic verdict. An outage of
    /// minutes should not decide a ticket for good without the model; one
    /// of hours should not hold every ticket back.
    #[serde(with = "duration")]
    pub llm_wait: Duration,
}

impl Default for TriageConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(10),
            spike_fix_severity: Severity::High,
            line_slack: 3,
            max_per_pass: 10,
            llm_wait: Duration::from_secs(15 * 60),
        }
    }
}

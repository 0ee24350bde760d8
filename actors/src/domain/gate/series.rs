//! Input model: what the gate knows about one error signature.
//!
//! Time is relative to the window start `W` (the deploy, or the start of a
//! continuous-mode batch window), so the gate needs no clock or time zone:
//!
//! * the baseline is `n` consecutive hour buckets ending exactly at `W`;
//!   bucket `i` (0-based, oldest first) covers `[W - (n-i) h, W - (n-i-1) h)`,
//!   so the last bucket is the hour just before the window and the bucket
//!   `24 k` hours before `W` covers the same clock time of day as the
//!   window's first hour;
//! * the window is per-minute counts from `W` on.
//!
//! Counts are events of this signature; requests are all requests served by
//! the application in the same span (not only those that failed).

use serde::{Deserialize, Serialize};

/// Hourly history of one signature before the window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// Events per hour bucket, oldest first; the last bucket ends at the
    /// window start.
    pub counts: Vec<u64>,
    /// Requests served per hour bucket, aligned with `counts`. `None` when
    /// traffic is not known; a vector of a different length than `counts`
    /// is treated as unknown traffic (and the decision's reason says so).
    pub requests: Option<Vec<u64>>,
}

/// What happened in the window being judged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Window {
    /// Events per minute from the window start; the window is
    /// `counts.len()` minutes long.
    pub counts: Vec<u64>,
    /// Requests served during the whole window, when traffic is known.
    pub requests: Option<u64>,
    /// Distinct users (or sessions) that hit this signature in the window,
    /// when the capture knows them.
    pub distinct_users: Option<u64>,
}

/// One signature's data for one judgement.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SignatureWindow {
    /// The error signature (stable id from the capture side).
    pub signature: String,
    pub baseline: Baseline,
    pub window: Window,
}

impl Window {
    /// Total events in the window.
    pub fn total(&self) -> u64 {
        self.counts.iter().fold(0u64, |a, &c| a.saturating_add(c))
    }

    /// Window length in minutes.
    pub fn minutes(&self) -> u64 {
        self.counts.len() as u64
    }
}

impl Baseline {
    /// Total events over the whole baseline.
    pub fn total(&self) -> u64 {
        self.counts.iter().fold(0u64, |a, &c| a.saturating_add(c))
    }

    /// Hourly requests if they are present and aligned with the counts.
    pub fn aligned_requests(&self) -> Option<&[u64]> {
        match &self.requests {
            Some(r) if r.len() == self.counts.len() => Some(r.as_slice()),
            _ => None,
        }
    }
}

impl SignatureWindow {
    /// Traffic is usable as exposure only when the baseline's hourly requests
    /// are aligned, the window's requests are known, and both are positive
    /// where it matters (a zero-request window cannot be compared per
    /// request).
    pub fn traffic(&self) -> Option<(&[u64], u64)> {
        let b = self.baseline.aligned_requests()?;
        let w = self.window.requests?;
        if w == 0 || b.iter().all(|&r| r == 0) {
            return None;
        }
        Some((b, w))
    }
}

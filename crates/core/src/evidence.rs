//! The evidence the gate judges: every case evaluated for one configuration
//! (one fingerprint), pooled over all its runs, each case counted once.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Counts over the pooled cases. Counts are the source of truth: the
/// sequential tests read nothing else, so a verdict can be re-derived from
/// them and the thresholds alone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Evidence {
    /// Cases evaluated (the denominator of accuracy and error rate).
    pub cases: u64,
    /// Cases with every expected finding matched and no false positive.
    pub correct: u64,
    /// Cases whose review failed (provider error, timeout, unparseable output).
    pub errors: u64,
    /// Answered cases (not errors) slower than the latency bar.
    pub over_latency_bar: u64,
    /// The p95 latency of the answered cases, for reading; the latency test
    /// itself counts `over_latency_bar`.
    pub latency_p95_ms: Option<f64>,
    pub cost_usd: f64,
}

impl Evidence {
    pub fn answered(&self) -> u64 {
        self.cases.saturating_sub(self.errors)
    }

    pub fn accuracy(&self) -> Option<f64> {
        ratio(self.correct, self.cases)
    }

    pub fn error_rate(&self) -> Option<f64> {
        ratio(self.errors, self.cases)
    }

    pub fn share_over_latency_bar(&self) -> Option<f64> {
        ratio(self.over_latency_bar, self.answered())
    }

    pub fn cost_per_case_usd(&self) -> Option<f64> {
        (self.cases > 0).then(|| self.cost_usd / self.cases as f64)
    }

    /// The same evidence with one more case.
    pub fn with_case(
        mut self,
        correct: bool,
        error: bool,
        over_latency_bar: bool,
        cost_usd: f64,
    ) -> Self {
        self.cases += 1;
        self.correct += u64::from(correct);
        self.errors += u64::from(error);
        self.over_latency_bar += u64::from(!error && over_latency_bar);
        self.cost_usd += cost_usd;
        self
    }
}

fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

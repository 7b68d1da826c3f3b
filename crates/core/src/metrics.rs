//! What one evaluation run measured.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Aggregate metrics of one run over a dataset. Counts are the source of
/// truth; rates are derived from them so they can never disagree.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RunMetrics {
    /// Cases attempted (the denominator of accuracy and error rate).
    pub cases: u64,
    /// Cases with every expected finding matched and no false positive.
    pub correct: u64,
    /// Cases whose review failed (provider error, timeout, unparseable output).
    pub errors: u64,
    pub true_positives: u64,
    pub false_positives: u64,
    pub false_negatives: u64,
    /// Latency percentiles in milliseconds; `None` with no latency samples.
    pub latency_p50_ms: Option<f64>,
    pub latency_p95_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
    /// Answers read only after undoing a habit of form (a code fence):
    /// correct or not, the model needed help. Absent from metrics recorded
    /// before it was counted.
    #[serde(default)]
    pub format_recoveries: u64,
    /// Cases per second over the run's wall-clock time.
    pub throughput_per_s: Option<f64>,
    /// Mean satisfaction (0–5) from feedback, with how many gave it.
    pub satisfaction: Option<f64>,
    pub feedback_count: u64,
}

impl RunMetrics {
    pub fn accuracy(&self) -> Option<f64> {
        ratio(self.correct, self.cases)
    }

    pub fn error_rate(&self) -> Option<f64> {
        ratio(self.errors, self.cases)
    }

    pub fn precision(&self) -> Option<f64> {
        ratio(
            self.true_positives,
            self.true_positives + self.false_positives,
        )
    }

    pub fn recall(&self) -> Option<f64> {
        ratio(
            self.true_positives,
            self.true_positives + self.false_negatives,
        )
    }

    pub fn cost_per_case_usd(&self) -> Option<f64> {
        (self.cases > 0).then(|| self.cost_usd / self.cases as f64)
    }
}

fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_derive_from_counts_and_are_absent_without_data() {
        let m = RunMetrics {
            cases: 10,
            correct: 9,
            errors: 1,
            true_positives: 3,
            false_positives: 1,
            false_negatives: 2,
            cost_usd: 0.5,
            ..RunMetrics::default()
        };
        assert_eq!(m.accuracy(), Some(0.9));
        assert_eq!(m.error_rate(), Some(0.1));
        assert_eq!(m.precision(), Some(0.75));
        assert_eq!(m.recall(), Some(0.6));
        assert_eq!(m.cost_per_case_usd(), Some(0.05));
        assert_eq!(RunMetrics::default().accuracy(), None);
    }
}

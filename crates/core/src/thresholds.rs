//! The bar a configuration must clear to reach V2, with the platform's SLOs
//! as defaults.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{Error, FieldError};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Thresholds {
    /// Accuracy must be at least this, on the lower confidence bound.
    pub min_accuracy: f64,
    /// The run's p95 latency must be at most this.
    pub max_p95_latency_ms: f64,
    /// Error rate must be at most this, on the upper confidence bound.
    pub max_error_rate: f64,
    /// No check is decided on fewer cases.
    pub min_sample_size: u64,
    /// Confidence of the one-sided Wilson bounds.
    pub confidence: f64,
    /// Optional ceiling on the mean cost of one case, in USD.
    pub max_cost_per_case_usd: Option<f64>,
    /// Optional non-inferiority margin: accuracy must be at least the stable
    /// configuration's minus this margin.
    pub non_inferiority_margin: Option<f64>,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            min_accuracy: 0.95,
            max_p95_latency_ms: 3000.0,
            max_error_rate: 0.02,
            min_sample_size: 100,
            confidence: 0.95,
            max_cost_per_case_usd: None,
            non_inferiority_margin: None,
        }
    }
}

impl Thresholds {
    pub fn validate(&self) -> Result<(), Error> {
        let mut errors = Vec::new();
        let mut proportion = |field: &str, value: f64| {
            if !(value.is_finite() && (0.0..=1.0).contains(&value)) {
                errors.push(FieldError::new(field, "must be from 0 to 1"));
            }
        };
        proportion("min_accuracy", self.min_accuracy);
        proportion("max_error_rate", self.max_error_rate);
        if let Some(margin) = self.non_inferiority_margin {
            proportion("non_inferiority_margin", margin);
        }
        if !(self.confidence.is_finite() && self.confidence > 0.5 && self.confidence < 1.0) {
            errors.push(FieldError::new(
                "confidence",
                "must be above 0.5 and below 1",
            ));
        }
        if !(self.max_p95_latency_ms.is_finite() && self.max_p95_latency_ms > 0.0) {
            errors.push(FieldError::new(
                "max_p95_latency_ms",
                "must be a positive number of milliseconds",
            ));
        }
        if self.min_sample_size == 0 {
            errors.push(FieldError::new(
                "min_sample_size",
                "must be at least 1: no data is never a pass",
            ));
        }
        if self
            .max_cost_per_case_usd
            .is_some_and(|cost| !(cost.is_finite() && cost >= 0.0))
        {
            errors.push(FieldError::new(
                "max_cost_per_case_usd",
                "must be a non-negative amount of USD",
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid(errors))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_platform_slos_and_valid() {
        let t = Thresholds::default();
        assert_eq!(
            (t.min_accuracy, t.max_p95_latency_ms, t.max_error_rate),
            (0.95, 3000.0, 0.02)
        );
        assert!(t.validate().is_ok());
    }

    #[test]
    fn invalid_thresholds_name_their_fields() {
        let t = Thresholds {
            confidence: 1.0,
            min_sample_size: 0,
            min_accuracy: 1.5,
            ..Thresholds::default()
        };
        let fields: Vec<_> = t
            .validate()
            .unwrap_err()
            .field_errors()
            .iter()
            .map(|e| e.field.clone())
            .collect();
        assert_eq!(fields, ["min_accuracy", "confidence", "min_sample_size"]);
    }
}

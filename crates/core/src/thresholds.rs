//! The bar a configuration must clear to reach V2, with the platform's SLOs
//! as defaults, and the error rates the gate's sequential tests are designed
//! with.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{Error, FieldError};
use crate::sequential::Design;

/// The share of answers allowed over the latency bar: p95 at most the bar
/// means at most 5% of answers slower than it.
pub const LATENCY_TAIL_SHARE: f64 = 0.05;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Thresholds {
    /// Accuracy must be at least this.
    pub min_accuracy: f64,
    /// The p95 latency of answers must be at most this (judged as the share
    /// of answers slower than it, at most 5%).
    pub max_p95_latency_ms: f64,
    /// Error rate must be at most this.
    pub max_error_rate: f64,
    /// How far on the wrong side of a threshold a rate must be for the
    /// guarantee to apply; rates closer to the bar may go either way.
    pub indifference: f64,
    /// The largest chance of promoting a configuration whose rate is on the
    /// wrong side of a threshold by `indifference` or more, however many
    /// times it is run.
    pub risk: f64,
    /// The largest chance of failing a configuration whose rate clears a
    /// threshold by twice `indifference`.
    pub quarantine_risk: f64,
    /// No check is decided on fewer cases.
    pub min_sample_size: u64,
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
            indifference: 0.01,
            risk: 0.01,
            quarantine_risk: 0.1,
            min_sample_size: 30,
            max_cost_per_case_usd: None,
            non_inferiority_margin: None,
        }
    }
}

impl Thresholds {
    pub fn design(&self) -> Design {
        Design {
            indifference: self.indifference,
            risk: self.risk,
            quarantine_risk: self.quarantine_risk,
        }
    }

    pub fn validate(&self) -> Result<(), Error> {
        let mut errors = Vec::new();
        let mut push = |field: &str, message: String| errors.push(FieldError::new(field, message));
        let open_unit = |value: f64| value.is_finite() && value > 0.0 && value < 1.0;
        if !open_unit(self.min_accuracy) {
            push("min_accuracy", "must be above 0 and below 1".into());
        }
        // A rate of 0 errors can never be proven, only bounded.
        if !open_unit(self.max_error_rate) {
            push("max_error_rate", "must be above 0 and below 1".into());
        }
        if let Some(margin) = self.non_inferiority_margin
            && !(margin.is_finite() && (0.0..1.0).contains(&margin))
        {
            push("non_inferiority_margin", "must be from 0 to below 1".into());
        }
        // The wrong side of every threshold must be a rate, not an edge.
        let widest = self
            .min_accuracy
            .min(1.0 - self.max_error_rate)
            .min(1.0 - LATENCY_TAIL_SHARE);
        if !(self.indifference.is_finite() && self.indifference > 0.0 && self.indifference < widest)
        {
            push(
                "indifference",
                format!(
                    "must be above 0 and below the threshold (here below {widest}): it is how far a rate may miss the bar"
                ),
            );
        }
        for (field, risk) in [
            ("risk", self.risk),
            ("quarantine_risk", self.quarantine_risk),
        ] {
            if !(risk.is_finite() && risk > 0.0 && risk < 0.5) {
                push(field, "must be above 0 and below 0.5".into());
            }
        }
        if !(self.max_p95_latency_ms.is_finite() && self.max_p95_latency_ms > 0.0) {
            push(
                "max_p95_latency_ms",
                "must be a positive number of milliseconds".into(),
            );
        }
        if self.min_sample_size == 0 {
            push(
                "min_sample_size",
                "must be at least 1: no data is never a pass".into(),
            );
        }
        if self
            .max_cost_per_case_usd
            .is_some_and(|cost| !(cost.is_finite() && cost >= 0.0))
        {
            push(
                "max_cost_per_case_usd",
                "must be a non-negative amount of USD".into(),
            );
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

    fn fields(t: &Thresholds) -> Vec<String> {
        t.validate()
            .unwrap_err()
            .field_errors()
            .iter()
            .map(|e| e.field.clone())
            .collect()
    }

    #[test]
    fn defaults_are_the_platform_slos_and_valid() {
        let t = Thresholds::default();
        assert_eq!(
            (t.min_accuracy, t.max_p95_latency_ms, t.max_error_rate),
            (0.95, 3000.0, 0.02)
        );
        assert_eq!((t.indifference, t.risk), (0.01, 0.01));
        assert!(t.validate().is_ok());
    }

    #[test]
    fn invalid_thresholds_name_their_fields() {
        let t = Thresholds {
            min_sample_size: 0,
            min_accuracy: 1.5,
            ..Thresholds::default()
        };
        assert_eq!(fields(&t), ["min_accuracy", "min_sample_size"]);
    }

    #[test]
    fn risk_must_lie_in_the_open_half_unit() {
        for risk in [0.0, 0.5, -0.1, f64::NAN] {
            let t = Thresholds {
                risk,
                quarantine_risk: risk,
                ..Thresholds::default()
            };
            assert_eq!(fields(&t), ["risk", "quarantine_risk"], "risk {risk}");
        }
    }

    #[test]
    fn indifference_must_lie_below_the_threshold() {
        for indifference in [0.0, 0.95, 0.96, -0.01] {
            let t = Thresholds {
                indifference,
                ..Thresholds::default()
            };
            assert_eq!(fields(&t), ["indifference"], "indifference {indifference}");
        }
        let low_bar = Thresholds {
            min_accuracy: 0.3,
            indifference: 0.3,
            ..Thresholds::default()
        };
        assert_eq!(fields(&low_bar), ["indifference"]);
    }
}

//! V2's smoke test of a deployment being promoted (`POST
//! /internal/smoke/{id}`), as V2 answers it and the gate reads and keeps it.

use serde::{Deserialize, Serialize};
use trizone_core::provider::ErrorKind;
use uuid::Uuid;

pub use crate::states::ReviewOutcome;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SmokeReport {
    pub deployment_id: Uuid,
    pub version: i64,
    pub fingerprint: String,
    /// True when every case got a well-formed review.
    pub passed: bool,
    pub cases: Vec<SmokeCaseReport>,
}

impl SmokeReport {
    /// The cases that got no review.
    pub fn failed_cases(&self) -> impl Iterator<Item = &SmokeCaseReport> {
        self.cases
            .iter()
            .filter(|case| case.outcome != ReviewOutcome::Ok)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SmokeCaseReport {
    pub id: String,
    pub outcome: ReviewOutcome,
    /// The kind of failure, for `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<ErrorKind>,
    /// What the provider said, for `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub answered_by: Vec<String>,
    pub latency_ms: f64,
    pub findings: usize,
    pub expected_findings: usize,
    /// Expected findings the review found.
    pub matched: u32,
    pub false_positives: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_are_spelled_as_stored() {
        for outcome in [ReviewOutcome::Ok, ReviewOutcome::Error] {
            assert_eq!(
                serde_json::to_value(outcome).unwrap(),
                serde_json::Value::from(outcome.as_str())
            );
        }
    }
}

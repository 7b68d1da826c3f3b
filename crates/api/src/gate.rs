//! The gate's decisions as its API shows them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use trizone_core::Decision;
use uuid::Uuid;

use crate::states::{Outcome, Trigger};

/// A stored decision, as the gate's API shows it and its clients read it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DecisionRecord {
    pub id: Uuid,
    pub run_id: Uuid,
    pub experiment_id: Uuid,
    pub fingerprint: String,
    pub decision: Decision,
    /// Every check with its value, bound, threshold and reason.
    #[schema(value_type = Object)]
    pub verdict: serde_json::Value,
    #[schema(value_type = Object)]
    pub thresholds: serde_json::Value,
    #[schema(value_type = Object)]
    pub metrics: serde_json::Value,
    pub outcome: Outcome,
    pub deployment_id: Option<Uuid>,
    pub quarantine_record_id: Option<Uuid>,
    pub decided_by: String,
    pub trigger: Trigger,
    pub created_at: DateTime<Utc>,
    /// The pooled counts the verdict rests on (absent on decisions from
    /// before sequential evaluation, which judged one run alone).
    #[schema(value_type = Option<Object>)]
    pub evidence: Option<serde_json::Value>,
    /// The runs whose recorded cases were pooled; each run's seed is on it.
    pub pooled_runs: Option<Vec<Uuid>>,
}

//! The gate's decisions as its API shows them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use trizone_core::{Decision, RolloutPlan, StepEvidence, Verdict};
use uuid::Uuid;

use crate::audit::ChainReport;
use crate::states::{DeploymentStatus, Outcome, Trigger};

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

/// A page of decisions, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DecisionPage {
    pub decisions: Vec<DecisionRecord>,
    /// The offset of the next page, when there may be one.
    pub next_offset: Option<i64>,
}

/// Which part of its plan a rollout is at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RolloutStage {
    /// V2 mirrors a sample of live requests to the candidate.
    Shadow,
    /// The candidate answers a share of the users.
    Canary,
    /// The last step: everyone, about to be enabled.
    Everyone,
}

impl RolloutStage {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Shadow => "shadow",
            Self::Canary => "canary",
            Self::Everyone => "everyone",
        }
    }
}

/// Where a rollout stands, as admins read it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RolloutView {
    pub deployment_id: Uuid,
    pub version: i64,
    pub fingerprint: String,
    pub stable_deployment_id: Uuid,
    pub status: DeploymentStatus,
    pub stage: RolloutStage,
    /// Steps passed (the shadow step counts as one).
    pub step: i32,
    /// Percent of requests the candidate answers now.
    pub share: f64,
    pub shadow_sample: f64,
    pub paused: bool,
    pub step_started_at: DateTime<Utc>,
    #[schema(value_type = Object)]
    pub plan: RolloutPlan,
    /// The live evidence of the current step, and the online judge on it.
    pub evidence: StepEvidence,
    #[schema(value_type = Object)]
    pub verdict: Verdict,
}

/// The rollout in progress, if any.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RolloutAnswer {
    /// Absent when no candidate is being rolled out.
    pub rollout: Option<RolloutView>,
}

/// The audit trail's integrity, as the gate reads it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditReport {
    /// `{"status": "intact", "events", "head"}`, or `{"status": "broken",
    /// "seq", "problem", ...}` naming the first bad event.
    #[schema(value_type = Object)]
    pub chain: ChainReport,
}

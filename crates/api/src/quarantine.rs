//! V3's archive as it answers: quarantine records with their evidence,
//! re-evaluations and the blacklist. V3 writes these, V1 reads a record
//! before registering its re-evaluation, and the CLI prints them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use trizone_core::ExperimentStatus;
use uuid::Uuid;

use crate::audit::{AuditEvent, ChainReport};

/// A record as listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RecordSummary {
    pub id: Uuid,
    pub experiment_id: Uuid,
    pub fingerprint: String,
    pub name: String,
    pub owner: String,
    pub primary_model: String,
    pub secondary_model: Option<String>,
    pub reason: String,
    pub reevaluation_eligible: bool,
    pub deployment_id: Option<Uuid>,
    pub decided_by: String,
    pub created_at: DateTime<Utc>,
}

/// A record with all its evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Record {
    #[serde(flatten)]
    pub summary: RecordSummary,
    #[schema(value_type = Object)]
    pub configuration: serde_json::Value,
    /// Each failed check: name, value, bound, threshold, reason (or the
    /// failing smoke cases, or the breaching SLO windows).
    #[schema(value_type = Vec<Object>)]
    pub failed_checks: serde_json::Value,
    #[schema(value_type = Object)]
    pub metrics: Option<serde_json::Value>,
    #[schema(value_type = Object)]
    pub impact: serde_json::Value,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RecordPage {
    pub records: Vec<RecordSummary>,
    /// The offset of the next page, when there may be one.
    pub next_offset: Option<i64>,
}

/// A re-evaluation of a record: the experiment V1 registered from it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Reevaluation {
    pub experiment_id: Uuid,
    pub status: ExperimentStatus,
    pub owner: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BlacklistEntry {
    pub fingerprint: String,
    pub reason: String,
    pub record_id: Option<Uuid>,
    pub blacklisted_by: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReevaluationStatus {
    /// The record allows it and the configuration is not blacklisted.
    pub eligible: bool,
    /// The blacklist entry, or null when the configuration is not blacklisted.
    pub blacklisted: Option<BlacklistEntry>,
    /// A re-evaluation is registered, evaluating or evaluated now.
    pub open: bool,
    /// Every experiment V1 registered from this record, oldest first.
    pub history: Vec<Reevaluation>,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditTrail {
    /// Audit events about this configuration (by fingerprint), oldest first.
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<AuditEvent>,
    /// Whether the chain verifies: every event since V3 last looked, and
    /// these events, each against its neighbours, every time.
    #[schema(value_type = Object)]
    pub chain: ChainReport,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RecordView {
    #[serde(flatten)]
    pub record: Record,
    pub reevaluation: ReevaluationStatus,
    pub audit: AuditTrail,
}

//! V1's experiments as its API shows them: the registered configuration,
//! its status, and on a single read its pooled evidence and what to do next.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use trizone_core::{CheckName, Configuration, Decision, ExperimentStatus, TestState, Verdict};
use uuid::Uuid;

/// An experiment as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExperimentView {
    pub id: Uuid,
    pub name: String,
    pub owner: String,
    pub description: String,
    pub fingerprint: String,
    pub status: ExperimentStatus,
    pub configuration: Configuration,
    /// The quarantine record this experiment re-evaluates.
    pub reevaluation_of: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The pooled evidence and the gate's latest decision on it (on `GET .../{id}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub readiness: Option<Readiness>,
    /// What the gate's judge says of the pooled evidence now, with the
    /// gate's thresholds: the verdict its next judgement would give (on
    /// `GET .../{id}`; a non-inferiority check, when the gate has one, is
    /// left to the gate).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    /// What to do next, in a sentence with the command (on `GET .../{id}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_step: Option<String>,
    /// The gate's latest decision on this configuration, in brief (on the
    /// list; a single read has it in `readiness`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_decision: Option<DecisionSummary>,
}

/// The gate's latest decision on a configuration, in brief.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DecisionSummary {
    pub id: Uuid,
    pub decision: Decision,
    /// The pooled cases it rested on.
    pub cases: Option<i64>,
    pub decided_at: DateTime<Utc>,
}

/// One page of experiments, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExperimentPage {
    pub items: Vec<ExperimentView>,
    /// Offset of the next page, absent on the last one.
    pub next_offset: Option<i64>,
}

/// One row of `experiments_v1.promotion_readiness`: an experiment's pooled
/// evidence and the gate's latest decision on its configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Readiness {
    pub experiment_id: Uuid,
    pub name: String,
    pub owner: String,
    pub fingerprint: String,
    pub status: ExperimentStatus,
    /// Cases pooled over every run of this configuration.
    pub cases: i64,
    pub accuracy: Option<f64>,
    pub error_rate: Option<f64>,
    pub latency_p95_ms: Option<f64>,
    pub cost_usd: f64,
    pub satisfaction: Option<f64>,
    /// The gate's latest decision on the configuration, if any.
    pub decision_id: Option<Uuid>,
    pub decision: Option<Decision>,
    /// The cases that decision rested on (fewer than `cases` when runs
    /// ended since).
    pub decided_on_cases: Option<i64>,
    /// For an inconclusive decision: the further cases the judge expected.
    pub additional_cases_needed: Option<i64>,
    pub decided_at: Option<DateTime<Utc>>,
    /// The gate's latest decision was a pass.
    pub ready: bool,
}

/// How a configuration's sequential tests moved as its evidence grew, case
/// by case in the order cases were recorded (sampled to a few hundred
/// points): what a chart of the log-likelihood ratio against its boundaries,
/// and of the anytime-valid range narrowing, is drawn from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EvidencePath {
    pub fingerprint: String,
    /// Every case pooled so far.
    pub cases: u64,
    pub points: Vec<EvidencePoint>,
}

/// The tests after the first `cases` cases.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EvidencePoint {
    pub cases: u64,
    pub tests: Vec<CheckTest>,
}

/// One check's sequential test at a point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CheckTest {
    pub check: CheckName,
    pub test: TestState,
}

/// Two configurations on the cases both were evaluated on: how often each
/// was right where the other was not, the cases where they differ, and
/// their latency and cost side by side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Comparison {
    pub a: ComparedSide,
    pub b: ComparedSide,
    /// Cases (by content) in both configurations' evidence.
    pub shared_cases: u64,
    pub agreement: Agreement,
    /// The shared cases one got right and the other did not, by case id,
    /// at most [`Comparison::MAX_DIFFERING`]; `differing_total` counts all.
    pub differing: Vec<DifferingCase>,
    pub differing_total: u64,
}

impl Comparison {
    pub const MAX_DIFFERING: usize = 500;
}

/// One configuration of a comparison, on the shared cases.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ComparedSide {
    pub experiment_id: Uuid,
    pub name: String,
    pub fingerprint: String,
    pub correct: u64,
    pub errors: u64,
    /// Latency of the answered cases, milliseconds.
    pub latency_ms: Quantiles,
    pub cost_usd: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Quantiles {
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
}

/// The agreement table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Agreement {
    pub both_right: u64,
    pub only_a_right: u64,
    pub only_b_right: u64,
    pub both_wrong: u64,
}

/// A shared case the two configurations scored differently, with the run
/// each was evaluated in (a case's page is one click away).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DifferingCase {
    pub a_run: Uuid,
    pub a_case_id: String,
    pub a_correct: bool,
    pub b_run: Uuid,
    pub b_case_id: String,
    pub b_correct: bool,
}

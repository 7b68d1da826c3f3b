//! V1's evaluation runs as its API shows them: the run, its progress and,
//! once it ends, its metrics and the judge's verdict.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use trizone_core::{ExpectedFinding, Finding, Language, RunMetrics, Verdict};
use uuid::Uuid;

use crate::states::{CaseOutcome, FormatRecovery, RunStatus, StopReason};

/// A run, as V1's API shows it (inside a run view) and its clients read it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Run {
    pub id: Uuid,
    pub experiment_id: Uuid,
    pub dataset_id: Uuid,
    pub status: RunStatus,
    pub concurrency: i32,
    pub cases_total: i32,
    pub error: Option<String>,
    pub requested_by: String,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The seed of the run's case order (absent on runs from before
    /// sequential evaluation, which ran in upload order).
    pub seed: Option<i64>,
    /// Whether the run evaluates every case instead of stopping once the
    /// judge has decided.
    pub exhaustive: bool,
    /// `decided` (the judge decided, the rest were not needed) or
    /// `exhausted` (every case was used); absent until the run ends.
    pub stop_reason: Option<StopReason>,
    /// Cases left unsent because the judge had decided.
    pub cases_not_needed: Option<i32>,
}

/// A run's progress so far, from its recorded analyses.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Progress {
    pub cases_done: i64,
    pub correct: i64,
    pub errors: i64,
    pub true_positives: i64,
    pub false_positives: i64,
    pub false_negatives: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_usd: f64,
    /// Cases whose answer broke the output contract but was still read
    /// exactly (a fenced object): how often the model needed help.
    pub format_recoveries: i64,
}

/// A run with its progress, and its metrics once finished.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RunView {
    #[serde(flatten)]
    pub run: Run,
    pub progress: Progress,
    /// Correct cases among those done so far.
    pub running_accuracy: Option<f64>,
    pub metrics: Option<RunMetrics>,
    /// Cost of the cases done so far, scaled to 1,000 reviews.
    pub cost_per_1000_reviews_usd: Option<f64>,
    /// The judge's verdict on the configuration's pooled evidence when the
    /// run ended (the gate's decision, made from the same evidence, is the
    /// one that counts).
    pub verdict: Option<Verdict>,
    /// How the run ended, in a sentence ("decided after 412 of 1,000 cases").
    pub summary: Option<String>,
    /// Where its per-case results are (`GET`, filterable and paged).
    pub cases_url: String,
}

impl RunView {
    /// Where `run`'s per-case results are.
    pub fn cases_url(run: Uuid) -> String {
        format!("/api/v1/runs/{run}/cases")
    }

    /// A run just started: nothing done, nothing measured yet.
    pub fn started(run: Run) -> Self {
        Self {
            cases_url: Self::cases_url(run.id),
            run,
            progress: Progress::default(),
            running_accuracy: None,
            metrics: None,
            cost_per_1000_reviews_usd: None,
            verdict: None,
            summary: None,
        }
    }

    /// Whether the run has ended (finished, failed or cancelled).
    pub fn is_over(&self) -> bool {
        !self.run.status.is_active()
    }
}

/// One case of a run, as an experimenter reads it to see what went wrong.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CaseResult {
    pub case_id: String,
    pub language: Language,
    pub path: String,
    pub outcome: CaseOutcome,
    /// What the dataset expects.
    pub expected: Vec<ExpectedFinding>,
    /// What the model found (empty for an error or a case not needed).
    pub found: Vec<Finding>,
    /// `(found index, expected index)` of each match, under the scoring
    /// policy the run used.
    pub matches: Vec<(usize, usize)>,
    pub true_positives: i32,
    pub false_positives: i32,
    pub false_negatives: i32,
    /// Why the review failed: the kind, and the providers' message.
    pub error_kind: Option<String>,
    pub error_message: Option<String>,
    /// The model's answer as it came, its first 4,000 characters.
    pub answer: Option<String>,
    /// Set when the answer had to be unwrapped to be read.
    pub format_recovery: Option<FormatRecovery>,
    pub latency_ms: Option<f64>,
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub cost_usd: Option<f64>,
    /// `provider/model` that answered.
    pub answered_by: Option<String>,
    pub fallback_reason: Option<String>,
}

/// A page of a run's cases, in case id order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CasePage {
    pub cases: Vec<CaseResult>,
    /// Pass as `after` for the next page; absent on the last one.
    pub next_after: Option<String>,
}

/// One case of a run with the code it was reviewed on: what a person needs
/// to see expected and found findings on their lines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CaseDetail {
    #[serde(flatten)]
    pub result: CaseResult,
    pub code: String,
}

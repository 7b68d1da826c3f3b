//! Repository for evaluation runs and their per-case analyses.
//!
//! A run is worked by one replica at a time under a lease
//! (`lease_owner`, `lease_expires_at`) that the worker renews; a replica
//! that dies stops renewing and another claims the run once it expires.
//! Each case is recorded at most once (`PRIMARY KEY (run_id, case_id)`), so
//! a resumed run never counts a case twice.

use std::time::Duration;

use sqlx::postgres::types::PgInterval;
use sqlx::types::Json;
use sqlx::{PgConnection, PgExecutor};

use trizone_core::{ExpectedFinding, Finding, Language, MatchPolicy, score_case};
use uuid::Uuid;

use crate::StoreError;
use crate::datasets::{Case, CaseRow};

pub use trizone_api::runs::{CaseResult, Progress, Run};
pub use trizone_api::states::{CaseOutcome, FormatRecovery, ReviewOutcome, RunStatus, StopReason};

/// A run about to be queued.
#[derive(Debug, Clone)]
pub struct NewRun<'a> {
    pub experiment_id: Uuid,
    pub dataset_id: Uuid,
    pub concurrency: i32,
    /// The dataset's cases not yet evaluated for the configuration.
    pub cases_total: i32,
    pub requested_by: &'a str,
    pub seed: i64,
    pub exhaustive: bool,
}

pub async fn create(executor: impl PgExecutor<'_>, new: NewRun<'_>) -> Result<Run, StoreError> {
    let run = sqlx::query_as!(
        Run,
        r#"INSERT INTO experiments_v1.evaluation_runs
               (experiment_id, dataset_id, concurrency, cases_total, requested_by, seed, exhaustive)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           RETURNING id, experiment_id, dataset_id, status AS "status: RunStatus", concurrency, cases_total, error, requested_by,
                     created_at, started_at, finished_at, seed, exhaustive, stop_reason AS "stop_reason: StopReason", cases_not_needed"#,
        new.experiment_id,
        new.dataset_id,
        new.concurrency,
        new.cases_total,
        new.requested_by,
        new.seed,
        new.exhaustive
    )
    .fetch_one(executor)
    .await?;
    Ok(run)
}

pub async fn get(executor: impl PgExecutor<'_>, id: Uuid) -> Result<Run, StoreError> {
    sqlx::query_as!(
        Run,
        r#"SELECT id, experiment_id, dataset_id, status AS "status: RunStatus", concurrency, cases_total, error, requested_by,
                  created_at, started_at, finished_at, seed, exhaustive, stop_reason AS "stop_reason: StopReason", cases_not_needed
           FROM experiments_v1.evaluation_runs WHERE id = $1"#,
        id
    )
    .fetch_optional(executor)
    .await?
    .ok_or_else(|| StoreError::NotFound { entity: "run", id: id.to_string() })
}

/// The experiment's runs, newest first (at most `limit`).
pub async fn for_experiment(
    executor: impl PgExecutor<'_>,
    experiment_id: Uuid,
    limit: i64,
) -> Result<Vec<Run>, StoreError> {
    Ok(sqlx::query_as!(
        Run,
        r#"SELECT id, experiment_id, dataset_id, status AS "status: RunStatus", concurrency, cases_total, error, requested_by,
                  created_at, started_at, finished_at, seed, exhaustive, stop_reason AS "stop_reason: StopReason", cases_not_needed
           FROM experiments_v1.evaluation_runs WHERE experiment_id = $1
           ORDER BY created_at DESC, id LIMIT $2"#,
        experiment_id,
        limit
    )
    .fetch_all(executor)
    .await?)
}

/// The experiment's queued or running run, if any.
pub async fn active_for(
    executor: impl PgExecutor<'_>,
    experiment_id: Uuid,
) -> Result<Option<Uuid>, StoreError> {
    let id = sqlx::query_scalar!(
        r#"SELECT id FROM experiments_v1.evaluation_runs
           WHERE experiment_id = $1 AND status IN ('queued', 'running') LIMIT 1"#,
        experiment_id
    )
    .fetch_optional(executor)
    .await?;
    Ok(id)
}

fn interval(duration: Duration) -> PgInterval {
    PgInterval {
        months: 0,
        days: 0,
        microseconds: i64::try_from(duration.as_micros()).unwrap_or(i64::MAX),
    }
}

/// The dataset of the experiment's latest run, if it has one.
pub async fn latest_dataset(
    executor: impl PgExecutor<'_>,
    experiment_id: Uuid,
) -> Result<Option<Uuid>, StoreError> {
    Ok(sqlx::query_scalar!(
        r#"SELECT dataset_id FROM experiments_v1.evaluation_runs
           WHERE experiment_id = $1 ORDER BY created_at DESC, id LIMIT 1"#,
        experiment_id
    )
    .fetch_optional(executor)
    .await?)
}

/// Claims, for the replica `owner`, a run nobody holds a live lease on:
/// the oldest of those whose experiment's owner has the fewest runs being
/// worked, so one experimenter's queue cannot starve everyone else's.
pub async fn claim(
    executor: impl PgExecutor<'_>,
    owner: &str,
    lease: Duration,
) -> Result<Option<Run>, StoreError> {
    let run = sqlx::query_as!(
        Run,
        r#"UPDATE experiments_v1.evaluation_runs r
           SET status = 'running', lease_owner = $1, lease_expires_at = now() + $2::interval,
               started_at = coalesce(r.started_at, now())
           WHERE r.id = (
               SELECT c.id FROM experiments_v1.evaluation_runs c
               JOIN experiments_v1.experiments e ON e.id = c.experiment_id
               WHERE c.status IN ('queued', 'running')
                 AND (c.lease_expires_at IS NULL OR c.lease_expires_at < now())
               ORDER BY (SELECT count(*) FROM experiments_v1.evaluation_runs w
                         JOIN experiments_v1.experiments we ON we.id = w.experiment_id
                         WHERE we.owner = e.owner AND w.status = 'running'
                           AND w.lease_expires_at >= now()),
                        c.created_at
               FOR UPDATE OF c SKIP LOCKED
               LIMIT 1)
           RETURNING r.id, r.experiment_id, r.dataset_id, r.status AS "status: RunStatus", r.concurrency, r.cases_total, r.error,
                     r.requested_by, r.created_at, r.started_at, r.finished_at, r.seed, r.exhaustive,
                     r.stop_reason AS "stop_reason: StopReason", r.cases_not_needed"#,
        owner,
        interval(lease) as _
    )
    .fetch_optional(executor)
    .await?;
    Ok(run)
}

/// Extends `owner`'s lease; false when it no longer holds the run (lost,
/// or the run was cancelled or ended).
pub async fn renew(
    executor: impl PgExecutor<'_>,
    id: Uuid,
    owner: &str,
    lease: Duration,
) -> Result<bool, StoreError> {
    let renewed = sqlx::query!(
        r#"UPDATE experiments_v1.evaluation_runs SET lease_expires_at = now() + $3::interval
           WHERE id = $1 AND lease_owner = $2 AND status = 'running'"#,
        id,
        owner,
        interval(lease) as _
    )
    .execute(executor)
    .await?;
    Ok(renewed.rows_affected() == 1)
}

/// What one case of a run produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    pub case_id: String,
    /// `None` when the review succeeded; the error kind otherwise.
    pub error_kind: Option<String>,
    pub findings: Vec<Finding>,
    pub true_positives: i32,
    pub false_positives: i32,
    pub false_negatives: i32,
    pub correct: bool,
    pub latency_ms: f64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_usd: f64,
    pub answered_by: Option<String>,
    pub fallback_reason: Option<String>,
    /// Set when the answer had to be unwrapped to be read.
    pub format_recovery: Option<FormatRecovery>,
    /// The model's answer as it came, bounded (see the column's CHECK).
    pub answer: Option<String>,
    /// For a failed review, what the providers said.
    pub error_message: Option<String>,
}

/// The columns' bounds, in characters.
const ANSWER_CHARS: usize = 4_000;
const ERROR_MESSAGE_CHARS: usize = 2_000;

fn bounded(text: &str, chars: usize) -> String {
    text.chars().take(chars).collect()
}

/// What recording a case did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Recorded, and counted as evidence for the configuration.
    Counted,
    /// Recorded, but the configuration already had evidence on this case.
    AlreadyCounted,
    /// Not recorded: the run already has it, or is no longer running.
    Ignored,
}

/// Records a case's analysis once, while the run is running, and counts it
/// as evidence for `fingerprint` unless that case already counts.
pub async fn record(
    executor: impl PgExecutor<'_>,
    run_id: Uuid,
    fingerprint: &str,
    case_key: &str,
    a: &Analysis,
) -> Result<Recorded, StoreError> {
    let outcome = if a.error_kind.is_some() {
        ReviewOutcome::Error
    } else {
        ReviewOutcome::Ok
    };
    let row = sqlx::query!(
        r#"WITH analysis AS (
               INSERT INTO experiments_v1.code_analyses
                   (run_id, case_id, outcome, error_kind, findings, true_positives, false_positives, false_negatives,
                    correct, latency_ms, input_tokens, output_tokens, cost_usd, answered_by, fallback_reason,
                    format_recovery, answer, error_message)
               SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $18, $19, $20
               WHERE EXISTS (SELECT 1 FROM experiments_v1.evaluation_runs WHERE id = $1 AND status = 'running')
               ON CONFLICT (run_id, case_id) DO NOTHING
               RETURNING run_id, case_id),
           counted AS (
               INSERT INTO experiments_v1.evidence (fingerprint, case_key, run_id, case_id)
               SELECT $16, $17, run_id, case_id FROM analysis
               ON CONFLICT (fingerprint, case_key) DO NOTHING
               RETURNING 1)
           SELECT (SELECT count(*) FROM analysis) AS "recorded!", (SELECT count(*) FROM counted) AS "counted!""#,
        run_id,
        a.case_id,
        outcome.as_str(),
        a.error_kind,
        Json(&a.findings) as _,
        a.true_positives,
        a.false_positives,
        a.false_negatives,
        a.correct,
        a.latency_ms,
        a.input_tokens,
        a.output_tokens,
        a.cost_usd,
        a.answered_by,
        a.fallback_reason,
        fingerprint,
        case_key,
        a.format_recovery.map(FormatRecovery::as_str),
        a.answer.as_deref().map(|t| bounded(t, ANSWER_CHARS)),
        a.error_message.as_deref().map(|t| bounded(t, ERROR_MESSAGE_CHARS)),
    )
    .fetch_one(executor)
    .await?;
    Ok(match (row.recorded, row.counted) {
        (0, _) => Recorded::Ignored,
        (_, 0) => Recorded::AlreadyCounted,
        _ => Recorded::Counted,
    })
}

/// The run's cases still to evaluate, in upload order: those of its
/// dataset that this run has not recorded and that are not yet evidence for
/// `fingerprint` (from this run or any other).
pub async fn pending_cases(
    executor: impl PgExecutor<'_>,
    run: &Run,
    fingerprint: &str,
) -> Result<Vec<Case>, StoreError> {
    let rows = sqlx::query_as!(
        CaseRow,
        r#"SELECT c.ordinal, c.case_id, c.language AS "language: trizone_core::Language", c.path, c.code,
                  c.expected_findings AS "expected_findings: Json<Vec<trizone_core::ExpectedFinding>>",
                  c.case_key
           FROM experiments_v1.dataset_cases c
           WHERE c.dataset_id = $2
             AND NOT EXISTS (SELECT 1 FROM experiments_v1.code_analyses a WHERE a.run_id = $1 AND a.case_id = c.case_id)
             AND NOT EXISTS (SELECT 1 FROM experiments_v1.evidence v WHERE v.fingerprint = $3 AND v.case_key = c.case_key)
           ORDER BY c.ordinal"#,
        run.id,
        run.dataset_id,
        fingerprint
    )
    .fetch_all(executor)
    .await?;
    Ok(rows.into_iter().map(Case::from).collect())
}

pub async fn progress(executor: impl PgExecutor<'_>, run_id: Uuid) -> Result<Progress, StoreError> {
    let p = sqlx::query_as!(
        Progress,
        r#"SELECT count(*) AS "cases_done!",
                  count(*) FILTER (WHERE correct) AS "correct!",
                  count(*) FILTER (WHERE outcome = 'error') AS "errors!",
                  coalesce(sum(true_positives), 0)::bigint AS "true_positives!",
                  coalesce(sum(false_positives), 0)::bigint AS "false_positives!",
                  coalesce(sum(false_negatives), 0)::bigint AS "false_negatives!",
                  coalesce(sum(input_tokens), 0)::bigint AS "input_tokens!",
                  coalesce(sum(output_tokens), 0)::bigint AS "output_tokens!",
                  coalesce(sum(cost_usd), 0)::float8 AS "cost_usd!",
                  count(*) FILTER (WHERE format_recovery IS NOT NULL) AS "format_recoveries!"
           FROM experiments_v1.code_analyses WHERE run_id = $1"#,
        run_id
    )
    .fetch_one(executor)
    .await?;
    Ok(p)
}

/// Latencies of the run's successful cases, for its histogram.
pub async fn latencies_ms(
    executor: impl PgExecutor<'_>,
    run_id: Uuid,
) -> Result<Vec<f64>, StoreError> {
    let latencies = sqlx::query_scalar!(
        "SELECT latency_ms FROM experiments_v1.code_analyses WHERE run_id = $1 AND outcome = 'ok'",
        run_id
    )
    .fetch_all(executor)
    .await?;
    Ok(latencies)
}

/// The run's metrics row, written when it finishes.
#[derive(Debug, Clone, PartialEq)]
pub struct FinalMetrics {
    pub progress: Progress,
    pub latency_p50_ms: Option<f64>,
    pub latency_p95_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    pub latency_histogram: Option<Vec<u8>>,
    pub throughput_per_s: Option<f64>,
    pub stop_reason: StopReason,
    pub cases_not_needed: i32,
    /// The judge's verdict on the pooled evidence as the run ended.
    pub verdict: trizone_core::Verdict,
}

/// Finishes a run `owner` holds: metrics written, run finished. Returns
/// false (writing nothing) if the lease was lost or the run was cancelled.
pub async fn finish(
    conn: &mut PgConnection,
    run: &Run,
    owner: &str,
    metrics: &FinalMetrics,
) -> Result<bool, StoreError> {
    let ended = sqlx::query!(
        r#"UPDATE experiments_v1.evaluation_runs
           SET status = 'finished', finished_at = now(), lease_owner = NULL, lease_expires_at = NULL,
               stop_reason = $3, cases_not_needed = $4, verdict = $5
           WHERE id = $1 AND lease_owner = $2 AND status = 'running'"#,
        run.id,
        owner,
        metrics.stop_reason as StopReason,
        metrics.cases_not_needed,
        Json(&metrics.verdict) as _
    )
    .execute(&mut *conn)
    .await?;
    if ended.rows_affected() == 0 {
        return Ok(false);
    }
    let p = &metrics.progress;
    sqlx::query!(
        r#"INSERT INTO experiments_v1.experiment_metrics
               (run_id, experiment_id, cases, correct, errors, true_positives, false_positives, false_negatives,
                latency_p50_ms, latency_p95_ms, latency_p99_ms, latency_histogram, input_tokens, output_tokens,
                cost_usd, throughput_per_s, format_recoveries)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"#,
        run.id,
        run.experiment_id,
        p.cases_done,
        p.correct,
        p.errors,
        p.true_positives,
        p.false_positives,
        p.false_negatives,
        metrics.latency_p50_ms,
        metrics.latency_p95_ms,
        metrics.latency_p99_ms,
        metrics.latency_histogram,
        p.input_tokens,
        p.output_tokens,
        p.cost_usd,
        metrics.throughput_per_s,
        p.format_recoveries,
    )
    .execute(&mut *conn)
    .await?;
    Ok(true)
}

/// Cancels a queued or running run; false if it had already ended.
pub async fn cancel(executor: impl PgExecutor<'_>, id: Uuid) -> Result<bool, StoreError> {
    let cancelled = sqlx::query!(
        r#"UPDATE experiments_v1.evaluation_runs
           SET status = 'cancelled', finished_at = now(), lease_owner = NULL, lease_expires_at = NULL
           WHERE id = $1 AND status IN ('queued', 'running')"#,
        id
    )
    .execute(executor)
    .await?;
    Ok(cancelled.rows_affected() == 1)
}

/// The latest measured run of an experiment, as the V1 dashboard shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct LatestMetrics {
    pub experiment_id: Uuid,
    pub name: String,
    pub cases: i64,
    pub correct: i64,
    pub false_positives: i64,
    pub false_negatives: i64,
    pub latency_p95_ms: Option<f64>,
    pub cost_usd: f64,
}

/// Each experiment's latest run metrics, for the `limit` experiments
/// measured most recently.
pub async fn latest_metrics(
    executor: impl PgExecutor<'_>,
    limit: i64,
) -> Result<Vec<LatestMetrics>, StoreError> {
    let rows = sqlx::query_as!(
        LatestMetrics,
        r#"SELECT experiment_id AS "experiment_id!", name AS "name!", cases AS "cases!",
                  correct AS "correct!", false_positives AS "false_positives!",
                  false_negatives AS "false_negatives!", latency_p95_ms, cost_usd AS "cost_usd!"
           FROM (SELECT DISTINCT ON (m.experiment_id) m.experiment_id, e.name, m.cases, m.correct,
                        m.false_positives, m.false_negatives, m.latency_p95_ms, m.cost_usd,
                        m.computed_at
                 FROM experiments_v1.experiment_metrics m
                 JOIN experiments_v1.experiments e ON e.id = m.experiment_id
                 ORDER BY m.experiment_id, m.computed_at DESC) latest
           ORDER BY computed_at DESC
           LIMIT $1"#,
        limit
    )
    .fetch_all(executor)
    .await?;
    Ok(rows)
}

/// The stored metrics of a finished run.
pub async fn metrics(
    executor: impl PgExecutor<'_>,
    run_id: Uuid,
) -> Result<Option<trizone_core::RunMetrics>, StoreError> {
    let row = sqlx::query!(
        r#"SELECT m.cases, m.correct, m.errors, m.true_positives, m.false_positives, m.false_negatives,
                  m.latency_p50_ms, m.latency_p95_ms, m.latency_p99_ms, m.input_tokens, m.output_tokens,
                  m.cost_usd, m.throughput_per_s, m.format_recoveries,
                  (SELECT avg(f.score)::float8 FROM experiments_v1.feedback f WHERE f.experiment_id = m.experiment_id) AS satisfaction,
                  (SELECT count(*) FROM experiments_v1.feedback f WHERE f.experiment_id = m.experiment_id) AS "feedback_count!"
           FROM experiments_v1.experiment_metrics m WHERE m.run_id = $1"#,
        run_id
    )
    .fetch_optional(executor)
    .await?;
    let unsigned = |v: i64| u64::try_from(v).unwrap_or(0);
    Ok(row.map(|r| trizone_core::RunMetrics {
        cases: unsigned(r.cases),
        correct: unsigned(r.correct),
        errors: unsigned(r.errors),
        true_positives: unsigned(r.true_positives),
        false_positives: unsigned(r.false_positives),
        false_negatives: unsigned(r.false_negatives),
        latency_p50_ms: r.latency_p50_ms,
        latency_p95_ms: r.latency_p95_ms,
        latency_p99_ms: r.latency_p99_ms,
        input_tokens: unsigned(r.input_tokens),
        output_tokens: unsigned(r.output_tokens),
        cost_usd: r.cost_usd,
        format_recoveries: unsigned(r.format_recoveries),
        throughput_per_s: r.throughput_per_s,
        satisfaction: r.satisfaction,
        feedback_count: unsigned(r.feedback_count),
    }))
}

/// Gives a run back (graceful shutdown) so another replica can resume it
/// now instead of when the lease would have expired.
pub async fn release(
    executor: impl PgExecutor<'_>,
    id: Uuid,
    owner: &str,
) -> Result<(), StoreError> {
    sqlx::query!(
        r#"UPDATE experiments_v1.evaluation_runs SET lease_expires_at = now()
           WHERE id = $1 AND lease_owner = $2 AND status = 'running'"#,
        id,
        owner
    )
    .execute(executor)
    .await?;
    Ok(())
}

/// Ends a run `owner` holds as failed, with the reason.
pub async fn fail(
    executor: impl PgExecutor<'_>,
    id: Uuid,
    owner: &str,
    error: &str,
) -> Result<bool, StoreError> {
    let failed = sqlx::query!(
        r#"UPDATE experiments_v1.evaluation_runs
           SET status = 'failed', error = $3, finished_at = now(), lease_owner = NULL, lease_expires_at = NULL
           WHERE id = $1 AND lease_owner = $2 AND status = 'running'"#,
        id,
        owner,
        error
    )
    .execute(executor)
    .await?;
    Ok(failed.rows_affected() == 1)
}

/// Whether the experiment has metrics from any earlier finished run.
pub async fn has_metrics(
    executor: impl PgExecutor<'_>,
    experiment_id: Uuid,
) -> Result<bool, StoreError> {
    let found = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM experiments_v1.experiment_metrics WHERE experiment_id = $1) AS "found!""#,
        experiment_id
    )
    .fetch_one(executor)
    .await?;
    Ok(found)
}

/// The judge's verdict stored when the run ended, if it has.
pub async fn verdict(
    executor: impl PgExecutor<'_>,
    run_id: Uuid,
) -> Result<Option<trizone_core::Verdict>, StoreError> {
    let verdict = sqlx::query_scalar!(
        r#"SELECT verdict AS "verdict: Json<trizone_core::Verdict>" FROM experiments_v1.evaluation_runs WHERE id = $1"#,
        run_id
    )
    .fetch_optional(executor)
    .await?
    .flatten();
    Ok(verdict.map(|v| v.0))
}

/// Which of a run's cases to list, and how many.
#[derive(Debug, Clone, Default)]
pub struct CaseFilter {
    pub outcome: Option<CaseOutcome>,
    /// Cases with (`true`) or without a false positive.
    pub false_positive: Option<bool>,
    /// Cases with (`true`) or without a false negative.
    pub false_negative: Option<bool>,
    pub language: Option<Language>,
    /// Cases whose answer had (`true`) or had not to be unwrapped to be read.
    pub recovered: Option<bool>,
    /// This case alone.
    pub case_id: Option<String>,
    /// Only cases whose id sorts after this one (the previous page's last).
    pub after: Option<String>,
    pub limit: i64,
}

/// A run's cases in case id order, filtered: those it reviewed and, once it
/// stopped as decided, the cases of its dataset it did not need (those
/// that were not already evidence for `fingerprint` from another run).
pub async fn cases(
    executor: impl PgExecutor<'_>,
    run: &Run,
    fingerprint: &str,
    filter: &CaseFilter,
) -> Result<Vec<CaseResult>, StoreError> {
    let decided = run.status == RunStatus::Finished && run.stop_reason == Some(StopReason::Decided);
    let rows = sqlx::query!(
        r#"WITH listed AS (
               SELECT c.case_id, c.language, c.path, c.expected_findings,
                      CASE WHEN a.run_id IS NULL THEN 'not_needed'
                           WHEN a.outcome = 'error' THEN 'error'
                           WHEN a.correct THEN 'correct'
                           ELSE 'wrong' END AS outcome,
                      a.findings, a.true_positives, a.false_positives, a.false_negatives, a.error_kind,
                      a.error_message, a.answer, a.format_recovery, a.latency_ms, a.input_tokens,
                      a.output_tokens, a.cost_usd, a.answered_by, a.fallback_reason
               FROM experiments_v1.dataset_cases c
               LEFT JOIN experiments_v1.code_analyses a ON a.run_id = $1 AND a.case_id = c.case_id
               WHERE c.dataset_id = $2
                 AND (a.run_id IS NOT NULL
                      OR ($3 AND NOT EXISTS (SELECT 1 FROM experiments_v1.evidence v
                                             WHERE v.fingerprint = $4 AND v.case_key = c.case_key))))
           SELECT case_id AS "case_id!", language AS "language!: Language", path AS "path!",
                  expected_findings AS "expected_findings!: Json<Vec<ExpectedFinding>>",
                  outcome AS "outcome!: CaseOutcome",
                  findings AS "findings?: Json<Vec<Finding>>", true_positives AS "true_positives?",
                  false_positives AS "false_positives?", false_negatives AS "false_negatives?",
                  error_kind AS "error_kind?", error_message AS "error_message?", answer AS "answer?",
                  format_recovery AS "format_recovery?: FormatRecovery", latency_ms AS "latency_ms?",
                  input_tokens AS "input_tokens?", output_tokens AS "output_tokens?", cost_usd AS "cost_usd?",
                  answered_by AS "answered_by?", fallback_reason AS "fallback_reason?"
           FROM listed
           WHERE ($5::text IS NULL OR outcome = $5)
             AND ($6::bool IS NULL OR (coalesce(false_positives, 0) > 0) = $6)
             AND ($7::bool IS NULL OR (coalesce(false_negatives, 0) > 0) = $7)
             AND ($8::text IS NULL OR language = $8)
             AND ($9::text IS NULL OR case_id > $9)
             AND ($11::bool IS NULL OR (format_recovery IS NOT NULL) = $11)
             AND ($12::text IS NULL OR case_id = $12)
           ORDER BY case_id
           LIMIT $10"#,
        run.id,
        run.dataset_id,
        decided,
        fingerprint,
        filter.outcome.map(CaseOutcome::as_str),
        filter.false_positive,
        filter.false_negative,
        filter.language.map(Language::as_str),
        filter.after,
        filter.limit,
        filter.recovered,
        filter.case_id,
    )
    .fetch_all(executor)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let expected = r.expected_findings.0;
            let found = r.findings.map(|f| f.0).unwrap_or_default();
            // The worker scores with the default policy; the matches are
            // recomputed the same way rather than stored twice.
            let matches = score_case(&expected, &found, MatchPolicy::default()).matches;
            // A case not needed expects what it expects and missed nothing.
            CaseResult {
                case_id: r.case_id,
                language: r.language,
                path: r.path,
                outcome: r.outcome,
                matches,
                true_positives: r.true_positives.unwrap_or(0),
                false_positives: r.false_positives.unwrap_or(0),
                false_negatives: r.false_negatives.unwrap_or(0),
                expected,
                found,
                error_kind: r.error_kind,
                error_message: r.error_message,
                answer: r.answer,
                format_recovery: r.format_recovery,
                latency_ms: r.latency_ms,
                input_tokens: r.input_tokens,
                output_tokens: r.output_tokens,
                cost_usd: r.cost_usd,
                answered_by: r.answered_by,
                fallback_reason: r.fallback_reason,
            }
        })
        .collect())
}

/// The code of `case_id` in `dataset_id`, as the dataset holds it.
pub async fn case_code(
    executor: impl PgExecutor<'_>,
    dataset_id: Uuid,
    case_id: &str,
) -> Result<String, StoreError> {
    sqlx::query_scalar!(
        "SELECT code FROM experiments_v1.dataset_cases WHERE dataset_id = $1 AND case_id = $2",
        dataset_id,
        case_id
    )
    .fetch_optional(executor)
    .await?
    .ok_or_else(|| StoreError::NotFound {
        entity: "case",
        id: case_id.to_owned(),
    })
}

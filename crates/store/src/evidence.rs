//! The pooled evidence for a configuration: every case evaluated for its
//! fingerprint, over all its runs, each counted once
//! (`experiments_v1.evidence`). The gate judges it; V1 reads it to stop a
//! run once the judge has decided and to refuse a dataset that adds nothing.

use sqlx::PgExecutor;
use trizone_core::{Evidence, Thresholds};
use uuid::Uuid;

use crate::StoreError;

/// The counts the judge reads for `fingerprint`, with answers slower than
/// `latency_bar_ms` counted as over the bar.
pub async fn pooled(
    executor: impl PgExecutor<'_>,
    fingerprint: &str,
    latency_bar_ms: f64,
) -> Result<Evidence, StoreError> {
    let row = sqlx::query!(
        r#"SELECT count(*) AS "cases!",
                  count(*) FILTER (WHERE a.correct) AS "correct!",
                  count(*) FILTER (WHERE a.outcome = 'error') AS "errors!",
                  count(*) FILTER (WHERE a.outcome = 'ok' AND a.latency_ms > $2) AS "over_latency_bar!",
                  percentile_cont(0.95) WITHIN GROUP (ORDER BY a.latency_ms) FILTER (WHERE a.outcome = 'ok') AS latency_p95_ms,
                  coalesce(sum(a.cost_usd), 0)::float8 AS "cost_usd!"
           FROM experiments_v1.evidence v
           JOIN experiments_v1.code_analyses a ON a.run_id = v.run_id AND a.case_id = v.case_id
           WHERE v.fingerprint = $1"#,
        fingerprint,
        latency_bar_ms
    )
    .fetch_one(executor)
    .await?;
    let unsigned = |v: i64| u64::try_from(v).unwrap_or(0);
    Ok(Evidence {
        cases: unsigned(row.cases),
        correct: unsigned(row.correct),
        errors: unsigned(row.errors),
        over_latency_bar: unsigned(row.over_latency_bar),
        latency_p95_ms: row.latency_p95_ms,
        cost_usd: row.cost_usd,
    })
}

/// The runs whose cases make up `fingerprint`'s evidence, oldest first.
pub async fn pooled_runs(
    executor: impl PgExecutor<'_>,
    fingerprint: &str,
) -> Result<Vec<Uuid>, StoreError> {
    Ok(sqlx::query_scalar!(
        r#"SELECT v.run_id AS "run_id!" FROM experiments_v1.evidence v
           JOIN experiments_v1.evaluation_runs r ON r.id = v.run_id
           WHERE v.fingerprint = $1
           GROUP BY v.run_id, r.created_at
           ORDER BY r.created_at, v.run_id"#,
        fingerprint
    )
    .fetch_all(executor)
    .await?)
}

/// How many of a dataset's cases are not yet evidence for `fingerprint`.
pub async fn new_cases(
    executor: impl PgExecutor<'_>,
    dataset_id: Uuid,
    fingerprint: &str,
) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!" FROM experiments_v1.dataset_cases c
           WHERE c.dataset_id = $1
             AND NOT EXISTS (SELECT 1 FROM experiments_v1.evidence v WHERE v.fingerprint = $2 AND v.case_key = c.case_key)"#,
        dataset_id,
        fingerprint
    )
    .fetch_one(executor)
    .await?)
}

/// The thresholds the gate last published, so V1 stops runs by the very
/// judge the gate applies; the defaults when no gate has published yet
/// (they are the gate's defaults too).
pub async fn gate_thresholds(executor: impl PgExecutor<'_>) -> Result<Thresholds, StoreError> {
    let published = sqlx::query_scalar!(
        r#"SELECT thresholds AS "thresholds: sqlx::types::Json<Thresholds>" FROM experiments_v1.gate_thresholds"#
    )
    .fetch_optional(executor)
    .await?
    .flatten();
    Ok(published.map(|t| t.0).unwrap_or_default())
}

/// `fingerprint`'s evidence as it grew, case by case in the order cases
/// were recorded: the cumulative counts after every `step`-th case (and
/// after the last), at most about `points` of them.
pub async fn path(
    executor: impl PgExecutor<'_>,
    fingerprint: &str,
    latency_bar_ms: f64,
    points: i64,
) -> Result<Vec<Evidence>, StoreError> {
    let rows = sqlx::query!(
        r#"WITH grown AS (
               SELECT row_number() OVER w AS n,
                      count(*) FILTER (WHERE a.correct) OVER w AS correct,
                      count(*) FILTER (WHERE a.outcome = 'error') OVER w AS errors,
                      count(*) FILTER (WHERE a.outcome = 'ok' AND a.latency_ms > $2) OVER w AS slow,
                      sum(a.cost_usd) OVER w AS cost_usd,
                      count(*) OVER () AS total
               FROM experiments_v1.evidence v
               JOIN experiments_v1.code_analyses a ON a.run_id = v.run_id AND a.case_id = v.case_id
               WHERE v.fingerprint = $1
               WINDOW w AS (ORDER BY a.created_at, a.run_id, a.case_id ROWS UNBOUNDED PRECEDING)
           )
           SELECT n AS "n!", correct AS "correct!", errors AS "errors!", slow AS "slow!",
                  coalesce(cost_usd, 0)::float8 AS "cost_usd!"
           FROM grown
           WHERE n % greatest(1, ceil(total::float8 / greatest($3::bigint, 1)))::bigint = 0 OR n = total
           ORDER BY n"#,
        fingerprint,
        latency_bar_ms,
        points
    )
    .fetch_all(executor)
    .await?;
    let unsigned = |v: i64| u64::try_from(v).unwrap_or(0);
    Ok(rows
        .into_iter()
        .map(|row| Evidence {
            cases: unsigned(row.n),
            correct: unsigned(row.correct),
            errors: unsigned(row.errors),
            over_latency_bar: unsigned(row.slow),
            latency_p95_ms: None,
            cost_usd: row.cost_usd,
        })
        .collect())
}

/// One case both `a` and `b` (fingerprints) were evaluated on.
#[derive(Debug, Clone, PartialEq)]
pub struct SharedCase {
    pub a_run: Uuid,
    pub a_case_id: String,
    pub a_correct: bool,
    pub a_error: bool,
    pub a_latency_ms: f64,
    pub a_cost_usd: f64,
    pub b_run: Uuid,
    pub b_case_id: String,
    pub b_correct: bool,
    pub b_error: bool,
    pub b_latency_ms: f64,
    pub b_cost_usd: f64,
}

/// The cases (by content) in both configurations' evidence, by `a`'s case id.
pub async fn shared(
    executor: impl PgExecutor<'_>,
    a: &str,
    b: &str,
) -> Result<Vec<SharedCase>, StoreError> {
    Ok(sqlx::query_as!(
        SharedCase,
        r#"SELECT va.run_id AS a_run, va.case_id AS a_case_id, aa.correct AS a_correct,
                  aa.outcome = 'error' AS "a_error!", aa.latency_ms AS a_latency_ms, aa.cost_usd AS a_cost_usd,
                  vb.run_id AS b_run, vb.case_id AS b_case_id, ab.correct AS b_correct,
                  ab.outcome = 'error' AS "b_error!", ab.latency_ms AS b_latency_ms, ab.cost_usd AS b_cost_usd
           FROM experiments_v1.evidence va
           JOIN experiments_v1.code_analyses aa ON aa.run_id = va.run_id AND aa.case_id = va.case_id
           JOIN experiments_v1.evidence vb ON vb.fingerprint = $2 AND vb.case_key = va.case_key
           JOIN experiments_v1.code_analyses ab ON ab.run_id = vb.run_id AND ab.case_id = vb.case_id
           WHERE va.fingerprint = $1
           ORDER BY va.case_id, va.run_id"#,
        a,
        b
    )
    .fetch_all(executor)
    .await?)
}

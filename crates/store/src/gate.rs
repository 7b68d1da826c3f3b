//! Repository for the gate's own record (`gate.decisions`) and the queue
//! of runs it has to judge. Runs are taken with `FOR UPDATE SKIP LOCKED`
//! and a decision is unique per run, so gate replicas never judge one run
//! twice.

use sqlx::types::Json;
use sqlx::{PgConnection, PgExecutor};
use trizone_core::{Decision, Evidence, RunMetrics, Thresholds, Verdict};
use uuid::Uuid;

use crate::StoreError;

/// A finished run waiting for its verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnjudgedRun {
    pub run_id: Uuid,
    pub experiment_id: Uuid,
}

/// Locks the oldest finished, unjudged run nobody else holds. Call it in
/// the transaction that records the decision.
pub async fn take_unjudged(conn: &mut PgConnection) -> Result<Option<UnjudgedRun>, StoreError> {
    Ok(sqlx::query_as!(
        UnjudgedRun,
        r#"SELECT id AS run_id, experiment_id FROM experiments_v1.evaluation_runs
           WHERE status = 'finished' AND judged_at IS NULL
           ORDER BY finished_at, id
           LIMIT 1
           FOR UPDATE SKIP LOCKED"#
    )
    .fetch_optional(conn)
    .await?)
}

/// The experiment's latest finished run, locked for judging; `None` when
/// it has none, `Err(Conflict)` when another gate is judging it now.
pub async fn lock_latest_finished(
    conn: &mut PgConnection,
    experiment_id: Uuid,
) -> Result<Option<(UnjudgedRun, bool)>, StoreError> {
    let row = sqlx::query!(
        r#"SELECT id, judged_at IS NOT NULL AS "judged!" FROM experiments_v1.evaluation_runs
           WHERE experiment_id = $1 AND status = 'finished'
           ORDER BY finished_at DESC, id
           LIMIT 1
           FOR UPDATE NOWAIT"#,
        experiment_id
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| {
        (
            UnjudgedRun {
                run_id: r.id,
                experiment_id,
            },
            r.judged,
        )
    }))
}

pub async fn mark_judged(executor: impl PgExecutor<'_>, run_id: Uuid) -> Result<(), StoreError> {
    sqlx::query!(
        "UPDATE experiments_v1.evaluation_runs SET judged_at = now() WHERE id = $1",
        run_id
    )
    .execute(executor)
    .await?;
    Ok(())
}

pub use trizone_api::gate::DecisionRecord;
pub use trizone_api::states::{Outcome, Trigger};

#[derive(Debug, Clone)]
pub struct NewDecision<'a> {
    pub run_id: Uuid,
    pub experiment_id: Uuid,
    pub fingerprint: &'a str,
    pub verdict: &'a Verdict,
    pub thresholds: &'a Thresholds,
    pub metrics: &'a RunMetrics,
    pub outcome: Outcome,
    pub deployment_id: Option<Uuid>,
    pub quarantine_record_id: Option<Uuid>,
    pub decided_by: &'a str,
    pub trigger: Trigger,
    /// The pooled counts the verdict was computed from.
    pub evidence: &'a Evidence,
    /// The runs whose cases were pooled.
    pub pooled_runs: &'a [Uuid],
}

pub async fn insert(
    executor: impl PgExecutor<'_>,
    new: NewDecision<'_>,
) -> Result<DecisionRecord, StoreError> {
    Ok(sqlx::query_as!(
        DecisionRecord,
        r#"INSERT INTO gate.decisions
               (run_id, experiment_id, fingerprint, decision, verdict, thresholds, metrics, outcome,
                deployment_id, quarantine_record_id, decided_by, trigger, evidence, pooled_runs)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
           RETURNING id, run_id, experiment_id, fingerprint, decision AS "decision: Decision", verdict, thresholds, metrics,
                     outcome AS "outcome: Outcome", deployment_id, quarantine_record_id, decided_by, trigger AS "trigger: Trigger", created_at, evidence, pooled_runs"#,
        new.run_id,
        new.experiment_id,
        new.fingerprint,
        new.verdict.decision as Decision,
        Json(new.verdict) as _,
        Json(new.thresholds) as _,
        Json(new.metrics) as _,
        new.outcome as Outcome,
        new.deployment_id,
        new.quarantine_record_id,
        new.decided_by,
        new.trigger as Trigger,
        Json(new.evidence) as _,
        new.pooled_runs,
    )
    .fetch_one(executor)
    .await?)
}

pub async fn for_run(
    executor: impl PgExecutor<'_>,
    run_id: Uuid,
) -> Result<Option<DecisionRecord>, StoreError> {
    Ok(sqlx::query_as!(
        DecisionRecord,
        r#"SELECT id, run_id, experiment_id, fingerprint, decision AS "decision: Decision", verdict, thresholds, metrics,
                  outcome AS "outcome: Outcome", deployment_id, quarantine_record_id, decided_by, trigger AS "trigger: Trigger", created_at, evidence, pooled_runs
           FROM gate.decisions WHERE run_id = $1"#,
        run_id
    )
    .fetch_optional(executor)
    .await?)
}

pub async fn get(executor: impl PgExecutor<'_>, id: Uuid) -> Result<DecisionRecord, StoreError> {
    sqlx::query_as!(
        DecisionRecord,
        r#"SELECT id, run_id, experiment_id, fingerprint, decision AS "decision: Decision", verdict, thresholds, metrics,
                  outcome AS "outcome: Outcome", deployment_id, quarantine_record_id, decided_by, trigger AS "trigger: Trigger", created_at, evidence, pooled_runs
           FROM gate.decisions WHERE id = $1"#,
        id
    )
    .fetch_optional(executor)
    .await?
    .ok_or_else(|| StoreError::NotFound {
        entity: "decision",
        id: id.to_string(),
    })
}

#[derive(Debug, Clone, Default)]
pub struct DecisionFilter {
    pub experiment_id: Option<Uuid>,
    pub decision: Option<Decision>,
    pub limit: i64,
    pub offset: i64,
}

/// Decisions, newest first.
pub async fn list(
    executor: impl PgExecutor<'_>,
    filter: &DecisionFilter,
) -> Result<Vec<DecisionRecord>, StoreError> {
    Ok(sqlx::query_as!(
        DecisionRecord,
        r#"SELECT id, run_id, experiment_id, fingerprint, decision AS "decision: Decision", verdict, thresholds, metrics,
                  outcome AS "outcome: Outcome", deployment_id, quarantine_record_id, decided_by, trigger AS "trigger: Trigger", created_at, evidence, pooled_runs
           FROM gate.decisions
           WHERE ($1::uuid IS NULL OR experiment_id = $1) AND ($2::text IS NULL OR decision = $2::text)
           ORDER BY created_at DESC, id
           LIMIT $3 OFFSET $4"#,
        filter.experiment_id,
        filter.decision as Option<Decision>,
        filter.limit,
        filter.offset,
    )
    .fetch_all(executor)
    .await?)
}

/// Keeps V1's copy of the thresholds (read by its readiness view) in step
/// with the gate's.
pub async fn publish_thresholds(
    executor: impl PgExecutor<'_>,
    thresholds: &Thresholds,
) -> Result<(), StoreError> {
    sqlx::query!(
        r#"UPDATE experiments_v1.gate_thresholds
           SET min_accuracy = $1, max_p95_latency_ms = $2, max_error_rate = $3,
               min_sample_size = $4, thresholds = $5, updated_at = now()"#,
        thresholds.min_accuracy,
        thresholds.max_p95_latency_ms,
        thresholds.max_error_rate,
        i64::try_from(thresholds.min_sample_size).unwrap_or(i64::MAX),
        Json(thresholds) as _,
    )
    .execute(executor)
    .await?;
    Ok(())
}

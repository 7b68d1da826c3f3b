//! Progressive delivery in `production`: the rollout the gate drives and
//! V2 replicas follow, the plan every rollout starts from, and the shadow
//! answers V2 records beside the answers users got.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::types::Json;
use sqlx::{PgConnection, PgExecutor};
use trizone_api::reviews::ReviewFinding;
use trizone_core::RolloutPlan;
use trizone_core::provider::ErrorKind;
use uuid::Uuid;

use crate::StoreError;

pub use trizone_api::states::{ReviewOutcome, RolloutOutcome};

/// A candidate's way to V2.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rollout {
    pub deployment_id: Uuid,
    pub stable_deployment_id: Uuid,
    pub plan: RolloutPlan,
    /// Steps passed: 0 while shadowing (when the plan shadows).
    pub step: i32,
    /// Percent of requests the candidate answers now.
    pub share: f64,
    /// Share of requests mirrored to it now.
    pub shadow_sample: f64,
    pub paused: bool,
    pub step_started_at: DateTime<Utc>,
    pub outcome: Option<RolloutOutcome>,
    pub ended_at: Option<DateTime<Utc>>,
}

impl Rollout {
    /// The stage the rollout is at: its plan after the steps it passed.
    pub fn stage(&self) -> trizone_core::Stage {
        self.plan.stage(self.passed())
    }

    /// Steps passed, as an index into the plan.
    pub fn passed(&self) -> usize {
        usize::try_from(self.step).unwrap_or(0)
    }
}

struct Row {
    deployment_id: Uuid,
    stable_deployment_id: Uuid,
    plan: Json<RolloutPlan>,
    step: i32,
    share: f64,
    shadow_sample: f64,
    paused: bool,
    step_started_at: DateTime<Utc>,
    outcome: Option<RolloutOutcome>,
    ended_at: Option<DateTime<Utc>>,
}

impl From<Row> for Rollout {
    fn from(row: Row) -> Self {
        Self {
            deployment_id: row.deployment_id,
            stable_deployment_id: row.stable_deployment_id,
            plan: row.plan.0,
            step: row.step,
            share: row.share,
            shadow_sample: row.shadow_sample,
            paused: row.paused,
            step_started_at: row.step_started_at,
            outcome: row.outcome,
            ended_at: row.ended_at,
        }
    }
}

/// The rollout under way, if any (at most one: a unique index allows one
/// deployment shadowing or in canary).
pub async fn current(executor: impl PgExecutor<'_>) -> Result<Option<Rollout>, StoreError> {
    let row = sqlx::query_as!(
        Row,
        r#"SELECT deployment_id, stable_deployment_id, plan AS "plan: Json<RolloutPlan>", step,
                  share, shadow_sample, paused, step_started_at,
                  outcome AS "outcome: RolloutOutcome", ended_at
           FROM production.rollouts WHERE outcome IS NULL
           ORDER BY step_started_at DESC LIMIT 1"#
    )
    .fetch_optional(executor)
    .await?;
    Ok(row.map(Rollout::from))
}

/// The rollout of `deployment_id`, ended or not.
pub async fn of(
    executor: impl PgExecutor<'_>,
    deployment_id: Uuid,
) -> Result<Option<Rollout>, StoreError> {
    let row = sqlx::query_as!(
        Row,
        r#"SELECT deployment_id, stable_deployment_id, plan AS "plan: Json<RolloutPlan>", step,
                  share, shadow_sample, paused, step_started_at,
                  outcome AS "outcome: RolloutOutcome", ended_at
           FROM production.rollouts WHERE deployment_id = $1"#,
        deployment_id
    )
    .fetch_optional(executor)
    .await?;
    Ok(row.map(Rollout::from))
}

/// Starts `deployment_id`'s rollout beside `stable_deployment_id` at the
/// plan's first stage, with `share` and `shadow_sample` as that stage says.
pub async fn begin(
    conn: &mut PgConnection,
    deployment_id: Uuid,
    stable_deployment_id: Uuid,
    plan: &RolloutPlan,
    share: f64,
    shadow_sample: f64,
) -> Result<Rollout, StoreError> {
    let row = sqlx::query_as!(
        Row,
        r#"INSERT INTO production.rollouts
               (deployment_id, stable_deployment_id, plan, share, shadow_sample)
           VALUES ($1, $2, $3, $4, $5)
           RETURNING deployment_id, stable_deployment_id, plan AS "plan: Json<RolloutPlan>", step,
                     share, shadow_sample, paused, step_started_at,
                     outcome AS "outcome: RolloutOutcome", ended_at"#,
        deployment_id,
        stable_deployment_id,
        Json(plan) as _,
        share,
        shadow_sample,
    )
    .fetch_one(conn)
    .await?;
    Ok(row.into())
}

/// Moves the rollout from step `from` to the next, at `share` and
/// `shadow_sample`; false when it was not at `from` (another gate moved it).
pub async fn next_step(
    executor: impl PgExecutor<'_>,
    deployment_id: Uuid,
    from: i32,
    share: f64,
    shadow_sample: f64,
) -> Result<bool, StoreError> {
    let updated = sqlx::query!(
        r#"UPDATE production.rollouts
           SET step = step + 1, share = $3, shadow_sample = $4, step_started_at = now(),
               updated_at = now()
           WHERE deployment_id = $1 AND step = $2 AND outcome IS NULL"#,
        deployment_id,
        from,
        share,
        shadow_sample,
    )
    .execute(executor)
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// Pauses or resumes the rollout; false when it has ended or already was so.
pub async fn set_paused(
    executor: impl PgExecutor<'_>,
    deployment_id: Uuid,
    paused: bool,
) -> Result<bool, StoreError> {
    let updated = sqlx::query!(
        r#"UPDATE production.rollouts SET paused = $2, updated_at = now()
           WHERE deployment_id = $1 AND outcome IS NULL AND paused <> $2"#,
        deployment_id,
        paused,
    )
    .execute(executor)
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// Ends the rollout with `outcome`; false when it had ended already.
pub async fn end(
    executor: impl PgExecutor<'_>,
    deployment_id: Uuid,
    outcome: RolloutOutcome,
) -> Result<bool, StoreError> {
    let updated = sqlx::query!(
        r#"UPDATE production.rollouts
           SET outcome = $2, ended_at = now(), share = 0, shadow_sample = 0, updated_at = now()
           WHERE deployment_id = $1 AND outcome IS NULL"#,
        deployment_id,
        outcome.as_str(),
    )
    .execute(executor)
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// The plan admins set, if they set one.
pub async fn plan(executor: impl PgExecutor<'_>) -> Result<Option<RolloutPlan>, StoreError> {
    let plan =
        sqlx::query_scalar!(r#"SELECT plan AS "plan: Json<RolloutPlan>" FROM gate.rollout_plan"#)
            .fetch_optional(executor)
            .await?;
    Ok(plan.map(|p| p.0))
}

/// Sets the plan later rollouts start from.
pub async fn set_plan(
    executor: impl PgExecutor<'_>,
    plan: &RolloutPlan,
    updated_by: &str,
) -> Result<(), StoreError> {
    sqlx::query!(
        r#"INSERT INTO gate.rollout_plan (plan, updated_by) VALUES ($1, $2)
           ON CONFLICT (singleton) DO UPDATE
           SET plan = EXCLUDED.plan, updated_by = EXCLUDED.updated_by, updated_at = now()"#,
        Json(plan) as _,
        updated_by,
    )
    .execute(executor)
    .await?;
    Ok(())
}

/// A candidate's answer to a request mirrored to it, beside the stable
/// answer the user got.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShadowRecord {
    pub id: Uuid,
    pub deployment_id: Uuid,
    pub stable_deployment_id: Uuid,
    pub review_id: Uuid,
    pub outcome: ReviewOutcome,
    pub error_kind: Option<ErrorKind>,
    pub findings: Vec<ReviewFinding>,
    pub latency_ms: f64,
    pub cost_usd: f64,
    pub stable_outcome: ReviewOutcome,
    pub stable_latency_ms: f64,
    pub stable_cost_usd: f64,
    /// Both answered with findings that match one to one.
    pub agrees: Option<bool>,
    pub created_at: DateTime<Utc>,
}

/// Writes `records`, skipping those already written.
pub async fn write_shadow(
    executor: impl PgExecutor<'_>,
    records: &[&ShadowRecord],
) -> Result<u64, StoreError> {
    let ids: Vec<Uuid> = records.iter().map(|r| r.id).collect();
    let deployments: Vec<Uuid> = records.iter().map(|r| r.deployment_id).collect();
    let stables: Vec<Uuid> = records.iter().map(|r| r.stable_deployment_id).collect();
    let reviews: Vec<Uuid> = records.iter().map(|r| r.review_id).collect();
    let outcomes: Vec<&str> = records.iter().map(|r| r.outcome.as_str()).collect();
    let kinds: Vec<Option<&str>> = records
        .iter()
        .map(|r| r.error_kind.map(ErrorKind::as_str))
        .collect();
    let findings: Vec<Json<&Vec<ReviewFinding>>> =
        records.iter().map(|r| Json(&r.findings)).collect();
    let latencies: Vec<f64> = records.iter().map(|r| r.latency_ms).collect();
    let costs: Vec<f64> = records.iter().map(|r| r.cost_usd).collect();
    let stable_outcomes: Vec<&str> = records.iter().map(|r| r.stable_outcome.as_str()).collect();
    let stable_latencies: Vec<f64> = records.iter().map(|r| r.stable_latency_ms).collect();
    let stable_costs: Vec<f64> = records.iter().map(|r| r.stable_cost_usd).collect();
    let agrees: Vec<Option<bool>> = records.iter().map(|r| r.agrees).collect();
    let created: Vec<DateTime<Utc>> = records.iter().map(|r| r.created_at).collect();
    let written = sqlx::query!(
        r#"INSERT INTO production.shadow_reviews
               (id, deployment_id, stable_deployment_id, review_id, outcome, error_kind, findings,
                latency_ms, cost_usd, stable_outcome, stable_latency_ms, stable_cost_usd, agrees,
                created_at)
           SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[],
                                $6::text[], $7::jsonb[], $8::float8[], $9::float8[], $10::text[],
                                $11::float8[], $12::float8[], $13::bool[], $14::timestamptz[])
           ON CONFLICT (id) DO NOTHING"#,
        &ids,
        &deployments,
        &stables,
        &reviews,
        &outcomes as &[&str],
        &kinds as &[Option<&str>],
        &findings as _,
        &latencies,
        &costs,
        &stable_outcomes as &[&str],
        &stable_latencies,
        &stable_costs,
        &agrees as &[Option<bool>],
        &created,
    )
    .execute(executor)
    .await?
    .rows_affected();
    Ok(written)
}

/// What a candidate's shadow answers since a moment add up to, beside
/// the stable answers to the same requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, utoipa::ToSchema)]
pub struct ShadowSummary {
    pub requests: i64,
    pub errors: i64,
    /// Answers slower than the bar asked about.
    pub slow: i64,
    /// Requests both answered, and of those, how many the two agree on.
    pub compared: i64,
    pub agreed: i64,
    pub stable_errors: i64,
    pub stable_slow: i64,
}

/// `deployment_id`'s shadow answers created at or after `since`, with
/// answers over `slow_ms` counted as slow.
pub async fn shadow_summary(
    executor: impl PgExecutor<'_>,
    deployment_id: Uuid,
    since: DateTime<Utc>,
    slow_ms: f64,
) -> Result<ShadowSummary, StoreError> {
    let row = sqlx::query!(
        r#"SELECT count(*) AS "requests!",
                  count(*) FILTER (WHERE outcome = 'error') AS "errors!",
                  count(*) FILTER (WHERE latency_ms > $3) AS "slow!",
                  count(agrees) AS "compared!",
                  count(*) FILTER (WHERE agrees) AS "agreed!",
                  count(*) FILTER (WHERE stable_outcome = 'error') AS "stable_errors!",
                  count(*) FILTER (WHERE stable_latency_ms > $3) AS "stable_slow!"
           FROM production.shadow_reviews
           WHERE deployment_id = $1 AND created_at >= $2"#,
        deployment_id,
        since,
        slow_ms,
    )
    .fetch_one(executor)
    .await?;
    Ok(ShadowSummary {
        requests: row.requests,
        errors: row.errors,
        slow: row.slow,
        compared: row.compared,
        agreed: row.agreed,
        stable_errors: row.stable_errors,
        stable_slow: row.stable_slow,
    })
}

//! Reads of the quarantine archive for V3 (which can only read): records
//! with their evidence, re-evaluations through V1's link, the summary view
//! and the blacklist.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgExecutor;
use uuid::Uuid;

use crate::StoreError;
use crate::quarantine::BlacklistEntry;

pub use trizone_api::quarantine::{Record, RecordSummary, Reevaluation};

#[derive(Debug, Clone, Default)]
pub struct RecordFilter {
    pub reason: Option<String>,
    /// `provider/model`, primary or secondary.
    pub model: Option<String>,
    pub owner: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub limit: i64,
    pub offset: i64,
}

/// Records matching `filter`, newest first.
pub async fn records(
    executor: impl PgExecutor<'_>,
    filter: &RecordFilter,
) -> Result<Vec<RecordSummary>, StoreError> {
    Ok(sqlx::query_as!(
        RecordSummary,
        r#"SELECT id, experiment_id, fingerprint, configuration->>'name' AS "name!", owner,
                  primary_model, secondary_model, reason, reevaluation_eligible, deployment_id,
                  decided_by, created_at
           FROM quarantine.quarantine_records
           WHERE ($1::text IS NULL OR reason = $1)
             AND ($2::text IS NULL OR primary_model = $2 OR secondary_model = $2)
             AND ($3::text IS NULL OR owner = $3)
             AND ($4::timestamptz IS NULL OR created_at >= $4)
             AND ($5::timestamptz IS NULL OR created_at < $5)
           ORDER BY created_at DESC, id
           LIMIT $6 OFFSET $7"#,
        filter.reason.as_deref(),
        filter.model.as_deref(),
        filter.owner.as_deref(),
        filter.since,
        filter.until,
        filter.limit,
        filter.offset,
    )
    .fetch_all(executor)
    .await?)
}

pub async fn record(executor: impl PgExecutor<'_>, id: Uuid) -> Result<Record, StoreError> {
    sqlx::query!(
        r#"SELECT id, experiment_id, fingerprint, configuration->>'name' AS "name!", owner,
                  primary_model, secondary_model, reason, reevaluation_eligible, deployment_id,
                  decided_by, created_at, configuration, failed_checks, metrics, impact
           FROM quarantine.quarantine_records WHERE id = $1"#,
        id
    )
    .fetch_optional(executor)
    .await?
    .map(|r| Record {
        summary: RecordSummary {
            id: r.id,
            experiment_id: r.experiment_id,
            fingerprint: r.fingerprint,
            name: r.name,
            owner: r.owner,
            primary_model: r.primary_model,
            secondary_model: r.secondary_model,
            reason: r.reason,
            reevaluation_eligible: r.reevaluation_eligible,
            deployment_id: r.deployment_id,
            decided_by: r.decided_by,
            created_at: r.created_at,
        },
        configuration: r.configuration,
        failed_checks: r.failed_checks,
        metrics: r.metrics,
        impact: r.impact,
    })
    .ok_or_else(|| StoreError::NotFound {
        entity: "quarantine record",
        id: id.to_string(),
    })
}

pub async fn reevaluations(
    executor: impl PgExecutor<'_>,
    record_id: Uuid,
) -> Result<Vec<Reevaluation>, StoreError> {
    let rows = sqlx::query!(
        r#"SELECT experiment_id AS "experiment_id!", status AS "status!", owner AS "owner!",
                  created_at AS "created_at!", updated_at AS "updated_at!"
           FROM quarantine.reevaluations WHERE record_id = $1 ORDER BY created_at"#,
        record_id
    )
    .fetch_all(executor)
    .await?;
    rows.into_iter()
        .map(|row| {
            Ok(Reevaluation {
                experiment_id: row.experiment_id,
                status: crate::experiments::parse_status(row.status)?,
                owner: row.owner,
                created_at: row.created_at,
                updated_at: row.updated_at,
            })
        })
        .collect()
}

/// One row of `quarantine.quarantine_summary`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SummaryRow {
    pub week: DateTime<Utc>,
    pub reason: String,
    pub primary_model: String,
    pub records: i64,
    pub configurations: i64,
    pub eligible_for_reevaluation: i64,
    pub reevaluations: i64,
    pub reevaluations_promoted: i64,
    pub reevaluations_failed: i64,
    pub reevaluations_open: i64,
}

pub async fn summary(executor: impl PgExecutor<'_>) -> Result<Vec<SummaryRow>, StoreError> {
    Ok(sqlx::query_as!(
        SummaryRow,
        r#"SELECT week AS "week!", reason AS "reason!", primary_model AS "primary_model!",
                  records AS "records!", configurations AS "configurations!",
                  eligible_for_reevaluation AS "eligible_for_reevaluation!",
                  coalesce(reevaluations, 0)::int8 AS "reevaluations!",
                  coalesce(reevaluations_promoted, 0)::int8 AS "reevaluations_promoted!",
                  coalesce(reevaluations_failed, 0)::int8 AS "reevaluations_failed!",
                  coalesce(reevaluations_open, 0)::int8 AS "reevaluations_open!"
           FROM quarantine.quarantine_summary
           ORDER BY week DESC, reason, primary_model"#
    )
    .fetch_all(executor)
    .await?)
}

/// Records per reason (for `v3_records{reason}`).
pub async fn counts_by_reason(
    executor: impl PgExecutor<'_>,
) -> Result<Vec<(String, i64)>, StoreError> {
    let rows = sqlx::query!(
        r#"SELECT reason, count(*) AS "count!" FROM quarantine.quarantine_records GROUP BY reason"#
    )
    .fetch_all(executor)
    .await?;
    Ok(rows.into_iter().map(|r| (r.reason, r.count)).collect())
}

/// The blacklist, newest first.
pub async fn blacklist(
    executor: impl PgExecutor<'_>,
    limit: i64,
    offset: i64,
) -> Result<Vec<BlacklistEntry>, StoreError> {
    Ok(sqlx::query_as!(
        BlacklistEntry,
        r#"SELECT fingerprint, reason, record_id, blacklisted_by, created_at
           FROM quarantine.blacklist ORDER BY created_at DESC, fingerprint LIMIT $1 OFFSET $2"#,
        limit,
        offset
    )
    .fetch_all(executor)
    .await?)
}

//! Repository for `quarantine`: the permanent blacklist (read by V1 at
//! registration, written by the gate).

use serde::Serialize;
use sqlx::PgExecutor;
use trizone_core::Fingerprint;
use uuid::Uuid;

use crate::StoreError;

pub use trizone_api::quarantine::BlacklistEntry;

pub async fn blacklist_entry(
    executor: impl PgExecutor<'_>,
    fingerprint: &Fingerprint,
) -> Result<Option<BlacklistEntry>, StoreError> {
    let entry = sqlx::query_as!(
        BlacklistEntry,
        r#"SELECT fingerprint, reason, record_id, blacklisted_by, created_at
           FROM quarantine.blacklist WHERE fingerprint = $1"#,
        fingerprint.as_str()
    )
    .fetch_optional(executor)
    .await?;
    Ok(entry)
}

/// Blacklists a fingerprint for good. Blacklisting it again is a no-op that
/// keeps the first reason.
pub async fn add_to_blacklist(
    executor: impl PgExecutor<'_>,
    fingerprint: &Fingerprint,
    reason: &str,
    record_id: Option<Uuid>,
    blacklisted_by: &str,
) -> Result<(), StoreError> {
    sqlx::query!(
        r#"INSERT INTO quarantine.blacklist (fingerprint, reason, record_id, blacklisted_by)
           VALUES ($1, $2, $3, $4)
           ON CONFLICT (fingerprint) DO NOTHING"#,
        fingerprint.as_str(),
        reason,
        record_id,
        blacklisted_by
    )
    .execute(executor)
    .await?;
    Ok(())
}

/// Why a configuration was quarantined (`quarantine_records.reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    Accuracy,
    Latency,
    ErrorRate,
    Cost,
    NonInferiority,
    SmokeTest,
    SloBreach,
    Blacklist,
    /// Its shadow answers, judged live, were worse than the stable ones.
    Shadow,
    /// It failed a canary step on live traffic.
    Canary,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accuracy => "accuracy",
            Self::Latency => "latency",
            Self::ErrorRate => "error_rate",
            Self::Cost => "cost",
            Self::NonInferiority => "non_inferiority",
            Self::SmokeTest => "smoke_test",
            Self::SloBreach => "slo_breach",
            Self::Blacklist => "blacklist",
            Self::Shadow => "shadow",
            Self::Canary => "canary",
        }
    }
}

/// A quarantine record to write; the configuration and models are copied
/// from the experiment, so V3 never reads V1's tables.
#[derive(Debug, Clone)]
pub struct NewRecord<'a> {
    pub experiment_id: Uuid,
    pub reason: Reason,
    pub failed_checks: &'a serde_json::Value,
    pub metrics: Option<&'a serde_json::Value>,
    pub impact: &'a serde_json::Value,
    pub reevaluation_eligible: bool,
    pub deployment_id: Option<Uuid>,
    pub decided_by: &'a str,
}

/// Archives an experiment's configuration with why it failed.
pub async fn insert_record(
    executor: impl PgExecutor<'_>,
    new: NewRecord<'_>,
) -> Result<Uuid, StoreError> {
    sqlx::query_scalar!(
        r#"INSERT INTO quarantine.quarantine_records
               (experiment_id, fingerprint, configuration, owner, primary_model, secondary_model,
                reason, failed_checks, metrics, impact, reevaluation_eligible, deployment_id,
                decided_by)
           SELECT e.id, e.fingerprint, e.configuration, e.owner, e.primary_model, e.secondary_model,
                  $2, $3, $4, $5, $6, $7, $8
           FROM experiments_v1.experiments e WHERE e.id = $1
           RETURNING id"#,
        new.experiment_id,
        new.reason.as_str(),
        new.failed_checks,
        new.metrics,
        new.impact,
        new.reevaluation_eligible,
        new.deployment_id,
        new.decided_by,
    )
    .fetch_optional(executor)
    .await?
    .ok_or_else(|| StoreError::NotFound {
        entity: "experiment",
        id: new.experiment_id.to_string(),
    })
}

/// How many times a configuration has been quarantined.
pub async fn record_count(
    executor: impl PgExecutor<'_>,
    fingerprint: &Fingerprint,
) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!" FROM quarantine.quarantine_records WHERE fingerprint = $1"#,
        fingerprint.as_str()
    )
    .fetch_one(executor)
    .await?)
}

pub async fn blacklist_size(executor: impl PgExecutor<'_>) -> Result<i64, StoreError> {
    Ok(
        sqlx::query_scalar!(r#"SELECT count(*) AS "count!" FROM quarantine.blacklist"#)
            .fetch_one(executor)
            .await?,
    )
}

/// Another experiment or deployment related to a quarantined one.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Related {
    pub experiment_id: Uuid,
    pub name: String,
    pub owner: String,
    pub status: trizone_core::ExperimentStatus,
    /// What it shares: `fingerprint`, `prompt`, `model`.
    pub shares: Vec<&'static str>,
    /// Its deployment's version and status, if it reached V2.
    pub deployment_version: Option<i64>,
    pub deployment_status: Option<crate::production::DeploymentStatus>,
}

/// The impact of quarantining an experiment: every other experiment (and
/// its deployment) sharing its fingerprint, prompt or a model, and whether
/// any of them serves V2 now.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Impact {
    pub related: Vec<Related>,
    pub active_in_v2: bool,
}

/// Most related experiments listed in one impact analysis.
const IMPACT_LIMIT: i64 = 200;

pub async fn impact(
    executor: impl PgExecutor<'_>,
    experiment_id: Uuid,
) -> Result<Impact, StoreError> {
    let rows = sqlx::query!(
        r#"WITH me AS (SELECT * FROM experiments_v1.experiments WHERE id = $1),
                models AS (SELECT primary_model AS m FROM me
                           UNION SELECT secondary_model FROM me WHERE secondary_model IS NOT NULL)
           SELECT e.id, e.name, e.owner, e.status,
                  e.fingerprint = me.fingerprint AS "same_fingerprint!",
                  e.prompt_hash = me.prompt_hash AS "same_prompt!",
                  coalesce(e.primary_model IN (SELECT m FROM models)
                           OR e.secondary_model IN (SELECT m FROM models), false) AS "same_model!",
                  d.version AS "deployment_version?",
                  d.status AS "deployment_status?: crate::production::DeploymentStatus"
           FROM experiments_v1.experiments e
           CROSS JOIN me
           LEFT JOIN LATERAL (
               SELECT version, status FROM production.deployments
               WHERE experiment_id = e.id ORDER BY version DESC LIMIT 1
           ) d ON true
           WHERE e.id <> me.id
             AND (e.fingerprint = me.fingerprint OR e.prompt_hash = me.prompt_hash
                  OR e.primary_model IN (SELECT m FROM models)
                  OR e.secondary_model IN (SELECT m FROM models))
           ORDER BY e.created_at DESC
           LIMIT $2"#,
        experiment_id,
        IMPACT_LIMIT
    )
    .fetch_all(executor)
    .await?;
    let related = rows
        .into_iter()
        .map(|r| {
            let shares = [
                (r.same_fingerprint, "fingerprint"),
                (r.same_prompt, "prompt"),
                (r.same_model, "model"),
            ]
            .into_iter()
            .filter_map(|(yes, what)| yes.then_some(what))
            .collect();
            Ok(Related {
                experiment_id: r.id,
                name: r.name,
                owner: r.owner,
                status: crate::experiments::parse_status(r.status)?,
                shares,
                deployment_version: r.deployment_version,
                deployment_status: r.deployment_status,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let active_in_v2 = related
        .iter()
        .any(|r| r.deployment_status == Some(crate::production::DeploymentStatus::Active));
    Ok(Impact {
        related,
        active_in_v2,
    })
}

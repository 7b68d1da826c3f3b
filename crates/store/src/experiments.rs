//! Repository for `experiments_v1.experiments`: registration and status.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::types::Json;
use sqlx::{PgConnection, PgExecutor};
use trizone_core::{Configuration, Decision, ExperimentStatus, Fingerprint, Mover};
use uuid::Uuid;

use crate::StoreError;

pub use trizone_api::experiments::Readiness;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Experiment {
    pub id: Uuid,
    pub name: String,
    pub owner: String,
    pub description: String,
    pub configuration: Configuration,
    pub fingerprint: Fingerprint,
    pub status: ExperimentStatus,
    pub reevaluation_of: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A configuration to register.
#[derive(Debug, Clone, Copy)]
pub struct NewExperiment<'a> {
    pub owner: &'a str,
    pub description: &'a str,
    pub configuration: &'a Configuration,
    /// The quarantine record this experiment re-evaluates, if any.
    pub reevaluation_of: Option<Uuid>,
}

struct Row {
    id: Uuid,
    name: String,
    owner: String,
    description: String,
    configuration: Json<Configuration>,
    fingerprint: String,
    status: String,
    reevaluation_of: Option<Uuid>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<Row> for Experiment {
    type Error = StoreError;
    fn try_from(row: Row) -> Result<Self, StoreError> {
        Ok(Self {
            id: row.id,
            name: row.name,
            owner: row.owner,
            description: row.description,
            configuration: row.configuration.0,
            fingerprint: Fingerprint::parse(&row.fingerprint).map_err(|_| StoreError::Corrupt {
                column: "experiments.fingerprint",
                value: row.fingerprint,
            })?,
            status: parse_status(row.status)?,
            reevaluation_of: row.reevaluation_of,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

pub(crate) fn parse_status(raw: String) -> Result<ExperimentStatus, StoreError> {
    ExperimentStatus::parse(&raw).ok_or(StoreError::Corrupt {
        column: "experiments.status",
        value: raw,
    })
}

/// Registers a configuration. A live experiment with the same fingerprint
/// makes this a [`StoreError::Conflict`] on `experiments_live_fingerprint`.
pub async fn insert(
    executor: impl PgExecutor<'_>,
    new: NewExperiment<'_>,
) -> Result<Experiment, StoreError> {
    let config = new.configuration;
    let fingerprint = config.fingerprint();
    let primary_model = config.models.primary.id();
    let secondary_model = config.models.secondary.as_ref().map(|m| m.id());
    let row = sqlx::query_as!(
        Row,
        r#"INSERT INTO experiments_v1.experiments
               (name, owner, description, configuration, fingerprint, prompt_hash,
                primary_model, secondary_model, strategy, reevaluation_of)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
           RETURNING id, name, owner, description, configuration AS "configuration: Json<Configuration>",
                     fingerprint, status, reevaluation_of, created_at, updated_at"#,
        config.name,
        new.owner,
        new.description,
        Json(config) as _,
        fingerprint.as_str(),
        config.prompt_hash(),
        primary_model,
        secondary_model,
        config.strategy.kind(),
        new.reevaluation_of,
    )
    .fetch_one(executor)
    .await?;
    row.try_into()
}

pub async fn get(executor: impl PgExecutor<'_>, id: Uuid) -> Result<Experiment, StoreError> {
    sqlx::query_as!(
        Row,
        r#"SELECT id, name, owner, description, configuration AS "configuration: Json<Configuration>",
                  fingerprint, status, reevaluation_of, created_at, updated_at
           FROM experiments_v1.experiments WHERE id = $1"#,
        id
    )
    .fetch_optional(executor)
    .await?
    .ok_or_else(|| StoreError::NotFound { entity: "experiment", id: id.to_string() })?
    .try_into()
}

/// The live (registered, evaluating, evaluated or promoted) experiment with
/// this fingerprint, if there is one.
pub async fn find_live(
    executor: impl PgExecutor<'_>,
    fingerprint: &Fingerprint,
) -> Result<Option<Experiment>, StoreError> {
    sqlx::query_as!(
        Row,
        r#"SELECT id, name, owner, description, configuration AS "configuration: Json<Configuration>",
                  fingerprint, status, reevaluation_of, created_at, updated_at
           FROM experiments_v1.experiments
           WHERE fingerprint = $1 AND status IN ('registered', 'evaluating', 'evaluated', 'promoted')"#,
        fingerprint.as_str()
    )
    .fetch_optional(executor)
    .await?
    .map(Experiment::try_from)
    .transpose()
}

/// Moves an experiment from `from` to `to` on behalf of `by`, only if it is
/// still in `from`; the lifecycle is checked here and again by the
/// database's trigger.
pub async fn transition(
    conn: &mut PgConnection,
    id: Uuid,
    from: ExperimentStatus,
    to: ExperimentStatus,
    by: Mover,
) -> Result<(), StoreError> {
    from.transition(to, by)?;
    let updated = sqlx::query!(
        "UPDATE experiments_v1.experiments SET status = $3 WHERE id = $1 AND status = $2",
        id,
        from.as_str(),
        to.as_str(),
    )
    .execute(&mut *conn)
    .await?;
    if updated.rows_affected() == 1 {
        return Ok(());
    }
    let actual = sqlx::query_scalar!(
        "SELECT status FROM experiments_v1.experiments WHERE id = $1",
        id
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| StoreError::NotFound {
        entity: "experiment",
        id: id.to_string(),
    })?;
    Err(StoreError::StaleStatus {
        id: id.to_string(),
        expected: from,
        actual: parse_status(actual)?,
    })
}

/// Filters and page of a listing.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub status: Option<ExperimentStatus>,
    pub owner: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

/// Experiments matching `filter`, newest first.
pub async fn list(
    executor: impl PgExecutor<'_>,
    filter: &ListFilter,
) -> Result<Vec<Listed>, StoreError> {
    let rows = sqlx::query!(
        r#"SELECT e.id, e.name, e.owner, e.description,
                  e.configuration AS "configuration: Json<Configuration>",
                  e.fingerprint, e.status, e.reevaluation_of, e.created_at, e.updated_at,
                  d.id AS "decision_id?", d.decision AS "decision?: Decision",
                  (d.verdict ->> 'cases')::bigint AS decided_on_cases,
                  d.created_at AS "decided_at?"
           FROM experiments_v1.experiments e
           LEFT JOIN LATERAL (
               SELECT gd.id, gd.decision, gd.verdict, gd.created_at FROM gate.decisions gd
               WHERE gd.fingerprint = e.fingerprint ORDER BY gd.created_at DESC LIMIT 1
           ) d ON true
           WHERE ($1::text IS NULL OR e.status = $1) AND ($2::text IS NULL OR e.owner = $2)
           ORDER BY e.created_at DESC, e.id
           LIMIT $3 OFFSET $4"#,
        filter.status.map(ExperimentStatus::as_str),
        filter.owner.as_deref(),
        filter.limit,
        filter.offset,
    )
    .fetch_all(executor)
    .await?;
    rows.into_iter()
        .map(|r| {
            let last_decision = match (r.decision_id, r.decision, r.decided_at) {
                (Some(id), Some(decision), Some(decided_at)) => Some(LastDecision {
                    id,
                    decision,
                    cases: r.decided_on_cases,
                    decided_at,
                }),
                _ => None,
            };
            let experiment = Experiment::try_from(Row {
                id: r.id,
                name: r.name,
                owner: r.owner,
                description: r.description,
                configuration: r.configuration,
                fingerprint: r.fingerprint,
                status: r.status,
                reevaluation_of: r.reevaluation_of,
                created_at: r.created_at,
                updated_at: r.updated_at,
            })?;
            Ok(Listed {
                experiment,
                last_decision,
            })
        })
        .collect()
}

/// An experiment as listed: with the gate's latest decision on its
/// configuration, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct Listed {
    pub experiment: Experiment,
    pub last_decision: Option<LastDecision>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LastDecision {
    pub id: Uuid,
    pub decision: Decision,
    pub cases: Option<i64>,
    pub decided_at: DateTime<Utc>,
}

/// The newest experiment with this fingerprint in `status`, if any.
pub async fn find_with_status(
    executor: impl PgExecutor<'_>,
    fingerprint: &Fingerprint,
    status: ExperimentStatus,
) -> Result<Option<Experiment>, StoreError> {
    sqlx::query_as!(
        Row,
        r#"SELECT id, name, owner, description, configuration AS "configuration: Json<Configuration>",
                  fingerprint, status, reevaluation_of, created_at, updated_at
           FROM experiments_v1.experiments
           WHERE fingerprint = $1 AND status = $2
           ORDER BY created_at DESC LIMIT 1"#,
        fingerprint.as_str(),
        status.as_str()
    )
    .fetch_optional(executor)
    .await?
    .map(Experiment::try_from)
    .transpose()
}

/// Readiness of every experiment (or one), newest experiments first.
pub async fn readiness(
    executor: impl PgExecutor<'_>,
    experiment: Option<Uuid>,
) -> Result<Vec<Readiness>, StoreError> {
    let rows = sqlx::query_as!(
        Readiness,
        r#"SELECT r.experiment_id AS "experiment_id!", r.name AS "name!", r.owner AS "owner!",
                  r.fingerprint AS "fingerprint!", r.status AS "status!: ExperimentStatus",
                  r.cases AS "cases!", r.accuracy,
                  r.error_rate, r.latency_p95_ms, r.cost_usd AS "cost_usd!", r.satisfaction,
                  r.decision_id, r.decision AS "decision: Decision", r.decided_on_cases, r.additional_cases_needed, r.decided_at,
                  r.ready AS "ready!"
           FROM experiments_v1.promotion_readiness r
           JOIN experiments_v1.experiments e ON e.id = r.experiment_id
           WHERE $1::uuid IS NULL OR r.experiment_id = $1
           ORDER BY e.created_at DESC"#,
        experiment
    )
    .fetch_all(executor)
    .await?;
    Ok(rows)
}

/// Records a satisfaction score (0–5) for an experiment.
pub async fn add_feedback(
    executor: impl PgExecutor<'_>,
    experiment_id: Uuid,
    score: i16,
    comment: &str,
    author: &str,
) -> Result<i64, StoreError> {
    let id = sqlx::query_scalar!(
        r#"INSERT INTO experiments_v1.feedback (experiment_id, score, comment, author)
           VALUES ($1, $2, $3, $4) RETURNING id"#,
        experiment_id,
        score,
        comment,
        author
    )
    .fetch_one(executor)
    .await?;
    Ok(id)
}

/// The re-evaluation of `record_id` still in V1 (registered, evaluating or
/// evaluated), if any.
pub async fn open_reevaluation(
    executor: impl PgExecutor<'_>,
    record_id: Uuid,
) -> Result<Option<Uuid>, StoreError> {
    Ok(sqlx::query_scalar!(
        r#"SELECT id FROM experiments_v1.experiments
           WHERE reevaluation_of = $1 AND status IN ('registered', 'evaluating', 'evaluated')
           LIMIT 1"#,
        record_id
    )
    .fetch_optional(executor)
    .await?)
}

impl From<Experiment> for trizone_api::experiments::ExperimentView {
    fn from(e: Experiment) -> Self {
        Self {
            id: e.id,
            name: e.name,
            owner: e.owner,
            description: e.description,
            fingerprint: e.fingerprint.to_string(),
            status: e.status,
            configuration: e.configuration,
            reevaluation_of: e.reevaluation_of,
            created_at: e.created_at,
            updated_at: e.updated_at,
            readiness: None,
            verdict: None,
            next_step: None,
            last_decision: None,
        }
    }
}

impl From<Listed> for trizone_api::experiments::ExperimentView {
    fn from(listed: Listed) -> Self {
        Self {
            last_decision: listed.last_decision.map(|d| {
                trizone_api::experiments::DecisionSummary {
                    id: d.id,
                    decision: d.decision,
                    cases: d.cases,
                    decided_at: d.decided_at,
                }
            }),
            ..listed.experiment.into()
        }
    }
}

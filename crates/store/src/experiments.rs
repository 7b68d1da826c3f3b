//! Repository for `experiments_v1.experiments`: registration and status.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::types::Json;
use sqlx::{PgConnection, PgExecutor};
use trizone_core::{Configuration, ExperimentStatus, Fingerprint, Mover};
use uuid::Uuid;

use crate::StoreError;

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

fn parse_status(raw: String) -> Result<ExperimentStatus, StoreError> {
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

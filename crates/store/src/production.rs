//! Repository for `production`: deployments and the active pointer V2
//! replicas follow. The gate writes them; V2 only reads.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::types::Json;
use sqlx::{PgConnection, PgExecutor};
use trizone_core::{Configuration, Fingerprint};
use uuid::Uuid;

use crate::StoreError;

pub use trizone_api::states::DeploymentStatus;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Deployment {
    pub id: Uuid,
    pub version: i64,
    pub experiment_id: Uuid,
    pub fingerprint: String,
    pub configuration: Configuration,
    pub status: DeploymentStatus,
    pub previous_deployment_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub activated_at: Option<DateTime<Utc>>,
}

struct Row {
    id: Uuid,
    version: i64,
    experiment_id: Uuid,
    fingerprint: String,
    configuration: Json<Configuration>,
    status: DeploymentStatus,
    previous_deployment_id: Option<Uuid>,
    created_at: DateTime<Utc>,
    activated_at: Option<DateTime<Utc>>,
}

impl From<Row> for Deployment {
    fn from(row: Row) -> Self {
        Self {
            id: row.id,
            version: row.version,
            experiment_id: row.experiment_id,
            fingerprint: row.fingerprint,
            configuration: row.configuration.0,
            status: row.status,
            previous_deployment_id: row.previous_deployment_id,
            created_at: row.created_at,
            activated_at: row.activated_at,
        }
    }
}

/// Records a promotion's first step: a pending deployment of `configuration`.
pub async fn insert_pending(
    executor: impl PgExecutor<'_>,
    experiment_id: Uuid,
    fingerprint: &Fingerprint,
    configuration: &Configuration,
) -> Result<Deployment, StoreError> {
    let row = sqlx::query_as!(
        Row,
        r#"INSERT INTO production.deployments (experiment_id, fingerprint, configuration)
           VALUES ($1, $2, $3)
           RETURNING id, version, experiment_id, fingerprint,
                     configuration AS "configuration: Json<Configuration>", status AS "status: DeploymentStatus",
                     previous_deployment_id, created_at, activated_at"#,
        experiment_id,
        fingerprint.as_str(),
        Json(configuration) as _,
    )
    .fetch_one(executor)
    .await?;
    Ok(row.into())
}

pub async fn get(executor: impl PgExecutor<'_>, id: Uuid) -> Result<Deployment, StoreError> {
    sqlx::query_as!(
        Row,
        r#"SELECT id, version, experiment_id, fingerprint,
                  configuration AS "configuration: Json<Configuration>", status AS "status: DeploymentStatus",
                  previous_deployment_id, created_at, activated_at
           FROM production.deployments WHERE id = $1"#,
        id
    )
    .fetch_optional(executor)
    .await?
    .map(Deployment::from)
    .ok_or_else(|| StoreError::NotFound {
        entity: "deployment",
        id: id.to_string(),
    })
}

/// The deployment V2 serves now, if any.
pub async fn active(executor: impl PgExecutor<'_>) -> Result<Option<Deployment>, StoreError> {
    let row = sqlx::query_as!(
        Row,
        r#"SELECT d.id, d.version, d.experiment_id, d.fingerprint,
                  d.configuration AS "configuration: Json<Configuration>", d.status AS "status: DeploymentStatus",
                  d.previous_deployment_id, d.created_at, d.activated_at
           FROM production.active_deployment a
           JOIN production.deployments d ON d.id = a.deployment_id"#
    )
    .fetch_optional(executor)
    .await?;
    Ok(row.map(Deployment::from))
}

/// Makes `id` the active deployment: the previous one becomes superseded and
/// the rollback target. Run it inside the enabling transaction, with the
/// audit row and the experiment's status change.
pub async fn activate(conn: &mut PgConnection, id: Uuid) -> Result<Deployment, StoreError> {
    // Locks the pointer, so concurrent activations queue instead of racing.
    let previous =
        sqlx::query_scalar!("SELECT deployment_id FROM production.active_deployment FOR UPDATE")
            .fetch_optional(&mut *conn)
            .await?;
    if previous == Some(id) {
        return get(&mut *conn, id).await;
    }
    sqlx::query!(
        r#"UPDATE production.deployments SET status = 'superseded', deactivated_at = now(), updated_at = now()
           WHERE id = $1"#,
        previous
    )
    .execute(&mut *conn)
    .await?;
    let activated = sqlx::query!(
        r#"UPDATE production.deployments
           SET status = 'active', activated_at = now(), updated_at = now(), previous_deployment_id = $2
           WHERE id = $1"#,
        id,
        previous
    )
    .execute(&mut *conn)
    .await?;
    if activated.rows_affected() == 0 {
        return Err(StoreError::NotFound {
            entity: "deployment",
            id: id.to_string(),
        });
    }
    sqlx::query!(
        r#"INSERT INTO production.active_deployment (deployment_id, previous_deployment_id)
           VALUES ($1, $2)
           ON CONFLICT (singleton) DO UPDATE
           SET deployment_id = EXCLUDED.deployment_id,
               previous_deployment_id = EXCLUDED.previous_deployment_id,
               changed_at = now()"#,
        id,
        previous
    )
    .execute(&mut *conn)
    .await?;
    get(&mut *conn, id).await
}

/// The channel V2 replicas `LISTEN` on; the payload is the new active
/// deployment's id. Replicas also poll, so a lost notification only delays.
pub const ACTIVE_CHANNEL: &str = "trizone_active_deployment";

/// Tells V2 replicas the active deployment changed. Inside a transaction
/// the notification goes out at commit, never for a rolled-back change.
pub async fn notify_active(executor: impl PgExecutor<'_>, id: Uuid) -> Result<(), StoreError> {
    sqlx::query!("SELECT pg_notify($1, $2)", ACTIVE_CHANNEL, id.to_string())
        .execute(executor)
        .await?;
    Ok(())
}

/// Promotions under way (pending, smoke testing, smoke passed, shadowing,
/// canary), oldest first.
pub async fn in_flight(executor: impl PgExecutor<'_>) -> Result<Vec<Deployment>, StoreError> {
    let rows = sqlx::query_as!(
        Row,
        r#"SELECT id, version, experiment_id, fingerprint,
                  configuration AS "configuration: Json<Configuration>", status AS "status: DeploymentStatus",
                  previous_deployment_id, created_at, activated_at
           FROM production.deployments
           WHERE status IN ('pending', 'smoke_testing', 'smoke_passed', 'shadowing', 'canary')
           ORDER BY created_at, version"#
    )
    .fetch_all(executor)
    .await?;
    Ok(rows.into_iter().map(Deployment::from).collect())
}

/// Moves a deployment from `from` to `to` (a saga step), recording the
/// smoke result or failure reason when given; false if it was not in `from`.
pub async fn advance(
    executor: impl PgExecutor<'_>,
    id: Uuid,
    from: DeploymentStatus,
    to: DeploymentStatus,
    smoke_result: Option<&serde_json::Value>,
    failure_reason: Option<&str>,
) -> Result<bool, StoreError> {
    let updated = sqlx::query!(
        r#"UPDATE production.deployments
           SET status = $3, smoke_result = coalesce($4, smoke_result),
               failure_reason = coalesce($5, failure_reason), updated_at = now()
           WHERE id = $1 AND status = $2"#,
        id,
        from.as_str(),
        to.as_str(),
        smoke_result,
        failure_reason,
    )
    .execute(executor)
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// What a rollback did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RolledBack {
    pub from: Deployment,
    pub to: Deployment,
    /// Earlier deployments passed over because their configuration is
    /// blacklisted.
    pub skipped_blacklisted: usize,
}

/// What asking for a rollback came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Rollback {
    // Boxed: two deployments, with their configurations, against a count.
    Done(Box<RolledBack>),
    /// V2 serves nothing, or nothing came before what it serves.
    NothingEarlier,
    /// Every earlier deployment's configuration is blacklisted, and a
    /// blacklisted configuration is never served again.
    OnlyBlacklistedEarlier {
        skipped: usize,
    },
}

/// Puts the newest earlier deployment whose configuration is not
/// blacklisted back in service: the active deployment becomes
/// `rolled_back`, the target `active`, and the pointer's rollback target
/// becomes the target's predecessor. Run it in a transaction, with the
/// audit row and `NOTIFY`.
pub async fn roll_back(conn: &mut PgConnection) -> Result<Rollback, StoreError> {
    let pointer = sqlx::query!(
        r#"SELECT deployment_id, previous_deployment_id FROM production.active_deployment FOR UPDATE"#
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some((current, Some(previous))) =
        pointer.map(|p| (p.deployment_id, p.previous_deployment_id))
    else {
        return Ok(Rollback::NothingEarlier);
    };
    // The earlier deployments, newest first, following each one's
    // predecessor; bounded in case a chain were ever to loop.
    let chain = sqlx::query!(
        r#"WITH RECURSIVE chain AS (
               SELECT d.id, d.fingerprint, d.previous_deployment_id, 1 AS depth
               FROM production.deployments d WHERE d.id = $1
               UNION ALL
               SELECT p.id, p.fingerprint, p.previous_deployment_id, c.depth + 1
               FROM chain c JOIN production.deployments p ON p.id = c.previous_deployment_id
               WHERE c.depth < 10000)
           SELECT c.id AS "id!", c.previous_deployment_id,
                  EXISTS (SELECT 1 FROM quarantine.blacklist b WHERE b.fingerprint = c.fingerprint) AS "blacklisted!"
           FROM chain c
           ORDER BY c.depth"#,
        previous
    )
    .fetch_all(&mut *conn)
    .await?;
    let skipped = chain.iter().take_while(|d| d.blacklisted).count();
    let Some(target) = chain.get(skipped) else {
        return Ok(Rollback::OnlyBlacklistedEarlier { skipped });
    };
    sqlx::query!(
        r#"UPDATE production.deployments SET status = 'rolled_back', deactivated_at = now(), updated_at = now()
           WHERE id = $1"#,
        current
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        r#"UPDATE production.deployments
           SET status = 'active', activated_at = now(), deactivated_at = NULL, updated_at = now()
           WHERE id = $1"#,
        target.id
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        r#"UPDATE production.active_deployment
           SET deployment_id = $1, previous_deployment_id = $2, changed_at = now()"#,
        target.id,
        target.previous_deployment_id
    )
    .execute(&mut *conn)
    .await?;
    Ok(Rollback::Done(Box::new(RolledBack {
        from: get(&mut *conn, current).await?,
        to: get(&mut *conn, target.id).await?,
        skipped_blacklisted: skipped,
    })))
}

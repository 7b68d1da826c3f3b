//! What follows a run that ended without finishing, whoever ended it: the
//! worker when it failed, its owner or an admin when they cancelled it.

use sqlx::PgConnection;
use trizone_core::{ExperimentStatus, Mover};
use trizone_store::audit::{self, Actor, AuditAction, NewEvent};
use trizone_store::{StoreError, experiments, runs};
use uuid::Uuid;

/// How the run ended.
#[derive(Debug, Clone, Copy)]
pub enum Ended<'a> {
    Failed { reason: &'a str },
    Cancelled,
}

/// In `conn`'s transaction, after the run's row says it ended: its
/// experiment goes back to where it stood before the run (evaluated when
/// an earlier run left metrics, else registered), and the audit trail
/// says who ended it and why.
pub async fn put_experiment_back(
    conn: &mut PgConnection,
    run_id: Uuid,
    experiment_id: Uuid,
    actor: Actor<'_>,
    ended: Ended<'_>,
) -> Result<(), StoreError> {
    let back = if runs::has_metrics(&mut *conn, experiment_id).await? {
        ExperimentStatus::Evaluated
    } else {
        ExperimentStatus::Registered
    };
    experiments::transition(
        &mut *conn,
        experiment_id,
        ExperimentStatus::Evaluating,
        back,
        Mover::Experiment,
    )
    .await?;
    let experiment = experiments::get(&mut *conn, experiment_id).await?;
    let mut details = serde_json::json!({"run_id": run_id, "experiment_id": experiment_id});
    let action = match ended {
        Ended::Failed { reason } => {
            details["error"] = reason.into();
            AuditAction::RunFailed
        }
        Ended::Cancelled => AuditAction::RunCancelled,
    };
    audit::append(
        &mut *conn,
        NewEvent {
            actor: &actor.to_string(),
            action,
            subject: experiment.fingerprint.as_str(),
            details: &details,
        },
    )
    .await?;
    Ok(())
}

//! The database enforces the same lifecycle as `trizone_core::lifecycle`.

use std::collections::BTreeSet;

use sqlx::PgPool;
use trizone_core::lifecycle::TRANSITIONS;
use trizone_core::{ExperimentStatus, Mover};
use trizone_store::{StoreError, experiments};

use crate::register;

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn the_database_and_the_core_allow_the_same_transitions(owner: PgPool) {
    let in_db: BTreeSet<(String, String, String)> = sqlx::query_as(
        "SELECT from_status, to_status, mover FROM experiments_v1.status_transitions",
    )
    .fetch_all(&owner)
    .await
    .unwrap()
    .into_iter()
    .collect();
    let in_core: BTreeSet<(String, String, String)> = TRANSITIONS
        .iter()
        .map(|(from, to, mover)| {
            let mover = match mover {
                Mover::Experiment => "experiment",
                Mover::Gate => "gate",
            };
            (from.to_string(), to.to_string(), mover.to_string())
        })
        .collect();
    assert_eq!(in_db, in_core);
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn the_trigger_refuses_a_skipped_step_even_from_the_owner(owner: PgPool) {
    let experiment = register(&owner, "skip", 0.0).await;
    let error: StoreError =
        sqlx::query("UPDATE experiments_v1.experiments SET status = 'promoted' WHERE id = $1")
            .bind(experiment.id)
            .execute(&owner)
            .await
            .unwrap_err()
            .into();
    match error {
        StoreError::Constraint {
            constraint,
            message,
        } => {
            assert_eq!(constraint, "experiments_status_transition");
            assert_eq!(
                message,
                "an experiment cannot go from registered to promoted"
            );
        }
        other => panic!("expected a constraint error, got {other:?}"),
    }
    assert_eq!(
        experiments::get(&owner, experiment.id)
            .await
            .unwrap()
            .status,
        ExperimentStatus::Registered
    );
}

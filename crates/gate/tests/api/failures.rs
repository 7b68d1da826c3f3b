//! A gate that dies at any point of a promotion: the next one finishes it,
//! leaving each configuration in exactly one zone and the audit chain valid.

use sqlx::PgPool;
use trizone_core::ExperimentStatus;
use trizone_gate::{GateError, Policy, Step};

use crate::{MODEL, Measured, TestApp, engine};

/// Every configuration is in exactly one place: promoted ones are (or were)
/// served by V2, quarantined ones have a record, evaluated ones have no
/// promotion under way, and one deployment is active.
async fn consistent(app: &TestApp) {
    let in_flight: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM production.deployments WHERE status IN ('pending', 'smoke_testing', 'smoke_passed')",
    )
    .fetch_one(&app.owner)
    .await
    .unwrap();
    assert_eq!(in_flight, 0, "a promotion was left half done");
    let misplaced: Vec<(uuid::Uuid, String)> = sqlx::query_as(
        "SELECT e.id, e.status FROM experiments_v1.experiments e
         WHERE (e.status = 'promoted') <> EXISTS (
                   SELECT 1 FROM production.deployments d
                   WHERE d.experiment_id = e.id AND d.status IN ('active', 'superseded', 'rolled_back'))
            OR (e.status IN ('quarantined', 'blacklisted')) <> EXISTS (
                   SELECT 1 FROM quarantine.quarantine_records r WHERE r.experiment_id = e.id)",
    )
    .fetch_all(&app.owner)
    .await
    .unwrap();
    assert!(
        misplaced.is_empty(),
        "experiments in the wrong zone: {misplaced:?}"
    );
    let active: i64 =
        sqlx::query_scalar("SELECT count(*) FROM production.deployments WHERE status = 'active'")
            .fetch_one(&app.owner)
            .await
            .unwrap();
    assert_eq!(active, 1);
    app.audit_is_intact().await;
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn a_gate_killed_after_any_saga_step_is_finished_by_the_next(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let steps = [
        None,
        Some(Step::HealthChecked),
        Some(Step::SmokeStarted),
        Some(Step::SmokePassed),
        Some(Step::Enabled),
    ];
    for (i, step) in steps.into_iter().enumerate() {
        let evaluated = app
            .evaluated(
                &app.configuration(MODEL, i as f64 / 10.0),
                Measured::passing(),
            )
            .await;
        // The doomed gate: it records the decision (step one of the saga)...
        let (doomed, doomed_db) = engine(&app.owner, &app.v2_url(), Policy::direct()).await;
        let decision = doomed
            .judge_now(evaluated.experiment, "admin:test")
            .await
            .unwrap();
        assert_eq!(decision.outcome, trizone_store::gate::Outcome::Promoting);
        // ... and dies after `step` (or right after the decision).
        if let Some(step) = step {
            doomed.faults.crash_after(step);
            match doomed.drive_sagas().await {
                Err(GateError::InjectedCrash(at)) => assert_eq!(at, step),
                other => panic!("expected a crash after {step:?}, got {other:?}"),
            }
        }
        drop(doomed);
        doomed_db.close().await;

        // A new gate starts and recovers.
        app.gate.drive_sagas().await.unwrap();
        let version =
            crate::deployment_version(&app.owner, &serde_json::to_value(&decision).unwrap()).await;
        app.wait_for_v2(version).await;
        assert_eq!(
            app.status(evaluated.experiment).await,
            ExperimentStatus::Promoted,
            "after {step:?}"
        );
        consistent(&app).await;
    }
    let promoted: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit.event_log WHERE action = 'gate.promoted'")
            .fetch_one(&app.owner)
            .await
            .unwrap();
    assert_eq!(promoted, 5, "each promotion enabled exactly once");
    app.finish().await;
}

//! Gates racing over one database decide every run once and promote one
//! configuration at a time.

use std::collections::BTreeMap;

use sqlx::PgPool;
use trizone_core::ExperimentStatus;
use trizone_gate::Policy;
use uuid::Uuid;

use crate::{MODEL, Measured, TestApp, engine};

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn two_gates_over_fifty_experiments_decide_each_exactly_once(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let mut expected = BTreeMap::new();
    for i in 0..50 {
        let (measured, status) = match i % 10 {
            0 => (Measured::passing(), ExperimentStatus::Promoted),
            1 => (Measured::undecided(), ExperimentStatus::Evaluated),
            2..=5 => (Measured::inaccurate(), ExperimentStatus::Quarantined),
            _ => (Measured::slow(), ExperimentStatus::Quarantined),
        };
        let evaluated = app
            .evaluated(&app.configuration(MODEL, f64::from(i) / 100.0), measured)
            .await;
        expected.insert(evaluated.experiment, status);
    }
    let (a, a_db) = engine(&app.owner, &app.v2_url(), Policy::direct()).await;
    let (b, b_db) = engine(&app.owner, &app.v2_url(), Policy::direct()).await;
    let race = |gate: trizone_gate::Gate| async move {
        let decided = gate.judge_pending().await.unwrap();
        gate.drive_sagas().await.unwrap();
        decided
    };
    let (by_a, by_b) = tokio::join!(race(a.clone()), race(b.clone()));
    assert_eq!(by_a + by_b, 50, "a: {by_a}, b: {by_b}");
    // Whichever gate lost the saga lock leaves promotions to the next pass.
    a.drive_sagas().await.unwrap();

    let decided: Vec<(Uuid, i64)> =
        sqlx::query_as("SELECT experiment_id, count(*) FROM gate.decisions GROUP BY experiment_id")
            .fetch_all(&app.owner)
            .await
            .unwrap();
    assert_eq!(decided.len(), 50);
    assert!(decided.iter().all(|(_, n)| *n == 1), "{decided:?}");
    for (experiment, status) in &expected {
        assert_eq!(app.status(*experiment).await, *status, "{experiment}");
    }
    let deployments: Vec<(String, i64)> = sqlx::query_as(
        "SELECT status, count(*) FROM production.deployments GROUP BY status ORDER BY status",
    )
    .fetch_all(&app.owner)
    .await
    .unwrap();
    assert_eq!(
        deployments,
        vec![("active".into(), 1), ("superseded".into(), 4)]
    );
    let promotions: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit.event_log WHERE action = 'gate.promoted'")
            .fetch_one(&app.owner)
            .await
            .unwrap();
    assert_eq!(promotions, 5);
    app.audit_is_intact().await;
    drop((a, b));
    a_db.close().await;
    b_db.close().await;
    app.finish().await;
}

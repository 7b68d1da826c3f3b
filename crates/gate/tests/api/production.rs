//! What happens to V2: smoke tests, SLO rollbacks, blacklisting what it
//! serves, rolling back by hand.

use chrono::{Duration as Span, Utc};
use serde_json::{Value, json};
use sqlx::PgPool;
use trizone_core::ExperimentStatus;
use trizone_store::LatencyHistogram;
use uuid::Uuid;

use crate::{ADMIN, EXPERIMENTER, Measured, TestApp, error_of};

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn a_failed_smoke_test_quarantines_and_v2_keeps_what_it_served(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let (_, stable) = app.promote(0.0).await;
    app.sim.state.set_profile(
        "broken-model",
        serde_json::from_value(json!({"errors": {"server": 1.0}})).unwrap(),
    );
    let broken = app
        .evaluated(&app.configuration("broken-model", 0.0), Measured::passing())
        .await;
    let decision = app.judge(broken.experiment).await;
    assert_eq!(decision["decision"], "pass");

    assert_eq!(
        app.status(broken.experiment).await,
        ExperimentStatus::Quarantined
    );
    let deployment: Uuid = decision["deployment_id"].as_str().unwrap().parse().unwrap();
    let row = sqlx::query!(
        "SELECT status, failure_reason, smoke_result FROM production.deployments WHERE id = $1",
        deployment
    )
    .fetch_one(&app.owner)
    .await
    .unwrap();
    assert_eq!(row.status, "failed");
    assert_eq!(row.smoke_result.unwrap()["passed"], false);
    let record = sqlx::query!(
        "SELECT reason, failed_checks, deployment_id FROM quarantine.quarantine_records WHERE experiment_id = $1",
        broken.experiment
    )
    .fetch_one(&app.owner)
    .await
    .unwrap();
    assert_eq!(record.reason, "smoke_test");
    assert_eq!(record.deployment_id, Some(deployment));
    assert_eq!(record.failed_checks[0]["error_kind"], "server");
    assert_eq!(app.v2_version().await, Some(stable));
    app.audit_is_intact().await;
    app.finish().await;
}

/// Writes a closed window of V2's for `deployment`, as a replica would.
async fn window(
    owner: &PgPool,
    deployment: Uuid,
    ago_windows: i64,
    requests: i64,
    errors: i64,
    latency_ms: f64,
) {
    let seconds = 60;
    let now = Utc::now().timestamp();
    let start = now - now.rem_euclid(seconds) - seconds * ago_windows;
    let mut latency = LatencyHistogram::new();
    for _ in 0..requests {
        latency.record_ms(latency_ms);
    }
    sqlx::query(
        "INSERT INTO production.slo_metrics
             (deployment_id, replica, window_start, window_seconds, requests, errors, latency_histogram, latency_p95_ms)
         VALUES ($1, 'v2-a', to_timestamp($2), $3, $4, $5, $6, $7)",
    )
    .bind(deployment)
    .bind(start as f64)
    .bind(seconds as i32)
    .bind(requests)
    .bind(errors)
    .bind(latency.to_bytes())
    .bind(latency.quantile_ms(0.95))
    .execute(owner)
    .await
    .unwrap();
}

async fn active_id(owner: &PgPool) -> Uuid {
    trizone_store::production::active(owner)
        .await
        .unwrap()
        .unwrap()
        .id
}

/// Backdates the activation so earlier windows count as after it.
async fn activated_minutes_ago(owner: &PgPool, deployment: Uuid, minutes: i64) {
    sqlx::query("UPDATE production.deployments SET activated_at = $2 WHERE id = $1")
        .bind(deployment)
        .bind(Utc::now() - Span::minutes(minutes))
        .execute(owner)
        .await
        .unwrap();
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn a_sustained_slo_breach_rolls_back_and_quarantines_with_the_windows(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let (_, first) = app.promote(0.0).await;
    let (second, _) = app.promote(0.5).await;
    let deployment = active_id(&app.owner).await;
    activated_minutes_ago(&app.owner, deployment, 10).await;

    // Two slow windows are not yet sustained; a quiet one does not count.
    window(&app.owner, deployment, 4, 5, 0, 5000.0).await;
    window(&app.owner, deployment, 3, 50, 0, 200.0).await;
    window(&app.owner, deployment, 2, 50, 0, 4200.0).await;
    window(&app.owner, deployment, 1, 50, 0, 4200.0).await;
    assert!(!app.gate.watch_slo().await.unwrap());
    // The live window is not closed: it does not count either.
    window(&app.owner, deployment, 0, 50, 10, 100.0).await;
    assert!(!app.gate.watch_slo().await.unwrap());

    sqlx::query("UPDATE production.slo_metrics SET errors = 3 WHERE deployment_id = $1")
        .bind(deployment)
        .execute(&app.owner)
        .await
        .unwrap();
    // Now errors break the SLO in every window with enough requests:
    // 3 consecutive closed windows (3, 2, 1 ago).
    assert!(app.gate.watch_slo().await.unwrap());
    app.wait_for_v2(first).await;
    assert_eq!(
        app.status(second.experiment).await,
        ExperimentStatus::Quarantined
    );
    let record = sqlx::query!(
        "SELECT reason, failed_checks FROM quarantine.quarantine_records WHERE experiment_id = $1",
        second.experiment
    )
    .fetch_one(&app.owner)
    .await
    .unwrap();
    assert_eq!(record.reason, "slo_breach");
    assert_eq!(
        record.failed_checks[0]["reason"],
        "SLO breach in production"
    );
    assert_eq!(
        record.failed_checks[0]["windows"].as_array().unwrap().len(),
        3
    );
    let status: String =
        sqlx::query_scalar("SELECT status FROM production.deployments WHERE id = $1")
            .bind(deployment)
            .fetch_one(&app.owner)
            .await
            .unwrap();
    assert_eq!(status, "rolled_back");
    assert!(
        !app.gate.watch_slo().await.unwrap(),
        "the restored deployment has no breach"
    );
    app.audit_is_intact().await;
    app.finish().await;
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn blacklisting_what_v2_serves_rolls_it_back_first(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let (first, first_version) = app.promote(0.0).await;
    let first_fingerprint = trizone_store::experiments::get(&app.owner, first.experiment)
        .await
        .unwrap()
        .fingerprint;
    // The only deployment V2 ever had cannot go.
    let only = app
        .post(
            "/api/gate/blacklist",
            ADMIN,
            &json!({"fingerprint": first_fingerprint.as_str(), "reason": "leaks secrets"}),
        )
        .await;
    assert_eq!(error_of(only, 409).await["code"], "only_deployment");

    let (second, _) = app.promote(0.5).await;
    let fingerprint = trizone_store::experiments::get(&app.owner, second.experiment)
        .await
        .unwrap()
        .fingerprint;
    let response = app
        .post(
            "/api/gate/blacklist",
            ADMIN,
            &json!({"fingerprint": fingerprint.as_str(), "reason": "leaks secrets"}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let entry: Value = response.json().await.unwrap();
    assert_eq!(entry["reason"], "leaks secrets");
    app.wait_for_v2(first_version).await;
    assert_eq!(
        app.status(second.experiment).await,
        ExperimentStatus::Blacklisted
    );
    let reason: String = sqlx::query_scalar(
        "SELECT reason FROM quarantine.quarantine_records WHERE experiment_id = $1",
    )
    .bind(second.experiment)
    .fetch_one(&app.owner)
    .await
    .unwrap();
    assert_eq!(reason, "blacklist");

    // Again: the first reason stays. Unknown fingerprints may be blacklisted
    // ahead of time; malformed ones and empty reasons are refused.
    let again = app
        .post(
            "/api/gate/blacklist",
            ADMIN,
            &json!({"fingerprint": fingerprint.as_str(), "reason": "other"}),
        )
        .await;
    assert_eq!(again.status(), 200);
    assert_eq!(
        again.json::<Value>().await.unwrap()["reason"],
        "leaks secrets"
    );
    let ahead = app
        .post(
            "/api/gate/blacklist",
            ADMIN,
            &json!({"fingerprint": "ab".repeat(32), "reason": "known bad"}),
        )
        .await;
    assert_eq!(ahead.status(), 201);
    let malformed = app
        .post(
            "/api/gate/blacklist",
            ADMIN,
            &json!({"fingerprint": "ABC", "reason": "x"}),
        )
        .await;
    assert_eq!(error_of(malformed, 422).await["field"], "fingerprint");
    let empty = app
        .post(
            "/api/gate/blacklist",
            ADMIN,
            &json!({"fingerprint": "cd".repeat(32), "reason": " "}),
        )
        .await;
    assert_eq!(error_of(empty, 422).await["field"], "reason");
    let forbidden = app
        .post(
            "/api/gate/blacklist",
            EXPERIMENTER,
            &json!({"fingerprint": "cd".repeat(32), "reason": "x"}),
        )
        .await;
    assert_eq!(error_of(forbidden, 403).await["code"], "forbidden");
    let blacklisted: i64 = sqlx::query_scalar("SELECT count(*) FROM quarantine.blacklist")
        .fetch_one(&app.owner)
        .await
        .unwrap();
    assert_eq!(blacklisted, 2);
    app.audit_is_intact().await;
    app.finish().await;
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn an_admin_rolls_back_to_the_previous_deployment(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let no_target = app
        .post("/api/gate/rollback", ADMIN, &json!({"reason": "testing"}))
        .await;
    assert_eq!(error_of(no_target, 409).await["code"], "no_rollback_target");
    let (_, first) = app.promote(0.0).await;
    let (second, second_version) = app.promote(0.5).await;
    let missing_reason = app
        .post("/api/gate/rollback", ADMIN, &json!({"reason": ""}))
        .await;
    assert_eq!(error_of(missing_reason, 422).await["field"], "reason");

    let response = app
        .post(
            "/api/gate/rollback",
            ADMIN,
            &json!({"reason": "customer complaints"}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        (
            body["from"]["version"].as_i64(),
            body["to"]["version"].as_i64()
        ),
        (Some(second_version), Some(first))
    );
    app.wait_for_v2(first).await;
    // A manual rollback judges nothing: the configuration stays promoted.
    assert_eq!(
        app.status(second.experiment).await,
        ExperimentStatus::Promoted
    );
    let note: Value =
        sqlx::query_scalar("SELECT details FROM audit.event_log WHERE action = 'gate.rolled_back'")
            .fetch_one(&app.owner)
            .await
            .unwrap();
    assert_eq!(note["note"], "customer complaints");
    app.finish().await;
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn a_blacklisted_configuration_is_never_served_again_by_a_rollback(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let (first, first_version) = app.promote(0.0).await;
    let (second, _) = app.promote(0.5).await;
    let (_, third_version) = app.promote(0.7).await;
    // The second is the rollback target; blacklisting it while V2 serves
    // the third leaves V2 as it is, but moves its experiment out of
    // `promoted` for good.
    let fingerprint: String =
        sqlx::query_scalar("SELECT fingerprint FROM experiments_v1.experiments WHERE id = $1")
            .bind(second.experiment)
            .fetch_one(&app.owner)
            .await
            .unwrap();
    let blacklisted = app
        .post(
            "/api/gate/blacklist",
            ADMIN,
            &json!({"fingerprint": fingerprint, "reason": "leaks secrets"}),
        )
        .await;
    assert_eq!(blacklisted.status(), 201);
    assert_eq!(app.v2_version().await, Some(third_version));
    assert_eq!(
        app.status(second.experiment).await,
        ExperimentStatus::Blacklisted
    );

    // A rollback passes over the blacklisted second and goes to the first.
    let response = app
        .post(
            "/api/gate/rollback",
            ADMIN,
            &json!({"reason": "regression"}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["to"]["version"].as_i64(), Some(first_version));
    app.wait_for_v2(first_version).await;
    let skipped: Value = sqlx::query_scalar(
        "SELECT details -> 'skipped_blacklisted' FROM audit.event_log WHERE action = 'gate.rolled_back'",
    )
    .fetch_one(&app.owner)
    .await
    .unwrap();
    assert_eq!(skipped, 1);

    // With only blacklisted configurations behind it, V2 stays where it is
    // and the refusal says why.
    let first_fingerprint: String =
        sqlx::query_scalar("SELECT fingerprint FROM experiments_v1.experiments WHERE id = $1")
            .bind(first.experiment)
            .fetch_one(&app.owner)
            .await
            .unwrap();
    let (_, fourth_version) = app.promote(0.9).await;
    let blacklisted = app
        .post(
            "/api/gate/blacklist",
            ADMIN,
            &json!({"fingerprint": first_fingerprint, "reason": "also leaks"}),
        )
        .await;
    assert_eq!(blacklisted.status(), 201);
    let refused = app
        .post("/api/gate/rollback", ADMIN, &json!({"reason": "again"}))
        .await;
    let error = error_of(refused, 409).await;
    assert_eq!(error["code"], "no_rollback_target");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("blacklisted configuration is never served again"),
        "{error}"
    );
    assert_eq!(app.v2_version().await, Some(fourth_version));
    app.audit_is_intact().await;
    app.finish().await;
}

//! Re-evaluation: V1 reads a record from V3 and registers its
//! configuration again, linked to it; the gate can then pass it to V2.

use serde_json::{Value, json};
use sqlx::PgPool;
use trizone_core::ExperimentStatus;
use uuid::Uuid;

use crate::{ADMIN, EXPERIMENTER, Platform, error_of};

async fn reevaluate(platform: &Platform, record: Uuid, token: &str) -> reqwest::Response {
    platform
        .post(
            platform.v1,
            "/api/v1/reevaluations",
            token,
            &json!({"record_id": record}),
        )
        .await
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn a_reevaluated_configuration_is_linked_to_its_record_and_can_reach_v2(owner: PgPool) {
    let platform = Platform::start(owner, None).await;
    let (first, record) = platform.quarantined(&platform.configuration(0.0)).await;

    let response = reevaluate(&platform, record, ADMIN).await;
    assert_eq!(response.status(), 201);
    let experiment: Value = response.json().await.unwrap();
    assert_eq!(experiment["reevaluation_of"], record.to_string());
    assert_eq!(experiment["status"], "registered");
    assert_eq!(experiment["owner"], "alice");
    let id: Uuid = experiment["id"].as_str().unwrap().parse().unwrap();
    assert_ne!(id, first);

    // While it is open, a second request for the record is refused.
    let again = error_of(reevaluate(&platform, record, ADMIN).await, 409).await;
    assert_eq!(again["code"], "reevaluation_open");
    assert!(again["message"].as_str().unwrap().contains(&id.to_string()));

    // V3 shows it through V1's link, without writing anything.
    let view: Value = platform
        .get(platform.v3, &format!("/api/v3/records/{record}"), ADMIN)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["reevaluation"]["open"], true);
    assert_eq!(
        view["reevaluation"]["history"][0]["experiment_id"],
        id.to_string()
    );

    // A re-evaluation continues the configuration's evidence: to pass, its
    // new cases must outweigh the 60 misses in 300 that quarantined it
    // (about 1,230 right in a row at the default design), and then the gate
    // promotes it and V2 serves it.
    platform.evaluate_cases(id, 1_300, 1_300).await;
    let decision = platform.gate.judge_now(id, "admin:test").await.unwrap();
    assert_eq!(
        decision.outcome,
        trizone_store::gate::Outcome::Promoting,
        "{decision:?}"
    );
    assert_eq!(decision.pooled_runs.as_ref().map(Vec::len), Some(2));
    assert_eq!(decision.verdict["cases"], 1_600);
    platform.gate.drive_sagas().await.unwrap();
    let status = trizone_testkit::wait_for_v2(&format!("http://{}", platform.v2), |active| {
        !active.is_null()
    })
    .await;
    assert_eq!(status["active"]["fingerprint"], view["fingerprint"]);
    let view: Value = platform
        .get(platform.v3, &format!("/api/v3/records/{record}"), ADMIN)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["reevaluation"]["history"][0]["status"], "promoted");
    assert_eq!(view["reevaluation"]["open"], false);
    let summary: Value = platform
        .get(platform.v3, "/api/v3/summary", ADMIN)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            summary[0]["reevaluations"].as_i64(),
            summary[0]["reevaluations_promoted"].as_i64()
        ),
        (Some(1), Some(1))
    );
    assert_eq!(
        trizone_store::experiments::get(&platform.owner, id)
            .await
            .unwrap()
            .status,
        ExperimentStatus::Promoted
    );
    platform.finish().await;
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn blacklisted_unknown_and_unauthorised_reevaluations_are_refused(owner: PgPool) {
    let platform = Platform::start(owner, None).await;
    let configuration = platform.configuration(0.0);
    let (_, first) = platform.quarantined(&configuration).await;
    platform.quarantined(&configuration).await;
    let (third, _) = platform.quarantined(&configuration).await;
    assert_eq!(
        trizone_store::experiments::get(&platform.owner, third)
            .await
            .unwrap()
            .status,
        ExperimentStatus::Blacklisted
    );
    let error = error_of(reevaluate(&platform, first, ADMIN).await, 409).await;
    assert_eq!(error["code"], "blacklisted");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("quarantined 3 times"),
        "{error}"
    );

    assert_eq!(
        error_of(reevaluate(&platform, first, EXPERIMENTER).await, 403).await["code"],
        "forbidden"
    );
    assert_eq!(
        error_of(reevaluate(&platform, Uuid::new_v4(), ADMIN).await, 404).await["code"],
        "not_found"
    );
    let malformed = platform
        .post(
            platform.v1,
            "/api/v1/reevaluations",
            ADMIN,
            &json!({"record": "x"}),
        )
        .await;
    assert_eq!(malformed.status(), 422);
    let experiments: i64 = sqlx::query_scalar("SELECT count(*) FROM experiments_v1.experiments")
        .fetch_one(&platform.owner)
        .await
        .unwrap();
    assert_eq!(experiments, 3, "nothing was registered");
    platform.finish().await;
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn with_v3_down_nothing_is_registered(owner: PgPool) {
    // A port nothing listens on.
    let closed = {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let platform = Platform::start(owner, Some(&closed)).await;
    let (_, record) = platform.quarantined(&platform.configuration(0.0)).await;
    let error = error_of(reevaluate(&platform, record, ADMIN).await, 503).await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("nothing was registered"),
        "{error}"
    );
    let reevaluations: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM experiments_v1.experiments WHERE reevaluation_of IS NOT NULL",
    )
    .fetch_one(&platform.owner)
    .await
    .unwrap();
    assert_eq!(reevaluations, 0);
    platform.finish().await;
}

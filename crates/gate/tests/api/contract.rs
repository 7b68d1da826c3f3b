//! Every operation of the gate's API answers as its own OpenAPI document
//! says: each status it answers is listed, and each body validates against
//! the schema listed for that status.

use serde_json::json;
use sqlx::PgPool;
use trizone_testkit::contract::Contract;
use uuid::Uuid;

use crate::{ADMIN, EXPERIMENTER, MODEL, Measured, TestApp};

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn every_operation_answers_as_the_gate_document_says(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let mut contract = Contract::fetch(&app.client, &app.url(""), EXPERIMENTER).await;
    let post = |path: &str, token: &str, body: serde_json::Value| {
        app.client
            .post(app.url(path))
            .bearer_auth(token)
            .json(&body)
    };
    let get = |path: &str, token: &str| app.client.get(app.url(path)).bearer_auth(token);
    let judge = "/api/gate/experiments/{id}/judge";

    let unknown = Uuid::new_v4();
    let (status, _) = contract
        .send(
            "POST",
            judge,
            post(
                &format!("/api/gate/experiments/{unknown}/judge"),
                ADMIN,
                json!({}),
            ),
        )
        .await;
    assert_eq!(status, 404);
    let evaluated = app
        .evaluated(&app.configuration(MODEL, 0.0), Measured::passing())
        .await;
    let path = format!("/api/gate/experiments/{}/judge", evaluated.experiment);
    let (status, decision) = contract
        .send("POST", judge, post(&path, ADMIN, json!({})))
        .await;
    assert_eq!(status, 200);
    let (status, _) = contract
        .send("POST", judge, post(&path, ADMIN, json!({})))
        .await;
    assert_eq!(status, 409);
    let (status, _) = contract
        .send("POST", judge, post(&path, EXPERIMENTER, json!({})))
        .await;
    assert_eq!(status, 403);
    app.gate.drive_sagas().await.unwrap();

    let decisions = "/api/gate/decisions";
    let (status, _) = contract
        .send("GET", decisions, get(decisions, EXPERIMENTER))
        .await;
    assert_eq!(status, 200);
    let (status, _) = contract
        .send(
            "GET",
            decisions,
            get("/api/gate/decisions?decision=maybe", EXPERIMENTER),
        )
        .await;
    assert_eq!(status, 422);
    let one = "/api/gate/decisions/{id}";
    let id = decision["id"].as_str().unwrap();
    let (status, _) = contract
        .send(
            "GET",
            one,
            get(&format!("/api/gate/decisions/{id}"), EXPERIMENTER),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = contract
        .send(
            "GET",
            one,
            get(&format!("/api/gate/decisions/{unknown}"), EXPERIMENTER),
        )
        .await;
    assert_eq!(status, 404);

    let blacklist = "/api/gate/blacklist";
    let entry = json!({"fingerprint": "ab".repeat(32), "reason": "known bad"});
    let (status, _) = contract
        .send("POST", blacklist, post(blacklist, ADMIN, entry.clone()))
        .await;
    assert_eq!(status, 201);
    let (status, _) = contract
        .send("POST", blacklist, post(blacklist, ADMIN, entry))
        .await;
    assert_eq!(status, 200);
    let (status, _) = contract
        .send(
            "POST",
            blacklist,
            post(blacklist, ADMIN, json!({"fingerprint": "x", "reason": "r"})),
        )
        .await;
    assert_eq!(status, 422);

    let rollback = "/api/gate/rollback";
    let (status, _) = contract
        .send(
            "POST",
            rollback,
            post(rollback, ADMIN, json!({"reason": "nothing before it"})),
        )
        .await;
    assert_eq!(status, 409);
    let (status, _) = contract
        .send(
            "POST",
            rollback,
            post(rollback, ADMIN, json!({"reason": ""})),
        )
        .await;
    assert_eq!(status, 422);
    app.promote(0.5).await;
    let (status, _) = contract
        .send(
            "POST",
            rollback,
            post(rollback, ADMIN, json!({"reason": "back to the first"})),
        )
        .await;
    assert_eq!(status, 200);

    let audit = "/api/gate/audit";
    let (status, _) = contract.send("GET", audit, get(audit, ADMIN)).await;
    assert_eq!(status, 200);
    let (status, _) = contract.send("GET", audit, get(audit, EXPERIMENTER)).await;
    assert_eq!(status, 403);

    for (path, token) in [
        ("/healthz", ""),
        ("/readyz", ""),
        ("/metrics", ADMIN),
        ("/openapi.json", EXPERIMENTER),
    ] {
        let (status, _) = contract.send("GET", path, get(path, token)).await;
        assert_eq!(status, 200, "{path}");
    }
    assert_eq!(contract.unchecked(), Vec::<String>::new());
    app.finish().await;
}

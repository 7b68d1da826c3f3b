//! Every operation of the gate's API answers as its own OpenAPI document
//! says: each status it answers is listed, and each body validates against
//! the schema listed for that status.

use serde_json::json;
use sqlx::PgPool;
use trizone_testkit::contract::Contract;
use uuid::Uuid;

use crate::{ADMIN, END_USER, EXPERIMENTER, GATE, MODEL, Measured, SCRAPER, TestApp};

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

    // The rollout: none, then a plan, a candidate shadowing, and each move.
    let rollout = "/api/gate/rollout";
    let (status, body) = contract
        .send("GET", rollout, get(rollout, EXPERIMENTER))
        .await;
    assert_eq!((status, &body["rollout"]), (200, &serde_json::Value::Null));
    let plan = "/api/gate/rollout/plan";
    let (status, _) = contract.send("GET", plan, get(plan, EXPERIMENTER)).await;
    assert_eq!(status, 200);
    let put_plan =
        |body: serde_json::Value| app.client.put(app.url(plan)).bearer_auth(ADMIN).json(&body);
    let (status, _) = contract
        .send(
            "PUT",
            plan,
            put_plan(json!({"shadow_sample": 2, "min_requests": 20, "min_agreement": 0.8, "steps": [100]})),
        )
        .await;
    assert_eq!(status, 422);
    let (status, _) = contract
        .send(
            "PUT",
            plan,
            put_plan(json!({"shadow_sample": 0.5, "min_requests": 20, "min_agreement": 0.8, "steps": [50, 100]})),
        )
        .await;
    assert_eq!(status, 200);
    let moves = |action: &str| format!("/api/gate/rollout/{action}");
    let (status, _) = contract
        .send(
            "POST",
            &moves("pause"),
            post(&moves("pause"), ADMIN, json!({})),
        )
        .await;
    assert_eq!(status, 409);
    app.promote_only_judged(0.7).await;
    let (status, body) = contract
        .send("GET", rollout, get(rollout, EXPERIMENTER))
        .await;
    assert_eq!(
        (status, body["rollout"]["stage"].as_str()),
        (200, Some("shadow"))
    );
    for (action, expected) in [
        ("pause", 200),
        ("resume", 200),
        ("resume", 409),
        ("promote", 200),
        ("abort", 409),
    ] {
        let path = moves(action);
        let (status, _) = contract
            .send("POST", &path, post(&path, ADMIN, json!({})))
            .await;
        assert_eq!(status, expected, "{action}");
    }
    app.promote_only_judged(0.8).await;
    let (status, _) = contract
        .send(
            "POST",
            &moves("abort"),
            post(&moves("abort"), ADMIN, json!({})),
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

/// V2's document, checked here because V2's own tests cannot use the
/// testkit (which depends on V2): the gate's tests run a real V2 replica
/// beside the simulator.
#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn every_operation_answers_as_the_v2_document_says(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let base = app.v2_url();
    let mut contract = Contract::fetch(&app.client, &base, END_USER).await;
    let send = |method: reqwest::Method, path: &str, token: &str| {
        let request = app.client.request(method, format!("{base}{path}"));
        if token.is_empty() {
            request
        } else {
            request.bearer_auth(token)
        }
    };
    let file = json!({"language": "python", "path": "a.py", "code": "x = eval(y)\n"});
    let reviews = "/api/v2/reviews";
    let (status, _) = contract
        .send(
            "POST",
            reviews,
            send(reqwest::Method::POST, reviews, END_USER).json(&file),
        )
        .await;
    assert_eq!(status, 503, "nothing promoted yet");
    let (_, version) = app.promote(0.0).await;
    let (status, review) = contract
        .send(
            "POST",
            reviews,
            send(reqwest::Method::POST, reviews, END_USER).json(&file),
        )
        .await;
    assert_eq!(status, 201, "{review}");
    for (request, expected) in [
        (
            send(reqwest::Method::POST, reviews, END_USER).json(&json!({"language": "python"})),
            422,
        ),
        (
            send(reqwest::Method::POST, reviews, END_USER).body("not json"),
            415,
        ),
        (send(reqwest::Method::POST, reviews, "").json(&file), 401),
        (send(reqwest::Method::POST, reviews, GATE).json(&file), 403),
    ] {
        let (status, body) = contract.send("POST", reviews, request).await;
        assert_eq!(status, expected, "{body}");
    }
    let id = review["id"].as_str().unwrap();
    let one = "/api/v2/reviews/{id}";
    for (path, expected) in [
        (format!("/api/v2/reviews/{id}"), 200),
        (format!("/api/v2/reviews/{}", Uuid::new_v4()), 404),
    ] {
        let (status, _) = contract
            .send("GET", one, send(reqwest::Method::GET, &path, END_USER))
            .await;
        assert_eq!(status, expected, "{path}");
    }
    let feedback = "/api/v2/reviews/{id}/feedback";
    for (path, body, expected) in [
        (
            format!("/api/v2/reviews/{id}/feedback"),
            json!({"satisfaction": 5}),
            201,
        ),
        (
            format!("/api/v2/reviews/{id}/feedback"),
            json!({"satisfaction": 9}),
            422,
        ),
        (
            format!("/api/v2/reviews/{}/feedback", Uuid::new_v4()),
            json!({"satisfaction": 1}),
            404,
        ),
    ] {
        let (status, answer) = contract
            .send(
                "POST",
                feedback,
                send(reqwest::Method::POST, &path, END_USER).json(&body),
            )
            .await;
        assert_eq!(status, expected, "{path}: {answer}");
    }
    let (status, _) = contract
        .send(
            "GET",
            "/api/v2/status",
            send(reqwest::Method::GET, "/api/v2/status", END_USER),
        )
        .await;
    assert_eq!(status, 200);
    let deployment: Uuid =
        sqlx::query_scalar("SELECT id FROM production.deployments WHERE version = $1")
            .bind(version)
            .fetch_one(&app.owner)
            .await
            .unwrap();
    // A promotion stopped at its smoke test, as the gate leaves it before asking.
    let candidate = app
        .evaluated(&app.configuration(MODEL, 0.9), Measured::passing())
        .await;
    let experiment = trizone_store::experiments::get(&app.owner, candidate.experiment)
        .await
        .unwrap();
    let promoting = trizone_store::production::insert_pending(
        &app.owner,
        experiment.id,
        &experiment.fingerprint,
        &experiment.configuration,
    )
    .await
    .unwrap();
    trizone_store::production::advance(
        &app.owner,
        promoting.id,
        trizone_store::production::DeploymentStatus::Pending,
        trizone_store::production::DeploymentStatus::SmokeTesting,
        None,
        None,
    )
    .await
    .unwrap();
    let smoke = "/internal/smoke/{deployment_id}";
    for (path, token, expected) in [
        (format!("/internal/smoke/{}", promoting.id), GATE, 200),
        (format!("/internal/smoke/{deployment}"), GATE, 409),
        (format!("/internal/smoke/{}", Uuid::new_v4()), GATE, 404),
        (format!("/internal/smoke/{deployment}"), END_USER, 403),
    ] {
        let (status, body) = contract
            .send("POST", smoke, send(reqwest::Method::POST, &path, token))
            .await;
        assert_eq!(status, expected, "{path}: {body}");
    }
    for (path, token) in [
        ("/healthz", ""),
        ("/readyz", ""),
        ("/metrics", SCRAPER),
        ("/openapi.json", END_USER),
    ] {
        let (status, _) = contract
            .send("GET", path, send(reqwest::Method::GET, path, token))
            .await;
        assert_eq!(status, 200, "{path}");
    }
    assert_eq!(contract.unchecked(), Vec::<String>::new());
    app.finish().await;
}

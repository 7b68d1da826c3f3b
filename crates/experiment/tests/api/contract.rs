//! Every operation of V1's API answers as its own OpenAPI document says.

use reqwest::Method;
use serde_json::json;
use sqlx::PgPool;
use trizone_testkit::contract::Contract;
use uuid::Uuid;

use crate::{ADMIN, END_USER, EXPERIMENTER, TestApp, registration};

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn every_operation_answers_as_the_v1_document_says(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let mut contract = Contract::fetch(&app.client, &app.url(""), EXPERIMENTER).await;
    let send = |method: Method, path: &str, token: &str| {
        let request = app.client.request(method, app.url(path));
        if token.is_empty() {
            request
        } else {
            request.bearer_auth(token)
        }
    };
    let unknown = Uuid::new_v4();

    let experiments = "/api/v1/experiments";
    let body = registration("contract", 0.0);
    let (status, experiment) = contract
        .send(
            "POST",
            experiments,
            send(Method::POST, experiments, EXPERIMENTER)
                .header("content-type", "application/json")
                .body(body.clone()),
        )
        .await;
    assert_eq!(status, 201, "{experiment}");
    let (status, _) = contract
        .send(
            "POST",
            experiments,
            send(Method::POST, experiments, EXPERIMENTER)
                .header("content-type", "application/json")
                .body(body),
        )
        .await;
    assert_eq!(status, 200, "the same fingerprint again");
    for (request, expected) in [
        (
            send(Method::POST, experiments, EXPERIMENTER)
                .header("content-type", "application/json")
                .body(r#"{"owner": "alice"}"#),
            422,
        ),
        (
            send(Method::POST, experiments, END_USER).json(&json!({})),
            403,
        ),
        (send(Method::POST, experiments, "").json(&json!({})), 401),
    ] {
        let (status, body) = contract.send("POST", experiments, request).await;
        assert_eq!(status, expected, "{body}");
    }
    let (status, _) = contract
        .send(
            "GET",
            experiments,
            send(Method::GET, experiments, EXPERIMENTER),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = contract
        .send(
            "GET",
            experiments,
            send(Method::GET, "/api/v1/experiments?limit=0", EXPERIMENTER),
        )
        .await;
    assert_eq!(status, 422);
    let id = experiment["id"].as_str().unwrap();
    let one = "/api/v1/experiments/{id}";
    for (path, expected) in [
        (format!("/api/v1/experiments/{id}"), 200),
        (format!("/api/v1/experiments/{unknown}"), 404),
    ] {
        let (status, _) = contract
            .send("GET", one, send(Method::GET, &path, EXPERIMENTER))
            .await;
        assert_eq!(status, expected, "{path}");
    }
    let feedback = "/api/v1/experiments/{id}/feedback";
    for (score, expected) in [(4, 201), (9, 422)] {
        let (status, answer) = contract
            .send(
                "POST",
                feedback,
                send(
                    Method::POST,
                    &format!("/api/v1/experiments/{id}/feedback"),
                    EXPERIMENTER,
                )
                .json(&json!({"score": score})),
            )
            .await;
        assert_eq!(status, expected, "{answer}");
    }
    let (status, _) = contract
        .send(
            "GET",
            "/api/v1/readiness",
            send(Method::GET, "/api/v1/readiness", EXPERIMENTER),
        )
        .await;
    assert_eq!(status, 200);

    let datasets = "/api/v1/datasets";
    let case = r#"{"id": "c1", "language": "python", "path": "a.py", "code": "x = 1\n", "expected_findings": []}"#;
    let (status, dataset) = contract
        .send(
            "POST",
            datasets,
            send(Method::POST, "/api/v1/datasets?name=contract", EXPERIMENTER)
                .header("content-type", "application/x-ndjson")
                .body(case),
        )
        .await;
    assert_eq!(status, 201, "{dataset}");
    let (status, _) = contract
        .send(
            "POST",
            datasets,
            send(Method::POST, "/api/v1/datasets?name=bad", EXPERIMENTER)
                .header("content-type", "application/x-ndjson")
                .body("not a case"),
        )
        .await;
    assert_eq!(status, 422);
    let (status, _) = contract
        .send("GET", datasets, send(Method::GET, datasets, EXPERIMENTER))
        .await;
    assert_eq!(status, 200);
    let dataset_id = dataset["id"].as_str().unwrap();
    let one_dataset = "/api/v1/datasets/{id}";
    for (path, expected) in [
        (format!("/api/v1/datasets/{dataset_id}"), 200),
        (format!("/api/v1/datasets/{unknown}"), 404),
    ] {
        let (status, _) = contract
            .send("GET", one_dataset, send(Method::GET, &path, EXPERIMENTER))
            .await;
        assert_eq!(status, expected, "{path}");
    }

    let start = "/api/v1/experiments/{id}/runs";
    let path = format!("/api/v1/experiments/{id}/runs");
    let (status, run) = contract
        .send(
            "POST",
            start,
            send(Method::POST, &path, EXPERIMENTER).json(&json!({"dataset_id": dataset_id})),
        )
        .await;
    assert_eq!(status, 202, "{run}");
    for (body, expected) in [
        (json!({"dataset_id": dataset_id}), 409),
        (json!({"dataset_id": dataset_id, "concurrency": 0}), 422),
    ] {
        let (status, answer) = contract
            .send(
                "POST",
                start,
                send(Method::POST, &path, EXPERIMENTER).json(&body),
            )
            .await;
        assert_eq!(status, expected, "{answer}");
    }
    for (path, expected) in [
        (format!("/api/v1/experiments/{id}/runs"), 200),
        (format!("/api/v1/experiments/{unknown}/runs"), 404),
    ] {
        let (status, answer) = contract
            .send("GET", start, send(Method::GET, &path, EXPERIMENTER))
            .await;
        assert_eq!(status, expected, "{path}: {answer}");
        if status == 200 {
            assert_eq!(answer[0]["id"], run["id"], "{answer}");
        }
    }
    let run_id = run["id"].as_str().unwrap();
    let one_run = "/api/v1/runs/{id}";
    for (path, expected) in [
        (format!("/api/v1/runs/{run_id}"), 200),
        (format!("/api/v1/runs/{unknown}"), 404),
    ] {
        let (status, _) = contract
            .send("GET", one_run, send(Method::GET, &path, EXPERIMENTER))
            .await;
        assert_eq!(status, expected, "{path}");
    }
    let cases = "/api/v1/runs/{id}/cases";
    for (path, expected) in [
        (format!("/api/v1/runs/{run_id}/cases"), 200),
        (
            format!("/api/v1/runs/{run_id}/cases?outcome=wrong&limit=5"),
            200,
        ),
        (format!("/api/v1/runs/{run_id}/cases?outcome=lost"), 400),
        (format!("/api/v1/runs/{run_id}/cases?limit=0"), 422),
        (format!("/api/v1/runs/{unknown}/cases"), 404),
    ] {
        let (status, answer) = contract
            .send("GET", cases, send(Method::GET, &path, EXPERIMENTER))
            .await;
        assert_eq!(status, expected, "{path}: {answer}");
    }
    let cancel = "/api/v1/runs/{id}/cancel";
    let cancel_path = format!("/api/v1/runs/{run_id}/cancel");
    for expected in [200, 409] {
        let (status, answer) = contract
            .send(
                "POST",
                cancel,
                send(Method::POST, &cancel_path, EXPERIMENTER),
            )
            .await;
        assert_eq!(status, expected, "{answer}");
    }
    for (token, expected) in [(EXPERIMENTER, 200), (END_USER, 403)] {
        let (status, _) = contract
            .send(
                "GET",
                "/api/v1/runs/{id}/events",
                send(Method::GET, &format!("/api/v1/runs/{run_id}/events"), token),
            )
            .await;
        assert_eq!(status, expected);
    }

    let withdraw = format!("/api/v1/experiments/{id}");
    for expected in [200, 409] {
        let (status, answer) = contract
            .send("DELETE", one, send(Method::DELETE, &withdraw, EXPERIMENTER))
            .await;
        assert_eq!(status, expected, "{answer}");
    }
    let reevaluations = "/api/v1/reevaluations";
    for (token, expected) in [(EXPERIMENTER, 403), (ADMIN, 503)] {
        let (status, answer) = contract
            .send(
                "POST",
                reevaluations,
                send(Method::POST, reevaluations, token).json(&json!({"record_id": unknown})),
            )
            .await;
        assert_eq!(status, expected, "{answer}");
    }
    let providers = "/api/v1/providers";
    for (token, expected) in [(EXPERIMENTER, 200), (END_USER, 403)] {
        let (status, answer) = contract
            .send("GET", providers, send(Method::GET, providers, token))
            .await;
        assert_eq!(status, expected, "{answer}");
    }
    for (path, token) in [
        ("/healthz", ""),
        ("/readyz", ""),
        ("/metrics", ADMIN),
        ("/openapi.json", END_USER),
    ] {
        let (status, _) = contract
            .send("GET", path, send(Method::GET, path, token))
            .await;
        assert_eq!(status, 200, "{path}");
    }
    // A configuration evaluated to the end, for what needs recorded cases.
    let evaluated: serde_json::Value = send(Method::POST, experiments, EXPERIMENTER)
        .header("content-type", "application/json")
        .body(registration("contract-evaluated", 0.7))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id: Uuid = evaluated["id"].as_str().unwrap().parse().unwrap();
    let run_id =
        trizone_testkit::evaluate(&app.owner, id, trizone_testkit::Measured::passing()).await;
    let listed: serde_json::Value = send(
        Method::GET,
        &format!("/api/v1/runs/{run_id}/cases?limit=1"),
        EXPERIMENTER,
    )
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let case_id = listed["cases"][0]["case_id"].as_str().unwrap().to_owned();
    let case = "/api/v1/runs/{id}/cases/{case_id}";
    for (path, expected) in [
        (format!("/api/v1/runs/{run_id}/cases/{case_id}"), 200),
        (format!("/api/v1/runs/{run_id}/cases/no-such-case"), 404),
    ] {
        let (status, answer) = contract
            .send("GET", case, send(Method::GET, &path, EXPERIMENTER))
            .await;
        assert_eq!(status, expected, "{path}: {answer}");
    }
    let evidence = "/api/v1/experiments/{id}/evidence";
    let compare = "/api/v1/experiments/{a}/compare/{b}";
    for (template, path, expected) in [
        (
            evidence,
            format!("/api/v1/experiments/{id}/evidence?points=10"),
            200,
        ),
        (
            evidence,
            format!("/api/v1/experiments/{id}/evidence?points=1"),
            422,
        ),
        (
            evidence,
            format!("/api/v1/experiments/{unknown}/evidence"),
            404,
        ),
        (
            compare,
            format!("/api/v1/experiments/{id}/compare/{id}"),
            200,
        ),
        (
            compare,
            format!("/api/v1/experiments/{id}/compare/{unknown}"),
            404,
        ),
    ] {
        let (status, answer) = contract
            .send("GET", template, send(Method::GET, &path, EXPERIMENTER))
            .await;
        assert_eq!(status, expected, "{path}: {answer}");
    }
    let me = "/api/v1/me";
    for (token, expected) in [(EXPERIMENTER, 200), (END_USER, 403)] {
        let (status, answer) = contract.send("GET", me, send(Method::GET, me, token)).await;
        assert_eq!(status, expected, "{answer}");
    }
    assert_eq!(contract.unchecked(), Vec::<String>::new());
    app.finish().await;
}

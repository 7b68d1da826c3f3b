//! Listing, reading, withdrawing, feedback and readiness.

use serde_json::{Value, json};
use sqlx::PgPool;

use crate::{ADMIN, END_USER, EXPERIMENTER, TestApp, error_of, registration};

async fn registered(app: &TestApp, name: &str, temperature: f64) -> Value {
    app.register(registration(name, temperature), false)
        .await
        .json()
        .await
        .unwrap()
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn experimenters_read_and_listing_filters_and_pages(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    for i in 0..3 {
        registered(&app, &format!("e{i}"), f64::from(i) / 10.0).await;
    }
    let page: Value = app
        .get("/api/v1/experiments?limit=2", EXPERIMENTER)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    assert_eq!(page["next_offset"], 2);
    // V1 is the experimenters' zone: end users see V2 only.
    for path in [
        "/api/v1/experiments",
        "/api/v1/readiness",
        "/api/v1/datasets",
    ] {
        error_of(app.get(path, END_USER).await, 403).await;
    }
    let last: Value = app
        .get("/api/v1/experiments?limit=2&offset=2", EXPERIMENTER)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(last["items"].as_array().unwrap().len(), 1);
    assert!(last["next_offset"].is_null());
    let by_owner: Value = app
        .get("/api/v1/experiments?owner=nobody", EXPERIMENTER)
        .await
        .json()
        .await
        .unwrap();
    assert!(by_owner["items"].as_array().unwrap().is_empty());
    let error = error_of(
        app.get("/api/v1/experiments?status=dancing", EXPERIMENTER)
            .await,
        400,
    )
    .await;
    assert!(
        error["message"].as_str().unwrap().contains("status"),
        "{error}"
    );
    let error = error_of(
        app.get("/api/v1/experiments?limit=0", EXPERIMENTER).await,
        422,
    )
    .await;
    assert_eq!(error["field"], "limit");
    app.finish().await;
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn an_experiment_reads_back_with_its_readiness(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let created = registered(&app, "read-me", 0.0).await;
    let id = created["id"].as_str().unwrap();
    let read: Value = app
        .get(&format!("/api/v1/experiments/{id}"), EXPERIMENTER)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["configuration"]["name"], "read-me");
    assert_eq!(
        read["readiness"]["ready"], false,
        "no metrics yet: not ready"
    );
    error_of(
        app.get(
            "/api/v1/experiments/00000000-0000-0000-0000-000000000000",
            EXPERIMENTER,
        )
        .await,
        404,
    )
    .await;
    let error = error_of(
        app.get("/api/v1/experiments/not-a-uuid", EXPERIMENTER)
            .await,
        400,
    )
    .await;
    assert_eq!(error["code"], "bad_request");
    let all: Value = app
        .get("/api/v1/readiness", EXPERIMENTER)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all.as_array().unwrap().len(), 1);
    app.finish().await;
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn withdrawing_frees_the_fingerprint_and_cannot_be_repeated(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let created = registered(&app, "withdraw-me", 0.0).await;
    let id = created["id"].as_str().unwrap();
    let url = app.url(&format!("/api/v1/experiments/{id}"));
    let withdrawn: Value = app
        .client
        .delete(&url)
        .bearer_auth(EXPERIMENTER)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(withdrawn["status"], "withdrawn");
    let again = app
        .client
        .delete(&url)
        .bearer_auth(EXPERIMENTER)
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(again, 409).await["code"], "not_withdrawable");
    // A withdrawn experiment is not evaluated again, and the refusal says
    // how to go on (before any dataset is looked at).
    let run = app
        .client
        .post(app.url(&format!("/api/v1/experiments/{id}/runs")))
        .bearer_auth(EXPERIMENTER)
        .json(&serde_json::json!({"dataset_id": "00000000-0000-0000-0000-000000000000"}))
        .send()
        .await
        .unwrap();
    let refused = error_of(run, 409).await;
    assert_eq!(refused["code"], "not_evaluable");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("registering the configuration again continues its evidence"),
        "{refused}"
    );
    // The same configuration can be registered anew.
    let response = app.register(registration("withdraw-me", 0.0), false).await;
    assert_eq!(response.status(), 201);
    app.finish().await;
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn a_promoted_experiment_cannot_be_withdrawn(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let id = registered(&app, "promoted", 0.0).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Arranged as the owner: the lifecycle up to promotion.
    for status in ["evaluating", "evaluated", "promoted"] {
        sqlx::query("UPDATE experiments_v1.experiments SET status = $2 WHERE id = $1::uuid")
            .bind(&id)
            .bind(status)
            .execute(&app.owner)
            .await
            .unwrap();
    }
    let response = app
        .client
        .delete(app.url(&format!("/api/v1/experiments/{id}")))
        .bearer_auth(EXPERIMENTER)
        .send()
        .await
        .unwrap();
    let error = error_of(response, 409).await;
    assert!(
        error["message"].as_str().unwrap().contains("is promoted"),
        "{error}"
    );
    app.finish().await;
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn feedback_is_recorded_and_bounded(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let id = registered(&app, "rated", 0.0).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let url = app.url(&format!("/api/v1/experiments/{id}/feedback"));
    let response = app
        .client
        .post(&url)
        .bearer_auth(EXPERIMENTER)
        .json(&json!({"score": 4, "comment": "useful"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let error = error_of(
        app.client
            .post(&url)
            .bearer_auth(EXPERIMENTER)
            .json(&json!({"score": 6}))
            .send()
            .await
            .unwrap(),
        422,
    )
    .await;
    assert_eq!(error["field"], "score");
    for comment in ["nul\u{0}byte", "escape \u{1b}[2J"] {
        let refused = app
            .client
            .post(&url)
            .bearer_auth(EXPERIMENTER)
            .json(&json!({"score": 3, "comment": comment}))
            .send()
            .await
            .unwrap();
        assert_eq!(error_of(refused, 422).await["field"], "comment");
    }
    let missing = app.url("/api/v1/experiments/00000000-0000-0000-0000-000000000000/feedback");
    error_of(
        app.client
            .post(&missing)
            .bearer_auth(EXPERIMENTER)
            .json(&json!({"score": 3}))
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
    let readiness: Value = app
        .get(&format!("/api/v1/experiments/{id}"), EXPERIMENTER)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(readiness["readiness"]["satisfaction"], 4.0);
    app.finish().await;
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn the_openapi_document_lists_the_endpoints(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let doc: Value = app
        .get("/openapi.json", END_USER)
        .await
        .json()
        .await
        .unwrap();
    for path in [
        "/api/v1/experiments",
        "/api/v1/experiments/{id}",
        "/api/v1/experiments/{id}/feedback",
        "/api/v1/readiness",
        "/api/v1/datasets",
        "/api/v1/datasets/{id}",
        "/api/v1/experiments/{id}/runs",
        "/api/v1/runs/{id}",
        "/api/v1/runs/{id}/events",
        "/api/v1/runs/{id}/cancel",
        "/api/v1/runs/{id}/cases/{case_id}",
        "/api/v1/experiments/{id}/evidence",
        "/api/v1/experiments/{a}/compare/{b}",
        "/api/v1/me",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing");
    }
    // Every operation on a path with `{id}` declares it, so generated
    // clients can call it.
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        if !path.contains("{id}") {
            continue;
        }
        for (method, operation) in item.as_object().unwrap() {
            let declared = operation["parameters"].as_array().is_some_and(|ps| {
                ps.iter()
                    .any(|p| p["name"] == "id" && p["in"] == "path" && p["required"] == true)
            });
            assert!(
                declared,
                "{method} {path} does not declare its id: {operation}"
            );
            operations += 1;
        }
    }
    // Ten, plus a run's case and an experiment's evidence path.
    assert_eq!(operations, 12);
    app.finish().await;
}

/// A configuration whose provider the operator no longer lists (or one an
/// upgrade renamed `legacy-…`) would fail every case and be quarantined for
/// it: the run is refused instead, naming the provider.
#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn a_run_of_a_provider_nobody_offers_is_refused_before_it_fails(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let mut body: Value = serde_json::from_str(&registration("retired", 0.0)).unwrap();
    body["configuration"]["models"]["primary"]["provider"] = "legacy-openai-gateway-v1".into();
    let config: trizone_core::Configuration =
        serde_json::from_value(body["configuration"].clone()).unwrap();
    let experiment = trizone_store::experiments::insert(
        &app.owner,
        trizone_store::experiments::NewExperiment {
            owner: "alice",
            description: "",
            configuration: &config,
            reevaluation_of: None,
        },
    )
    .await
    .unwrap();
    let run = app
        .client
        .post(app.url(&format!("/api/v1/experiments/{}/runs", experiment.id)))
        .bearer_auth(EXPERIMENTER)
        .json(&serde_json::json!({"dataset_id": "00000000-0000-0000-0000-000000000000"}))
        .send()
        .await
        .unwrap();
    let refused = error_of(run, 409).await;
    assert_eq!(refused["code"], "provider_unavailable");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("`legacy-openai-gateway-v1` is not a provider"),
        "{refused}"
    );
    app.finish().await;
}

/// Bob holds an experimenter key too. He may read Alice's experiment, and
/// may not withdraw it, rate it, run it or cancel its run; an admin may.
#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn only_the_owner_or_an_admin_changes_an_experiment(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let created = registered(&app, "alices", 0.0).await;
    assert_eq!(created["owner"], "alice");
    let id = created["id"].as_str().unwrap();
    let as_bob = |method: reqwest::Method, path: String| {
        app.client
            .request(method, app.url(&path))
            .bearer_auth(crate::OTHER_EXPERIMENTER)
    };
    let read = as_bob(reqwest::Method::GET, format!("/api/v1/experiments/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    for request in [
        as_bob(reqwest::Method::DELETE, format!("/api/v1/experiments/{id}")),
        as_bob(
            reqwest::Method::POST,
            format!("/api/v1/experiments/{id}/feedback"),
        )
        .json(&serde_json::json!({"score": 0})),
        as_bob(
            reqwest::Method::POST,
            format!("/api/v1/experiments/{id}/runs"),
        )
        .json(&serde_json::json!({"dataset_id": "00000000-0000-0000-0000-000000000000"})),
    ] {
        let refused = error_of(request.send().await.unwrap(), 403).await;
        assert_eq!(refused["code"], "not_owner");
        assert!(
            refused["message"]
                .as_str()
                .unwrap()
                .contains("belongs to alice"),
            "{refused}"
        );
    }
    let feedback = app
        .client
        .post(app.url(&format!("/api/v1/experiments/{id}/feedback")))
        .bearer_auth(ADMIN)
        .json(&serde_json::json!({"score": 4}))
        .send()
        .await
        .unwrap();
    assert_eq!(feedback.status(), 201);
    let withdrawn = app
        .client
        .delete(app.url(&format!("/api/v1/experiments/{id}")))
        .bearer_auth(EXPERIMENTER)
        .send()
        .await
        .unwrap();
    assert_eq!(withdrawn.status(), 200);
    app.finish().await;
}

/// `owner` was free text: anyone could register as anyone.
#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn the_owner_is_the_key_that_registers(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let mut body: Value = serde_json::from_str(&registration("mine", 0.0)).unwrap();
    body.as_object_mut().unwrap().remove("owner");
    let response = app.register(body.to_string(), false).await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.json::<Value>().await.unwrap()["owner"], "alice");
    body["owner"] = "bob".into();
    body["configuration"]["parameters"]["temperature"] = 0.5.into();
    let refused = error_of(app.register(body.to_string(), false).await, 403).await;
    assert_eq!(refused["code"], "not_owner");
    let on_behalf = app
        .client
        .post(app.url("/api/v1/experiments"))
        .bearer_auth(ADMIN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(on_behalf.status(), 201);
    assert_eq!(on_behalf.json::<Value>().await.unwrap()["owner"], "bob");
    app.finish().await;
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn me_names_the_callers_role_and_principal(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let me: Value = app
        .get("/api/v1/me", EXPERIMENTER)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me, json!({"role": "experimenter", "principal": "alice"}));
    let admin: Value = app.get("/api/v1/me", ADMIN).await.json().await.unwrap();
    assert_eq!(admin["role"], "admin");
    error_of(app.get("/api/v1/me", END_USER).await, 403).await;
    app.finish().await;
}

/// The evidence path's last point is the judge's verdict on the whole
/// evidence, and its log-likelihood ratio for accuracy climbs with every
/// correct case.
#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn the_evidence_path_ends_where_the_verdict_stands(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let id = registered(&app, "charted", 0.0).await["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    trizone_testkit::evaluate(&app.owner, id, trizone_testkit::Measured::passing()).await;
    let path: Value = app
        .get(
            &format!("/api/v1/experiments/{id}/evidence?points=30"),
            EXPERIMENTER,
        )
        .await
        .json()
        .await
        .unwrap();
    let points = path["points"].as_array().unwrap();
    assert_eq!(path["cases"], 300);
    assert_eq!(points.len(), 30, "{path}");
    assert_eq!(points.last().unwrap()["cases"], 300);
    let accuracy = |point: &Value| {
        point["tests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["check"] == "accuracy")
            .map(|t| t["test"]["log_ratio"].as_f64().unwrap())
            .unwrap()
    };
    let ratios: Vec<f64> = points.iter().map(accuracy).collect();
    assert!(ratios.windows(2).all(|w| w[1] > w[0]), "{ratios:?}");
    let experiment: Value = app
        .get(&format!("/api/v1/experiments/{id}"), EXPERIMENTER)
        .await
        .json()
        .await
        .unwrap();
    let verdict_ratio = experiment["verdict"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "accuracy")
        .unwrap()["test"]["log_ratio"]
        .as_f64()
        .unwrap();
    assert!((ratios.last().unwrap() - verdict_ratio).abs() < 1e-9);
    let error = error_of(
        app.get(
            &format!("/api/v1/experiments/{id}/evidence?points=1"),
            EXPERIMENTER,
        )
        .await,
        422,
    )
    .await;
    assert_eq!(error["field"], "points");
    app.finish().await;
}

/// Records a run of `experiment` on the cases of `run` (another
/// experiment's), every answer right, as V1's worker would.
async fn right_on_the_same_cases(owner: &PgPool, experiment: uuid::Uuid, run: uuid::Uuid) {
    sqlx::query(
        r"WITH source AS (SELECT dataset_id, cases_total FROM experiments_v1.evaluation_runs WHERE id = $2),
               created AS (
                   INSERT INTO experiments_v1.evaluation_runs
                       (experiment_id, dataset_id, concurrency, cases_total, requested_by, seed, status,
                        started_at, finished_at, stop_reason, cases_not_needed)
                   SELECT $1, dataset_id, 8, cases_total, 'alice', 1, 'finished', now(), now(), 'exhausted', 0
                   FROM source RETURNING id, dataset_id),
               analysed AS (
                   INSERT INTO experiments_v1.code_analyses (run_id, case_id, outcome, correct, latency_ms, cost_usd)
                   SELECT created.id, c.case_id, 'ok', true, 40, 0.001
                   FROM created JOIN experiments_v1.dataset_cases c ON c.dataset_id = created.dataset_id
                   RETURNING run_id, case_id)
          INSERT INTO experiments_v1.evidence (fingerprint, case_key, run_id, case_id)
          SELECT e.fingerprint, c.case_key, a.run_id, a.case_id
          FROM analysed a
          JOIN created ON created.id = a.run_id
          JOIN experiments_v1.dataset_cases c ON c.dataset_id = created.dataset_id AND c.case_id = a.case_id
          JOIN experiments_v1.experiments e ON e.id = $1",
    )
    .bind(experiment)
    .bind(run)
    .execute(owner)
    .await
    .unwrap();
}

/// Two configurations evaluated on the same cases: the agreement table
/// counts every shared case once, and each side's figures are its own.
#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn comparing_two_configurations_counts_the_cases_both_were_evaluated_on(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let id = |v: Value| -> uuid::Uuid { v["id"].as_str().unwrap().parse().unwrap() };
    let candidate = id(registered(&app, "candidate", 0.1).await);
    let serving = id(registered(&app, "serving", 0.2).await);
    let measured = trizone_testkit::Measured::inaccurate();
    let run = trizone_testkit::evaluate(&app.owner, candidate, measured).await;
    right_on_the_same_cases(&app.owner, serving, run).await;
    let compared: Value = app
        .get(
            &format!("/api/v1/experiments/{candidate}/compare/{serving}"),
            EXPERIMENTER,
        )
        .await
        .json()
        .await
        .unwrap();
    let cases = u64::try_from(measured.cases).unwrap();
    let correct = u64::try_from(measured.correct).unwrap();
    assert_eq!(compared["shared_cases"], cases, "{compared}");
    let t = &compared["agreement"];
    assert_eq!(
        (
            &t["both_right"],
            &t["only_a_right"],
            &t["only_b_right"],
            &t["both_wrong"]
        ),
        (
            &json!(correct),
            &json!(0),
            &json!(cases - correct),
            &json!(0)
        ),
        "{compared}"
    );
    assert_eq!(compared["b"]["correct"], cases);
    assert_eq!(compared["b"]["latency_ms"]["p50"], 40.0);
    assert_eq!(compared["differing_total"], cases - correct);
    let differing = compared["differing"].as_array().unwrap();
    assert!(
        differing
            .iter()
            .all(|d| d["a_correct"] == false && d["b_correct"] == true)
    );
    error_of(
        app.get(
            &format!(
                "/api/v1/experiments/{candidate}/compare/{}",
                uuid::Uuid::nil()
            ),
            EXPERIMENTER,
        )
        .await,
        404,
    )
    .await;
    app.finish().await;
}

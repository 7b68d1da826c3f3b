//! `/internal/smoke/{deployment_id}`: the gate's last check.

use serde_json::{Value, json};
use sqlx::PgPool;

use crate::{END_USER, GATE, MODEL, SCRAPER, TestApp, error_of};

async fn smoke(app: &TestApp, id: &str, token: &str) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/internal/smoke/{id}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn a_working_deployment_passes_without_reaching_users_or_records(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let active = app.promote(0.0).await;
    let candidate = app.deploy_for_smoke(app.configuration(0.5)).await;

    let response = smoke(&app, &candidate.id.to_string(), GATE).await;
    assert_eq!(response.status(), 200);
    let report: Value = response.json().await.unwrap();
    assert_eq!(report["passed"], true, "{report}");
    assert_eq!(report["fingerprint"], candidate.fingerprint);
    let cases = report["cases"].as_array().unwrap();
    assert!(cases.len() >= 4);
    for case in cases {
        assert_eq!(case["outcome"], "ok", "{case}");
        assert_eq!(case["answered_by"], json!([format!("sim-openai/{MODEL}")]));
    }
    // The simulator flags `eval(`: the case that has it is matched.
    let eval = cases
        .iter()
        .find(|c| c["id"] == "smoke-python-eval")
        .unwrap();
    assert_eq!(eval["matched"], 1, "{eval}");

    // Users still get the active deployment; nothing was recorded.
    assert_eq!(app.status().await["active"]["version"], active.version);
    app.wait_until_written().await;
    let reviews: i64 = sqlx::query_scalar("SELECT count(*) FROM production.code_reviews")
        .fetch_one(&app.owner)
        .await
        .unwrap();
    assert_eq!(reviews, 0);
    app.finish().await;
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn a_deployment_whose_provider_fails_fails_with_each_case_s_reason(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let mut configuration = app.configuration(0.25);
    configuration["models"]["primary"]["model"] = json!("broken-model");
    let candidate = app.deploy_for_smoke(configuration).await;
    app.sim.state.set_profile(
        "broken-model",
        serde_json::from_value(json!({"errors": {"server": 1.0}})).unwrap(),
    );
    let report: Value = smoke(&app, &candidate.id.to_string(), GATE)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(report["passed"], false, "{report}");
    for case in report["cases"].as_array().unwrap() {
        assert_eq!(
            (case["outcome"].as_str(), case["error_kind"].as_str()),
            (Some("error"), Some("server")),
            "{case}"
        );
        assert!(case["message"].is_string());
    }
    app.finish().await;
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn smoke_tests_are_the_gates_and_for_known_deployments(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let candidate = app.deploy(app.configuration(0.0)).await;
    // Only the gate's key: not an end user's, nor the scraper's.
    for token in [END_USER, SCRAPER] {
        assert_eq!(
            error_of(smoke(&app, &candidate.id.to_string(), token).await, 403).await["code"],
            "forbidden"
        );
    }
    let unknown = uuid::Uuid::new_v4().to_string();
    assert_eq!(
        error_of(smoke(&app, &unknown, GATE).await, 404).await["code"],
        "not_found"
    );
    assert_eq!(
        error_of(smoke(&app, "nope", GATE).await, 400).await["code"],
        "bad_request"
    );
    app.finish().await;
}

/// The service token could smoke-test any deployment, a superseded one too,
/// each time with real provider calls. Only the promotion under way is.
#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn only_a_deployment_being_promoted_is_smoke_tested(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let active = app.promote(0.0).await;
    let pending = app.deploy(app.configuration(0.5)).await;
    for deployment in [&active, &pending] {
        let refused = error_of(smoke(&app, &deployment.id.to_string(), GATE).await, 409).await;
        assert_eq!(refused["code"], "not_being_promoted", "{refused}");
    }
    assert!(
        app.sim.state.stats().is_empty(),
        "a refused smoke test called a provider"
    );
    app.finish().await;
}

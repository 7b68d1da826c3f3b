use sqlx::PgPool;

use crate::{END_USER, EXPERIMENTER, SCRAPER, TestApp, error_body};

#[sqlx::test(migrations = false)]
async fn metrics_label_requests_by_route_template_not_raw_path(db: PgPool) {
    let app = TestApp::spawn(db).await;
    for id in [1, 2, 3] {
        app.get(&format!("/items/{id}"), Some(EXPERIMENTER)).await;
    }
    app.get("/nowhere/at/all", None).await;
    app.get("/panic", None).await;
    let text = app
        .get("/metrics", Some(SCRAPER))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(r#"test_requests_total{method="GET",route="/items/{id}",status="200"} 3"#),
        "{text}"
    );
    assert!(
        text.contains(r#"route="unmatched",status="404"} 1"#),
        "{text}"
    );
    assert!(!text.contains("/items/1"), "raw paths leaked into labels");
    assert!(
        text.contains(r#"test_errors_total{method="GET",route="/panic",status="500"} 1"#),
        "{text}"
    );
    assert!(text.contains("test_request_duration_seconds_bucket"));
    // Only the /metrics request itself is in flight.
    assert!(text.contains("test_active_requests 1"), "{text}");
}

#[sqlx::test(migrations = false)]
async fn every_response_carries_a_request_id_and_keeps_a_given_one(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let response = app.get("/healthz", None).await;
    assert_eq!(response.headers()["x-request-id"].len(), 36);
    let response = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-me-42");
}

#[sqlx::test(migrations = false)]
async fn metrics_need_a_service_token(db: PgPool) {
    let app = TestApp::spawn(db).await;
    error_body(app.get("/metrics", None).await, 401).await;
    error_body(app.get("/metrics", Some(END_USER)).await, 403).await;
}

#[sqlx::test(migrations = false)]
async fn the_openapi_document_declares_bearer_auth_and_the_error_envelope(db: PgPool) {
    let app = TestApp::spawn(db).await;
    error_body(app.get("/openapi.json", None).await, 401).await;
    let doc: serde_json::Value = app
        .get("/openapi.json", Some(END_USER))
        .await
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{doc}");
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert!(
        doc["components"]["schemas"]["ErrorBody"].is_object(),
        "{doc}"
    );
}

#[sqlx::test(migrations = false)]
async fn a_request_id_that_is_not_a_short_token_is_replaced(db: PgPool) {
    let app = TestApp::spawn(db).await;
    for forged in [
        "x\" gate rollback by=admin".to_owned(),
        "a".repeat(65),
        "tab\there".to_owned(),
    ] {
        let response = app
            .client
            .get(app.url("/healthz"))
            .header("x-request-id", forged.as_str())
            .send()
            .await
            .unwrap();
        let echoed = response.headers()["x-request-id"].to_str().unwrap();
        assert_ne!(echoed, forged);
        assert!(uuid::Uuid::parse_str(echoed).is_ok(), "{echoed}");
    }
}

/// Any token is a method on the wire; only HTTP's own become labels.
#[sqlx::test(migrations = false)]
async fn unknown_methods_share_one_label(db: PgPool) {
    let app = TestApp::spawn(db).await;
    for i in 0..20 {
        let method = reqwest::Method::from_bytes(format!("X{i}RANDOM").as_bytes()).unwrap();
        let response = app
            .client
            .request(method, app.url("/healthz"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 405);
    }
    let text = app
        .get("/metrics", Some(SCRAPER))
        .await
        .text()
        .await
        .unwrap();
    assert!(!text.contains("RANDOM"), "{text}");
    assert!(
        text.contains(r#"test_requests_total{method="other",route="/healthz",status="405"} 20"#),
        "{text}"
    );
}

use sqlx::PgPool;

use crate::{EXPERIMENTER, TestApp, error_body};

async fn post_items(app: &TestApp, body: reqwest::Body, content_type: &str) -> reqwest::Response {
    app.client
        .post(app.url("/items"))
        .bearer_auth(EXPERIMENTER)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

#[sqlx::test(migrations = false)]
async fn a_wrong_field_type_is_422_naming_the_field(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let response = post_items(
        &app,
        r#"{"name": "a", "size": "big"}"#.into(),
        "application/json",
    )
    .await;
    let error = error_body(response, 422).await;
    assert_eq!(error["field"], "size");
}

#[sqlx::test(migrations = false)]
async fn an_unknown_field_is_rejected_not_ignored(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let response = post_items(
        &app,
        r#"{"name": "a", "size": 1, "colour": "red"}"#.into(),
        "application/json",
    )
    .await;
    let error = error_body(response, 422).await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("unknown field `colour`"),
        "{error}"
    );
}

#[sqlx::test(migrations = false)]
async fn malformed_json_is_400_and_a_missing_content_type_is_415(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let error = error_body(
        post_items(&app, "{\"name\": ".into(), "application/json").await,
        400,
    )
    .await;
    assert_eq!(error["code"], "bad_request");
    let error = error_body(post_items(&app, "{}".into(), "text/plain").await, 415).await;
    assert_eq!(error["code"], "unsupported_media_type");
}

#[sqlx::test(migrations = false)]
async fn an_oversized_body_is_413(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let big = format!(r#"{{"name": "{}", "size": 1}}"#, "x".repeat(4096));
    let error = error_body(post_items(&app, big.into(), "application/json").await, 413).await;
    assert_eq!(error["code"], "payload_too_large");
}

#[sqlx::test(migrations = false)]
async fn unknown_routes_and_methods_answer_json(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let error = error_body(app.get("/nowhere", Some(EXPERIMENTER)).await, 404).await;
    assert_eq!(error["code"], "not_found");
    let response = app
        .client
        .delete(app.url("/items/1"))
        .bearer_auth(EXPERIMENTER)
        .send()
        .await
        .unwrap();
    let error = error_body(response, 405).await;
    assert_eq!(error["code"], "method_not_allowed");
    let error = error_body(app.get("/items/0", Some(EXPERIMENTER)).await, 404).await;
    assert_eq!(error["message"], "item 0 not found");
}

#[sqlx::test(migrations = false)]
async fn a_panic_is_a_generic_500_that_leaks_nothing(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let error = error_body(app.get("/panic", None).await, 500).await;
    assert_eq!(error["message"], "internal error");
    assert!(!error.to_string().contains("secret"));
    // The server is still up.
    assert_eq!(app.get("/healthz", None).await.status(), 200);
}

#[sqlx::test(migrations = false)]
async fn a_request_past_the_timeout_is_503_json(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let error = error_body(app.get("/slow", None).await, 503).await;
    assert_eq!(error["code"], "unavailable");
}

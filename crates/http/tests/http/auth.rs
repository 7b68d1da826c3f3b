use sqlx::PgPool;

use crate::{ADMIN, END_USER, EXPERIMENTER, TestApp, error_body};

#[sqlx::test(migrations = false)]
async fn a_request_without_a_token_is_401_with_a_bearer_challenge(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let response = app.get("/items/1", None).await;
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    let error = error_body(response, 401).await;
    assert_eq!(error["code"], "unauthenticated");
}

#[sqlx::test(migrations = false)]
async fn an_unknown_token_is_401_and_never_echoed(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let response = app.get("/items/1", Some("sk-not-a-real-key")).await;
    let error = error_body(response, 401).await;
    assert!(!error.to_string().contains("sk-not-a-real-key"));
}

#[sqlx::test(migrations = false)]
async fn a_token_of_the_wrong_role_is_403_naming_the_roles_allowed(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let response = app
        .client
        .post(app.url("/items"))
        .bearer_auth(END_USER)
        .json(&serde_json::json!({"name": "a", "size": 1}))
        .send()
        .await
        .unwrap();
    let error = error_body(response, 403).await;
    assert_eq!(
        error["message"],
        "this endpoint needs one of these roles: experimenter, admin"
    );
    let error = error_body(app.get("/admin", Some(EXPERIMENTER)).await, 403).await;
    assert_eq!(error["code"], "forbidden");
}

#[sqlx::test(migrations = false)]
async fn the_right_roles_get_through(db: PgPool) {
    let app = TestApp::spawn(db).await;
    for token in [END_USER, EXPERIMENTER, ADMIN] {
        assert_eq!(
            app.get("/items/7", Some(token)).await.status(),
            200,
            "{token}"
        );
    }
    assert_eq!(app.get("/admin", Some(ADMIN)).await.status(), 200);
    for token in [EXPERIMENTER, ADMIN] {
        let response = app
            .client
            .post(app.url("/items"))
            .bearer_auth(token)
            .json(&serde_json::json!({"name": "a", "size": 1}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "{token}");
    }
}

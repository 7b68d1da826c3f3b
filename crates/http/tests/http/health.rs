use std::time::Duration;

use futures::future::BoxFuture;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use trizone_http::{Probe, ProbeOutcome, Readiness};

use crate::TestApp;

#[sqlx::test(migrations = false)]
async fn healthz_and_readyz_need_no_token(db: PgPool) {
    let app = TestApp::spawn(db).await;
    assert_eq!(app.get("/healthz", None).await.status(), 200);
    let response = app.get("/readyz", None).await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["checks"][0]["name"], "database");
}

#[tokio::test]
async fn readyz_is_503_naming_the_database_when_it_is_unreachable() {
    // Nothing listens on port 1: the pool cannot connect.
    let options = PgConnectOptions::new()
        .host("127.0.0.1")
        .port(1)
        .username("nobody");
    let db = PgPoolOptions::new()
        .acquire_timeout(Duration::from_millis(100))
        .connect_lazy_with(options);
    let app = TestApp::spawn(db).await;
    assert_eq!(app.get("/healthz", None).await.status(), 200);
    let response = app.get("/readyz", None).await;
    assert_eq!(response.status(), 503);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["checks"][0]["reason"], "the database is unreachable");
}

struct NoActiveDeployment;

impl Probe for NoActiveDeployment {
    fn name(&self) -> &'static str {
        "active_deployment"
    }
    fn check(&self) -> BoxFuture<'_, ProbeOutcome> {
        Box::pin(async { ProbeOutcome::NotReady("no deployment has been promoted yet".to_owned()) })
    }
}

#[sqlx::test(migrations = false)]
async fn a_zone_probe_can_hold_readiness_back_with_its_reason(db: PgPool) {
    let readiness = Readiness::new(db).with_probe(NoActiveDeployment);
    assert_eq!(
        format!("{readiness:?}"),
        r#"Readiness { probes: ["active_deployment"] }"#
    );
}

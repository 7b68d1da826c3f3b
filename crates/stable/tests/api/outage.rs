//! Fail-static: with the database gone for 10 s under steady load, V2
//! answers every request from the deployment it holds, buffers the records
//! and writes each exactly once when the database is back.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::Value;
use sqlx::PgPool;
use trizone_stable::config::{RecordSettings, ServiceLimits};
use uuid::Uuid;

use crate::proxy::PgProxy;
use crate::{END_USER, Options, TestApp, metric, python_file};

const CLIENTS: usize = 4;
/// Upper bound on requests per client, whatever the timing.
const MAX_REQUESTS_PER_CLIENT: usize = 3000;

async fn database_address(owner: &PgPool) -> SocketAddr {
    let options = owner.connect_options();
    tokio::net::lookup_host((options.get_host(), options.get_port()))
        .await
        .unwrap()
        .next()
        .unwrap()
}

fn unlimited() -> ServiceLimits {
    ServiceLimits {
        rate_per_minute: NonZeroU32::new(1_000_000).unwrap(),
        rate_burst: NonZeroU32::new(100_000).unwrap(),
        ..ServiceLimits::default()
    }
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn ten_seconds_without_the_database_lose_no_request_and_no_record(owner: PgPool) {
    let proxy = PgProxy::start(database_address(&owner).await).await;
    let options = Options {
        limits: unlimited(),
        records: RecordSettings {
            flush_ms: 50,
            window_seconds: 5,
            ..RecordSettings::default()
        },
        database_port: Some(proxy.port),
        ..Options::default()
    };
    let app = Arc::new(TestApp::spawn_with(owner, options).await);
    let deployment = app.promote(0.0).await;

    let running = Arc::new(AtomicBool::new(true));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let app = Arc::clone(&app);
            let running = Arc::clone(&running);
            tokio::spawn(async move {
                let mut answers = Vec::new();
                while running.load(Ordering::Relaxed) && answers.len() < MAX_REQUESTS_PER_CLIENT {
                    let response = app.review(END_USER, &python_file()).await;
                    let status = response.status().as_u16();
                    let body: Value = response.json().await.unwrap();
                    answers.push((status, body));
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                answers
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_secs(2)).await;
    proxy.cut();
    // Long enough for a write to have failed (the pool gives up on a
    // connection after 5 s).
    tokio::time::sleep(Duration::from_secs(7)).await;
    // Degraded, and saying so, but still ready: taking V2 out of service
    // would turn a database outage into a user-facing one.
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let ready: Value = ready.json().await.unwrap();
    assert_eq!(ready["status"], "degraded", "{ready}");
    let metrics = app.metrics().await;
    assert_eq!(metric(&metrics, "v2_database_available"), Some(0.0));
    assert!(
        metric(&metrics, "v2_records_pending").unwrap() > 0.0,
        "{metrics}"
    );
    let status = app.status().await;
    assert_eq!(
        (
            status["degraded"].as_bool(),
            status["slo"]["scope"].as_str()
        ),
        (Some(true), Some("this_replica"))
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    proxy.restore().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    running.store(false, Ordering::Relaxed);

    let mut ids = BTreeSet::new();
    for client in clients {
        for (status, body) in client.await.unwrap() {
            assert_eq!(status, 201, "a request failed during the outage: {body}");
            assert_eq!(body["deployment"]["version"], deployment.version);
            let id: Uuid = body["id"].as_str().unwrap().parse().unwrap();
            assert!(ids.insert(id), "review id {id} answered twice");
        }
    }
    app.wait_until_written().await;
    let stored: Vec<Uuid> =
        sqlx::query_scalar("SELECT id FROM production.code_reviews ORDER BY id")
            .fetch_all(&app.owner)
            .await
            .unwrap();
    assert_eq!(stored.len(), ids.len(), "every review written exactly once");
    assert_eq!(stored.into_iter().collect::<BTreeSet<_>>(), ids);
    let counted: i64 = sqlx::query_scalar(
        "SELECT coalesce(sum(requests), 0)::int8 FROM production.slo_metrics WHERE deployment_id = $1",
    )
    .bind(deployment.id)
    .fetch_one(&app.owner)
    .await
    .unwrap();
    assert_eq!(
        counted as usize,
        ids.len(),
        "every request counted once in the SLO windows"
    );
    let metrics = app.metrics().await;
    assert_eq!(metric(&metrics, "v2_database_available"), Some(1.0));
    assert_eq!(
        metric(&metrics, "v2_records_dropped_total{reason=\"buffer_full\"}"),
        Some(0.0)
    );
    assert_eq!(
        app.client
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    Arc::into_inner(app).unwrap().finish().await;
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn what_overflows_the_buffer_is_counted_and_the_rest_is_written(owner: PgPool) {
    let proxy = PgProxy::start(database_address(&owner).await).await;
    let options = Options {
        limits: unlimited(),
        records: RecordSettings {
            buffer_records: 3,
            flush_ms: 50,
            ..RecordSettings::default()
        },
        database_port: Some(proxy.port),
        ..Options::default()
    };
    let app = TestApp::spawn_with(owner, options).await;
    app.promote(0.0).await;
    proxy.cut();
    for _ in 0..5 {
        assert_eq!(app.review(END_USER, &python_file()).await.status(), 201);
    }
    let metrics = app.metrics().await;
    assert_eq!(
        metric(&metrics, "v2_records_dropped_total{reason=\"buffer_full\"}"),
        Some(2.0)
    );
    proxy.restore().await;
    app.wait_until_written().await;
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM production.code_reviews")
        .fetch_one(&app.owner)
        .await
        .unwrap();
    assert_eq!(stored, 3);
    app.finish().await;
}

//! Hot swaps: the gate enables another deployment while requests are in
//! flight; none fails, each is answered by a deployment active during it.

use std::collections::BTreeSet;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::time::Instant;
use trizone_stable::config::ServiceLimits;

use crate::{END_USER, MODEL, Options, TestApp, python_file};

const SWAPS: usize = 20;
const WORKERS: usize = 20;
const REQUESTS_PER_WORKER: usize = 10;

/// When V2 may have served a version: from just before the gate began
/// enabling it until V2 was seen serving the next one.
#[derive(Debug, Clone, Copy)]
struct Served {
    version: i64,
    from: Instant,
    until: Option<Instant>,
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn twenty_swaps_under_two_hundred_requests_fail_none(owner: PgPool) {
    let options = Options {
        limits: ServiceLimits {
            rate_per_minute: NonZeroU32::new(100_000).unwrap(),
            rate_burst: NonZeroU32::new(10_000).unwrap(),
            ..ServiceLimits::default()
        },
        ..Options::default()
    };
    let app = Arc::new(TestApp::spawn_with(owner, options).await);
    app.sim.state.set_profile(
        MODEL,
        serde_json::from_value(json!({"latency_median_ms": 150.0, "latency_p95_ms": 250.0}))
            .unwrap(),
    );
    let started = Instant::now();
    let first = app.promote(0.0).await;
    let mut candidates = Vec::new();
    for i in 1..=SWAPS {
        candidates.push(app.deploy(app.configuration(i as f64 / 100.0)).await);
    }

    let requests = {
        let app = Arc::clone(&app);
        async move {
            let workers = (0..WORKERS).map(|_| {
                let app = Arc::clone(&app);
                tokio::spawn(async move {
                    let mut answers = Vec::new();
                    for _ in 0..REQUESTS_PER_WORKER {
                        let sent = Instant::now();
                        let response = app.review(END_USER, &python_file()).await;
                        let status = response.status().as_u16();
                        let body: Value = response.json().await.unwrap();
                        answers.push((sent, Instant::now(), status, body));
                    }
                    answers
                })
            });
            let mut all = Vec::new();
            for worker in futures::future::join_all(workers).await {
                all.extend(worker.unwrap());
            }
            all
        }
    };
    let swaps = {
        let app = Arc::clone(&app);
        async move {
            let mut served = vec![Served {
                version: first.version,
                from: started,
                until: None,
            }];
            for candidate in &candidates {
                tokio::time::sleep(Duration::from_millis(20)).await;
                let from = Instant::now();
                app.activate(candidate, true).await;
                app.wait_for_version(candidate.version).await;
                if let Some(previous) = served.last_mut() {
                    previous.until = Some(Instant::now());
                }
                served.push(Served {
                    version: candidate.version,
                    from,
                    until: None,
                });
            }
            served
        }
    };
    let (answers, served) = tokio::join!(requests, swaps);

    assert_eq!(answers.len(), WORKERS * REQUESTS_PER_WORKER);
    let mut seen = BTreeSet::new();
    for (sent, answered, status, body) in &answers {
        assert_eq!(*status, 201, "a request failed during the swaps: {body}");
        let version = body["deployment"]["version"].as_i64().unwrap();
        let window = served.iter().find(|s| s.version == version).unwrap();
        let active_during =
            window.from <= *answered && window.until.is_none_or(|until| *sent <= until);
        assert!(
            active_during,
            "version {version} answered a request outside its time: {window:?}"
        );
        seen.insert(version);
    }
    // The requests spanned swaps, so they saw several versions.
    assert!(seen.len() >= 2, "only saw {seen:?}");
    assert_eq!(
        app.status().await["active"]["version"],
        served.last().unwrap().version
    );
    Arc::into_inner(app).unwrap().finish().await;
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn a_missed_notification_is_made_up_for_by_polling(owner: PgPool) {
    let options = Options {
        poll: Duration::from_millis(200),
        ..Options::default()
    };
    let app = TestApp::spawn_with(owner, options).await;
    let first = app.promote(0.0).await;
    let second = app.deploy(app.configuration(0.5)).await;
    app.activate(&second, false).await;
    app.wait_for_version(second.version).await;
    assert_ne!(first.version, second.version);
    let review: Value = app
        .review(END_USER, &python_file())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(review["deployment"]["version"], second.version);
    app.finish().await;
}

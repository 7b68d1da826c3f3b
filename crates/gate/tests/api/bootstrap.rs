//! A fresh cluster reaches its first active configuration. V2 sits behind a
//! model of a Kubernetes Service, which sends each request only to a replica
//! whose readiness probe passes (and nowhere when none does), and the gate
//! counts V2's available replicas by the same rule. Before the first
//! promotion V2 must therefore be ready, or the gate's health check and smoke
//! test, which go through the Service, could never reach it.

use std::sync::Arc;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use sqlx::PgPool;
use trizone_gate::Policy;
use trizone_sim::{Dataset, RunningSim};
use trizone_testkit::{Measured, Served, V2Replica, serve, wait_for_v2};

use crate::kubernetes::api_server;
use crate::{MODEL, engine_with};

async fn ready(client: &reqwest::Client, base: &str) -> bool {
    client
        .get(format!("{base}/readyz"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

/// The Service rule: each request goes to the next replica whose readiness
/// passes; with none, the request finds no endpoint (a 503 here, a refused
/// connection in a cluster).
async fn service(backends: Vec<String>) -> Served {
    let client = reqwest::Client::new();
    let turn = Arc::new(AtomicUsize::new(0));
    let app = axum::Router::new().fallback(move |request: Request| {
        let (client, backends, turn) = (client.clone(), backends.clone(), Arc::clone(&turn));
        async move {
            let start = turn.fetch_add(1, Ordering::Relaxed);
            let mut endpoint = None;
            for i in 0..backends.len() {
                let base = &backends[(start + i) % backends.len()];
                if ready(&client, base).await {
                    endpoint = Some(base.clone());
                    break;
                }
            }
            let Some(base) = endpoint else {
                return Response::builder()
                    .status(503)
                    .body(Body::from("no ready endpoint"))
                    .unwrap();
            };
            let (parts, body) = request.into_parts();
            let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
            let mut forwarded = client.request(
                parts.method,
                format!("{base}{}", parts.uri.path_and_query().unwrap()),
            );
            for (name, value) in &parts.headers {
                if name != "host" {
                    forwarded = forwarded.header(name, value);
                }
            }
            let answer = forwarded.body(body).send().await.unwrap();
            let mut response = Response::builder().status(answer.status());
            for (name, value) in answer.headers() {
                response = response.header(name, value);
            }
            response
                .body(Body::from(answer.bytes().await.unwrap()))
                .unwrap()
        }
    });
    serve(app).await
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn a_fresh_cluster_reaches_its_first_active_configuration(owner: PgPool) {
    trizone_http::telemetry::init_for_test();
    let sim = RunningSim::start(3, Dataset::parse("").unwrap(), 0)
        .await
        .unwrap();
    let mut replicas = Vec::new();
    for i in 0..3 {
        replicas.push(
            V2Replica::start(
                &owner,
                &format!("v2-{i}"),
                Duration::from_millis(200),
                sim.address,
            )
            .await,
        );
    }
    let backends: Vec<String> = replicas.iter().map(V2Replica::url).collect();
    let front = service(backends.clone()).await;
    // The Deployment's available replicas are its ready ones (3 wanted,
    // maxUnavailable 0, so the gate enables only with all 3).
    let available = Arc::new(AtomicI32::new(0));
    let counting = {
        let (available, backends) = (Arc::clone(&available), backends.clone());
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            loop {
                let mut count = 0;
                for base in &backends {
                    count += i32::from(ready(&client, base).await);
                }
                available.store(count, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let (cluster, _) = api_server(Arc::clone(&available));
    let (gate, _gate_db) = engine_with(&owner, &front.url(), Policy::direct(), Some(cluster)).await;

    let configuration = trizone_testkit::configuration(MODEL, 0.0);
    let evaluated = trizone_testkit::evaluated(&owner, &configuration, Measured::passing()).await;
    let decision = gate
        .judge_now(evaluated.experiment, "admin:test")
        .await
        .unwrap();
    assert_eq!(
        decision.outcome,
        trizone_store::gate::Outcome::Promoting,
        "{decision:?}"
    );
    // The saga runs until V2 serves the configuration, or gives up after a
    // bounded time (on a V2 that is never ready it would wait for ever).
    let driving = {
        let gate = gate.clone();
        tokio::spawn(async move {
            for _ in 0..600 {
                gate.drive_sagas().await.unwrap();
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    // Asked of a replica directly: with V2 never ready (the deadlock) this
    // waits its bounded time and fails saying V2 never served it.
    let status = wait_for_v2(&backends[0], |active| !active.is_null()).await;
    assert_eq!(status["active"]["fingerprint"], decision.fingerprint);
    // End users reach it through the Service.
    let through_service = wait_for_v2(&front.url(), |active| !active.is_null()).await;
    assert_eq!(
        through_service["active"]["fingerprint"],
        decision.fingerprint
    );
    // Every replica serves it, and is now fully ready.
    let client = reqwest::Client::new();
    for base in &backends {
        let ready: serde_json::Value = client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(ready["status"], "ready", "{base}: {ready}");
    }
    driving.abort();
    counting.abort();
    for replica in replicas {
        replica.finish().await;
    }
    front.stop().await;
}

//! The gate and the cluster, through kube's documented mock-service
//! pattern (`tower_test::mock::pair` behind `kube::Client::new`): the
//! requests it makes are recorded and asserted.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};

use http::{Request, Response};
use kube::client::Body;
use serde_json::{Value, json};
use sqlx::PgPool;
use trizone_core::ExperimentStatus;
use trizone_gate::Policy;
use trizone_gate::kubernetes::{CONFIG_MAP, Cluster, NAMESPACE, V2_DEPLOYMENT};

use crate::{MODEL, Measured, TestApp, engine_with};

#[derive(Debug, Clone)]
pub(crate) struct Seen {
    method: String,
    path: String,
    body: Value,
}

/// A stand-in API server: answers the three requests the gate makes and
/// records each; V2's Deployment reports `available` ready replicas of 3.
pub(crate) fn api_server(available: Arc<AtomicI32>) -> (Cluster, Arc<Mutex<Vec<Seen>>>) {
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Some((request, respond)) = handle.next_request().await {
            let method = request.method().to_string();
            let path = request.uri().to_string();
            let bytes = request.into_body().collect_bytes().await.unwrap();
            let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            let answer = if path.contains("/deployments/") {
                json!({
                    "apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": {"name": V2_DEPLOYMENT, "namespace": NAMESPACE},
                    "spec": {"replicas": 3, "selector": {}, "template": {},
                             "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}},
                    "status": {"replicas": 3, "availableReplicas": available.load(Ordering::SeqCst)}
                })
            } else {
                let mut echoed = body.clone();
                echoed["metadata"]["name"] = json!(format!(
                    "{}x",
                    echoed["metadata"]["generateName"]
                        .as_str()
                        .unwrap_or(CONFIG_MAP)
                ));
                echoed
            };
            log.lock().unwrap().push(Seen { method, path, body });
            respond.send_response(
                Response::builder()
                    .body(Body::from(serde_json::to_vec(&answer).unwrap()))
                    .unwrap(),
            );
        }
    });
    (
        Cluster::new(
            kube::Client::new(service, "default"),
            NAMESPACE,
            V2_DEPLOYMENT,
        ),
        seen,
    )
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn enabling_waits_for_v2_replicas_then_the_config_map_and_an_event_follow(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let available = Arc::new(AtomicI32::new(1));
    let (cluster, seen) = api_server(Arc::clone(&available));
    let (gate, gate_db) =
        engine_with(&app.owner, &app.v2_url(), Policy::direct(), Some(cluster)).await;

    let evaluated = app
        .evaluated(&app.configuration(MODEL, 0.0), Measured::passing())
        .await;
    let decision = gate
        .judge_now(evaluated.experiment, "admin:test")
        .await
        .unwrap();
    gate.drive_sagas().await.unwrap();
    // One of three replicas: the promotion waits, smoke-tested.
    let status: String =
        sqlx::query_scalar("SELECT status FROM production.deployments WHERE id = $1")
            .bind(decision.deployment_id.unwrap())
            .fetch_one(&app.owner)
            .await
            .unwrap();
    assert_eq!(status, "smoke_passed");
    assert_eq!(
        app.status(evaluated.experiment).await,
        ExperimentStatus::Evaluated
    );

    available.store(3, Ordering::SeqCst);
    gate.drive_sagas().await.unwrap();
    assert_eq!(
        app.status(evaluated.experiment).await,
        ExperimentStatus::Promoted
    );
    let version =
        crate::deployment_version(&app.owner, &serde_json::to_value(&decision).unwrap()).await;
    app.wait_for_v2(version).await;

    let seen = seen.lock().unwrap().clone();
    let calls: Vec<(&str, String)> = seen
        .iter()
        .map(|s| {
            (
                s.method.as_str(),
                s.path.split('?').next().unwrap().to_owned(),
            )
        })
        .collect();
    let deployment = format!("/apis/apps/v1/namespaces/{NAMESPACE}/deployments/{V2_DEPLOYMENT}");
    let config_map = format!("/api/v1/namespaces/{NAMESPACE}/configmaps/{CONFIG_MAP}");
    let events = format!("/api/v1/namespaces/{NAMESPACE}/events");
    assert_eq!(
        calls,
        vec![
            ("GET", deployment.clone()),
            ("GET", deployment),
            ("PATCH", config_map),
            ("POST", events)
        ]
    );
    let apply = &seen[2];
    assert!(
        apply.path.contains("fieldManager=trizone-gate") && apply.path.contains("force=true"),
        "{}",
        apply.path
    );
    assert_eq!(apply.body["data"]["version"], version.to_string());
    assert_eq!(
        apply.body["data"]["deployment_id"],
        decision.deployment_id.unwrap().to_string()
    );
    let event = &seen[3].body;
    assert_eq!(event["reason"], "Promoted");
    assert_eq!(event["type"], "Normal");
    assert_eq!(event["involvedObject"]["name"], V2_DEPLOYMENT);
    assert_eq!(event["involvedObject"]["kind"], "Deployment");
    drop(gate);
    gate_db.close().await;
    app.finish().await;
}

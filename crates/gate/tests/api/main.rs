//! The gate against a real PostgreSQL (logged in as its own role), a real
//! V2 over loopback HTTP and the provider simulator.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail the test loudly when set-up breaks"
)]

mod failures;
mod judging;
mod kubernetes;
mod production;
mod race;

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::sync::watch;
use trizone_core::{Configuration, ExperimentStatus, Format, Mover, Thresholds};
use trizone_gate::v2::V2Client;
use trizone_gate::{Gate, Policy};
use trizone_http::layers::Limits;
use trizone_http::{KeyStore, Role};
use trizone_router::{Credentials, ModelRouter, ResilienceSettings};
use trizone_sim::{Dataset, RunningSim};
use trizone_store::experiments::{self, NewExperiment};
use trizone_store::{DbRole, datasets, runs};
use uuid::Uuid;

pub const ADMIN: &str = "admin-token";
pub const EXPERIMENTER: &str = "experimenter-token";
pub const END_USER: &str = "end-user-token";
pub const SERVICE: &str = "service-token";
pub const MODEL: &str = "gpt-sim";

fn keys() -> KeyStore {
    KeyStore::from_tokens([
        (Role::Admin, ADMIN),
        (Role::Experimenter, EXPERIMENTER),
        (Role::EndUser, END_USER),
        (Role::Service, SERVICE),
    ])
}

/// A served router, stopped by `stop`.
#[derive(Debug)]
struct Served {
    address: SocketAddr,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn serve(app: axum::Router) -> Served {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let task = tokio::spawn(trizone_http::serve::serve(
        listener,
        app,
        std::future::pending(),
    ));
    Served { address, task }
}

impl Served {
    async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

/// A V2 replica over HTTP, following the gate's notifications.
#[derive(Debug)]
pub struct V2 {
    pub address: SocketAddr,
    db: PgPool,
    served: Served,
    stop: watch::Sender<bool>,
    tasks: tokio::task::JoinHandle<()>,
}

impl V2 {
    pub async fn start(owner: &PgPool) -> Self {
        let db = trizone_store::connect_as(&owner.connect_options(), DbRole::Stable, 4)
            .await
            .unwrap();
        let parts = trizone_stable::Parts {
            db: db.clone(),
            keys: keys(),
            limits: trizone_stable::config::ServiceLimits::default(),
            records: trizone_stable::config::RecordSettings {
                flush_ms: 50,
                ..Default::default()
            },
            replica: format!("v2-{}", Uuid::new_v4()),
        };
        let service = trizone_stable::Service::new(parts, |registry| {
            Ok(ModelRouter::new(
                Credentials::new(Some("sk-test"), Some("sk-ant-test")),
                ResilienceSettings::default(),
                registry,
            )?)
        })
        .unwrap();
        let state = service.state.clone();
        let (stop, stopped) = watch::channel(false);
        let tasks = service.start(Duration::from_secs(3600), stopped).await;
        let served = serve(trizone_stable::router(state, Limits::default())).await;
        Self {
            address: served.address,
            db,
            served,
            stop,
            tasks,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    async fn finish(self) {
        self.served.stop().await;
        let _ = self.stop.send(true);
        self.tasks.await.unwrap();
        self.db.close().await;
    }
}

/// A gate engine on its own pool, without its HTTP server or tasks.
pub async fn engine(owner: &PgPool, v2_url: &str, policy: Policy) -> (Gate, PgPool) {
    engine_with(owner, v2_url, policy, None).await
}

pub async fn engine_with(
    owner: &PgPool,
    v2_url: &str,
    policy: Policy,
    cluster: Option<trizone_gate::kubernetes::Cluster>,
) -> (Gate, PgPool) {
    let db = trizone_store::connect_as(&owner.connect_options(), DbRole::Gate, 4)
        .await
        .unwrap();
    let parts = trizone_gate::Parts {
        db: db.clone(),
        v2: V2Client::new(v2_url, SERVICE.to_owned()).unwrap(),
        thresholds: Thresholds::default(),
        policy,
        replica: format!("gate-{}", Uuid::new_v4()),
        cluster,
    };
    let gate = Gate::new(parts, &prometheus::Registry::new()).unwrap();
    (gate, db)
}

#[derive(Debug)]
pub struct TestApp {
    pub client: reqwest::Client,
    pub owner: PgPool,
    pub sim: RunningSim,
    v2: Option<V2>,
    pub gate: Gate,
    pub state: trizone_gate::AppState,
    gate_db: PgPool,
    served: Option<Served>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        assert!(
            self.served.is_none() || std::thread::panicking(),
            "end the test with `app.finish().await`"
        );
    }
}

impl TestApp {
    pub async fn spawn(owner: PgPool) -> Self {
        Self::spawn_with(owner, Policy::default()).await
    }

    pub async fn spawn_with(owner: PgPool, policy: Policy) -> Self {
        trizone_http::telemetry::init_for_test();
        let sim = RunningSim::start(9, Dataset::parse("").unwrap(), 0)
            .await
            .unwrap();
        let v2 = V2::start(&owner).await;
        let gate_db = trizone_store::connect_as(&owner.connect_options(), DbRole::Gate, 4)
            .await
            .unwrap();
        let parts = trizone_gate::Parts {
            db: gate_db.clone(),
            v2: V2Client::new(&v2.url(), SERVICE.to_owned()).unwrap(),
            thresholds: Thresholds::default(),
            policy,
            replica: "gate-test".into(),
            cluster: None,
        };
        let state = trizone_gate::state(parts, keys()).unwrap();
        let served = serve(trizone_gate::router(state.clone(), Limits::default())).await;
        Self {
            client: reqwest::Client::new(),
            owner,
            sim,
            v2: Some(v2),
            gate: state.gate.clone(),
            state,
            gate_db,
            served: Some(served),
        }
    }

    pub async fn finish(mut self) {
        if let Some(served) = self.served.take() {
            served.stop().await;
        }
        self.gate_db.close().await;
        if let Some(v2) = self.v2.take() {
            v2.finish().await;
        }
    }

    pub fn v2_url(&self) -> String {
        self.v2.as_ref().unwrap().url()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.served.as_ref().unwrap().address)
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str, token: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// A configuration for the simulator; `temperature` varies the fingerprint.
    pub fn configuration(&self, model: &str, temperature: f64) -> Value {
        json!({
            "name": format!("reviewer-{model}-{temperature}"),
            "models": {"primary": {"provider": "openai", "model": model, "base_url": self.sim.openai_base_url(), "input_per_mtok": 1, "output_per_mtok": 2}},
            "strategy": {"kind": "primary"},
            "prompt": {"system": "You are a careful reviewer.", "template": "Review {{path}} ({{language}}):\n{{code}}"},
            "parameters": {"temperature": temperature, "timeout_ms": 2000, "max_retries": 0}
        })
    }

    /// An experiment V1 has evaluated, with a finished run of these
    /// measurements (written as V1 writes them).
    pub async fn evaluated(&self, configuration: &Value, run: Measured) -> Evaluated {
        evaluated(&self.owner, configuration, run).await
    }

    /// What V2 serves now, by version.
    pub async fn v2_version(&self) -> Option<i64> {
        let status: Value = self
            .client
            .get(format!("{}/api/v2/status", self.v2_url()))
            .bearer_auth(END_USER)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        status["active"]["version"].as_i64()
    }

    /// Waits until V2 serves `version` (bounded).
    pub async fn wait_for_v2(&self, version: i64) {
        for _ in 0..400 {
            if self.v2_version().await == Some(version) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("V2 never served version {version}");
    }

    pub async fn status(&self, experiment: Uuid) -> ExperimentStatus {
        experiments::get(&self.owner, experiment)
            .await
            .unwrap()
            .status
    }

    /// Judges and drives the saga to its end, as the gate's tasks would.
    pub async fn judge(&self, experiment: Uuid) -> Value {
        let response = self
            .post(
                &format!("/api/gate/experiments/{experiment}/judge"),
                ADMIN,
                &json!({}),
            )
            .await;
        assert_eq!(response.status(), 200);
        let decision: Value = response.json().await.unwrap();
        self.gate.drive_sagas().await.unwrap();
        decision
    }

    /// Promotes a passing configuration and waits until V2 serves it.
    pub async fn promote(&self, temperature: f64) -> (Evaluated, i64) {
        let evaluated = self
            .evaluated(&self.configuration(MODEL, temperature), Measured::passing())
            .await;
        let decision = self.judge(evaluated.experiment).await;
        assert_eq!(decision["outcome"], "promoting", "{decision}");
        let version = deployment_version(&self.owner, &decision).await;
        self.wait_for_v2(version).await;
        (evaluated, version)
    }

    pub async fn audit_is_intact(&self) {
        let mut conn = self.owner.acquire().await.unwrap();
        let report = trizone_store::audit::verify(&mut conn).await.unwrap();
        assert!(
            matches!(report, trizone_store::audit::ChainReport::Intact { .. }),
            "{report:?}"
        );
    }
}

pub async fn deployment_version(owner: &PgPool, decision: &Value) -> i64 {
    let id: Uuid = decision["deployment_id"].as_str().unwrap().parse().unwrap();
    trizone_store::production::get(owner, id)
        .await
        .unwrap()
        .version
}

/// A run's measurements.
#[derive(Debug, Clone, Copy)]
pub struct Measured {
    pub cases: i64,
    pub correct: i64,
    pub errors: i64,
    pub p95_ms: f64,
}

impl Measured {
    pub fn passing() -> Self {
        Self {
            cases: 300,
            correct: 300,
            errors: 0,
            p95_ms: 800.0,
        }
    }
    pub fn inaccurate() -> Self {
        Self {
            cases: 300,
            correct: 240,
            errors: 0,
            p95_ms: 800.0,
        }
    }
    pub fn slow() -> Self {
        Self {
            cases: 300,
            correct: 300,
            errors: 0,
            p95_ms: 4500.0,
        }
    }
    /// Too few cases to show the error rate is under 2 %.
    pub fn undecided() -> Self {
        Self {
            cases: 110,
            correct: 110,
            errors: 0,
            p95_ms: 800.0,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Evaluated {
    pub experiment: Uuid,
    pub run: Uuid,
}

pub async fn evaluated(owner: &PgPool, configuration: &Value, measured: Measured) -> Evaluated {
    let configuration = Configuration::parse(&configuration.to_string(), Format::Json).unwrap();
    let experiment = experiments::insert(
        owner,
        NewExperiment {
            owner: "alice",
            description: "",
            configuration: &configuration,
            reevaluation_of: None,
        },
    )
    .await
    .unwrap();
    let dataset = datasets::create(owner, "cases", "", "alice").await.unwrap();
    let run = runs::create(
        owner,
        experiment.id,
        dataset,
        8,
        measured.cases as i32,
        "alice",
    )
    .await
    .unwrap();
    let mut tx = owner.begin().await.unwrap();
    for (from, to) in [
        (ExperimentStatus::Registered, ExperimentStatus::Evaluating),
        (ExperimentStatus::Evaluating, ExperimentStatus::Evaluated),
    ] {
        experiments::transition(&mut tx, experiment.id, from, to, Mover::Experiment)
            .await
            .unwrap();
    }
    sqlx::query("UPDATE experiments_v1.evaluation_runs SET status = 'finished', started_at = now(), finished_at = now() WHERE id = $1")
        .bind(run.id)
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO experiments_v1.experiment_metrics
             (run_id, experiment_id, cases, correct, errors, true_positives, false_positives, false_negatives,
              latency_p50_ms, latency_p95_ms, latency_p99_ms, cost_usd)
         VALUES ($1, $2, $3, $4, $5, $4, 0, $3 - $4, $6 / 2, $6, $6 * 1.2, 0.5)",
    )
    .bind(run.id)
    .bind(experiment.id)
    .bind(measured.cases)
    .bind(measured.correct)
    .bind(measured.errors)
    .bind(measured.p95_ms)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    Evaluated {
        experiment: experiment.id,
        run: run.id,
    }
}

/// Reads an error response, checking the shared envelope.
pub async fn error_of(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status().as_u16(), status);
    let body: Value = response.json().await.unwrap();
    assert!(body["error"]["code"].is_string(), "{body}");
    body["error"].clone()
}

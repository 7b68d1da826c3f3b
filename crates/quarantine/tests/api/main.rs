//! V3 over HTTP as the read-only quarantine role, and re-evaluation from
//! V1 through it, against a real PostgreSQL, the gate, a real V2 and the
//! provider simulator.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail the test loudly when set-up breaks"
)]

mod archive;
mod reevaluation;

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::sync::watch;
use trizone_core::{Configuration, ExperimentStatus, Format, Mover, Thresholds};
use trizone_gate::Gate;
use trizone_gate::v2::V2Client;
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

fn keys() -> KeyStore {
    KeyStore::from_tokens([
        (Role::Admin, ADMIN),
        (Role::Experimenter, EXPERIMENTER),
        (Role::EndUser, END_USER),
        (Role::Service, SERVICE),
    ])
}

async fn serve(app: axum::Router) -> (SocketAddr, tokio::task::JoinHandle<std::io::Result<()>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    (
        address,
        tokio::spawn(trizone_http::serve::serve(
            listener,
            app,
            std::future::pending(),
        )),
    )
}

/// V1, V2, V3 and a gate on one database, each as its own role.
#[derive(Debug)]
pub struct Platform {
    pub client: reqwest::Client,
    pub owner: PgPool,
    pub sim: RunningSim,
    pub gate: Gate,
    pub v1: SocketAddr,
    pub v2: SocketAddr,
    pub v3: SocketAddr,
    pub v3_state: trizone_quarantine::AppState,
    pools: Vec<PgPool>,
    servers: Vec<tokio::task::JoinHandle<std::io::Result<()>>>,
    v2_stop: watch::Sender<bool>,
    v2_tasks: Option<tokio::task::JoinHandle<()>>,
}

impl Platform {
    /// `v3_for_v1` overrides where V1 looks for V3 (an address that refuses).
    pub async fn start(owner: PgPool, v3_for_v1: Option<&str>) -> Self {
        trizone_http::telemetry::init_for_test();
        let sim = RunningSim::start(3, Dataset::parse("").unwrap(), 0)
            .await
            .unwrap();
        let pool = |role| {
            let options = owner.connect_options();
            async move { trizone_store::connect_as(&options, role, 4).await.unwrap() }
        };
        let (v1_db, v2_db, v3_db, gate_db) = (
            pool(DbRole::Experiment).await,
            pool(DbRole::Stable).await,
            pool(DbRole::Quarantine).await,
            pool(DbRole::Gate).await,
        );
        let mut servers = Vec::new();

        let v3_state = trizone_quarantine::state_with(v3_db.clone(), keys()).unwrap();
        let (v3, server) = serve(trizone_quarantine::router(
            v3_state.clone(),
            Limits::default(),
        ))
        .await;
        servers.push(server);

        let v2_parts = trizone_stable::Parts {
            db: v2_db.clone(),
            keys: keys(),
            limits: trizone_stable::config::ServiceLimits::default(),
            records: trizone_stable::config::RecordSettings::default(),
            replica: "v2-test".into(),
        };
        let service = trizone_stable::Service::new(v2_parts, |registry| {
            Ok(ModelRouter::new(
                Credentials::new(Some("sk-test"), None),
                ResilienceSettings::default(),
                registry,
            )?)
        })
        .unwrap();
        let v2_state = service.state.clone();
        let (v2_stop, stopped) = watch::channel(false);
        let v2_tasks = service.start(Duration::from_secs(3600), stopped).await;
        let (v2, server) = serve(trizone_stable::router(v2_state, Limits::default())).await;
        servers.push(server);

        let mut v1_state = trizone_experiment::state_with(v1_db.clone(), keys()).unwrap();
        let v3_url = v3_for_v1.map_or_else(|| format!("http://{v3}"), str::to_owned);
        v1_state.v3 = Some(
            trizone_experiment::reevaluations::V3Client::new(&v3_url, SERVICE.into()).unwrap(),
        );
        let (v1, server) = serve(trizone_experiment::router(v1_state, Limits::default())).await;
        servers.push(server);

        let gate = Gate::new(
            trizone_gate::Parts {
                db: gate_db.clone(),
                v2: V2Client::new(&format!("http://{v2}"), SERVICE.into()).unwrap(),
                thresholds: Thresholds::default(),
                policy: trizone_gate::Policy::default(),
                replica: "gate-test".into(),
                cluster: None,
            },
            &prometheus::Registry::new(),
        )
        .unwrap();
        Self {
            client: reqwest::Client::new(),
            owner,
            sim,
            gate,
            v1,
            v2,
            v3,
            v3_state,
            pools: vec![v1_db, v2_db, v3_db, gate_db],
            servers,
            v2_stop,
            v2_tasks: Some(v2_tasks),
        }
    }

    pub async fn finish(mut self) {
        for server in self.servers.drain(..) {
            server.abort();
            let _ = server.await;
        }
        let _ = self.v2_stop.send(true);
        if let Some(tasks) = self.v2_tasks.take() {
            tasks.await.unwrap();
        }
        for pool in &self.pools {
            pool.close().await;
        }
    }

    pub async fn get(&self, address: SocketAddr, path: &str, token: &str) -> reqwest::Response {
        self.client
            .get(format!("http://{address}{path}"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn post(
        &self,
        address: SocketAddr,
        path: &str,
        token: &str,
        body: &Value,
    ) -> reqwest::Response {
        self.client
            .post(format!("http://{address}{path}"))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub fn configuration(&self, temperature: f64) -> Value {
        json!({
            "name": format!("reviewer-{temperature}"),
            "models": {"primary": {"provider": "openai", "model": "gpt-sim", "base_url": self.sim.openai_base_url(), "input_per_mtok": 1, "output_per_mtok": 2}},
            "strategy": {"kind": "primary"},
            "prompt": {"system": "You are a careful reviewer.", "template": "Review {{path}} ({{language}}):\n{{code}}"},
            "parameters": {"temperature": temperature, "timeout_ms": 2000, "max_retries": 0}
        })
    }

    /// Records a finished run of `experiment` as V1's worker would, with
    /// `correct` of 300 cases right.
    pub async fn evaluate(&self, experiment: Uuid, correct: i64) {
        let dataset = datasets::create(&self.owner, "cases", "", "alice")
            .await
            .unwrap();
        let run = runs::create(&self.owner, experiment, dataset, 8, 300, "alice")
            .await
            .unwrap();
        let mut tx = self.owner.begin().await.unwrap();
        for (from, to) in [
            (ExperimentStatus::Registered, ExperimentStatus::Evaluating),
            (ExperimentStatus::Evaluating, ExperimentStatus::Evaluated),
        ] {
            experiments::transition(&mut tx, experiment, from, to, Mover::Experiment)
                .await
                .unwrap();
        }
        sqlx::query("UPDATE experiments_v1.evaluation_runs SET status = 'finished', finished_at = now() WHERE id = $1")
            .bind(run.id)
            .execute(&mut *tx)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO experiments_v1.experiment_metrics
                 (run_id, experiment_id, cases, correct, errors, true_positives, false_positives, false_negatives, latency_p95_ms)
             VALUES ($1, $2, 300, $3, 0, $3, 0, 300 - $3, 700)",
        )
        .bind(run.id)
        .bind(experiment)
        .bind(correct)
        .execute(&mut *tx)
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }

    /// Registers `configuration`, evaluates it inaccurate and lets the gate
    /// quarantine it; returns the experiment and its record.
    pub async fn quarantined(&self, configuration: &Value) -> (Uuid, Uuid) {
        let configuration = Configuration::parse(&configuration.to_string(), Format::Json).unwrap();
        let experiment = experiments::insert(
            &self.owner,
            NewExperiment {
                owner: "alice",
                description: "",
                configuration: &configuration,
                reevaluation_of: None,
            },
        )
        .await
        .unwrap();
        self.evaluate(experiment.id, 240).await;
        let decision = self
            .gate
            .judge_now(experiment.id, "admin:test")
            .await
            .unwrap();
        (experiment.id, decision.quarantine_record_id.unwrap())
    }
}

/// Reads an error response, checking the shared envelope.
pub async fn error_of(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status().as_u16(), status);
    let body: Value = response.json().await.unwrap();
    assert!(body["error"]["code"].is_string(), "{body}");
    body["error"].clone()
}

//! The V2 service over HTTP against a real PostgreSQL (logged in as its own
//! role) and the provider simulator.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail the test loudly when set-up breaks"
)]

mod diffs;
mod outage;
mod proxy;
mod reviews;
mod rollout;
mod security;
mod smoke;
mod swap;

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::sync::watch;
use trizone_core::{Configuration, Format};
use trizone_http::layers::Limits;
use trizone_http::{KeyStore, Role};
use trizone_router::{Api, ModelRouter, Provider, Providers, ResilienceSettings};
use trizone_sim::{Dataset, RunningSim};
use trizone_stable::config::{RecordSettings, ServiceLimits};
use trizone_stable::{Parts, Service};
use trizone_store::experiments::NewExperiment;
use trizone_store::production::{self, Deployment};
use trizone_store::{DbRole, experiments};

pub const END_USER: &str = "end-user-token";
pub const OTHER_USER: &str = "other-end-user-token";
pub const EXPERIMENTER: &str = "experimenter-token";
pub const ADMIN: &str = "admin-token";
pub const GATE: &str = "gate-token";
pub const SCRAPER: &str = "scraper-token";
pub const MODEL: &str = "gpt-sim";

#[derive(Debug, Clone)]
pub struct Options {
    pub limits: ServiceLimits,
    pub shadow: trizone_stable::shadow::ShadowSettings,
    pub records: RecordSettings,
    /// Polling for the active deployment; long by default so tests see
    /// what notifications alone do.
    pub poll: Duration,
    /// Connect V2 to the database through this port (a proxy) instead.
    pub database_port: Option<u16>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            limits: ServiceLimits::default(),
            shadow: trizone_stable::shadow::ShadowSettings::default(),
            records: RecordSettings {
                flush_ms: 50,
                ..RecordSettings::default()
            },
            poll: Duration::from_secs(3600),
            database_port: None,
        }
    }
}

#[derive(Debug)]
pub struct TestApp {
    pub address: SocketAddr,
    pub client: reqwest::Client,
    /// The owner's pool, for arranging and checking what V2 cannot see.
    pub owner: PgPool,
    /// The gate's pool: promotions are made the way the gate makes them.
    pub gate: PgPool,
    pub sim: RunningSim,
    pub state: trizone_stable::AppState,
    db: PgPool,
    stop: watch::Sender<bool>,
    tasks: Option<tokio::task::JoinHandle<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Connections left open make the test database's DROP wait 5 s and
        // fail, leaking the database: every test must end with `finish`.
        assert!(
            self.server.is_none() || std::thread::panicking(),
            "end the test with `app.finish().await`"
        );
    }
}

impl TestApp {
    pub async fn spawn(owner: PgPool) -> Self {
        Self::spawn_with(owner, Options::default()).await
    }

    pub async fn spawn_with(owner: PgPool, options: Options) -> Self {
        trizone_http::telemetry::init_for_test();
        let sim = RunningSim::start(5, Dataset::parse("").unwrap(), 0)
            .await
            .unwrap();
        let mut connect = owner.connect_options().as_ref().clone();
        if let Some(port) = options.database_port {
            connect = connect.port(port);
        }
        let db = trizone_store::connect_as(&connect, DbRole::Stable, 8)
            .await
            .unwrap();
        let gate = trizone_store::connect_as(&owner.connect_options(), DbRole::Gate, 2)
            .await
            .unwrap();
        let keys = KeyStore::from_tokens([
            (Role::EndUser, END_USER),
            (Role::EndUser, OTHER_USER),
            (Role::Experimenter, EXPERIMENTER),
            (Role::Admin, ADMIN),
            (Role::Gate, GATE),
            (Role::Scraper, SCRAPER),
        ]);
        let parts = Parts {
            db: db.clone(),
            keys,
            limits: options.limits,
            records: options.records.clone(),
            shadow: options.shadow,
            replica: "test-replica".into(),
        };
        let providers = Providers::new([
            Provider::new("sim-openai", Api::Openai, &sim.openai_base_url(), "sk-test").unwrap(),
            Provider::new(
                "sim-anthropic",
                Api::Anthropic,
                &sim.anthropic_base_url(),
                "sk-ant-test",
            )
            .unwrap(),
        ])
        .unwrap();
        let service = Service::new(parts, |registry| {
            Ok(ModelRouter::new(
                providers,
                ResilienceSettings::default(),
                registry,
            )?)
        })
        .unwrap();
        let state = service.state.clone();
        let (stop, stopped) = watch::channel(false);
        let tasks = service.start(options.poll, stopped).await;
        let app = trizone_stable::router(state.clone(), Limits::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let server = tokio::spawn(trizone_http::serve::serve(
            listener,
            app,
            std::future::pending(),
        ));
        Self {
            address,
            client: reqwest::Client::new(),
            owner,
            gate,
            sim,
            state,
            db,
            stop,
            tasks: Some(tasks),
            server: Some(server),
        }
    }

    /// Stops the server and the background tasks (which write what is
    /// left) and closes the pools, so the test database can go.
    pub async fn finish(mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
            let _ = server.await;
        }
        let _ = self.stop.send(true);
        if let Some(tasks) = self.tasks.take() {
            tasks.await.unwrap();
        }
        self.db.close().await;
        self.gate.close().await;
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// A configuration for the simulator's model; `temperature` varies
    /// the fingerprint.
    pub fn configuration(&self, temperature: f64) -> Value {
        self.configuration_of(MODEL, temperature)
    }

    /// A configuration for the simulated `model`.
    pub fn configuration_of(&self, model: &str, temperature: f64) -> Value {
        json!({
            "name": format!("sim-reviewer-{model}-{temperature}"),
            "models": {"primary": {"provider": "sim-openai", "model": model, "input_per_mtok": 1, "output_per_mtok": 2}},
            "strategy": {"kind": "primary"},
            "prompt": {"system": "You are a careful reviewer.", "template": "Review {{path}} ({{language}}):\n{{code}}"},
            "parameters": {"temperature": temperature, "timeout_ms": 2000, "max_retries": 0}
        })
    }

    /// Records a pending deployment of `configuration`, as the gate's
    /// first saga step does.
    pub async fn deploy(&self, configuration: Value) -> Deployment {
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
        production::insert_pending(
            &self.gate,
            experiment.id,
            &experiment.fingerprint,
            &configuration,
        )
        .await
        .unwrap()
    }

    /// A deployment of `configuration` whose promotion has reached its smoke
    /// test, as the gate leaves it before asking V2.
    pub async fn deploy_for_smoke(&self, configuration: Value) -> Deployment {
        let deployment = self.deploy(configuration).await;
        assert!(
            production::advance(
                &self.gate,
                deployment.id,
                production::DeploymentStatus::Pending,
                production::DeploymentStatus::SmokeTesting,
                None,
                None
            )
            .await
            .unwrap()
        );
        deployment
    }

    /// Enables `deployment` the way the gate does; `notify` false leaves
    /// V2 to find out by polling.
    pub async fn activate(&self, deployment: &Deployment, notify: bool) {
        let mut tx = self.gate.begin().await.unwrap();
        production::activate(&mut tx, deployment.id).await.unwrap();
        if notify {
            production::notify_active(&mut *tx, deployment.id)
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
    }

    /// Deploys and enables a configuration, then waits until V2 serves it.
    pub async fn promote(&self, temperature: f64) -> Deployment {
        let deployment = self.deploy(self.configuration(temperature)).await;
        self.activate(&deployment, true).await;
        self.wait_for_version(deployment.version).await;
        deployment
    }

    /// Polls `/api/v2/status` until V2 serves `version` (bounded).
    pub async fn wait_for_version(&self, version: i64) {
        // Time-bounded, as a loaded CI machine answers slowly. (The testkit
        // has the same wait, but depends on this crate.)
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while tokio::time::Instant::now() < deadline {
            if self.status().await["active"]["version"] == version {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("V2 never served version {version} within 30 s");
    }

    pub async fn status(&self) -> Value {
        self.get("/api/v2/status", END_USER)
            .await
            .json()
            .await
            .unwrap()
    }

    pub async fn review(&self, token: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url("/api/v2/reviews"))
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

    pub async fn metrics(&self) -> String {
        self.get("/metrics", SCRAPER).await.text().await.unwrap()
    }

    /// Waits until every record this replica holds is written (bounded).
    pub async fn wait_until_written(&self) {
        for _ in 0..600 {
            if self.state.recorder.pending() == 0 && self.state.slo.unwritten().windows.is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("records were not written within 30 s");
    }
}

/// A small file with one finding the simulator flags (`eval(` on line 2).
pub fn python_file() -> Value {
    json!({"language": "python", "path": "app/calc.py", "code": "def calc(e):\n    return eval(e)\n"})
}

/// The value of a metric line starting with `prefix` (name and labels).
pub fn metric(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find(|line| line.starts_with(prefix))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

/// Reads an error response, checking the shared envelope.
pub async fn error_of(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status().as_u16(), status);
    let body: Value = response.json().await.unwrap();
    assert!(body["error"]["code"].is_string(), "{body}");
    body["error"].clone()
}

//! The gate against a real PostgreSQL (logged in as its own role), a real
//! V2 over loopback HTTP and the provider simulator.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail the test loudly when set-up breaks"
)]

mod bootstrap;
mod contract;
mod failures;
mod judging;
mod kubernetes;
mod production;
mod race;
mod rollout;

use std::time::Duration;

use serde_json::{Value, json};
use sqlx::PgPool;
use trizone_core::{ExperimentStatus, Thresholds};
use trizone_gate::v2::V2Client;
use trizone_gate::{Gate, Policy};
use trizone_http::layers::Limits;
use trizone_sim::{Dataset, RunningSim};
use trizone_store::{DbRole, experiments};
use uuid::Uuid;

pub use trizone_testkit::{
    ADMIN, END_USER, EXPERIMENTER, Evaluated, GATE, Measured, SCRAPER, V2Replica, error_of,
};

pub const MODEL: &str = "gpt-sim";

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
    engine_judging(owner, v2_url, policy, cluster, Thresholds::default()).await
}

/// A gate engine that judges with `thresholds`.
pub async fn engine_judging(
    owner: &PgPool,
    v2_url: &str,
    policy: Policy,
    cluster: Option<trizone_gate::kubernetes::Cluster>,
    thresholds: Thresholds,
) -> (Gate, PgPool) {
    let db = trizone_store::connect_as(&owner.connect_options(), DbRole::Gate, 4)
        .await
        .unwrap();
    let parts = trizone_gate::Parts {
        db: db.clone(),
        v2: V2Client::new(v2_url, GATE.into()).unwrap(),
        thresholds,
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
    v2: Option<V2Replica>,
    pub gate: Gate,
    gate_db: PgPool,
    served: Option<trizone_testkit::Served>,
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
        trizone_http::telemetry::init_for_test();
        let sim = RunningSim::start(9, Dataset::parse("").unwrap(), 0)
            .await
            .unwrap();
        let v2 = V2Replica::start(&owner, "v2-test", Duration::from_secs(3600), sim.address).await;
        let gate_db = trizone_store::connect_as(&owner.connect_options(), DbRole::Gate, 4)
            .await
            .unwrap();
        let parts = trizone_gate::Parts {
            db: gate_db.clone(),
            v2: V2Client::new(&v2.url(), GATE.into()).unwrap(),
            thresholds: Thresholds::default(),
            policy: Policy::direct(),
            replica: "gate-test".into(),
            cluster: None,
        };
        let state = trizone_gate::state(parts, trizone_testkit::keys()).unwrap();
        let served =
            trizone_testkit::serve(trizone_gate::router(state.clone(), Limits::default())).await;
        Self {
            client: reqwest::Client::new(),
            owner,
            sim,
            v2: Some(v2),
            gate: state.gate.clone(),
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
        trizone_testkit::configuration(model, temperature)
    }

    /// An experiment V1 has evaluated, with a finished run of these
    /// measurements (written as V1 writes them).
    pub async fn evaluated(&self, configuration: &Value, run: Measured) -> Evaluated {
        trizone_testkit::evaluated(&self.owner, configuration, run).await
    }

    /// What V2 serves now, by version.
    pub async fn v2_version(&self) -> Option<i64> {
        trizone_testkit::v2_status(&self.client, &self.v2_url()).await["active"]["version"].as_i64()
    }

    /// Waits until V2 serves `version` (bounded).
    pub async fn wait_for_v2(&self, version: i64) {
        trizone_testkit::wait_for_v2(&self.v2_url(), |active| active["version"] == version).await;
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

    /// Judges a passing configuration and drives the saga once: under a
    /// rollout plan it is then a candidate beside what V2 serves.
    pub async fn promote_only_judged(&self, temperature: f64) -> Value {
        let evaluated = self
            .evaluated(&self.configuration(MODEL, temperature), Measured::passing())
            .await;
        let decision = self.judge(evaluated.experiment).await;
        assert_eq!(decision["outcome"], "promoting", "{decision}");
        decision
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

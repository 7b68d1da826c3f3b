//! V3 over HTTP as the read-only quarantine role, and re-evaluation from
//! V1 through it, against a real PostgreSQL, the gate, a real V2 and the
//! provider simulator.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail the test loudly when set-up breaks"
)]

mod archive;
mod contract;
mod reevaluation;

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use sqlx::PgPool;
use trizone_core::Thresholds;
use trizone_gate::Gate;
use trizone_gate::v2::V2Client;
use trizone_http::layers::Limits;
use trizone_sim::{Dataset, RunningSim};
use trizone_store::DbRole;
use uuid::Uuid;

pub use trizone_testkit::{
    ADMIN, END_USER, EXPERIMENTATION, EXPERIMENTER, GATE, SCRAPER, error_of,
};
use trizone_testkit::{Measured, Served, V2Replica, keys, serve};

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
    servers: Vec<Served>,
    replica: Option<V2Replica>,
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
        let (v1_db, v3_db, gate_db) = (
            pool(DbRole::Experiment).await,
            pool(DbRole::Quarantine).await,
            pool(DbRole::Gate).await,
        );
        let v3_state = trizone_quarantine::state_with(v3_db.clone(), keys()).unwrap();
        let v3_server = serve(trizone_quarantine::router(
            v3_state.clone(),
            Limits::default(),
        ))
        .await;
        let v3 = v3_server.address;
        let replica =
            V2Replica::start(&owner, "v2-test", Duration::from_secs(3600), sim.address).await;
        let v2 = replica.address();

        let mut v1_state = trizone_experiment::state_with(
            v1_db.clone(),
            keys(),
            trizone_testkit::sim_providers(sim.address).catalog(),
        )
        .unwrap();
        let v3_url = v3_for_v1.map_or_else(|| v3_server.url(), str::to_owned);
        v1_state.v3 = Some(
            trizone_experiment::reevaluations::V3Client::new(&v3_url, EXPERIMENTATION.into())
                .unwrap(),
        );
        let v1_server = serve(trizone_experiment::router(v1_state, Limits::default())).await;
        let v1 = v1_server.address;

        let gate = Gate::new(
            trizone_gate::Parts {
                db: gate_db.clone(),
                v2: V2Client::new(&format!("http://{v2}"), GATE.into()).unwrap(),
                thresholds: Thresholds::default(),
                policy: trizone_gate::Policy::direct(),
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
            pools: vec![v1_db, v3_db, gate_db],
            servers: vec![v1_server, v3_server],
            replica: Some(replica),
        }
    }

    pub async fn finish(mut self) {
        for server in self.servers.drain(..) {
            server.stop().await;
        }
        if let Some(replica) = self.replica.take() {
            replica.finish().await;
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
        trizone_testkit::configuration("gpt-sim", temperature)
    }

    /// Records a finished run of `experiment` as V1's worker would, with
    /// `correct` of 300 new cases right.
    pub async fn evaluate(&self, experiment: Uuid, correct: i64) {
        self.evaluate_cases(experiment, 300, correct).await;
    }

    /// Records a finished run of `experiment` with `correct` of `cases` right.
    pub async fn evaluate_cases(&self, experiment: Uuid, cases: i64, correct: i64) {
        let measured = Measured {
            cases,
            correct,
            ..Measured::passing()
        };
        trizone_testkit::evaluate(&self.owner, experiment, measured).await;
    }

    /// Registers `configuration`, evaluates it inaccurate and lets the gate
    /// quarantine it; returns the experiment and its record.
    pub async fn quarantined(&self, configuration: &Value) -> (Uuid, Uuid) {
        let evaluated =
            trizone_testkit::evaluated(&self.owner, configuration, Measured::inaccurate()).await;
        let decision = self
            .gate
            .judge_now(evaluated.experiment, "admin:test")
            .await
            .unwrap();
        (evaluated.experiment, decision.quarantine_record_id.unwrap())
    }
}

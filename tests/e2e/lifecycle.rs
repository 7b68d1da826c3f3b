//! The whole lifecycle over HTTP only, against `trizone up` on ephemeral
//! ports: register → evaluate → PASS → V2 serves it; FAIL → V3 with
//! reasons; re-evaluate → a new experiment; blacklist → refused at
//! registration; an SLO breach in V2 → automatic rollback. Once with one
//! replica of each zone, once with two V2 replicas and two gate replicas.

use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::PgPool;
use trizone_store::runs::{Run, RunStatus};

use crate::cli::database_url;
use crate::up::{Shape, Up};

pub(crate) const DATASET: &str = include_str!("../../demo/cases.jsonl");
pub(crate) const EXPERIMENTER: &str = "e2e-experimenter-token-4a8f";
pub(crate) const ADMIN: &str = "e2e-admin-token-5b2e4680c1";
const END_USER: &str = "e2e-end-user-token-9d17c3";

/// SLO windows of a second, checked every second, so a breach shows in
/// seconds; a rate limit high enough for the breaching load.
const FAST_SLO: [(&str, &str); 6] = [
    ("TRIZONE_V2_WINDOW_SECONDS", "1"),
    ("TRIZONE_V2_FLUSH_MS", "100"),
    ("TRIZONE_V2_POLL_SECONDS", "1"),
    ("TRIZONE_V2_RATE_PER_MINUTE", "600000"),
    ("TRIZONE_V2_RATE_BURST", "10000"),
    ("TRIZONE_GATE_SLO_CHECK_SECONDS", "1"),
];

/// The zones of a `trizone up` over HTTP, as the other e2e tests use them too.
pub(crate) struct Api<'a> {
    pub(crate) up: &'a Up,
    pub(crate) http: reqwest::Client,
}

impl Api<'_> {
    pub(crate) async fn send(&self, request: reqwest::RequestBuilder, token: &str) -> (u16, Value) {
        let response = request.bearer_auth(token).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub(crate) async fn get(&self, url: &str, token: &str) -> (u16, Value) {
        self.send(self.http.get(url), token).await
    }

    pub(crate) async fn post(&self, url: &str, token: &str, body: &Value) -> (u16, Value) {
        self.send(self.http.post(url).json(body), token).await
    }

    /// `base` of the `i`th gate replica, taking turns.
    fn gate(&self, i: usize) -> &str {
        &self.up.gate[i % self.up.gate.len()]
    }

    /// Uploads `body` (JSON lines) as dataset `name`; its id.
    pub(crate) async fn upload(&self, name: &str, body: String) -> String {
        let (status, dataset) = self
            .send(
                self.http
                    .post(format!("{}/api/v1/datasets?name={name}", self.up.v1))
                    .header("content-type", "application/x-ndjson")
                    .body(body),
                EXPERIMENTER,
            )
            .await;
        assert_eq!(status, 201, "{dataset}");
        dataset["id"].as_str().unwrap().to_owned()
    }

    /// Loads `cases` into the simulator, so it answers them at each model's accuracy.
    pub(crate) async fn teach_simulator(&self, cases: &str) {
        let loaded = self
            .http
            .put(format!("{}/control/dataset", self.up.sim))
            .bearer_auth(ADMIN)
            .body(cases.to_owned())
            .send()
            .await
            .unwrap();
        assert_eq!(loaded.status(), 200);
    }

    pub(crate) async fn simulate(&self, model: &str, profile: Value) {
        let response = self
            .http
            .put(format!("{}/control/profiles/{model}", self.up.sim))
            .bearer_auth(ADMIN)
            .json(&profile)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{model}");
    }

    pub(crate) fn configuration(&self, name: &str, model: &str) -> Value {
        json!({
            "name": name,
            "models": {"primary": {"provider": "sim-openai", "model": model,
                "input_per_mtok": 1, "output_per_mtok": 2}},
            "strategy": {"kind": "primary"},
            "prompt": {"system": "Review carefully.", "template": "Review {{path}} ({{language}}):\n{{code}}"},
            "parameters": {"max_retries": 0},
        })
    }

    pub(crate) async fn register(&self, configuration: &Value) -> (u16, Value) {
        let body = json!({"configuration": configuration});
        self.post(
            &format!("{}/api/v1/experiments", self.up.v1),
            EXPERIMENTER,
            &body,
        )
        .await
    }

    /// Registers, evaluates on `dataset` and has gate replica `judge` decide.
    pub(crate) async fn evaluate(
        &self,
        configuration: &Value,
        dataset: &str,
        judge: usize,
    ) -> (Value, Value) {
        let (status, experiment) = self.register(configuration).await;
        assert_eq!(status, 201, "{experiment}");
        let id = experiment["id"].as_str().unwrap();
        self.run_to_end(id, &json!({"dataset_id": dataset, "concurrency": 32}))
            .await;
        (experiment.clone(), self.judge(id, judge).await)
    }

    /// Starts a run of experiment `id` with `body` and waits for it to
    /// finish; its last view.
    pub(crate) async fn run_to_end(&self, id: &str, body: &Value) -> Value {
        let (status, run) = self
            .post(
                &format!("{}/api/v1/experiments/{id}/runs", self.up.v1),
                EXPERIMENTER,
                body,
            )
            .await;
        assert_eq!(status, 202, "{run}");
        self.await_run(run["id"].as_str().unwrap()).await
    }

    /// Waits for run `run` to finish; its last view.
    pub(crate) async fn await_run(&self, run: &str) -> Value {
        let run_url = format!("{}/api/v1/runs/{run}", self.up.v1);
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let (_, view) = self.get(&run_url, EXPERIMENTER).await;
            let status = Run::deserialize(&view).unwrap().status;
            if status == RunStatus::Finished {
                return view;
            }
            assert!(status.is_active(), "the run ended {status}: {view}");
            assert!(Instant::now() < deadline, "the run never finished: {view}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Has gate replica `judge` decide experiment `id` now.
    pub(crate) async fn judge(&self, id: &str, judge: usize) -> Value {
        let (status, decision) = self
            .post(
                &format!("{}/api/gate/experiments/{id}/judge", self.gate(judge)),
                ADMIN,
                &json!({}),
            )
            .await;
        assert_eq!(status, 200, "{decision}");
        decision
    }

    /// The fingerprint every V2 replica serves, once they agree on `expected`.
    pub(crate) async fn await_served(&self, expected: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let mut agreed = true;
            for v2 in &self.up.v2 {
                let (_, status) = self.get(&format!("{v2}/api/v2/status"), END_USER).await;
                agreed &= status["active"]["fingerprint"] == expected;
            }
            if agreed {
                return;
            }
            assert!(Instant::now() < deadline, "V2 never served {expected}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn review(&self, replica: usize) -> (u16, Value) {
        let v2 = &self.up.v2[replica % self.up.v2.len()];
        self.post(
            &format!("{v2}/api/v2/reviews"),
            END_USER,
            &json!({"language": "python", "code": "def run(x):\n    return eval(x)\n"}),
        )
        .await
    }
}

async fn lifecycle(up: &Up) {
    let api = Api {
        up,
        http: reqwest::Client::new(),
    };
    api.teach_simulator(DATASET).await;
    api.simulate("e2e-first", json!({"accuracy": 1.0})).await;
    api.simulate("e2e-second", json!({"accuracy": 1.0})).await;
    api.simulate("e2e-sloppy", json!({"accuracy": 0.6})).await;
    let dataset = &api.upload("e2e", DATASET.to_owned()).await;

    // PASS: V2 serves it, on every replica.
    let first = api.configuration("first", "e2e-first");
    let (first, decision) = api.evaluate(&first, dataset, 0).await;
    assert_eq!(
        (&decision["decision"], &decision["outcome"]),
        (&json!("pass"), &json!("promoting")),
        "{decision}"
    );
    let first_fingerprint = first["fingerprint"].as_str().unwrap();
    api.await_served(first_fingerprint).await;
    for replica in 0..up.v2.len() {
        let (status, review) = api.review(replica).await;
        assert_eq!(status, 201, "{review}");
        assert_eq!(review["answered_by"], json!(["sim-openai/e2e-first"]));
        assert_eq!(review["findings"][0]["line_start"], 2, "{review}");
    }

    // FAIL: V3 holds it with its reasons.
    let sloppy_configuration = api.configuration("sloppy", "e2e-sloppy");
    let (sloppy, decision) = api.evaluate(&sloppy_configuration, dataset, 1).await;
    assert_eq!(
        (&decision["decision"], &decision["outcome"]),
        (&json!("fail"), &json!("quarantined")),
        "{decision}"
    );
    let record_id = decision["quarantine_record_id"].as_str().unwrap();
    let (status, record) = api
        .get(
            &format!("{}/api/v3/records/{record_id}", up.v3),
            EXPERIMENTER,
        )
        .await;
    assert_eq!(status, 200, "{record}");
    assert_eq!(record["reason"], "accuracy");
    assert_eq!(record["experiment_id"], sloppy["id"]);
    assert_eq!(record["failed_checks"][0]["name"], "accuracy", "{record}");
    assert!(
        record["failed_checks"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("so it is not at least 95%"),
        "{record}"
    );

    // Re-evaluation: a new experiment in V1, linked to the record.
    let (status, again) = api
        .post(
            &format!("{}/api/v1/reevaluations", up.v1),
            ADMIN,
            &json!({"record_id": record_id}),
        )
        .await;
    assert_eq!(status, 201, "{again}");
    assert_ne!(again["id"], sloppy["id"]);
    assert_eq!(again["reevaluation_of"], record_id);
    assert_eq!(again["fingerprint"], sloppy["fingerprint"]);

    // Blacklist: registration refuses the configuration for good.
    let (status, entry) = api
        .post(
            &format!("{}/api/gate/blacklist", api.gate(1)),
            ADMIN,
            &json!({"fingerprint": sloppy["fingerprint"], "reason": "e2e: never again"}),
        )
        .await;
    assert!((200..300).contains(&status), "{status} {entry}");
    let (status, refused) = api.register(&sloppy_configuration).await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["error"]["code"], "blacklisted");
    let (_, again) = api
        .get(
            &format!(
                "{}/api/v1/experiments/{}",
                up.v1,
                again["id"].as_str().unwrap()
            ),
            EXPERIMENTER,
        )
        .await;
    assert_eq!(again["status"], "blacklisted");

    // A second promotion, then its provider fails in production: the
    // gate rolls V2 back to the first and quarantines the second. The
    // admins turn progressive delivery off for it, so it serves everyone
    // at once and the SLO watcher is what catches it.
    let (status, plan) = api
        .send(
            api.http.put(format!("{}/api/gate/rollout/plan", api.gate(0))).json(&json!({"enabled": false, "shadow_sample": 0.2, "min_requests": 20, "min_agreement": 0.8, "steps": [10, 50, 100]})),
            ADMIN,
        )
        .await;
    assert_eq!(status, 200, "{plan}");
    let second = api.configuration("second", "e2e-second");
    let (second, decision) = api.evaluate(&second, dataset, 1).await;
    assert_eq!(decision["decision"], "pass", "{decision}");
    let second_fingerprint = second["fingerprint"].as_str().unwrap();
    api.await_served(second_fingerprint).await;
    api.simulate("e2e-second", json!({"errors": {"server": 1.0}}))
        .await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut failures = 0;
    'breach: loop {
        // About 60 reviews a second across the replicas: 20 a window is
        // the least the gate decides on.
        for _ in 0..5 {
            let batch = (0..6).map(|i| api.review(i));
            for (status, _) in futures::future::join_all(batch).await {
                failures += u32::from(status == 502);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut rolled_back = true;
        for v2 in &up.v2 {
            let (_, status) = api.get(&format!("{v2}/api/v2/status"), END_USER).await;
            rolled_back &= status["active"]["fingerprint"] == first_fingerprint;
        }
        if rolled_back {
            break 'breach;
        }
        assert!(
            Instant::now() < deadline,
            "no rollback after {failures} failed reviews"
        );
    }
    assert!(failures >= 60, "{failures}");
    let (status, review) = api.review(0).await;
    assert_eq!(status, 201, "{review}");
    assert_eq!(review["answered_by"], json!(["sim-openai/e2e-first"]));
    let (_, records) = api
        .get(
            &format!("{}/api/v3/records?reason=slo_breach", up.v3),
            EXPERIMENTER,
        )
        .await;
    let breach = &records["records"][0];
    assert_eq!(breach["fingerprint"], second_fingerprint, "{records}");
    assert_eq!(
        breach["decided_by"].as_str().map(|d| d.is_empty()),
        Some(false)
    );
}

#[sqlx::test(migrations = false)]
async fn the_lifecycle_over_http_with_one_replica_of_each_zone(pool: PgPool) {
    let url = database_url(&pool).await;
    let up = Up::start(
        &url,
        Shape {
            schedule: "0 0 0 1 1 *",
            env: &FAST_SLO,
            ..Shape::default()
        },
    )
    .await;
    lifecycle(&up).await;
}

#[sqlx::test(migrations = false)]
async fn the_lifecycle_over_http_with_two_v2_and_two_gate_replicas(pool: PgPool) {
    let url = database_url(&pool).await;
    let up = Up::start(
        &url,
        Shape {
            schedule: "0 0 0 1 1 *",
            v2_replicas: 2,
            gate_replicas: 2,
            env: &FAST_SLO,
        },
    )
    .await;
    lifecycle(&up).await;
}

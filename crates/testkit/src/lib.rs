//! What the zones' tests and benchmarks share: tokens, serving a router on
//! loopback, a V2 replica that follows the gate, and experiments as V1
//! leaves them after an evaluation. Test support only: never a dependency
//! of a binary.

#![expect(
    clippy::unwrap_used,
    reason = "test support fails the test loudly when set-up breaks"
)]

pub mod contract;

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::sync::watch;
use trizone_core::{Configuration, ExperimentStatus, Format, Mover};
use trizone_http::layers::Limits;
use trizone_http::{KeyStore, Role};
use trizone_router::{Api, ModelRouter, Provider, Providers, ResilienceSettings};
use trizone_store::experiments::{self, NewExperiment};
use trizone_store::runs::{self, NewRun};
use trizone_store::{DbRole, datasets};
use uuid::Uuid;

pub const ADMIN: &str = "admin-token";
pub const EXPERIMENTER: &str = "experimenter-token";
pub const END_USER: &str = "end-user-token";
/// More end users, for what depends on who asks (a canary's share is per key).
pub const END_USERS: [&str; 16] = [
    "end-user-token-00",
    "end-user-token-01",
    "end-user-token-02",
    "end-user-token-03",
    "end-user-token-04",
    "end-user-token-05",
    "end-user-token-06",
    "end-user-token-07",
    "end-user-token-08",
    "end-user-token-09",
    "end-user-token-10",
    "end-user-token-11",
    "end-user-token-12",
    "end-user-token-13",
    "end-user-token-14",
    "end-user-token-15",
];
/// The gate's key for V2.
pub const GATE: &str = "gate-token";
/// V1's key for V3.
pub const EXPERIMENTATION: &str = "experimentation-token";
pub const SCRAPER: &str = "scraper-token";

/// The simulator's two wire formats, as an operator would list them.
pub const SIM_OPENAI: &str = "sim-openai";
pub const SIM_ANTHROPIC: &str = "sim-anthropic";

/// The providers of a simulator listening on `sim`, with structured
/// output, as providers are listed by default.
pub fn sim_providers(sim: SocketAddr) -> Providers {
    sim_providers_with(sim, true)
}

/// [`sim_providers`], asking for structured output or not: without it,
/// the simulator's habits of form (fences, preambles) reach the router.
pub fn sim_providers_with(sim: SocketAddr, structured_output: bool) -> Providers {
    Providers::new([
        Provider::new(
            SIM_OPENAI,
            Api::Openai,
            &format!("http://{sim}/v1"),
            "sk-test",
        )
        .unwrap()
        .with_structured_output(structured_output),
        Provider::new(
            SIM_ANTHROPIC,
            Api::Anthropic,
            &format!("http://{sim}"),
            "sk-ant-test",
        )
        .unwrap()
        .with_structured_output(structured_output),
    ])
    .unwrap()
}

/// One key per role, with the tokens above.
pub fn keys() -> KeyStore {
    let named = [
        (Role::Admin, "admin", ADMIN),
        (Role::Experimenter, "alice", EXPERIMENTER),
        (Role::EndUser, "end-user", END_USER),
        (Role::Gate, "gate", GATE),
        (Role::Experimentation, "experimentation", EXPERIMENTATION),
        (Role::Scraper, "scraper", SCRAPER),
    ];
    let users = END_USERS.map(|token| (Role::EndUser, token, token));
    KeyStore::from_named_tokens(named.into_iter().chain(users))
}

/// The id services know `token`'s key by (as in the audit trail).
pub fn key_id(token: &str) -> String {
    keys().authenticate(token).unwrap().key_id
}

/// A router served on a loopback port.
#[derive(Debug)]
pub struct Served {
    pub address: SocketAddr,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

pub async fn serve(app: axum::Router) -> Served {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    serve_on(listener, app)
}

/// `app` served on `listener` (a given address, e.g. to restart a zone
/// where its clients know it).
pub fn serve_on(listener: tokio::net::TcpListener, app: axum::Router) -> Served {
    let address = listener.local_addr().unwrap();
    let task = tokio::spawn(trizone_http::serve::serve(
        listener,
        app,
        std::future::pending(),
    ));
    Served { address, task }
}

impl Served {
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    pub async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

/// A V2 replica over HTTP, on its own pool, following the gate.
#[derive(Debug)]
pub struct V2Replica {
    pub state: trizone_stable::AppState,
    served: Served,
    db: PgPool,
    stop: watch::Sender<bool>,
    tasks: tokio::task::JoinHandle<()>,
}

impl V2Replica {
    /// A replica named `name` polling every `poll` besides listening,
    /// reviewing with the simulator at `sim`.
    pub async fn start(owner: &PgPool, name: &str, poll: Duration, sim: SocketAddr) -> Self {
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
            shadow: trizone_stable::shadow::ShadowSettings::default(),
            replica: name.to_owned(),
        };
        let service = trizone_stable::Service::new(parts, |registry| {
            Ok(ModelRouter::new(
                sim_providers(sim),
                ResilienceSettings::default(),
                registry,
            )?)
        })
        .unwrap();
        let state = service.state.clone();
        let (stop, stopped) = watch::channel(false);
        let tasks = service.start(poll, stopped).await;
        let served = serve(trizone_stable::router(state.clone(), Limits::default())).await;
        Self {
            state,
            served,
            db,
            stop,
            tasks,
        }
    }

    pub fn address(&self) -> SocketAddr {
        self.served.address
    }

    pub fn url(&self) -> String {
        self.served.url()
    }

    /// Stops serving, writes what is buffered and closes the pool.
    pub async fn finish(self) {
        self.served.stop().await;
        let _ = self.stop.send(true);
        self.tasks.await.unwrap();
        self.db.close().await;
    }
}

/// A configuration for the simulator's `model` (see [`sim_providers`]);
/// `temperature` varies the fingerprint.
pub fn configuration(model: &str, temperature: f64) -> Value {
    json!({
        "name": format!("reviewer-{model}-{temperature}"),
        "models": {"primary": {"provider": SIM_OPENAI, "model": model, "input_per_mtok": 1, "output_per_mtok": 2}},
        "strategy": {"kind": "primary"},
        "prompt": {"system": "You are a careful reviewer.", "template": "Review {{path}} ({{language}}):\n{{code}}"},
        "parameters": {"temperature": temperature, "timeout_ms": 2000, "max_retries": 0}
    })
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
            correct: 240,
            ..Self::passing()
        }
    }

    pub fn slow() -> Self {
        Self {
            p95_ms: 4500.0,
            ..Self::passing()
        }
    }

    /// Too few cases for the sequential tests to decide: 110 clean cases
    /// favour a pass, but not yet 100 to 1.
    pub fn undecided() -> Self {
        Self {
            cases: 110,
            correct: 110,
            ..Self::passing()
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Evaluated {
    pub experiment: Uuid,
    pub run: Uuid,
}

/// Registers `configuration` (as the owner, bypassing V1's checks) and
/// evaluates it.
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
    let run = evaluate(owner, experiment.id, measured).await;
    Evaluated {
        experiment: experiment.id,
        run,
    }
}

/// Records a finished run of a registered experiment as V1's worker
/// leaves it: a dataset of `measured.cases` new cases, each case's analysis
/// counted as evidence for the configuration, the run's metrics, the
/// experiment evaluated. The first `correct` cases are correct, the next
/// `errors` failed, and every tenth answer takes `p95_ms` (the rest half).
pub async fn evaluate(owner: &PgPool, experiment: Uuid, measured: Measured) -> Uuid {
    let fingerprint = experiments::get(owner, experiment)
        .await
        .unwrap()
        .fingerprint;
    let dataset = datasets::create(owner, "cases", "", "alice").await.unwrap();
    let cases = i32::try_from(measured.cases).unwrap();
    let run = runs::create(
        owner,
        NewRun {
            experiment_id: experiment,
            dataset_id: dataset,
            concurrency: 8,
            cases_total: cases,
            requested_by: "alice",
            seed: 0,
            exhaustive: false,
        },
    )
    .await
    .unwrap();
    let mut tx = owner.begin().await.unwrap();
    // A first run starts from registered, a further one from evaluated.
    let status = experiments::get(&mut *tx, experiment).await.unwrap().status;
    for (from, to) in [
        (status, ExperimentStatus::Evaluating),
        (ExperimentStatus::Evaluating, ExperimentStatus::Evaluated),
    ] {
        experiments::transition(&mut tx, experiment, from, to, Mover::Experiment)
            .await
            .unwrap();
    }
    sqlx::query(
        r"INSERT INTO experiments_v1.dataset_cases (dataset_id, ordinal, case_id, language, path, code, case_key)
          SELECT $1, g, 'case-' || g, 'python', 'src/case.py', 'code ' || $1 || ' ' || g,
                 encode(sha256(convert_to('python' || E'\x1f' || 'src/case.py' || E'\x1f' || 'code ' || $1 || ' ' || g, 'UTF8')), 'hex')
          FROM generate_series(0, $2 - 1) g",
    )
    .bind(dataset)
    .bind(cases)
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query(r"UPDATE experiments_v1.evaluation_runs SET status = 'running' WHERE id = $1")
        .bind(run.id)
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query(
        r"INSERT INTO experiments_v1.code_analyses (run_id, case_id, outcome, correct, latency_ms, cost_usd)
          SELECT $1, 'case-' || g,
                 CASE WHEN g >= $3 AND g < $3 + $4 THEN 'error' ELSE 'ok' END,
                 g < $3,
                 CASE WHEN g % 10 = 0 THEN $5 ELSE $5 / 2 END,
                 0.5 / $2
          FROM generate_series(0, $2 - 1) g",
    )
    .bind(run.id)
    .bind(measured.cases)
    .bind(measured.correct)
    .bind(measured.errors)
    .bind(measured.p95_ms)
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query(
        r"INSERT INTO experiments_v1.evidence (fingerprint, case_key, run_id, case_id)
          SELECT $1, c.case_key, $2, c.case_id FROM experiments_v1.dataset_cases c WHERE c.dataset_id = $3
          ON CONFLICT DO NOTHING",
    )
    .bind(fingerprint.as_str())
    .bind(run.id)
    .bind(dataset)
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query(
        "UPDATE experiments_v1.evaluation_runs
         SET status = 'finished', started_at = now(), finished_at = now(), stop_reason = 'exhausted',
             cases_not_needed = 0
         WHERE id = $1",
    )
    .bind(run.id)
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO experiments_v1.experiment_metrics
             (run_id, experiment_id, cases, correct, errors, true_positives, false_positives,
              false_negatives, latency_p50_ms, latency_p95_ms, latency_p99_ms, cost_usd)
         VALUES ($1, $2, $3, $4, $5, $4, 0, $3 - $4, $6 / 2, $6, $6 * 1.2, 0.5)",
    )
    .bind(run.id)
    .bind(experiment)
    .bind(measured.cases)
    .bind(measured.correct)
    .bind(measured.errors)
    .bind(measured.p95_ms)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    run.id
}

/// V2's `/api/v2/status` at `base_url`, as an end user reads it.
pub async fn v2_status(client: &reqwest::Client, base_url: &str) -> Value {
    client
        .get(format!("{base_url}/api/v2/status"))
        .bearer_auth(END_USER)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Polls V2's `/api/v2/status` at `base_url` until `serves` accepts what it
/// reports as active, and returns that. V2 learns of a promotion by
/// notification after the gate's commit, so a test that reads V2 straight
/// after driving a saga must wait. Bounded by time, not tries: a loaded CI
/// machine answers slowly.
pub async fn wait_for_v2(base_url: &str, serves: impl Fn(&Value) -> bool) -> Value {
    // One client for every poll: it keeps the connection open.
    let client = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut last = Value::Null;
    while tokio::time::Instant::now() < deadline {
        let status = v2_status(&client, base_url).await;
        if serves(&status["active"]) {
            return status;
        }
        last = status;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("V2 never served what was expected within 30 s; it last reported {last}");
}

/// Reads an error response, checking it is the shared envelope
/// (`trizone_api::ErrorBody`, as the CLI reads it).
pub async fn error_of(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status().as_u16(), status);
    let body: Value = response.json().await.unwrap();
    if let Err(error) = serde_json::from_value::<trizone_api::ErrorBody>(body.clone()) {
        panic!("not the error envelope ({error}): {body}");
    }
    body["error"].clone()
}

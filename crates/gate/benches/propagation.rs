//! How fast a promotion reaches production: the time from the gate's
//! enabling commit until each of three V2 replicas serves the new
//! deployment, over 100 promotions. The replicas follow the gate as in
//! production (`LISTEN` plus a 5 s poll); each is watched in-process from a
//! thread that reads the deployment it serves every 50 µs.
//!
//! `DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench -p trizone-gate --bench propagation`

#![expect(clippy::print_stdout, reason = "a benchmark reports on stdout")]
#![expect(
    clippy::unwrap_used,
    reason = "a benchmark that cannot set up should stop loudly"
)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use sqlx::migrate::MigrateDatabase;
use sqlx::{PgPool, Postgres};
use tokio::sync::watch;
use trizone_core::{Configuration, ExperimentStatus, Format, Mover, Thresholds};
use trizone_gate::v2::V2Client;
use trizone_gate::{Gate, Parts, Policy};
use trizone_http::layers::Limits;
use trizone_http::{KeyStore, Role};
use trizone_router::{Credentials, ModelRouter, ResilienceSettings};
use trizone_sim::{Dataset, RunningSim};
use trizone_stable::active::ActiveDeployment;
use trizone_store::{DbRole, datasets, experiments, runs};

const REPLICAS: usize = 3;
const PROMOTIONS: usize = 100;
const SERVICE: &str = "bench-service-token";

struct Replica {
    address: std::net::SocketAddr,
    active: ActiveDeployment,
    stop: watch::Sender<bool>,
    tasks: tokio::task::JoinHandle<()>,
    db: PgPool,
}

async fn replica(owner: &PgPool, n: usize) -> Replica {
    let db = trizone_store::connect_as(&owner.connect_options(), DbRole::Stable, 4)
        .await
        .unwrap();
    let parts = trizone_stable::Parts {
        db: db.clone(),
        keys: KeyStore::from_tokens([(Role::Service, SERVICE)]),
        limits: trizone_stable::config::ServiceLimits::default(),
        records: trizone_stable::config::RecordSettings::default(),
        replica: format!("v2-{n}"),
    };
    let service = trizone_stable::Service::new(parts, |registry| {
        Ok(ModelRouter::new(
            Credentials::new(Some("sk-bench"), None),
            ResilienceSettings::default(),
            registry,
        )?)
    })
    .unwrap();
    let state = service.state.clone();
    let (stop, stopped) = watch::channel(false);
    let tasks = service.start(Duration::from_secs(5), stopped).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = trizone_stable::router(state.clone(), Limits::default());
    tokio::spawn(trizone_http::serve::serve(
        listener,
        app,
        std::future::pending(),
    ));
    Replica {
        address,
        active: state.active.clone(),
        stop,
        tasks,
        db,
    }
}

/// An experiment V1 has evaluated with a passing run.
async fn evaluated(owner: &PgPool, sim: &RunningSim, i: usize) -> uuid::Uuid {
    let document = json!({
        "name": format!("bench-{i}"),
        "models": {"primary": {"provider": "openai", "model": "gpt-sim", "base_url": sim.openai_base_url(), "input_per_mtok": 1, "output_per_mtok": 2}},
        "strategy": {"kind": "primary"},
        "prompt": {"system": "Review.", "template": "Review {{path}}:\n{{code}}"},
        "parameters": {"temperature": i as f64 / 1000.0, "max_retries": 0}
    });
    let configuration = Configuration::parse(&document.to_string(), Format::Json).unwrap();
    let experiment = experiments::insert(
        owner,
        experiments::NewExperiment {
            owner: "bench",
            description: "",
            configuration: &configuration,
            reevaluation_of: None,
        },
    )
    .await
    .unwrap();
    let dataset = datasets::create(owner, "bench", "", "bench").await.unwrap();
    let run = runs::create(owner, experiment.id, dataset, 8, 300, "bench")
        .await
        .unwrap();
    let mut tx = owner.begin().await.unwrap();
    experiments::transition(
        &mut tx,
        experiment.id,
        ExperimentStatus::Registered,
        ExperimentStatus::Evaluating,
        Mover::Experiment,
    )
    .await
    .unwrap();
    experiments::transition(
        &mut tx,
        experiment.id,
        ExperimentStatus::Evaluating,
        ExperimentStatus::Evaluated,
        Mover::Experiment,
    )
    .await
    .unwrap();
    sqlx::query("UPDATE experiments_v1.evaluation_runs SET status = 'finished', finished_at = now() WHERE id = $1")
        .bind(run.id)
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO experiments_v1.experiment_metrics
             (run_id, experiment_id, cases, correct, errors, true_positives, false_positives, false_negatives, latency_p95_ms)
         VALUES ($1, $2, 300, 300, 0, 300, 0, 0, 500)",
    )
    .bind(run.id)
    .bind(experiment.id)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    experiment.id
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

#[tokio::main]
async fn main() {
    let server = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| panic!("set DATABASE_URL to a PostgreSQL server"));
    let mut url = url::Url::parse(&server).unwrap();
    url.set_path(&format!("trizone_bench_gate_{}", std::process::id()));
    let scratch = url.to_string();
    Postgres::create_database(&scratch).await.unwrap();
    let owner = PgPool::connect(&scratch).await.unwrap();
    trizone_store::migrate(&mut owner.acquire().await.unwrap())
        .await
        .unwrap();

    let sim = RunningSim::start(1, Dataset::default(), 0).await.unwrap();
    let mut replicas = Vec::new();
    for n in 0..REPLICAS {
        replicas.push(replica(&owner, n).await);
    }
    let gate_db = trizone_store::connect_as(&owner.connect_options(), DbRole::Gate, 4)
        .await
        .unwrap();
    let gate = Gate::new(
        Parts {
            db: gate_db.clone(),
            v2: V2Client::new(&format!("http://{}", replicas[0].address), SERVICE.into()).unwrap(),
            thresholds: Thresholds::default(),
            policy: Policy::default(),
            replica: "bench-gate".into(),
            cluster: None,
        },
        &prometheus::Registry::new(),
    )
    .unwrap();

    // The watcher: when each replica first served each version.
    let seen: Arc<Mutex<HashMap<(usize, i64), Instant>>> = Arc::default();
    let running = Arc::new(AtomicBool::new(true));
    let watcher = {
        let actives: Vec<ActiveDeployment> = replicas.iter().map(|r| r.active.clone()).collect();
        let seen = Arc::clone(&seen);
        let running = Arc::clone(&running);
        std::thread::spawn(move || {
            let mut last = vec![None; actives.len()];
            while running.load(Ordering::Relaxed) {
                for (n, active) in actives.iter().enumerate() {
                    let version = active.load().map(|a| a.version);
                    if version != last[n] {
                        last[n] = version;
                        if let Some(version) = version {
                            seen.lock().unwrap().insert((n, version), Instant::now());
                        }
                    }
                }
                std::thread::sleep(Duration::from_micros(50));
            }
        })
    };

    let mut enabled = gate.subscribe_enabled();
    let mut worst = Vec::with_capacity(PROMOTIONS);
    let mut each = Vec::with_capacity(PROMOTIONS * REPLICAS);
    let started = Instant::now();
    for i in 0..PROMOTIONS {
        let experiment = evaluated(&owner, &sim, i).await;
        gate.judge_now(experiment, "bench").await.unwrap();
        gate.drive_sagas().await.unwrap();
        enabled.changed().await.unwrap();
        let promoted = (*enabled.borrow_and_update()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let arrivals = loop {
            let arrivals: Vec<Instant> = {
                let seen = seen.lock().unwrap();
                (0..REPLICAS)
                    .filter_map(|n| seen.get(&(n, promoted.version)).copied())
                    .collect()
            };
            if arrivals.len() == REPLICAS {
                break arrivals;
            }
            assert!(
                Instant::now() < deadline,
                "version {} never reached every replica",
                promoted.version
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        let latencies: Vec<f64> = arrivals
            .iter()
            .map(|at| {
                at.saturating_duration_since(promoted.committed_at)
                    .as_secs_f64()
                    * 1000.0
            })
            .collect();
        worst.push(latencies.iter().copied().fold(0.0, f64::max));
        each.extend(latencies);
    }
    let elapsed = started.elapsed();
    running.store(false, Ordering::Relaxed);
    watcher.join().unwrap();

    worst.sort_by(f64::total_cmp);
    each.sort_by(f64::total_cmp);
    println!(
        "{PROMOTIONS} promotions (judge, smoke test, enable) in {:.1} s; enable commit -> served, ms:",
        elapsed.as_secs_f64()
    );
    println!(
        "  all {REPLICAS} replicas: p50 {:.2}  p99 {:.2}  max {:.2}",
        percentile(&worst, 0.5),
        percentile(&worst, 0.99),
        worst[worst.len() - 1]
    );
    println!(
        "  any one replica:  p50 {:.2}  p99 {:.2}",
        percentile(&each, 0.5),
        percentile(&each, 0.99)
    );

    drop(gate);
    gate_db.close().await;
    for replica in replicas {
        let _ = replica.stop.send(true);
        replica.tasks.await.unwrap();
        replica.db.close().await;
    }
    owner.close().await;
    Postgres::drop_database(&scratch).await.unwrap();
}

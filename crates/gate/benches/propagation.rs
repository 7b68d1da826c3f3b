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

use sqlx::migrate::MigrateDatabase;
use sqlx::{PgPool, Postgres};
use trizone_core::Thresholds;
use trizone_gate::v2::V2Client;
use trizone_gate::{Gate, Parts, Policy};
use trizone_sim::{Dataset, RunningSim};
use trizone_stable::active::ActiveDeployment;
use trizone_store::DbRole;
use trizone_testkit::{GATE, Measured, V2Replica, configuration, evaluated};

const REPLICAS: usize = 3;
const PROMOTIONS: usize = 100;

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
        replicas.push(
            V2Replica::start(
                &owner,
                &format!("v2-{n}"),
                Duration::from_secs(5),
                sim.address,
            )
            .await,
        );
    }
    let gate_db = trizone_store::connect_as(&owner.connect_options(), DbRole::Gate, 4)
        .await
        .unwrap();
    let gate = Gate::new(
        Parts {
            db: gate_db.clone(),
            v2: V2Client::new(&replicas[0].url(), GATE.into()).unwrap(),
            thresholds: Thresholds::default(),
            policy: Policy::direct(),
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
        let actives: Vec<ActiveDeployment> =
            replicas.iter().map(|r| r.state.active.clone()).collect();
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
        let configuration = configuration("gpt-sim", i as f64 / 1000.0);
        let experiment = evaluated(&owner, &configuration, Measured::passing())
            .await
            .experiment;
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
        replica.finish().await;
    }
    owner.close().await;
    Postgres::drop_database(&scratch).await.unwrap();
}
